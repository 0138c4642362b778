//! OrganizationService.

use super::Core;
use crate::domain::audit::{Actor, Changes};
use crate::domain::validate::{self, MAX_SHORT};
use crate::store::Event;
use roster::pb::{self, organization_service_server::OrganizationService};
use roster::scopes;
use serde_json::Value;
use tonic::{Request, Response, Status};

/// The OrganizationService implementation.
pub struct OrganizationApi(pub Core);

#[tonic::async_trait]
impl OrganizationService for OrganizationApi {
    async fn get_organization(
        &self,
        request: Request<pb::GetOrganizationRequest>,
    ) -> Result<Response<pb::Organization>, Status> {
        let principal = self
            .0
            .auth
            .authenticate(&request, "organization.get")
            .await?;
        Ok(Response::new(
            self.0.store.get_organization(&principal.org_id).await?,
        ))
    }

    async fn create_organization(
        &self,
        request: Request<pb::CreateOrganizationRequest>,
    ) -> Result<Response<pb::CreateOrganizationResponse>, Status> {
        let (principal, actor) = self.0.authorize(&request, "organization.create").await?;
        let request = request.into_inner();
        validate::organization_name(&request.name)?;
        let display_name = if request.display_name.is_empty() {
            request.name.clone()
        } else {
            request.display_name
        };
        validate::required("display_name", &display_name, MAX_SHORT)?;
        let response = create_organization(
            &self.0,
            &actor,
            &request.name,
            &display_name,
            &principal.actor(),
        )
        .await?;
        Ok(Response::new(response))
    }

    async fn list_organizations(
        &self,
        request: Request<pb::ListOrganizationsRequest>,
    ) -> Result<Response<pb::ListOrganizationsResponse>, Status> {
        self.0.authorize(&request, "organization.list").await?;
        Ok(Response::new(pb::ListOrganizationsResponse {
            organizations: self.0.store.list_organizations().await?,
        }))
    }
}

/// Creates an organization and its first admin token in one transaction.
pub async fn create_organization(
    core: &Core,
    actor: &Actor,
    name: &str,
    display_name: &str,
    created_by: &str,
) -> Result<pb::CreateOrganizationResponse, crate::error::CoreError> {
    let txn = core.store.begin_write().await?;
    let organization = core
        .store
        .create_organization(&txn, name, display_name)
        .await?;
    // The creator's organization records the creation; the new organization's log starts with
    // the minting of its first token (create_token writes that event there).
    let mut changes = Changes::new();
    changes.set("name", &Value::Null, &Value::from(name)).set(
        "displayName",
        &Value::Null,
        &Value::from(display_name),
    );
    let event = Event {
        operation: "organization.create",
        target_kind: "organization",
        target_id: &organization.id,
    };
    core.store.audit(&txn, actor, event, &changes).await?;
    let admin_token = core
        .store
        .create_token(
            &txn,
            actor,
            &organization.id,
            "admin",
            &[scopes::ADMIN.to_owned()],
            None,
            created_by,
            None,
        )
        .await?;
    txn.commit().await?;
    Ok(pb::CreateOrganizationResponse {
        organization: Some(organization),
        admin_token: Some(admin_token),
    })
}
