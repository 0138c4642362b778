//! `/Groups`: membership changes become delta calls on the core (never a read-modify-write of
//! the member list), applied with the attribute changes in one core call.

use super::IdParam;
use super::{
    ReadParams, created, if_match, if_none_match, json_body, list_body, no_content, not_modified,
    scim_json,
};
use crate::context::{BasePath, Ctx, Facade, scim_error};
use crate::scim::error::{ScimError, ScimResult};
use crate::scim::patch::{group_patch_changes, parse_patch_request};
use crate::scim::projection::project;
use crate::scim::resource::{group_from_scim, group_to_scim};
use crate::scim::schema::{GROUP, Schema};
use axum::Extension;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use roster::ErrorCode;
use roster::pb::{self, group_change::Change};

const SCHEMAS: &[&Schema] = &[&GROUP];
/// Largest group whose members a PATCH response lists without being asked.
const PATCH_RESPONSE_MEMBERS: i64 = 100;
/// Members fetched per core call when a response lists them.
const MEMBER_PAGE: i32 = 1000;

fn render(
    ctx: &Ctx,
    group: &pb::Group,
    members: Option<&[pb::Member]>,
    params: &ReadParams,
) -> serde_json::Value {
    let mut body = group_to_scim(group, members, &ctx.base_url);
    project(&mut body, SCHEMAS, &params.attributes, &params.excluded);
    body
}

fn version(group: &pb::Group) -> Option<i64> {
    group.meta.as_ref().map(|meta| meta.version)
}

/// A malformed id names no resource: 404, like an unknown one.
fn not_found_for_bad_id(status: tonic::Status) -> ScimError {
    let (code, field) = roster::error_detail(&status);
    if code == ErrorCode::InvalidValue && (field == "id" || field == "group_id") {
        return ScimError::not_found("group not found");
    }
    scim_error(status)
}

/// Every member of a group, page by page.
async fn members(facade: &Facade, ctx: &Ctx, group_id: &str) -> ScimResult<Vec<pb::Member>> {
    let mut all = Vec::new();
    let mut page_token = String::new();
    loop {
        let request = pb::ListGroupMembersRequest {
            group_id: group_id.to_owned(),
            page_size: MEMBER_PAGE,
            page_token,
        };
        let page = facade
            .core
            .groups
            .list_group_members(ctx.request(request))
            .await
            .map_err(not_found_for_bad_id)?
            .into_inner();
        all.extend(page.members);
        if page.next_page_token.is_empty() {
            return Ok(all);
        }
        page_token = page.next_page_token;
    }
}

async fn run_list(facade: &Facade, ctx: &Ctx, params: ReadParams) -> ScimResult<Response> {
    let limits = &facade.config.limits;
    let (start_index, count) = params.paging(limits.default_page, limits.max_results);
    let request = pb::ListGroupsRequest {
        filter: params.filter()?,
        sort_by: params.sort()?,
        start_index,
        count: Some(count),
        cursor: params.cursor.clone(),
    };
    let response = facade
        .core
        .groups
        .list_groups(ctx.request(request))
        .await
        .map_err(scim_error)?
        .into_inner();
    let with_members = params.wants("members");
    let mut resources = Vec::with_capacity(response.groups.len());
    for group in &response.groups {
        let group_members = if with_members {
            Some(members(facade, ctx, &group.id).await?)
        } else {
            None
        };
        resources.push(render(ctx, group, group_members.as_deref(), &params));
    }
    let body = list_body(
        resources,
        response.total_results,
        response.start_index,
        params.cursor.is_some(),
        &response.next_cursor,
    );
    Ok(scim_json(StatusCode::OK, &body, None))
}

/// GET /Groups.
pub async fn list(
    State(facade): State<Facade>,
    Extension(base): Extension<BasePath>,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
) -> ScimResult<Response> {
    let ctx = Ctx::new(&headers, &base, &facade.config);
    run_list(&facade, &ctx, ReadParams::from_query(&query)?).await
}

/// POST /Groups/.search.
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

/// Reads a group for a response, with members only when the projection shows them.
async fn respond(
    facade: &Facade,
    ctx: &Ctx,
    group: pb::Group,
    params: &ReadParams,
    status: StatusCode,
) -> ScimResult<Response> {
    let group_members = if params.wants("members") {
        Some(members(facade, ctx, &group.id).await?)
    } else {
        None
    };
    let body = render(ctx, &group, group_members.as_deref(), params);
    Ok(if status == StatusCode::CREATED {
        created(&body, version(&group))
    } else {
        scim_json(status, &body, version(&group))
    })
}

