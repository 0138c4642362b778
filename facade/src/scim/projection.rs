//! `attributes` and `excludedAttributes` (RFC 7644 §3.4.2.5, §3.9): trimming a rendered resource to
//! what the client asked for, following each attribute's `returned` characteristic in
//! [`super::schema`].
//!
//! - `attributes` given: only the named attributes are kept, plus those `returned: always` (`id`,
//!   `meta`) and `schemas`. `name.givenName` or `emails.value` keeps only that sub-attribute (of each
//!   value, for a multi-valued attribute; values left empty are dropped). A URN-qualified path
//!   (`urn:...:enterprise:2.0:User:department`) addresses the attribute inside its extension object;
//!   the bare URN keeps the whole extension object.
//! - Otherwise `excludedAttributes` are removed, except `returned: always` ones and `schemas`
//!   (excluding `id` is silently ignored), and `returned: request` ones are removed too.
//! - `returned: never` attributes are always removed.
//!
//! Names compare ignoring case. An extension URN is removed from `schemas` when projection removed
//! its object, so `schemas` keeps describing what the representation holds.

use super::path::AttrPath;
use super::schema::{self, Attribute, Returned, Schema};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The schemas of a User resource, core first, for [`project`] and [`is_returned`].
pub const USER_SCHEMAS: &[&Schema] = &[&schema::USER, &schema::ENTERPRISE_USER];
/// The schemas of a Group resource.
pub const GROUP_SCHEMAS: &[&Schema] = &[&schema::GROUP];

/// Applies `attributes` (when non-empty) or else `excludedAttributes` to a rendered resource.
/// `schemas` are the resource type's schemas, core schema first (see [`USER_SCHEMAS`],
/// [`GROUP_SCHEMAS`]). Anything but a JSON object is left alone.
pub fn project(
    resource: &mut Value,
    schemas: &[&Schema],
    attributes: &[AttrPath],
    excluded: &[AttrPath],
) {
    let Some(object) = resource.as_object_mut() else {
        return;
    };
    let extensions_before: Vec<String> = extension_keys(object);
    drop_returned(object, schemas, Returned::Never);
    let known = known_urns(schemas, object);
    if !attributes.is_empty() {
        let mut keep = Keep::default();
        keep.insert(&["schemas"]);
        for attribute in schema::COMMON
            .iter()
            .chain(schemas.first().map_or(&[][..], |core| core.attributes))
        {
            if attribute.returned == Returned::Always {
                keep.insert(&[attribute.name]);
            }
        }
        for extension in schemas.iter().skip(1) {
            for attribute in extension
                .attributes
                .iter()
                .filter(|attribute| attribute.returned == Returned::Always)
            {
                keep.insert(&[extension.id, attribute.name]);
            }
        }
        for path in attributes {
            match resolve(path, schemas, &known) {
                Target::Core {
                    attribute,
                    sub_attribute,
                } => {
                    let chain: Vec<&str> = std::iter::once(attribute.as_str())
                        .chain(sub_attribute.as_deref())
                        .collect();
                    keep.insert(&chain);
                }
                Target::Extension {
                    urn,
                    attribute,
                    sub_attribute,
                } => {
                    let chain: Vec<&str> = std::iter::once(urn.as_str())
                        .chain(attribute.as_deref())
                        .chain(sub_attribute.as_deref())
                        .collect();
                    keep.insert(&chain);
                }
            }
        }
        keep.retain(object);
    } else {
        drop_returned(object, schemas, Returned::Request);
        for path in excluded {
            exclude(object, schemas, resolve(path, schemas, &known));
        }
    }
    let dropped: Vec<String> = extensions_before
        .into_iter()
        .filter(|urn| !object.contains_key(urn))
        .collect();
    if !dropped.is_empty()
        && let Some(Value::Array(listed)) = object.get_mut("schemas")
    {
        listed.retain(|urn| {
            !urn.as_str()
                .is_some_and(|urn| dropped.iter().any(|gone| gone.eq_ignore_ascii_case(urn)))
        });
    }
}

