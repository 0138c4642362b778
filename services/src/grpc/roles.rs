//! RoleService: reads need `scim:read`, changes need `admin` (an identity provider's `scim:write`
//! token assigns roles only through the users' own attributes).

use super::Core;
use crate::domain::{role, validate};
use crate::error::CoreError;
use roster::pb::{self, role_service_server::RoleService};
use tonic::{Request, Response, Status};

/// The RoleService implementation.
pub struct RoleApi(pub Core);

/// The role a request assigns (`Some`) or clears (`None`); exactly one must be set.
fn assignment(role: Option<&str>, clear: Option<bool>) -> Result<Option<&str>, CoreError> {
    match (role, clear) {
        (Some(name), None) => {
            validate::required("role", name, role::MAX_ROLE_NAME)?;
            Ok(Some(name))
        }
        (None, Some(true)) => Ok(None),
        (None, Some(false)) => Err(CoreError::invalid(
            "clear",
            "clear must be true (or set role instead)",
        )),
        _ => Err(CoreError::invalid("role", "set either role or clear")),
    }
}

#[tonic::async_trait]
impl RoleService for RoleApi {
    async fn list_roles(
        &self,
        request: Request<pb::ListRolesRequest>,
    ) -> Result<Response<pb::ListRolesResponse>, Status> {
        let (principal, _) = self.0.authorize(&request, "role.list").await?;
        Ok(Response::new(pb::ListRolesResponse {
            roles: self.0.store.list_roles(&principal.org_id).await?,
        }))
    }

    async fn define_role(
        &self,
        request: Request<pb::DefineRoleRequest>,
    ) -> Result<Response<pb::Role>, Status> {
        let (principal, actor) = self.0.authorize(&request, "role.define").await?;
        let request = request.into_inner();
        let role = self
            .0
            .store
            .define_role(
                &actor,
                &principal.org_id,
                &request.name,
                request.rank,
                request.make_default,
            )
            .await?;
        tracing::info!(role = %role.name, rank = role.rank, default = role.is_default, "role defined");
        Ok(Response::new(role))
    }

    async fn assign_user_role(
        &self,
        request: Request<pb::AssignUserRoleRequest>,
    ) -> Result<Response<pb::EffectiveRole>, Status> {
        use pb::assign_user_role_request::Assignment;
        let (principal, actor) = self.0.authorize(&request, "role.assign_user").await?;
        let request = request.into_inner();
        let user_id = validate::id("user_id", &request.user_id)?;
        let (role, clear) = match &request.assignment {
            Some(Assignment::Role(name)) => (Some(name.as_str()), None),
            Some(Assignment::Clear(clear)) => (None, Some(*clear)),
            None => (None, None),
        };
        let role = assignment(role, clear)?;
        self.0
            .authorize_role(&principal, &actor, "role.assign_user", "users.role", role)
            .await?;
        Ok(Response::new(
            self.0
                .store
                .assign_user_role(&actor, &principal.org_id, &user_id, role)
                .await?,
        ))
    }

    async fn assign_group_role(
        &self,
        request: Request<pb::AssignGroupRoleRequest>,
    ) -> Result<Response<pb::AssignGroupRoleResponse>, Status> {
        use pb::assign_group_role_request::Assignment;
        let (principal, actor) = self.0.authorize(&request, "role.assign_group").await?;
        let request = request.into_inner();
        let group_id = validate::id("group_id", &request.group_id)?;
        let (role, clear) = match &request.assignment {
            Some(Assignment::Role(name)) => (Some(name.as_str()), None),
            Some(Assignment::Clear(clear)) => (None, Some(*clear)),
            None => (None, None),
        };
        let role = assignment(role, clear)?;
        self.0
            .authorize_role(&principal, &actor, "role.assign_group", "groups.role", role)
            .await?;
        Ok(Response::new(
            self.0
                .store
                .assign_group_role(&actor, &principal.org_id, &group_id, role)
                .await?,
        ))
    }

    async fn get_effective_role(
        &self,
        request: Request<pb::GetEffectiveRoleRequest>,
    ) -> Result<Response<pb::EffectiveRole>, Status> {
        let (principal, _) = self.0.authorize(&request, "role.effective").await?;
        let user_id = validate::id("user_id", &request.get_ref().user_id)?;
        Ok(Response::new(
            self.0
                .store
                .effective_role(&principal.org_id, &user_id)
                .await?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_one_of_role_and_clear() {
        assert_eq!(assignment(Some("Guest"), None).unwrap(), Some("Guest"));
        assert_eq!(assignment(None, Some(true)).unwrap(), None);
        assert_eq!(assignment(None, Some(false)).unwrap_err().field, "clear");
        assert_eq!(assignment(None, None).unwrap_err().field, "role");
        assert_eq!(assignment(Some(""), None).unwrap_err().field, "role");
    }
}
