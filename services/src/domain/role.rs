//! Roles (user types): role names, the default catalog, and the precedence rule that gives every
//! user one effective role — an explicit assignment, else the highest-ranked role of the user's
//! groups, else the organization's default. Pure functions over what the store read; the store
//! decides which users to recompute and writes the result.

use crate::error::{CoreError, CoreResult};
use roster::pb;

/// Longest role name.
pub const MAX_ROLE_NAME: usize = 64;

/// The catalog every organization starts with: (name, rank, is_default). The migration that
/// created the roles table seeds the same list into organizations that existed before it.
pub const DEFAULT_ROLES: [(&str, i32, bool); 4] = [
    ("Admin", 400, false),
    ("FullMember", 300, false),
    ("FreeMember", 200, true),
    ("Guest", 100, false),
];

/// Checks a role name: 1-64 characters, an ASCII letter first, then ASCII letters, digits, `-`,
/// `_` or `.`. Nothing else, so a name can sit in a policy subject or a CSV line without aliasing
/// anything, and "Full Member" (with a space) can never be a role.
pub fn validate_name(field: &'static str, name: &str) -> CoreResult<()> {
    let valid = (1..=MAX_ROLE_NAME).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(())
    } else {
        Err(CoreError::invalid(
            field,
            format!(
                "{field} must be 1-{MAX_ROLE_NAME} ASCII letters, digits, '-', '_' or '.', \
                 starting with a letter"
            ),
        ))
    }
}

/// The key two names must not share: lowercase, without whitespace, `-`, `_` and `.`.
/// "Full Member", "full-member" and "FullMember" share `fullmember`.
pub fn fold(name: &str) -> String {
    name.chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '-' | '_' | '.'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// One role of a catalog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleDef {
    /// The exact name.
    pub name: String,
    /// Its rank (unique in the catalog).
    pub rank: i32,
    /// Whether it is the default.
    pub is_default: bool,
}

/// An organization's roles, highest rank first.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    roles: Vec<RoleDef>,
}

impl Catalog {
    /// A catalog of `roles` (in any order).
    pub fn new(mut roles: Vec<RoleDef>) -> Self {
        roles.sort_by(|a, b| b.rank.cmp(&a.rank).then_with(|| a.name.cmp(&b.name)));
        Self { roles }
    }

    /// The role named exactly `name`.
    pub fn get(&self, name: &str) -> Option<&RoleDef> {
        self.roles.iter().find(|role| role.name == name)
    }

    /// The default role (`None` only for a broken catalog).
    pub fn default_role(&self) -> Option<&RoleDef> {
        self.roles.iter().find(|role| role.is_default)
    }

    /// The names, highest rank first, comma-separated.
    pub fn names(&self) -> String {
        self.roles
            .iter()
            .map(|role| role.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The role named exactly `name`, or INVALID_ARGUMENT listing the valid names.
    pub fn require(&self, field: &'static str, name: &str) -> CoreResult<&RoleDef> {
        self.get(name).ok_or_else(|| {
            let hint = match self.near_miss(name) {
                Some(role) => format!(" (names are exact: did you mean {}?)", role.name),
                None => String::new(),
            };
            CoreError::invalid(
                field,
                format!(
                    "{field} names no role{hint}; valid roles are {}",
                    self.names()
                ),
            )
        })
    }

    /// The role `value` almost names: same letters and digits, different case or separators.
    fn near_miss(&self, value: &str) -> Option<&RoleDef> {
        let key = fold(value);
        self.roles
            .iter()
            .find(|role| role.name != value && fold(&role.name) == key)
    }

    /// Refuses a value that almost names a role (see [`Catalog::near_miss`]).
    fn refuse_near_miss(&self, field: &'static str, value: &str) -> CoreResult<()> {
        match self.near_miss(value) {
            Some(role) => Err(CoreError::invalid(
                field,
                format!(
                    "{field} is not a role name (names are exact: did you mean {}?); valid roles \
                     are {}",
                    role.name,
                    self.names()
                ),
            )),
            None => Ok(()),
        }
    }
}

/// Who made an explicit assignment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AssignedBy {
    /// The user's userType.
    UserType,
    /// The user's roles.
    Roles,
    /// An administrator (RoleService.AssignUserRole).
    Admin,
}

impl AssignedBy {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            AssignedBy::UserType => "userType",
            AssignedBy::Roles => "roles",
            AssignedBy::Admin => "admin",
        }
    }

    /// From the stored form.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "userType" => Some(AssignedBy::UserType),
            "roles" => Some(AssignedBy::Roles),
            "admin" => Some(AssignedBy::Admin),
            _ => None,
        }
    }

    /// Whether the identity provider made it (through the user's attributes).
    pub fn is_provisioned(self) -> bool {
        self != AssignedBy::Admin
    }
}

