//! The SCIM routes, served under `/scim/v2` and under `/orgs/{org}/scim/v2` (where `{org}` must be
//! the token's own organization, by id or name, else 404), and the request plumbing they share.

mod bulk;
mod discovery;
mod groups;
mod users;

use crate::context::{BasePath, Ctx, Facade, scim_error};
use crate::scim::error::{ScimError, ScimResult};
use crate::scim::path::{AttrPath, parse_attr_path};
use crate::scim::resource;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use roster::pb;

/// The SCIM media type (RFC 7644 §8.1).
pub const SCIM_CONTENT_TYPE: &str = crate::SCIM_CONTENT_TYPE;

/// The facade's router.
pub fn router(facade: Facade) -> Router {
    let max_payload = facade.config.limits.max_payload_bytes;
    let scim = Router::new()
        .route("/Users", get(users::list).post(users::create))
        .route("/Users/.search", post(users::search))
        .route(
            "/Users/{id}",
            get(users::get)
                .put(users::replace)
                .patch(users::patch)
                .delete(users::delete),
        )
        .route("/Groups", get(groups::list).post(groups::create))
        .route("/Groups/.search", post(groups::search))
        .route(
            "/Groups/{id}",
            get(groups::get)
                .put(groups::replace)
                .patch(groups::patch)
                .delete(groups::delete),
        )
        .route("/.search", post(discovery::root_search))
        .route("/Bulk", post(bulk::bulk))
        .route(
            "/ServiceProviderConfig",
            get(discovery::service_provider_config).fallback(method_not_allowed),
        )
        .route(
            "/ResourceTypes",
            get(discovery::resource_types).fallback(method_not_allowed),
        )
        .route(
            "/ResourceTypes/{id}",
            get(discovery::resource_type).fallback(method_not_allowed),
        )
        .route(
            "/Schemas",
            get(discovery::schemas).fallback(method_not_allowed),
        )
        .route(
            "/Schemas/{id}",
            get(discovery::schema).fallback(method_not_allowed),
        )
        .route("/openapi.json", get(discovery::openapi))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(max_payload))
        .with_state(facade.clone());
    Router::new()
        .nest("/scim/v2", scim.clone())
        .nest("/orgs/{org}/scim/v2", scim)
        .layer(axum::middleware::from_fn_with_state(facade, base_path))
}

/// Sets the request's [`BasePath`]; under `/orgs/{org}` also checks that `{org}` is the caller's
/// organization (404 otherwise, the same answer as an unknown path).
async fn base_path(State(facade): State<Facade>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    if path
        .split('/')
        .any(|segment| segment.eq_ignore_ascii_case("access_token"))
        || request
            .uri()
            .query()
            .is_some_and(|query| query.to_ascii_lowercase().contains("access_token="))
    {
        return ScimError::new(
            StatusCode::UNAUTHORIZED,
            None,
            "tokens are accepted only in the Authorization header",
        )
        .into_response();
    }
    // The HTTP client's socket address (present when the server was started with connect info).
    let client = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0);
    let base = if let Some(rest) = path.strip_prefix("/orgs/") {
        let org = rest.split('/').next().unwrap_or_default().to_owned();
        let ctx = Ctx::new(
            request.headers(),
            &BasePath(String::new(), client),
            &facade.config,
        );
        match facade
            .core
            .organizations
            .get_organization(ctx.request(pb::GetOrganizationRequest {}))
            .await
        {
            Ok(response) => {
                let organization = response.into_inner();
                if organization.id != org && organization.name != org {
                    return not_found().await.into_response();
                }
            }
            Err(status) => return scim_error(status).into_response(),
        }
        format!("/orgs/{org}/scim/v2")
    } else {
        "/scim/v2".to_owned()
    };
    request.extensions_mut().insert(BasePath(base, client));
    next.run(request).await
}

async fn not_found() -> ScimError {
    ScimError::not_found("no SCIM resource at this path")
}

async fn method_not_allowed() -> ScimError {
    ScimError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        None,
        "this method is not allowed on this endpoint",
    )
}

/// A ListResponse; with cursor paging (RFC 9865) it carries `nextCursor` instead of `startIndex`.
pub fn list_body(
    resources: Vec<serde_json::Value>,
    total: i64,
    start_index: i64,
    cursor_mode: bool,
    next_cursor: &str,
) -> serde_json::Value {
    let mut body = crate::scim::discovery::list_response(resources, total, start_index);
    if cursor_mode && let Some(object) = body.as_object_mut() {
        object.remove("startIndex");
        if !next_cursor.is_empty() {
            object.insert("nextCursor".to_owned(), next_cursor.into());
        }
    }
    body
}

