//! First start, health and reflection.

use crate::harness::TestServer;
use roster::pb;

#[tokio::test]
async fn first_start_creates_an_admin_that_works() {
    let server = TestServer::start().await;
    let org = server
        .orgs(&server.admin)
        .get_organization(pb::GetOrganizationRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(org.name, "default");
    assert_eq!(org.id, server.org_id);
    let me = server
        .tokens(&server.admin)
        .get_current_token(pb::GetCurrentTokenRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(me.scopes, vec!["admin", "system"]);
    server.stop().await;
}
