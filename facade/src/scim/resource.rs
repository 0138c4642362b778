//! Conversion between the contract's users and groups and their SCIM representations (RFC 7643
//! §3.1, §4.1-§4.3), written out explicitly rather than through the contract's serde derive so the
//! wire form is exactly SCIM's.
//!
//! Reading is as lenient as identity providers need (IDP-QUIRKS.md §0, §1.3-§2.4): attribute names
//! ignore case (RFC 7643 §2.1), booleans may arrive as `"True"`/`"False"`, a multi-valued attribute
//! may arrive as a single object, the enterprise `manager` may be a bare id, read-only attributes
//! (`id`, `meta`, `groups`, `schemas`) and `password` are ignored, explicit `null` means absent, and
//! extension attributes may be nested under their URN or flattened into URN-prefixed keys. A value of
//! the wrong JSON type for a known attribute is refused with 400 `invalidValue` naming it; whether a
//! value is acceptable otherwise (empty, too long, two primaries) is the core's decision.

use super::error::{ScimError, ScimResult};
use super::path::{ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA};
use roster::pb;
use serde_json::{Map, Value};

// ------------------------------------------------------------------------------------------------
// ETags (RFC 7644 §3.14).

/// The weak ETag of a resource version: `W/"<version>"`.
pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// The version named by an `If-Match`/`If-None-Match` value: `W/"3"`, `"3"` and a bare `3` give
/// `Some(3)` (the `W/` prefix may be any case; surrounding spaces are ignored).
///
/// `None` for `*` (any version: the caller sends no `expected_version`) and for anything that is
/// not a single tag of ours (a list, a foreign or malformed tag). Callers that must tell `*` from a
/// foreign tag (which can never match, so RFC 7232 says 412) check `header.trim() == "*"` first.
pub fn parse_etag(header: &str) -> Option<i64> {
    let tag = header.trim();
    let tag = match tag.get(..2) {
        Some(prefix) if prefix.eq_ignore_ascii_case("W/") => &tag[2..],
        _ => tag,
    };
    let tag = match tag.strip_prefix('"') {
        Some(rest) => rest.strip_suffix('"')?,
        None => tag,
    };
    if tag.is_empty()
        || !tag
            .bytes()
            .all(|byte| byte.is_ascii_digit() || byte == b'-')
    {
        return None;
    }
    tag.parse().ok()
}

// ------------------------------------------------------------------------------------------------
// Users: contract -> SCIM.

/// The SCIM representation of a user (RFC 7643 §4.1, §4.3, §8.2), with its location and ETag under
/// `base_url` (the SCIM base, for example `https://host/scim/v2`; a trailing `/` is ignored).
///
/// Absent optional values are omitted, never `null`; so are empty multi-valued attributes, an empty
/// `name` and an enterprise extension with none of its attributes. `active` is omitted when it is
/// unassigned (removed; the core treats such a user as inactive). Custom extension attributes appear
/// under their URN, each value parsed back from its JSON text (kept as a string if it is not JSON).
pub fn user_to_scim(user: &pb::User, base_url: &str) -> Value {
    let base = base_url.trim_end_matches('/');
    let mut out = Map::new();
    let mut schemas = vec![Value::from(USER_SCHEMA)];

    out.insert("id".into(), user.id.clone().into());
    put_string(&mut out, "externalId", &user.external_id);
    out.insert("userName".into(), user.user_name.clone().into());
    if let Some(name) = user
        .name
        .as_ref()
        .map(name_to_scim)
        .filter(|name| !name.is_empty())
    {
        out.insert("name".into(), Value::Object(name));
    }
    put_string(&mut out, "displayName", &user.display_name);
    put_string(&mut out, "nickName", &user.nick_name);
    put_string(&mut out, "profileUrl", &user.profile_url);
    put_string(&mut out, "title", &user.title);
    put_string(&mut out, "userType", &user.user_type);
    put_string(&mut out, "preferredLanguage", &user.preferred_language);
    put_string(&mut out, "locale", &user.locale);
    put_string(&mut out, "timezone", &user.timezone);
    if let Some(active) = user.active {
        out.insert("active".into(), active.into());
    }
    put_multi(&mut out, "emails", &user.emails);
    put_multi(&mut out, "phoneNumbers", &user.phone_numbers);
    put_multi(&mut out, "ims", &user.ims);
    put_multi(&mut out, "photos", &user.photos);
    if !user.addresses.is_empty() {
        let addresses = user.addresses.iter().map(address_to_scim).collect();
        out.insert("addresses".into(), Value::Array(addresses));
    }
    if !user.groups.is_empty() {
        let groups = user
            .groups
            .iter()
            .map(|group| {
                let mut reference = Map::new();
                reference.insert("value".into(), group.value.clone().into());
                if !group.display.is_empty() {
                    reference.insert("display".into(), group.display.clone().into());
                }
                reference.insert(
                    "$ref".into(),
                    format!("{base}/Groups/{}", group.value).into(),
                );
                reference.insert("type".into(), "direct".into());
                Value::Object(reference)
            })
            .collect();
        out.insert("groups".into(), Value::Array(groups));
    }
    put_multi(&mut out, "entitlements", &user.entitlements);
    put_multi(&mut out, "roles", &user.roles);
    put_multi(&mut out, "x509Certificates", &user.x509_certificates);

    if let Some(enterprise) = user
        .enterprise
        .as_ref()
        .map(|enterprise| enterprise_to_scim(enterprise, base))
        .filter(|object| !object.is_empty())
    {
        schemas.push(ENTERPRISE_USER_SCHEMA.into());
        out.insert(ENTERPRISE_USER_SCHEMA.into(), Value::Object(enterprise));
    }

    // Custom extensions, grouped by URN (ignoring its case, keeping its first spelling).
    for attribute in &user.custom_attributes {
        let existing = out
            .keys()
            .find(|key| key.starts_with("urn:") && key.eq_ignore_ascii_case(&attribute.schema))
            .cloned();
        let key = match existing {
            Some(key) => key,
            None => {
                schemas.push(attribute.schema.clone().into());
                out.insert(attribute.schema.clone(), Value::Object(Map::new()));
                attribute.schema.clone()
            }
        };
        let value = serde_json::from_str(&attribute.value_json)
            .unwrap_or_else(|_| Value::String(attribute.value_json.clone()));
        if let Some(extension) = out.get_mut(&key).and_then(Value::as_object_mut) {
            extension.insert(attribute.name.clone(), value);
        }
    }

    out.insert("schemas".into(), Value::Array(schemas));
    out.insert(
        "meta".into(),
        meta_to_scim(
            "User",
            user.meta.as_ref(),
            format!("{base}/Users/{}", user.id),
        ),
    );
    Value::Object(out)
}

fn put_string(out: &mut Map<String, Value>, key: &str, value: &Option<String>) {
    if let Some(value) = value {
        out.insert(key.into(), value.clone().into());
    }
}

