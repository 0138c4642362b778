//! The users the tool writes and the filters it sends.

use roster::pb::{
    AttributePath, CompareOp, Comparison, Filter, FilterValue, MultiValue, Name, User, filter,
    filter_value,
};

const GIVEN: [&str; 16] = [
    "Ada",
    "Alan",
    "Barbara",
    "Claude",
    "Dennis",
    "Edsger",
    "Frances",
    "Grace",
    "Hedy",
    "John",
    "Katherine",
    "Ken",
    "Leslie",
    "Margaret",
    "Niklaus",
    "Radia",
];
const FAMILY: [&str; 16] = [
    "Allen", "Backus", "Cerf", "Dijkstra", "Hamilton", "Hopper", "Johnson", "Kay", "Knuth",
    "Lamport", "Liskov", "Lovelace", "Perlman", "Ritchie", "Thompson", "Turing",
];

/// The seeded userName with index `i`: `<prefix>-000042@example.com`.
pub fn seeded_user_name(prefix: &str, i: u64) -> String {
    format!("{prefix}-{i:06}@example.com")
}

/// Parses a seeded userName back to its index (case-insensitively, as the server compares them).
pub fn seeded_index(prefix: &str, user_name: &str) -> Option<u64> {
    let lower = user_name.to_ascii_lowercase();
    let rest = lower.strip_prefix(&format!("{}-", prefix.to_ascii_lowercase()))?;
    let digits = rest.strip_suffix("@example.com")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// A user with `user_name` as userName and its one (primary, work) email, name parts picked by `i`.
pub fn new_user(user_name: String, i: u64) -> User {
    let given = GIVEN[(i % 16) as usize];
    let family = FAMILY[((i / 16) % 16) as usize];
    User {
        emails: vec![MultiValue {
            value: user_name.clone(),
            r#type: Some("work".to_owned()),
            primary: true,
            ..Default::default()
        }],
        user_name,
        name: Some(Name {
            given_name: Some(given.to_owned()),
            family_name: Some(family.to_owned()),
            formatted: Some(format!("{given} {family}")),
            ..Default::default()
        }),
        display_name: Some(format!("{given} {family} {i}")),
        active: Some(true),
        ..Default::default()
    }
}

/// `userName <op> "<value>"` as a filter AST.
pub fn user_name_filter(op: CompareOp, value: &str) -> Filter {
    Filter {
        node: Some(filter::Node::Compare(Comparison {
            path: Some(AttributePath {
                attribute: "userName".to_owned(),
                ..Default::default()
            }),
            op: op as i32,
            value: Some(FilterValue {
                kind: Some(filter_value::Kind::StringValue(value.to_owned())),
            }),
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_names_round_trip() {
        let name = seeded_user_name("bench", 42);
        assert_eq!(name, "bench-000042@example.com");
        assert_eq!(seeded_index("bench", &name), Some(42));
        assert_eq!(
            seeded_index("BENCH", "Bench-1234567@Example.com"),
            Some(1_234_567)
        );
        assert_eq!(seeded_index("bench", "bench-x1@example.com"), None);
        assert_eq!(seeded_index("bench", "benchy-000001@example.com"), None);
    }
}
