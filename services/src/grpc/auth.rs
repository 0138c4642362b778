//! Bearer-token authentication and scope checks. The organization always comes from the token.

use crate::domain::audit::{self, Actor, PrincipalKind};
use crate::domain::connection::{self, Cidr};
use crate::domain::token;
use crate::error::CoreError;
use crate::policy::{self, Decision, Level};
use crate::store::{AuthToken, Event, Store};
use roster::scopes;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use tonic::{Request, Status};

/// The authenticated caller.
#[derive(Clone, Debug)]
pub struct Principal {
    /// The token's id.
    pub token_id: String,
    /// The token's name.
    pub token_name: String,
    /// The organization every call is scoped to.
    pub org_id: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// The provisioning connection the token belongs to (its policy subject is
    /// `connection:<id>`); `None` for other tokens.
    pub connection_id: Option<String>,
    /// That connection's name ("Okta production").
    pub connection_name: Option<String>,
    /// Every casbin subject the caller is, joined by `|` (its token, scopes and connection).
    pub subjects: String,
}

impl Principal {
    /// Whether the principal holds `scope` (`admin` implies both SCIM scopes).
    pub fn has(&self, scope: &str) -> bool {
        self.scopes.iter().any(|held| {
            held == scope
                || (held == scopes::ADMIN
                    && (scope == scopes::SCIM_READ || scope == scopes::SCIM_WRITE))
        })
    }

    /// PERMISSION_DENIED unless the principal holds `scope`.
    pub fn require(&self, scope: &str) -> Result<(), Status> {
        if self.has(scope) {
            Ok(())
        } else {
            Err(CoreError::forbidden(format!("this token lacks the {scope} scope")).into())
        }
    }

    /// Who did it, for `created_by` fields.
    pub fn actor(&self) -> String {
        format!("token:{}", self.token_id)
    }
}

/// How long a token row read from the database is reused before it is read again. A revocation
/// made through this process takes effect at once (the entry is dropped); one made through another
/// rosterd sharing the database takes effect within this time.
pub const AUTH_CACHE_TTL_MICROS: i64 = 1_000_000;
/// Most cached token rows; past it the cache starts over.
const AUTH_CACHE_CAPACITY: usize = 10_000;

struct CachedToken {
    token: AuthToken,
    read_at: i64,
}

/// Verifies bearer tokens against the store. Token rows are cached briefly (never the secret: every
/// request's secret is hashed and compared with the stored digest), which halves the database work
/// of a typical read.
#[derive(Clone)]
pub struct Authenticator {
    store: Store,
    cache: Arc<Mutex<HashMap<String, CachedToken>>>,
    /// When this process last started a `last_used_at` write per token: the stored value can lag
    /// behind a queued write, and without this every request in between would start another.
    touches: Arc<Mutex<HashMap<String, i64>>>,
    /// Peers whose `x-roster-client-addr` header is believed (remote SCIM facades).
    trusted_proxies: Arc<Vec<Cidr>>,
}

const INVALID: &str = "invalid, expired or revoked token";

impl Authenticator {
    /// An authenticator over `store` that trusts no proxy.
    pub fn new(store: Store) -> Self {
        Self::with_trusted_proxies(store, Vec::new())
    }

    /// An authenticator over `store` that believes the client address forwarded by peers in
    /// `trusted_proxies` (remote SCIM facades).
    pub fn with_trusted_proxies(store: Store, trusted_proxies: Vec<Cidr>) -> Self {
        Self {
            store,
            cache: Arc::default(),
            touches: Arc::default(),
            trusted_proxies: Arc::new(trusted_proxies),
        }
    }

