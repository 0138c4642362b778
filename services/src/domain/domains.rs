//! Domains an organization proves it controls: name syntax, the challenge it publishes in DNS,
//! how a published TXT record is matched, and the email helpers the domain-verified email rules
//! build on. Names are compared case-insensitively and exactly (`example.com.evil.io` and
//! `mail.example.com` are not `example.com`): a verified domain covers itself, not its
//! subdomains.

use crate::error::{CoreError, CoreResult};
use std::collections::BTreeSet;

/// The label the challenge TXT record is published under.
pub const CHALLENGE_LABEL: &str = "_roster-challenge";
/// Longest domain name (RFC 1035 §2.3.4, without the trailing dot).
pub const MAX_NAME: usize = 253;
/// Longest label (RFC 1035 §2.3.4).
pub const MAX_LABEL: usize = 63;
/// Random bytes in a challenge (hex-encoded: 64 characters).
const CHALLENGE_BYTES: usize = 32;

/// `pending` or `verified`, as stored.
pub const PENDING: &str = "pending";
/// See [`PENDING`].
pub const VERIFIED: &str = "verified";
/// `verified_by` of a domain proven by DNS.
pub const BY_DNS: &str = "dns";

/// A domain name: lowercase ASCII, no trailing dot, hostname syntax (RFC 1123 §2.1 labels), at
/// least two labels and a top-level label that is not all digits (so an IP address is refused).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DomainName(String);

impl DomainName {
    /// Validates and normalises `value` (case folded, one trailing dot dropped).
    pub fn parse(value: &str) -> CoreResult<Self> {
        let invalid = |why: &str| CoreError::invalid("name", format!("name {why}"));
        let trimmed = value.strip_suffix('.').unwrap_or(value);
        if trimmed.is_empty() {
            return Err(invalid("is required"));
        }
        if !trimmed.is_ascii() {
            return Err(invalid(
                "must be ASCII; register an internationalized name in its xn-- form",
            ));
        }
        if trimmed.len() > MAX_NAME {
            return Err(invalid(&format!(
                "is {} characters long; the limit is {MAX_NAME}",
                trimmed.len()
            )));
        }
        let name = trimmed.to_ascii_lowercase();
        let labels: Vec<&str> = name.split('.').collect();
        if labels.len() < 2 {
            return Err(invalid(
                "must have at least two labels (example.com, not example)",
            ));
        }
        for label in &labels {
            if label.is_empty() {
                return Err(invalid("must not contain empty labels (..)"));
            }
            if label.len() > MAX_LABEL {
                return Err(invalid(&format!(
                    "has a label longer than {MAX_LABEL} characters"
                )));
            }
            if !label
                .bytes()
                .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
            {
                return Err(invalid(
                    "may contain only letters, digits, '-' and '.' between labels",
                ));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err(invalid("has a label that starts or ends with '-'"));
            }
        }
        if labels
            .last()
            .is_some_and(|top| top.bytes().all(|byte| byte.is_ascii_digit()))
        {
            return Err(invalid("must be a domain name, not an IP address"));
        }
        Ok(Self(name))
    }

    /// A name read back from the database (validated when it was written).
    pub fn from_stored(value: String) -> Self {
        Self(value)
    }

    /// The name (`example.com`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Where the challenge TXT record lives: `_roster-challenge.<name>`.
    pub fn challenge_record_name(&self) -> String {
        format!("{CHALLENGE_LABEL}.{}", self.0)
    }
}

impl std::fmt::Display for DomainName {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// A fresh challenge value from the OS random source: 64 lowercase hex digits.
pub fn new_challenge() -> Result<String, getrandom::Error> {
    let mut random = [0u8; CHALLENGE_BYTES];
    getrandom::fill(&mut random)?;
    Ok(hex::encode(random))
}

/// One TXT record as DNS returns it: its character-strings (a long value is split into strings of
/// at most 255 bytes).
pub type TxtRecord = Vec<Vec<u8>>;

/// What a TXT lookup of the challenge record found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxtAnswer {
    /// The name does not exist (NXDOMAIN).
    NoSuchName,
    /// The name exists but has no TXT record.
    NoRecords,
    /// The TXT records at the name.
    Records(Vec<TxtRecord>),
}

