//! `POST /Bulk` (RFC 7644 §3.7): operations run in order through this same router, so each gets
//! exactly the handling of its single-request form; `bulkId:` references to resources created
//! earlier in the request are replaced by their ids. Limits are checked before anything runs.

use super::{json_body, scim_json};
use crate::context::{BasePath, Facade};
use crate::scim::error::{ScimError, ScimResult, excerpt};
use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};
use std::collections::HashMap;
use tower::ServiceExt as _;

const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";

struct Operation {
    method: Method,
    bulk_id: Option<String>,
    path: String,
    data: Option<Value>,
    version: Option<String>,
}

fn parse(body: &Value, max_operations: usize) -> ScimResult<(Vec<Operation>, Option<usize>)> {
    let object = body
        .as_object()
        .ok_or_else(|| ScimError::invalid_syntax("bulk request must be a JSON object"))?;
    if let Some(schemas) = object.get("schemas")
        && !schemas.as_array().is_some_and(|list| {
            list.iter()
                .any(|schema| schema.as_str() == Some(BULK_REQUEST))
        })
    {
        return Err(ScimError::invalid_value(format!(
            "schemas must contain {BULK_REQUEST}"
        )));
    }
    let fail_on_errors =
        match object.get("failOnErrors") {
            None | Some(Value::Null) => None,
            Some(value) => Some(value.as_u64().filter(|count| *count > 0).ok_or_else(|| {
                ScimError::invalid_value("failOnErrors must be a positive integer")
            })? as usize),
        };
    let operations = object
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case("Operations"))
        .and_then(|(_, value)| value.as_array())
        .ok_or_else(|| ScimError::invalid_syntax("bulk request needs an Operations array"))?;
    if operations.len() > max_operations {
        return Err(ScimError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            Some("tooMany"),
            format!(
                "bulk request has {} operations; maxOperations is {max_operations}",
                operations.len()
            ),
        ));
    }
    let mut parsed = Vec::with_capacity(operations.len());
    for (index, operation) in operations.iter().enumerate() {
        let field = |name: &str| {
            operation
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let method = match field("method")
            .map(|method| method.to_ascii_uppercase())
            .as_deref()
        {
            Some("POST") => Method::POST,
            Some("PUT") => Method::PUT,
            Some("PATCH") => Method::PATCH,
            Some("DELETE") => Method::DELETE,
            _ => {
                return Err(ScimError::invalid_value(format!(
                    "operation {index}: method must be POST, PUT, PATCH or DELETE"
                )));
            }
        };
        let path = field("path").ok_or_else(|| {
            ScimError::invalid_value(format!("operation {index}: path is required"))
        })?;
        if !path.starts_with('/') || path.contains("..") {
            return Err(ScimError::invalid_value(format!(
                "operation {index}: path must be like /Users or /Users/<id>"
            )));
        }
        let bulk_id = field("bulkId");
        if method == Method::POST && bulk_id.is_none() {
            return Err(ScimError::invalid_value(format!(
                "operation {index}: POST needs a bulkId"
            )));
        }
        parsed.push(Operation {
            method,
            bulk_id,
            path,
            data: operation.get("data").cloned(),
            version: field("version"),
        });
    }
    Ok((parsed, fail_on_errors))
}

