//! Validation of request values. Messages are lowercase, name the field and never echo long input.

use crate::error::{CoreError, CoreResult};
use uuid::Uuid;

/// Longest userName, displayName, externalId, or other short string.
pub const MAX_SHORT: usize = 256;
/// Longest value of a multi-valued attribute (photos and certificates can be long).
pub const MAX_VALUE: usize = 8192;
/// Most values of one multi-valued attribute.
pub const MAX_VALUES: usize = 100;

/// A required string: trimmed of nothing, 1..=`max` characters, no control characters.
pub fn required(field: &'static str, value: &str, max: usize) -> CoreResult<()> {
    if value.trim().is_empty() {
        return Err(CoreError::invalid(
            field,
            format!("{field} is required and must not be blank"),
        ));
    }
    bounded(field, value, max)
}

/// An optional string, checked like [`required`] when present and not empty.
pub fn optional(field: &'static str, value: Option<&str>, max: usize) -> CoreResult<()> {
    match value {
        Some(value) => bounded(field, value, max),
        None => Ok(()),
    }
}

fn bounded(field: &'static str, value: &str, max: usize) -> CoreResult<()> {
    let length = value.chars().count();
    if length > max {
        return Err(CoreError::invalid(
            field,
            format!("{field} is {length} characters long; the limit is {max}"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(CoreError::invalid(
            field,
            format!("{field} must not contain control characters"),
        ));
    }
    Ok(())
}

/// A resource id: a UUID in any of its text forms, returned hyphenated lowercase.
pub fn id(field: &'static str, value: &str) -> CoreResult<String> {
    if value.is_empty() {
        return Err(CoreError::invalid(field, format!("{field} is required")));
    }
    Uuid::try_parse(value)
        .map(|uuid| uuid.hyphenated().to_string())
        .map_err(|_| CoreError::invalid(field, format!("{field} must be a UUID")))
}

/// An organization handle: 1-63 of `a-z0-9-`, starting with a letter, so it can sit in a URL or a
/// policy subject without aliasing anything.
pub fn organization_name(value: &str) -> CoreResult<()> {
    let valid = (1..=63).contains(&value.len())
        && value.starts_with(|c: char| c.is_ascii_lowercase())
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if valid {
        Ok(())
    } else {
        Err(CoreError::invalid(
            "name",
            "name must be 1-63 lowercase letters, digits or '-', starting with a letter",
        ))
    }
}

/// The case-insensitive key of a userName or displayName.
pub fn key(value: &str) -> String {
    value.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_bounded_and_clean() {
        assert!(required("user_name", "alice", MAX_SHORT).is_ok());
        assert_eq!(
            required("user_name", "  ", MAX_SHORT).unwrap_err().field,
            "user_name"
        );
        let long = "x".repeat(MAX_SHORT + 1);
        let error = required("user_name", &long, MAX_SHORT).unwrap_err();
        assert!(!error.message.contains(&long));
        assert!(required("user_name", "a\u{0}b", MAX_SHORT).is_err());
    }

    #[test]
    fn ids_must_be_uuids() {
        assert!(id("id", "not-a-uuid").is_err());
        let uuid = Uuid::new_v4();
        assert_eq!(
            id("id", &uuid.simple().to_string()).unwrap(),
            uuid.to_string()
        );
    }

    #[test]
    fn organization_names_cannot_alias() {
        assert!(organization_name("acme-2").is_ok());
        for bad in [
            "",
            "Acme",
            "acme corp",
            "acme/x",
            "2acme",
            "acme,admin",
            &"a".repeat(64),
        ] {
            assert!(organization_name(bad).is_err(), "{bad}");
        }
    }
}
