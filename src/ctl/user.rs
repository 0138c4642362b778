//! `rosterctl user`: creating, finding, listing and deleting users (scopes `scim:read` and
//! `scim:write`).

use anyhow::Result;
use clap::Subcommand;
use roster::pb::get_user_request::Lookup;
use roster::pb::{
    Address, CreateUserRequest, CustomAttribute, DeleteUserRequest, EnterpriseUser, GetUserRequest,
    ListUsersRequest, MultiValue, Name, User, UserGroupRef,
};
use serde_json::{Value, json};

use super::conn::Connection;
use super::filter;
use super::output::{
    Report, meta_fields, meta_json, or_dash, page_footer, render_fields, render_table,
};

/// User commands.
#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a user.
    Create {
        /// Unique (case-insensitive) user name.
        user_name: String,
        /// An email address; repeat for several (the first is marked primary).
        #[arg(long = "email", value_name = "EMAIL")]
        emails: Vec<String>,
        /// Given (first) name.
        #[arg(long)]
        given_name: Option<String>,
        /// Family (last) name.
        #[arg(long)]
        family_name: Option<String>,
        /// Name for display.
        #[arg(long)]
        display_name: Option<String>,
        /// The provisioning client's identifier for the user.
        #[arg(long)]
        external_id: Option<String>,
    },
    /// List users, optionally filtered by user name and/or email.
    List {
        /// Only the user with this user name (`userName eq X`).
        #[arg(long)]
        user_name: Option<String>,
        /// Only users with this email address (`emails.value eq X`).
        #[arg(long)]
        email: Option<String>,
        /// Page size (server default 100, at most 1000; 0 prints only the total).
        #[arg(long, value_parser = clap::value_parser!(i32).range(0..))]
        count: Option<i32>,
        /// 1-based index of the first user to print.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i64).range(1..))]
        start_index: i64,
    },
    /// Show a user and its groups, by id or by user name.
    Get {
        /// The user's id (a UUID) or user name.
        id_or_user_name: String,
        /// Look the argument up as a user name even if it looks like a UUID.
        #[arg(long)]
        by_user_name: bool,
    },
    /// Delete a user and its group memberships.
    Delete {
        /// The user's id.
        id: String,
    },
}

/// Runs a user command.
pub async fn run(command: UserCommand, conn: &Connection) -> Result<Report> {
    let mut client = conn.users();
    match command {
        UserCommand::Create {
            user_name,
            emails,
            given_name,
            family_name,
            display_name,
            external_id,
        } => {
            let name = (given_name.is_some() || family_name.is_some()).then(|| Name {
                given_name,
                family_name,
                ..Name::default()
            });
            let user = User {
                user_name,
                external_id,
                display_name,
                name,
                emails: email_values(emails),
                ..User::default()
            };
            let request = CreateUserRequest { user: Some(user) };
            Ok(single(&client.create_user(request).await?.into_inner()))
        }
        UserCommand::List {
            user_name,
            email,
            count,
            start_index,
        } => {
            let filters = user_name
                .map(|user_name| filter::eq("userName", "", &user_name))
                .into_iter()
                .chain(email.map(|email| filter::eq("emails", "value", &email)))
                .collect();
            let request = ListUsersRequest {
                filter: filter::all(filters),
                start_index,
                count,
                ..ListUsersRequest::default()
            };
            let page = client.list_users(request).await?.into_inner();
            let json = json!({
                "users": page.users.iter().map(user_json).collect::<Vec<_>>(),
                "totalResults": page.total_results,
                "startIndex": page.start_index,
            });
            let rows: Vec<Vec<String>> = page.users.iter().map(user_row).collect();
            let header = ["ID", "USER NAME", "DISPLAY NAME", "EMAIL", "ACTIVE"];
            let text = render_table(&header, &rows)
                + &page_footer(
                    page.start_index,
                    page.users.len(),
                    page.total_results,
                    "users",
                );
            Ok(Report::new(json, text))
        }
        UserCommand::Get {
            id_or_user_name,
            by_user_name,
        } => {
            let lookup = if by_user_name || !is_uuid(&id_or_user_name) {
                Lookup::UserName(id_or_user_name)
            } else {
                Lookup::Id(id_or_user_name)
            };
            let request = GetUserRequest {
                lookup: Some(lookup),
                include_groups: true,
            };
            Ok(single(&client.get_user(request).await?.into_inner()))
        }
        UserCommand::Delete { id } => {
            let request = DeleteUserRequest {
                id: id.clone(),
                expected_version: None,
            };
            client.delete_user(request).await?;
            let json = json!({ "id": id, "deleted": true });
            Ok(Report::new(json, format!("deleted user {id}\n")))
        }
    }
}

/// Email addresses as multi-values, the first marked primary.
fn email_values(emails: Vec<String>) -> Vec<MultiValue> {
    emails
        .into_iter()
        .enumerate()
        .map(|(index, value)| MultiValue {
            value,
            primary: index == 0,
            ..MultiValue::default()
        })
        .collect()
}

/// Whether `text` is a UUID in its hyphenated form (`8-4-4-4-12` hex digits).
fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(group, len)| group.len() == len && group.chars().all(|c| c.is_ascii_hexdigit()))
}

/// One user, as printed by `create` and `get`.
fn single(user: &User) -> Report {
    Report::new(user_json(user), render_fields(&user_fields(user)))
}

