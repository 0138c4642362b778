//! Accounts and the domain-verified email rules.
//!
//! A person is one *account*, keyed by its email address (lowercased): the account email of a
//! user is its primary email, else its first email, else its userName when that is an email
//! address. Each organization the person belongs to has its own user resource, linked to the
//! account. The rules here decide whether a write may change a user's addresses; the store runs
//! them inside the write's transaction with the organization's verified domains.
//!
//! - The *addresses* of a user are its email values and its userName when that is an email
//!   address (it has an `@` and a domain after the last one), compared trimmed and lowercased.
//! - A write *adds* the addresses it has and the stored user had not, and *removes* the reverse;
//!   a change of the account email counts as removing the old and adding the new one (making a
//!   secondary address primary moves the person's identity).
//! - Every added address must be in a domain the organization has verified.
//! - When the account also belongs to another organization, every removed address must be in such
//!   a domain too.
//! - A create that adopts an existing account of another organization must have the account
//!   email's domain verified; a create of a new account changes nobody's address.

use super::domains::{VerifiedDomains, email_domain};
use crate::error::CoreError;
use roster::{ErrorCode, pb};
use std::collections::BTreeMap;

/// An address as compared: trimmed and lowercased.
pub fn address_key(value: &str) -> String {
    value.trim().to_lowercase()
}

/// Whether `value` is an email address for these rules: it has a non-empty domain after its last
/// `@`.
pub fn is_address(value: &str) -> bool {
    email_domain(value).is_some()
}

/// The key of the account a user belongs to: its primary email, else its first email, else its
/// userName; `None` when that is not an email address.
pub fn account_email(user: &pb::User) -> Option<String> {
    let candidate = user
        .emails
        .iter()
        .find(|email| email.primary)
        .or_else(|| user.emails.first())
        .map(|email| email.value.as_str())
        .unwrap_or(&user.user_name);
    is_address(candidate).then(|| address_key(candidate))
}

/// The addresses of a user, each with the field it came from (`emails` wins over `user_name`).
fn addresses(user: &pb::User) -> BTreeMap<String, &'static str> {
    let mut addresses = BTreeMap::new();
    if is_address(&user.user_name) {
        addresses.insert(address_key(&user.user_name), "user_name");
    }
    for email in &user.emails {
        addresses.insert(address_key(&email.value), "emails");
    }
    addresses
}

/// What a write does to a user's addresses.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct EmailChange {
    /// Addresses the user gains (with the field at fault if refused).
    pub added: BTreeMap<String, &'static str>,
    /// Addresses the user loses.
    pub removed: BTreeMap<String, &'static str>,
}

impl EmailChange {
    /// The change from `before` to `after`.
    pub fn between(before: &pb::User, after: &pb::User) -> Self {
        let old = addresses(before);
        let new = addresses(after);
        let mut change = Self {
            added: new
                .iter()
                .filter(|(address, _)| !old.contains_key(*address))
                .map(|(address, field)| (address.clone(), *field))
                .collect(),
            removed: old
                .iter()
                .filter(|(address, _)| !new.contains_key(*address))
                .map(|(address, field)| (address.clone(), *field))
                .collect(),
        };
        let (old_account, new_account) = (account_email(before), account_email(after));
        if old_account != new_account {
            if let Some(address) = new_account {
                change.added.entry(address).or_insert("emails");
            }
            if let Some(address) = old_account {
                change.removed.entry(address).or_insert("emails");
            }
        }
        change
    }

    /// Whether nothing changes.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }

    /// Whether checking removed addresses needs to know if the account is shared.
    pub fn removes_any(&self) -> bool {
        !self.removed.is_empty()
    }

    /// Checks the change against the organization's verified domains; `shared` says whether the
    /// user's account also belongs to another organization.
    pub fn check(&self, verified: &VerifiedDomains, shared: bool) -> Result<(), CoreError> {
        for (address, field) in &self.added {
            if !verified.covers_email(address) {
                return Err(unverified(address, field, false));
            }
        }
        if shared {
            for (address, field) in &self.removed {
                if !verified.covers_email(address) {
                    return Err(unverified(address, field, true));
                }
            }
        }
        Ok(())
    }
}

/// Checks a create that adopts the account `address` already held by another organization.
pub fn check_adoption(address: &str, verified: &VerifiedDomains) -> Result<(), CoreError> {
    if verified.covers_email(address) {
        Ok(())
    } else {
        Err(unverified(address, "emails", true))
    }
}

/// PERMISSION_DENIED naming the domain of `address`.
fn unverified(address: &str, field: &'static str, shared: bool) -> CoreError {
    let mut message = match email_domain(address) {
        Some(domain) => format!("{domain} is not a verified domain of this organization"),
        None => "an email address without a domain is not in a verified domain of this \
                 organization"
            .to_owned(),
    };
    if shared {
        message.push_str(" (the user's account also belongs to another organization)");
    }
    CoreError::new(ErrorCode::Forbidden, field, message)
}

/// The audit reason of a refusal by these rules.
pub const DENIED_REASON: &str = "email_domain_not_verified";

#[cfg(test)]
mod tests {
    use super::*;

