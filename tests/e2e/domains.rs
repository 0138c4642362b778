//! DomainService end to end, over real DNS: each test runs a small authoritative DNS server on
//! 127.0.0.1 (a random UDP port, real DNS packets parsed and written by `hickory-proto`) whose
//! records the test changes between steps, and starts rosterd with `dns_resolver` pointing at it.
//! Covered: registration (pending, a challenge), verification failing with no record and with a
//! wrong value and succeeding with the right one, one organization per verified name (also in a
//! race), manual verification by the operator only, look-alike names, case, isolation, resolver
//! failures (SERVFAIL, nothing listening) as UNAVAILABLE, the verified names the email rules
//! read, and `rosterctl domain`.

use crate::harness::{Authed, Bearer, TestServer, failure, rosterctl_json};
use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::{RData, Record, RecordType};
use roster::pb::{self, DomainStatus, domain_service_client::DomainServiceClient};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tonic::Code;

// ---------------------------------------------------------------------------------------------
// A test DNS server
// ---------------------------------------------------------------------------------------------

/// What the test server answers for one name.
#[derive(Clone, Debug)]
enum Entry {
    /// TXT records, each a list of character-strings.
    Txt(Vec<Vec<String>>),
    /// SERVFAIL, as a broken upstream answers.
    ServFail,
}