fn put_multi(out: &mut Map<String, Value>, key: &str, values: &[pb::MultiValue]) {
    if values.is_empty() {
        return;
    }
    let values = values
        .iter()
        .map(|value| {
            let mut object = Map::new();
            object.insert("value".into(), value.value.clone().into());
            put_string(&mut object, "type", &value.r#type);
            put_string(&mut object, "display", &value.display);
            object.insert("primary".into(), value.primary.into());
            Value::Object(object)
        })
        .collect();
    out.insert(key.into(), Value::Array(values));
}

fn name_to_scim(name: &pb::Name) -> Map<String, Value> {
    let mut object = Map::new();
    put_string(&mut object, "formatted", &name.formatted);
    put_string(&mut object, "familyName", &name.family_name);
    put_string(&mut object, "givenName", &name.given_name);
    put_string(&mut object, "middleName", &name.middle_name);
    put_string(&mut object, "honorificPrefix", &name.honorific_prefix);
    put_string(&mut object, "honorificSuffix", &name.honorific_suffix);
    object
}

fn address_to_scim(address: &pb::Address) -> Value {
    let mut object = Map::new();
    put_string(&mut object, "formatted", &address.formatted);
    put_string(&mut object, "streetAddress", &address.street_address);
    put_string(&mut object, "locality", &address.locality);
    put_string(&mut object, "region", &address.region);
    put_string(&mut object, "postalCode", &address.postal_code);
    put_string(&mut object, "country", &address.country);
    put_string(&mut object, "type", &address.r#type);
    object.insert("primary".into(), address.primary.into());
    Value::Object(object)
}

fn enterprise_to_scim(enterprise: &pb::EnterpriseUser, base: &str) -> Map<String, Value> {
    let mut object = Map::new();
    put_string(&mut object, "employeeNumber", &enterprise.employee_number);
    put_string(&mut object, "costCenter", &enterprise.cost_center);
    put_string(&mut object, "organization", &enterprise.organization);
    put_string(&mut object, "division", &enterprise.division);
    put_string(&mut object, "department", &enterprise.department);
    if let Some(manager) = &enterprise.manager {
        // Always the complex form: Entra cannot read a manager given as a bare string
        // (IDP-QUIRKS.md §0.8).
        let mut reference = Map::new();
        if let Some(id) = manager.value.as_deref().filter(|id| !id.is_empty()) {
            reference.insert("value".into(), id.into());
            reference.insert("$ref".into(), format!("{base}/Users/{id}").into());
        }
        put_string(&mut reference, "displayName", &manager.display_name);
        if !reference.is_empty() {
            object.insert("manager".into(), Value::Object(reference));
        }
    }
    object
}

fn meta_to_scim(resource_type: &str, meta: Option<&pb::Meta>, location: String) -> Value {
    let mut object = Map::new();
    object.insert("resourceType".into(), resource_type.into());
    if let Some(meta) = meta {
        if let Some(created) = meta.created.as_ref().and_then(format_timestamp) {
            object.insert("created".into(), created.into());
        }
        if let Some(last_modified) = meta.last_modified.as_ref().and_then(format_timestamp) {
            object.insert("lastModified".into(), last_modified.into());
        }
    }
    object.insert("location".into(), location.into());
    if let Some(meta) = meta {
        object.insert("version".into(), etag(meta.version).into());
    }
    Value::Object(object)
}

/// RFC 3339 in UTC with `Z` (RFC 7643 §2.3.5), fractional seconds only when there are some.
fn format_timestamp(timestamp: &prost_types::Timestamp) -> Option<String> {
    let nanos = u32::try_from(timestamp.nanos).ok()?;
    let time = chrono::DateTime::<chrono::Utc>::from_timestamp(timestamp.seconds, nanos)?;
    Some(time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
}

// ------------------------------------------------------------------------------------------------
// Request bodies: splitting by schema.

/// Where an attribute of a request body belongs.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// The resource's core schema.
    Core,
    /// The enterprise User extension.
    Enterprise,
    /// A custom extension, by URN as first spelled.
    Custom(String),
}

/// One attribute assignment found in a body: `attribute` or `attribute.sub` of a schema.
struct Assignment<'a> {
    target: Target,
    attribute: &'a str,
    sub_attribute: Option<&'a str>,
    value: &'a Value,
}

/// A body's attributes sorted by schema, names as sent (look them up with [`get`]).
#[derive(Default)]
struct Parts {
    core: Map<String, Value>,
    enterprise: Map<String, Value>,
    custom: Vec<(String, Map<String, Value>)>,
}

/// Splits a body into its schemas. `core_urn` is the resource's core schema; `extensions` says
/// whether extension attributes are collected (users) or ignored (groups).
///
/// Whole attributes are applied first and flattened ones (`name.givenName`,
/// `urn:...:enterprise:2.0:User:employeeNumber`) after them, so a flattened value refines (and
/// wins over) the complex value it belongs to, as in Entra's path-less PATCH (IDP-QUIRKS.md §0.5).
fn split_body(body: &Value, core_urn: &str, extensions: bool) -> ScimResult<Parts> {
    let Value::Object(object) = body else {
        return Err(ScimError::invalid_syntax(
            "the request body must be a JSON object",
        ));
    };
    let mut whole = Vec::new();
    let mut flattened = Vec::new();
    for (key, value) in object {
        classify(key, value, core_urn, extensions, &mut whole, &mut flattened)?;
    }
    let mut parts = Parts::default();
    for assignment in whole.into_iter().chain(flattened) {
        let map = match &assignment.target {
            Target::Core => &mut parts.core,
            Target::Enterprise => &mut parts.enterprise,
            Target::Custom(urn) => {
                let index = match parts
                    .custom
                    .iter()
                    .position(|(known, _)| known.eq_ignore_ascii_case(urn))
                {
                    Some(index) => index,
                    None => {
                        parts.custom.push((urn.clone(), Map::new()));
                        parts.custom.len() - 1
                    }
                };
                &mut parts.custom[index].1
            }
        };
        assign(
            map,
            assignment.attribute,
            assignment.sub_attribute,
            assignment.value,
        );
    }
    Ok(parts)
}

/// Sorts one top-level key of a body into whole and flattened assignments.
fn classify<'a>(
    key: &'a str,
    value: &'a Value,
    core_urn: &str,
    extensions: bool,
    whole: &mut Vec<Assignment<'a>>,
    flattened: &mut Vec<Assignment<'a>>,
) -> ScimResult<()> {
    if !starts_with_ignore_case(key, "urn:") {
        push_dotted(Target::Core, key, value, whole, flattened);
        return Ok(());
    }
    if key.eq_ignore_ascii_case(core_urn) {
        // The core schema's attributes nested under its URN: merged as core attributes.
        match value {
            Value::Object(inner) => {
                for (inner_key, inner_value) in inner {
                    push_dotted(Target::Core, inner_key, inner_value, whole, flattened);
                }
            }
            Value::Null => {}
            _ => {
                return Err(ScimError::invalid_value(format!(
                    "{core_urn} must be an object"
                )));
            }
        }
        return Ok(());
    }
    if let Some(rest) = strip_urn_prefix(key, core_urn) {
        push_flattened(Target::Core, rest, value, flattened);
        return Ok(());
    }
    if !extensions || is_scim_protocol_urn(key) {
        return Ok(());
    }
    if key.eq_ignore_ascii_case(ENTERPRISE_USER_SCHEMA) {
        match value {
            Value::Object(inner) => {
                for (inner_key, inner_value) in inner {
                    push_dotted(Target::Enterprise, inner_key, inner_value, whole, flattened);
                }
            }
            Value::Null => {}
            _ => {
                return Err(ScimError::invalid_value(format!(
                    "{ENTERPRISE_USER_SCHEMA} must be an object"
                )));
            }
        }
        return Ok(());
    }
    if let Some(rest) = strip_urn_prefix(key, ENTERPRISE_USER_SCHEMA) {
        push_flattened(Target::Enterprise, rest, value, flattened);
        return Ok(());
    }
    match value {
        // A custom extension object: one attribute per key, names kept whole.
        Value::Object(inner) => {
            for (inner_key, inner_value) in inner {
                whole.push(Assignment {
                    target: Target::Custom(key.to_owned()),
                    attribute: inner_key,
                    sub_attribute: None,
                    value: inner_value,
                });
            }
        }
        Value::Null => {}
        // A flattened custom attribute, `urn:...:User:attribute[.sub]`.
        _ => {
            if let Some((urn, attribute)) = key.rsplit_once(':')
                && urn.matches(':').count() >= 2
                && !attribute.is_empty()
            {
                push_flattened(Target::Custom(urn.to_owned()), attribute, value, flattened);
            }
        }
    }
    Ok(())
}