/// Whether `attributes`/`excludedAttributes` let a top-level attribute (`schema_urn` `None` for the
/// core schema and the common attributes) through [`project`], so a route can skip reading what
/// would be dropped: `is_returned(GROUP_SCHEMAS, attributes, excluded, None, "members")` says
/// whether to fetch members; `(USER_SCHEMAS, ..., None, "groups")` whether to ask for a user's
/// groups. A sub-attribute path counts as asking for its attribute.
pub fn is_returned(
    schemas: &[&Schema],
    attributes: &[AttrPath],
    excluded: &[AttrPath],
    schema_urn: Option<&str>,
    name: &str,
) -> bool {
    let returned =
        lookup(schemas, schema_urn, name).map_or(Returned::Default, |attribute| attribute.returned);
    match returned {
        Returned::Never => return false,
        Returned::Always => return true,
        Returned::Default | Returned::Request => {}
    }
    let mut known = known_urns(schemas, &Map::new());
    if let Some(urn) = schema_urn {
        known.push(urn.to_owned());
    }
    let names_it = |target: &Target, whole_only: bool| match (target, schema_urn) {
        (
            Target::Core {
                attribute,
                sub_attribute,
            },
            None,
        ) => attribute.eq_ignore_ascii_case(name) && (!whole_only || sub_attribute.is_none()),
        (
            Target::Extension {
                urn: path_urn,
                attribute,
                sub_attribute,
            },
            Some(urn),
        ) => {
            path_urn.eq_ignore_ascii_case(urn)
                && match attribute {
                    None => true,
                    Some(attribute) => {
                        attribute.eq_ignore_ascii_case(name)
                            && (!whole_only || sub_attribute.is_none())
                    }
                }
        }
        _ => false,
    };
    if !attributes.is_empty() {
        return attributes
            .iter()
            .any(|path| names_it(&resolve(path, schemas, &known), false));
    }
    returned != Returned::Request
        && !excluded
            .iter()
            .any(|path| names_it(&resolve(path, schemas, &known), true))
}

/// Where an attribute path points in a rendered resource.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// A core or common attribute (a top-level key), maybe one sub-attribute of it.
    Core {
        attribute: String,
        sub_attribute: Option<String>,
    },
    /// An extension object under its URN key: whole, one attribute, or one sub-attribute.
    Extension {
        urn: String,
        attribute: Option<String>,
        sub_attribute: Option<String>,
    },
}

/// Resolves a path against the URNs known for the resource. The path is reassembled and matched
/// against each known URN (longest first), so the result does not depend on how the parser split a
/// URN that contains dots (`...:2.0:User`) or a bare URN.
fn resolve(path: &AttrPath, schemas: &[&Schema], known: &[String]) -> Target {
    let mut full = match &path.schema {
        Some(urn) => format!("{urn}:{}", path.attribute),
        None => path.attribute.clone(),
    };
    if let Some(sub_attribute) = &path.sub_attribute {
        full.push('.');
        full.push_str(sub_attribute);
    }
    let core_urn = schemas.first().map(|core| core.id);
    let mut candidates: Vec<&str> = known.iter().map(String::as_str).collect();
    candidates.sort_by_key(|urn| std::cmp::Reverse(urn.len()));
    for urn in candidates {
        let is_core = core_urn.is_some_and(|core| core.eq_ignore_ascii_case(urn));
        if full.eq_ignore_ascii_case(urn) && !is_core {
            return Target::Extension {
                urn: urn.to_owned(),
                attribute: None,
                sub_attribute: None,
            };
        }
        let Some(rest) = full
            .get(..urn.len())
            .filter(|head| head.eq_ignore_ascii_case(urn))
            .and_then(|_| full.get(urn.len()..))
            .and_then(|rest| rest.strip_prefix(':'))
            .filter(|rest| !rest.is_empty())
        else {
            continue;
        };
        let (attribute, sub_attribute) = match rest.split_once('.') {
            Some((attribute, sub_attribute)) => {
                (attribute.to_owned(), Some(sub_attribute.to_owned()))
            }
            None => (rest.to_owned(), None),
        };
        return if is_core {
            Target::Core {
                attribute,
                sub_attribute,
            }
        } else {
            Target::Extension {
                urn: urn.to_owned(),
                attribute: Some(attribute),
                sub_attribute,
            }
        };
    }
    match &path.schema {
        Some(urn) if !core_urn.is_some_and(|core| core.eq_ignore_ascii_case(urn)) => {
            Target::Extension {
                urn: urn.clone(),
                attribute: Some(path.attribute.clone()),
                sub_attribute: path.sub_attribute.clone(),
            }
        }
        _ => Target::Core {
            attribute: path.attribute.clone(),
            sub_attribute: path.sub_attribute.clone(),
        },
    }
}

