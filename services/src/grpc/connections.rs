//! ConnectionService: every call needs `admin` and stays in the caller's organization. Names and
//! CIDR blocks are validated here (`domain/connection.rs`); a change drops the cached token rows,
//! so a new allow-list, name or deletion holds from the next request on.

use super::Core;
use crate::domain::connection;
use crate::domain::validate;
use crate::error::CoreError;
use crate::store::kind_name;
use roster::pb::{self, connection_service_server::ConnectionService};
use tonic::{Request, Response, Status};

/// The ConnectionService implementation.
pub struct ConnectionApi(pub Core);

#[tonic::async_trait]
impl ConnectionService for ConnectionApi {
    async fn create_connection(
        &self,
        request: Request<pb::CreateConnectionRequest>,
    ) -> Result<Response<pb::Connection>, Status> {
        let (principal, actor) = self.0.authorize(&request, "connection.create").await?;
        let request = request.into_inner();
        connection::validate_name(&request.name)?;
        let kind = kind_name(request.kind).ok_or_else(|| {
            CoreError::invalid(
                "kind",
                format!("kind must be one of {}", connection::KINDS.join(", ")),
            )
        })?;
        let blocks = connection::parse_cidrs("ip_allow_list", &request.ip_allow_list)?;
        let created = self
            .0
            .store
            .create_connection(
                &actor,
                &principal.org_id,
                &request.name,
                kind,
                &blocks,
                &principal.actor(),
            )
            .await?;
        tracing::info!(connection_id = %created.id, "connection created");
        Ok(Response::new(created))
    }

    async fn list_connections(
        &self,
        request: Request<pb::ListConnectionsRequest>,
    ) -> Result<Response<pb::ListConnectionsResponse>, Status> {
        let (principal, _) = self.0.authorize(&request, "connection.list").await?;
        Ok(Response::new(pb::ListConnectionsResponse {
            connections: self.0.store.list_connections(&principal.org_id).await?,
        }))
    }

    async fn get_connection(
        &self,
        request: Request<pb::GetConnectionRequest>,
    ) -> Result<Response<pb::Connection>, Status> {
        let (principal, _) = self.0.authorize(&request, "connection.get").await?;
        let id = validate::id("id", &request.get_ref().id)?;
        let row = self.0.store.get_connection(&principal.org_id, &id).await?;
        Ok(Response::new(row.to_pb()))
    }

    async fn update_connection(
        &self,
        request: Request<pb::UpdateConnectionRequest>,
    ) -> Result<Response<pb::Connection>, Status> {
        let (principal, actor) = self.0.authorize(&request, "connection.update").await?;
        let request = request.into_inner();
        let id = validate::id("id", &request.id)?;
        if let Some(name) = &request.name {
            connection::validate_name(name)?;
        }
        let blocks = request
            .ip_allow_list
            .as_ref()
            .map(|list| connection::parse_cidrs("ip_allow_list", &list.cidrs))
            .transpose()?;
        let updated = self
            .0
            .store
            .update_connection(
                &actor,
                &principal.org_id,
                &id,
                request.name.as_deref(),
                blocks.as_deref(),
            )
            .await?;
        self.0.auth.invalidate_all();
        tracing::info!(connection_id = %updated.id, "connection updated");
        Ok(Response::new(updated))
    }

    async fn delete_connection(
        &self,
        request: Request<pb::DeleteConnectionRequest>,
    ) -> Result<Response<pb::DeleteConnectionResponse>, Status> {
        let (principal, actor) = self.0.authorize(&request, "connection.delete").await?;
        let id = validate::id("id", &request.get_ref().id)?;
        let (deleted, revoked) = self
            .0
            .store
            .delete_connection(&actor, &principal.org_id, &id)
            .await?;
        self.0.auth.invalidate_all();
        tracing::info!(connection_id = %deleted.id, revoked_tokens = revoked.len(), "connection deleted");
        Ok(Response::new(pb::DeleteConnectionResponse {
            connection: Some(deleted),
            revoked_tokens: i32::try_from(revoked.len()).unwrap_or(i32::MAX),
        }))
    }
}