/// Whether `answer` proves `challenge` for `domain`: `Ok` when a value matches, else
/// FAILED_PRECONDITION saying what was found and what to publish.
pub fn check_challenge(answer: &TxtAnswer, domain: &DomainName, challenge: &str) -> CoreResult<()> {
    let record = domain.challenge_record_name();
    let found = match answer {
        TxtAnswer::Records(records) if txt_matches(records, challenge) => return Ok(()),
        TxtAnswer::NoSuchName => {
            format!("no TXT record found at {record} (the name does not exist)")
        }
        TxtAnswer::NoRecords => format!("no TXT record found at {record}"),
        TxtAnswer::Records(records) => format!(
            "the TXT record at {record} holds the wrong value: found {}",
            describe_found(records)
        ),
    };
    Err(CoreError::new(
        roster::ErrorCode::FailedPrecondition,
        "id",
        format!("{found}; publish a TXT record at {record} with this domain's challenge_value"),
    ))
}

/// A TXT value as people publish it: surrounding whitespace and quotes dropped (some DNS consoles
/// store the quotes typed around a value as part of it).
fn clean(value: &str) -> &str {
    value.trim().trim_matches('"').trim()
}

/// Whether one of `records` carries `challenge`: a record whose strings, joined, equal it, or a
/// single string of a record that does, compared exactly after [`clean`].
pub fn txt_matches(records: &[TxtRecord], challenge: &str) -> bool {
    records.iter().any(|strings| {
        let joined: Vec<u8> = strings.concat();
        std::iter::once(&joined)
            .chain(strings.iter())
            .any(|bytes| std::str::from_utf8(bytes).is_ok_and(|text| clean(text) == challenge))
    })
}

/// How TXT values found in DNS are shown in an error message: at most three, each cut to 40
/// characters, non-printable characters replaced, so a hostile record cannot flood a message.
pub fn describe_found(records: &[TxtRecord]) -> String {
    let mut shown: Vec<String> = records
        .iter()
        .take(3)
        .map(|strings| {
            let text = String::from_utf8_lossy(&strings.concat()).into_owned();
            let mut printable: String = clean(&text)
                .chars()
                .map(|c| {
                    if c.is_ascii_graphic() || c == ' ' {
                        c
                    } else {
                        '?'
                    }
                })
                .take(40)
                .collect();
            if clean(&text).chars().count() > 40 {
                printable.push_str("...");
            }
            format!("\"{printable}\"")
        })
        .collect();
    if records.len() > 3 {
        shown.push(format!("and {} more", records.len() - 3));
    }
    shown.join(", ")
}

/// The domain of an email address: the part after the last `@`, lowercased, without a trailing
/// dot; `None` when there is no `@` or nothing after it. No syntax check beyond that: the
/// comparison with verified names is exact, so a malformed domain simply matches none.
pub fn email_domain(email: &str) -> Option<String> {
    let (_, domain) = email.trim().rsplit_once('@')?;
    let domain = domain.strip_suffix('.').unwrap_or(domain);
    if domain.is_empty() {
        return None;
    }
    Some(domain.to_ascii_lowercase())
}

/// The domains one organization has verified, for the email rules: an address is covered when its
/// domain is one of them exactly.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifiedDomains(BTreeSet<String>);

impl VerifiedDomains {
    /// From the stored (lowercase) names.
    pub fn new(names: impl IntoIterator<Item = String>) -> Self {
        Self(names.into_iter().collect())
    }

    /// Whether `domain` (any case, optional trailing dot) is one of them.
    pub fn contains(&self, domain: &str) -> bool {
        let domain = domain.strip_suffix('.').unwrap_or(domain);
        self.0.contains(&domain.to_ascii_lowercase())
    }

    /// Whether the domain of `email` is one of them; `false` for an address without a domain.
    pub fn covers_email(&self, email: &str) -> bool {
        email_domain(email).is_some_and(|domain| self.0.contains(&domain))
    }