/// POST /Groups.
pub async fn create(
    State(facade): State<Facade>,
    Extension(base): Extension<BasePath>,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
    body: Result<Bytes, BytesRejection>,
) -> ScimResult<Response> {
    let ctx = Ctx::new(&headers, &base, &facade.config);
    let params = ReadParams::from_query(&query)?;
    let group = group_from_scim(&json_body(&headers, body)?)?;
    let response = facade
        .core
        .groups
        .create_group(ctx.request(pb::CreateGroupRequest { group: Some(group) }))
        .await
        .map_err(scim_error)?
        .into_inner();
    let group = response
        .group
        .ok_or_else(|| ScimError::new(StatusCode::INTERNAL_SERVER_ERROR, None, "internal error"))?;
    respond(&facade, &ctx, group, &params, StatusCode::CREATED).await
}

/// GET /Groups/{id}: without members when the projection drops them, and then the membership
/// table is not read at all.
pub async fn get(
    State(facade): State<Facade>,
    Extension(base): Extension<BasePath>,
    headers: HeaderMap,
    Path(IdParam { id }): Path<IdParam>,
    Query(query): Query<Vec<(String, String)>>,
) -> ScimResult<Response> {
    let ctx = Ctx::new(&headers, &base, &facade.config);
    let params = ReadParams::from_query(&query)?;
    let request = pb::GetGroupRequest {
        id,
        include_members: false,
    };
    let group = facade
        .core
        .groups
        .get_group(ctx.request(request))
        .await
        .map_err(not_found_for_bad_id)?
        .into_inner();
    if let Some(version) = version(&group)
        && if_none_match(&headers, version)
    {
        return Ok(not_modified(version));
    }
    respond(&facade, &ctx, group, &params, StatusCode::OK).await
}

async fn update(
    facade: &Facade,
    ctx: &Ctx,
    id: String,
    expected_version: Option<i64>,
    changes: Vec<Change>,
) -> ScimResult<(pb::Group, i64)> {
    let request = pb::UpdateGroupRequest {
        id,
        expected_version,
        changes: changes
            .into_iter()
            .map(|change| pb::GroupChange {
                change: Some(change),
            })
            .collect(),
    };
    let response = facade
        .core
        .groups
        .update_group(ctx.request(request))
        .await
        .map_err(not_found_for_bad_id)?
        .into_inner();
    let member_count = response.member_count;
    let group = response
        .group
        .ok_or_else(|| ScimError::new(StatusCode::INTERNAL_SERVER_ERROR, None, "internal error"))?;
    Ok((group, member_count))
}

/// PUT /Groups/{id}: displayName, externalId and the member list, as one core call that writes
/// only the membership difference.
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
    let group = group_from_scim(&json_body(&headers, body)?)?;
    let changes = vec![
        Change::SetDisplayName(group.display_name),
        Change::SetExternalId(group.external_id.unwrap_or_default()),
        Change::ReplaceMembers(pb::MemberList {
            members: group.members,
        }),
    ];
    let (group, _) = update(&facade, &ctx, id, expected_version, changes).await?;
    respond(&facade, &ctx, group, &params, StatusCode::OK).await
}

/// PATCH /Groups/{id}. The response lists `members` when `attributes` asks for them or the group
/// has at most 100 members; a larger group comes back without them, so a change to it costs what
/// it changes, not the size of the group.
pub async fn patch(
    State(facade): State<Facade>,
    Extension(base): Extension<BasePath>,
    headers: HeaderMap,
    Path(IdParam { id }): Path<IdParam>,
    Query(query): Query<Vec<(String, String)>>,
    body: Result<Bytes, BytesRejection>,
) -> ScimResult<Response> {
    let ctx = Ctx::new(&headers, &base, &facade.config);
    let mut params = ReadParams::from_query(&query)?;
    let expected_version = if_match(&headers)?;
    let request = parse_patch_request(&json_body(&headers, body)?)?;
    let changes = group_patch_changes(&request, &id)?;
    let (group, member_count) = update(&facade, &ctx, id, expected_version, changes).await?;
    let members_requested = params
        .attributes
        .iter()
        .any(|path| path.attribute.eq_ignore_ascii_case("members"));
    // By default the response carries the members only while the group is small; the core says
    // how large it is, so a change to a large group reads none of its members.
    if members_requested || (params.wants("members") && member_count <= PATCH_RESPONSE_MEMBERS) {
        return respond(&facade, &ctx, group, &params, StatusCode::OK).await;
    }
    params.excluded.push(crate::scim::path::AttrPath {
        attribute: "members".into(),
        ..Default::default()
    });
    let body = render(&ctx, &group, None, &params);
    Ok(scim_json(StatusCode::OK, &body, version(&group)))
}

/// DELETE /Groups/{id}.
pub async fn delete(
    State(facade): State<Facade>,
    Extension(base): Extension<BasePath>,
    headers: HeaderMap,
    Path(IdParam { id }): Path<IdParam>,
) -> ScimResult<Response> {
    let ctx = Ctx::new(&headers, &base, &facade.config);
    let request = pb::DeleteGroupRequest {
        id,
        expected_version: if_match(&headers)?,
    };
    facade
        .core
        .groups
        .delete_group(ctx.request(request))
        .await
        .map_err(not_found_for_bad_id)?;
    Ok(no_content())
}