/// The `{id}` of a resource route. Under `/orgs/{org}/scim/v2` the path also holds `org`, so
/// handlers take this struct (which ignores other parameters) rather than a bare `Path<String>`.
#[derive(Debug, serde::Deserialize)]
pub struct IdParam {
    /// The resource id from the URL.
    pub id: String,
}

/// A SCIM JSON response, with an ETag when the resource has a version.
pub fn scim_json(status: StatusCode, body: &serde_json::Value, version: Option<i64>) -> Response {
    // `to_vec` writes straight into the buffer; `Value::to_string` goes through `fmt::Write`.
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response = (status, bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(SCIM_CONTENT_TYPE),
    );
    if let Some(version) = version
        && let Ok(value) = HeaderValue::from_str(&resource::etag(version))
    {
        headers.insert(header::ETAG, value);
    }
    response
}

/// A 201 with `Location` equal to `meta.location`.
pub fn created(body: &serde_json::Value, version: Option<i64>) -> Response {
    let mut response = scim_json(StatusCode::CREATED, body, version);
    if let Some(location) = body
        .pointer("/meta/location")
        .and_then(|value| value.as_str())
        && let Ok(value) = HeaderValue::from_str(location)
    {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// 204.
pub fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// 304 with the ETag.
pub fn not_modified(version: i64) -> Response {
    let mut response = StatusCode::NOT_MODIFIED.into_response();
    if let Ok(value) = HeaderValue::from_str(&resource::etag(version)) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

/// The JSON body of a write: `application/scim+json` or `application/json` (parameters such as
/// charset allowed), parsed into a value; 415, 413 and 400 `invalidSyntax` otherwise.
pub fn json_body(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ScimResult<serde_json::Value> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ScimError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                None,
                "request body is larger than maxPayloadSize",
            )
        } else {
            ScimError::invalid_syntax("request body could not be read")
        }
    })?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if media != "application/scim+json" && media != "application/json" {
        return Err(ScimError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            None,
            "request body must be application/scim+json or application/json",
        ));
    }
    if body.is_empty() {
        return Err(ScimError::invalid_syntax("request body is empty"));
    }
    serde_json::from_slice(&body).map_err(|error| {
        ScimError::invalid_syntax(format!(
            "request body is not valid JSON (line {}, column {})",
            error.line(),
            error.column()
        ))
    })
}

/// `If-Match`: `Some(version)` to check, `None` when absent or `*`; 400 when unparseable.
pub fn if_match(headers: &HeaderMap) -> ScimResult<Option<i64>> {
    match headers
        .get(header::IF_MATCH)
        .and_then(|value| value.to_str().ok())
    {
        None => Ok(None),
        Some(value) if value.trim() == "*" => Ok(None),
        Some(value) => resource::parse_etag(value)
            .map(Some)
            .ok_or_else(|| ScimError::invalid_value("If-Match must be an ETag such as W/\"3\"")),
    }
}

/// Whether `If-None-Match` names the current version.
pub fn if_none_match(headers: &HeaderMap, version: i64) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .split(',')
                .any(|tag| tag.trim() == "*" || resource::parse_etag(tag.trim()) == Some(version))
        })
}

/// Projection and paging parameters of a read or list.
#[derive(Debug, Default, Clone)]
pub struct ReadParams {
    pub filter: Option<String>,
    pub sort_by: Option<String>,
    pub sort_order: Option<String>,
    pub start_index: Option<i64>,
    pub count: Option<i64>,
    pub attributes: Vec<AttrPath>,
    pub excluded: Vec<AttrPath>,
    /// RFC 9865 cursor paging: `Some("")` asks for the first page.
    pub cursor: Option<String>,
}

fn attribute_list(value: &str) -> ScimResult<Vec<AttrPath>> {
    value
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(parse_attr_path)
        .collect()
}

fn integer(name: &str, value: &str) -> ScimResult<i64> {
    value
        .trim()
        .parse::<i64>()
        .map_err(|_| ScimError::invalid_value(format!("{name} must be an integer")))
}

