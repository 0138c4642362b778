//! GroupService.

use super::{Core, required};
use crate::domain::validate;
use crate::error::CoreError;
use crate::store::validate_group;
use roster::pb::{self, group_service_server::GroupService};
use tonic::{Request, Response, Status};

/// The GroupService implementation.
pub struct GroupApi(pub Core);

#[tonic::async_trait]
impl GroupService for GroupApi {
    async fn create_group(
        &self,
        request: Request<pb::CreateGroupRequest>,
    ) -> Result<Response<pb::GroupWriteResponse>, Status> {
        let (principal, actor) = self.0.authorize(&request, "group.create").await?;
        let mut group = required(request.into_inner().group, "group")?;
        validate_group(&mut group)?;
        Ok(Response::new(
            self.0
                .store
                .create_group(&actor, &principal.org_id, group)
                .await?,
        ))
    }

    async fn get_group(
        &self,
        request: Request<pb::GetGroupRequest>,
    ) -> Result<Response<pb::Group>, Status> {
        let (principal, _) = self.0.authorize(&request, "group.get").await?;
        let id = validate::id("id", &request.get_ref().id)?;
        Ok(Response::new(
            self.0
                .store
                .get_group(
                    &principal.org_id,
                    &id,
                    request.get_ref().include_members,
                    principal.connection_id.as_deref(),
                )
                .await?,
        ))
    }

    async fn list_groups(
        &self,
        request: Request<pb::ListGroupsRequest>,
    ) -> Result<Response<pb::ListGroupsResponse>, Status> {
        let (principal, _) = self.0.authorize(&request, "group.list").await?;
        Ok(Response::new(
            self.0
                .store
                .list_groups(
                    &principal.org_id,
                    request.get_ref(),
                    principal.connection_id.as_deref(),
                )
                .await?,
        ))
    }

    async fn update_group(
        &self,
        request: Request<pb::UpdateGroupRequest>,
    ) -> Result<Response<pb::GroupWriteResponse>, Status> {
        let (principal, actor) = self.0.authorize(&request, "group.update").await?;
        let request = request.into_inner();
        let id = validate::id("id", &request.id)?;
        let mut changes = Vec::with_capacity(request.changes.len());
        for change in request.changes {
            changes.push(
                change.change.ok_or_else(|| {
                    CoreError::invalid("changes", "every change must set one field")
                })?,
            );
        }
        Ok(Response::new(
            self.0
                .store
                .update_group(
                    &actor,
                    &principal.org_id,
                    &id,
                    request.expected_version,
                    changes,
                )
                .await?,
        ))
    }

    async fn delete_group(
        &self,
        request: Request<pb::DeleteGroupRequest>,
    ) -> Result<Response<pb::DeleteGroupResponse>, Status> {
        let (principal, actor) = self.0.authorize(&request, "group.delete").await?;
        let id = validate::id("id", &request.get_ref().id)?;
        self.0
            .store
            .delete_group(
                &actor,
                &principal.org_id,
                &id,
                request.get_ref().expected_version,
            )
            .await?;
        Ok(Response::new(pb::DeleteGroupResponse {}))
    }

    async fn list_group_members(
        &self,
        request: Request<pb::ListGroupMembersRequest>,
    ) -> Result<Response<pb::ListGroupMembersResponse>, Status> {
        let (principal, _) = self.0.authorize(&request, "group.list_members").await?;
        let request = request.into_inner();
        let group_id = validate::id("group_id", &request.group_id)?;
        let page_size = match request.page_size {
            0 => 100,
            size @ 1..=1000 => size as u64,
            _ => {
                return Err(CoreError::invalid(
                    "page_size",
                    "page_size must be between 0 and 1000",
                )
                .into());
            }
        };
        let after = if request.page_token.is_empty() {
            String::new()
        } else {
            validate::id("page_token", &request.page_token)?
        };
        self.0
            .store
            .group_exists(&principal.org_id, &group_id)
            .await?;
        let members = self
            .0
            .store
            .member_page(&principal.org_id, &group_id, &after, Some(page_size))
            .await?;
        let next_page_token = if members.len() as u64 == page_size {
            members
                .last()
                .map(|member| member.value.clone())
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(pb::ListGroupMembersResponse {
            members,
            next_page_token,
        }))
    }
}
