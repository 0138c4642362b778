//! The casbin enforcer, built from an immutable snapshot of the stored rules and swapped whole.
//!
//! *Why partitions*: casbin evaluates its matcher once per loaded `p` rule, so an enforcer over
//! every rule of every tenant costs time in proportion to all of them. Each (domain, object)
//! pair gets its own enforcer holding only the rules that could match it: the domain's and the
//! `*` rules whose object is that object or `*`, plus the domain's groupings. The effect
//! `allow && !deny` does not depend on rule order, so the answer is the same as one enforcer over
//! everything. Partitions are built on first use from the snapshot they belong to; a reload
//! builds a new snapshot and swaps one `Arc`, so no request ever sees a half-loaded policy.

use super::rules::{EVERY_ORGANIZATION, Kind, MODEL, Rule};
use crate::error::{CoreError, CoreResult};
use async_trait::async_trait;
use casbin::{
    Adapter, CoreApi, DefaultModel, DefaultRoleManager, Enforcer, Filter, Model, RoleManager,
};
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::sync::Arc;

/// Separates the members of a request's subject set; the grammar keeps it out of every name.
pub const SUBJECT_SEPARATOR: char = '|';
/// Most partitions one snapshot keeps; past it they are dropped and rebuilt on demand.
const PARTITION_CAPACITY: usize = 4096;

/// The outcome of one enforcement.
#[derive(Clone, Debug)]
pub struct Decision {
    /// Whether the request is allowed.
    pub allowed: bool,
    /// The rule that decided (an allow that matched, or the deny that overrode), with its id;
    /// `None` when no rule matched (default deny).
    pub rule: Option<(String, Rule)>,
}

/// One version of the policy: every rule, indexed for partitioning.
pub struct Snapshot {
    version: i64,
    permissions: HashMap<(String, String), Vec<Rule>>,
    groupings: HashMap<String, Vec<Rule>>,
    ids: HashMap<Rule, String>,
    partitions: Mutex<HashMap<(String, String), Arc<Enforcer>>>,
}

impl Snapshot {
    /// A snapshot of `rules` (each with its stored id) at `version`.
    pub fn new(version: i64, rules: Vec<(String, Rule)>) -> Self {
        let mut permissions: HashMap<(String, String), Vec<Rule>> = HashMap::new();
        let mut groupings: HashMap<String, Vec<Rule>> = HashMap::new();
        let mut ids = HashMap::with_capacity(rules.len());
        for (id, rule) in rules {
            match rule.kind {
                Kind::Permission => permissions
                    .entry((rule.domain.clone(), rule.object.clone()))
                    .or_default()
                    .push(rule.clone()),
                Kind::Grouping => groupings
                    .entry(rule.domain.clone())
                    .or_default()
                    .push(rule.clone()),
            }
            ids.insert(rule, id);
        }
        Self {
            version,
            permissions,
            groupings,
            ids,
            partitions: Mutex::new(HashMap::new()),
        }
    }

    /// The version it was read at.
    pub fn version(&self) -> i64 {
        self.version
    }

