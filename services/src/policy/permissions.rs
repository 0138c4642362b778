//! What each RPC needs, as a casbin (object, action) at organization or system level. The table
//! is the only place an operation name turns into a permission; an operation missing from it is
//! refused (default deny) and its unit test fails.

/// Where a permission is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// In the caller's organization (its id is the casbin domain).
    Organization,
    /// In domain `*`: only rules written for every organization by the operator can grant it.
    System,
}

/// A needed permission.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Permission {
    /// Organization or system.
    pub level: Level,
    /// The casbin object.
    pub object: &'static str,
    /// The casbin action.
    pub action: &'static str,
}

const fn org(object: &'static str, action: &'static str) -> Permission {
    Permission {
        level: Level::Organization,
        object,
        action,
    }
}

const fn system(object: &'static str, action: &'static str) -> Permission {
    Permission {
        level: Level::System,
        object,
        action,
    }
}

/// The permission `operation` (the audit log's operation name) needs, if it is known.
pub fn permission(operation: &str) -> Option<Permission> {
    Some(match operation {
        "user.create" | "user.replace" | "user.delete" => org("users", "write"),
        "user.get" | "user.list" => org("users", "read"),
        "group.create" | "group.update" | "group.delete" => org("groups", "write"),
        "group.get" | "group.list" | "group.list_members" => org("groups", "read"),
        "role.list" | "role.effective" => org("roles", "read"),
        "role.define" | "role.assign_user" | "role.assign_group" => org("roles", "write"),
        "token.list" => org("tokens", "read"),
        "token.create" | "token.revoke" => org("tokens", "write"),
        "connection.list" | "connection.get" => org("connections", "read"),
        "connection.create" | "connection.update" | "connection.delete" => {
            org("connections", "write")
        }
        "domain.list" | "domain.get" => org("domains", "read"),
        "domain.register" | "domain.verify" | "domain.delete" => org("domains", "write"),
        "domain.mark_verified" => system("domains.manual", "write"),
        "audit.list" => org("audit", "read"),
        "policy.list" | "policy.explain" => org("policies", "read"),
        "policy.add" | "policy.remove" => org("policies", "write"),
        "policy.enforce" => org("policies", "enforce"),
        "policy.global.list" => system("policies.global", "read"),
        "policy.global.add" | "policy.global.remove" => system("policies.global", "write"),
        "organization.create" => system("organizations", "write"),
        "organization.list" => system("organizations", "read"),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_operations_need_what_nobody_has() {
        assert_eq!(permission("user.frobnicate"), None);
        assert_eq!(permission("user.get"), Some(org("users", "read")));
        assert_eq!(
            permission("organization.create").map(|p| p.level),
            Some(Level::System)
        );
    }
}