    /// The address the request came from, for IP allow-lists: the HTTP client's address when the
    /// in-process SCIM facade made the call (a request extension, which no remote caller can
    /// set); the `x-roster-client-addr` header when the socket peer is a trusted proxy (a remote
    /// facade); else the socket peer. `None` when none is known.
    pub fn client_address<T>(&self, request: &Request<T>) -> Option<IpAddr> {
        if let Some(roster::ClientAddr(address)) = request.extensions().get::<roster::ClientAddr>()
        {
            return Some(address.ip().to_canonical());
        }
        let peer = request.remote_addr()?.ip().to_canonical();
        if self
            .trusted_proxies
            .iter()
            .any(|block| block.contains(peer))
            && let Some(forwarded) = request
                .metadata()
                .get(roster::CLIENT_ADDR_HEADER)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.trim().parse::<IpAddr>().ok())
        {
            return Some(forwarded.to_canonical());
        }
        Some(peer)
    }

    /// Forgets every cached token row (after a connection changed: its name, allow-list or
    /// existence is part of each of its tokens' rows).
    pub fn invalidate_all(&self) {
        self.cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clear();
    }

    /// Whether this request should record the token's use: at most once a minute per token.
    fn claim_touch(&self, token_id: &str, now: i64) -> bool {
        let mut touches = self
            .touches
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if touches
            .get(token_id)
            .is_some_and(|last| *last > now - 60_000_000)
        {
            return false;
        }
        if touches.len() >= AUTH_CACHE_CAPACITY {
            touches.clear();
        }
        touches.insert(token_id.to_owned(), now);
        true
    }

    /// Forgets a cached token row (after a revocation).
    pub fn invalidate(&self, token_id: &str) {
        self.cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(token_id);
    }

    async fn load(&self, id: &str, now: i64) -> Result<Option<AuthToken>, Status> {
        {
            let cache = self
                .cache
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some(cached) = cache.get(id)
                && now - cached.read_at < AUTH_CACHE_TTL_MICROS
            {
                return Ok(Some(cached.token.clone()));
            }
        }
        let stored = self.store.find_token_for_auth(id).await?;
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match &stored {
            Some(token) => {
                if cache.len() >= AUTH_CACHE_CAPACITY {
                    cache.clear();
                }
                cache.insert(
                    id.to_owned(),
                    CachedToken {
                        token: token.clone(),
                        read_at: now,
                    },
                );
            }
            None => {
                cache.remove(id);
            }
        }
        Ok(stored)
    }

    /// The caller of `request`, or UNAUTHENTICATED. A connection's token used from an address
    /// outside its IP allow-list is PERMISSION_DENIED (the token is genuine, the place is not), and
    /// the refusal is recorded as a `denied` event of `operation` with reason
    /// `ip_not_allowed:<address>`.
    pub async fn authenticate<T>(
        &self,
        request: &Request<T>,
        operation: &str,
    ) -> Result<Principal, Status> {
        let header = request.metadata().get("authorization").ok_or_else(|| {
            Status::from(CoreError::unauthenticated(
                "missing authorization: Bearer <token>",
            ))
        })?;
        let value = header
            .to_str()
            .map_err(|_| Status::from(CoreError::unauthenticated(INVALID)))?;
        let secret = match value.split_once(' ') {
            Some((scheme, secret)) if scheme.eq_ignore_ascii_case("bearer") => secret.trim(),
            _ => {
                return Err(
                    CoreError::unauthenticated("authorization must be: Bearer <token>").into(),
                );
            }
        };
        let (principal, stored) = self.verify(secret).await?;
        if let Some(connection) = &stored.connection
            && !connection.ip_allow_list.is_empty()
        {
            let address = self.client_address(request);
            if !connection::allows(&connection.ip_allow_list, address) {
                let shown = address.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
                tracing::warn!(token_id = %principal.token_id, connection_id = %connection.id, address = %shown, "connection token used from outside its IP allow-list");
                let actor = actor_of(&principal, request);
                let event = Event {
                    operation,
                    target_kind: "",
                    target_id: "",
                };
                let reason = format!("ip_not_allowed:{shown}");
                if let Err(error) = self.store.audit_denied(&actor, event, &reason).await {
                    tracing::error!(error = %error, operation, "could not record a refused address");
                }
                return Err(CoreError::forbidden(format!(
                    "this connection's tokens may not be used from {shown}"
                ))
                .into());
            }
        }
        self.record_use(&stored);
        Ok(principal)
    }

    /// The principal a secret belongs to and its stored row, or UNAUTHENTICATED.
    async fn verify(&self, secret: &str) -> Result<(Principal, AuthToken), Status> {
        // Malformed secrets and bad checksums are refused before any database work.
        let id = token::parse(secret)
            .ok_or_else(|| Status::from(CoreError::unauthenticated(INVALID)))?;
        let now = self.store.clock().now_micros();
        let stored = self
            .load(&id.to_string(), now)
            .await?
            .ok_or_else(|| Status::from(CoreError::unauthenticated(INVALID)))?;
        if !token::verify(secret, &stored.secret_hash) {
            return Err(CoreError::unauthenticated(INVALID).into());
        }
        if stored.revoked_at.is_some()
            || stored.expires_at.is_some_and(|expiry| expiry <= now)
            || stored
                .connection
                .as_ref()
                .is_some_and(|connection| connection.deleted)
        {
            return Err(CoreError::unauthenticated(INVALID).into());
        }
        tracing::Span::current().record("token_id", stored.id.as_str());
        let connection_id = stored.connection.as_ref().map(|c| c.id.clone());
        let principal = Principal {
            token_id: stored.id.clone(),
            token_name: stored.name.clone(),
            org_id: stored.org_id.clone(),
            scopes: stored.scopes.clone(),
            subjects: policy::subjects_of_token(
                &stored.id,
                stored.scopes.iter().map(String::as_str),
                connection_id.as_deref(),
            ),
            connection_id,
            connection_name: stored.connection.as_ref().map(|c| c.name.clone()),
        };
        Ok((principal, stored))
    }

    /// Records the token's use (at most once a minute), off the request's path.
    fn record_use(&self, stored: &AuthToken) {
        let now = self.store.clock().now_micros();
        let stale = stored
            .last_used_at
            .is_none_or(|last| last < now - 60_000_000);
        if stale && self.claim_touch(&stored.id, now) {
            let store = self.store.clone();
            let token_id = stored.id.clone();
            tokio::spawn(async move {
                if let Err(error) = store.touch_token(&token_id).await {
                    tracing::warn!(error = %error, "could not record token use");
                }
            });
        }
    }
}

