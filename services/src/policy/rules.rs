//! Policy rules as data: the grammar every subject, domain, object and action must match before
//! it is stored, and the starting policy. Validation is what keeps one tenant's rules from
//! aliasing another's: no value may contain `|` (the subject-set separator), `::` (casbin's
//! domain joiner), whitespace or a comma, and only `*` itself is a wildcard.

use crate::error::{CoreError, CoreResult};

/// The starting policy, shipped beside the model.
pub const STARTING_POLICY: &str = include_str!("../../policy/policy.csv");
/// The casbin model.
pub const MODEL: &str = include_str!("../../policy/model.conf");

/// The domain of rules that hold in every organization, and of system-level checks.
pub const EVERY_ORGANIZATION: &str = "*";

/// Subject kinds: what a caller can be or hold.
pub const SUBJECT_KINDS: [&str; 7] = [
    "scope",
    "token",
    "connection",
    "role",
    "user",
    "group",
    "service",
];

/// Objects checked in domain `*` only: no organization's rule can grant them.
pub const SYSTEM_OBJECTS: [&str; 3] = ["organizations", "domains.manual", "policies.global"];

/// A rule's kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A permission: subject, domain, object, action, effect.
    Permission,
    /// A grouping: subject is a member of role (stored in `object`) in domain.
    Grouping,
}

impl Kind {
    /// casbin's section name (`p` or `g`), also the stored value.
    pub fn ptype(self) -> &'static str {
        match self {
            Kind::Permission => "p",
            Kind::Grouping => "g",
        }
    }

    /// The kind stored as `value`.
    pub fn from_ptype(value: &str) -> Option<Self> {
        match value {
            "p" => Some(Kind::Permission),
            "g" => Some(Kind::Grouping),
            _ => None,
        }
    }
}

/// One rule. For a grouping, `object` is the role and `action`/`effect` are empty.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Rule {
    /// p or g.
    pub kind: Kind,
    /// `kind:name`.
    pub subject: String,
    /// An organization id or `*`.
    pub domain: String,
    /// The resource (or, for a grouping, the role).
    pub object: String,
    /// The action, or `*`.
    pub action: String,
    /// `allow` or `deny`.
    pub effect: String,
}

impl Rule {
    /// The values casbin loads, in the model's order.
    pub fn casbin_values(&self) -> Vec<String> {
        match self.kind {
            Kind::Permission => vec![
                self.subject.clone(),
                self.domain.clone(),
                self.object.clone(),
                self.action.clone(),
                self.effect.clone(),
            ],
            Kind::Grouping => vec![
                self.subject.clone(),
                self.object.clone(),
                self.domain.clone(),
            ],
        }
    }

    /// The rule as one line of policy.csv.
    pub fn to_line(&self) -> String {
        match self.kind {
            Kind::Permission => format!(
                "p, {}, {}, {}, {}, {}",
                self.subject, self.domain, self.object, self.action, self.effect
            ),
            Kind::Grouping => format!("g, {}, {}, {}", self.subject, self.object, self.domain),
        }
    }
}

fn plain(value: &str, extra: &[char], max: usize) -> bool {
    !value.is_empty()
        && value.len() <= max
        && !value.contains("::")
        && value.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') || extra.contains(&c)
        })
}

/// A subject (`kind:name`), or INVALID_ARGUMENT saying what is wrong.
pub fn subject(field: &'static str, value: &str) -> CoreResult<String> {
    let value = value.trim();
    let Some((kind, name)) = value.split_once(':') else {
        return Err(CoreError::invalid(
            field,
            format!(
                "{field} must be kind:name with kind one of {}",
                SUBJECT_KINDS.join(", ")
            ),
        ));
    };
    if !SUBJECT_KINDS.contains(&kind) {
        return Err(CoreError::invalid(
            field,
            format!(
                "{field} kind {kind:?} is not one of {}",
                SUBJECT_KINDS.join(", ")
            ),
        ));
    }
    if kind == "scope" && !roster::scopes::ALL.contains(&name) {
        return Err(CoreError::invalid(
            field,
            format!(
                "{field}: {name:?} is not a scope; scopes are {}",
                roster::scopes::ALL.join(", ")
            ),
        ));
    }
    if !plain(name, &[':', '@'], 128) {
        return Err(CoreError::invalid(
            field,
            format!("{field} name must be 1-128 letters, digits, _ - . : @ (no `::`, no wildcard)"),
        ));
    }
    Ok(value.to_owned())
}

/// A domain: `*` or an organization id (a UUID, never a name a tenant chose).
pub fn domain(field: &'static str, value: &str) -> CoreResult<String> {
    let value = value.trim();
    if value == EVERY_ORGANIZATION {
        return Ok(value.to_owned());
    }
    uuid::Uuid::parse_str(value)
        .map(|id| id.to_string())
        .map_err(|_| CoreError::invalid(field, format!("{field} must be an organization id or *")))
}