/// The URNs a path may start with: the resource type's schemas and the resource's extension keys.
fn known_urns(schemas: &[&Schema], object: &Map<String, Value>) -> Vec<String> {
    let mut known: Vec<String> = schemas.iter().map(|schema| schema.id.to_owned()).collect();
    known.extend(object.keys().filter(|key| is_urn(key)).cloned());
    known
}

fn is_urn(key: &str) -> bool {
    key.get(..4)
        .is_some_and(|head| head.eq_ignore_ascii_case("urn:"))
}

fn extension_keys(object: &Map<String, Value>) -> Vec<String> {
    object
        .iter()
        .filter(|(key, value)| is_urn(key) && value.is_object())
        .map(|(key, _)| key.clone())
        .collect()
}

/// An attribute definition, `None` when unknown (custom extension attributes); safe with no schemas.
fn lookup(schemas: &[&Schema], schema_urn: Option<&str>, name: &str) -> Option<&'static Attribute> {
    if schemas.is_empty() {
        return schema::COMMON
            .iter()
            .find(|attribute| schema_urn.is_none() && attribute.name.eq_ignore_ascii_case(name));
    }
    schema::find(schemas, schema_urn, name).map(|(_, attribute)| attribute)
}

/// The key of a map equal to `name` ignoring case.
fn key_of(object: &Map<String, Value>, name: &str) -> Option<String> {
    object
        .keys()
        .find(|key| key.eq_ignore_ascii_case(name))
        .cloned()
}

/// What `attributes` keeps: a whole node, or some of its children (names lower-cased).
#[derive(Debug, Default)]
struct Keep {
    all: bool,
    children: BTreeMap<String, Keep>,
}

impl Keep {
    fn insert(&mut self, chain: &[&str]) {
        if self.all {
            return;
        }
        match chain.split_first() {
            None => {
                self.all = true;
                self.children.clear();
            }
            Some((first, rest)) => self
                .children
                .entry(first.to_ascii_lowercase())
                .or_default()
                .insert(rest),
        }
    }

    /// Keeps in `object` only what this node names; true when anything is left.
    fn retain(&self, object: &mut Map<String, Value>) -> bool {
        if self.all {
            return true;
        }
        object.retain(
            |key, value| match self.children.get(&key.to_ascii_lowercase()) {
                None => false,
                Some(child) => child.all || child.retain_value(value),
            },
        );
        !object.is_empty()
    }

    fn retain_value(&self, value: &mut Value) -> bool {
        match value {
            Value::Object(object) => self.retain(object),
            Value::Array(items) => {
                items.retain_mut(|item| {
                    item.as_object_mut()
                        .is_some_and(|object| self.retain(object))
                });
                !items.is_empty()
            }
            // A sub-attribute of a simple attribute names nothing.
            _ => false,
        }
    }
}

/// Removes one `excludedAttributes` target, unless it is `returned: always`.
fn exclude(object: &mut Map<String, Value>, schemas: &[&Schema], target: Target) {
    match target {
        Target::Core {
            attribute,
            sub_attribute,
        } => {
            let always = attribute.eq_ignore_ascii_case("schemas")
                || lookup(schemas, None, &attribute)
                    .is_some_and(|definition| definition.returned == Returned::Always);
            if !always {
                remove(object, &attribute, sub_attribute.as_deref());
            }
        }
        Target::Extension {
            urn,
            attribute,
            sub_attribute,
        } => {
            let Some(key) = key_of(object, &urn) else {
                return;
            };
            let Some(attribute) = attribute else {
                object.remove(&key);
                return;
            };
            if lookup(schemas, Some(&urn), &attribute)
                .is_some_and(|definition| definition.returned == Returned::Always)
            {
                return;
            }
            if let Some(Value::Object(extension)) = object.get_mut(&key) {
                remove(extension, &attribute, sub_attribute.as_deref());
                if extension.is_empty() {
                    object.remove(&key);
                }
            }
        }
    }
}