    /// The names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_folded_and_stripped() {
        assert_eq!(
            DomainName::parse("Example.COM.").unwrap().as_str(),
            "example.com"
        );
        assert_eq!(
            DomainName::parse("xn--bcher-kva.example").unwrap().as_str(),
            "xn--bcher-kva.example"
        );
        assert_eq!(
            DomainName::parse("a-b.c1.example.io")
                .unwrap()
                .challenge_record_name(),
            "_roster-challenge.a-b.c1.example.io"
        );
    }

    #[test]
    fn bad_names_are_refused_naming_the_field() {
        let long_label = format!("{}.com", "a".repeat(64));
        let long_name = format!("{}.com", vec!["a".repeat(60); 5].join("."));
        for bad in [
            "",
            ".",
            "com",
            "localhost",
            "example..com",
            ".example.com",
            "example.com..",
            "-example.com",
            "example-.com",
            "exa_mple.com",
            "_roster-challenge.example.com",
            "exa mple.com",
            "example.com/x",
            "user@example.com",
            "bücher.example",
            "10.0.0.1",
            "1.2.3.4.",
            "*.example.com",
            &long_label,
            &long_name,
        ] {
            let error = DomainName::parse(bad).expect_err(bad);
            assert_eq!(error.field, "name", "{bad}");
            assert_eq!(error.code, roster::ErrorCode::InvalidValue, "{bad}");
            assert!(error.message.len() < 120, "{bad}: {}", error.message);
        }
    }

    #[test]
    fn challenges_are_random_hex() {
        let first = new_challenge().unwrap();
        let second = new_challenge().unwrap();
        assert_eq!(first.len(), 64);
        assert!(first.bytes().all(|byte| byte.is_ascii_hexdigit()));
        assert_ne!(first, second);
    }

    fn record(strings: &[&str]) -> TxtRecord {
        strings.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn txt_values_match_exactly_after_trimming_quotes() {
        let challenge = "abc123";
        assert!(txt_matches(&[record(&["abc123"])], challenge));
        assert!(txt_matches(&[record(&["\"abc123\""])], challenge));
        assert!(txt_matches(&[record(&[" abc123 "])], challenge));
        assert!(txt_matches(
            &[record(&["other"]), record(&["abc123"])],
            challenge
        ));
        assert!(txt_matches(&[record(&["abc", "123"])], challenge));
        assert!(txt_matches(
            &[record(&["v=spf1 -all", "abc123"])],
            challenge
        ));
        assert!(!txt_matches(&[], challenge));
        assert!(!txt_matches(&[record(&["abc1234"])], challenge));
        assert!(!txt_matches(&[record(&["ABC123"])], challenge));
        assert!(!txt_matches(&[record(&["xabc123"])], challenge));
        assert!(!txt_matches(&[record(&["abc"])], challenge));
    }

    #[test]
    fn failures_say_what_was_found() {
        let domain = DomainName::parse("example.com").unwrap();
        assert!(check_challenge(&TxtAnswer::Records(vec![record(&["c"])]), &domain, "c").is_ok());
        let missing = check_challenge(&TxtAnswer::NoSuchName, &domain, "c").unwrap_err();
        assert_eq!(missing.code, roster::ErrorCode::FailedPrecondition);
        assert!(
            missing
                .message
                .starts_with("no TXT record found at _roster-challenge.example.com"),
            "{}",
            missing.message
        );
        let empty = check_challenge(&TxtAnswer::NoRecords, &domain, "c").unwrap_err();
        assert!(
            empty.message.starts_with("no TXT record found"),
            "{}",
            empty.message
        );
        let wrong =
            check_challenge(&TxtAnswer::Records(vec![record(&["x"])]), &domain, "c").unwrap_err();
        assert!(
            wrong.message.contains("wrong value: found \"x\""),
            "{}",
            wrong.message
        );
    }

    #[test]
    fn found_values_are_described_briefly() {
        let long = "x".repeat(500);
        let text = describe_found(&[
            record(&["wrong"]),
            record(&[&long]),
            record(&["a\u{1}b"]),
            record(&["d"]),
        ]);
        assert!(text.starts_with("\"wrong\", \"xxxx"), "{text}");
        assert!(text.contains("...\""), "{text}");
        assert!(text.contains("\"a?b\""), "{text}");
        assert!(text.ends_with("and 1 more"), "{text}");
        assert!(text.len() < 120, "{text}");
    }

    #[test]
    fn email_domains_are_the_part_after_the_last_at() {
        assert_eq!(
            email_domain("Alice@Example.COM").as_deref(),
            Some("example.com")
        );
        assert_eq!(
            email_domain("a@b@example.com").as_deref(),
            Some("example.com")
        );
        assert_eq!(
            email_domain("alice@example.com.").as_deref(),
            Some("example.com")
        );
        assert_eq!(
            email_domain("alice@example.com.evil.io").as_deref(),
            Some("example.com.evil.io")
        );
        assert_eq!(email_domain("alice"), None);
        assert_eq!(email_domain("alice@"), None);
        assert_eq!(email_domain(""), None);
    }

    #[test]
    fn verified_domains_cover_exact_names_only() {
        let verified = VerifiedDomains::new(["example.com".to_owned()]);
        assert!(verified.covers_email("bob@EXAMPLE.com"));
        assert!(verified.contains("Example.Com."));
        assert!(!verified.covers_email("bob@example.com.evil.io"));
        assert!(!verified.covers_email("bob@mail.example.com"));
        assert!(!verified.covers_email("bob@notexample.com"));
        assert!(!verified.covers_email("example.com"));
        assert!(!verified.contains("evil.io"));
        assert_eq!(verified.names().collect::<Vec<_>>(), ["example.com"]);
        assert!(VerifiedDomains::default().is_empty());
    }
}