/// An explicit role assignment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assignment {
    /// The role's name.
    pub role: String,
    /// Who made it.
    pub by: AssignedBy,
}

/// The explicit role a user's attributes name: `userType` when it names a role exactly (as Okta
/// sends it), else the primary `roles` value that names one (as Entra sends app roles), or, when
/// no value is primary, the highest-ranked value that names one. A value that names no role is an
/// ordinary attribute; one that differs from a role's name only in case or separators is
/// INVALID_ARGUMENT listing the valid names.
pub fn from_profile(
    catalog: &Catalog,
    user_type: Option<&str>,
    roles: &[pb::MultiValue],
) -> CoreResult<Option<Assignment>> {
    if let Some(user_type) = user_type.filter(|value| !value.is_empty()) {
        if catalog.get(user_type).is_some() {
            return Ok(Some(Assignment {
                role: user_type.to_owned(),
                by: AssignedBy::UserType,
            }));
        }
        catalog.refuse_near_miss("user_type", user_type)?;
    }
    let primary: Vec<&pb::MultiValue> = roles.iter().filter(|value| value.primary).collect();
    let candidates = if primary.is_empty() {
        roles.iter().collect()
    } else {
        primary
    };
    let mut best: Option<&RoleDef> = None;
    for candidate in candidates {
        match catalog.get(&candidate.value) {
            Some(role) => {
                if best.is_none_or(|best| role.rank > best.rank) {
                    best = Some(role);
                }
            }
            None => catalog.refuse_near_miss("roles", &candidate.value)?,
        }
    }
    Ok(best.map(|role| Assignment {
        role: role.name.clone(),
        by: AssignedBy::Roles,
    }))
}

/// Whether the attributes a role can come from differ between two versions of a user.
pub fn role_attributes_changed(old: &pb::User, new: &pb::User) -> bool {
    let key = |user: &pb::User| {
        (
            user.user_type.clone().filter(|value| !value.is_empty()),
            user.roles
                .iter()
                .map(|value| (value.value.clone(), value.primary))
                .collect::<Vec<_>>(),
        )
    };
    key(old) != key(new)
}

/// The explicit assignment after a provisioning write of the user (create or replace). The latest
/// statement wins: an administrator's assignment survives writes that re-send the same role
/// attributes (a PATCH of the name re-sends everything) and writes whose attributes name no role;
/// a role the provider itself had set goes away when its attributes stop naming one.
pub fn after_provisioning(
    current: Option<Assignment>,
    attributes_changed: bool,
    derived: Option<Assignment>,
) -> Option<Assignment> {
    match (current, derived) {
        (Some(current), _) if current.by == AssignedBy::Admin && !attributes_changed => {
            Some(current)
        }
        (_, Some(derived)) => Some(derived),
        (Some(current), None) if current.by == AssignedBy::Admin => Some(current),
        _ => None,
    }
}

/// Why a user has its effective role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// Assigned to the user.
    Explicit,
    /// From a group.
    Group,
    /// The organization's default.
    Default,
}

impl Reason {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Explicit => "explicit",
            Reason::Group => "group",
            Reason::Default => "default",
        }
    }

    /// From the stored form.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "explicit" => Some(Reason::Explicit),
            "group" => Some(Reason::Group),
            "default" => Some(Reason::Default),
            _ => None,
        }
    }
}

/// A role one of the user's groups carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupRole {
    /// The group's id.
    pub group_id: String,
    /// The role's name.
    pub role: String,
}

/// A user's effective role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Effective {
    /// The role's name.
    pub role: String,
    /// Why.
    pub reason: Reason,
    /// The group it comes from (reason Group).
    pub via_group: Option<String>,
}