/// Removes an attribute, or a sub-attribute of it (of each value of a multi-valued one), dropping
/// what is left empty.
fn remove(object: &mut Map<String, Value>, attribute: &str, sub_attribute: Option<&str>) {
    let Some(key) = key_of(object, attribute) else {
        return;
    };
    let Some(sub_attribute) = sub_attribute else {
        object.remove(&key);
        return;
    };
    let emptied = match object.get_mut(&key) {
        Some(Value::Object(complex)) => {
            if let Some(sub_key) = key_of(complex, sub_attribute) {
                complex.remove(&sub_key);
            }
            complex.is_empty()
        }
        Some(Value::Array(items)) => {
            for item in items.iter_mut() {
                if let Some(element) = item.as_object_mut()
                    && let Some(sub_key) = key_of(element, sub_attribute)
                {
                    element.remove(&sub_key);
                }
            }
            items.retain(|item| !item.as_object().is_some_and(Map::is_empty));
            items.is_empty()
        }
        _ => false,
    };
    if emptied {
        object.remove(&key);
    }
}

/// Removes every attribute and sub-attribute whose `returned` is `which`.
fn drop_returned(object: &mut Map<String, Value>, schemas: &[&Schema], which: Returned) {
    object.retain(|key, value| {
        if is_urn(key) {
            if let Value::Object(extension) = value {
                extension.retain(|name, value| {
                    keep_attribute(lookup(schemas, Some(key), name), value, which)
                });
            }
            true
        } else {
            keep_attribute(lookup(schemas, None, key), value, which)
        }
    });
}

