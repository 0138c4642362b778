//! TokenService: only `admin` tokens manage tokens, only in their own organization, and never
//! grant a scope they do not hold.

use super::Core;
use crate::domain::validate::{self, MAX_SHORT};
use crate::error::CoreError;
use crate::store::micros;
use roster::pb::{self, token_service_server::TokenService};
use roster::scopes;
use tonic::{Request, Response, Status};

/// The TokenService implementation.
pub struct TokenApi(pub Core);

#[tonic::async_trait]
impl TokenService for TokenApi {
    async fn create_token(
        &self,
        request: Request<pb::CreateTokenRequest>,
    ) -> Result<Response<pb::CreateTokenResponse>, Status> {
        let (principal, actor) = self.0.authorize(&request, "token.create").await?;
        let request = request.into_inner();
        validate::required("name", &request.name, MAX_SHORT / 2)?;
        if request.scopes.is_empty() {
            return Err(CoreError::invalid(
                "scopes",
                format!(
                    "scopes must name at least one of {}",
                    scopes::ALL.join(", ")
                ),
            )
            .into());
        }
        let mut granted: Vec<String> = Vec::new();
        for scope in &request.scopes {
            if !scopes::ALL.contains(&scope.as_str()) {
                return Err(CoreError::invalid(
                    "scopes",
                    format!("unknown scope; valid scopes are {}", scopes::ALL.join(", ")),
                )
                .into());
            }
            // Least privilege: a token can only hand out what its creator holds itself.
            if !principal.has(scope) {
                let status = CoreError::forbidden(format!(
                    "cannot grant the {scope} scope, which this token lacks"
                ))
                .into();
                let reason = format!("scope_not_held:{scope}");
                return Err(self
                    .0
                    .deny(&actor, "token.create", "token", "", &reason, status)
                    .await);
            }
            if !granted.contains(scope) {
                granted.push(scope.clone());
            }
        }
        let now = self.0.store.clock().now_micros();
        if let Some(expiry) = &request.expires_at
            && micros(expiry) <= now
        {
            return Err(
                CoreError::invalid("expires_at", "expires_at must be in the future").into(),
            );
        }
        let connection_id = if request.connection_id.is_empty() {
            None
        } else {
            Some(validate::id("connection_id", &request.connection_id)?)
        };
        let txn = self.0.store.begin_write().await?;
        let response = self
            .0
            .store
            .create_token(
                &txn,
                &actor,
                &principal.org_id,
                &request.name,
                &granted,
                request.expires_at.as_ref(),
                &principal.actor(),
                connection_id.as_deref(),
            )
            .await?;
        txn.commit().await?;
        tracing::info!(token_id = %response.token.as_ref().map(|token| token.id.as_str()).unwrap_or_default(), "token created");
        Ok(Response::new(response))
    }

    async fn list_tokens(
        &self,
        request: Request<pb::ListTokensRequest>,
    ) -> Result<Response<pb::ListTokensResponse>, Status> {
        let (principal, _) = self.0.authorize(&request, "token.list").await?;
        let tokens = self
            .0
            .store
            .list_tokens(&principal.org_id, request.get_ref().include_revoked)
            .await?;
        Ok(Response::new(pb::ListTokensResponse { tokens }))
    }

    async fn revoke_token(
        &self,
        request: Request<pb::RevokeTokenRequest>,
    ) -> Result<Response<pb::ApiToken>, Status> {
        let (principal, actor) = self.0.authorize(&request, "token.revoke").await?;
        let id = validate::id("id", &request.get_ref().id)?;
        let token = self
            .0
            .store
            .revoke_token(&actor, &principal.org_id, &id)
            .await?;
        self.0.auth.invalidate(&token.id);
        tracing::info!(token_id = %token.id, "token revoked");
        Ok(Response::new(token))
    }

    async fn get_current_token(
        &self,
        request: Request<pb::GetCurrentTokenRequest>,
    ) -> Result<Response<pb::ApiToken>, Status> {
        let principal = self.0.auth.authenticate(&request, "token.whoami").await?;
        Ok(Response::new(
            self.0
                .store
                .get_token(&principal.org_id, &principal.token_id)
                .await?,
        ))
    }
}