/// The effective role: the explicit assignment, else the highest-ranked role among `groups`, else
/// the default. Among groups carrying the same best role, `current_group` (the group the role came
/// from so far) is kept, so joining another such group changes nothing; otherwise the smallest
/// group id is taken. Roles missing from the catalog are ignored; `None` only when the catalog has
/// no default.
pub fn effective(
    catalog: &Catalog,
    assigned: Option<&str>,
    groups: &[GroupRole],
    current_group: Option<&str>,
) -> Option<Effective> {
    if let Some(role) = assigned.and_then(|name| catalog.get(name)) {
        return Some(Effective {
            role: role.name.clone(),
            reason: Reason::Explicit,
            via_group: None,
        });
    }
    let mut best: Option<(&RoleDef, &str)> = None;
    for group in groups {
        let Some(role) = catalog.get(&group.role) else {
            continue;
        };
        let better = match best {
            None => true,
            Some((best_role, best_group)) => {
                role.rank > best_role.rank
                    || (role.rank == best_role.rank
                        && best_group != group.group_id
                        && (Some(group.group_id.as_str()) == current_group
                            || (Some(best_group) != current_group
                                && group.group_id.as_str() < best_group)))
            }
        };
        if better {
            best = Some((role, &group.group_id));
        }
    }
    if let Some((role, group_id)) = best {
        return Some(Effective {
            role: role.name.clone(),
            reason: Reason::Group,
            via_group: Some(group_id.to_owned()),
        });
    }
    catalog.default_role().map(|role| Effective {
        role: role.name.clone(),
        reason: Reason::Default,
        via_group: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        Catalog::new(
            DEFAULT_ROLES
                .iter()
                .map(|(name, rank, is_default)| RoleDef {
                    name: (*name).to_owned(),
                    rank: *rank,
                    is_default: *is_default,
                })
                .collect(),
        )
    }

    fn value(text: &str, primary: bool) -> pb::MultiValue {
        pb::MultiValue {
            value: text.into(),
            primary,
            ..Default::default()
        }
    }

    fn group(id: &str, role: &str) -> GroupRole {
        GroupRole {
            group_id: id.into(),
            role: role.into(),
        }
    }

    fn assigned(role: &str, by: AssignedBy) -> Option<Assignment> {
        Some(Assignment {
            role: role.into(),
            by,
        })
    }

    #[test]
    fn names_are_checked_and_folded() {
        for good in [
            "Admin",
            "FullMember",
            "Task.Writer",
            "a-b_c",
            &"x".repeat(64),
        ] {
            assert!(validate_name("name", good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Full Member",
            "1Admin",
            "-x",
            "a,b",
            "a/b",
            "a:b",
            "Ädmin",
            &"x".repeat(65),
        ] {
            assert!(validate_name("name", bad).is_err(), "{bad}");
        }
        assert_eq!(fold("Full Member"), "fullmember");
        assert_eq!(fold("full-member"), fold("FullMember"));
        assert_ne!(fold("FreeMember"), fold("FullMember"));
    }

    #[test]
    fn the_catalog_lists_names_by_rank_and_has_one_default() {
        let catalog = catalog();
        assert_eq!(catalog.names(), "Admin, FullMember, FreeMember, Guest");
        assert_eq!(catalog.default_role().unwrap().name, "FreeMember");
        assert!(catalog.require("role", "FullMember").is_ok());
        let error = catalog.require("role", "Full Member").unwrap_err();
        assert_eq!(error.field, "role");
        assert!(error.message.contains("did you mean FullMember"), "{error}");
        assert!(
            error
                .message
                .contains("valid roles are Admin, FullMember, FreeMember, Guest"),
            "{error}"
        );
        let error = catalog.require("role", "Owner").unwrap_err();
        assert!(!error.message.contains("did you mean"), "{error}");
    }

    #[test]
    fn user_type_names_the_role_exactly() {
        let catalog = catalog();
        assert_eq!(
            from_profile(&catalog, Some("FullMember"), &[]).unwrap(),
            assigned("FullMember", AssignedBy::UserType)
        );
        // userType wins over roles.
        assert_eq!(
            from_profile(&catalog, Some("Guest"), &[value("Admin", true)]).unwrap(),
            assigned("Guest", AssignedBy::UserType)
        );
        // A userType that is not a role is an ordinary attribute; roles are consulted.
        assert_eq!(from_profile(&catalog, Some("Employee"), &[]).unwrap(), None);
        assert_eq!(
            from_profile(&catalog, Some("Employee"), &[value("Admin", true)]).unwrap(),
            assigned("Admin", AssignedBy::Roles)
        );
        assert_eq!(from_profile(&catalog, Some(""), &[]).unwrap(), None);
        // A near miss is refused, naming the role meant.
        for near in ["Full Member", "fullmember", "FULL-MEMBER", "admin"] {
            let error = from_profile(&catalog, Some(near), &[]).unwrap_err();
            assert_eq!(error.field, "user_type", "{near}");
            assert_eq!(error.code, roster::ErrorCode::InvalidValue);
        }
    }

    #[test]
    fn roles_give_the_primary_or_the_highest_ranked_value() {
        let catalog = catalog();
        // The only value.
        assert_eq!(
            from_profile(&catalog, None, &[value("Guest", false)]).unwrap(),
            assigned("Guest", AssignedBy::Roles)
        );
        // The primary value, even when another one outranks it.
        assert_eq!(
            from_profile(
                &catalog,
                None,
                &[value("Admin", false), value("Guest", true)]
            )
            .unwrap(),
            assigned("Guest", AssignedBy::Roles)
        );
        // A primary value that is no role assigns nothing (the others are not consulted).
        assert_eq!(
            from_profile(
                &catalog,
                None,
                &[value("Admin", false), value("Tour Guide", true)]
            )
            .unwrap(),
            None
        );
        // No primary: the highest-ranked value that names a role (Entra's complex mapping).
        assert_eq!(
            from_profile(
                &catalog,
                None,
                &[
                    value("Guest", false),
                    value("admiral", false),
                    value("FullMember", false)
                ]
            )
            .unwrap(),
            assigned("FullMember", AssignedBy::Roles)
        );
        assert_eq!(
            from_profile(&catalog, None, &[value("{\"id\":\"x\"}", false)]).unwrap(),
            None
        );
        let error = from_profile(&catalog, None, &[value("Free Member", true)]).unwrap_err();
        assert_eq!(error.field, "roles");
    }

    #[test]
    fn the_latest_statement_wins() {
        let admin = || assigned("Admin", AssignedBy::Admin);
        let okta = |role: &str| assigned(role, AssignedBy::UserType);
        // Creation: whatever the attributes say.
        assert_eq!(after_provisioning(None, true, okta("Guest")), okta("Guest"));
        assert_eq!(after_provisioning(None, true, None), None);
        // The same attributes re-sent keep an administrator's assignment.
        assert_eq!(after_provisioning(admin(), false, okta("Guest")), admin());
        // Changed attributes that name a role replace it.
        assert_eq!(
            after_provisioning(admin(), true, okta("Guest")),
            okta("Guest")
        );
        // Attributes that name no role leave an administrator's assignment alone ...
        assert_eq!(after_provisioning(admin(), true, None), admin());
        assert_eq!(after_provisioning(admin(), false, None), admin());
        // ... but take away the provider's own.
        assert_eq!(after_provisioning(okta("Guest"), true, None), None);
        assert_eq!(
            after_provisioning(okta("Guest"), true, okta("FullMember")),
            okta("FullMember")
        );
    }

    #[test]
    fn role_attributes_are_compared_by_type_and_values() {
        let mut old = pb::User {
            user_type: Some("FullMember".into()),
            ..Default::default()
        };
        let mut new = old.clone();
        new.display_name = Some("renamed".into());
        assert!(!role_attributes_changed(&old, &new));
        new.user_type = Some("Guest".into());
        assert!(role_attributes_changed(&old, &new));
        new.user_type = old.user_type.clone();
        new.roles.push(value("Admin", true));
        assert!(role_attributes_changed(&old, &new));
        old.roles.push(value("Admin", false));
        assert!(role_attributes_changed(&old, &new), "primary counts");
    }

    #[test]
    fn explicit_beats_group_beats_default() {
        let catalog = catalog();
        let groups = [group("g1", "Guest"), group("g2", "FullMember")];
        let explicit = effective(&catalog, Some("Guest"), &groups, None).unwrap();
        assert_eq!(
            (explicit.role.as_str(), explicit.reason),
            ("Guest", Reason::Explicit),
            "explicit wins even when a group outranks it"
        );
        let via_group = effective(&catalog, None, &groups, None).unwrap();
        assert_eq!(
            via_group,
            Effective {
                role: "FullMember".into(),
                reason: Reason::Group,
                via_group: Some("g2".into()),
            },
            "the highest-ranked group role"
        );
        let default = effective(&catalog, None, &[], None).unwrap();
        assert_eq!(
            (default.role.as_str(), default.reason, default.via_group),
            ("FreeMember", Reason::Default, None)
        );
        // A role missing from the catalog is ignored.
        let unknown = effective(&catalog, Some("Owner"), &[group("g3", "Owner")], None).unwrap();
        assert_eq!(unknown.reason, Reason::Default);
        assert_eq!(effective(&Catalog::default(), None, &[], None), None);
    }

    #[test]
    fn a_tie_keeps_the_current_group_else_the_smallest_id() {
        let catalog = catalog();
        let groups = [group("b", "FullMember"), group("a", "FullMember")];
        let fresh = effective(&catalog, None, &groups, None).unwrap();
        assert_eq!(fresh.via_group.as_deref(), Some("a"));
        let kept = effective(&catalog, None, &groups, Some("b")).unwrap();
        assert_eq!(kept.via_group.as_deref(), Some("b"));
        let reordered = [group("a", "FullMember"), group("b", "FullMember")];
        let kept = effective(&catalog, None, &reordered, Some("b")).unwrap();
        assert_eq!(kept.via_group.as_deref(), Some("b"));
        // A better role always wins over the current group.
        let better = [group("b", "FullMember"), group("c", "Admin")];
        let moved = effective(&catalog, None, &better, Some("b")).unwrap();
        assert_eq!(moved.via_group.as_deref(), Some("c"));
    }
}