/// Queues `attribute` (whole) or `attribute.sub` (flattened).
fn push_dotted<'a>(
    target: Target,
    key: &'a str,
    value: &'a Value,
    whole: &mut Vec<Assignment<'a>>,
    flattened: &mut Vec<Assignment<'a>>,
) {
    match key.split_once('.') {
        Some((attribute, sub_attribute)) => flattened.push(Assignment {
            target,
            attribute,
            sub_attribute: Some(sub_attribute),
            value,
        }),
        None => whole.push(Assignment {
            target,
            attribute: key,
            sub_attribute: None,
            value,
        }),
    }
}

/// Queues a URN-prefixed key's `attribute[.sub]`, always among the flattened assignments.
fn push_flattened<'a>(
    target: Target,
    key: &'a str,
    value: &'a Value,
    flattened: &mut Vec<Assignment<'a>>,
) {
    let (attribute, sub_attribute) = match key.split_once('.') {
        Some((attribute, sub_attribute)) => (attribute, Some(sub_attribute)),
        None => (key, None),
    };
    flattened.push(Assignment {
        target,
        attribute,
        sub_attribute,
        value,
    });
}

/// Sets `attribute` or `attribute.sub` in a map whose names compare ignoring case. A sub-attribute
/// refines a complex value (created when absent or null); a multi-valued one is left alone.
fn assign(
    map: &mut Map<String, Value>,
    attribute: &str,
    sub_attribute: Option<&str>,
    value: &Value,
) {
    let existing = map
        .keys()
        .find(|key| key.eq_ignore_ascii_case(attribute))
        .cloned();
    match sub_attribute {
        None => {
            if let Some(existing) = existing {
                map.remove(&existing);
            }
            map.insert(attribute.to_owned(), value.clone());
        }
        Some(sub_attribute) => {
            let key = existing.unwrap_or_else(|| attribute.to_owned());
            let slot = map.entry(key).or_insert(Value::Null);
            if slot.is_null() {
                *slot = Value::Object(Map::new());
            }
            if let Value::Object(complex) = slot {
                assign(complex, sub_attribute, None, value);
            }
        }
    }
}

/// `rest` of `<urn>:rest`, ignoring the URN's case.
fn strip_urn_prefix<'a>(key: &'a str, urn: &str) -> Option<&'a str> {
    let head = key.get(..urn.len())?;
    let rest = key.get(urn.len()..)?.strip_prefix(':')?;
    (head.eq_ignore_ascii_case(urn) && !rest.is_empty()).then_some(rest)
}

fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

/// URNs of SCIM itself (messages, other core schemas) that are never extension data.
fn is_scim_protocol_urn(key: &str) -> bool {
    starts_with_ignore_case(key, "urn:ietf:params:scim:api:")
        || starts_with_ignore_case(key, "urn:ietf:params:scim:schemas:core:")
}

/// A member of an object by name, ignoring case (RFC 7643 §2.1).
fn get<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    object
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value)
}

// ------------------------------------------------------------------------------------------------
// Request bodies: typed values.

/// A string attribute: `null` or absent is `None`, a non-string is `invalidValue`.
fn string_value(value: Option<&Value>, attribute: &str) -> ScimResult<Option<String>> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(ScimError::invalid_value(format!(
            "{attribute} must be a string"
        ))),
    }
}

/// A boolean attribute; `"True"`/`"False"` in any case count (Entra, IDP-QUIRKS.md §0.3).
fn bool_value(value: Option<&Value>, attribute: &str) -> ScimResult<Option<bool>> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(flag)) => Ok(Some(*flag)),
        Some(Value::String(text)) if text.trim().eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(text)) if text.trim().eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(_) => Err(ScimError::invalid_value(format!(
            "{attribute} must be a boolean"
        ))),
    }
}

/// A complex attribute's object (`None` when absent or null).
fn object_value<'a>(
    value: Option<&'a Value>,
    attribute: &str,
) -> ScimResult<Option<&'a Map<String, Value>>> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(object)) => Ok(Some(object)),
        Some(_) => Err(ScimError::invalid_value(format!(
            "{attribute} must be an object"
        ))),
    }
}

/// The elements of a multi-valued complex attribute: an array of objects, or one object standing
/// for a one-element array; null elements are skipped.
fn elements<'a>(
    value: Option<&'a Value>,
    attribute: &str,
) -> ScimResult<Vec<&'a Map<String, Value>>> {
    let invalid = || ScimError::invalid_value(format!("{attribute} must be an array of objects"));
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(object)) => Ok(vec![object]),
        Some(Value::Array(items)) => items
            .iter()
            .filter(|item| !item.is_null())
            .map(|item| item.as_object().ok_or_else(invalid))
            .collect(),
        Some(_) => Err(invalid()),
    }
}

fn multi_values(object: &Map<String, Value>, attribute: &str) -> ScimResult<Vec<pb::MultiValue>> {
    elements(get(object, attribute), attribute)?
        .into_iter()
        .map(|element| {
            Ok(pb::MultiValue {
                value: string_value(get(element, "value"), &format!("{attribute}.value"))?
                    .unwrap_or_default(),
                r#type: string_value(get(element, "type"), &format!("{attribute}.type"))?,
                display: string_value(get(element, "display"), &format!("{attribute}.display"))?,
                primary: bool_value(get(element, "primary"), &format!("{attribute}.primary"))?
                    .unwrap_or(false),
            })
        })
        .collect()
}

fn addresses(object: &Map<String, Value>) -> ScimResult<Vec<pb::Address>> {
    elements(get(object, "addresses"), "addresses")?
        .into_iter()
        .map(|element| {
            let field = |name: &str| string_value(get(element, name), &format!("addresses.{name}"));
            Ok(pb::Address {
                formatted: field("formatted")?,
                street_address: field("streetAddress")?,
                locality: field("locality")?,
                region: field("region")?,
                postal_code: field("postalCode")?,
                country: field("country")?,
                r#type: field("type")?,
                primary: bool_value(get(element, "primary"), "addresses.primary")?.unwrap_or(false),
            })
        })
        .collect()
}

fn name(object: &Map<String, Value>) -> ScimResult<Option<pb::Name>> {
    let Some(name) = object_value(get(object, "name"), "name")? else {
        return Ok(None);
    };
    let field = |sub: &str| string_value(get(name, sub), &format!("name.{sub}"));
    let name = pb::Name {
        formatted: field("formatted")?,
        family_name: field("familyName")?,
        given_name: field("givenName")?,
        middle_name: field("middleName")?,
        honorific_prefix: field("honorificPrefix")?,
        honorific_suffix: field("honorificSuffix")?,
    };
    Ok((name != pb::Name::default()).then_some(name))
}

