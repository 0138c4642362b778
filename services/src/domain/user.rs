//! Validation and normalisation of a user before it is stored.

use super::validate::{self, MAX_SHORT, MAX_VALUE, MAX_VALUES};
use crate::error::{CoreError, CoreResult};
use roster::pb;

/// Most custom extension attributes per user.
pub const MAX_CUSTOM_ATTRIBUTES: usize = 200;

/// Checks a user for create or replace and normalises it (an empty externalId means none).
pub fn normalize(user: &mut pb::User) -> CoreResult<()> {
    validate::required("user_name", &user.user_name, MAX_SHORT)?;
    if user.external_id.as_deref() == Some("") {
        user.external_id = None;
    }
    validate::optional("external_id", user.external_id.as_deref(), MAX_SHORT)?;
    let short_fields = [
        ("display_name", &user.display_name),
        ("nick_name", &user.nick_name),
        ("title", &user.title),
        ("user_type", &user.user_type),
        ("preferred_language", &user.preferred_language),
        ("locale", &user.locale),
        ("timezone", &user.timezone),
    ];
    for (field, value) in short_fields {
        validate::optional(field, value.as_deref(), MAX_SHORT)?;
    }
    validate::optional("profile_url", user.profile_url.as_deref(), MAX_VALUE)?;
    if let Some(name) = &user.name {
        for value in [
            &name.formatted,
            &name.family_name,
            &name.given_name,
            &name.middle_name,
            &name.honorific_prefix,
            &name.honorific_suffix,
        ] {
            validate::optional("name", value.as_deref(), MAX_SHORT)?;
        }
    }
    let lists = [
        ("emails", &user.emails),
        ("phone_numbers", &user.phone_numbers),
        ("ims", &user.ims),
        ("photos", &user.photos),
        ("entitlements", &user.entitlements),
        ("roles", &user.roles),
        ("x509_certificates", &user.x509_certificates),
    ];
    for (field, values) in lists {
        multi_values(field, values)?;
    }
    if user.addresses.len() > MAX_VALUES {
        return Err(CoreError::invalid(
            "addresses",
            format!("addresses has more than {MAX_VALUES} values"),
        ));
    }
    if user
        .addresses
        .iter()
        .filter(|address| address.primary)
        .count()
        > 1
    {
        return Err(CoreError::invalid(
            "addresses",
            "at most one of addresses may be primary",
        ));
    }
    for address in &user.addresses {
        for value in [
            &address.formatted,
            &address.street_address,
            &address.locality,
            &address.region,
            &address.postal_code,
            &address.country,
            &address.r#type,
        ] {
            validate::optional("addresses", value.as_deref(), MAX_SHORT * 4)?;
        }
    }
    if let Some(enterprise) = &user.enterprise {
        for value in [
            &enterprise.employee_number,
            &enterprise.cost_center,
            &enterprise.organization,
            &enterprise.division,
            &enterprise.department,
        ] {
            validate::optional("enterprise", value.as_deref(), MAX_SHORT)?;
        }
        if let Some(manager) = &enterprise.manager {
            validate::optional(
                "enterprise.manager.display_name",
                manager.display_name.as_deref(),
                MAX_SHORT,
            )?;
        }
        if let Some(manager) = &enterprise.manager
            && let Some(value) = manager.value.as_deref().filter(|value| !value.is_empty())
        {
            validate::id("enterprise.manager.value", value)?;
        }
    }
    custom_attributes(&user.custom_attributes)?;
    Ok(())
}

fn multi_values(field: &'static str, values: &[pb::MultiValue]) -> CoreResult<()> {
    if values.len() > MAX_VALUES {
        return Err(CoreError::invalid(
            field,
            format!("{field} has more than {MAX_VALUES} values"),
        ));
    }
    if values.iter().filter(|value| value.primary).count() > 1 {
        return Err(CoreError::invalid(
            field,
            format!("at most one of {field} may be primary"),
        ));
    }
    for value in values {
        validate::required(field, &value.value, MAX_VALUE)?;
        validate::optional(field, value.r#type.as_deref(), MAX_SHORT)?;
        validate::optional(field, value.display.as_deref(), MAX_SHORT)?;
    }
    Ok(())
}

fn custom_attributes(attributes: &[pb::CustomAttribute]) -> CoreResult<()> {
    const FIELD: &str = "custom_attributes";
    if attributes.len() > MAX_CUSTOM_ATTRIBUTES {
        return Err(CoreError::invalid(
            FIELD,
            format!("{FIELD} has more than {MAX_CUSTOM_ATTRIBUTES} values"),
        ));
    }
    for attribute in attributes {
        validate::required(FIELD, &attribute.schema, MAX_SHORT)?;
        validate::required(FIELD, &attribute.name, MAX_SHORT)?;
        if !attribute.schema.starts_with("urn:") {
            return Err(CoreError::invalid(
                FIELD,
                "custom attribute schema must be a URN (urn:...)",
            ));
        }
        if attribute.value_json.len() > MAX_VALUE * 8 {
            return Err(CoreError::invalid(
                FIELD,
                "custom attribute value is too large",
            ));
        }
        let value =
            serde_json::from_str::<serde_json::Value>(&attribute.value_json).map_err(|_| {
                CoreError::invalid(
                    FIELD,
                    format!("value of custom attribute {} is not JSON", attribute.name),
                )
            })?;
        if contains_nul(&value) {
            return Err(CoreError::invalid(
                FIELD,
                format!(
                    "value of custom attribute {} contains a NUL character",
                    attribute.name
                ),
            ));
        }
    }
    Ok(())
}

/// Whether any string in a JSON value holds U+0000 (PostgreSQL's jsonb cannot store it).
fn contains_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(text) => text.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(contains_nul),
        serde_json::Value::Object(entries) => entries
            .iter()
            .any(|(key, item)| key.contains('\0') || contains_nul(item)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> pb::User {
        pb::User {
            user_name: "alice".into(),
            ..Default::default()
        }
    }

    #[test]
    fn empty_external_id_means_none() {
        let mut user = user();
        user.external_id = Some(String::new());
        normalize(&mut user).unwrap();
        assert_eq!(user.external_id, None);
    }

    #[test]
    fn two_primaries_are_refused() {
        let mut user = user();
        let email = pb::MultiValue {
            value: "a@x.io".into(),
            primary: true,
            ..Default::default()
        };
        user.emails = vec![email.clone(), email];
        assert_eq!(normalize(&mut user).unwrap_err().field, "emails");
    }

    #[test]
    fn custom_values_must_be_json() {
        let mut user = user();
        user.custom_attributes.push(pb::CustomAttribute {
            schema: "urn:acme:1.0:User".into(),
            name: "badge".into(),
            value_json: "not json".into(),
        });
        assert_eq!(normalize(&mut user).unwrap_err().field, "custom_attributes");
    }
}
