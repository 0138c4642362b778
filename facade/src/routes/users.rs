//! `/Users`: each handler parses, calls the core once (PATCH: read, apply, replace under the read
//! version) and renders. No rule is checked here.

use super::IdParam;
use super::{
    ReadParams, created, if_match, if_none_match, json_body, list_body, no_content, not_modified,
    scim_json,
};
use crate::context::{BasePath, Ctx, Facade, scim_error};
use crate::scim::error::{ScimError, ScimResult};
use crate::scim::patch::{apply_user_patch, parse_patch_request};
use crate::scim::projection::project;
use crate::scim::resource::{user_from_scim, user_to_scim};
use crate::scim::schema::{ENTERPRISE_USER, Schema, USER};
use axum::Extension;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use roster::ErrorCode;
use roster::pb::{self, get_user_request::Lookup};

const SCHEMAS: &[&Schema] = &[&USER, &ENTERPRISE_USER];
/// How often a PATCH without `If-Match` re-reads and re-applies after losing a race. Each lost
/// race means another PATCH of the same user succeeded, so this bounds only pathological
/// contention (64 writers at once on one user), not ordinary IdP bursts.
const PATCH_ATTEMPTS: usize = 64;

fn render(ctx: &Ctx, user: &pb::User, params: &ReadParams) -> serde_json::Value {
    let mut body = user_to_scim(user, &ctx.base_url);
    project(&mut body, SCHEMAS, &params.attributes, &params.excluded);
    body
}

fn version(user: &pb::User) -> Option<i64> {
    user.meta.as_ref().map(|meta| meta.version)
}

async fn run_list(facade: &Facade, ctx: &Ctx, params: ReadParams) -> ScimResult<Response> {
    let limits = &facade.config.limits;
    let (start_index, count) = params.paging(limits.default_page, limits.max_results);
    let request = pb::ListUsersRequest {
        filter: params.filter()?,
        sort_by: params.sort()?,
        start_index,
        count: Some(count),
        include_groups: params.wants("groups"),
        cursor: params.cursor.clone(),
    };
    let response = facade
        .core
        .users
        .list_users(ctx.request(request))
        .await
        .map_err(scim_error)?
        .into_inner();
    let resources = response
        .users
        .iter()
        .map(|user| render(ctx, user, &params))
        .collect();
    let body = list_body(
        resources,
        response.total_results,
        response.start_index,
        params.cursor.is_some(),
        &response.next_cursor,
    );
    Ok(scim_json(StatusCode::OK, &body, None))
}

/// GET /Users.
pub async fn list(
    State(facade): State<Facade>,
    Extension(base): Extension<BasePath>,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
) -> ScimResult<Response> {
    let ctx = Ctx::new(&headers, &base, &facade.config);
    run_list(&facade, &ctx, ReadParams::from_query(&query)?).await
}