/// A user as JSON, with SCIM attribute names.
fn user_json(user: &User) -> Value {
    json!({
        "id": user.id,
        "externalId": user.external_id,
        "userName": user.user_name,
        "name": user.name.as_ref().map_or(Value::Null, name_json),
        "displayName": user.display_name,
        "nickName": user.nick_name,
        "profileUrl": user.profile_url,
        "title": user.title,
        "userType": user.user_type,
        "preferredLanguage": user.preferred_language,
        "locale": user.locale,
        "timezone": user.timezone,
        "active": user.active,
        "emails": multi_values_json(&user.emails),
        "phoneNumbers": multi_values_json(&user.phone_numbers),
        "ims": multi_values_json(&user.ims),
        "photos": multi_values_json(&user.photos),
        "addresses": user.addresses.iter().map(address_json).collect::<Vec<_>>(),
        "entitlements": multi_values_json(&user.entitlements),
        "roles": multi_values_json(&user.roles),
        "x509Certificates": multi_values_json(&user.x509_certificates),
        "enterprise": user.enterprise.as_ref().map_or(Value::Null, enterprise_json),
        "customAttributes": user
            .custom_attributes
            .iter()
            .map(custom_attribute_json)
            .collect::<Vec<_>>(),
        "groups": user.groups.iter().map(group_ref_json).collect::<Vec<_>>(),
        "meta": meta_json(user.meta.as_ref()),
    })
}

/// Name components as JSON.
fn name_json(name: &Name) -> Value {
    json!({
        "formatted": name.formatted,
        "familyName": name.family_name,
        "givenName": name.given_name,
        "middleName": name.middle_name,
        "honorificPrefix": name.honorific_prefix,
        "honorificSuffix": name.honorific_suffix,
    })
}

/// The values of a multi-valued attribute as JSON.
fn multi_values_json(values: &[MultiValue]) -> Vec<Value> {
    values
        .iter()
        .map(|value| {
            json!({
                "value": value.value,
                "type": value.r#type,
                "display": value.display,
                "primary": value.primary,
            })
        })
        .collect()
}

/// A postal address as JSON.
fn address_json(address: &Address) -> Value {
    json!({
        "formatted": address.formatted,
        "streetAddress": address.street_address,
        "locality": address.locality,
        "region": address.region,
        "postalCode": address.postal_code,
        "country": address.country,
        "type": address.r#type,
        "primary": address.primary,
    })
}

/// The enterprise extension as JSON.
fn enterprise_json(enterprise: &EnterpriseUser) -> Value {
    json!({
        "employeeNumber": enterprise.employee_number,
        "costCenter": enterprise.cost_center,
        "organization": enterprise.organization,
        "division": enterprise.division,
        "department": enterprise.department,
        "manager": enterprise.manager.as_ref().map_or(Value::Null, |manager| json!({
            "value": manager.value,
            "displayName": manager.display_name,
        })),
    })
}

/// A custom-extension attribute as JSON; its value is embedded as JSON when it parses.
fn custom_attribute_json(attribute: &CustomAttribute) -> Value {
    let value = serde_json::from_str(&attribute.value_json)
        .unwrap_or_else(|_| Value::String(attribute.value_json.clone()));
    json!({ "schema": attribute.schema, "name": attribute.name, "value": value })
}

/// A group the user belongs to, as JSON.
fn group_ref_json(group: &UserGroupRef) -> Value {
    json!({ "value": group.value, "display": group.display })
}

/// A user as `label value` pairs.
fn user_fields(user: &User) -> Vec<(&'static str, String)> {
    let name = user.name.clone().unwrap_or_default();
    let emails: Vec<&str> = user
        .emails
        .iter()
        .map(|email| email.value.as_str())
        .collect();
    let groups: Vec<&str> = user
        .groups
        .iter()
        .map(|group| group.display.as_str())
        .collect();
    let mut fields = vec![
        ("id", user.id.clone()),
        ("user name", user.user_name.clone()),
        ("external id", or_dash(user.external_id.as_deref())),
        ("display name", or_dash(user.display_name.as_deref())),
        ("given name", or_dash(name.given_name.as_deref())),
        ("family name", or_dash(name.family_name.as_deref())),
        ("emails", or_dash(Some(&emails.join(", ")))),
        ("active", active_text(user)),
        ("groups", or_dash(Some(&groups.join(", ")))),
    ];
    fields.extend(meta_fields(user.meta.as_ref()));
    fields
}

/// A user as a row of `user list`.
fn user_row(user: &User) -> Vec<String> {
    let email = user
        .emails
        .iter()
        .find(|email| email.primary)
        .or(user.emails.first())
        .map(|email| email.value.as_str());
    vec![
        user.id.clone(),
        user.user_name.clone(),
        or_dash(user.display_name.as_deref()),
        or_dash(email),
        active_text(user),
    ]
}

/// `true`, `false`, or `-` when the server did not say.
fn active_text(user: &User) -> String {
    user.active
        .map_or_else(|| "-".to_owned(), |active| active.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_hyphenated_uuids() {
        assert!(is_uuid("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"));
        assert!(is_uuid("0193A1B2-C3D4-7E5F-8A9B-0C1D2E3F4A5B"));
        assert!(!is_uuid("alice"));
        assert!(!is_uuid("0193a1b2c3d47e5f8a9b0c1d2e3f4a5b"));
        assert!(!is_uuid("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5g"));
        assert!(!is_uuid("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b-"));
    }

    #[test]
    fn first_email_is_primary() {
        let emails = email_values(vec!["a@example.com".into(), "b@example.com".into()]);
        assert!(emails[0].primary && !emails[1].primary);
        assert_eq!(emails[1].value, "b@example.com");
    }
}