/// Replaces `bulkId:<id>` strings with the ids created so far; an unknown reference is an error.
fn resolve(value: &mut Value, created: &HashMap<String, String>) -> Result<(), String> {
    match value {
        Value::String(text) => {
            if let Some(reference) = text.strip_prefix("bulkId:") {
                *text = created
                    .get(reference)
                    .cloned()
                    .ok_or_else(|| format!("bulkId {} is not (yet) created", excerpt(reference)))?;
            }
        }
        Value::Array(items) => {
            for item in items {
                resolve(item, created)?;
            }
        }
        Value::Object(entries) => {
            for item in entries.values_mut() {
                resolve(item, created)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// POST /Bulk.
pub async fn bulk(
    State(facade): State<Facade>,
    Extension(base): Extension<BasePath>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ScimResult<Response> {
    let limits = facade.config.limits.clone();
    let body = json_body(&headers, body)?;
    let (operations, fail_on_errors) = parse(&body, limits.max_operations)?;
    let router = facade
        .router
        .get()
        .cloned()
        .ok_or_else(|| ScimError::new(StatusCode::SERVICE_UNAVAILABLE, None, "not ready"))?;
    let mut created: HashMap<String, String> = HashMap::new();
    let mut results = Vec::with_capacity(operations.len());
    let mut errors = 0;
    for operation in operations {
        if fail_on_errors.is_some_and(|limit| errors >= limit) {
            break;
        }
        let mut result = json!({"method": operation.method.as_str()});
        if let Some(bulk_id) = &operation.bulk_id {
            result["bulkId"] = bulk_id.clone().into();
        }
        // `bulkId:` may stand for a whole path segment (`/Users/bulkId:carol`) or for any string
        // in the data (a member's `value`).
        let mut segments: Vec<Value> = operation
            .path
            .split('/')
            .map(|segment| Value::String(segment.to_owned()))
            .collect();
        let mut data = operation.data.clone().unwrap_or(Value::Null);
        let resolved = segments
            .iter_mut()
            .try_for_each(|segment| resolve(segment, &created))
            .and_then(|_| resolve(&mut data, &created));
        let path = segments
            .iter()
            .map(|segment| segment.as_str().unwrap_or_default())
            .collect::<Vec<_>>()
            .join("/");
        if let Err(detail) = resolved {
            let error = ScimError::new(StatusCode::CONFLICT, Some("invalidValue"), detail);
            result["status"] = "409".into();
            result["response"] = error.body();
            results.push(result);
            errors += 1;
            continue;
        }
        let uri = format!("{}{}", base.0, path);
        let mut request = Request::builder().method(operation.method.clone()).uri(uri);
        for name in [header::AUTHORIZATION, header::HOST, header::USER_AGENT] {
            if let Some(value) = headers.get(&name) {
                request = request.header(name, value);
            }
        }
        if let Some(version) = &operation.version {
            request = request.header(header::IF_MATCH, version);
        }
        // Each operation comes from the same client as the bulk request.
        if let Some(address) = base.1 {
            request = request.extension(axum::extract::ConnectInfo(address));
        }
        let request = if data.is_null() {
            request.body(Body::empty())
        } else {
            request
                .header(header::CONTENT_TYPE, crate::SCIM_CONTENT_TYPE)
                .body(Body::from(data.to_string()))
        };
        let request =
            request.map_err(|_| ScimError::invalid_value("operation path is not a valid URI"))?;
        let response = router
            .clone()
            .oneshot(request)
            .await
            .unwrap_or_else(|never| match never {});
        let status = response.status();
        let etag = response
            .headers()
            .get(header::ETAG)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let bytes = axum::body::to_bytes(response.into_body(), limits.max_payload_bytes * 4)
            .await
            .unwrap_or_default();
        let response_body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        result["status"] = status.as_u16().to_string().into();
        if let Some(location) = response_body
            .pointer("/meta/location")
            .and_then(Value::as_str)
        {
            result["location"] = location.into();
        }
        if let Some(etag) = etag {
            result["version"] = etag.into();
        }
        if status.is_success() {
            if let (Some(bulk_id), Some(id)) = (
                &operation.bulk_id,
                response_body.get("id").and_then(Value::as_str),
            ) {
                created.insert(bulk_id.clone(), id.to_owned());
            }
        } else {
            errors += 1;
            result["response"] = response_body;
        }
        results.push(result);
    }
    Ok(scim_json(
        StatusCode::OK,
        &json!({"schemas": [BULK_RESPONSE], "Operations": results}),
        None,
    ))
}
