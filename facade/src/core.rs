//! How the facade reaches the core: through the contract's generated service traits. Inside the
//! all-in-one rosterd these are the core's own implementations, called with no encoding at all;
//! with `rosterd --role facade` they are adapters over a gRPC channel. One code path either way.

use roster::pb;
use roster::pb::group_service_client::GroupServiceClient;
use roster::pb::group_service_server::GroupService;
use roster::pb::organization_service_client::OrganizationServiceClient;
use roster::pb::organization_service_server::OrganizationService;
use roster::pb::user_service_client::UserServiceClient;
use roster::pb::user_service_server::UserService;
use std::sync::Arc;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

/// The services the facade calls.
#[derive(Clone)]
pub struct Core {
    /// Users.
    pub users: Arc<dyn UserService>,
    /// Groups.
    pub groups: Arc<dyn GroupService>,
    /// Organizations (to check the per-organization base URL).
    pub organizations: Arc<dyn OrganizationService>,
}

impl Core {
    /// A core reached over a gRPC channel (`rosterd --role facade --core URL`).
    pub fn remote(channel: Channel) -> Self {
        Self {
            users: Arc::new(RemoteUsers(UserServiceClient::new(channel.clone()))),
            groups: Arc::new(RemoteGroups(GroupServiceClient::new(channel.clone()))),
            organizations: Arc::new(RemoteOrganizations(OrganizationServiceClient::new(channel))),
        }
    }
}

/// The request with the HTTP client's address (the [`roster::ClientAddr`] extension, which does
/// not cross a socket) copied into the `x-roster-client-addr` header, which the core believes only
/// from the peers in its `trusted_proxies` setting.
fn forwarded<T>(mut request: Request<T>) -> Request<T> {
    let address = request
        .extensions()
        .get::<roster::ClientAddr>()
        .map(|address| address.0.ip());
    match address.and_then(|ip| ip.to_string().parse().ok()) {
        Some(value) => {
            request
                .metadata_mut()
                .insert(roster::CLIENT_ADDR_HEADER, value);
        }
        None => {
            request.metadata_mut().remove(roster::CLIENT_ADDR_HEADER);
        }
    }
    request
}

struct RemoteUsers(UserServiceClient<Channel>);
struct RemoteGroups(GroupServiceClient<Channel>);
struct RemoteOrganizations(OrganizationServiceClient<Channel>);

#[tonic::async_trait]
impl UserService for RemoteUsers {
    async fn create_user(
        &self,
        request: Request<pb::CreateUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        self.0.clone().create_user(forwarded(request)).await
    }
    async fn get_user(
        &self,
        request: Request<pb::GetUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        self.0.clone().get_user(forwarded(request)).await
    }
    async fn list_users(
        &self,
        request: Request<pb::ListUsersRequest>,
    ) -> Result<Response<pb::ListUsersResponse>, Status> {
        self.0.clone().list_users(forwarded(request)).await
    }
    async fn replace_user(
        &self,
        request: Request<pb::ReplaceUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        self.0.clone().replace_user(forwarded(request)).await
    }
    async fn delete_user(
        &self,
        request: Request<pb::DeleteUserRequest>,
    ) -> Result<Response<pb::DeleteUserResponse>, Status> {
        self.0.clone().delete_user(forwarded(request)).await
    }
}

#[tonic::async_trait]
impl GroupService for RemoteGroups {
    async fn create_group(
        &self,
        request: Request<pb::CreateGroupRequest>,
    ) -> Result<Response<pb::GroupWriteResponse>, Status> {
        self.0.clone().create_group(forwarded(request)).await
    }
    async fn get_group(
        &self,
        request: Request<pb::GetGroupRequest>,
    ) -> Result<Response<pb::Group>, Status> {
        self.0.clone().get_group(forwarded(request)).await
    }
    async fn list_groups(
        &self,
        request: Request<pb::ListGroupsRequest>,
    ) -> Result<Response<pb::ListGroupsResponse>, Status> {
        self.0.clone().list_groups(forwarded(request)).await
    }
    async fn update_group(
        &self,
        request: Request<pb::UpdateGroupRequest>,
    ) -> Result<Response<pb::GroupWriteResponse>, Status> {
        self.0.clone().update_group(forwarded(request)).await
    }
    async fn delete_group(
        &self,
        request: Request<pb::DeleteGroupRequest>,
    ) -> Result<Response<pb::DeleteGroupResponse>, Status> {
        self.0.clone().delete_group(forwarded(request)).await
    }
    async fn list_group_members(
        &self,
        request: Request<pb::ListGroupMembersRequest>,
    ) -> Result<Response<pb::ListGroupMembersResponse>, Status> {
        self.0.clone().list_group_members(forwarded(request)).await
    }
}

#[tonic::async_trait]
impl OrganizationService for RemoteOrganizations {
    async fn get_organization(
        &self,
        request: Request<pb::GetOrganizationRequest>,
    ) -> Result<Response<pb::Organization>, Status> {
        self.0.clone().get_organization(forwarded(request)).await
    }
    async fn create_organization(
        &self,
        request: Request<pb::CreateOrganizationRequest>,
    ) -> Result<Response<pb::CreateOrganizationResponse>, Status> {
        self.0.clone().create_organization(forwarded(request)).await
    }
    async fn list_organizations(
        &self,
        request: Request<pb::ListOrganizationsRequest>,
    ) -> Result<Response<pb::ListOrganizationsResponse>, Status> {
        self.0.clone().list_organizations(forwarded(request)).await
    }
}