/// The id at the end of a `$ref` URI (`.../Users/<id>`), for references that carry no `value`.
fn id_from_ref(reference: Option<&Value>) -> Option<String> {
    let reference = reference?.as_str()?.trim_end_matches('/');
    let id = reference.rsplit('/').next()?;
    (!id.is_empty() && id != reference).then(|| id.to_owned())
}

/// The enterprise `manager`: a bare id (Entra, IDP-QUIRKS.md §0.8), the RFC's complex form, or
/// Entra's old one-element array of it. `$ref` is read only when `value` is missing.
fn manager(value: Option<&Value>) -> ScimResult<Option<pb::Manager>> {
    const ATTRIBUTE: &str = "manager";
    let object = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(id)) => {
            return Ok(Some(pb::Manager {
                value: Some(id.clone()),
                display_name: None,
            }));
        }
        Some(Value::Object(object)) => object,
        Some(Value::Array(items)) => match items.as_slice() {
            [] => return Ok(None),
            [single] => return manager(Some(single)),
            _ => return Err(ScimError::invalid_value("manager must be a single value")),
        },
        Some(_) => {
            return Err(ScimError::invalid_value(
                "manager must be an object or an id",
            ));
        }
    };
    let by_ref = id_from_ref(get(object, "$ref"));
    let value = match string_value(get(object, "value"), &format!("{ATTRIBUTE}.value"))? {
        Some(value) => {
            if by_ref.as_ref().is_some_and(|by_ref| *by_ref != value) {
                return Err(ScimError::invalid_value(
                    "manager.value and manager.$ref name different users",
                ));
            }
            Some(value)
        }
        None => by_ref,
    };
    let display_name = string_value(
        get(object, "displayName"),
        &format!("{ATTRIBUTE}.displayName"),
    )?;
    Ok(
        (value.is_some() || display_name.is_some()).then_some(pb::Manager {
            value,
            display_name,
        }),
    )
}

fn enterprise(object: &Map<String, Value>) -> ScimResult<Option<pb::EnterpriseUser>> {
    let field = |name: &str| string_value(get(object, name), name);
    let enterprise = pb::EnterpriseUser {
        employee_number: field("employeeNumber")?,
        cost_center: field("costCenter")?,
        organization: field("organization")?,
        division: field("division")?,
        department: field("department")?,
        manager: manager(get(object, "manager"))?,
    };
    Ok((enterprise != pb::EnterpriseUser::default()).then_some(enterprise))
}

// ------------------------------------------------------------------------------------------------
// Users: SCIM -> contract.

/// A user from a POST or PUT body, or from the SCIM form of a user after PATCH operations.
///
/// `id`, `meta`, `groups`, `schemas` and `password` are ignored (the route takes the id from the
/// URL; a password is never stored), as are unknown core attributes. Custom extension attributes
/// become one [`pb::CustomAttribute`] per attribute (`value_json` holds the value serialised; a
/// `null` value is dropped). Errors: a body that is not an object is 400 `invalidSyntax`; a missing
/// `userName` or a value of the wrong JSON type is 400 `invalidValue` naming the attribute.
pub fn user_from_scim(body: &Value) -> ScimResult<pb::User> {
    let parts = split_body(body, USER_SCHEMA, true)?;
    let core = &parts.core;
    let user_name = match get(core, "userName") {
        None | Some(Value::Null) => return Err(ScimError::invalid_value("userName is required")),
        Some(Value::String(user_name)) => user_name.clone(),
        Some(_) => return Err(ScimError::invalid_value("userName must be a string")),
    };
    let field = |name: &str| string_value(get(core, name), name);
    let mut custom_attributes = Vec::new();
    for (urn, attributes) in &parts.custom {
        for (name, value) in attributes {
            if !value.is_null() {
                custom_attributes.push(pb::CustomAttribute {
                    schema: urn.clone(),
                    name: name.clone(),
                    value_json: value.to_string(),
                });
            }
        }
    }
    Ok(pb::User {
        id: String::new(),
        external_id: field("externalId")?,
        user_name,
        name: name(core)?,
        display_name: field("displayName")?,
        nick_name: field("nickName")?,
        profile_url: field("profileUrl")?,
        title: field("title")?,
        user_type: field("userType")?,
        preferred_language: field("preferredLanguage")?,
        locale: field("locale")?,
        timezone: field("timezone")?,
        active: bool_value(get(core, "active"), "active")?,
        emails: multi_values(core, "emails")?,
        phone_numbers: multi_values(core, "phoneNumbers")?,
        ims: multi_values(core, "ims")?,
        photos: multi_values(core, "photos")?,
        addresses: addresses(core)?,
        entitlements: multi_values(core, "entitlements")?,
        roles: multi_values(core, "roles")?,
        x509_certificates: multi_values(core, "x509Certificates")?,
        enterprise: enterprise(&parts.enterprise)?,
        custom_attributes,
        groups: Vec::new(),
        meta: None,
    })
}

// ------------------------------------------------------------------------------------------------
// Groups.

fn member_type_name(member_type: pb::MemberType) -> Option<(&'static str, &'static str)> {
    match member_type {
        pb::MemberType::User => Some(("User", "Users")),
        pb::MemberType::Group => Some(("Group", "Groups")),
        pb::MemberType::Unspecified => None,
    }
}

/// The SCIM representation of a group (RFC 7643 §4.2, §8.4). `members`: `None` omits the attribute
/// (members were not read, or not wanted), `Some(&[])` renders `"members": []`. A member of
/// unspecified type is rendered without `type` and `$ref`; an empty `display` is omitted.
pub fn group_to_scim(group: &pb::Group, members: Option<&[pb::Member]>, base_url: &str) -> Value {
    let base = base_url.trim_end_matches('/');
    let mut out = Map::new();
    out.insert("schemas".into(), Value::Array(vec![GROUP_SCHEMA.into()]));
    out.insert("id".into(), group.id.clone().into());
    put_string(&mut out, "externalId", &group.external_id);
    out.insert("displayName".into(), group.display_name.clone().into());
    if let Some(members) = members {
        let members = members
            .iter()
            .map(|member| {
                let mut object = Map::new();
                object.insert("value".into(), member.value.clone().into());
                if !member.display.is_empty() {
                    object.insert("display".into(), member.display.clone().into());
                }
                if let Some((kind, endpoint)) = member_type_name(member.r#type()) {
                    object.insert("type".into(), kind.into());
                    object.insert(
                        "$ref".into(),
                        format!("{base}/{endpoint}/{}", member.value).into(),
                    );
                }
                Value::Object(object)
            })
            .collect();
        out.insert("members".into(), Value::Array(members));
    }
    out.insert(
        "meta".into(),
        meta_to_scim(
            "Group",
            group.meta.as_ref(),
            format!("{base}/Groups/{}", group.id),
        ),
    );
    Value::Object(out)
}