/// Whether an attribute stays; strips its sub-attributes whose `returned` is `which`.
fn keep_attribute(
    definition: Option<&'static Attribute>,
    value: &mut Value,
    which: Returned,
) -> bool {
    let Some(definition) = definition else {
        return true;
    };
    if definition.returned == which {
        return false;
    }
    if definition
        .sub_attributes
        .iter()
        .any(|sub| sub.returned == which)
    {
        let strip = |element: &mut Map<String, Value>| {
            element.retain(|name, _| definition.sub(name).is_none_or(|sub| sub.returned != which));
        };
        match value {
            Value::Object(complex) => strip(complex),
            Value::Array(items) => items
                .iter_mut()
                .filter_map(Value::as_object_mut)
                .for_each(strip),
            _ => {}
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::path::{ENTERPRISE_USER_SCHEMA, USER_SCHEMA};
    use crate::scim::resource::{group_to_scim, user_to_scim};
    use roster::pb;
    use serde_json::json;

    const ACME: &str = "urn:example:params:scim:schemas:extension:acme:2.0:User";

    fn path(text: &str) -> AttrPath {
        let (attribute, sub_attribute) = match text.split_once('.') {
            Some((attribute, sub)) => (attribute.to_owned(), Some(sub.to_owned())),
            None => (text.to_owned(), None),
        };
        AttrPath {
            schema: None,
            attribute,
            sub_attribute,
        }
    }

    fn qualified(schema: &str, attribute: &str, sub_attribute: Option<&str>) -> AttrPath {
        AttrPath {
            schema: Some(schema.to_owned()),
            attribute: attribute.to_owned(),
            sub_attribute: sub_attribute.map(str::to_owned),
        }
    }

    fn user() -> Value {
        let user = pb::User {
            id: "u1".into(),
            external_id: Some("ext".into()),
            user_name: "bjensen".into(),
            name: Some(pb::Name {
                given_name: Some("Barbara".into()),
                family_name: Some("Jensen".into()),
                ..Default::default()
            }),
            display_name: Some("Babs".into()),
            emails: vec![
                pb::MultiValue {
                    value: "b@work.example".into(),
                    r#type: Some("work".into()),
                    display: None,
                    primary: true,
                },
                pb::MultiValue {
                    value: "b@home.example".into(),
                    r#type: Some("home".into()),
                    display: None,
                    primary: false,
                },
            ],
            enterprise: Some(pb::EnterpriseUser {
                department: Some("Tours".into()),
                employee_number: Some("42".into()),
                manager: Some(pb::Manager {
                    value: Some("m1".into()),
                    display_name: None,
                }),
                ..Default::default()
            }),
            custom_attributes: vec![pb::CustomAttribute {
                schema: ACME.into(),
                name: "badge".into(),
                value_json: "7".into(),
            }],
            groups: vec![pb::UserGroupRef {
                value: "g1".into(),
                display: "Guides".into(),
            }],
            meta: Some(pb::Meta {
                version: 2,
                ..Default::default()
            }),
            ..Default::default()
        };
        user_to_scim(&user, "https://h/scim/v2")
    }

    fn group() -> Value {
        let group = pb::Group {
            id: "g1".into(),
            display_name: "Guides".into(),
            ..Default::default()
        };
        let members = [pb::Member {
            value: "u1".into(),
            r#type: pb::MemberType::User.into(),
            display: "Babs".into(),
        }];
        group_to_scim(&group, Some(&members), "https://h/scim/v2")
    }

    fn keys(value: &Value) -> Vec<String> {
        let mut keys: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
        keys.sort_unstable();
        keys
    }

    fn projected(
        mut resource: Value,
        schemas: &[&Schema],
        attributes: &[AttrPath],
        excluded: &[AttrPath],
    ) -> Value {
        project(&mut resource, schemas, attributes, excluded);
        resource
    }

    #[test]
    fn nothing_asked_changes_nothing_but_request_only_sub_attributes() {
        assert_eq!(projected(user(), USER_SCHEMAS, &[], &[]), user());
        // members.display is `returned: request`: dropped unless asked for.
        let mut expected = group();
        for member in expected["members"].as_array_mut().unwrap() {
            member.as_object_mut().unwrap().remove("display");
        }
        assert_eq!(projected(group(), GROUP_SCHEMAS, &[], &[]), expected);
        let asked = projected(group(), GROUP_SCHEMAS, &[path("members.display")], &[]);
        assert!(asked["members"][0].get("display").is_some());
    }

    #[test]
    fn attributes_user_name_keeps_only_it_and_the_always_returned() {
        let original = user();
        let result = projected(user(), USER_SCHEMAS, &[path("userName")], &[]);
        assert_eq!(keys(&result), ["id", "meta", "schemas", "userName"]);
        assert_eq!(result["meta"], original["meta"]);
        assert_eq!(result["userName"], "bjensen");
        // The extensions' objects are gone, so are their URNs.
        assert_eq!(result["schemas"], json!([USER_SCHEMA]));
        // Names ignore case.
        assert_eq!(
            projected(user(), USER_SCHEMAS, &[path("USERNAME")], &[]),
            result
        );
    }

    #[test]
    fn excluded_members_on_a_group() {
        let result = projected(group(), GROUP_SCHEMAS, &[], &[path("members")]);
        assert_eq!(keys(&result), ["displayName", "id", "meta", "schemas"]);
        assert_eq!(
            projected(group(), GROUP_SCHEMAS, &[], &[path("Members")]),
            result
        );
    }

    #[test]
    fn sub_attribute_paths() {
        let result = projected(user(), USER_SCHEMAS, &[path("emails.value")], &[]);
        assert_eq!(keys(&result), ["emails", "id", "meta", "schemas"]);
        assert_eq!(
            result["emails"],
            json!([{"value": "b@work.example"}, {"value": "b@home.example"}])
        );
        let result = projected(
            user(),
            USER_SCHEMAS,
            &[
                path("name.GIVENNAME"),
                path("emails.type"),
                path("emails.value"),
            ],
            &[],
        );
        assert_eq!(result["name"], json!({"givenName": "Barbara"}));
        assert_eq!(
            result["emails"][1],
            json!({"value": "b@home.example", "type": "home"})
        );
        // A whole attribute wins over its sub-attributes, whatever the order.
        let result = projected(
            user(),
            USER_SCHEMAS,
            &[path("name.givenName"), path("name")],
            &[],
        );
        assert_eq!(result["name"], user()["name"]);
        // A sub-attribute nothing has.
        let result = projected(
            user(),
            USER_SCHEMAS,
            &[path("name.nothing"), path("userName.x")],
            &[],
        );
        assert_eq!(keys(&result), ["id", "meta", "schemas"]);
    }

    #[test]
    fn extension_attribute_paths() {
        let forms = [
            qualified(ENTERPRISE_USER_SCHEMA, "department", None),
            path(&format!("{ENTERPRISE_USER_SCHEMA}:department")),
            path(&format!(
                "{}:DEPARTMENT",
                ENTERPRISE_USER_SCHEMA.to_uppercase()
            )),
        ];
        for form in forms {
            let result = projected(user(), USER_SCHEMAS, std::slice::from_ref(&form), &[]);
            assert_eq!(
                keys(&result),
                ["id", "meta", "schemas", ENTERPRISE_USER_SCHEMA]
                    .map(str::to_owned)
                    .to_vec(),
                "{form:?}"
            );
            assert_eq!(
                result[ENTERPRISE_USER_SCHEMA],
                json!({"department": "Tours"}),
                "{form:?}"
            );
            assert_eq!(
                result["schemas"],
                json!([USER_SCHEMA, ENTERPRISE_USER_SCHEMA]),
                "{form:?}"
            );
        }
        let result = projected(
            user(),
            USER_SCHEMAS,
            &[qualified(ENTERPRISE_USER_SCHEMA, "manager", Some("value"))],
            &[],
        );
        assert_eq!(
            result[ENTERPRISE_USER_SCHEMA],
            json!({"manager": {"value": "m1"}})
        );
        // A core attribute qualified with the core URN.
        let result = projected(
            user(),
            USER_SCHEMAS,
            &[qualified(USER_SCHEMA, "displayName", None)],
            &[],
        );
        assert_eq!(keys(&result), ["displayName", "id", "meta", "schemas"]);
        // A custom extension's attribute.
        let result = projected(user(), USER_SCHEMAS, &[qualified(ACME, "badge", None)], &[]);
        assert_eq!(result[ACME], json!({"badge": 7}));
        assert_eq!(result["schemas"], json!([USER_SCHEMA, ACME]));
    }

    #[test]
    fn a_whole_extension_urn_keeps_its_object() {
        let original = user();
        // However the parser splits a bare URN.
        let forms = [
            path(ENTERPRISE_USER_SCHEMA),
            qualified(
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0",
                "User",
                None,
            ),
        ];
        for form in forms {
            let result = projected(user(), USER_SCHEMAS, std::slice::from_ref(&form), &[]);
            assert_eq!(
                result[ENTERPRISE_USER_SCHEMA], original[ENTERPRISE_USER_SCHEMA],
                "{form:?}"
            );
            assert!(result.get("userName").is_none(), "{form:?}");
        }
        let result = projected(user(), USER_SCHEMAS, &[], &[path(ENTERPRISE_USER_SCHEMA)]);
        assert!(result.get(ENTERPRISE_USER_SCHEMA).is_none());
        assert_eq!(result["schemas"], json!([USER_SCHEMA, ACME]));
        assert_eq!(result["userName"], "bjensen");
    }

    #[test]
    fn always_returned_attributes_cannot_be_excluded() {
        let result = projected(
            user(),
            USER_SCHEMAS,
            &[],
            &[
                path("id"),
                path("schemas"),
                path("meta"),
                path("meta.version"),
                path("ID"),
            ],
        );
        assert_eq!(result, user());
        let result = projected(
            group(),
            GROUP_SCHEMAS,
            &[],
            &[path("id"), path("displayName")],
        );
        assert_eq!(keys(&result), ["id", "members", "meta", "schemas"]);
    }

    #[test]
    fn excluded_sub_attributes_and_extension_attributes() {
        let result = projected(
            user(),
            USER_SCHEMAS,
            &[],
            &[
                path("name.givenName"),
                path("emails.primary"),
                path("emails.type"),
            ],
        );
        assert_eq!(result["name"], json!({"familyName": "Jensen"}));
        assert_eq!(
            result["emails"],
            json!([{"value": "b@work.example"}, {"value": "b@home.example"}])
        );
        let result = projected(
            user(),
            USER_SCHEMAS,
            &[],
            &[
                qualified(ENTERPRISE_USER_SCHEMA, "manager", None),
                path("groups"),
            ],
        );
        assert_eq!(
            result[ENTERPRISE_USER_SCHEMA],
            json!({"department": "Tours", "employeeNumber": "42"})
        );
        assert!(result.get("groups").is_none());
        // Emptying an extension drops it and its URN.
        let result = projected(
            user(),
            USER_SCHEMAS,
            &[],
            &[
                qualified(ENTERPRISE_USER_SCHEMA, "manager", None),
                qualified(ENTERPRISE_USER_SCHEMA, "department", None),
                qualified(ENTERPRISE_USER_SCHEMA, "employeeNumber", None),
            ],
        );
        assert!(result.get(ENTERPRISE_USER_SCHEMA).is_none());
        assert_eq!(result["schemas"], json!([USER_SCHEMA, ACME]));
    }

    fn leak(attribute: Attribute) -> &'static Schema {
        let mut plain = *schema::USER.attribute("nickName").unwrap();
        plain.name = "plain";
        let attributes: &'static [Attribute] = Box::leak(vec![plain, attribute].into_boxed_slice());
        Box::leak(Box::new(Schema {
            id: "urn:test:Thing",
            name: "Thing",
            description: "test",
            attributes,
        }))
    }

    #[test]
    fn never_and_request_returned_attributes() {
        let mut secret = *schema::USER.attribute("nickName").unwrap();
        secret.name = "secret";
        secret.returned = Returned::Never;
        let schemas = [leak(secret)];
        let resource =
            json!({"schemas": ["urn:test:Thing"], "id": "1", "plain": "p", "secret": "s"});
        assert_eq!(
            projected(resource.clone(), &schemas, &[], &[]),
            json!({"schemas": ["urn:test:Thing"], "id": "1", "plain": "p"})
        );
        assert_eq!(
            projected(resource.clone(), &schemas, &[path("secret")], &[]),
            json!({"schemas": ["urn:test:Thing"], "id": "1"})
        );
        assert!(!is_returned(
            &schemas,
            &[path("secret")],
            &[],
            None,
            "secret"
        ));

        let mut extra = secret;
        extra.name = "extra";
        extra.returned = Returned::Request;
        let schemas = [leak(extra)];
        let resource =
            json!({"schemas": ["urn:test:Thing"], "id": "1", "plain": "p", "extra": "e"});
        assert_eq!(
            projected(resource.clone(), &schemas, &[], &[]),
            json!({"schemas": ["urn:test:Thing"], "id": "1", "plain": "p"})
        );
        assert_eq!(
            projected(resource.clone(), &schemas, &[path("extra")], &[]),
            json!({"schemas": ["urn:test:Thing"], "id": "1", "extra": "e"})
        );
        assert!(!is_returned(&schemas, &[], &[], None, "extra"));
        assert!(is_returned(&schemas, &[path("Extra")], &[], None, "extra"));
    }

    #[test]
    fn is_returned_tells_routes_what_to_read() {
        assert!(is_returned(GROUP_SCHEMAS, &[], &[], None, "members"));
        assert!(!is_returned(
            GROUP_SCHEMAS,
            &[],
            &[path("members")],
            None,
            "members"
        ));
        assert!(is_returned(
            GROUP_SCHEMAS,
            &[],
            &[path("members.display")],
            None,
            "members"
        ));
        assert!(!is_returned(
            GROUP_SCHEMAS,
            &[path("displayName")],
            &[],
            None,
            "members"
        ));
        assert!(is_returned(
            GROUP_SCHEMAS,
            &[path("members.value")],
            &[],
            None,
            "members"
        ));
        assert!(is_returned(
            GROUP_SCHEMAS,
            &[path("displayName")],
            &[path("id")],
            None,
            "id"
        ));
        assert!(is_returned(USER_SCHEMAS, &[], &[], None, "groups"));
        assert!(!is_returned(
            USER_SCHEMAS,
            &[path("userName")],
            &[],
            None,
            "groups"
        ));
        assert!(is_returned(
            USER_SCHEMAS,
            &[path(ENTERPRISE_USER_SCHEMA)],
            &[],
            Some(ENTERPRISE_USER_SCHEMA),
            "manager"
        ));
        assert!(is_returned(
            USER_SCHEMAS,
            &[qualified(ENTERPRISE_USER_SCHEMA, "manager", None)],
            &[],
            Some(ENTERPRISE_USER_SCHEMA),
            "manager"
        ));
        assert!(!is_returned(
            USER_SCHEMAS,
            &[],
            &[qualified(ENTERPRISE_USER_SCHEMA, "manager", None)],
            Some(ENTERPRISE_USER_SCHEMA),
            "manager"
        ));
        assert!(!is_returned(
            USER_SCHEMAS,
            &[],
            &[path(ENTERPRISE_USER_SCHEMA)],
            Some(ENTERPRISE_USER_SCHEMA),
            "department"
        ));
    }

    #[test]
    fn non_objects_are_left_alone() {
        let mut value = json!([1, 2]);
        project(&mut value, USER_SCHEMAS, &[path("userName")], &[]);
        assert_eq!(value, json!([1, 2]));
        let mut value = json!({"id": "1", "userName": "a"});
        project(&mut value, &[], &[path("userName")], &[]);
        assert_eq!(value, json!({"id": "1", "userName": "a"}));
    }
}
