//! UserService.

use super::{Core, Principal, required};
use crate::domain::accounts;
use crate::domain::audit::Actor;
use crate::domain::{user, validate};
use crate::error::CoreResult;
use crate::store::UserLookup;
use roster::ErrorCode;
use roster::pb::{self, get_user_request::Lookup, user_service_server::UserService};
use tonic::{Request, Response, Status};

/// The UserService implementation.
pub struct UserApi(pub Core);

/// The values a user's role can come from (`userType` and each `roles` value), each once.
fn role_values(user: &pb::User) -> Vec<&str> {
    let mut values: Vec<&str> = user
        .user_type
        .as_deref()
        .into_iter()
        .chain(user.roles.iter().map(|role| role.value.as_str()))
        .filter(|value| !value.is_empty())
        .collect();
    values.sort_unstable();
    values.dedup();
    values
}

impl UserApi {
    /// The attribute-level rule: every role value `user` sets that `current` did not have needs
    /// `users.role` `set:<value>` (a connection may be denied `set:Admin`, say).
    async fn check_role_values(
        &self,
        principal: &Principal,
        actor: &Actor,
        operation: &str,
        current: Option<&pb::User>,
        user: &pb::User,
    ) -> Result<(), Status> {
        let before = current.map(role_values).unwrap_or_default();
        for value in role_values(user) {
            if before.contains(&value) {
                continue;
            }
            self.0
                .authorize_role(principal, actor, operation, "users.role", Some(value))
                .await?;
        }
        Ok(())
    }

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
        let (principal, actor) = self.0.authorize(&request, "user.create").await?;
        let mut user = required(request.into_inner().user, "user")?;
        user::normalize(&mut user)?;
        user.groups.clear();
        self.check_role_values(&principal, &actor, "user.create", None, &user)
            .await?;
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
        let (principal, _) = self.0.authorize(&request, "user.get").await?;
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
                .get_user(
                    &principal.org_id,
                    lookup,
                    request.include_groups,
                    principal.connection_id.as_deref(),
                )
                .await?,
        ))
    }

    async fn list_users(
        &self,
        request: Request<pb::ListUsersRequest>,
    ) -> Result<Response<pb::ListUsersResponse>, Status> {
        let (principal, _) = self.0.authorize(&request, "user.list").await?;
        Ok(Response::new(
            self.0
                .store
                .list_users(
                    &principal.org_id,
                    request.get_ref(),
                    principal.connection_id.as_deref(),
                )
                .await?,
        ))
    }

    async fn replace_user(
        &self,
        request: Request<pb::ReplaceUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let (principal, actor) = self.0.authorize(&request, "user.replace").await?;
        let request = request.into_inner();
        let mut user = required(request.user, "user")?;
        user.id = validate::id("user.id", &user.id)?;
        user::normalize(&mut user)?;
        user.groups.clear();
        if !role_values(&user).is_empty() {
            // Only values the write adds are checked: a PATCH of the name re-sends an unchanged
            // userType, and a connection denied `set:Admin` must still be able to rename an
            // Admin someone else appointed.
            let current = self
                .0
                .store
                .get_user(&principal.org_id, UserLookup::Id(&user.id), false, None)
                .await
                .ok();
            self.check_role_values(&principal, &actor, "user.replace", current.as_ref(), &user)
                .await?;
        }
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
        let (principal, actor) = self.0.authorize(&request, "user.delete").await?;
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