    /// How many rules it holds.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether it holds no rule.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    fn partition_rules(&self, domain: &str, object: &str) -> Vec<Rule> {
        let mut keys = vec![(EVERY_ORGANIZATION, object), (EVERY_ORGANIZATION, "*")];
        if domain != EVERY_ORGANIZATION {
            keys.push((domain, object));
            keys.push((domain, "*"));
        }
        if object == "*" {
            keys.dedup();
        }
        let mut rules = Vec::new();
        for (d, o) in keys {
            if let Some(found) = self.permissions.get(&(d.to_owned(), o.to_owned())) {
                rules.extend(found.iter().cloned());
            }
        }
        if let Some(found) = self.groupings.get(domain) {
            rules.extend(found.iter().cloned());
        }
        rules
    }

    async fn partition(&self, domain: &str, object: &str) -> CoreResult<Arc<Enforcer>> {
        let key = (domain.to_owned(), object.to_owned());
        if let Some(found) = self.partitions.lock().get(&key) {
            return Ok(found.clone());
        }
        let enforcer = Arc::new(build(self.partition_rules(domain, object)).await?);
        let mut partitions = self.partitions.lock();
        if partitions.len() >= PARTITION_CAPACITY {
            partitions.clear();
        }
        Ok(partitions.entry(key).or_insert(enforcer).clone())
    }

    /// Decides whether the subject set `subjects` (members joined by `|`) may `action` on
    /// `object` in `domain`.
    pub async fn decide(
        &self,
        subjects: &str,
        domain: &str,
        object: &str,
        action: &str,
    ) -> CoreResult<Decision> {
        let enforcer = self.partition(domain, object).await?;
        let (allowed, matched) = enforcer
            .enforce_ex((subjects, domain, object, action))
            .map_err(casbin_error)?;
        // casbin lists the allow it met before a deny overrode it; the deny is what decided.
        let decisive = if allowed {
            matched.into_iter().next()
        } else {
            matched
                .into_iter()
                .rev()
                .find(|values| values.get(4).is_some_and(|effect| effect == "deny"))
        };
        let rule = decisive.and_then(|values| {
            let rule = Rule {
                kind: Kind::Permission,
                subject: values.first()?.clone(),
                domain: values.get(1)?.clone(),
                object: values.get(2)?.clone(),
                action: values.get(3)?.clone(),
                effect: values.get(4)?.clone(),
            };
            let id = self.ids.get(&rule).cloned().unwrap_or_default();
            Some((id, rule))
        });
        Ok(Decision { allowed, rule })
    }
}

fn casbin_error(error: casbin::Error) -> CoreError {
    CoreError::internal(anyhow::anyhow!("casbin: {error}"))
}

/// A fully built enforcer over `rules`.
pub async fn build(rules: Vec<Rule>) -> CoreResult<Enforcer> {
    let model = DefaultModel::from_str(MODEL).await.map_err(casbin_error)?;
    let mut enforcer = Enforcer::new(model, SnapshotAdapter { rules })
        .await
        .map_err(casbin_error)?;
    // Rebuilds the role links into the subject-set role manager.
    enforcer
        .set_role_manager(Arc::new(RwLock::new(SubjectSetRoleManager::default())))
        .map_err(casbin_error)?;
    Ok(enforcer)
}

/// The holder of the current snapshot, shared by every request of this process.
#[derive(Clone)]
pub struct PolicyEngine {
    current: Arc<RwLock<Arc<Snapshot>>>,
}

impl Default for PolicyEngine {
    fn default() -> Self {
        Self {
            current: Arc::new(RwLock::new(Arc::new(Snapshot::new(-1, Vec::new())))),
        }
    }
}

impl PolicyEngine {
    /// The snapshot requests are decided with now.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.read().clone()
    }

    /// Installs `snapshot` unless one at least as new is installed already (two reloads may
    /// finish out of order).
    pub fn install(&self, snapshot: Snapshot) -> bool {
        let mut current = self.current.write();
        if snapshot.version <= current.version && current.version >= 0 {
            return false;
        }
        *current = Arc::new(snapshot);
        true
    }

    /// Decides with the current snapshot.
    pub async fn decide(
        &self,
        subjects: &str,
        domain: &str,
        object: &str,
        action: &str,
    ) -> CoreResult<Decision> {
        self.snapshot()
            .decide(subjects, domain, object, action)
            .await
    }
}

/// Feeds a fixed list of rules to casbin: the store is the policy's only writer, so the
/// enforcer's own write-back paths refuse.
struct SnapshotAdapter {
    rules: Vec<Rule>,
}

#[async_trait]
impl Adapter for SnapshotAdapter {
    async fn load_policy(&mut self, model: &mut dyn Model) -> casbin::Result<()> {
        for rule in &self.rules {
            let ptype = rule.kind.ptype();
            model.add_policy(ptype, ptype, rule.casbin_values());
        }
        Ok(())
    }