/// An authoritative DNS server over UDP on 127.0.0.1 with an in-memory zone the test edits. Names
/// it does not hold are NXDOMAIN; a held name asked for another type is an empty NOERROR answer.
struct DnsServer {
    addr: SocketAddr,
    zone: Arc<Mutex<HashMap<String, Entry>>>,
    task: tokio::task::JoinHandle<()>,
}

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl DnsServer {
    async fn start() -> Self {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind the DNS socket");
        let addr = socket.local_addr().unwrap();
        let zone: Arc<Mutex<HashMap<String, Entry>>> = Arc::default();
        let served = zone.clone();
        let task = tokio::spawn(async move {
            let mut buffer = vec![0u8; 4096];
            loop {
                let Ok((length, peer)) = socket.recv_from(&mut buffer).await else {
                    continue;
                };
                let Ok(request) = Message::from_vec(&buffer[..length]) else {
                    continue;
                };
                let response = answer(&request, &served.lock().unwrap());
                if let Ok(bytes) = response.to_vec() {
                    let _ = socket.send_to(&bytes, peer).await;
                }
            }
        });
        DnsServer { addr, zone, task }
    }

    /// Publishes TXT records (each a list of strings) at `name`, replacing what was there.
    fn set_txt(&self, name: &str, records: &[&[&str]]) {
        let records = records
            .iter()
            .map(|strings| strings.iter().map(|s| s.to_string()).collect())
            .collect();
        self.zone
            .lock()
            .unwrap()
            .insert(key(name), Entry::Txt(records));
    }

    /// Makes `name` answer SERVFAIL.
    fn set_servfail(&self, name: &str) {
        self.zone.lock().unwrap().insert(key(name), Entry::ServFail);
    }

    /// Removes `name` (NXDOMAIN from now on).
    fn remove(&self, name: &str) {
        self.zone.lock().unwrap().remove(&key(name));
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn answer(request: &Message, zone: &HashMap<String, Entry>) -> Message {
    let mut response = Message::response(request.metadata.id, request.metadata.op_code);
    response.metadata.message_type = MessageType::Response;
    response.metadata.authoritative = true;
    response.metadata.recursion_desired = request.metadata.recursion_desired;
    response.metadata.recursion_available = true;
    response.queries = request.queries.clone();
    response.edns = request.edns.clone();
    let Some(query) = request.queries.first() else {
        response.metadata.response_code = ResponseCode::FormErr;
        return response;
    };
    match zone.get(&key(&query.name().to_ascii())) {
        None => response.metadata.response_code = ResponseCode::NXDomain,
        Some(Entry::ServFail) => response.metadata.response_code = ResponseCode::ServFail,
        Some(Entry::Txt(records)) => {
            if query.query_type() == RecordType::TXT {
                for strings in records {
                    response.answers.push(Record::from_rdata(
                        query.name().clone(),
                        60,
                        RData::TXT(TXT::new(strings.clone())),
                    ));
                }
            }
        }
    }
    response
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// rosterd on a fresh database, verifying domains against `dns`.
async fn server_with(dns: &DnsServer) -> TestServer {
    let addr = dns.addr;
    TestServer::start_with(move |config| config.dns_resolver = Some(addr)).await
}

fn domains(server: &TestServer, secret: &str) -> DomainServiceClient<Authed> {
    DomainServiceClient::with_interceptor(server.channel(), Bearer(Some(secret.to_owned())))
}

async fn register(
    server: &TestServer,
    secret: &str,
    name: &str,
) -> Result<pb::Domain, tonic::Status> {
    domains(server, secret)
        .register_domain(pb::RegisterDomainRequest { name: name.into() })
        .await
        .map(tonic::Response::into_inner)
}

async fn verify(server: &TestServer, secret: &str, id: &str) -> Result<pb::Domain, tonic::Status> {
    domains(server, secret)
        .verify_domain(pb::VerifyDomainRequest { id: id.into() })
        .await
        .map(tonic::Response::into_inner)
}

async fn mark(
    server: &TestServer,
    secret: &str,
    id: &str,
    organization_id: &str,
) -> Result<pb::Domain, tonic::Status> {
    domains(server, secret)
        .mark_domain_verified(pb::MarkDomainVerifiedRequest {
            id: id.into(),
            organization_id: organization_id.into(),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn get(server: &TestServer, secret: &str, id: &str) -> Result<pb::Domain, tonic::Status> {
    domains(server, secret)
        .get_domain(pb::GetDomainRequest { id: id.into() })
        .await
        .map(tonic::Response::into_inner)
}

async fn delete(
    server: &TestServer,
    secret: &str,
    id: &str,
) -> Result<pb::DeleteDomainResponse, tonic::Status> {
    domains(server, secret)
        .delete_domain(pb::DeleteDomainRequest { id: id.into() })
        .await
        .map(tonic::Response::into_inner)
}

async fn list(server: &TestServer, secret: &str) -> Vec<(String, DomainStatus)> {
    domains(server, secret)
        .list_domains(pb::ListDomainsRequest {})
        .await
        .expect("list domains")
        .into_inner()
        .domains
        .into_iter()
        .map(|domain| (domain.name.clone(), domain.status()))
        .collect()
}

/// The token id inside a secret (`roster_<32 hex id>_...`), as a hyphenated UUID.
fn token_id(secret: &str) -> String {
    let simple = &secret["roster_".len().."roster_".len() + 32];
    uuid::Uuid::parse_str(simple).unwrap().to_string()
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_domain_is_verified_by_its_txt_record_over_real_dns() {
    let dns = DnsServer::start().await;
    let server = server_with(&dns).await;
    let admin = server.admin.clone();

    // Registered: pending, with where and what to publish. Case and a trailing dot are ignored.
    let domain = register(&server, &admin, "Example.COM.").await.unwrap();
    assert_eq!(domain.name, "example.com");
    assert_eq!(domain.status(), DomainStatus::Pending);
    assert_eq!(
        domain.challenge_record_name,
        "_roster-challenge.example.com"
    );
    assert_eq!(domain.challenge_value.len(), 64);
    assert!(
        domain
            .challenge_value
            .bytes()
            .all(|b| b.is_ascii_hexdigit())
    );
    assert!(domain.created.is_some());
    assert!(domain.verified_at.is_none());
    assert_eq!(domain.verified_by, "");

    // The same name again, in any case: ALREADY_EXISTS naming the field.
    let (code, field, message) = failure(register(&server, &admin, "EXAMPLE.com").await);
    assert_eq!(
        (code, field.as_str()),
        (Code::AlreadyExists, "name"),
        "{message}"
    );
    assert!(message.contains("already registered"), "{message}");

    // No record at all: FAILED_PRECONDITION saying so.
    let (code, _, message) = failure(verify(&server, &admin, &domain.id).await);
    assert_eq!(code, Code::FailedPrecondition, "{message}");
    assert!(
        message.contains("no TXT record found at _roster-challenge.example.com"),
        "{message}"
    );

    // The name exists with other records only (an A record, say): still "no TXT record".
    dns.set_txt("_roster-challenge.example.com", &[]);
    let (code, _, message) = failure(verify(&server, &admin, &domain.id).await);
    assert_eq!(code, Code::FailedPrecondition, "{message}");
    assert!(message.contains("no TXT record found"), "{message}");

    // A wrong value: FAILED_PRECONDITION showing what was found.
    dns.set_txt("_roster-challenge.example.com", &[&["not-the-challenge"]]);
    let (code, _, message) = failure(verify(&server, &admin, &domain.id).await);
    assert_eq!(code, Code::FailedPrecondition, "{message}");
    assert!(message.contains("wrong value"), "{message}");
    assert!(message.contains("\"not-the-challenge\""), "{message}");

    // The challenge with one character more, or in upper case, is still wrong: exact match.
    let longer = format!("{}0", domain.challenge_value);
    let upper = domain.challenge_value.to_uppercase();
    dns.set_txt(
        "_roster-challenge.example.com",
        &[&[longer.as_str()], &[upper.as_str()]],
    );
    let (code, _, _) = failure(verify(&server, &admin, &domain.id).await);
    assert_eq!(code, Code::FailedPrecondition);
    assert_eq!(
        get(&server, &admin, &domain.id).await.unwrap().status(),
        DomainStatus::Pending
    );

    // The right value, quoted (as some DNS consoles store it), beside other records: verified.
    let quoted = format!("\"{}\"", domain.challenge_value);
    dns.set_txt(
        "_roster-challenge.example.com",
        &[&["v=spf1 -all"], &[quoted.as_str()]],
    );
    let verified = verify(&server, &admin, &domain.id).await.unwrap();
    assert_eq!(verified.status(), DomainStatus::Verified);
    assert_eq!(verified.verified_by, "dns");
    assert!(verified.verified_at.is_some());
    assert_eq!(verified.challenge_value, domain.challenge_value);
    assert_eq!(
        get(&server, &admin, &domain.id).await.unwrap(),
        verified,
        "get returns what verify returned"
    );

    // Verified stays verified: no second lookup, the record may go.
    dns.remove("_roster-challenge.example.com");
    assert_eq!(verify(&server, &admin, &domain.id).await.unwrap(), verified);

    // A value split into several strings counts joined.
    let split = register(&server, &admin, "split.example.org")
        .await
        .unwrap();
    let (first, second) = split.challenge_value.split_at(20);
    dns.set_txt("_roster-challenge.split.example.org", &[&[first, second]]);
    assert_eq!(
        verify(&server, &admin, &split.id).await.unwrap().status(),
        DomainStatus::Verified
    );

    assert_eq!(
        list(&server, &admin).await,
        vec![
            ("example.com".to_owned(), DomainStatus::Verified),
            ("split.example.org".to_owned(), DomainStatus::Verified),
        ]
    );

    // What the email rules will read: exactly the verified names of the organization.
    let store = roster_services::store::Store::connect(
        &roster_services::store::StoreOptions::new(server.database_url.clone()),
        roster_services::domain::clock::Clock::system(),
    )
    .await
    .expect("open the store");
    let verified_names = store.verified_domain_names(&server.org_id).await.unwrap();
    assert_eq!(
        verified_names.names().collect::<Vec<_>>(),
        ["example.com", "split.example.org"]
    );
    assert!(verified_names.covers_email("alice@EXAMPLE.com"));
    assert!(!verified_names.covers_email("alice@example.com.evil.io"));
    store.close().await;

    // Deleting returns the domain as it was; then it is gone.
    let deleted = delete(&server, &admin, &domain.id).await.unwrap();
    assert_eq!(deleted.domain.unwrap().name, "example.com");
    assert_eq!(
        failure(get(&server, &admin, &domain.id).await).0,
        Code::NotFound
    );
    assert_eq!(
        failure(delete(&server, &admin, &domain.id).await).0,
        Code::NotFound
    );
    server.stop().await;
}

#[tokio::test]
async fn names_are_validated_and_compared_exactly() {
    let dns = DnsServer::start().await;
    let server = server_with(&dns).await;
    let admin = server.admin.clone();

    for bad in [
        "",
        "example",
        "exa_mple.com",
        "example..com",
        "-example.com",
        "1.2.3.4",
        "bücher.example",
        "*.example.com",
        "alice@example.com",
        "example.com/path",
    ] {
        let (code, field, message) = failure(register(&server, &admin, bad).await);
        assert_eq!(
            (code, field.as_str()),
            (Code::InvalidArgument, "name"),
            "{bad}: {message}"
        );
    }

    let domain = register(&server, &admin, "example.com").await.unwrap();
    let lookalike = register(&server, &admin, "example.com.evil.io")
        .await
        .unwrap();
    assert_ne!(domain.challenge_value, lookalike.challenge_value);
    assert_eq!(
        lookalike.challenge_record_name,
        "_roster-challenge.example.com.evil.io"
    );

    // example.com's challenge published under the look-alike proves nothing for example.com,
    // and is the wrong value for the look-alike.
    dns.set_txt(
        "_roster-challenge.example.com.evil.io",
        &[&[domain.challenge_value.as_str()]],
    );
    let (code, _, message) = failure(verify(&server, &admin, &domain.id).await);
    assert_eq!(code, Code::FailedPrecondition, "{message}");
    assert!(message.contains("no TXT record"), "{message}");
    let (code, _, message) = failure(verify(&server, &admin, &lookalike.id).await);
    assert_eq!(code, Code::FailedPrecondition, "{message}");
    assert!(message.contains("wrong value"), "{message}");

    // Nor does a subdomain's record.
    dns.set_txt(
        "_roster-challenge.mail.example.com",
        &[&[domain.challenge_value.as_str()]],
    );
    assert_eq!(
        failure(verify(&server, &admin, &domain.id).await).0,
        Code::FailedPrecondition
    );

    // DNS names are case-insensitive: a record published in another case is the same record.
    dns.set_txt(
        "_ROSTER-CHALLENGE.Example.Com",
        &[&[domain.challenge_value.as_str()]],
    );
    let verified = verify(&server, &admin, &domain.id).await.unwrap();
    assert_eq!(verified.status(), DomainStatus::Verified);
    assert_eq!(
        get(&server, &admin, &lookalike.id).await.unwrap().status(),
        DomainStatus::Pending,
        "verifying example.com leaves example.com.evil.io pending"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_name_verified_by_one_organization_cannot_be_verified_by_another() {
    let dns = DnsServer::start().await;
    let server = server_with(&dns).await;
    let (_, admin_a) = server.new_org("acme").await;
    let (org_b, admin_b) = server.new_org("umbrella").await;

    // Both may hold the name pending, each with its own challenge.
    let domain_a = register(&server, &admin_a, "example.com").await.unwrap();
    let domain_b = register(&server, &admin_b, "EXAMPLE.COM").await.unwrap();
    assert_ne!(domain_a.challenge_value, domain_b.challenge_value);
    assert_ne!(domain_a.id, domain_b.id);

    // A proves it first.
    dns.set_txt(
        "_roster-challenge.example.com",
        &[&[domain_a.challenge_value.as_str()]],
    );
    assert_eq!(
        verify(&server, &admin_a, &domain_a.id)
            .await
            .unwrap()
            .status(),
        DomainStatus::Verified
    );

    // B publishes its own challenge too: still refused, ALREADY_EXISTS (the same answer the
    // loser of a simultaneous verification gets from the database), and B's domain stays pending.
    dns.set_txt(
        "_roster-challenge.example.com",
        &[
            &[domain_a.challenge_value.as_str()],
            &[domain_b.challenge_value.as_str()],
        ],
    );
    let (code, field, message) = failure(verify(&server, &admin_b, &domain_b.id).await);
    assert_eq!(
        (code, field.as_str()),
        (Code::AlreadyExists, "name"),
        "{message}"
    );
    assert!(
        message.contains("example.com is already verified by another organization"),
        "{message}"
    );
    assert_eq!(
        get(&server, &admin_b, &domain_b.id).await.unwrap().status(),
        DomainStatus::Pending
    );
    // Not even the operator can mark it verified for B.
    let (code, _, message) = failure(mark(&server, &server.admin, &domain_b.id, &org_b).await);
    assert_eq!(code, Code::AlreadyExists, "{message}");

    // Once A lets it go, B can verify it.
    delete(&server, &admin_a, &domain_a.id).await.unwrap();
    let verified_b = verify(&server, &admin_b, &domain_b.id).await.unwrap();
    assert_eq!(verified_b.status(), DomainStatus::Verified);

    // A race: two organizations with correct records verify at the same moment; exactly one wins
    // and the other gets ALREADY_EXISTS from the database's unique index. Three rounds.
    for round in 0..3 {
        let name = format!("race{round}.example.net");
        let race_a = register(&server, &admin_a, &name).await.unwrap();
        let race_b = register(&server, &admin_b, &name).await.unwrap();
        dns.set_txt(
            &format!("_roster-challenge.{name}"),
            &[
                &[race_a.challenge_value.as_str()],
                &[race_b.challenge_value.as_str()],
            ],
        );
        let (result_a, result_b) = tokio::join!(
            verify(&server, &admin_a, &race_a.id),
            verify(&server, &admin_b, &race_b.id)
        );
        let outcomes = [result_a, result_b];
        let winners = outcomes.iter().filter(|result| result.is_ok()).count();
        assert_eq!(winners, 1, "{outcomes:?}");
        for outcome in &outcomes {
            if let Err(status) = outcome {
                assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
            }
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn manual_verification_needs_the_system_scope() {
    let dns = DnsServer::start().await;
    let server = server_with(&dns).await;
    let (org_b, admin_b) = server.new_org("acme").await;

    let domain_b = register(&server, &admin_b, "acme.example").await.unwrap();

    // An organization's admin cannot vouch for itself.
    let (code, _, message) = failure(mark(&server, &admin_b, &domain_b.id, "").await);
    assert_eq!(code, Code::PermissionDenied, "{message}");
    assert!(message.contains("system"), "{message}");

    // Scopes of the other calls: reads need scim:read, writes admin.
    let reader = server.token(&["scim:read"]).await;
    let writer = server.token(&["scim:read", "scim:write"]).await;
    for secret in [&reader, &writer] {
        assert_eq!(
            failure(register(&server, secret, "reader.example").await).0,
            Code::PermissionDenied
        );
    }
    let own = register(&server, &server.admin, "own.example")
        .await
        .unwrap();
    assert_eq!(list(&server, &reader).await.len(), 1);
    assert_eq!(
        get(&server, &reader, &own.id).await.unwrap().name,
        "own.example"
    );
    assert_eq!(
        failure(verify(&server, &writer, &own.id).await).0,
        Code::PermissionDenied
    );
    assert_eq!(
        failure(delete(&server, &reader, &own.id).await).0,
        Code::PermissionDenied
    );
    let no_read = server.token(&["scim:write"]).await;
    assert_eq!(
        failure(
            domains(&server, &no_read)
                .list_domains(pb::ListDomainsRequest {})
                .await
        )
        .0,
        Code::PermissionDenied
    );

    // The operator (the bootstrap token holds `system`) marks a domain of its own organization,
    // and one of another organization by naming it; each records who did it.
    let operator = format!("manual:token:{}", token_id(&server.admin));
    let marked = mark(&server, &server.admin, &own.id, "").await.unwrap();
    assert_eq!(marked.status(), DomainStatus::Verified);
    assert_eq!(marked.verified_by, operator);
    let marked_b = mark(&server, &server.admin, &domain_b.id, &org_b)
        .await
        .unwrap();
    assert_eq!(marked_b.status(), DomainStatus::Verified);
    assert_eq!(marked_b.verified_by, operator);
    assert!(marked_b.verified_at.is_some());
    assert_eq!(
        get(&server, &admin_b, &domain_b.id).await.unwrap(),
        marked_b
    );

    // Every domain write is audited, and an operator's manual verification lands in the log of
    // the organization whose domain it is, naming the operator's token.
    let mut audit = roster::pb::audit_service_client::AuditServiceClient::with_interceptor(
        server.channel(),
        crate::harness::Bearer(Some(admin_b.clone())),
    );
    let events = audit
        .list_audit_events(pb::ListAuditEventsRequest {
            target_id: domain_b.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .events;
    let operations: Vec<&str> = events
        .iter()
        .map(|event| event.operation.as_str())
        .collect();
    assert_eq!(operations, ["domain.verify", "domain.register"]);
    assert_eq!(events[0].principal_id, token_id(&server.admin));
    assert!(
        events[0].changes_json.contains("manual:token:"),
        "{}",
        events[0].changes_json
    );

    // Naming the wrong organization is NOT_FOUND, like any id outside it.
    let other = register(&server, &admin_b, "other.example").await.unwrap();
    assert_eq!(
        failure(mark(&server, &server.admin, &other.id, &server.org_id).await).0,
        Code::NotFound
    );
    assert_eq!(
        failure(mark(&server, &server.admin, &other.id, "not-a-uuid").await).1,
        "organization_id"
    );
    server.stop().await;
}

#[tokio::test]
async fn another_organizations_domains_are_not_found() {
    let dns = DnsServer::start().await;
    let server = server_with(&dns).await;
    let (_, admin_a) = server.new_org("acme").await;
    let (_, admin_b) = server.new_org("umbrella").await;

    let domain_a = register(&server, &admin_a, "acme.example").await.unwrap();
    dns.set_txt(
        "_roster-challenge.acme.example",
        &[&[domain_a.challenge_value.as_str()]],
    );

    assert!(list(&server, &admin_b).await.is_empty());
    let (code, field, message) = failure(get(&server, &admin_b, &domain_a.id).await);
    assert_eq!((code, field.as_str()), (Code::NotFound, "id"));
    assert_eq!(message, "domain not found");
    assert_eq!(
        failure(verify(&server, &admin_b, &domain_a.id).await).0,
        Code::NotFound
    );
    assert_eq!(
        failure(delete(&server, &admin_b, &domain_a.id).await).0,
        Code::NotFound
    );
    // Unknown and malformed ids.
    let unknown = uuid::Uuid::new_v4().to_string();
    assert_eq!(
        failure(get(&server, &admin_b, &unknown).await).0,
        Code::NotFound
    );
    assert_eq!(
        failure(get(&server, &admin_b, "nope").await),
        (
            Code::InvalidArgument,
            "id".to_owned(),
            "id must be a UUID".to_owned()
        )
    );

    // Nothing B did changed A's domain.
    let still = get(&server, &admin_a, &domain_a.id).await.unwrap();
    assert_eq!(still.status(), DomainStatus::Pending);
    assert_eq!(
        verify(&server, &admin_a, &domain_a.id)
            .await
            .unwrap()
            .status(),
        DomainStatus::Verified
    );
    server.stop().await;
}

#[tokio::test]
async fn resolver_failures_are_unavailable_not_internal() {
    // A resolver that answers SERVFAIL.
    let dns = DnsServer::start().await;
    let server = server_with(&dns).await;
    let domain = register(&server, &server.admin, "broken.example")
        .await
        .unwrap();
    dns.set_servfail("_roster-challenge.broken.example");
    let (code, _, message) = failure(verify(&server, &server.admin, &domain.id).await);
    assert_eq!(code, Code::Unavailable, "{message}");
    assert!(message.contains("SERVFAIL"), "{message}");
    assert!(
        message.contains("_roster-challenge.broken.example"),
        "{message}"
    );
    assert_eq!(
        get(&server, &server.admin, &domain.id)
            .await
            .unwrap()
            .status(),
        DomainStatus::Pending
    );
    server.stop().await;

    // Nothing listening at the resolver's address (a port just closed, UDP and TCP).
    let closed = {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.local_addr().unwrap()
    };
    let server = TestServer::start_with(move |config| config.dns_resolver = Some(closed)).await;
    let domain = register(&server, &server.admin, "example.com")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let (code, _, message) = failure(verify(&server, &server.admin, &domain.id).await);
    assert_eq!(code, Code::Unavailable, "{message}");
    assert!(message.contains(&closed.to_string()), "{message}");
    assert!(message.contains("try again later"), "{message}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "the lookup gave up in bounded time"
    );
    server.stop().await;
}

#[tokio::test]
async fn rosterctl_drives_domains() {
    let dns = DnsServer::start().await;
    let server = server_with(&dns).await;
    let admin = server.admin.clone();

    let (code, registered, stderr) =
        rosterctl_json(&server, &admin, &["domain", "register", "Example.com"]).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(registered["name"], "example.com");
    assert_eq!(registered["status"], "pending");
    assert_eq!(
        registered["challengeRecordName"],
        "_roster-challenge.example.com"
    );
    let id = registered["id"].as_str().unwrap().to_owned();
    let challenge = registered["challengeValue"].as_str().unwrap().to_owned();

    let (code, _, stderr) = rosterctl_json(&server, &admin, &["domain", "verify", &id]).await;
    assert_eq!(code, 1);
    assert!(stderr.contains("FAILED_PRECONDITION"), "{stderr}");
    assert!(stderr.contains("no TXT record"), "{stderr}");

    dns.set_txt("_roster-challenge.example.com", &[&[challenge.as_str()]]);
    let (code, verified, stderr) =
        rosterctl_json(&server, &admin, &["domain", "verify", &id]).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(verified["status"], "verified");
    assert_eq!(verified["verifiedBy"], "dns");

    let (code, listed, stderr) = rosterctl_json(&server, &admin, &["domain", "list"]).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(listed["domains"][0]["name"], "example.com");

    let (code, other, _) =
        rosterctl_json(&server, &admin, &["domain", "register", "other.example"]).await;
    assert_eq!(code, 0);
    let other_id = other["id"].as_str().unwrap().to_owned();
    let (code, marked, stderr) =
        rosterctl_json(&server, &admin, &["domain", "mark-verified", &other_id]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        marked["verifiedBy"]
            .as_str()
            .unwrap()
            .starts_with("manual:token:")
    );

    let (code, deleted, stderr) = rosterctl_json(&server, &admin, &["domain", "delete", &id]).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(deleted["name"], "example.com");
    let (code, _, stderr) = rosterctl_json(&server, &admin, &["domain", "delete", &id]).await;
    assert_eq!(code, 1);
    assert!(stderr.contains("NOT_FOUND"), "{stderr}");
    server.stop().await;
}
