//! DomainService: reads need `scim:read`, registration, DNS verification and deletion `admin`,
//! manual verification `system` (the operator). The DNS lookup runs outside any transaction, so a
//! slow resolver never holds a database lock.

use super::Core;
use crate::dns::TxtResolver;
use crate::domain::domains::{self, DomainName};
use crate::domain::validate;
use crate::error::CoreError;
use roster::ErrorCode;
use roster::pb::{self, domain_service_server::DomainService};
use tonic::{Request, Response, Status};

/// The DomainService implementation.
pub struct DomainApi {
    core: Core,
    dns: TxtResolver,
}

impl DomainApi {
    /// A DomainService over `core`, verifying with `dns`.
    pub fn new(core: Core, dns: TxtResolver) -> Self {
        Self { core, dns }
    }
}

#[tonic::async_trait]
impl DomainService for DomainApi {
    async fn register_domain(
        &self,
        request: Request<pb::RegisterDomainRequest>,
    ) -> Result<Response<pb::Domain>, Status> {
        let (principal, actor) = self.core.authorize(&request, "domain.register").await?;
        let name = DomainName::parse(&request.get_ref().name)?;
        let domain = self
            .core
            .store
            .register_domain(&actor, &principal.org_id, &name)
            .await?;
        tracing::info!(domain = %domain.name, id = %domain.id, "domain registered");
        Ok(Response::new(domain))
    }

    async fn list_domains(
        &self,
        request: Request<pb::ListDomainsRequest>,
    ) -> Result<Response<pb::ListDomainsResponse>, Status> {
        let (principal, _) = self.core.authorize(&request, "domain.list").await?;
        Ok(Response::new(pb::ListDomainsResponse {
            domains: self.core.store.list_domains(&principal.org_id).await?,
        }))
    }

    async fn get_domain(
        &self,
        request: Request<pb::GetDomainRequest>,
    ) -> Result<Response<pb::Domain>, Status> {
        let (principal, _) = self.core.authorize(&request, "domain.get").await?;
        let id = validate::id("id", &request.get_ref().id)?;
        let row = self.core.store.get_domain(&principal.org_id, &id).await?;
        Ok(Response::new(row.to_pb()))
    }

    async fn verify_domain(
        &self,
        request: Request<pb::VerifyDomainRequest>,
    ) -> Result<Response<pb::Domain>, Status> {
        let (principal, actor) = self.core.authorize(&request, "domain.verify").await?;
        let id = validate::id("id", &request.get_ref().id)?;
        let store = &self.core.store;
        let row = store.get_domain(&principal.org_id, &id).await?;
        if row.is_verified() {
            return Ok(Response::new(row.to_pb()));
        }
        store
            .check_not_verified_elsewhere(&principal.org_id, &row.name)
            .await?;
        let name = row.domain_name();
        let answer = self
            .dns
            .lookup_txt(&name.challenge_record_name())
            .await
            .map_err(|unavailable| {
                CoreError::new(
                    ErrorCode::Unavailable,
                    "",
                    format!(
                        "could not look up {}: {unavailable}; try again later",
                        name.challenge_record_name()
                    ),
                )
            })?;
        if let Err(error) = domains::check_challenge(&answer, &name, &row.challenge) {
            tracing::info!(domain = %name, id = %id, reason = %error.message, "domain verification failed");
            return Err(error.into());
        }
        let domain = store
            .mark_domain_verified(&actor, &principal.org_id, &id, domains::BY_DNS)
            .await?;
        tracing::info!(domain = %domain.name, id = %domain.id, "domain verified by dns");
        Ok(Response::new(domain))
    }

    async fn mark_domain_verified(
        &self,
        request: Request<pb::MarkDomainVerifiedRequest>,
    ) -> Result<Response<pb::Domain>, Status> {
        let (principal, actor) = self
            .core
            .authorize(&request, "domain.mark_verified")
            .await?;
        let request = request.get_ref();
        let id = validate::id("id", &request.id)?;
        let org_id = if request.organization_id.is_empty() {
            principal.org_id.clone()
        } else {
            validate::id("organization_id", &request.organization_id)?
        };
        let verified_by = format!("manual:{}", principal.actor());
        let domain = self
            .core
            .store
            .mark_domain_verified(&actor, &org_id, &id, &verified_by)
            .await?;
        tracing::info!(
            domain = %domain.name,
            id = %domain.id,
            organization = %org_id,
            verified_by = %domain.verified_by,
            "domain marked verified by an operator"
        );
        Ok(Response::new(domain))
    }

    async fn delete_domain(
        &self,
        request: Request<pb::DeleteDomainRequest>,
    ) -> Result<Response<pb::DeleteDomainResponse>, Status> {
        let (principal, actor) = self.core.authorize(&request, "domain.delete").await?;
        let id = validate::id("id", &request.get_ref().id)?;
        let domain = self
            .core
            .store
            .delete_domain(&actor, &principal.org_id, &id)
            .await?;
        tracing::info!(domain = %domain.name, id = %domain.id, "domain deleted");
        Ok(Response::new(pb::DeleteDomainResponse {
            domain: Some(domain),
        }))
    }
}