    async fn load_filtered_policy<'a>(
        &mut self,
        model: &mut dyn Model,
        _filter: Filter<'a>,
    ) -> casbin::Result<()> {
        self.load_policy(model).await
    }

    async fn save_policy(&mut self, _model: &mut dyn Model) -> casbin::Result<()> {
        Ok(())
    }

    async fn clear_policy(&mut self) -> casbin::Result<()> {
        Ok(())
    }

    fn is_filtered(&self) -> bool {
        false
    }

    async fn add_policy(&mut self, _: &str, _: &str, _: Vec<String>) -> casbin::Result<bool> {
        Ok(false)
    }

    async fn add_policies(
        &mut self,
        _: &str,
        _: &str,
        _: Vec<Vec<String>>,
    ) -> casbin::Result<bool> {
        Ok(false)
    }

    async fn remove_policy(&mut self, _: &str, _: &str, _: Vec<String>) -> casbin::Result<bool> {
        Ok(false)
    }

    async fn remove_policies(
        &mut self,
        _: &str,
        _: &str,
        _: Vec<Vec<String>>,
    ) -> casbin::Result<bool> {
        Ok(false)
    }

    async fn remove_filtered_policy(
        &mut self,
        _: &str,
        _: &str,
        _: usize,
        _: Vec<String>,
    ) -> casbin::Result<bool> {
        Ok(false)
    }
}

/// casbin's role manager, taught that a request subject may be a set: `g(set, role, domain)`
/// holds when it holds for any member. A caller is several subjects at once (its token, each
/// scope, its connection, a user's role), and this answers for all of them in one enforcement
/// without writing per-request links into the shared enforcer.
struct SubjectSetRoleManager {
    inner: DefaultRoleManager,
}

impl Default for SubjectSetRoleManager {
    fn default() -> Self {
        Self {
            inner: DefaultRoleManager::new(10),
        }
    }
}

impl RoleManager for SubjectSetRoleManager {
    fn clear(&mut self) {
        self.inner.clear();
    }

    fn add_link(&mut self, name1: &str, name2: &str, domain: Option<&str>) {
        self.inner.add_link(name1, name2, domain);
    }

    fn matching_fn(
        &mut self,
        role_matching_fn: Option<casbin::MatchingFn>,
        domain_matching_fn: Option<casbin::MatchingFn>,
    ) {
        self.inner.matching_fn(role_matching_fn, domain_matching_fn);
    }

    fn delete_link(
        &mut self,
        name1: &str,
        name2: &str,
        domain: Option<&str>,
    ) -> casbin::Result<()> {
        self.inner.delete_link(name1, name2, domain)
    }

    fn has_link(&self, name1: &str, name2: &str, domain: Option<&str>) -> bool {
        name1
            .split(SUBJECT_SEPARATOR)
            .any(|member| member == name2 || self.inner.has_link(member, name2, domain))
    }

    fn get_roles(&self, name: &str, domain: Option<&str>) -> Vec<String> {
        name.split(SUBJECT_SEPARATOR)
            .flat_map(|member| self.inner.get_roles(member, domain))
            .collect()
    }

