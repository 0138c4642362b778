//! AuditService: the organization's audit log, newest first. Reading it needs `admin`: the log
//! names tokens, clients and changed values, so identity-provider tokens cannot read it.

use super::Core;
use roster::pb::{self, audit_service_server::AuditService};
use tonic::{Request, Response, Status};

/// The AuditService implementation.
pub struct AuditApi(pub Core);

#[tonic::async_trait]
impl AuditService for AuditApi {
    async fn list_audit_events(
        &self,
        request: Request<pb::ListAuditEventsRequest>,
    ) -> Result<Response<pb::ListAuditEventsResponse>, Status> {
        let (principal, _) = self.0.authorize(&request, "audit.list").await?;
        Ok(Response::new(
            self.0
                .store
                .list_audit_events(&principal.org_id, request.get_ref())
                .await?,
        ))
    }
}