/// The audit actor of an authenticated request: the connection (id and name) when the token
/// belongs to one, else the token (id and name), with the token id kept either way; the client's
/// user agent and the request id, both from metadata. The telemetry layer puts the request id it logs (the
/// caller's, or a generated one) into `x-request-id` before the handler runs, and the SCIM facade
/// forwards both headers, so the id in the log line and in the audit row agree.
pub fn actor_of<T>(principal: &Principal, request: &Request<T>) -> Actor {
    let metadata = |name: &str| {
        request
            .metadata()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
    };
    let (principal_kind, principal_id, principal_name) =
        match (&principal.connection_id, &principal.connection_name) {
            (Some(id), Some(name)) => (PrincipalKind::Connection, id.clone(), name.clone()),
            _ => (
                PrincipalKind::Token,
                principal.token_id.clone(),
                principal.token_name.clone(),
            ),
        };
    Actor {
        org_id: principal.org_id.clone(),
        principal_kind,
        principal_id,
        principal_name,
        token_id: principal.token_id.clone(),
        client: audit::clean_client(metadata("user-agent")),
        request_id: audit::clean_request_id(metadata("x-request-id")),
    }
}

impl super::Core {
    /// Authenticates the caller of `request` and asks the policy whether it may do `operation`
    /// (see `policy::permissions`). A refusal is recorded in the caller's organization as a
    /// `denied` event naming the rule that decided, or `default-deny` (an unauthenticated caller
    /// has no organization, so nothing is recorded for it).
    pub async fn authorize<T>(
        &self,
        request: &Request<T>,
        operation: &str,
    ) -> Result<(Principal, Actor), Status> {
        let principal = self.auth.authenticate(request, operation).await?;
        let actor = actor_of(&principal, request);
        if self.skip_policy {
            return Ok((principal, actor));
        }
        let Some(needed) = policy::permission(operation) else {
            tracing::error!(operation, "no permission is defined for this operation");
            let status = CoreError::forbidden(format!("{operation} is not allowed")).into();
            return Err(self
                .deny(&actor, operation, "", "", "unknown_operation", status)
                .await);
        };
        let domain = match needed.level {
            Level::Organization => principal.org_id.as_str(),
            Level::System => policy::rules::EVERY_ORGANIZATION,
        };
        let decision = self
            .policy
            .decide(&principal.subjects, domain, needed.object, needed.action)
            .await?;
        if !decision.allowed {
            let level = match needed.level {
                Level::Organization => "",
                Level::System => {
                    "; it is a system-level permission, granted only by rules for every organization (by default to the system scope)"
                }
            };
            let status = CoreError::forbidden(format!(
                "this token may not {} {}{}{level}",
                needed.action,
                needed.object,
                refusal_hint(&decision)
            ))
            .into();
            return Err(self
                .deny(
                    &actor,
                    operation,
                    "",
                    "",
                    &refusal_reason(&decision),
                    status,
                )
                .await);
        }
        Ok((principal, actor))
    }