    fn get_users(&self, name: &str, domain: Option<&str>) -> Vec<String> {
        self.inner.get_users(name, domain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::rules::{STARTING_POLICY, grouping, parse_csv, permission};

    const ORG_A: &str = "00000000-0000-4000-8000-00000000000a";
    const ORG_B: &str = "00000000-0000-4000-8000-00000000000b";

    fn snapshot(version: i64, rules: Vec<Rule>) -> Snapshot {
        Snapshot::new(
            version,
            rules
                .into_iter()
                .enumerate()
                .map(|(index, rule)| (format!("r{index}"), rule))
                .collect(),
        )
    }

    #[tokio::test]
    async fn an_empty_policy_denies_everything() {
        let empty = snapshot(1, Vec::new());
        for (subjects, domain, object, action) in [
            ("scope:admin", ORG_A, "users", "read"),
            ("scope:system", "*", "organizations", "write"),
            ("", ORG_A, "*", "*"),
        ] {
            let decision = empty
                .decide(subjects, domain, object, action)
                .await
                .unwrap();
            assert!(!decision.allowed);
            assert!(decision.rule.is_none());
        }
    }

    #[tokio::test]
    async fn a_deny_overrides_an_allow_and_names_itself() {
        let rules = vec![
            permission("scope:scim:write", "*", "users.role", "*", "allow").unwrap(),
            permission("connection:entra", ORG_A, "users.role", "set:Admin", "deny").unwrap(),
        ];
        let policy = snapshot(1, rules);
        let subjects = "token:t|scope:scim:write|connection:entra";
        let admin = policy
            .decide(subjects, ORG_A, "users.role", "set:Admin")
            .await
            .unwrap();
        assert!(!admin.allowed);
        assert_eq!(admin.rule.unwrap().0, "r1");
        let guest = policy
            .decide(subjects, ORG_A, "users.role", "set:Guest")
            .await
            .unwrap();
        assert!(guest.allowed);
        assert_eq!(guest.rule.unwrap().0, "r0");
        // The deny is organization A's: in B the same connection subject is only allowed.
        assert!(
            policy
                .decide(subjects, ORG_B, "users.role", "set:Admin")
                .await
                .unwrap()
                .allowed
        );
    }

    #[tokio::test]
    async fn groupings_apply_inside_their_organization_only() {
        let rules = vec![
            permission("role:Approver", "*", "invoices", "approve", "allow").unwrap(),
            grouping("user:u1", "role:Approver", ORG_A).unwrap(),
        ];
        let policy = snapshot(1, rules);
        assert!(
            policy
                .decide("user:u1", ORG_A, "invoices", "approve")
                .await
                .unwrap()
                .allowed
        );
        assert!(
            !policy
                .decide("user:u1", ORG_B, "invoices", "approve")
                .await
                .unwrap()
                .allowed
        );
        // System-level checks run in domain `*`, where no organization's grouping exists.
        assert!(
            !policy
                .decide("user:u1", "*", "invoices", "approve")
                .await
                .unwrap()
                .allowed
        );
    }

    #[tokio::test]
    async fn no_grant_in_one_organization_authorizes_in_another() {
        // A small deterministic generator: random grants in A, every probe in B must be denied.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |modulo: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % modulo
        };
        let subjects = ["role:a", "role:b", "user:u", "scope:admin", "connection:c"];
        let objects = ["users", "groups", "workflows", "*"];
        let actions = ["read", "write", "*"];
        let mut rules = Vec::new();
        for _ in 0..300 {
            rules.push(
                permission(
                    subjects[next(5) as usize],
                    ORG_A,
                    objects[next(4) as usize],
                    actions[next(3) as usize],
                    "allow",
                )
                .unwrap(),
            );
        }
        let policy = snapshot(1, rules);
        for subject in subjects {
            for object in objects {
                for action in actions {
                    assert!(
                        !policy
                            .decide(subject, ORG_B, object, action)
                            .await
                            .unwrap()
                            .allowed
                    );
                }
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reloads_never_show_a_half_loaded_policy() {
        let starting = parse_csv(STARTING_POLICY).unwrap();
        let engine = PolicyEngine::default();
        engine.install(snapshot(1, starting.clone()));
        let reloader = {
            let engine = engine.clone();
            let starting = starting.clone();
            tokio::spawn(async move {
                for version in 2..500 {
                    let mut rules = starting.clone();
                    rules.push(
                        permission(&format!("role:r{version}"), ORG_A, "users", "read", "allow")
                            .unwrap(),
                    );
                    engine.install(snapshot(version, rules));
                    tokio::task::yield_now().await;
                }
            })
        };
        let mut false_denies = 0;
        for _ in 0..5_000 {
            if !engine
                .decide("token:t|scope:scim:read", ORG_A, "users", "read")
                .await
                .unwrap()
                .allowed
            {
                false_denies += 1;
            }
        }
        reloader.await.unwrap();
        assert_eq!(false_denies, 0);
        assert_eq!(engine.snapshot().version(), 499);
    }
}
