//! UserService.

use super::{Core, required};
use crate::domain::accounts;
use crate::domain::audit::Actor;
use crate::domain::{user, validate};
use crate::error::CoreResult;
use crate::store::UserLookup;
use roster::ErrorCode;
use roster::pb::{self, get_user_request::Lookup, user_service_server::UserService};
use roster::scopes;
use tonic::{Request, Response, Status};

/// The UserService implementation.
pub struct UserApi(pub Core);

impl UserApi {
    /// A write refused by the domain-verified email rules is recorded as `denied` (the write
    /// itself rolled back, so its own event never exists).
    async fn audit_refusal(
        &self,
        actor: &Actor,
        operation: &str,
        target_id: &str,
        result: CoreResult<pb::User>,
    ) -> Result<pb::User, Status> {
        match result {
            Ok(user) => Ok(user),
            Err(error) if error.code == ErrorCode::Forbidden => {
                let status = Status::from(error);
                Err(self
                    .0
                    .deny(
                        actor,
                        operation,
                        "user",
                        target_id,
                        accounts::DENIED_REASON,
                        status,
                    )
                    .await)
            }
            Err(error) => Err(error.into()),
        }
    }
}

#[tonic::async_trait]
impl UserService for UserApi {
    async fn create_user(
        &self,
        request: Request<pb::CreateUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let (principal, actor) = self
            .0
            .authorize(&request, scopes::SCIM_WRITE, "user.create")
            .await?;
        let mut user = required(request.into_inner().user, "user")?;
        user::normalize(&mut user)?;
        user.groups.clear();
        let result = self
            .0
            .store
            .create_user(&actor, &principal.org_id, user)
            .await;
        Ok(Response::new(
            self.audit_refusal(&actor, "user.create", "", result)
                .await?,
        ))
    }

    async fn get_user(
        &self,
        request: Request<pb::GetUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let (principal, _) = self
            .0
            .authorize(&request, scopes::SCIM_READ, "user.get")
            .await?;
        let request = request.into_inner();
        let id;
        let lookup = match required(request.lookup.as_ref(), "lookup")? {
            Lookup::Id(value) => {
                id = validate::id("id", value)?;
                UserLookup::Id(&id)
            }
            Lookup::UserName(name) => {
                validate::required("user_name", name, validate::MAX_SHORT)?;
                UserLookup::UserName(name)
            }
            Lookup::ExternalId(external_id) => {
                validate::required("external_id", external_id, validate::MAX_SHORT)?;
                UserLookup::ExternalId(external_id)
            }
        };
        Ok(Response::new(
            self.0
                .store
                .get_user(&principal.org_id, lookup, request.include_groups)
                .await?,
        ))
    }

    async fn list_users(
        &self,
        request: Request<pb::ListUsersRequest>,
    ) -> Result<Response<pb::ListUsersResponse>, Status> {
        let (principal, _) = self
            .0
            .authorize(&request, scopes::SCIM_READ, "user.list")
            .await?;
        Ok(Response::new(
            self.0
                .store
                .list_users(&principal.org_id, request.get_ref())
                .await?,
        ))
    }

    async fn replace_user(
        &self,
        request: Request<pb::ReplaceUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let (principal, actor) = self
            .0
            .authorize(&request, scopes::SCIM_WRITE, "user.replace")
            .await?;
        let request = request.into_inner();
        let mut user = required(request.user, "user")?;
        user.id = validate::id("user.id", &user.id)?;
        user::normalize(&mut user)?;
        user.groups.clear();
        let id = user.id.clone();
        let result = self
            .0
            .store
            .replace_user(&actor, &principal.org_id, user, request.expected_version)
            .await;
        Ok(Response::new(
            self.audit_refusal(&actor, "user.replace", &id, result)
                .await?,
        ))
    }

    async fn delete_user(
        &self,
        request: Request<pb::DeleteUserRequest>,
    ) -> Result<Response<pb::DeleteUserResponse>, Status> {
        let (principal, actor) = self
            .0
            .authorize(&request, scopes::SCIM_WRITE, "user.delete")
            .await?;
        let id = validate::id("id", &request.get_ref().id)?;
        self.0
            .store
            .delete_user(
                &actor,
                &principal.org_id,
                &id,
                request.get_ref().expected_version,
            )
            .await?;
        Ok(Response::new(pb::DeleteUserResponse {}))
    }
}