impl ReadParams {
    /// From the query string; names are matched ignoring case (Okta sends `startindex`).
    pub fn from_query(query: &[(String, String)]) -> ScimResult<Self> {
        let mut params = ReadParams::default();
        for (name, value) in query {
            match name.to_ascii_lowercase().as_str() {
                "filter" => params.filter = Some(value.clone()),
                "sortby" => params.sort_by = Some(value.clone()),
                "sortorder" => params.sort_order = Some(value.clone()),
                "startindex" => params.start_index = Some(integer("startIndex", value)?),
                "count" => params.count = Some(integer("count", value)?),
                "attributes" => params.attributes = attribute_list(value)?,
                "excludedattributes" => params.excluded = attribute_list(value)?,
                "cursor" => params.cursor = Some(value.clone()),
                _ => {}
            }
        }
        Ok(params)
    }

    /// From a `.search` body (RFC 7644 §3.4.3).
    pub fn from_search(body: &serde_json::Value) -> ScimResult<Self> {
        let object = body
            .as_object()
            .ok_or_else(|| ScimError::invalid_syntax("search body must be a JSON object"))?;
        let mut params = ReadParams::default();
        for (name, value) in object {
            let text = || {
                value
                    .as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| ScimError::invalid_value(format!("{name} must be a string")))
            };
            let number = || {
                value
                    .as_i64()
                    .or_else(|| value.as_str().and_then(|text| text.trim().parse().ok()))
                    .ok_or_else(|| ScimError::invalid_value(format!("{name} must be an integer")))
            };
            let list = || -> ScimResult<Vec<AttrPath>> {
                match value {
                    serde_json::Value::Array(items) => items
                        .iter()
                        .map(|item| {
                            item.as_str()
                                .ok_or_else(|| {
                                    ScimError::invalid_value(format!("{name} must list strings"))
                                })
                                .and_then(parse_attr_path)
                        })
                        .collect(),
                    serde_json::Value::String(text) => attribute_list(text),
                    _ => Err(ScimError::invalid_value(format!(
                        "{name} must be an array of attribute names"
                    ))),
                }
            };
            match name.to_ascii_lowercase().as_str() {
                "filter" => params.filter = Some(text()?),
                "sortby" => params.sort_by = Some(text()?),
                "sortorder" => params.sort_order = Some(text()?),
                "startindex" => params.start_index = Some(number()?),
                "count" => params.count = Some(number()?),
                "attributes" => params.attributes = list()?,
                "excludedattributes" => params.excluded = list()?,
                "cursor" => params.cursor = Some(text()?),
                _ => {}
            }
        }
        Ok(params)
    }

    /// Whether the projection returns attribute `name` of the core schema.
    pub fn wants(&self, name: &str) -> bool {
        let named = |paths: &[AttrPath]| {
            paths.iter().any(|path| {
                path.attribute.eq_ignore_ascii_case(name)
                    && path
                        .schema
                        .as_deref()
                        .is_none_or(|schema| !schema.contains("extension"))
            })
        };
        if !self.attributes.is_empty() {
            return named(&self.attributes);
        }
        !self
            .excluded
            .iter()
            .any(|path| path.attribute.eq_ignore_ascii_case(name) && path.sub_attribute.is_none())
    }

    /// The contract's paging: 1-based start, count clamped to `[0, max]` (RFC 7644 §3.4.2.4: a
    /// negative count is 0; above the maximum the server returns at most the maximum).
    pub fn paging(&self, default_page: i32, max_page: i32) -> (i64, i32) {
        let start = self.start_index.unwrap_or(1).max(1);
        let count = self
            .count
            .map(|count| count.clamp(0, i64::from(max_page)) as i32)
            .unwrap_or(default_page);
        (start, count)
    }

    /// The contract's filter.
    pub fn filter(&self) -> ScimResult<Option<pb::Filter>> {
        self.filter
            .as_deref()
            .map(crate::scim::filter::parse_filter)
            .transpose()
    }

    /// The contract's sort key.
    pub fn sort(&self) -> ScimResult<Option<pb::SortBy>> {
        let Some(sort_by) = &self.sort_by else {
            return Ok(None);
        };
        let path = parse_attr_path(sort_by)?;
        let order = match self
            .sort_order
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("ascending") => pb::SortOrder::Ascending,
            Some("descending") => pb::SortOrder::Descending,
            Some(_) => {
                return Err(ScimError::invalid_value(
                    "sortOrder must be ascending or descending",
                ));
            }
        };
        Ok(Some(pb::SortBy {
            path: Some(path.to_pb()),
            order: order as i32,
        }))
    }
}
