//! The casbin enforcer, built from an immutable snapshot of the stored rules and swapped whole.
//!
//! *Why partitions*: casbin evaluates its matcher once per loaded `p` rule, so an enforcer over
//! every rule of every tenant costs time in proportion to all of them. Each (domain, object)
//! pair gets its own enforcer holding only the rules that could match it: the domain's and the
//! `*` rules whose object is that object or `*`, plus the domain's groupings. The effect
//! `allow && !deny` does not depend on rule order, so the answer is the same as one enforcer over
//! everything. Partitions are built on first use from the snapshot they belong to; a reload
//! builds a new snapshot and swaps one `Arc`, so no request ever sees a half-loaded policy.
//!
//! *Why a decision cache*: a snapshot never changes and a decision depends only on the snapshot
//! and the request's four strings, so each snapshot remembers its answers. casbin evaluates its
//! matcher through a script engine (rhai): under a SCIM lookup load the enforcement was an eighth
//! of rosterd's CPU, for the same few (token, organization, object, action) tuples over and over.
//! A policy change swaps the snapshot, and the cache goes with it.

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
/// Most decisions one snapshot remembers; past it they are dropped and decided again.
const DECISION_CAPACITY: usize = 16_384;
/// Past this many permission rules a partition is split by rule subject and action (casbin costs
/// ~1.4 µs per rule it evaluates; the bench in `services/benches/policy.rs` measured it).
const SPLIT_THRESHOLD: usize = 24;
/// How deep groupings are followed (casbin's default role manager uses 10).
const MAX_HIERARCHY: usize = 10;

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
    /// Per domain: subject → the roles its groupings make it a member of.
    links: HashMap<String, HashMap<String, Vec<String>>>,
    partitions: Mutex<HashMap<(String, String), Arc<Partition>>>,
    /// Decisions made on this snapshot, by [`decision_key`].
    decisions: Mutex<HashMap<String, Decision>>,
}

/// The cache key of a request: its four strings joined by a byte no name may hold.
fn decision_key(subjects: &str, domain: &str, object: &str, action: &str) -> String {
    let mut key =
        String::with_capacity(subjects.len() + domain.len() + object.len() + action.len() + 3);
    for (index, part) in [subjects, domain, object, action].into_iter().enumerate() {
        if index > 0 {
            key.push('\0');
        }
        key.push_str(part);
    }
    key
}

/// The enforcer(s) of one (domain, object) pair.
enum Partition {
    /// Few rules: one enforcer over all of them.
    Whole(Arc<Enforcer>),
    /// Many rules: one small enforcer per (action, rule subject), built on first use, asked only
    /// for the subjects the caller is or reaches through groupings. The rule table's uniqueness
    /// bounds each at a handful of rules, so no request pays for the other subjects' rules.
    Split(Split),
}

struct Split {
    by_subject: HashMap<String, Vec<Rule>>,
    groupings: Vec<Rule>,
    enforcers: Mutex<HashMap<(String, String), Arc<Enforcer>>>,
}

