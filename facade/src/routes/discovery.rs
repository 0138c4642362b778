//! Discovery (RFC 7644 §4), the root `.search` and the OpenAPI description.

use super::IdParam;
use super::{ReadParams, json_body, scim_json};
use crate::context::{BasePath, Ctx, Facade, scim_error};
use crate::scim::discovery;
use crate::scim::error::{ScimError, ScimResult};
use crate::scim::projection::project;
use crate::scim::resource::{group_to_scim, user_to_scim};
use crate::scim::schema::{ENTERPRISE_USER, GROUP, USER};
use axum::Extension;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use roster::pb;

fn ctx(facade: &Facade, base: &BasePath, headers: &HeaderMap) -> Ctx {
    Ctx::new(headers, base, &facade.config)
}

/// GET /ServiceProviderConfig.
pub async fn service_provider_config(
    State(facade): State<Facade>,
    Extension(base): Extension<BasePath>,
    headers: HeaderMap,
) -> Response {
    let ctx = ctx(&facade, &base, &headers);
    scim_json(
        StatusCode::OK,
        &discovery::service_provider_config(&ctx.base_url, &facade.config.limits),
        None,
    )
}

/// GET /ResourceTypes.
pub async fn resource_types(
    State(facade): State<Facade>,
    Extension(base): Extension<BasePath>,
    headers: HeaderMap,
) -> Response {
    let ctx = ctx(&facade, &base, &headers);
    let types = discovery::resource_types(&ctx.base_url);
    let total = types.len() as i64;
    scim_json(
        StatusCode::OK,
        &discovery::list_response(types, total, 1),
        None,
    )
}

/// GET /ResourceTypes/{id}.
pub async fn resource_type(
    State(facade): State<Facade>,
    Extension(base): Extension<BasePath>,
    headers: HeaderMap,
    Path(IdParam { id }): Path<IdParam>,
) -> ScimResult<Response> {
    let ctx = ctx(&facade, &base, &headers);
    let body = discovery::resource_type(&ctx.base_url, &id)
        .ok_or_else(|| ScimError::not_found("no such resource type"))?;
    Ok(scim_json(StatusCode::OK, &body, None))
}

/// GET /Schemas.
pub async fn schemas(
    State(facade): State<Facade>,
    Extension(base): Extension<BasePath>,
    headers: HeaderMap,
) -> Response {
    let ctx = ctx(&facade, &base, &headers);
    let schemas = discovery::schemas(&ctx.base_url);
    let total = schemas.len() as i64;
    scim_json(
        StatusCode::OK,
        &discovery::list_response(schemas, total, 1),
        None,
    )
}

/// GET /Schemas/{id}.
pub async fn schema(
    State(facade): State<Facade>,
    Extension(base): Extension<BasePath>,
    headers: HeaderMap,
    Path(IdParam { id }): Path<IdParam>,
) -> ScimResult<Response> {
    let ctx = ctx(&facade, &base, &headers);
    let body = discovery::schema(&ctx.base_url, &id)
        .ok_or_else(|| ScimError::not_found("no such schema"))?;
    Ok(scim_json(StatusCode::OK, &body, None))
}

/// POST /.search: users then groups matching the filter, paged over the concatenation. A filter
/// that names an attribute one resource type lacks simply matches nothing of that type.
pub async fn root_search(
    State(facade): State<Facade>,
    Extension(base): Extension<BasePath>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ScimResult<Response> {
    let ctx = ctx(&facade, &base, &headers);
    let params = ReadParams::from_search(&json_body(&headers, body)?)?;
    let limits = &facade.config.limits;
    let (start_index, count) = params.paging(limits.default_page, limits.max_results);
    let filter = params.filter()?;
    let sort_by = params.sort()?;
    let skip_unknown = |status: tonic::Status| -> ScimResult<Option<tonic::Status>> {
        let (code, _) = roster::error_detail(&status);
        if code == roster::ErrorCode::InvalidFilter {
            Ok(Some(status))
        } else {
            Err(scim_error(status))
        }
    };
    let users = facade
        .core
        .users
        .list_users(ctx.request(pb::ListUsersRequest {
            filter: filter.clone(),
            sort_by: sort_by.clone(),
            start_index,
            count: Some(count),
            include_groups: params.wants("groups"),
            cursor: None,
        }))
        .await;
    let (user_total, user_page) = match users {
        Ok(response) => {
            let response = response.into_inner();
            (response.total_results, response.users)
        }
        Err(status) => {
            skip_unknown(status)?;
            (0, Vec::new())
        }
    };
    let mut resources: Vec<serde_json::Value> = user_page
        .iter()
        .map(|user| {
            let mut body = user_to_scim(user, &ctx.base_url);
            project(
                &mut body,
                &[&USER, &ENTERPRISE_USER],
                &params.attributes,
                &params.excluded,
            );
            body
        })
        .collect();
    // Groups fill the page after the users: their start is what remains past the users.
    let group_start = (start_index - user_total).max(1);
    let group_count = (count as usize).saturating_sub(resources.len()) as i32;
    let groups = facade
        .core
        .groups
        .list_groups(ctx.request(pb::ListGroupsRequest {
            filter,
            sort_by,
            start_index: group_start,
            count: Some(group_count),
            cursor: None,
        }))
        .await;
    let group_total = match groups {
        Ok(response) => {
            let response = response.into_inner();
            for group in &response.groups {
                let mut body = group_to_scim(group, None, &ctx.base_url);
                project(&mut body, &[&GROUP], &params.attributes, &params.excluded);
                resources.push(body);
            }
            response.total_results
        }
        Err(status) => {
            skip_unknown(status)?;
            0
        }
    };
    Ok(scim_json(
        StatusCode::OK,
        &discovery::list_response(resources, user_total + group_total, start_index),
        None,
    ))
}

/// GET /openapi.json: an OpenAPI 3.0 description of the facade, for API fuzzers and clients.
pub async fn openapi(
    State(facade): State<Facade>,
    Extension(base): Extension<BasePath>,
    headers: HeaderMap,
) -> Response {
    let ctx = ctx(&facade, &base, &headers);
    let mut response = scim_json(
        StatusCode::OK,
        &crate::openapi::document(&ctx.base_url),
        None,
    );
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    response
}