    fn email(value: &str, primary: bool) -> pb::MultiValue {
        pb::MultiValue {
            value: value.into(),
            primary,
            ..Default::default()
        }
    }

    fn user(user_name: &str, emails: &[&str]) -> pb::User {
        pb::User {
            user_name: user_name.into(),
            emails: emails
                .iter()
                .enumerate()
                .map(|(index, value)| email(value, index == 0))
                .collect(),
            ..Default::default()
        }
    }

    fn verified(names: &[&str]) -> VerifiedDomains {
        VerifiedDomains::new(names.iter().map(|name| name.to_string()))
    }

    #[test]
    fn the_account_email_is_primary_then_first_then_user_name() {
        let mut alice = user("alice", &["Alice@Example.com", "a@other.io"]);
        assert_eq!(account_email(&alice).as_deref(), Some("alice@example.com"));
        alice.emails[0].primary = false;
        alice.emails[1].primary = true;
        assert_eq!(account_email(&alice).as_deref(), Some("a@other.io"));
        alice.emails[1].primary = false;
        assert_eq!(account_email(&alice).as_deref(), Some("alice@example.com"));
        assert_eq!(
            account_email(&user("Bob@Example.com", &[])).as_deref(),
            Some("bob@example.com")
        );
        assert_eq!(account_email(&user("bob", &[])), None);
        assert_eq!(account_email(&user("bob", &["not-an-address"])), None);
    }

    #[test]
    fn unchanged_addresses_in_any_case_are_no_change() {
        let before = user("alice@example.com", &["alice@example.com"]);
        let after = user("ALICE@example.COM", &[" Alice@EXAMPLE.com "]);
        assert!(EmailChange::between(&before, &after).is_empty());
        // A userName that is not an address does not count.
        assert!(EmailChange::between(&user("alice", &[]), &user("alicia", &[])).is_empty());
    }

    #[test]
    fn added_addresses_need_a_verified_domain() {
        let before = user("alice", &["alice@example.com"]);
        let after = user("alice", &["alice@example.com", "alice@example.org"]);
        let change = EmailChange::between(&before, &after);
        assert!(change.check(&verified(&["example.org"]), false).is_ok());
        let error = change
            .check(&verified(&["example.com"]), false)
            .unwrap_err();
        assert_eq!(error.code, ErrorCode::Forbidden);
        assert_eq!(error.field, "emails");
        assert_eq!(
            error.message,
            "example.org is not a verified domain of this organization"
        );
    }

    #[test]
    fn domains_match_exactly() {
        let before = user("alice", &[]);
        let after = user("alice", &["alice@example.com.evil.io"]);
        let error = EmailChange::between(&before, &after)
            .check(&verified(&["example.com"]), false)
            .unwrap_err();
        assert!(error.message.starts_with("example.com.evil.io "));
        let sub = user("alice", &["alice@mail.example.com"]);
        assert!(
            EmailChange::between(&before, &sub)
                .check(&verified(&["example.com"]), false)
                .is_err()
        );
    }

    #[test]
    fn removed_addresses_count_only_for_shared_accounts() {
        let before = user("alice", &["alice@theirs.io"]);
        let after = user("alice", &["alice@ours.io"]);
        let change = EmailChange::between(&before, &after);
        let ours = verified(&["ours.io"]);
        assert!(change.check(&ours, false).is_ok());
        let error = change.check(&ours, true).unwrap_err();
        assert!(
            error
                .message
                .starts_with("theirs.io is not a verified domain")
        );
        assert!(
            change
                .check(&verified(&["ours.io", "theirs.io"]), true)
                .is_ok()
        );
    }

    #[test]
    fn a_user_name_that_is_an_address_counts() {
        let before = user("alice@ours.io", &[]);
        let after = user("alice@theirs.io", &[]);
        let error = EmailChange::between(&before, &after)
            .check(&verified(&["ours.io"]), false)
            .unwrap_err();
        assert_eq!(error.field, "user_name");
    }

    #[test]
    fn making_a_secondary_address_primary_moves_the_account() {
        let before = user("alice", &["alice@theirs.io", "alice@ours.io"]);
        let mut after = before.clone();
        after.emails[0].primary = false;
        after.emails[1].primary = true;
        let change = EmailChange::between(&before, &after);
        assert!(change.added.contains_key("alice@ours.io"));
        assert!(change.removed.contains_key("alice@theirs.io"));
        assert!(change.check(&verified(&["ours.io"]), false).is_ok());
        assert!(change.check(&verified(&["ours.io"]), true).is_err());
    }

    #[test]
    fn an_address_without_a_domain_is_never_verified() {
        let error = EmailChange::between(&user("a", &[]), &user("a", &["nobody"]))
            .check(&verified(&["example.com"]), false)
            .unwrap_err();
        assert_eq!(error.code, ErrorCode::Forbidden);
    }

    #[test]
    fn adoption_needs_the_domain() {
        assert!(check_adoption("alice@example.com", &verified(&["example.com"])).is_ok());
        let error = check_adoption("alice@example.com", &verified(&[])).unwrap_err();
        assert!(error.message.starts_with("example.com is not"));
    }
}