    /// Checks an attribute-level permission (`users.role` `set:Admin`, say) for a principal that
    /// passed [`Core::authorize`]; a refusal is audited like any other.
    pub async fn authorize_attribute(
        &self,
        principal: &Principal,
        actor: &Actor,
        operation: &str,
        object: &str,
        action: &str,
    ) -> Result<(), Status> {
        if self.skip_policy {
            return Ok(());
        }
        let decision = self
            .policy
            .decide(&principal.subjects, &principal.org_id, object, action)
            .await?;
        if decision.allowed {
            return Ok(());
        }
        let status = CoreError::forbidden(format!(
            "this token may not {action} on {object}{}",
            refusal_hint(&decision)
        ))
        .into();
        Err(self
            .deny(actor, operation, "", "", &refusal_reason(&decision), status)
            .await)
    }

    /// The attribute-level rule for setting a role: `set:<role>` on `object` (`users.role` or
    /// `groups.role`); nothing to check when the write clears it.
    pub async fn authorize_role(
        &self,
        principal: &Principal,
        actor: &Actor,
        operation: &str,
        object: &str,
        role: Option<&str>,
    ) -> Result<(), Status> {
        match role {
            Some(role) => {
                self.authorize_attribute(
                    principal,
                    actor,
                    operation,
                    object,
                    &format!("set:{role}"),
                )
                .await
            }
            None => Ok(()),
        }
    }

    /// Records a refused authorization and returns `status` (the refusal stands even when the
    /// event could not be written; that failure is logged).
    pub async fn deny(
        &self,
        actor: &Actor,
        operation: &str,
        target_kind: &str,
        target_id: &str,
        reason: &str,
        status: Status,
    ) -> Status {
        let event = Event {
            operation,
            target_kind,
            target_id,
        };
        if let Err(error) = self.store.audit_denied(actor, event, reason).await {
            tracing::error!(error = %error, operation, "could not record a refused authorization");
        }
        status
    }
}

/// The audit reason of a refusal: the deciding rule's id, or `default-deny`.
fn refusal_reason(decision: &Decision) -> String {
    match &decision.rule {
        Some((id, _)) => format!("policy:denied_by:{id}"),
        None => "policy:default_deny".to_owned(),
    }
}

/// The end of a refusal's message: which rule denied, or that none allows.
fn refusal_hint(decision: &Decision) -> String {
    match &decision.rule {
        Some((id, _)) => format!(" (denied by policy rule {id})"),
        None => " (no policy rule allows it)".to_owned(),
    }
}