impl Snapshot {
    /// A snapshot of `rules` (each with its stored id) at `version`.
    pub fn new(version: i64, rules: Vec<(String, Rule)>) -> Self {
        let mut permissions: HashMap<(String, String), Vec<Rule>> = HashMap::new();
        let mut groupings: HashMap<String, Vec<Rule>> = HashMap::new();
        let mut ids = HashMap::with_capacity(rules.len());
        let mut links: HashMap<String, HashMap<String, Vec<String>>> = HashMap::new();
        for (id, rule) in rules {
            if rule.kind == Kind::Grouping {
                links
                    .entry(rule.domain.clone())
                    .or_default()
                    .entry(rule.subject.clone())
                    .or_default()
                    .push(rule.object.clone());
            }
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
            links,
            partitions: Mutex::new(HashMap::new()),
            decisions: Mutex::new(HashMap::new()),
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

    async fn partition(&self, domain: &str, object: &str) -> CoreResult<Arc<Partition>> {
        let key = (domain.to_owned(), object.to_owned());
        if let Some(found) = self.partitions.lock().get(&key) {
            return Ok(found.clone());
        }
        let rules = self.partition_rules(domain, object);
        let permissions = rules
            .iter()
            .filter(|rule| rule.kind == Kind::Permission)
            .count();
        let partition = if permissions <= SPLIT_THRESHOLD {
            Partition::Whole(Arc::new(build(rules).await?))
        } else {
            let mut by_subject: HashMap<String, Vec<Rule>> = HashMap::new();
            let mut groupings = Vec::new();
            for rule in rules {
                match rule.kind {
                    Kind::Permission => by_subject
                        .entry(rule.subject.clone())
                        .or_default()
                        .push(rule),
                    Kind::Grouping => groupings.push(rule),
                }
            }
            Partition::Split(Split {
                by_subject,
                groupings,
                enforcers: Mutex::new(HashMap::new()),
            })
        };
        let partition = Arc::new(partition);
        let mut partitions = self.partitions.lock();
        if partitions.len() >= PARTITION_CAPACITY {
            partitions.clear();
        }
        Ok(partitions.entry(key).or_insert(partition).clone())
    }

    /// The caller's subjects and every role their groupings in `domain` reach (bounded depth,
    /// like casbin's role manager).
    fn closure<'a>(&'a self, subjects: &'a str, domain: &str) -> Vec<&'a str> {
        let mut reached: Vec<&str> = subjects.split(SUBJECT_SEPARATOR).collect();
        if let Some(links) = self.links.get(domain) {
            let mut frontier = reached.clone();
            for _ in 0..MAX_HIERARCHY {
                let mut next = Vec::new();
                for subject in frontier {
                    for role in links.get(subject).into_iter().flatten() {
                        if !reached.contains(&role.as_str()) {
                            reached.push(role.as_str());
                            next.push(role.as_str());
                        }
                    }
                }
                if next.is_empty() {
                    break;
                }
                frontier = next;
            }
        }
        reached
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
        // A name with a NUL in it could make two requests share a key; none reaches here (the
        // rule grammar and the subjects rosterd builds exclude it), and such a request is simply
        // not cached.
        let cacheable = ![subjects, domain, object, action]
            .iter()
            .any(|part| part.contains('\0'));
        if !cacheable {
            return self.enforce(subjects, domain, object, action).await;
        }
        let key = decision_key(subjects, domain, object, action);
        if let Some(found) = self.decisions.lock().get(&key) {
            return Ok(found.clone());
        }
        let decision = self.enforce(subjects, domain, object, action).await?;
        let mut decisions = self.decisions.lock();
        if decisions.len() >= DECISION_CAPACITY {
            decisions.clear();
        }
        decisions.insert(key, decision.clone());
        Ok(decision)
    }

    /// [`Snapshot::decide`] without the cache: casbin over the request's partition.
    async fn enforce(
        &self,
        subjects: &str,
        domain: &str,
        object: &str,
        action: &str,
    ) -> CoreResult<Decision> {
        let partition = self.partition(domain, object).await?;
        match &*partition {
            Partition::Whole(enforcer) => {
                let (allowed, rule) = self.ask(enforcer, subjects, domain, object, action)?;
                Ok(Decision { allowed, rule })
            }
            Partition::Split(split) => {
                // allow-and-no-deny is decided per subject and combined: any deny wins, else any
                // allow, else default deny.
                let mut allowed = None;
                for subject in self.closure(subjects, domain) {
                    let Some(enforcer) = split.enforcer(subject, action).await? else {
                        continue;
                    };
                    let (ok, rule) = self.ask(&enforcer, subjects, domain, object, action)?;
                    if !ok && rule.is_some() {
                        return Ok(Decision {
                            allowed: false,
                            rule,
                        });
                    }
                    if ok && allowed.is_none() {
                        allowed = rule;
                    }
                }
                Ok(Decision {
                    allowed: allowed.is_some(),
                    rule: allowed,
                })
            }
        }
    }

    /// One casbin enforcement and the rule that decided it (`None`: no rule matched).
    fn ask(
        &self,
        enforcer: &Enforcer,
        subjects: &str,
        domain: &str,
        object: &str,
        action: &str,
    ) -> CoreResult<(bool, Option<(String, Rule)>)> {
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
        Ok((allowed, rule))
    }
}

impl Split {
    /// The enforcer over `subject`'s rules for `action` (or `*`); `None` when it has none.
    async fn enforcer(&self, subject: &str, action: &str) -> CoreResult<Option<Arc<Enforcer>>> {
        let Some(rules) = self.by_subject.get(subject) else {
            return Ok(None);
        };
        let key = (action.to_owned(), subject.to_owned());
        if let Some(found) = self.enforcers.lock().get(&key) {
            return Ok(Some(found.clone()));
        }
        let mut selected: Vec<Rule> = rules
            .iter()
            .filter(|rule| rule.action == action || rule.action == "*")
            .cloned()
            .collect();
        if selected.is_empty() {
            return Ok(None);
        }
        selected.extend(self.groupings.iter().cloned());
        let enforcer = Arc::new(build(selected).await?);
        let mut enforcers = self.enforcers.lock();
        if enforcers.len() >= PARTITION_CAPACITY {
            enforcers.clear();
        }
        Ok(Some(enforcers.entry(key).or_insert(enforcer).clone()))
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
    async fn cached_decisions_match_fresh_ones_and_die_with_their_snapshot() {
        let allow = permission("scope:scim:read", "*", "users", "read", "allow").unwrap();
        let deny = permission("token:t", ORG_A, "users", "read", "deny").unwrap();
        let before = snapshot(1, vec![allow.clone()]);
        for _ in 0..3 {
            let decision = before
                .decide("token:t|scope:scim:read", ORG_A, "users", "read")
                .await
                .unwrap();
            assert!(decision.allowed);
            assert_eq!(decision.rule.unwrap().0, "r0");
        }
        // A request that differs in any one part is decided on its own.
        for (subjects, domain, object, action) in [
            ("token:t|scope:scim:write", ORG_A, "users", "read"),
            ("token:t|scope:scim:read", ORG_A, "groups", "read"),
            ("token:t|scope:scim:read", ORG_A, "users", "write"),
        ] {
            assert!(
                !before
                    .decide(subjects, domain, object, action)
                    .await
                    .unwrap()
                    .allowed
            );
        }
        // The next snapshot (a deny added) starts with no remembered answers.
        let after = snapshot(2, vec![allow, deny]);
        let decision = after
            .decide("token:t|scope:scim:read", ORG_A, "users", "read")
            .await
            .unwrap();
        assert!(!decision.allowed);
        assert_eq!(decision.rule.unwrap().0, "r1");
        assert_eq!(decision_key("a", "b", "c", "d"), "a\0b\0c\0d");
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

    /// A split partition must answer exactly as one enforcer over all the rules (differential).
    #[tokio::test]
    async fn split_partitions_agree_with_one_enforcer() {
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |modulo: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % modulo
        };
        let subjects = [
            "role:a",
            "role:b",
            "role:c",
            "user:u",
            "scope:admin",
            "connection:c",
        ];
        let actions = ["read", "write", "edit", "*"];
        let mut rules = Vec::new();
        for _ in 0..200 {
            let domain = if next(4) == 0 { "*" } else { ORG_A };
            let object = if next(5) == 0 { "*" } else { "workflows" };
            let effect = if next(6) == 0 { "deny" } else { "allow" };
            rules.push(
                permission(
                    subjects[next(6) as usize],
                    domain,
                    object,
                    actions[next(4) as usize],
                    effect,
                )
                .unwrap(),
            );
        }
        rules.sort_by_key(|rule| rule.to_line());
        rules.dedup();
        rules.push(grouping("user:u", "role:b", ORG_A).unwrap());
        rules.push(grouping("role:b", "role:c", ORG_A).unwrap());
        let policy = snapshot(1, rules.clone());
        let whole = build(rules).await.unwrap();
        let requests = [
            "user:u",
            "role:a",
            "scope:admin|connection:c",
            "token:t|scope:admin",
            "user:u|role:a",
            "nobody:x",
        ];
        let mut checked = 0;
        for subjects in requests {
            for action in ["read", "write", "edit", "delete"] {
                let expected = whole
                    .enforce_ex((subjects, ORG_A, "workflows", action))
                    .unwrap()
                    .0;
                let got = policy
                    .decide(subjects, ORG_A, "workflows", action)
                    .await
                    .unwrap();
                assert_eq!(got.allowed, expected, "{subjects} {action}: {got:?}");
                checked += 1;
            }
        }
        assert_eq!(checked, 24);
        assert!(matches!(
            *policy.partition(ORG_A, "workflows").await.unwrap(),
            Partition::Split(_)
        ));
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