/// An object: `*` or 1-128 letters, digits and `_ - . /`.
pub fn object(field: &'static str, value: &str) -> CoreResult<String> {
    let value = value.trim();
    if value == "*" || plain(value, &['/'], 128) {
        Ok(value.to_owned())
    } else {
        Err(CoreError::invalid(
            field,
            format!("{field} must be * or 1-128 letters, digits, _ - . /"),
        ))
    }
}

/// An action: `*` or 1-64 letters, digits and `_ - . :` (for example `read`, `set:Admin`).
pub fn action(field: &'static str, value: &str) -> CoreResult<String> {
    let value = value.trim();
    if value == "*" || plain(value, &[':'], 64) {
        Ok(value.to_owned())
    } else {
        Err(CoreError::invalid(
            field,
            format!("{field} must be * or 1-64 letters, digits, _ - . :"),
        ))
    }
}

/// `allow` or `deny`.
pub fn effect(field: &'static str, value: &str) -> CoreResult<String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "" | "allow" => Ok("allow".to_owned()),
        "deny" => Ok("deny".to_owned()),
        _ => Err(CoreError::invalid(
            field,
            format!("{field} must be allow or deny"),
        )),
    }
}

/// A validated permission rule.
pub fn permission(
    subject_value: &str,
    domain_value: &str,
    object_value: &str,
    action_value: &str,
    effect_value: &str,
) -> CoreResult<Rule> {
    Ok(Rule {
        kind: Kind::Permission,
        subject: subject("subject", subject_value)?,
        domain: domain("domain", domain_value)?,
        object: object("object", object_value)?,
        action: action("action", action_value)?,
        effect: effect("effect", effect_value)?,
    })
}

/// A validated grouping rule. Groupings live in one organization: a link in `*` would let a name
/// chosen in one tenant carry roles into every other.
pub fn grouping(subject_value: &str, role_value: &str, domain_value: &str) -> CoreResult<Rule> {
    let rule = Rule {
        kind: Kind::Grouping,
        subject: subject("subject", subject_value)?,
        object: subject("role", role_value)?,
        domain: domain("domain", domain_value)?,
        action: String::new(),
        effect: String::new(),
    };
    if rule.domain == EVERY_ORGANIZATION {
        return Err(CoreError::invalid(
            "domain",
            "a grouping belongs to one organization; * is not allowed",
        ));
    }
    Ok(rule)
}

/// Parses policy.csv text (comments and blank lines skipped), validating every rule.
pub fn parse_csv(text: &str) -> CoreResult<Vec<Rule>> {
    let mut rules = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let rule = match fields.as_slice() {
            ["p", sub, dom, obj, act, eft] => permission(sub, dom, obj, act, eft),
            ["p", sub, dom, obj, act] => permission(sub, dom, obj, act, "allow"),
            ["g", sub, role, dom] => grouping(sub, role, dom),
            _ => Err(CoreError::invalid(
                "policy",
                "expected `p, subject, domain, object, action[, effect]` or `g, subject, role, domain`",
            )),
        }
        .map_err(|error| {
            CoreError::invalid("policy", format!("line {}: {}", number + 1, error.message))
        })?;
        rules.push(rule);
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_starting_policy_parses() {
        let rules = parse_csv(STARTING_POLICY).unwrap();
        assert!(rules.len() >= 20);
        assert!(rules.iter().all(|rule| rule.domain == "*"));
    }

    /// The shipped model must deny by default and never evaluate policy text as code.
    #[test]
    fn the_model_denies_by_default_and_has_no_eval() {
        let effect = MODEL
            .lines()
            .find(|line| line.trim_start().starts_with("e ="))
            .expect("an effect line");
        assert_eq!(
            effect.trim(),
            "e = some(where (p.eft == allow)) && !some(where (p.eft == deny))"
        );
        let matcher = MODEL
            .lines()
            .find(|line| line.trim_start().starts_with("m ="))
            .expect("a matcher line");
        assert!(!matcher.contains("eval("), "{matcher}");
        assert!(matcher.contains("g(r.sub, p.sub, r.dom)"), "{matcher}");
        assert!(matcher.contains("p.dom == r.dom"), "{matcher}");
    }

    #[test]
    fn crafted_names_are_refused() {
        for bad in [
            "role:admin::other",
            "role:a|scope:admin",
            "role:*",
            "role:",
            "admin",
            "tenant:x",
            "scope:root",
            "role:a b",
            "role:a,b",
        ] {
            assert!(subject("subject", bad).is_err(), "{bad}");
        }
        assert!(subject("subject", "scope:scim:read").is_ok());
        assert!(subject("subject", "role:FullMember").is_ok());
        assert!(domain("domain", "acme").is_err());
        assert!(domain("domain", "acme::x").is_err());
        assert!(domain("domain", "0195b6f0-0000-7000-8000-000000000000").is_ok());
        assert!(object("object", "workflows/*").is_err());
        assert!(object("object", "workflows/42").is_ok());
        assert!(action("action", "set:Admin").is_ok());
        assert!(action("action", ".*").is_err());
        assert!(effect("effect", "maybe").is_err());
        assert!(grouping("user:1", "role:x", "*").is_err());
    }
}