/// A group from a POST or PUT body (or the SCIM form of a group after PATCH operations):
/// `displayName` (required string), `externalId` and `members`. Each member needs a string `value`
/// (or a `$ref` ending in the id); `type` is `User` or `Group` in any case, or absent; `$ref` may be
/// `null`; `display` is ignored. `id`, `meta`, `schemas` and extension URNs are ignored. Errors as
/// for [`user_from_scim`].
pub fn group_from_scim(body: &Value) -> ScimResult<pb::Group> {
    let parts = split_body(body, GROUP_SCHEMA, false)?;
    let core = &parts.core;
    let display_name = match get(core, "displayName") {
        None | Some(Value::Null) => {
            return Err(ScimError::invalid_value("displayName is required"));
        }
        Some(Value::String(display_name)) => display_name.clone(),
        Some(_) => return Err(ScimError::invalid_value("displayName must be a string")),
    };
    let members = elements(get(core, "members"), "members")?
        .into_iter()
        .map(|element| {
            let value = match string_value(get(element, "value"), "members.value")? {
                Some(value) => value,
                None => id_from_ref(get(element, "$ref"))
                    .ok_or_else(|| ScimError::invalid_value("members.value is required"))?,
            };
            let member_type = match string_value(get(element, "type"), "members.type")? {
                None => pb::MemberType::Unspecified,
                Some(kind) if kind.eq_ignore_ascii_case("user") => pb::MemberType::User,
                Some(kind) if kind.eq_ignore_ascii_case("group") => pb::MemberType::Group,
                Some(_) => {
                    return Err(ScimError::invalid_value(
                        "members.type must be User or Group",
                    ));
                }
            };
            Ok(pb::Member {
                value,
                r#type: member_type.into(),
                display: String::new(),
            })
        })
        .collect::<ScimResult<Vec<_>>>()?;
    Ok(pb::Group {
        id: String::new(),
        external_id: string_value(get(core, "externalId"), "externalId")?,
        display_name,
        members,
        meta: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use serde_json::json;

    const BASE: &str = "https://scim.example.com/scim/v2/";
    const ACME: &str = "urn:example:params:scim:schemas:extension:acme:2.0:User";

    fn timestamp(seconds: i64, nanos: i32) -> Option<prost_types::Timestamp> {
        Some(prost_types::Timestamp { seconds, nanos })
    }

    fn multi(value: &str, kind: &str, primary: bool) -> pb::MultiValue {
        pb::MultiValue {
            value: value.into(),
            r#type: Some(kind.into()),
            display: Some(format!("{value} ({kind})")),
            primary,
        }
    }

    fn full_user() -> pb::User {
        pb::User {
            id: "2819c223-7f76-453a-919d-413861904646".into(),
            external_id: Some("00ujl29u0le5T6Aj10h7".into()),
            user_name: "bjensen@example.com".into(),
            name: Some(pb::Name {
                formatted: Some("Ms. Barbara J Jensen, III".into()),
                family_name: Some("Jensen".into()),
                given_name: Some("Barbara".into()),
                middle_name: Some("Jane".into()),
                honorific_prefix: Some("Ms.".into()),
                honorific_suffix: Some("III".into()),
            }),
            display_name: Some("Babs Jensen".into()),
            nick_name: Some("Babs".into()),
            profile_url: Some("https://login.example.com/bjensen".into()),
            title: Some("Tour Guide".into()),
            user_type: Some("Employee".into()),
            preferred_language: Some("en-US".into()),
            locale: Some("en-US".into()),
            timezone: Some("America/Los_Angeles".into()),
            active: Some(false),
            emails: vec![
                multi("bjensen@example.com", "work", true),
                multi("babs@jensen.org", "home", false),
            ],
            phone_numbers: vec![multi("555-555-5555", "work", true)],
            ims: vec![multi("someaimhandle", "aim", false)],
            photos: vec![multi(
                "https://photos.example.com/profilephoto/72930000000Ccne/F",
                "photo",
                true,
            )],
            addresses: vec![pb::Address {
                formatted: Some("100 Universal City Plaza\nHollywood, CA 91608 USA".into()),
                street_address: Some("100 Universal City Plaza".into()),
                locality: Some("Hollywood".into()),
                region: Some("CA".into()),
                postal_code: Some("91608".into()),
                country: Some("US".into()),
                r#type: Some("work".into()),
                primary: true,
            }],
            entitlements: vec![multi("Large Office", "building", false)],
            roles: vec![multi("Tour Guide", "job", true)],
            x509_certificates: vec![multi("MIIDQzCCAqygAwIBAgICEAAwDQYJ", "signing", false)],
            enterprise: Some(pb::EnterpriseUser {
                employee_number: Some("701984".into()),
                cost_center: Some("4130".into()),
                organization: Some("Universal Studios".into()),
                division: Some("Theme Park".into()),
                department: Some("Tour Operations".into()),
                manager: Some(pb::Manager {
                    value: Some("26118915-6090-4610-87e4-49d8ca9f808d".into()),
                    display_name: Some("John Smith".into()),
                }),
            }),
            // In the order the SCIM object yields them back (URN, then attribute name).
            custom_attributes: vec![
                pb::CustomAttribute {
                    schema: ACME.into(),
                    name: "badge".into(),
                    value_json: "42".into(),
                },
                pb::CustomAttribute {
                    schema: ACME.into(),
                    name: "tags".into(),
                    value_json: r#"["a","b"]"#.into(),
                },
            ],
            groups: vec![pb::UserGroupRef {
                value: "e9e30dba-f08f-4109-8486-d5c6a331660a".into(),
                display: "Tour Guides".into(),
            }],
            meta: Some(pb::Meta {
                created: timestamp(1_704_164_645, 0),
                last_modified: timestamp(1_704_164_645, 500_000_000),
                version: 7,
            }),
        }
    }

    /// No `null` anywhere in a rendered resource.
    fn assert_no_nulls(value: &Value, at: &str) {
        match value {
            Value::Null => panic!("null at {at}"),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .for_each(|(index, item)| assert_no_nulls(item, &format!("{at}[{index}]"))),
            Value::Object(object) => object
                .iter()
                .for_each(|(key, item)| assert_no_nulls(item, &format!("{at}.{key}"))),
            _ => {}
        }
    }

    fn error_of<T: std::fmt::Debug>(result: ScimResult<T>) -> ScimError {
        result.expect_err("expected an error")
    }

    #[test]
    fn full_user_renders_the_rfc_representation() {
        let user = full_user();
        let scim = user_to_scim(&user, BASE);
        assert_no_nulls(&scim, "$");
        assert_eq!(
            scim["schemas"],
            json!([USER_SCHEMA, ENTERPRISE_USER_SCHEMA, ACME])
        );
        assert_eq!(scim["id"], json!(user.id));
        assert_eq!(scim["externalId"], "00ujl29u0le5T6Aj10h7");
        assert_eq!(scim["userName"], "bjensen@example.com");
        assert_eq!(scim["name"]["givenName"], "Barbara");
        assert_eq!(scim["active"], json!(false));
        assert_eq!(
            scim["emails"][0],
            json!({"value": "bjensen@example.com", "type": "work", "display": "bjensen@example.com (work)", "primary": true})
        );
        assert_eq!(
            scim["addresses"][0]["streetAddress"],
            "100 Universal City Plaza"
        );
        assert_eq!(scim["addresses"][0]["primary"], json!(true));
        assert_eq!(
            scim["x509Certificates"][0]["value"],
            "MIIDQzCCAqygAwIBAgICEAAwDQYJ"
        );
        assert_eq!(
            scim["groups"],
            json!([{
                "value": "e9e30dba-f08f-4109-8486-d5c6a331660a",
                "display": "Tour Guides",
                "$ref": "https://scim.example.com/scim/v2/Groups/e9e30dba-f08f-4109-8486-d5c6a331660a",
                "type": "direct",
            }])
        );
        let enterprise = &scim[ENTERPRISE_USER_SCHEMA];
        assert_eq!(enterprise["employeeNumber"], "701984");
        assert_eq!(
            enterprise["manager"],
            json!({
                "value": "26118915-6090-4610-87e4-49d8ca9f808d",
                "displayName": "John Smith",
                "$ref": "https://scim.example.com/scim/v2/Users/26118915-6090-4610-87e4-49d8ca9f808d",
            })
        );
        assert_eq!(scim[ACME], json!({"badge": 42, "tags": ["a", "b"]}));
        assert_eq!(
            scim["meta"],
            json!({
                "resourceType": "User",
                "created": "2024-01-02T03:04:05Z",
                "lastModified": "2024-01-02T03:04:05.500Z",
                "location": "https://scim.example.com/scim/v2/Users/2819c223-7f76-453a-919d-413861904646",
                "version": "W/\"7\"",
            })
        );
        assert!(scim.get("password").is_none());
    }

    #[test]
    fn full_user_round_trips() {
        let user = full_user();
        let back = user_from_scim(&user_to_scim(&user, BASE)).unwrap();
        // `id`, `groups` and `meta` are read-only: the route takes them from elsewhere.
        let expected = pb::User {
            id: String::new(),
            groups: Vec::new(),
            meta: None,
            ..user
        };
        assert_eq!(back, expected);
    }

    #[test]
    fn minimal_user_omits_absent_values() {
        let user = pb::User {
            id: "1".into(),
            user_name: "alice".into(),
            ..Default::default()
        };
        let scim = user_to_scim(&user, "https://h/scim/v2");
        assert_no_nulls(&scim, "$");
        let mut keys: Vec<&str> = scim
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, ["id", "meta", "schemas", "userName"]);
        assert_eq!(scim["schemas"], json!([USER_SCHEMA]));
        assert_eq!(
            scim["meta"],
            json!({"resourceType": "User", "location": "https://h/scim/v2/Users/1"})
        );
        // An enterprise extension or name with nothing in it is not rendered.
        let user = pb::User {
            enterprise: Some(Default::default()),
            name: Some(Default::default()),
            ..user
        };
        let scim = user_to_scim(&user, "https://h/scim/v2");
        assert_eq!(scim["schemas"], json!([USER_SCHEMA]));
        assert!(scim.get(ENTERPRISE_USER_SCHEMA).is_none() && scim.get("name").is_none());
    }

    #[test]
    fn okta_create_body() {
        // IDP-QUIRKS.md §1.3.
        let body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "test.user@okta.local",
            "name": {"givenName": "Test", "familyName": "User"},
            "emails": [{"primary": true, "value": "test.user@okta.local", "type": "work"}],
            "displayName": "Test User", "locale": "en-US", "externalId": "00ujl29u0le5T6Aj10h7",
            "groups": [], "password": "1mz050nq", "active": true
        });
        let user = user_from_scim(&body).unwrap();
        assert_eq!(user.user_name, "test.user@okta.local");
        assert_eq!(
            user.name.as_ref().unwrap().given_name.as_deref(),
            Some("Test")
        );
        assert_eq!(
            user.name.as_ref().unwrap().family_name.as_deref(),
            Some("User")
        );
        assert_eq!(
            user.emails,
            vec![pb::MultiValue {
                value: "test.user@okta.local".into(),
                r#type: Some("work".into()),
                display: None,
                primary: true
            }]
        );
        assert_eq!(user.display_name.as_deref(), Some("Test User"));
        assert_eq!(user.locale.as_deref(), Some("en-US"));
        assert_eq!(user.external_id.as_deref(), Some("00ujl29u0le5T6Aj10h7"));
        assert_eq!(user.active, Some(true));
        assert!(
            user.groups.is_empty()
                && user.custom_attributes.is_empty()
                && user.enterprise.is_none()
        );
        // The password is dropped on the floor and never rendered.
        let rendered = user_to_scim(
            &pb::User {
                id: "x".into(),
                ..user
            },
            BASE,
        )
        .to_string();
        assert!(!rendered.contains("1mz050nq") && !rendered.contains("password"));
    }

    #[test]
    fn okta_put_body_with_id_meta_and_legacy_dates() {
        // IDP-QUIRKS.md §1.4: read-only `id`, `meta` (even with non-ISO dates) and `groups` are ignored.
        let body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "23a35c27",
            "userName": "test.user@okta.local",
            "name": {"givenName": "Another", "middleName": "Excited", "familyName": "User"},
            "emails": [{"primary": true, "value": "test.user@okta.local", "type": "work", "display": "test.user@okta.local"}],
            "active": true, "groups": [], "meta": {"resourceType": "User", "created": "04-12-2018 00:00:00"}
        });
        let user = user_from_scim(&body).unwrap();
        assert_eq!(user.id, "");
        assert!(user.meta.is_none());
        assert_eq!(user.name.unwrap().middle_name.as_deref(), Some("Excited"));
        assert_eq!(
            user.emails[0].display.as_deref(),
            Some("test.user@okta.local")
        );
    }

    #[test]
    fn entra_create_body() {
        // IDP-QUIRKS.md §2.3, with the string booleans, flattened extension keys and bare manager
        // Entra is known to send.
        let body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
            "userName": "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
            "active": "True",
            "emails": [{"primary": "True", "type": "work", "value": "Test_User_11bb11bb@testuser.com"}],
            "meta": {"resourceType": "User"},
            "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
            "roles": [],
            "addresses": null,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "42",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Sales", "manager": "2c2f6fb8-254f-492e-b7fe-c09c5a61c8a2"}
        });
        let user = user_from_scim(&body).unwrap();
        assert_eq!(user.active, Some(true));
        assert!(user.emails[0].primary);
        assert!(user.roles.is_empty() && user.addresses.is_empty());
        assert_eq!(
            user.external_id.as_deref(),
            Some("0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef")
        );
        assert_eq!(
            user.name.as_ref().unwrap().formatted.as_deref(),
            Some("givenName familyName")
        );
        let enterprise = user.enterprise.clone().unwrap();
        assert_eq!(enterprise.employee_number.as_deref(), Some("42"));
        assert_eq!(enterprise.department.as_deref(), Some("Sales"));
        assert_eq!(
            enterprise.manager,
            Some(pb::Manager {
                value: Some("2c2f6fb8-254f-492e-b7fe-c09c5a61c8a2".into()),
                display_name: None
            })
        );
        // The manager goes back out in the complex form (IDP-QUIRKS.md §0.8).
        let scim = user_to_scim(
            &pb::User {
                id: "u1".into(),
                ..user
            },
            BASE,
        );
        assert_eq!(
            scim[ENTERPRISE_USER_SCHEMA]["manager"],
            json!({"value": "2c2f6fb8-254f-492e-b7fe-c09c5a61c8a2", "$ref": "https://scim.example.com/scim/v2/Users/2c2f6fb8-254f-492e-b7fe-c09c5a61c8a2"})
        );
        // "False" as well.
        let user = user_from_scim(&json!({"userName": "a", "active": "False", "roles": [{"value": "Admin", "primary": "false"}]})).unwrap();
        assert_eq!(user.active, Some(false));
        assert!(!user.roles[0].primary);
    }

    #[test]
    fn flattened_keys_refine_complex_values() {
        // Entra's path-less PATCH style (IDP-QUIRKS.md §0.5), as a merged document.
        let body = json!({
            "userName": "a",
            "name": {"givenName": "Old", "familyName": "Keep"},
            "name.givenName": "New",
            "urn:ietf:params:scim:schemas:core:2.0:User:title": "Boss",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "1", "costCenter": "cc"},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "2",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value": "m1",
            "urn:ietf:params:scim:schemas:core:2.0:User": {"nickName": "Nick"}
        });
        let user = user_from_scim(&body).unwrap();
        let name = user.name.unwrap();
        assert_eq!(
            (name.given_name.as_deref(), name.family_name.as_deref()),
            (Some("New"), Some("Keep"))
        );
        assert_eq!(user.title.as_deref(), Some("Boss"));
        assert_eq!(user.nick_name.as_deref(), Some("Nick"));
        let enterprise = user.enterprise.unwrap();
        assert_eq!(enterprise.employee_number.as_deref(), Some("2"));
        assert_eq!(enterprise.cost_center.as_deref(), Some("cc"));
        assert_eq!(enterprise.manager.unwrap().value.as_deref(), Some("m1"));
    }

    #[test]
    fn names_ignore_case_and_single_objects_are_arrays() {
        let body = json!({
            "USERNAME": "bob",
            "Emails": {"Value": "bob@example.com", "TYPE": "work", "Primary": "TRUE"},
            "NAME": {"GIVENNAME": "Bob"},
            "Active": false,
            "URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER": {"Manager": {"Value": "m", "$REF": "x", "DisplayName": "Boss"}}
        });
        let user = user_from_scim(&body).unwrap();
        assert_eq!(user.user_name, "bob");
        assert_eq!(
            user.emails,
            vec![pb::MultiValue {
                value: "bob@example.com".into(),
                r#type: Some("work".into()),
                display: None,
                primary: true
            }]
        );
        assert_eq!(user.name.unwrap().given_name.as_deref(), Some("Bob"));
        assert_eq!(user.active, Some(false));
        assert_eq!(
            user.enterprise.unwrap().manager,
            Some(pb::Manager {
                value: Some("m".into()),
                display_name: Some("Boss".into())
            })
        );
    }

    #[test]
    fn manager_value_and_ref_must_agree() {
        let body = json!({"userName": "a", ENTERPRISE_USER_SCHEMA: {"manager": {
            "value": "m1", "$ref": "https://h/scim/v2/Users/m2"}}});
        assert_eq!(
            user_from_scim(&body).unwrap_err().scim_type,
            Some("invalidValue")
        );
    }

    #[test]
    fn manager_forms() {
        let manager_of = |manager: Value| {
            user_from_scim(&json!({"userName": "a", ENTERPRISE_USER_SCHEMA: {"manager": manager}}))
                .unwrap()
                .enterprise
                .and_then(|e| e.manager)
        };
        let id = |id: &str| {
            Some(pb::Manager {
                value: Some(id.into()),
                display_name: None,
            })
        };
        assert_eq!(manager_of(json!("m1")), id("m1"));
        assert_eq!(manager_of(json!({"value": "m2"})), id("m2"));
        assert_eq!(
            manager_of(json!({"$ref": "https://h/scim/v2/Users/m3"})),
            id("m3")
        );
        assert_eq!(
            manager_of(json!([{"$ref": "https://h/Users/m4", "value": "m4"}])),
            id("m4")
        );
        assert_eq!(manager_of(json!([])), None);
        assert_eq!(manager_of(json!(null)), None);
        let error = error_of(user_from_scim(
            &json!({"userName": "a", ENTERPRISE_USER_SCHEMA: {"manager": 5}}),
        ));
        assert_eq!(error.scim_type, Some("invalidValue"));
        assert!(error.detail.contains("manager"), "{}", error.detail);
    }

    #[test]
    fn custom_extensions_nested_and_flattened() {
        let body = json!({
            "userName": "a",
            ACME: {"badge": 42, "tags": ["x"], "skipped": null},
            "urn:example:params:scim:schemas:extension:acme:2.0:User:floor": "3",
            "urn:other:ext:level": {"deep": true},
            "urn:ietf:params:scim:api:messages:2.0:PatchOp": {"ignored": true},
            "urn:ietf:params:scim:schemas:core:2.0:Group": {"ignored": true}
        });
        let user = user_from_scim(&body).unwrap();
        // One attribute per key, in URN then name order; the flattened key joins its extension.
        let custom: Vec<(&str, &str, &str)> = user
            .custom_attributes
            .iter()
            .map(|attribute| {
                (
                    attribute.schema.as_str(),
                    attribute.name.as_str(),
                    attribute.value_json.as_str(),
                )
            })
            .collect();
        assert_eq!(
            custom,
            [
                (ACME, "badge", "42"),
                (ACME, "floor", r#""3""#),
                (ACME, "tags", r#"["x"]"#),
                ("urn:other:ext:level", "deep", "true")
            ]
        );
    }

    #[test]
    fn wrong_types_are_invalid_values_naming_the_attribute() {
        let cases = [
            (json!({"userName": "a", "emails": "a@b.c"}), "emails"),
            (json!({"userName": "a", "emails": [5]}), "emails"),
            (json!({"userName": "a", "active": 5}), "active"),
            (json!({"userName": "a", "active": "yes"}), "active"),
            (json!({"userName": 5}), "userName"),
            (json!({"displayName": "no user name"}), "userName"),
            (json!({"userName": null}), "userName"),
            (json!({"userName": "a", "name": "Bob"}), "name"),
            (
                json!({"userName": "a", "name": {"givenName": 3}}),
                "name.givenName",
            ),
            (
                json!({"userName": "a", "emails": [{"value": "x", "primary": 1}]}),
                "emails.primary",
            ),
            (
                json!({"userName": "a", "phoneNumbers": [{"value": 5555}]}),
                "phoneNumbers.value",
            ),
            (
                json!({"userName": "a", "addresses": [{"locality": []}]}),
                "addresses.locality",
            ),
            (json!({"userName": "a", "externalId": 1}), "externalId"),
            (
                json!({"userName": "a", ENTERPRISE_USER_SCHEMA: "x"}),
                ENTERPRISE_USER_SCHEMA,
            ),
            (
                json!({"userName": "a", ENTERPRISE_USER_SCHEMA: {"department": 1}}),
                "department",
            ),
        ];
        for (body, attribute) in cases {
            let error = error_of(user_from_scim(&body));
            assert_eq!(error.status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(error.scim_type, Some("invalidValue"), "{body}");
            assert!(error.detail.contains(attribute), "{body}: {}", error.detail);
        }
        for body in [json!([]), json!("user"), json!(null)] {
            let error = error_of(user_from_scim(&body));
            assert_eq!(
                (error.status, error.scim_type),
                (StatusCode::BAD_REQUEST, Some("invalidSyntax"))
            );
        }
        let error = error_of(group_from_scim(&json!([1])));
        assert_eq!(error.scim_type, Some("invalidSyntax"));
    }

    fn full_group() -> pb::Group {
        pb::Group {
            id: "e9e30dba-f08f-4109-8486-d5c6a331660a".into(),
            external_id: Some("ext-7".into()),
            display_name: "Tour Guides".into(),
            members: Vec::new(),
            meta: Some(pb::Meta {
                created: timestamp(1_704_164_645, 0),
                last_modified: timestamp(1_704_164_700, 0),
                version: 3,
            }),
        }
    }

    fn members() -> Vec<pb::Member> {
        vec![
            pb::Member {
                value: "u1".into(),
                r#type: pb::MemberType::User.into(),
                display: "Babs Jensen".into(),
            },
            pb::Member {
                value: "g2".into(),
                r#type: pb::MemberType::Group.into(),
                display: "Night Shift".into(),
            },
        ]
    }

    #[test]
    fn group_renders_and_round_trips() {
        let group = full_group();
        let members = members();
        let scim = group_to_scim(&group, Some(&members), BASE);
        assert_no_nulls(&scim, "$");
        assert_eq!(
            scim,
            json!({
                "schemas": [GROUP_SCHEMA],
                "id": "e9e30dba-f08f-4109-8486-d5c6a331660a",
                "externalId": "ext-7",
                "displayName": "Tour Guides",
                "members": [
                    {"value": "u1", "display": "Babs Jensen", "type": "User", "$ref": "https://scim.example.com/scim/v2/Users/u1"},
                    {"value": "g2", "display": "Night Shift", "type": "Group", "$ref": "https://scim.example.com/scim/v2/Groups/g2"},
                ],
                "meta": {
                    "resourceType": "Group",
                    "created": "2024-01-02T03:04:05Z",
                    "lastModified": "2024-01-02T03:05:00Z",
                    "location": "https://scim.example.com/scim/v2/Groups/e9e30dba-f08f-4109-8486-d5c6a331660a",
                    "version": "W/\"3\"",
                },
            })
        );
        let back = group_from_scim(&scim).unwrap();
        // `display` is read-only, so it does not come back.
        let expected_members: Vec<pb::Member> = members
            .into_iter()
            .map(|member| pb::Member {
                display: String::new(),
                ..member
            })
            .collect();
        assert_eq!(
            back,
            pb::Group {
                id: String::new(),
                meta: None,
                members: expected_members,
                ..group
            }
        );
    }

    #[test]
    fn group_members_none_or_empty() {
        let group = full_group();
        assert!(group_to_scim(&group, None, BASE).get("members").is_none());
        assert_eq!(group_to_scim(&group, Some(&[]), BASE)["members"], json!([]));
        let unspecified = [pb::Member {
            value: "x".into(),
            ..Default::default()
        }];
        assert_eq!(
            group_to_scim(&group, Some(&unspecified), BASE)["members"],
            json!([{"value": "x"}])
        );
    }

    #[test]
    fn idp_group_bodies() {
        // Okta group push (IDP-QUIRKS.md §1.5).
        let group = group_from_scim(
            &json!({"schemas": [GROUP_SCHEMA], "displayName": "Test SCIMv2", "members": []}),
        )
        .unwrap();
        assert_eq!(group.display_name, "Test SCIMv2");
        assert!(group.members.is_empty());
        // Entra (IDP-QUIRKS.md §2.4): an extra Microsoft schema URI and `meta`.
        let group = group_from_scim(&json!({
            "schemas": [GROUP_SCHEMA, "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
            "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159", "displayName": "displayName", "meta": {"resourceType": "Group"}
        }))
        .unwrap();
        assert_eq!(
            group.external_id.as_deref(),
            Some("8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159")
        );
        // Members with `$ref: null`, `display`, any-case names and types, a single object.
        let group = group_from_scim(&json!({
            "DISPLAYNAME": "g", "id": "ignored",
            "Members": [
                {"$ref": null, "value": "f648f8d5ea4e4cd38e9c"},
                {"VALUE": "u2", "display": "ignored", "Type": "user"},
                {"value": "g3", "type": "GROUP"},
                {"$ref": "https://h/scim/v2/Users/u4"}
            ]
        }))
        .unwrap();
        assert_eq!(group.id, "");
        let members: Vec<(&str, pb::MemberType, &str)> = group
            .members
            .iter()
            .map(|member| {
                (
                    member.value.as_str(),
                    member.r#type(),
                    member.display.as_str(),
                )
            })
            .collect();
        assert_eq!(
            members,
            [
                ("f648f8d5ea4e4cd38e9c", pb::MemberType::Unspecified, ""),
                ("u2", pb::MemberType::User, ""),
                ("g3", pb::MemberType::Group, ""),
                ("u4", pb::MemberType::Unspecified, ""),
            ]
        );
        let group =
            group_from_scim(&json!({"displayName": "g", "members": {"value": "solo"}})).unwrap();
        assert_eq!(group.members.len(), 1);
        // The core URN object and flattened keys work as for users.
        let group = group_from_scim(&json!({GROUP_SCHEMA: {"displayName": "nested"}, "urn:ietf:params:scim:schemas:core:2.0:Group:externalId": "e"})).unwrap();
        assert_eq!(
            (group.display_name.as_str(), group.external_id.as_deref()),
            ("nested", Some("e"))
        );
    }

    #[test]
    fn group_wrong_types() {
        let cases = [
            (json!({}), "displayName"),
            (json!({"displayName": 1}), "displayName"),
            (json!({"displayName": "g", "members": "u1"}), "members"),
            (
                json!({"displayName": "g", "members": [{"display": "no value"}]}),
                "members.value",
            ),
            (
                json!({"displayName": "g", "members": [{"value": 7}]}),
                "members.value",
            ),
            (
                json!({"displayName": "g", "members": [{"value": "u", "type": "Device"}]}),
                "members.type",
            ),
            (
                json!({"displayName": "g", "externalId": false}),
                "externalId",
            ),
        ];
        for (body, attribute) in cases {
            let error = error_of(group_from_scim(&body));
            assert_eq!(error.scim_type, Some("invalidValue"), "{body}");
            assert!(error.detail.contains(attribute), "{body}: {}", error.detail);
        }
    }

    #[test]
    fn etags() {
        assert_eq!(etag(3), "W/\"3\"");
        assert_eq!(parse_etag("W/\"3\""), Some(3));
        assert_eq!(parse_etag("w/\"12\""), Some(12));
        assert_eq!(parse_etag(" \"3\" "), Some(3));
        assert_eq!(parse_etag("3"), Some(3));
        assert_eq!(parse_etag(&etag(i64::MAX)), Some(i64::MAX));
        for other in [
            "*",
            "",
            "W/",
            "\"\"",
            "\"abc\"",
            "W/\"3\", W/\"4\"",
            "\"3",
            "W/\"+3\"",
            "W/\"3 \"",
        ] {
            assert_eq!(parse_etag(other), None, "{other}");
        }
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(
            format_timestamp(&prost_types::Timestamp {
                seconds: 0,
                nanos: 0
            })
            .as_deref(),
            Some("1970-01-01T00:00:00Z")
        );
        assert_eq!(
            format_timestamp(&prost_types::Timestamp {
                seconds: 1,
                nanos: 1_000
            })
            .as_deref(),
            Some("1970-01-01T00:00:01.000001Z")
        );
        assert_eq!(
            format_timestamp(&prost_types::Timestamp {
                seconds: 0,
                nanos: -1
            }),
            None
        );
    }
}