/// POST /Users/.search.
pub async fn search(
    State(facade): State<Facade>,
    Extension(base): Extension<BasePath>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ScimResult<Response> {
    let ctx = Ctx::new(&headers, &base, &facade.config);
    let body = json_body(&headers, body)?;
    run_list(&facade, &ctx, ReadParams::from_search(&body)?).await
}

/// POST /Users.
pub async fn create(
    State(facade): State<Facade>,
    Extension(base): Extension<BasePath>,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
    body: Result<Bytes, BytesRejection>,
) -> ScimResult<Response> {
    let ctx = Ctx::new(&headers, &base, &facade.config);
    let params = ReadParams::from_query(&query)?;
    let user = user_from_scim(&json_body(&headers, body)?)?;
    let created_user = facade
        .core
        .users
        .create_user(ctx.request(pb::CreateUserRequest { user: Some(user) }))
        .await
        .map_err(scim_error)?
        .into_inner();
    Ok(created(
        &render(&ctx, &created_user, &params),
        version(&created_user),
    ))
}

async fn fetch(facade: &Facade, ctx: &Ctx, id: &str, include_groups: bool) -> ScimResult<pb::User> {
    let request = pb::GetUserRequest {
        lookup: Some(Lookup::Id(id.to_owned())),
        include_groups,
    };
    facade
        .core
        .users
        .get_user(ctx.request(request))
        .await
        .map(tonic::Response::into_inner)
        .map_err(not_found_for_bad_id)
}

/// A malformed id names no resource: 404, like an unknown one.
fn not_found_for_bad_id(status: tonic::Status) -> ScimError {
    let (code, field) = roster::error_detail(&status);
    if code == ErrorCode::InvalidValue && field == "id" {
        return ScimError::not_found("user not found");
    }
    scim_error(status)
}

/// GET /Users/{id}.
pub async fn get(
    State(facade): State<Facade>,
    Extension(base): Extension<BasePath>,
    headers: HeaderMap,
    Path(IdParam { id }): Path<IdParam>,
    Query(query): Query<Vec<(String, String)>>,
) -> ScimResult<Response> {
    let ctx = Ctx::new(&headers, &base, &facade.config);
    let params = ReadParams::from_query(&query)?;
    let user = fetch(&facade, &ctx, &id, params.wants("groups")).await?;
    if let Some(version) = version(&user)
        && if_none_match(&headers, version)
    {
        return Ok(not_modified(version));
    }
    Ok(scim_json(
        StatusCode::OK,
        &render(&ctx, &user, &params),
        version(&user),
    ))
}

/// PUT /Users/{id}.
pub async fn replace(
    State(facade): State<Facade>,
    Extension(base): Extension<BasePath>,
    headers: HeaderMap,
    Path(IdParam { id }): Path<IdParam>,
    Query(query): Query<Vec<(String, String)>>,
    body: Result<Bytes, BytesRejection>,
) -> ScimResult<Response> {
    let ctx = Ctx::new(&headers, &base, &facade.config);
    let params = ReadParams::from_query(&query)?;
    let expected_version = if_match(&headers)?;
    let mut user = user_from_scim(&json_body(&headers, body)?)?;
    user.id = id;
    let request = pb::ReplaceUserRequest {
        user: Some(user),
        expected_version,
    };
    let replaced = facade
        .core
        .users
        .replace_user(ctx.request(request))
        .await
        .map_err(not_found_for_bad_id)?
        .into_inner();
    let replaced = with_groups(&facade, &ctx, replaced, &params).await?;
    Ok(scim_json(
        StatusCode::OK,
        &render(&ctx, &replaced, &params),
        version(&replaced),
    ))
}

/// Re-reads the user's groups when the response shows them (writes do not return them).
async fn with_groups(
    facade: &Facade,
    ctx: &Ctx,
    user: pb::User,
    params: &ReadParams,
) -> ScimResult<pb::User> {
    if !params.wants("groups") {
        return Ok(user);
    }
    let mut with = fetch(facade, ctx, &user.id, true).await?;
    // Keep the written state if another write slipped in; only the groups come from the re-read.
    let groups = std::mem::take(&mut with.groups);
    Ok(pb::User { groups, ..user })
}

/// PATCH /Users/{id} (RFC 7644 §3.5.2): the operations apply to the current representation, which
/// replaces the stored one only if nobody changed it meanwhile; without `If-Match` a lost race is
/// retried on the new state, so concurrent PATCHes never lose an update.
pub async fn patch(
    State(facade): State<Facade>,
    Extension(base): Extension<BasePath>,
    headers: HeaderMap,
    Path(IdParam { id }): Path<IdParam>,
    Query(query): Query<Vec<(String, String)>>,
    body: Result<Bytes, BytesRejection>,
) -> ScimResult<Response> {
    let ctx = Ctx::new(&headers, &base, &facade.config);
    let params = ReadParams::from_query(&query)?;
    let expected = if_match(&headers)?;
    let request = parse_patch_request(&json_body(&headers, body)?)?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let current = fetch(&facade, &ctx, &id, false).await?;
        let current_version = version(&current).unwrap_or_default();
        if let Some(expected) = expected
            && expected != current_version
        {
            return Err(ScimError::new(
                StatusCode::PRECONDITION_FAILED,
                None,
                "If-Match does not match the current version",
            ));
        }
        let mut representation = user_to_scim(&current, &ctx.base_url);
        // `manager.$ref` is derived from `manager.value` when rendering; drop it so a PATCH of
        // the value does not leave a stale reference that would contradict it.
        if let Some(manager) = representation
            .pointer_mut("/urn:ietf:params:scim:schemas:extension:enterprise:2.0:User/manager")
            .and_then(serde_json::Value::as_object_mut)
        {
            manager.remove("$ref");
        }
        apply_user_patch(&mut representation, &request)?;
        let mut user = user_from_scim(&representation)?;
        user.id = current.id.clone();
        let replace = pb::ReplaceUserRequest {
            user: Some(user),
            expected_version: Some(current_version),
        };
        match facade.core.users.replace_user(ctx.request(replace)).await {
            Ok(response) => {
                let patched = with_groups(&facade, &ctx, response.into_inner(), &params).await?;
                return Ok(scim_json(
                    StatusCode::OK,
                    &render(&ctx, &patched, &params),
                    version(&patched),
                ));
            }
            Err(status)
                if expected.is_none()
                    && attempt < PATCH_ATTEMPTS
                    && roster::error_detail(&status).0 == ErrorCode::VersionMismatch =>
            {
                // Back off a little, more each time and never in lock-step with the winner.
                let jitter = u64::from(
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|elapsed| elapsed.subsec_nanos() % 1000)
                        .unwrap_or(0),
                );
                let pause = (attempt as u64).min(10) * 500 + jitter;
                tokio::time::sleep(std::time::Duration::from_micros(pause)).await;
            }
            Err(status) => return Err(scim_error(status)),
        }
    }
}

/// DELETE /Users/{id}.
pub async fn delete(
    State(facade): State<Facade>,
    Extension(base): Extension<BasePath>,
    headers: HeaderMap,
    Path(IdParam { id }): Path<IdParam>,
) -> ScimResult<Response> {
    let ctx = Ctx::new(&headers, &base, &facade.config);
    let request = pb::DeleteUserRequest {
        id,
        expected_version: if_match(&headers)?,
    };
    facade
        .core
        .users
        .delete_user(ctx.request(request))
        .await
        .map_err(not_found_for_bad_id)?;
    Ok(no_content())
}
