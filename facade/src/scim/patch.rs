//! SCIM PATCH (RFC 7644 §3.5.2): the request parser, its application to a User's canonical SCIM
//! JSON, and its translation into the contract's group changes.
//!
//! Identity providers do not speak the RFC literally (IDP-QUIRKS.md §0, §1.4, §1.5, §2.3, §2.4), so
//! the application also accepts their dialects: `op` in any case, path-less values whose keys are
//! attribute paths (`"name.givenName"`, `"urn:…:enterprise:2.0:User:employeeNumber"`), boolean
//! strings (`"False"`), the enterprise `manager` as a bare id, `add` on a value path that matches
//! nothing (the element is created from the filter's `eq` conditions), and `remove` of a
//! multi-valued attribute with a `value` list (only the listed values go).
//!
//! Typing and mutability come from the attribute table in [`super::schema`]; nothing is duplicated
//! here. A `null` value in `add`/`replace` means "unassigned" (RFC 7643 §2.5): the attribute (or
//! sub-attribute) is removed.

use std::cmp::Ordering;

use roster::pb;
use roster::pb::filter::Node;
use roster::pb::filter_value::Kind;
use roster::pb::group_change::Change;
use serde_json::{Map, Value};

use super::error::{ScimError, ScimResult, excerpt};
use super::path::{ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, PatchPath, USER_SCHEMA, parse_patch_path};
use super::schema::{self, Attribute, ENTERPRISE_USER, GROUP, Mutability, Schema, Type, USER};

/// The PatchOp message URN (RFC 7644 §3.5.2).
pub const PATCH_OP_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// Most operations accepted in one PATCH request.
pub const MAX_OPERATIONS: usize = 1000;

/// URN prefix reserved by the SCIM RFCs: no custom extension may live under it.
const SCIM_URN_PREFIX: &str = "urn:ietf:params:scim:";

/// A parsed PATCH request body.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchRequest {
    /// The operations, applied in order.
    pub operations: Vec<PatchOperation>,
}

/// A PATCH operation kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `add`.
    Add,
    /// `replace`.
    Replace,
    /// `remove`.
    Remove,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Add => "add",
            Op::Replace => "replace",
            Op::Remove => "remove",
        }
    }
}

/// One PATCH operation.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOperation {
    /// The operation.
    pub op: Op,
    /// The target; `None` means the resource itself.
    pub path: Option<PatchPath>,
    /// The value: `None` when the member is absent, `Some(Value::Null)` for an explicit `null`.
    pub value: Option<Value>,
}

/// Parses a PATCH request body (RFC 7644 §3.5.2).
///
/// Member names (`schemas`, `Operations`, `op`, `path`, `value`) are matched ignoring case, as are
/// the op names. A `null` or empty `path` means no path.
pub fn parse_patch_request(body: &Value) -> ScimResult<PatchRequest> {
    let Some(body) = body.as_object() else {
        return Err(ScimError::invalid_syntax(
            "the PATCH body must be a JSON object",
        ));
    };
    if let Some(schemas) = get_ci(body, "schemas") {
        let listed = match schemas {
            Value::Array(items) => items.iter().any(|item| {
                item.as_str()
                    .is_some_and(|urn| urn.eq_ignore_ascii_case(PATCH_OP_SCHEMA))
            }),
            Value::String(urn) => urn.eq_ignore_ascii_case(PATCH_OP_SCHEMA),
            _ => false,
        };
        if !listed {
            return Err(ScimError::invalid_value(format!(
                "schemas must contain \"{PATCH_OP_SCHEMA}\""
            )));
        }
    }
    let operations = match get_ci(body, "Operations") {
        Some(Value::Array(operations)) if !operations.is_empty() => operations,
        Some(Value::Array(_)) => {
            return Err(ScimError::invalid_syntax("Operations must not be empty"));
        }
        Some(_) => return Err(ScimError::invalid_syntax("Operations must be an array")),
        None => {
            return Err(ScimError::invalid_syntax(
                "the PATCH body has no Operations",
            ));
        }
    };
    if operations.len() > MAX_OPERATIONS {
        return Err(ScimError::too_many(format!(
            "a PATCH request may carry at most {MAX_OPERATIONS} operations, not {}",
            operations.len()
        )));
    }
    let operations = operations
        .iter()
        .enumerate()
        .map(|(index, operation)| parse_operation(index, operation))
        .collect::<ScimResult<Vec<_>>>()?;
    Ok(PatchRequest { operations })
}

fn parse_operation(index: usize, operation: &Value) -> ScimResult<PatchOperation> {
    let Some(operation) = operation.as_object() else {
        return Err(ScimError::invalid_syntax(format!(
            "Operations[{index}] must be an object"
        )));
    };
    let op = match get_ci(operation, "op") {
        Some(Value::String(name)) if name.eq_ignore_ascii_case("add") => Op::Add,
        Some(Value::String(name)) if name.eq_ignore_ascii_case("replace") => Op::Replace,
        Some(Value::String(name)) if name.eq_ignore_ascii_case("remove") => Op::Remove,
        Some(Value::String(name)) => {
            return Err(ScimError::invalid_syntax(format!(
                "Operations[{index}]: unknown op \"{}\" (expected add, replace or remove)",
                excerpt(name)
            )));
        }
        Some(_) => {
            return Err(ScimError::invalid_syntax(format!(
                "Operations[{index}]: op must be a string"
            )));
        }
        None => {
            return Err(ScimError::invalid_syntax(format!(
                "Operations[{index}] has no op"
            )));
        }
    };
    let path = match get_ci(operation, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(path)) if path.trim().is_empty() => None,
        Some(Value::String(path)) => Some(parse_patch_path(path)?),
        Some(_) => {
            return Err(ScimError::invalid_syntax(format!(
                "Operations[{index}]: path must be a string"
            )));
        }
    };
    let value = get_ci(operation, "value").cloned();
    if value.is_none() && op != Op::Remove {
        return Err(ScimError::invalid_value(format!(
            "Operations[{index}]: {} needs a value",
            op.name()
        )));
    }
    Ok(PatchOperation { op, path, value })
}

// ---------------------------------------------------------------------------------------------
// Users
// ---------------------------------------------------------------------------------------------

/// The schemas of a User, core first.
static USER_SCHEMAS: [&Schema; 2] = [&USER, &ENTERPRISE_USER];

/// Applies a PATCH request to a User's canonical SCIM JSON, operation by operation.
///
/// On error the JSON may be partly changed; the caller discards it.
pub fn apply_user_patch(resource: &mut Value, request: &PatchRequest) -> ScimResult<()> {
    if !resource.is_object() {
        return Err(ScimError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            None,
            "the resource to patch is not a JSON object",
        ));
    }
    for operation in &request.operations {
        apply_user_operation(resource, operation)?;
    }
    Ok(())
}

fn apply_user_operation(resource: &mut Value, operation: &PatchOperation) -> ScimResult<()> {
    let value = operation.value.as_ref();
    match (&operation.path, operation.op) {
        (None, Op::Remove) => Err(ScimError::no_target("remove needs a path")),
        (None, op) => {
            let Some(value) = value else {
                return Err(ScimError::invalid_value(format!(
                    "{} needs a value",
                    op.name()
                )));
            };
            apply_user_pathless(resource, op, value)
        }
        (Some(path), op) => {
            if op != Op::Remove && value.is_none() {
                return Err(ScimError::invalid_value(format!(
                    "{} needs a value",
                    op.name()
                )));
            }
            let target = resolve_user(resource, RawPath::from_patch_path(path), value)?;
            apply_user_target(resource, target, op, value)
        }
    }
}

/// `add`/`replace` without a path: every key of the value object is a target.
fn apply_user_pathless(resource: &mut Value, op: Op, value: &Value) -> ScimResult<()> {
    let Some(entries) = value.as_object() else {
        return Err(ScimError::invalid_value(format!(
            "{} without a path needs an object value",
            op.name()
        )));
    };
    for (key, item) in entries {
        if key.eq_ignore_ascii_case("id") {
            if resource.get("id") == Some(item) {
                continue;
            }
            return Err(ScimError::mutability("id is readOnly"));
        }
        if key.eq_ignore_ascii_case("meta") {
            if is_sub_object(item, resource.get("meta")) {
                continue;
            }
            return Err(ScimError::mutability("meta is readOnly"));
        }
        if key.eq_ignore_ascii_case("schemas") {
            if same_or_fewer_schemas(item, resource.get("schemas")) {
                continue;
            }
            return Err(ScimError::mutability("schemas cannot be changed by PATCH"));
        }
        if key.eq_ignore_ascii_case("groups") {
            return Err(ScimError::mutability(
                "groups is readOnly: change a group's members instead",
            ));
        }
        let target = resolve_user(resource, RawPath::from_key(key), Some(item))?;
        apply_user_target(resource, target, op, Some(item))?;
    }
    Ok(())
}

/// Whether every member of `given` equals the one in `current` (both objects).
fn is_sub_object(given: &Value, current: Option<&Value>) -> bool {
    match (given, current.and_then(Value::as_object)) {
        (Value::Object(given), Some(current)) => given
            .iter()
            .all(|(key, value)| get_ci(current, key) == Some(value)),
        _ => false,
    }
}

/// Whether `given` lists only URNs the resource already has.
fn same_or_fewer_schemas(given: &Value, current: Option<&Value>) -> bool {
    let (Some(given), Some(current)) = (given.as_array(), current.and_then(Value::as_array)) else {
        return false;
    };
    given.iter().all(|urn| {
        urn.as_str().is_some_and(|urn| {
            current.iter().any(|have| {
                have.as_str()
                    .is_some_and(|have| have.eq_ignore_ascii_case(urn))
            })
        })
    })
}

/// A path as written, before it is checked against the schema.
#[derive(Debug, Clone)]
struct RawPath {
    schema: Option<String>,
    attribute: String,
    sub_attribute: Option<String>,
    filter: Option<pb::Filter>,
    trailing: Option<String>,
}

impl RawPath {
    fn from_patch_path(path: &PatchPath) -> Self {
        Self {
            schema: path.attr.schema.clone().filter(|schema| !schema.is_empty()),
            attribute: path.attr.attribute.clone(),
            sub_attribute: path
                .attr
                .sub_attribute
                .clone()
                .filter(|sub| !sub.is_empty()),
            filter: path.filter.clone(),
            trailing: path.sub_attribute.clone().filter(|sub| !sub.is_empty()),
        }
    }

    /// A key of a path-less value: `attr`, `attr.sub` or a URN-prefixed path (split later).
    fn from_key(key: &str) -> Self {
        let (attribute, sub_attribute) = if starts_with_ci(key, "urn:") {
            (key.to_owned(), None)
        } else {
            match key.split_once('.') {
                Some((attribute, sub)) => (attribute.to_owned(), Some(sub.to_owned())),
                None => (key.to_owned(), None),
            }
        };
        Self {
            schema: None,
            attribute,
            sub_attribute,
            filter: None,
            trailing: None,
        }
    }

    fn is_plain(&self) -> bool {
        self.sub_attribute.is_none() && self.filter.is_none() && self.trailing.is_none()
    }

    /// The path for error details (filter shown as `[…]`).
    fn display(&self) -> String {
        let mut text = String::new();
        if let Some(schema) = &self.schema {
            text.push_str(schema);
            text.push(':');
        }
        text.push_str(&self.attribute);
        if let Some(sub) = &self.sub_attribute {
            text.push('.');
            text.push_str(sub);
        }
        if self.filter.is_some() {
            text.push_str("[…]");
        }
        if let Some(sub) = &self.trailing {
            text.push('.');
            text.push_str(sub);
        }
        excerpt(&text)
    }
}

/// What a user PATCH operation targets.
#[derive(Debug)]
enum UserTarget {
    /// A whole extension object, by its key in the resource.
    Extension(String),
    /// An attribute (maybe a sub-attribute, maybe filtered).
    Attribute(AttrTarget),
}

#[derive(Debug)]
struct AttrTarget {
    /// The extension object holding the attribute; `None` for core attributes.
    extension: Option<String>,
    /// The attribute's name (canonical for schema attributes).
    name: String,
    /// The definition; `None` for an attribute of a custom extension (untyped).
    def: Option<&'static Attribute>,
    /// The value filter, for a value path.
    filter: Option<pb::Filter>,
    /// The sub-attribute, from `attr.sub` or `attr[filter].sub`.
    sub: Option<SubTarget>,
    /// The path for error details.
    display: String,
}

#[derive(Debug)]
struct SubTarget {
    name: String,
    def: Option<&'static Attribute>,
}

fn resolve_user(resource: &Value, raw: RawPath, value: Option<&Value>) -> ScimResult<UserTarget> {
    let display = raw.display();
    let plain = raw.is_plain();
    let RawPath {
        mut schema,
        mut attribute,
        mut sub_attribute,
        filter,
        trailing,
    } = raw;

    if schema.is_none() && starts_with_ci(&attribute, "urn:") {
        // A URN-prefixed path left whole (path-less keys, or a parser that did not split it).
        if plain && is_extension_urn(resource, &attribute, value) {
            check_extension_urn(&attribute)?;
            return Ok(UserTarget::Extension(extension_key(resource, &attribute)));
        }
        let Some((prefix, last)) = attribute.rsplit_once(':') else {
            return Err(ScimError::invalid_path(format!(
                "invalid path \"{display}\""
            )));
        };
        let (name, dotted) = match last.split_once('.') {
            Some((name, sub)) => (name.to_owned(), Some(sub.to_owned())),
            None => (last.to_owned(), None),
        };
        if dotted.is_some() && sub_attribute.is_some() {
            return Err(ScimError::invalid_path(format!(
                "invalid path \"{display}\""
            )));
        }
        schema = Some(prefix.to_owned());
        attribute = name;
        sub_attribute = sub_attribute.or(dotted);
    } else if let Some(urn) = &schema
        && plain
    {
        let full = format!("{urn}:{attribute}");
        if is_extension_urn(resource, &full, value) {
            check_extension_urn(&full)?;
            return Ok(UserTarget::Extension(extension_key(resource, &full)));
        }
    }
    if attribute.is_empty() {
        return Err(ScimError::invalid_path(format!(
            "invalid path \"{display}\""
        )));
    }

    let (extension, def) = match schema.as_deref() {
        None => match schema::find(&USER_SCHEMAS, Some(ENTERPRISE_USER_SCHEMA), &attribute) {
            // An unqualified enterprise name (Entra's old `"path": "manager"`): core names win.
            Some((_, def)) if schema::find(&USER_SCHEMAS, None, &attribute).is_none() => (
                Some(extension_key(resource, ENTERPRISE_USER_SCHEMA)),
                Some(def),
            ),
            _ => (None, Some(core_user_attribute(&attribute)?)),
        },
        Some(urn) if urn.eq_ignore_ascii_case(USER_SCHEMA) => {
            (None, Some(core_user_attribute(&attribute)?))
        }
        Some(urn) if urn.eq_ignore_ascii_case(ENTERPRISE_USER_SCHEMA) => {
            let Some((_, def)) =
                schema::find(&USER_SCHEMAS, Some(ENTERPRISE_USER_SCHEMA), &attribute)
            else {
                return Err(ScimError::invalid_path(format!(
                    "unknown attribute \"{display}\""
                )));
            };
            (
                Some(extension_key(resource, ENTERPRISE_USER_SCHEMA)),
                Some(def),
            )
        }
        Some(urn) => {
            check_extension_urn(urn)?;
            (Some(extension_key(resource, urn)), None)
        }
    };
    if let Some(def) = def
        && def.mutability == Mutability::ReadOnly
    {
        return Err(ScimError::mutability(format!("{} is readOnly", def.name)));
    }

    if sub_attribute.is_some() && (trailing.is_some() || filter.is_some()) {
        return Err(ScimError::invalid_path(format!(
            "invalid path \"{display}\""
        )));
    }
    let sub = match sub_attribute.or(trailing) {
        None => None,
        Some(name) => Some(match def {
            Some(def) => {
                if def.kind != Type::Complex {
                    return Err(ScimError::invalid_path(format!(
                        "{} has no sub-attributes (path \"{display}\")",
                        def.name
                    )));
                }
                let Some(sub) = def.sub(&name) else {
                    return Err(ScimError::invalid_path(format!(
                        "unknown sub-attribute \"{display}\""
                    )));
                };
                if sub.mutability == Mutability::ReadOnly {
                    return Err(ScimError::mutability(format!(
                        "{}.{} is readOnly",
                        def.name, sub.name
                    )));
                }
                SubTarget {
                    name: sub.name.to_owned(),
                    def: Some(sub),
                }
            }
            None => SubTarget { name, def: None },
        }),
    };
    if let Some(filter) = &filter {
        if let Some(def) = def
            && def.kind != Type::Complex
        {
            return Err(ScimError::invalid_path(format!(
                "{} is not multi-valued: no value filter allowed (path \"{display}\")",
                def.name
            )));
        }
        check_filter(filter, def)?;
    }
    let name = def.map_or(attribute, |def| def.name.to_owned());
    Ok(UserTarget::Attribute(AttrTarget {
        extension,
        name,
        def,
        filter,
        sub,
        display,
    }))
}

fn core_user_attribute(name: &str) -> ScimResult<&'static Attribute> {
    if name.eq_ignore_ascii_case("schemas") {
        return Err(ScimError::mutability("schemas cannot be changed by PATCH"));
    }
    // Roster never stores a password, so a provisioning client cannot set one (Okta's password
    // sync sends a path-less replace of `password`): say so rather than "unknown attribute".
    if name.eq_ignore_ascii_case("password") {
        return Err(ScimError::mutability(
            "password is never accepted: Roster stores no passwords (sign-in belongs to the identity provider)",
        ));
    }
    schema::find(&USER_SCHEMAS, None, name)
        .map(|(_, def)| def)
        .ok_or_else(|| ScimError::invalid_path(format!("unknown attribute \"{}\"", excerpt(name))))
}

/// Whether `urn` names a whole extension object: the enterprise extension, one the resource has, or
/// (for an object value) a URN that is not under a known extension and whose last segment starts
/// with a capital letter, as schema names do (`…:User`), unlike attribute names.
fn is_extension_urn(resource: &Value, urn: &str, value: Option<&Value>) -> bool {
    if is_known_extension(resource, urn) {
        return true;
    }
    let Some(Value::Object(_)) = value else {
        return false;
    };
    match urn.rsplit_once(':') {
        Some((prefix, last)) => {
            !is_known_extension(resource, prefix)
                && last.chars().next().is_some_and(char::is_uppercase)
        }
        None => false,
    }
}

fn is_known_extension(resource: &Value, urn: &str) -> bool {
    urn.eq_ignore_ascii_case(ENTERPRISE_USER_SCHEMA)
        || resource
            .as_object()
            .and_then(|object| get_ci(object, urn))
            .is_some_and(Value::is_object)
        || resource
            .get("schemas")
            .and_then(Value::as_array)
            .is_some_and(|schemas| {
                schemas.iter().any(|have| {
                    have.as_str()
                        .is_some_and(|have| have.eq_ignore_ascii_case(urn))
                })
            })
}

/// Extensions other than the enterprise one must be `urn:`s outside the SCIM namespace.
fn check_extension_urn(urn: &str) -> ScimResult<()> {
    if urn.eq_ignore_ascii_case(ENTERPRISE_USER_SCHEMA) {
        return Ok(());
    }
    if !starts_with_ci(urn, "urn:") || starts_with_ci(urn, SCIM_URN_PREFIX) || urn.len() <= 4 {
        return Err(ScimError::invalid_path(format!(
            "unknown schema \"{}\"",
            excerpt(urn)
        )));
    }
    Ok(())
}

/// The key an extension object has (or will have) in the resource.
fn extension_key(resource: &Value, urn: &str) -> String {
    if let Some(key) = resource
        .as_object()
        .and_then(|object| find_key(object, urn))
    {
        return key;
    }
    if urn.eq_ignore_ascii_case(ENTERPRISE_USER_SCHEMA) {
        return ENTERPRISE_USER_SCHEMA.to_owned();
    }
    urn.to_owned()
}

fn apply_user_target(
    resource: &mut Value,
    target: UserTarget,
    op: Op,
    value: Option<&Value>,
) -> ScimResult<()> {
    match target {
        UserTarget::Extension(urn) => apply_extension(resource, &urn, op, value),
        UserTarget::Attribute(target) => {
            let Some(container) =
                container_mut(resource, target.extension.as_deref(), op != Op::Remove)
            else {
                if target.filter.is_some() {
                    return Err(ScimError::no_target(format!(
                        "nothing matches \"{}\"",
                        target.display
                    )));
                }
                return Ok(());
            };
            apply_attribute(container, &target, op, value)?;
            if let Some(extension) = &target.extension {
                drop_empty_extension(resource, extension);
            }
            Ok(())
        }
    }
}

/// `add`/`replace`/`remove` of a whole extension object.
fn apply_extension(
    resource: &mut Value,
    urn: &str,
    op: Op,
    value: Option<&Value>,
) -> ScimResult<()> {
    match (op, value) {
        (Op::Remove, _) | (_, Some(Value::Null)) => {
            if let Some(object) = resource.as_object_mut() {
                object.remove(urn);
            }
            remove_schema(resource, urn);
            Ok(())
        }
        (_, Some(Value::Object(entries))) => {
            for (key, item) in entries {
                // An extension object serialized with its own `"schemas": [urn]` (scim2-models
                // does this): the URN is already the path, nothing to apply.
                if key.eq_ignore_ascii_case("schemas") && names_only(item, urn) {
                    continue;
                }
                let mut raw = RawPath::from_key(key);
                if raw.attribute.contains(':') {
                    return Err(ScimError::invalid_path(format!(
                        "invalid attribute \"{}\" in {}",
                        excerpt(key),
                        excerpt(urn)
                    )));
                }
                raw.schema = Some(urn.to_owned());
                let target = resolve_user(resource, raw, Some(item))?;
                apply_user_target(resource, target, op, Some(item))?;
            }
            Ok(())
        }
        _ => Err(ScimError::invalid_value(format!(
            "the value for {} must be an object",
            excerpt(urn)
        ))),
    }
}

/// Whether `value` is an array of strings each naming `urn` (case-insensitively).
fn names_only(value: &Value, urn: &str) -> bool {
    value.as_array().is_some_and(|items| {
        items.iter().all(|item| {
            item.as_str()
                .is_some_and(|item| item.eq_ignore_ascii_case(urn))
        })
    })
}

/// The object holding an attribute: the resource, or an extension object (created, and listed in
/// `schemas`, when `create`).
fn container_mut<'a>(
    resource: &'a mut Value,
    extension: Option<&str>,
    create: bool,
) -> Option<&'a mut Map<String, Value>> {
    let Some(extension) = extension else {
        return resource.as_object_mut();
    };
    let exists = resource.get(extension).is_some_and(Value::is_object);
    if !exists {
        if !create {
            return None;
        }
        if let Some(Value::Array(schemas)) = resource.get_mut("schemas")
            && !schemas.iter().any(|have| {
                have.as_str()
                    .is_some_and(|have| have.eq_ignore_ascii_case(extension))
            })
        {
            schemas.push(Value::String(extension.to_owned()));
        }
        resource
            .as_object_mut()?
            .insert(extension.to_owned(), Value::Object(Map::new()));
    }
    resource.get_mut(extension).and_then(Value::as_object_mut)
}

fn drop_empty_extension(resource: &mut Value, extension: &str) {
    let empty = resource
        .get(extension)
        .and_then(Value::as_object)
        .is_some_and(Map::is_empty);
    if empty {
        if let Some(object) = resource.as_object_mut() {
            object.remove(extension);
        }
        remove_schema(resource, extension);
    }
}

fn remove_schema(resource: &mut Value, urn: &str) {
    if let Some(Value::Array(schemas)) = resource.get_mut("schemas") {
        schemas.retain(|have| {
            !have
                .as_str()
                .is_some_and(|have| have.eq_ignore_ascii_case(urn))
        });
    }
}

/// How an attribute's value is shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// A JSON array of elements.
    Multi,
    /// A JSON object of sub-attributes.
    Complex,
    /// A scalar.
    Simple,
}

fn shape_of(
    def: Option<&Attribute>,
    existing: Option<&Value>,
    value: Option<&Value>,
    filtered: bool,
) -> Shape {
    if let Some(def) = def {
        return if def.multi_valued {
            Shape::Multi
        } else if def.kind == Type::Complex {
            Shape::Complex
        } else {
            Shape::Simple
        };
    }
    match (existing, value) {
        (Some(Value::Array(_)), _) => Shape::Multi,
        (Some(Value::Object(_)), _) => Shape::Complex,
        _ if filtered => Shape::Multi,
        (None | Some(Value::Null), Some(Value::Array(_))) => Shape::Multi,
        (None | Some(Value::Null), Some(Value::Object(_))) => Shape::Complex,
        _ => Shape::Simple,
    }
}

fn apply_attribute(
    container: &mut Map<String, Value>,
    target: &AttrTarget,
    op: Op,
    value: Option<&Value>,
) -> ScimResult<()> {
    // Schema attributes are stored under their canonical names; custom ones keep their key.
    let key = match find_key(container, &target.name) {
        Some(existing) if target.def.is_some() && existing != target.name => {
            if let Some(moved) = container.remove(&existing) {
                container.insert(target.name.clone(), moved);
            }
            target.name.clone()
        }
        Some(existing) => existing,
        None => target.name.clone(),
    };
    let shape = shape_of(
        target.def,
        container.get(&key),
        value,
        target.filter.is_some(),
    );
    if target.filter.is_some() || (target.sub.is_some() && shape == Shape::Multi) {
        return apply_elements(container, &key, target, shape, op, value);
    }
    if let Some(sub) = &target.sub {
        return apply_sub_of_complex(container, &key, target, sub, shape, op, value);
    }
    apply_whole(container, &key, target, shape, op, value)
}

/// An attribute without sub-attribute or filter.
fn apply_whole(
    container: &mut Map<String, Value>,
    key: &str,
    target: &AttrTarget,
    shape: Shape,
    op: Op,
    value: Option<&Value>,
) -> ScimResult<()> {
    let required = target.def.is_some_and(|def| def.required);
    if op == Op::Remove {
        if required {
            return Err(ScimError::invalid_value(format!(
                "{} is required",
                target.name
            )));
        }
        match value {
            Some(items) if !items.is_null() && shape == Shape::Multi => {
                let items = match items {
                    Value::Array(items) => items.clone(),
                    item => vec![item.clone()],
                };
                if let Some(Value::Array(elements)) = container.get_mut(key) {
                    elements.retain(|element| {
                        !items
                            .iter()
                            .any(|item| element_matches_item(element, item, target.def))
                    });
                    if elements.is_empty() {
                        container.remove(key);
                    }
                }
            }
            _ => {
                container.remove(key);
            }
        }
        return Ok(());
    }
    let value = normalize(target.def, value.unwrap_or(&Value::Null), &target.display)?;
    if value.is_null() || (required && value.as_str().is_some_and(str::is_empty)) {
        if required {
            return Err(ScimError::invalid_value(format!(
                "{} is required",
                target.name
            )));
        }
        container.remove(key);
        return Ok(());
    }
    match (shape, value) {
        (Shape::Multi, Value::Array(items)) => {
            check_single_primary(&items, &target.display)?;
            if op == Op::Replace || !matches!(container.get(key), Some(Value::Array(_))) {
                if items.is_empty() {
                    container.remove(key);
                } else {
                    container.insert(key.to_owned(), Value::Array(items));
                }
                return Ok(());
            }
            let Some(Value::Array(elements)) = container.get_mut(key) else {
                return Ok(());
            };
            let mut affected = Vec::new();
            for item in items {
                if !elements.contains(&item) {
                    elements.push(item);
                    affected.push(elements.len() - 1);
                }
            }
            fix_primary(elements, &affected);
        }
        (Shape::Complex, Value::Object(entries)) => {
            let current = container
                .entry(key.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if !current.is_object() {
                *current = Value::Object(Map::new());
            }
            if let Some(object) = current.as_object_mut() {
                merge(object, &entries);
                strip_read_only(object, target.def);
                if object.is_empty() {
                    container.remove(key);
                }
            }
        }
        (_, value) => {
            container.insert(key.to_owned(), value);
        }
    }
    Ok(())
}

/// `attr.sub` on a single-valued complex attribute.
fn apply_sub_of_complex(
    container: &mut Map<String, Value>,
    key: &str,
    target: &AttrTarget,
    sub: &SubTarget,
    shape: Shape,
    op: Op,
    value: Option<&Value>,
) -> ScimResult<()> {
    if shape == Shape::Simple && container.get(key).is_some_and(|value| !value.is_null()) {
        return Err(ScimError::invalid_path(format!(
            "{} has no sub-attributes",
            target.display
        )));
    }
    if op == Op::Remove {
        if let Some(Value::Object(object)) = container.get_mut(key) {
            remove_ci(object, &sub.name);
            if object.is_empty() {
                container.remove(key);
            }
        }
        return Ok(());
    }
    let value = normalize_scalar(sub.def, value.unwrap_or(&Value::Null), &target.display)?;
    let current = container
        .entry(key.to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    if !current.is_object() {
        *current = Value::Object(Map::new());
    }
    if let Some(object) = current.as_object_mut() {
        set_ci(object, &sub.name, value);
        strip_read_only(object, target.def);
        if object.is_empty() {
            container.remove(key);
        }
    }
    Ok(())
}

/// A value path (`attr[filter]`, `attr[filter].sub`) or `attr.sub` on a multi-valued attribute
/// (which targets every element).
fn apply_elements(
    container: &mut Map<String, Value>,
    key: &str,
    target: &AttrTarget,
    shape: Shape,
    op: Op,
    value: Option<&Value>,
) -> ScimResult<()> {
    if shape == Shape::Simple {
        return Err(ScimError::invalid_path(format!(
            "{} is not multi-valued",
            target.display
        )));
    }
    let mut elements = match container.remove(key) {
        Some(Value::Array(elements)) => elements,
        None | Some(Value::Null) => Vec::new(),
        Some(other) => vec![other],
    };
    let mut matched = Vec::new();
    for (index, element) in elements.iter().enumerate() {
        let hit = match &target.filter {
            Some(filter) => filter_matches(filter, element, target.def)?,
            None => true,
        };
        if hit {
            matched.push(index);
        }
    }
    let no_target = || ScimError::no_target(format!("no value matches \"{}\"", target.display));
    match op {
        Op::Remove => {
            if matched.is_empty() && target.filter.is_some() {
                return Err(no_target());
            }
            for &index in matched.iter().rev() {
                match &target.sub {
                    Some(sub) => {
                        if let Some(object) = elements[index].as_object_mut() {
                            remove_ci(object, &sub.name);
                            if object.is_empty() {
                                elements.remove(index);
                            }
                        }
                    }
                    None => {
                        elements.remove(index);
                    }
                }
            }
        }
        Op::Add | Op::Replace => {
            let raw = value.unwrap_or(&Value::Null);
            let affected = if matched.is_empty() {
                if op == Op::Replace && target.filter.is_some() {
                    return Err(no_target());
                }
                let mut element = Map::new();
                if let Some(filter) = &target.filter {
                    let Some(conditions) = eq_template(filter) else {
                        return Err(ScimError::no_target(format!(
                            "no value matches \"{}\", and its filter cannot describe a new one",
                            target.display
                        )));
                    };
                    for (name, literal) in conditions {
                        let def = target.def.and_then(|def| def.sub(&name));
                        let name = def.map_or(name, |def| def.name.to_owned());
                        let literal = normalize_scalar(def, &literal, &target.display)?;
                        set_ci(&mut element, &name, literal);
                    }
                }
                match &target.sub {
                    Some(sub) => {
                        let value = normalize_scalar(sub.def, raw, &target.display)?;
                        set_ci(&mut element, &sub.name, value);
                    }
                    None => {
                        if let Value::Object(entries) =
                            normalize_element(target.def, raw, &target.display)?
                        {
                            merge(&mut element, &entries);
                        }
                    }
                }
                if shape == Shape::Complex {
                    elements.clear();
                }
                elements.push(Value::Object(element));
                vec![elements.len() - 1]
            } else {
                let update = match &target.sub {
                    Some(sub) => normalize_scalar(sub.def, raw, &target.display)?,
                    None => normalize_element(target.def, raw, &target.display)?,
                };
                for &index in &matched {
                    let element = &mut elements[index];
                    if !element.is_object() {
                        let scalar = std::mem::take(element);
                        let mut object = Map::new();
                        object.insert("value".to_owned(), scalar);
                        *element = Value::Object(object);
                    }
                    let Some(object) = element.as_object_mut() else {
                        continue;
                    };
                    match (&target.sub, &update) {
                        (Some(sub), update) => set_ci(object, &sub.name, update.clone()),
                        (None, Value::Object(entries)) if op == Op::Add => merge(object, entries),
                        (None, Value::Object(entries)) => {
                            object.clear();
                            merge(object, entries);
                        }
                        (None, _) => {}
                    }
                }
                matched
            };
            if shape == Shape::Complex {
                if let Some(Value::Object(object)) = elements.first_mut() {
                    strip_read_only(object, target.def);
                }
            } else {
                if let Some(items) = value.and_then(Value::as_array) {
                    check_single_primary(items, &target.display)?;
                }
                fix_primary(&mut elements, &affected);
            }
        }
    }
    elements.retain(|element| !element.as_object().is_some_and(Map::is_empty));
    match shape {
        Shape::Complex => {
            if let Some(element) = elements.into_iter().next() {
                container.insert(key.to_owned(), element);
            }
        }
        _ => {
            if !elements.is_empty() {
                container.insert(key.to_owned(), Value::Array(elements));
            }
        }
    }
    Ok(())
}

/// Whether `element` is what a remove's `value` item designates: same `value` (the usual form,
/// `{"value": "<id>"}`), or every member of the item equal.
fn element_matches_item(element: &Value, item: &Value, def: Option<&Attribute>) -> bool {
    let value_def = def.and_then(|def| def.sub("value"));
    let case_exact = value_def.is_some_and(|def| def.case_exact);
    let element_value = match element {
        Value::Object(object) => get_ci(object, "value"),
        scalar => Some(scalar),
    };
    match item {
        Value::Object(item) => match get_ci(item, "value") {
            Some(wanted) => element_value.is_some_and(|have| same_value(have, wanted, case_exact)),
            None => {
                !item.is_empty()
                    && element.as_object().is_some_and(|object| {
                        item.iter()
                            .all(|(key, wanted)| get_ci(object, key) == Some(wanted))
                    })
            }
        },
        wanted => element_value.is_some_and(|have| same_value(have, wanted, case_exact)),
    }
}

fn same_value(have: &Value, wanted: &Value, case_exact: bool) -> bool {
    match (have, wanted) {
        (Value::String(have), Value::String(wanted)) if !case_exact => {
            have.to_lowercase() == wanted.to_lowercase()
        }
        _ => have == wanted,
    }
}

/// Sub-attributes the server derives (readOnly), dropped from a complex value when it is written
/// (they would be stale: `manager.displayName` follows `manager.value`).
fn strip_read_only(object: &mut Map<String, Value>, def: Option<&Attribute>) {
    if let Some(def) = def {
        object.retain(|key, _| {
            def.sub(key)
                .is_none_or(|sub| sub.mutability != Mutability::ReadOnly)
        });
    }
}

/// At most one element may have `primary: true` (RFC 7643 §2.4): the last affected one with it wins.
fn fix_primary(elements: &mut [Value], affected: &[usize]) {
    let Some(&winner) = affected
        .iter()
        .rev()
        .find(|&&index| is_primary(&elements[index]))
    else {
        return;
    };
    for (index, element) in elements.iter_mut().enumerate() {
        if index != winner
            && is_primary(element)
            && let Some(object) = element.as_object_mut()
        {
            set_ci(object, "primary", Value::Bool(false));
        }
    }
}

fn is_primary(element: &Value) -> bool {
    element
        .as_object()
        .and_then(|object| get_ci(object, "primary"))
        == Some(&Value::Bool(true))
}

fn check_single_primary(items: &[Value], display: &str) -> ScimResult<()> {
    let primaries = items
        .iter()
        .filter(|item| {
            match item
                .as_object()
                .and_then(|object| get_ci(object, "primary"))
            {
                Some(Value::Bool(primary)) => *primary,
                Some(Value::String(primary)) => primary.eq_ignore_ascii_case("true"),
                _ => false,
            }
        })
        .count();
    if primaries > 1 {
        return Err(ScimError::invalid_value(format!(
            "at most one value of {display} may be primary"
        )));
    }
    Ok(())
}

/// Merges sub-attributes into an object; a `null` removes one.
fn merge(object: &mut Map<String, Value>, entries: &Map<String, Value>) {
    for (key, value) in entries {
        set_ci(object, key, value.clone());
    }
}

// ---------------------------------------------------------------------------------------------
// Typing
// ---------------------------------------------------------------------------------------------

/// Types a whole attribute value: multi-valued attributes become arrays of element objects,
/// complex ones objects (a bare id becomes `{"value": id}`, a one-element array is unwrapped),
/// scalars are typed by [`normalize_scalar`].
fn normalize(def: Option<&Attribute>, value: &Value, display: &str) -> ScimResult<Value> {
    let Some(def) = def else {
        return Ok(value.clone());
    };
    if value.is_null() {
        return Ok(Value::Null);
    }
    if def.multi_valued {
        let items = match value {
            Value::Array(items) => items
                .iter()
                .filter(|item| !item.is_null())
                .collect::<Vec<_>>(),
            item => vec![item],
        };
        return items
            .into_iter()
            .map(|item| normalize_element(Some(def), item, display))
            .collect::<ScimResult<Vec<_>>>()
            .map(Value::Array);
    }
    if def.kind == Type::Complex {
        return match value {
            Value::Array(items) if items.is_empty() => Ok(Value::Null),
            Value::Array(items) if items.len() == 1 => {
                normalize_element(Some(def), &items[0], display)
            }
            Value::Array(_) => Err(ScimError::invalid_value(format!(
                "{display} is single-valued: give one value"
            ))),
            item => normalize_element(Some(def), item, display),
        };
    }
    normalize_scalar(Some(def), value, display)
}

/// Types one element of a complex attribute: an object of known sub-attributes (readOnly ones are
/// dropped; `null` ones kept, meaning "remove"), or a scalar taken as its `value`.
fn normalize_element(def: Option<&Attribute>, value: &Value, display: &str) -> ScimResult<Value> {
    let Some(def) = def else {
        return Ok(value.clone());
    };
    match value {
        Value::Object(entries) => {
            let mut object = Map::new();
            for (key, item) in entries {
                let Some(sub) = def.sub(key) else {
                    if item.is_null() {
                        continue;
                    }
                    return Err(ScimError::invalid_path(format!(
                        "unknown sub-attribute \"{}.{}\"",
                        def.name,
                        excerpt(key)
                    )));
                };
                if sub.mutability == Mutability::ReadOnly {
                    continue;
                }
                object.insert(
                    sub.name.to_owned(),
                    normalize_scalar(Some(sub), item, display)?,
                );
            }
            Ok(Value::Object(object))
        }
        Value::Null => Ok(Value::Object(Map::new())),
        scalar => {
            let Some(value_def) = def.sub("value") else {
                return Err(ScimError::invalid_value(format!(
                    "{display} needs an object value"
                )));
            };
            let mut object = Map::new();
            object.insert(
                value_def.name.to_owned(),
                normalize_scalar(Some(value_def), scalar, display)?,
            );
            Ok(Value::Object(object))
        }
    }
}

/// Types a scalar: booleans accept `"true"`/`"false"` in any case; strings accept numbers (kept
/// as written).
fn normalize_scalar(def: Option<&Attribute>, value: &Value, display: &str) -> ScimResult<Value> {
    let Some(def) = def else {
        return Ok(value.clone());
    };
    match (def.kind, value) {
        (_, Value::Null) => Ok(Value::Null),
        (Type::Boolean, Value::Bool(_)) => Ok(value.clone()),
        (Type::Boolean, Value::String(text)) if text.trim().eq_ignore_ascii_case("true") => {
            Ok(Value::Bool(true))
        }
        (Type::Boolean, Value::String(text)) if text.trim().eq_ignore_ascii_case("false") => {
            Ok(Value::Bool(false))
        }
        (Type::Boolean, _) => Err(ScimError::invalid_value(format!(
            "{} ({display}) must be a boolean",
            def.name
        ))),
        (Type::Complex, _) => Ok(value.clone()),
        (_, Value::String(_)) => Ok(value.clone()),
        (_, Value::Number(number)) => Ok(Value::String(number.to_string())),
        (_, _) => Err(ScimError::invalid_value(format!(
            "{} ({display}) must be a string",
            def.name
        ))),
    }
}

// ---------------------------------------------------------------------------------------------
// Value filters, evaluated on one element
// ---------------------------------------------------------------------------------------------

/// Checks a value filter's sub-attribute names against the attribute (so an unknown name fails
/// even when there are no elements to test).
fn check_filter(filter: &pb::Filter, def: Option<&'static Attribute>) -> ScimResult<()> {
    match &filter.node {
        Some(Node::And(list)) | Some(Node::Or(list)) => list
            .filters
            .iter()
            .try_for_each(|filter| check_filter(filter, def)),
        Some(Node::Not(inner)) => check_filter(inner, def),
        Some(Node::Compare(comparison)) => {
            let path = comparison
                .path
                .as_ref()
                .ok_or_else(|| ScimError::invalid_filter("a comparison has no attribute"))?;
            filter_sub(path, def).map(|_| ())
        }
        Some(Node::Present(path)) => filter_sub(path, def).map(|_| ()),
        Some(Node::ValuePath(_)) => {
            Err(ScimError::invalid_filter("value filters cannot be nested"))
        }
        None => Err(ScimError::invalid_filter("empty filter")),
    }
}

/// The sub-attribute a filter path names inside one element.
fn filter_sub(
    path: &pb::AttributePath,
    def: Option<&'static Attribute>,
) -> ScimResult<(String, Option<&'static Attribute>)> {
    let name = if path.sub_attribute.is_empty() {
        path.attribute.clone()
    } else if def.is_some_and(|def| def.name.eq_ignore_ascii_case(&path.attribute)) {
        // `emails[emails.type eq "work"]`: the attribute repeated.
        path.sub_attribute.clone()
    } else {
        return Err(ScimError::invalid_filter(format!(
            "\"{}.{}\" is not a sub-attribute of one value",
            excerpt(&path.attribute),
            excerpt(&path.sub_attribute)
        )));
    };
    match def {
        None => Ok((name, None)),
        Some(def) => match def.sub(&name) {
            Some(sub) => Ok((sub.name.to_owned(), Some(sub))),
            None => Err(ScimError::invalid_filter(format!(
                "unknown sub-attribute \"{}.{}\"",
                def.name,
                excerpt(&name)
            ))),
        },
    }
}

fn filter_matches(
    filter: &pb::Filter,
    element: &Value,
    def: Option<&'static Attribute>,
) -> ScimResult<bool> {
    match &filter.node {
        Some(Node::And(list)) => {
            for filter in &list.filters {
                if !filter_matches(filter, element, def)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Some(Node::Or(list)) => {
            for filter in &list.filters {
                if filter_matches(filter, element, def)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Some(Node::Not(inner)) => Ok(!filter_matches(inner, element, def)?),
        Some(Node::Present(path)) => {
            let (name, _) = filter_sub(path, def)?;
            Ok(is_present(element_field(element, &name)))
        }
        Some(Node::Compare(comparison)) => {
            let path = comparison
                .path
                .as_ref()
                .ok_or_else(|| ScimError::invalid_filter("a comparison has no attribute"))?;
            let (name, sub) = filter_sub(path, def)?;
            let literal = comparison
                .value
                .as_ref()
                .and_then(|value| value.kind.as_ref())
                .ok_or_else(|| ScimError::invalid_filter("a comparison has no value"))?;
            let op = pb::CompareOp::try_from(comparison.op).unwrap_or(pb::CompareOp::Unspecified);
            compare(
                op,
                element_field(element, &name),
                literal,
                sub.is_some_and(|sub| sub.case_exact),
            )
        }
        Some(Node::ValuePath(_)) => {
            Err(ScimError::invalid_filter("value filters cannot be nested"))
        }
        None => Err(ScimError::invalid_filter("empty filter")),
    }
}

/// A sub-attribute of one element; a scalar element is its own `value`.
fn element_field<'a>(element: &'a Value, name: &str) -> Option<&'a Value> {
    match element {
        Value::Object(object) => get_ci(object, name),
        scalar if name.eq_ignore_ascii_case("value") => Some(scalar),
        _ => None,
    }
}

fn is_present(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::String(text)) => !text.is_empty(),
        Some(Value::Array(items)) => !items.is_empty(),
        Some(Value::Object(object)) => !object.is_empty(),
        Some(_) => true,
    }
}

fn compare(
    op: pb::CompareOp,
    actual: Option<&Value>,
    literal: &Kind,
    case_exact: bool,
) -> ScimResult<bool> {
    use pb::CompareOp as C;
    if op == C::Unspecified {
        return Err(ScimError::invalid_filter("a comparison has no operator"));
    }
    if let Kind::NullValue(_) = literal {
        return match op {
            C::Eq => Ok(!is_present(actual)),
            C::Ne => Ok(is_present(actual)),
            _ => Err(ScimError::invalid_filter(
                "null compares only with eq and ne",
            )),
        };
    }
    let actual = match actual {
        None | Some(Value::Null) => return Ok(op == C::Ne),
        Some(Value::Array(items)) => {
            for item in items {
                if compare(op, Some(item), literal, case_exact)? {
                    return Ok(true);
                }
            }
            return Ok(false);
        }
        Some(actual) => actual,
    };
    match (literal, actual) {
        (Kind::BoolValue(wanted), _) => {
            let have = as_bool(actual);
            match op {
                C::Eq => Ok(have == Some(*wanted)),
                C::Ne => Ok(have != Some(*wanted)),
                _ => Err(ScimError::invalid_filter(
                    "booleans compare only with eq and ne",
                )),
            }
        }
        (Kind::StringValue(wanted), Value::Bool(have)) => {
            let wanted = as_bool(&Value::String(wanted.clone()));
            match op {
                C::Eq => Ok(wanted == Some(*have)),
                C::Ne => Ok(wanted != Some(*have)),
                _ => Err(ScimError::invalid_filter(
                    "booleans compare only with eq and ne",
                )),
            }
        }
        (Kind::NumberValue(wanted), _) => match number_of(actual) {
            Some(have) => compare_ordered(op, have.partial_cmp(wanted)),
            None => Ok(op == C::Ne),
        },
        (Kind::StringValue(wanted), Value::Number(have)) => {
            match (have.as_f64(), wanted.trim().parse::<f64>().ok()) {
                (Some(have), Some(wanted)) => compare_ordered(op, have.partial_cmp(&wanted)),
                _ => compare_strings(op, &have.to_string(), wanted, case_exact),
            }
        }
        (Kind::DateTimeValue(wanted), Value::String(have)) => {
            let parse = |text: &str| chrono::DateTime::parse_from_rfc3339(text).ok();
            match (parse(have), parse(wanted)) {
                (Some(have), Some(wanted)) => compare_ordered(op, Some(have.cmp(&wanted))),
                _ => compare_strings(op, have, wanted, true),
            }
        }
        (Kind::StringValue(wanted), Value::String(have)) => {
            compare_strings(op, have, wanted, case_exact)
        }
        _ => Ok(op == C::Ne),
    }
}

fn as_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(value) => Some(*value),
        Value::String(text) if text.eq_ignore_ascii_case("true") => Some(true),
        Value::String(text) if text.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

fn number_of(value: &Value) -> Option<f64> {
    match value {
        Value::Number(number) => number.as_f64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

fn compare_ordered(op: pb::CompareOp, ordering: Option<Ordering>) -> ScimResult<bool> {
    use pb::CompareOp as C;
    let Some(ordering) = ordering else {
        return Ok(op == C::Ne);
    };
    match op {
        C::Eq => Ok(ordering == Ordering::Equal),
        C::Ne => Ok(ordering != Ordering::Equal),
        C::Gt => Ok(ordering == Ordering::Greater),
        C::Ge => Ok(ordering != Ordering::Less),
        C::Lt => Ok(ordering == Ordering::Less),
        C::Le => Ok(ordering != Ordering::Greater),
        C::Co | C::Sw | C::Ew => Err(ScimError::invalid_filter(
            "co, sw and ew compare strings only",
        )),
        C::Unspecified => Err(ScimError::invalid_filter("a comparison has no operator")),
    }
}

fn compare_strings(
    op: pb::CompareOp,
    have: &str,
    wanted: &str,
    case_exact: bool,
) -> ScimResult<bool> {
    use pb::CompareOp as C;
    let (have, wanted) = if case_exact {
        (have.to_owned(), wanted.to_owned())
    } else {
        (have.to_lowercase(), wanted.to_lowercase())
    };
    match op {
        C::Co => Ok(have.contains(&wanted)),
        C::Sw => Ok(have.starts_with(&wanted)),
        C::Ew => Ok(have.ends_with(&wanted)),
        _ => compare_ordered(op, Some(have.cmp(&wanted))),
    }
}

/// The `name eq literal` conditions of a filter made only of `eq` comparisons joined by `and`: the
/// element an `add` creates when nothing matches. `None` for any other shape.
fn eq_template(filter: &pb::Filter) -> Option<Vec<(String, Value)>> {
    let mut conditions = Vec::new();
    collect_eq(filter, &mut conditions).then_some(conditions)
}

fn collect_eq(filter: &pb::Filter, conditions: &mut Vec<(String, Value)>) -> bool {
    match &filter.node {
        Some(Node::And(list)) => list
            .filters
            .iter()
            .all(|filter| collect_eq(filter, conditions)),
        Some(Node::Compare(comparison)) if comparison.op == pb::CompareOp::Eq as i32 => {
            let Some(path) = &comparison.path else {
                return false;
            };
            let name = if path.sub_attribute.is_empty() {
                &path.attribute
            } else {
                &path.sub_attribute
            };
            let literal = match comparison
                .value
                .as_ref()
                .and_then(|value| value.kind.as_ref())
            {
                Some(Kind::StringValue(text)) | Some(Kind::DateTimeValue(text)) => {
                    Value::String(text.clone())
                }
                Some(Kind::BoolValue(value)) => Value::Bool(*value),
                Some(Kind::NumberValue(number)) => match serde_json::Number::from_f64(*number) {
                    Some(number) => Value::Number(number),
                    None => return false,
                },
                Some(Kind::NullValue(_)) | None => return false,
            };
            conditions.push((name.clone(), literal));
            true
        }
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------
// Groups
// ---------------------------------------------------------------------------------------------

/// The schemas of a Group.
static GROUP_SCHEMAS: [&Schema; 1] = [&GROUP];

/// Translates a Group PATCH into the contract's changes, in order. Membership is expressed as
/// deltas (never read-modify-write): `add members` → AddMembers, `remove members[value eq …]` or
/// `remove members` with a value list → RemoveMembers, `replace members` and `remove members`
/// without value → ReplaceMembers.
pub fn group_patch_changes(request: &PatchRequest, group_id: &str) -> ScimResult<Vec<Change>> {
    let mut changes = Vec::new();
    for operation in &request.operations {
        let value = operation.value.as_ref();
        match &operation.path {
            Some(path) => group_change(
                &mut changes,
                operation.op,
                RawPath::from_patch_path(path),
                value,
            )?,
            None => {
                if operation.op == Op::Remove {
                    return Err(ScimError::no_target("remove needs a path"));
                }
                let Some(Value::Object(entries)) = value else {
                    return Err(ScimError::invalid_value(format!(
                        "{} without a path needs an object value",
                        operation.op.name()
                    )));
                };
                for (key, item) in entries {
                    if key.eq_ignore_ascii_case("id") {
                        if item.as_str() == Some(group_id) {
                            continue;
                        }
                        return Err(ScimError::mutability("id is readOnly"));
                    }
                    if key.eq_ignore_ascii_case("schemas") {
                        continue;
                    }
                    if key.eq_ignore_ascii_case("meta") && is_group_meta_echo(item) {
                        continue;
                    }
                    group_change(
                        &mut changes,
                        operation.op,
                        RawPath::from_key(key),
                        Some(item),
                    )?;
                }
            }
        }
    }
    Ok(changes)
}

/// `meta: {"resourceType": "Group"}`, which some clients echo.
fn is_group_meta_echo(meta: &Value) -> bool {
    meta.as_object().is_some_and(|meta| {
        meta.iter().all(|(key, value)| {
            key.eq_ignore_ascii_case("resourceType") && value.as_str() == Some("Group")
        })
    })
}

fn group_change(
    changes: &mut Vec<Change>,
    op: Op,
    raw: RawPath,
    value: Option<&Value>,
) -> ScimResult<()> {
    let display = raw.display();
    let RawPath {
        mut schema,
        mut attribute,
        mut sub_attribute,
        filter,
        trailing,
    } = raw;
    if schema.is_none()
        && starts_with_ci(&attribute, "urn:")
        && let Some((prefix, last)) = attribute.clone().rsplit_once(':')
    {
        schema = Some(prefix.to_owned());
        match last.split_once('.') {
            Some((name, sub)) if sub_attribute.is_none() => {
                attribute = name.to_owned();
                sub_attribute = Some(sub.to_owned());
            }
            _ => attribute = last.to_owned(),
        }
    }
    if let Some(urn) = &schema
        && !urn.eq_ignore_ascii_case(GROUP_SCHEMA)
    {
        return Err(ScimError::invalid_path(format!(
            "unknown attribute \"{display}\""
        )));
    }
    let Some((_, def)) = schema::find(&GROUP_SCHEMAS, None, &attribute) else {
        return Err(ScimError::invalid_path(format!(
            "unknown attribute \"{display}\""
        )));
    };
    if def.mutability == Mutability::ReadOnly {
        return Err(ScimError::mutability(format!("{} is readOnly", def.name)));
    }
    if op != Op::Remove && value.is_none() {
        return Err(ScimError::invalid_value(format!(
            "{} needs a value",
            op.name()
        )));
    }
    let sub = sub_attribute.or(trailing);
    match def.name {
        "members" => {
            if let Some(sub) = sub {
                return match def.sub(&sub) {
                    Some(sub) => Err(ScimError::mutability(format!(
                        "members.{} cannot be changed: add or remove members instead",
                        sub.name
                    ))),
                    None => Err(ScimError::invalid_path(format!(
                        "unknown sub-attribute \"{display}\""
                    ))),
                };
            }
            if let Some(filter) = &filter {
                if op != Op::Remove {
                    return Err(ScimError::invalid_path(format!(
                        "a value filter on members is supported only with remove (path \"{display}\")"
                    )));
                }
                let mut ids = Vec::new();
                member_ids_of_filter(filter, &mut ids)?;
                let members = ids
                    .into_iter()
                    .map(|value| pb::Member {
                        value,
                        ..Default::default()
                    })
                    .collect();
                changes.push(Change::RemoveMembers(pb::MemberList { members }));
                return Ok(());
            }
            match op {
                Op::Add => {
                    let members = parse_members(value.unwrap_or(&Value::Null))?;
                    if !members.is_empty() {
                        changes.push(Change::AddMembers(pb::MemberList { members }));
                    }
                }
                Op::Replace => {
                    let members = parse_members(value.unwrap_or(&Value::Null))?;
                    changes.push(Change::ReplaceMembers(pb::MemberList { members }));
                }
                Op::Remove => match value {
                    Some(value) if !value.is_null() => {
                        let members = parse_members(value)?;
                        if !members.is_empty() {
                            changes.push(Change::RemoveMembers(pb::MemberList { members }));
                        }
                    }
                    _ => changes.push(Change::ReplaceMembers(pb::MemberList::default())),
                },
            }
        }
        "displayName" | "externalId" => {
            if sub.is_some() || filter.is_some() {
                return Err(ScimError::invalid_path(format!(
                    "{} has no sub-attributes (path \"{display}\")",
                    def.name
                )));
            }
            let text = match (op, value) {
                (Op::Remove, _) | (_, None | Some(Value::Null)) => String::new(),
                (_, Some(Value::String(text))) => text.clone(),
                (_, Some(Value::Number(number))) => number.to_string(),
                _ => {
                    return Err(ScimError::invalid_value(format!(
                        "{} must be a string",
                        def.name
                    )));
                }
            };
            if def.name == "displayName" {
                if text.trim().is_empty() {
                    return Err(ScimError::invalid_value("displayName is required"));
                }
                changes.push(Change::SetDisplayName(text));
            } else {
                changes.push(Change::SetExternalId(text));
            }
        }
        _ => {
            return Err(ScimError::invalid_path(format!(
                "unknown attribute \"{display}\""
            )));
        }
    }
    Ok(())
}

/// The ids of `members[value eq "a" or value eq "b" …]`.
fn member_ids_of_filter(filter: &pb::Filter, ids: &mut Vec<String>) -> ScimResult<()> {
    let unsupported = || {
        ScimError::invalid_filter(
            "only members[value eq \"...\"] is supported (optionally joined by or)",
        )
    };
    match &filter.node {
        Some(Node::Or(list)) => list
            .filters
            .iter()
            .try_for_each(|filter| member_ids_of_filter(filter, ids)),
        Some(Node::Compare(comparison)) if comparison.op == pb::CompareOp::Eq as i32 => {
            let path = comparison.path.as_ref().ok_or_else(unsupported)?;
            let names_value = if path.sub_attribute.is_empty() {
                path.attribute.eq_ignore_ascii_case("value")
            } else {
                path.attribute.eq_ignore_ascii_case("members")
                    && path.sub_attribute.eq_ignore_ascii_case("value")
            };
            match comparison
                .value
                .as_ref()
                .and_then(|value| value.kind.as_ref())
            {
                Some(Kind::StringValue(id)) if names_value => {
                    ids.push(id.clone());
                    Ok(())
                }
                _ => Err(unsupported()),
            }
        }
        _ => Err(unsupported()),
    }
}

/// A `members` value: an array (or one) of `{"value": id, "type"?: "User"|"Group"}`; `$ref` and
/// `display` are ignored; a bare string is an id.
fn parse_members(value: &Value) -> ScimResult<Vec<pb::Member>> {
    let items = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items.iter().collect::<Vec<_>>(),
        item => vec![item],
    };
    items
        .into_iter()
        .filter(|item| !item.is_null())
        .map(|item| match item {
            Value::String(id) if !id.is_empty() => Ok(pb::Member {
                value: id.clone(),
                ..Default::default()
            }),
            Value::Object(member) => {
                let Some(Value::String(id)) = get_ci(member, "value")
                    .filter(|id| id.as_str().is_some_and(|id| !id.is_empty()))
                else {
                    return Err(ScimError::invalid_value(
                        "every member needs a non-empty string value (the member's id)",
                    ));
                };
                let kind = match get_ci(member, "type") {
                    None | Some(Value::Null) => pb::MemberType::Unspecified,
                    Some(Value::String(kind)) if kind.eq_ignore_ascii_case("user") => {
                        pb::MemberType::User
                    }
                    Some(Value::String(kind)) if kind.eq_ignore_ascii_case("group") => {
                        pb::MemberType::Group
                    }
                    Some(other) => {
                        let shown = other
                            .as_str()
                            .map_or_else(|| other.to_string(), str::to_owned);
                        return Err(ScimError::invalid_value(format!(
                            "member type \"{}\" is not User or Group",
                            excerpt(&shown)
                        )));
                    }
                };
                Ok(pb::Member {
                    value: id.clone(),
                    r#type: kind as i32,
                    display: String::new(),
                })
            }
            _ => Err(ScimError::invalid_value(
                "members must be objects such as {\"value\": \"<id>\"}",
            )),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Case-insensitive object access
// ---------------------------------------------------------------------------------------------

fn starts_with_ci(text: &str, prefix: &str) -> bool {
    text.len() >= prefix.len()
        && text.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

fn find_key(object: &Map<String, Value>, name: &str) -> Option<String> {
    if object.contains_key(name) {
        return Some(name.to_owned());
    }
    object
        .keys()
        .find(|key| key.eq_ignore_ascii_case(name))
        .cloned()
}

fn get_ci<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    object.get(name).or_else(|| {
        object
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    })
}

fn remove_ci(object: &mut Map<String, Value>, name: &str) {
    while let Some(key) = find_key(object, name) {
        object.remove(&key);
    }
}

/// Sets a member under `name`, replacing any spelling of it; `null` removes it.
fn set_ci(object: &mut Map<String, Value>, name: &str, value: Value) {
    remove_ci(object, name);
    if !value.is_null() {
        object.insert(name.to_owned(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::super::path::AttrPath;
    use super::*;
    use serde_json::json;

    const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    fn user() -> Value {
        json!({
            "schemas": [USER_SCHEMA, ENT],
            "id": "u-1",
            "externalId": "ext-1",
            "userName": "ada@example.com",
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "displayName": "Ada Lovelace",
            "active": true,
            "emails": [{"value": "ada@example.com", "type": "work", "primary": true}],
            "phoneNumbers": [{"value": "+1 555 0100", "type": "mobile"}],
            "addresses": [{"type": "work", "formatted": "1 Main St", "postalCode": "12345"}],
            "groups": [{"value": "g-1", "display": "Eng"}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                "employeeNumber": "42",
                "manager": {"value": "m-1", "displayName": "Boss"}
            },
            "meta": {"resourceType": "User", "created": "2024-01-01T00:00:00Z", "version": "W/\"3\""}
        })
    }

    /// A plain path built by hand: `attr`, `attr.sub`, `urn:…:attr[.sub]`.
    fn path(text: &str) -> PatchPath {
        let (schema, rest) = if text.starts_with("urn:") {
            let (schema, rest) = text.rsplit_once(':').unwrap();
            (Some(schema.to_owned()), rest)
        } else {
            (None, text)
        };
        let (attribute, sub_attribute) = match rest.split_once('.') {
            Some((attribute, sub)) => (attribute.to_owned(), Some(sub.to_owned())),
            None => (rest.to_owned(), None),
        };
        PatchPath {
            attr: AttrPath {
                schema,
                attribute,
                sub_attribute,
            },
            filter: None,
            sub_attribute: None,
        }
    }

    fn value_path(attribute: &str, filter: pb::Filter, sub: Option<&str>) -> PatchPath {
        PatchPath {
            attr: AttrPath {
                schema: None,
                attribute: attribute.to_owned(),
                sub_attribute: None,
            },
            filter: Some(filter),
            sub_attribute: sub.map(str::to_owned),
        }
    }

    fn cmp(name: &str, op: pb::CompareOp, kind: Kind) -> pb::Filter {
        pb::Filter {
            node: Some(Node::Compare(pb::Comparison {
                path: Some(pb::AttributePath {
                    attribute: name.to_owned(),
                    ..Default::default()
                }),
                op: op as i32,
                value: Some(pb::FilterValue { kind: Some(kind) }),
            })),
        }
    }

    fn eq(name: &str, value: &str) -> pb::Filter {
        cmp(name, pb::CompareOp::Eq, Kind::StringValue(value.to_owned()))
    }

    fn or(filters: Vec<pb::Filter>) -> pb::Filter {
        pb::Filter {
            node: Some(Node::Or(pb::FilterList { filters })),
        }
    }

    fn and(filters: Vec<pb::Filter>) -> pb::Filter {
        pb::Filter {
            node: Some(Node::And(pb::FilterList { filters })),
        }
    }

    fn not(filter: pb::Filter) -> pb::Filter {
        pb::Filter {
            node: Some(Node::Not(Box::new(filter))),
        }
    }

    fn present(name: &str) -> pb::Filter {
        pb::Filter {
            node: Some(Node::Present(pb::AttributePath {
                attribute: name.to_owned(),
                ..Default::default()
            })),
        }
    }

    fn operation(op: Op, path: Option<PatchPath>, value: Option<Value>) -> PatchOperation {
        PatchOperation { op, path, value }
    }

    fn request(operations: Vec<PatchOperation>) -> PatchRequest {
        PatchRequest { operations }
    }

    fn patched(operations: Vec<PatchOperation>) -> Value {
        let mut resource = user();
        apply_user_patch(&mut resource, &request(operations)).unwrap();
        resource
    }

    fn patch_error(operations: Vec<PatchOperation>) -> ScimError {
        let mut resource = user();
        apply_user_patch(&mut resource, &request(operations)).unwrap_err()
    }

    fn body(operations: Value) -> Value {
        json!({"schemas": [PATCH_OP_SCHEMA], "Operations": operations})
    }

    fn assert_scim_type(error: &ScimError, scim_type: &str) {
        assert_eq!(
            error.status,
            axum::http::StatusCode::BAD_REQUEST,
            "{error:?}"
        );
        assert_eq!(error.scim_type, Some(scim_type), "{error:?}");
    }

    // ----- parse_patch_request -----

    #[test]
    fn parses_okta_deactivate() {
        let parsed = parse_patch_request(&body(
            json!([{"op": "replace", "value": {"active": false}}]),
        ))
        .unwrap();
        assert_eq!(
            parsed.operations,
            vec![operation(Op::Replace, None, Some(json!({"active": false})))]
        );
    }

    #[test]
    fn parses_op_names_and_keys_in_any_case() {
        let parsed = parse_patch_request(&json!({
            "schemas": [PATCH_OP_SCHEMA],
            "operations": [
                {"op": "Add", "value": {"nickName": "Babs"}},
                {"OP": "REPLACE", "Value": {"active": true}},
                {"op": "remove", "path": null},
            ]
        }))
        .unwrap();
        let ops: Vec<Op> = parsed
            .operations
            .iter()
            .map(|operation| operation.op)
            .collect();
        assert_eq!(ops, vec![Op::Add, Op::Replace, Op::Remove]);
        assert_eq!(parsed.operations[1].value, Some(json!({"active": true})));
        assert_eq!(parsed.operations[2].path, None);
        assert_eq!(parsed.operations[2].value, None);
    }

    #[test]
    fn parse_accepts_missing_schemas_and_keeps_explicit_null() {
        let parsed =
            parse_patch_request(&json!({"Operations": [{"op": "replace", "value": null}]}))
                .unwrap();
        assert_eq!(parsed.operations[0].value, Some(Value::Null));
    }

    #[test]
    fn parse_rejects_non_object_body() {
        assert_scim_type(
            &parse_patch_request(&json!([1])).unwrap_err(),
            "invalidSyntax",
        );
    }

    #[test]
    fn parse_rejects_wrong_schemas() {
        let error = parse_patch_request(&json!({
            "schemas": [USER_SCHEMA],
            "Operations": [{"op": "replace", "value": {"active": false}}]
        }))
        .unwrap_err();
        assert_scim_type(&error, "invalidValue");
    }

    #[test]
    fn parse_rejects_missing_or_empty_operations() {
        assert_scim_type(
            &parse_patch_request(&json!({"schemas": [PATCH_OP_SCHEMA]})).unwrap_err(),
            "invalidSyntax",
        );
        assert_scim_type(
            &parse_patch_request(&body(json!([]))).unwrap_err(),
            "invalidSyntax",
        );
        assert_scim_type(
            &parse_patch_request(&body(json!({"op": "add"}))).unwrap_err(),
            "invalidSyntax",
        );
        assert_scim_type(
            &parse_patch_request(&body(json!(["add"]))).unwrap_err(),
            "invalidSyntax",
        );
    }

    #[test]
    fn parse_rejects_too_many_operations() {
        let operations: Vec<Value> = (0..=MAX_OPERATIONS)
            .map(|_| json!({"op": "replace", "value": {"active": true}}))
            .collect();
        assert_scim_type(
            &parse_patch_request(&body(Value::Array(operations))).unwrap_err(),
            "tooMany",
        );
        let operations: Vec<Value> = (0..MAX_OPERATIONS)
            .map(|_| json!({"op": "replace", "value": {"active": true}}))
            .collect();
        assert_eq!(
            parse_patch_request(&body(Value::Array(operations)))
                .unwrap()
                .operations
                .len(),
            MAX_OPERATIONS
        );
    }

    #[test]
    fn parse_rejects_unknown_op_naming_it() {
        let error =
            parse_patch_request(&body(json!([{"op": "upsert", "value": {"active": true}}])))
                .unwrap_err();
        assert_scim_type(&error, "invalidSyntax");
        assert!(error.detail.contains("upsert"), "{}", error.detail);
        let error = parse_patch_request(&body(json!([{"value": {"active": true}}]))).unwrap_err();
        assert_scim_type(&error, "invalidSyntax");
        let error =
            parse_patch_request(&body(json!([{"op": 1, "value": {"active": true}}]))).unwrap_err();
        assert_scim_type(&error, "invalidSyntax");
    }

    #[test]
    fn parse_requires_value_for_add_and_replace() {
        assert_scim_type(
            &parse_patch_request(&body(json!([{"op": "add"}]))).unwrap_err(),
            "invalidValue",
        );
        assert_scim_type(
            &parse_patch_request(&body(json!([{"op": "Replace"}]))).unwrap_err(),
            "invalidValue",
        );
        assert_scim_type(
            &parse_patch_request(&body(json!([{"op": "remove", "path": 7}]))).unwrap_err(),
            "invalidSyntax",
        );
    }

    #[test]
    fn parse_propagates_path_errors() {
        let error = parse_patch_request(&body(json!([{"op": "remove", "path": "emails[type eq"}])))
            .unwrap_err();
        assert_eq!(error.status, axum::http::StatusCode::BAD_REQUEST);
        assert!(
            error.scim_type == Some("invalidPath") || error.scim_type == Some("invalidFilter"),
            "{error:?}"
        );
    }

    // ----- users: booleans and path-less values -----

    #[test]
    fn removing_active_leaves_it_unassigned() {
        let mut resource = user();
        apply_user_patch(
            &mut resource,
            &request(vec![operation(Op::Remove, Some(path("active")), None)]),
        )
        .unwrap();
        assert!(resource.get("active").is_none(), "{resource}");
        // The core stores an unassigned `active` as inactive (see the e2e test).
        assert_eq!(
            crate::scim::resource::user_from_scim(&resource)
                .unwrap()
                .active,
            None
        );
    }

    #[test]
    fn okta_password_sync_is_refused_as_mutability() {
        let mut resource = user();
        let error = apply_user_patch(
            &mut resource,
            &request(vec![operation(
                Op::Replace,
                None,
                Some(json!({"password": "t1meMa$heen"})),
            )]),
        )
        .unwrap_err();
        assert_eq!(error.scim_type, Some("mutability"));
        assert!(error.detail.contains("password"));
        assert!(!error.detail.contains("t1meMa$heen"));
    }

    #[test]
    fn okta_deactivate_and_reactivate() {
        let resource = patched(vec![operation(
            Op::Replace,
            None,
            Some(json!({"active": false})),
        )]);
        assert_eq!(resource["active"], json!(false));
        let mut resource = resource;
        apply_user_patch(
            &mut resource,
            &request(vec![operation(
                Op::Replace,
                None,
                Some(json!({"active": true})),
            )]),
        )
        .unwrap();
        assert_eq!(resource["active"], json!(true));
    }

    #[test]
    fn entra_string_booleans() {
        let resource = patched(vec![operation(
            Op::Replace,
            Some(path("active")),
            Some(json!("False")),
        )]);
        assert_eq!(resource["active"], json!(false));
        let resource = patched(vec![operation(
            Op::Replace,
            Some(path("active")),
            Some(json!("true")),
        )]);
        assert_eq!(resource["active"], json!(true));
        let resource = patched(vec![operation(
            Op::Add,
            None,
            Some(json!({"Active": "FALSE"})),
        )]);
        assert_eq!(resource["active"], json!(false));
        assert!(resource.get("Active").is_none());
    }

    #[test]
    fn non_boolean_for_boolean_is_invalid_value() {
        let error = patch_error(vec![operation(
            Op::Replace,
            Some(path("active")),
            Some(json!(0)),
        )]);
        assert_scim_type(&error, "invalidValue");
        let error = patch_error(vec![operation(
            Op::Replace,
            Some(path("active")),
            Some(json!("nope")),
        )]);
        assert_scim_type(&error, "invalidValue");
        let error = patch_error(vec![operation(
            Op::Add,
            Some(path("emails")),
            Some(json!([{"value": "x@example.com", "primary": "yes"}])),
        )]);
        assert_scim_type(&error, "invalidValue");
    }

    #[test]
    fn entra_multi_key_pathless_replace() {
        let resource = patched(vec![operation(
            Op::Replace,
            None,
            Some(json!({
                "displayName": "Bjfe",
                "name.givenName": "Kkom",
                "name.familyName": "Unua",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "Aklq"
            })),
        )]);
        assert_eq!(resource["displayName"], json!("Bjfe"));
        assert_eq!(
            resource["name"],
            json!({"givenName": "Kkom", "familyName": "Unua"})
        );
        assert_eq!(resource[ENT]["employeeNumber"], json!("Aklq"));
        assert_eq!(resource[ENT]["manager"]["value"], json!("m-1"));
        assert!(resource.get("name.givenName").is_none());
        assert!(
            resource
                .as_object()
                .unwrap()
                .keys()
                .all(|key| !key.ends_with("employeeNumber"))
        );
    }

    #[test]
    fn entra_default_dialect_one_operation_per_attribute() {
        let resource = patched(vec![
            operation(Op::Replace, Some(path("displayName")), Some(json!("Pvlo"))),
            operation(
                Op::Replace,
                Some(value_path("emails", eq("type", "work"), Some("value"))),
                Some(json!("TestBcwqnm@test.microsoft.com")),
            ),
            operation(
                Op::Replace,
                Some(path("name.givenName")),
                Some(json!("Gtfd")),
            ),
            operation(
                Op::Replace,
                Some(path("name.familyName")),
                Some(json!("Pkqf")),
            ),
            operation(Op::Replace, Some(path("externalId")), Some(json!("Eqpj"))),
            operation(
                Op::Replace,
                Some(path(&format!("{ENT}:employeeNumber"))),
                Some(json!("Eqpj")),
            ),
        ]);
        assert_eq!(resource["displayName"], json!("Pvlo"));
        assert_eq!(
            resource["emails"],
            json!([{"value": "TestBcwqnm@test.microsoft.com", "type": "work", "primary": true}])
        );
        assert_eq!(
            resource["name"],
            json!({"givenName": "Gtfd", "familyName": "Pkqf"})
        );
        assert_eq!(resource["externalId"], json!("Eqpj"));
        assert_eq!(resource[ENT]["employeeNumber"], json!("Eqpj"));
    }

    #[test]
    fn pathless_plain_names_in_any_case() {
        let resource = patched(vec![operation(
            Op::Replace,
            None,
            Some(json!({"DISPLAYNAME": "X", "nickname": "Y"})),
        )]);
        assert_eq!(resource["displayName"], json!("X"));
        assert_eq!(resource["nickName"], json!("Y"));
        assert!(resource.get("DISPLAYNAME").is_none());
    }

    #[test]
    fn pathless_add_appends_multi_valued_and_merges_complex() {
        let resource = patched(vec![operation(
            Op::Add,
            None,
            Some(json!({
                "emails": [{"value": "home@example.com", "type": "home"}],
                "name": {"middleName": "King"}
            })),
        )]);
        assert_eq!(resource["emails"].as_array().unwrap().len(), 2);
        assert_eq!(
            resource["emails"][1],
            json!({"value": "home@example.com", "type": "home"})
        );
        assert_eq!(
            resource["name"],
            json!({"givenName": "Ada", "familyName": "Lovelace", "middleName": "King"})
        );
    }

    #[test]
    fn pathless_replace_replaces_multi_valued() {
        let resource = patched(vec![operation(
            Op::Replace,
            None,
            Some(json!({"emails": [{"value": "new@example.com", "type": "work"}]})),
        )]);
        assert_eq!(
            resource["emails"],
            json!([{"value": "new@example.com", "type": "work"}])
        );
    }

    #[test]
    fn pathless_enterprise_object_merges() {
        let resource = patched(vec![operation(
            Op::Add,
            None,
            Some(json!({ENT: {"department": "R&D", "manager": "m-2"}})),
        )]);
        assert_eq!(
            resource[ENT],
            json!({"employeeNumber": "42", "department": "R&D", "manager": {"value": "m-2"}})
        );
    }

    #[test]
    fn pathless_ignores_echoed_id_meta_and_schemas() {
        let resource = patched(vec![operation(
            Op::Replace,
            None,
            Some(json!({
                "id": "u-1",
                "schemas": [USER_SCHEMA, ENT],
                "meta": {"resourceType": "User"},
                "displayName": "Renamed"
            })),
        )]);
        assert_eq!(resource["displayName"], json!("Renamed"));
        assert_eq!(resource["id"], json!("u-1"));
    }

    #[test]
    fn pathless_read_only_keys_are_mutability_errors() {
        for value in [
            json!({"id": "other"}),
            json!({"meta": {"resourceType": "Group"}}),
            json!({"groups": []}),
            json!({"schemas": ["urn:example:other"]}),
            json!({"meta.created": "2020-01-01T00:00:00Z"}),
        ] {
            let error = patch_error(vec![operation(Op::Replace, None, Some(value.clone()))]);
            assert_scim_type(&error, "mutability");
        }
    }

    #[test]
    fn pathless_value_must_be_an_object() {
        let error = patch_error(vec![operation(Op::Replace, None, Some(json!("x")))]);
        assert_scim_type(&error, "invalidValue");
    }

    // ----- users: paths -----

    #[test]
    fn read_only_paths_are_mutability_errors() {
        for target in [
            "id",
            "meta",
            "meta.created",
            "groups",
            "groups.value",
            "schemas",
        ] {
            let error = patch_error(vec![operation(
                Op::Replace,
                Some(path(target)),
                Some(json!("x")),
            )]);
            assert_scim_type(&error, "mutability");
            let error = patch_error(vec![operation(Op::Remove, Some(path(target)), None)]);
            assert_scim_type(&error, "mutability");
        }
        let error = patch_error(vec![operation(
            Op::Replace,
            Some(path(&format!("{ENT}:manager.displayName"))),
            Some(json!("x")),
        )]);
        assert_scim_type(&error, "mutability");
    }

    #[test]
    fn unknown_attribute_is_invalid_path_naming_it() {
        let error = patch_error(vec![operation(
            Op::Replace,
            Some(path("favoriteColor")),
            Some(json!("blue")),
        )]);
        assert_scim_type(&error, "invalidPath");
        assert!(error.detail.contains("favoriteColor"), "{}", error.detail);
        let error = patch_error(vec![operation(
            Op::Replace,
            None,
            Some(json!({"favoriteColor": "blue"})),
        )]);
        assert_scim_type(&error, "invalidPath");
        assert!(error.detail.contains("favoriteColor"), "{}", error.detail);
        let error = patch_error(vec![operation(
            Op::Replace,
            Some(path(&format!("{ENT}:shoeSize"))),
            Some(json!("9")),
        )]);
        assert_scim_type(&error, "invalidPath");
        let long = "x".repeat(500);
        let error = patch_error(vec![operation(
            Op::Replace,
            Some(path(&long)),
            Some(json!("9")),
        )]);
        assert!(error.detail.len() < 200, "{}", error.detail);
    }

    #[test]
    fn unknown_sub_attribute_is_invalid_path() {
        let error = patch_error(vec![operation(
            Op::Replace,
            Some(path("name.nickname")),
            Some(json!("x")),
        )]);
        assert_scim_type(&error, "invalidPath");
        let error = patch_error(vec![operation(
            Op::Replace,
            Some(path("userName.first")),
            Some(json!("x")),
        )]);
        assert_scim_type(&error, "invalidPath");
        let error = patch_error(vec![operation(
            Op::Add,
            Some(path("emails")),
            Some(json!([{"value": "a@b.c", "bogus": 1}])),
        )]);
        assert_scim_type(&error, "invalidPath");
        let error = patch_error(vec![operation(
            Op::Replace,
            Some(value_path("emails", eq("type", "work"), Some("label"))),
            Some(json!("x")),
        )]);
        assert_scim_type(&error, "invalidPath");
        let error = patch_error(vec![operation(
            Op::Replace,
            Some(path("name")),
            Some(json!({"nick": "x"})),
        )]);
        assert_scim_type(&error, "invalidPath");
    }

    #[test]
    fn add_single_valued_sets() {
        let resource = patched(vec![operation(
            Op::Add,
            Some(path("nickName")),
            Some(json!("Babs")),
        )]);
        assert_eq!(resource["nickName"], json!("Babs"));
        let resource = patched(vec![operation(
            Op::Add,
            Some(path("name.givenName")),
            Some(json!("Augusta")),
        )]);
        assert_eq!(resource["name"]["givenName"], json!("Augusta"));
        assert_eq!(resource["name"]["familyName"], json!("Lovelace"));
    }

    #[test]
    fn add_multi_valued_appends_skipping_duplicates() {
        let resource = patched(vec![operation(
            Op::Add,
            Some(path("emails")),
            Some(json!([
                {"value": "ada@example.com", "type": "work", "primary": true},
                {"value": "home@example.com", "type": "home"}
            ])),
        )]);
        assert_eq!(
            resource["emails"],
            json!([
                {"value": "ada@example.com", "type": "work", "primary": true},
                {"value": "home@example.com", "type": "home"}
            ])
        );
        let resource = patched(vec![operation(
            Op::Add,
            Some(path("phoneNumbers")),
            Some(json!({"value": "+1 555 0199", "type": "work"})),
        )]);
        assert_eq!(resource["phoneNumbers"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn add_and_replace_complex_merge_sub_attributes() {
        let resource = patched(vec![operation(
            Op::Add,
            Some(path("name")),
            Some(json!({"givenName": "Augusta"})),
        )]);
        assert_eq!(
            resource["name"],
            json!({"givenName": "Augusta", "familyName": "Lovelace"})
        );
        let resource = patched(vec![operation(
            Op::Replace,
            Some(path("name")),
            Some(json!({"familyName": "King", "givenName": null})),
        )]);
        assert_eq!(resource["name"], json!({"familyName": "King"}));
    }

    #[test]
    fn replace_multi_valued_replaces_all() {
        let resource = patched(vec![operation(
            Op::Replace,
            Some(path("phoneNumbers")),
            Some(json!([{"value": "1", "type": "work"}, {"value": "2", "type": "fax"}])),
        )]);
        assert_eq!(
            resource["phoneNumbers"],
            json!([{"value": "1", "type": "work"}, {"value": "2", "type": "fax"}])
        );
    }

    #[test]
    fn replace_with_null_clears() {
        let resource = patched(vec![
            operation(Op::Replace, Some(path("displayName")), Some(Value::Null)),
            operation(Op::Replace, Some(path("emails")), Some(Value::Null)),
            operation(Op::Replace, Some(path("name.givenName")), Some(Value::Null)),
        ]);
        assert!(resource.get("displayName").is_none());
        assert!(resource.get("emails").is_none());
        assert_eq!(resource["name"], json!({"familyName": "Lovelace"}));
        let error = patch_error(vec![operation(
            Op::Replace,
            Some(path("userName")),
            Some(Value::Null),
        )]);
        assert_scim_type(&error, "invalidValue");
    }

    #[test]
    fn numbers_for_strings_are_kept_as_written() {
        let resource = patched(vec![operation(
            Op::Replace,
            Some(path(&format!("{ENT}:employeeNumber"))),
            Some(json!(55555555555_u64)),
        )]);
        assert_eq!(resource[ENT]["employeeNumber"], json!("55555555555"));
        let error = patch_error(vec![operation(
            Op::Replace,
            Some(path("title")),
            Some(json!({"a": 1})),
        )]);
        assert_scim_type(&error, "invalidValue");
    }

    // ----- users: value paths -----

    #[test]
    fn entra_add_work_email_when_none_exists_creates_it() {
        let mut resource = user();
        resource["emails"] = json!([{"value": "home@example.com", "type": "home"}]);
        let request = request(vec![operation(
            Op::Add,
            Some(value_path("emails", eq("type", "work"), Some("value"))),
            Some(json!("work@example.com")),
        )]);
        apply_user_patch(&mut resource, &request).unwrap();
        assert_eq!(
            resource["emails"],
            json!([{"value": "home@example.com", "type": "home"}, {"type": "work", "value": "work@example.com"}])
        );
        let mut resource = user();
        resource.as_object_mut().unwrap().remove("emails");
        apply_user_patch(&mut resource, &request).unwrap();
        assert_eq!(
            resource["emails"],
            json!([{"type": "work", "value": "work@example.com"}])
        );
    }

    #[test]
    fn entra_add_work_email_when_one_exists_overwrites_in_place() {
        let resource = patched(vec![operation(
            Op::Add,
            Some(value_path("emails", eq("type", "work"), Some("value"))),
            Some(json!("new@example.com")),
        )]);
        assert_eq!(
            resource["emails"],
            json!([{"value": "new@example.com", "type": "work", "primary": true}])
        );
    }

    #[test]
    fn filter_strings_compare_ignoring_case() {
        let resource = patched(vec![operation(
            Op::Add,
            Some(value_path("emails", eq("TYPE", "Work"), Some("value"))),
            Some(json!("new@example.com")),
        )]);
        assert_eq!(resource["emails"].as_array().unwrap().len(), 1);
        assert_eq!(resource["emails"][0]["value"], json!("new@example.com"));
    }

    #[test]
    fn entra_address_sub_attribute_replace_keeps_the_rest() {
        let resource = patched(vec![operation(
            Op::Replace,
            Some(value_path(
                "addresses",
                eq("type", "work"),
                Some("formatted"),
            )),
            Some(json!("2 Side St")),
        )]);
        assert_eq!(
            resource["addresses"],
            json!([{"type": "work", "formatted": "2 Side St", "postalCode": "12345"}])
        );
        let resource = patched(vec![operation(
            Op::Replace,
            Some(value_path(
                "addresses",
                eq("type", "work"),
                Some("postalCode"),
            )),
            Some(json!("99999")),
        )]);
        assert_eq!(resource["addresses"][0]["formatted"], json!("1 Main St"));
        assert_eq!(resource["addresses"][0]["postalCode"], json!("99999"));
    }

    #[test]
    fn replace_value_path_without_match_is_no_target() {
        let error = patch_error(vec![operation(
            Op::Replace,
            Some(value_path("emails", eq("type", "home"), Some("value"))),
            Some(json!("x@example.com")),
        )]);
        assert_scim_type(&error, "noTarget");
    }

    #[test]
    fn replace_whole_element_and_add_merges_whole_element() {
        let resource = patched(vec![operation(
            Op::Replace,
            Some(value_path("phoneNumbers", eq("type", "mobile"), None)),
            Some(json!({"value": "+1 555 0111", "type": "mobile"})),
        )]);
        assert_eq!(
            resource["phoneNumbers"],
            json!([{"value": "+1 555 0111", "type": "mobile"}])
        );
        let resource = patched(vec![operation(
            Op::Add,
            Some(value_path("emails", eq("type", "work"), None)),
            Some(json!({"display": "Ada at work"})),
        )]);
        assert_eq!(
            resource["emails"],
            json!([{"value": "ada@example.com", "type": "work", "primary": true, "display": "Ada at work"}])
        );
    }

    #[test]
    fn remove_value_path_removes_matches() {
        let resource = patched(vec![operation(
            Op::Remove,
            Some(value_path("phoneNumbers", eq("type", "mobile"), None)),
            None,
        )]);
        assert!(resource.get("phoneNumbers").is_none());
        let resource = patched(vec![operation(
            Op::Remove,
            Some(value_path(
                "addresses",
                eq("type", "work"),
                Some("postalCode"),
            )),
            None,
        )]);
        assert_eq!(
            resource["addresses"],
            json!([{"type": "work", "formatted": "1 Main St"}])
        );
    }

    #[test]
    fn remove_value_path_without_match_is_no_target() {
        let error = patch_error(vec![operation(
            Op::Remove,
            Some(value_path("phoneNumbers", eq("type", "fax"), None)),
            None,
        )]);
        assert_scim_type(&error, "noTarget");
        let error = patch_error(vec![operation(
            Op::Remove,
            Some(value_path("ims", eq("type", "aim"), Some("value"))),
            None,
        )]);
        assert_scim_type(&error, "noTarget");
    }

    #[test]
    fn entra_roles_primary_string_true_filter() {
        let filter = eq("primary", "True");
        let resource = patched(vec![operation(
            Op::Add,
            Some(value_path("roles", filter.clone(), Some("value"))),
            Some(json!("Admin")),
        )]);
        assert_eq!(
            resource["roles"],
            json!([{"primary": true, "value": "Admin"}])
        );
        let mut resource = resource;
        let second = request(vec![operation(
            Op::Replace,
            Some(value_path("roles", filter, Some("value"))),
            Some(json!("User")),
        )]);
        apply_user_patch(&mut resource, &second).unwrap();
        assert_eq!(
            resource["roles"],
            json!([{"primary": true, "value": "User"}])
        );
        let resource = patched(vec![operation(
            Op::Replace,
            Some(value_path(
                "emails",
                cmp("primary", pb::CompareOp::Eq, Kind::BoolValue(true)),
                Some("value"),
            )),
            Some(json!("p@example.com")),
        )]);
        assert_eq!(resource["emails"][0]["value"], json!("p@example.com"));
    }

    #[test]
    fn add_with_unrepresentable_filter_and_no_match_is_no_target() {
        let filter = or(vec![eq("type", "home"), eq("type", "other")]);
        let error = patch_error(vec![operation(
            Op::Add,
            Some(value_path("emails", filter, Some("value"))),
            Some(json!("x@example.com")),
        )]);
        assert_scim_type(&error, "noTarget");
    }

    #[test]
    fn value_filter_with_unknown_sub_attribute_is_invalid_filter() {
        let error = patch_error(vec![operation(
            Op::Remove,
            Some(value_path("emails", eq("kind", "work"), None)),
            None,
        )]);
        assert_scim_type(&error, "invalidFilter");
    }

    #[test]
    fn value_filter_on_simple_attribute_is_invalid_path() {
        let error = patch_error(vec![operation(
            Op::Remove,
            Some(value_path("userName", eq("value", "x"), None)),
            None,
        )]);
        assert_scim_type(&error, "invalidPath");
    }

    #[test]
    fn filter_operators() {
        let emails = USER.attribute("emails");
        let photos = USER.attribute("photos");
        let element = json!({"value": "Ada@Example.com", "type": "work", "primary": true});
        let check = |filter: pb::Filter| filter_matches(&filter, &element, emails).unwrap();
        let string = |op, text: &str| cmp("value", op, Kind::StringValue(text.to_owned()));
        assert!(check(string(pb::CompareOp::Eq, "ada@example.COM")));
        assert!(check(string(pb::CompareOp::Co, "@EXAMPLE")));
        assert!(check(string(pb::CompareOp::Sw, "ada")));
        assert!(check(string(pb::CompareOp::Ew, ".com")));
        assert!(check(string(pb::CompareOp::Gt, "aaa")));
        assert!(check(string(pb::CompareOp::Ge, "ada@example.com")));
        assert!(check(string(pb::CompareOp::Lt, "b")));
        assert!(check(string(pb::CompareOp::Le, "ada@example.com")));
        assert!(check(string(pb::CompareOp::Ne, "other")));
        assert!(!check(string(pb::CompareOp::Ne, "ADA@example.com")));
        assert!(check(present("type")));
        assert!(!check(present("display")));
        assert!(check(not(eq("type", "home"))));
        assert!(check(and(vec![
            eq("type", "work"),
            cmp(
                "primary",
                pb::CompareOp::Eq,
                Kind::StringValue("TRUE".into())
            )
        ])));
        assert!(check(or(vec![
            eq("type", "home"),
            cmp("primary", pb::CompareOp::Eq, Kind::BoolValue(true))
        ])));
        assert!(!check(cmp(
            "primary",
            pb::CompareOp::Eq,
            Kind::BoolValue(false)
        )));
        assert!(check(cmp(
            "display",
            pb::CompareOp::Eq,
            Kind::NullValue(true)
        )));
        assert!(
            filter_matches(
                &cmp("primary", pb::CompareOp::Gt, Kind::BoolValue(true)),
                &element,
                emails
            )
            .is_err()
        );
        // photos.value is a caseExact reference.
        let photo = json!({"value": "https://example.com/Ada.png"});
        assert!(
            filter_matches(&eq("value", "https://example.com/Ada.png"), &photo, photos).unwrap()
        );
        assert!(
            !filter_matches(&eq("value", "https://example.com/ada.png"), &photo, photos).unwrap()
        );
    }

    // ----- users: primary -----

    #[test]
    fn adding_a_primary_email_demotes_the_others() {
        let resource = patched(vec![operation(
            Op::Add,
            Some(path("emails")),
            Some(json!([{"value": "home@example.com", "type": "home", "primary": true}])),
        )]);
        assert_eq!(resource["emails"][0]["primary"], json!(false));
        assert_eq!(resource["emails"][1]["primary"], json!(true));
    }

    #[test]
    fn setting_primary_through_a_value_path_demotes_the_others() {
        let mut resource = user();
        resource["emails"] = json!([
            {"value": "a@example.com", "type": "work", "primary": true},
            {"value": "b@example.com", "type": "home"}
        ]);
        let request = request(vec![operation(
            Op::Replace,
            Some(value_path("emails", eq("type", "home"), Some("primary"))),
            Some(json!("True")),
        )]);
        apply_user_patch(&mut resource, &request).unwrap();
        assert_eq!(resource["emails"][0]["primary"], json!(false));
        assert_eq!(resource["emails"][1]["primary"], json!(true));
    }

    #[test]
    fn two_primaries_in_one_value_is_invalid_value() {
        let error = patch_error(vec![operation(
            Op::Replace,
            Some(path("emails")),
            Some(
                json!([{"value": "a@x.y", "primary": true}, {"value": "b@x.y", "primary": "True"}]),
            ),
        )]);
        assert_scim_type(&error, "invalidValue");
    }

    // ----- users: manager -----

    #[test]
    fn entra_manager_bare_string() {
        let manager = format!("{ENT}:manager");
        let resource = patched(vec![operation(
            Op::Add,
            Some(path(&manager)),
            Some(json!("2c2f6fb8-254f-492e-b7fe-c09c5a61c8a2")),
        )]);
        assert_eq!(
            resource[ENT]["manager"],
            json!({"value": "2c2f6fb8-254f-492e-b7fe-c09c5a61c8a2"})
        );
        assert_eq!(resource[ENT]["employeeNumber"], json!("42"));
        let resource = patched(vec![operation(
            Op::Replace,
            None,
            Some(json!({manager.clone(): "m-9"})),
        )]);
        assert_eq!(resource[ENT]["manager"], json!({"value": "m-9"}));
    }

    #[test]
    fn manager_value_path_and_object_forms() {
        let resource = patched(vec![operation(
            Op::Replace,
            Some(path(&format!("{ENT}:manager.value"))),
            Some(json!("m-3")),
        )]);
        assert_eq!(resource[ENT]["manager"], json!({"value": "m-3"}));
        let resource = patched(vec![operation(
            Op::Replace,
            Some(path(&format!("{ENT}:manager"))),
            Some(json!({"value": "m-4"})),
        )]);
        assert_eq!(resource[ENT]["manager"], json!({"value": "m-4"}));
        // Entra's old tutorial: unqualified path, array of one object with $ref.
        let resource = patched(vec![operation(
            Op::Add,
            Some(path("manager")),
            Some(json!([{"$ref": "https://example.com/scim/v2/Users/m-5", "value": "m-5"}])),
        )]);
        // `$ref` is readWrite (RFC 7643 §8.7.1); conversion checks that it agrees with `value`.
        assert_eq!(
            resource[ENT]["manager"],
            json!({"$ref": "https://example.com/scim/v2/Users/m-5", "value": "m-5"})
        );
    }

    #[test]
    fn manager_is_created_with_the_extension() {
        let mut resource = user();
        resource.as_object_mut().unwrap().remove(ENT);
        resource["schemas"] = json!([USER_SCHEMA]);
        let request = request(vec![operation(
            Op::Add,
            Some(path(&format!("{ENT}:manager"))),
            Some(json!("m-1")),
        )]);
        apply_user_patch(&mut resource, &request).unwrap();
        assert_eq!(resource[ENT], json!({"manager": {"value": "m-1"}}));
        assert_eq!(resource["schemas"], json!([USER_SCHEMA, ENT]));
    }

    #[test]
    fn whole_extension_value_may_carry_its_own_schemas() {
        for op in [Op::Add, Op::Replace] {
            let resource = patched(vec![operation(
                op,
                Some(path(ENT)),
                Some(json!({"schemas": [ENT], "department": "Sales"})),
            )]);
            assert_eq!(resource[ENT]["department"], json!("Sales"));
            assert!(resource[ENT].get("schemas").is_none());
        }
        // Any other `schemas` inside the extension object is still refused.
        assert_scim_type(
            &patch_error(vec![operation(
                Op::Add,
                Some(path(ENT)),
                Some(json!({"schemas": [USER_SCHEMA], "department": "Sales"})),
            )]),
            "invalidPath",
        );
    }

    #[test]
    fn remove_manager_removes_the_object() {
        let resource = patched(vec![operation(
            Op::Remove,
            Some(path(&format!("{ENT}:manager"))),
            None,
        )]);
        assert_eq!(resource[ENT], json!({"employeeNumber": "42"}));
        let filtered = PatchPath {
            attr: AttrPath {
                schema: Some(ENT.to_owned()),
                attribute: "manager".to_owned(),
                sub_attribute: None,
            },
            filter: Some(eq("value", "m-1")),
            sub_attribute: None,
        };
        let resource = patched(vec![operation(Op::Remove, Some(filtered.clone()), None)]);
        assert_eq!(resource[ENT], json!({"employeeNumber": "42"}));
        let mut other = filtered;
        other.filter = Some(eq("value", "m-2"));
        assert_scim_type(
            &patch_error(vec![operation(Op::Remove, Some(other), None)]),
            "noTarget",
        );
    }

    #[test]
    fn removing_the_last_extension_attribute_drops_the_extension() {
        let resource = patched(vec![
            operation(Op::Remove, Some(path(&format!("{ENT}:manager"))), None),
            operation(
                Op::Remove,
                Some(path(&format!("{ENT}:employeeNumber"))),
                None,
            ),
        ]);
        assert!(resource.get(ENT).is_none());
        assert_eq!(resource["schemas"], json!([USER_SCHEMA]));
    }

    // ----- users: remove -----

    #[test]
    fn remove_without_path_is_no_target() {
        let error = patch_error(vec![operation(Op::Remove, None, None)]);
        assert_scim_type(&error, "noTarget");
    }

    #[test]
    fn remove_plain_paths() {
        let resource = patched(vec![
            operation(Op::Remove, Some(path("displayName")), None),
            operation(Op::Remove, Some(path("name.givenName")), None),
            operation(Op::Remove, Some(path("nickName")), None),
            operation(Op::Remove, Some(path("emails")), None),
        ]);
        assert!(resource.get("displayName").is_none());
        assert!(resource.get("emails").is_none());
        assert_eq!(resource["name"], json!({"familyName": "Lovelace"}));
        let error = patch_error(vec![operation(Op::Remove, Some(path("userName")), None)]);
        assert_scim_type(&error, "invalidValue");
    }

    #[test]
    fn entra_remove_with_value_array_removes_only_those() {
        let mut resource = user();
        resource["emails"] = json!([
            {"value": "a@example.com", "type": "work"},
            {"value": "b@example.com", "type": "home"},
            {"value": "c@example.com", "type": "other"}
        ]);
        let request = request(vec![operation(
            Op::Remove,
            Some(path("emails")),
            Some(json!([{"value": "B@example.com"}, {"value": "z@example.com"}])),
        )]);
        apply_user_patch(&mut resource, &request).unwrap();
        assert_eq!(
            resource["emails"],
            json!([{"value": "a@example.com", "type": "work"}, {"value": "c@example.com", "type": "other"}])
        );
    }

    // ----- users: custom extensions -----

    #[test]
    fn custom_extension_paths() {
        let badge = "urn:acme:params:scim:schemas:extension:acme:1.0:User:badge";
        let extension = "urn:acme:params:scim:schemas:extension:acme:1.0:User";
        let resource = patched(vec![operation(
            Op::Add,
            Some(path(badge)),
            Some(json!("B-7")),
        )]);
        assert_eq!(resource[extension], json!({"badge": "B-7"}));
        assert!(
            resource["schemas"]
                .as_array()
                .unwrap()
                .contains(&json!(extension))
        );
        let mut resource = resource;
        apply_user_patch(
            &mut resource,
            &request(vec![operation(Op::Remove, Some(path(badge)), None)]),
        )
        .unwrap();
        assert!(resource.get(extension).is_none());
        assert!(
            !resource["schemas"]
                .as_array()
                .unwrap()
                .contains(&json!(extension))
        );
        let resource = patched(vec![operation(
            Op::Add,
            None,
            Some(json!({extension: {"badge": "B-8", "floor": 3}})),
        )]);
        assert_eq!(resource[extension], json!({"badge": "B-8", "floor": 3}));
        let resource = patched(vec![operation(
            Op::Replace,
            None,
            Some(json!({badge: "B-9"})),
        )]);
        assert_eq!(resource[extension], json!({"badge": "B-9"}));
    }

    #[test]
    fn scim_namespace_is_not_a_custom_extension() {
        let error = patch_error(vec![operation(
            Op::Add,
            Some(path(
                "urn:ietf:params:scim:schemas:extension:other:2.0:User:badge",
            )),
            Some(json!("x")),
        )]);
        assert_scim_type(&error, "invalidPath");
    }

    // ----- groups -----

    fn changes(operations: Vec<PatchOperation>) -> Vec<Change> {
        group_patch_changes(&request(operations), "g-1").unwrap()
    }

    fn group_error(operations: Vec<PatchOperation>) -> ScimError {
        group_patch_changes(&request(operations), "g-1").unwrap_err()
    }

    fn members(ids: &[(&str, pb::MemberType)]) -> pb::MemberList {
        pb::MemberList {
            members: ids
                .iter()
                .map(|(id, kind)| pb::Member {
                    value: (*id).to_owned(),
                    r#type: *kind as i32,
                    display: String::new(),
                })
                .collect(),
        }
    }

    fn ids(ids: &[&str]) -> pb::MemberList {
        members(
            &ids.iter()
                .map(|id| (*id, pb::MemberType::Unspecified))
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn okta_group_rename_with_id_in_value() {
        let parsed = parse_patch_request(&body(json!([
            {"op": "replace", "value": {"id": "g-1", "displayName": "Test SCIMv2"}}
        ])))
        .unwrap();
        assert_eq!(
            group_patch_changes(&parsed, "g-1").unwrap(),
            vec![Change::SetDisplayName("Test SCIMv2".into())]
        );
        assert_scim_type(
            &group_patch_changes(&parsed, "g-2").unwrap_err(),
            "mutability",
        );
    }

    #[test]
    fn okta_mixed_remove_and_add_members() {
        let result = changes(vec![
            operation(
                Op::Remove,
                Some(value_path("members", eq("value", "89bb1940"), None)),
                None,
            ),
            operation(
                Op::Add,
                Some(path("members")),
                Some(json!([{"value": "23a35c27", "display": "test.user@okta.local"}])),
            ),
        ]);
        assert_eq!(
            result,
            vec![
                Change::RemoveMembers(ids(&["89bb1940"])),
                Change::AddMembers(ids(&["23a35c27"]))
            ]
        );
    }

    #[test]
    fn entra_member_add_and_remove_by_value_array() {
        let result = changes(vec![
            operation(
                Op::Add,
                Some(path("members")),
                Some(json!([{"$ref": null, "value": "f648f8d5ea4e4cd38e9c"}])),
            ),
            operation(
                Op::Remove,
                Some(path("members")),
                Some(json!([{"$ref": null, "value": "f648f8d5ea4e4cd38e9c"}])),
            ),
        ]);
        assert_eq!(
            result,
            vec![
                Change::AddMembers(ids(&["f648f8d5ea4e4cd38e9c"])),
                Change::RemoveMembers(ids(&["f648f8d5ea4e4cd38e9c"]))
            ]
        );
    }

    #[test]
    fn member_removal_by_or_chain() {
        let filter = or(vec![
            eq("value", "a"),
            or(vec![eq("value", "b"), eq("value", "c")]),
        ]);
        let result = changes(vec![operation(
            Op::Remove,
            Some(value_path("members", filter, None)),
            None,
        )]);
        assert_eq!(result, vec![Change::RemoveMembers(ids(&["a", "b", "c"]))]);
    }

    #[test]
    fn other_member_filters_are_invalid_filter() {
        for filter in [
            eq("display", "x"),
            and(vec![eq("value", "a"), eq("type", "User")]),
            cmp("value", pb::CompareOp::Co, Kind::StringValue("a".into())),
            not(eq("value", "a")),
        ] {
            let error = group_error(vec![operation(
                Op::Remove,
                Some(value_path("members", filter, None)),
                None,
            )]);
            assert_scim_type(&error, "invalidFilter");
            assert!(
                error.detail.contains("members[value eq"),
                "{}",
                error.detail
            );
        }
    }

    #[test]
    fn remove_members_without_value_removes_all() {
        let result = changes(vec![operation(Op::Remove, Some(path("members")), None)]);
        assert_eq!(
            result,
            vec![Change::ReplaceMembers(pb::MemberList::default())]
        );
    }

    #[test]
    fn okta_full_push_replaces_members() {
        let result = changes(vec![operation(
            Op::Replace,
            Some(path("members")),
            Some(json!([{"value": "u-1", "type": "User"}, {"value": "g-9", "type": "group"}])),
        )]);
        assert_eq!(
            result,
            vec![Change::ReplaceMembers(members(&[
                ("u-1", pb::MemberType::User),
                ("g-9", pb::MemberType::Group)
            ]))]
        );
        let result = changes(vec![operation(
            Op::Replace,
            None,
            Some(json!({"members": [{"value": "u-2"}], "displayName": "G"})),
        )]);
        assert!(result.contains(&Change::ReplaceMembers(ids(&["u-2"]))));
        assert!(result.contains(&Change::SetDisplayName("G".into())));
        let result = changes(vec![operation(
            Op::Replace,
            Some(path("members")),
            Some(json!([])),
        )]);
        assert_eq!(
            result,
            vec![Change::ReplaceMembers(pb::MemberList::default())]
        );
    }

    #[test]
    fn bad_member_values_are_invalid_value() {
        let error = group_error(vec![operation(
            Op::Add,
            Some(path("members")),
            Some(json!([{"value": "u-1", "type": "Robot"}])),
        )]);
        assert_scim_type(&error, "invalidValue");
        let error = group_error(vec![operation(
            Op::Add,
            Some(path("members")),
            Some(json!([{"display": "no id"}])),
        )]);
        assert_scim_type(&error, "invalidValue");
        let error = group_error(vec![operation(
            Op::Add,
            Some(path("members")),
            Some(json!([7])),
        )]);
        assert_scim_type(&error, "invalidValue");
    }

    #[test]
    fn group_display_name_and_external_id() {
        let result = changes(vec![
            operation(
                Op::Replace,
                Some(path("displayName")),
                Some(json!("Renamed")),
            ),
            operation(Op::Add, Some(path("externalId")), Some(json!("x-1"))),
            operation(Op::Remove, Some(path("externalId")), None),
            operation(Op::Replace, None, Some(json!({"externalId": "x-2"}))),
        ]);
        assert_eq!(
            result,
            vec![
                Change::SetDisplayName("Renamed".into()),
                Change::SetExternalId("x-1".into()),
                Change::SetExternalId(String::new()),
                Change::SetExternalId("x-2".into()),
            ]
        );
        assert_scim_type(
            &group_error(vec![operation(Op::Remove, Some(path("displayName")), None)]),
            "invalidValue",
        );
        assert_scim_type(
            &group_error(vec![operation(
                Op::Replace,
                Some(path("displayName")),
                Some(json!("")),
            )]),
            "invalidValue",
        );
    }

    #[test]
    fn group_read_only_and_unknown_paths() {
        assert_scim_type(
            &group_error(vec![operation(
                Op::Replace,
                Some(path("id")),
                Some(json!("x")),
            )]),
            "mutability",
        );
        assert_scim_type(
            &group_error(vec![operation(
                Op::Replace,
                Some(path("meta.version")),
                Some(json!("x")),
            )]),
            "mutability",
        );
        assert_scim_type(
            &group_error(vec![operation(
                Op::Replace,
                None,
                Some(json!({"meta": {"version": "1"}})),
            )]),
            "mutability",
        );
        assert_scim_type(
            &group_error(vec![operation(
                Op::Replace,
                Some(value_path("members", eq("value", "x"), Some("display"))),
                Some(json!("y")),
            )]),
            "mutability",
        );
        assert_scim_type(
            &group_error(vec![operation(
                Op::Replace,
                Some(path("members.value")),
                Some(json!("y")),
            )]),
            "mutability",
        );
        assert_scim_type(
            &group_error(vec![operation(
                Op::Replace,
                Some(path("members.color")),
                Some(json!("y")),
            )]),
            "invalidPath",
        );
        let error = group_error(vec![operation(
            Op::Replace,
            Some(path("owner")),
            Some(json!("y")),
        )]);
        assert_scim_type(&error, "invalidPath");
        assert!(error.detail.contains("owner"), "{}", error.detail);
        assert_scim_type(
            &group_error(vec![operation(
                Op::Replace,
                None,
                Some(json!({"owner": "y"})),
            )]),
            "invalidPath",
        );
        assert_scim_type(
            &group_error(vec![operation(Op::Remove, None, None)]),
            "noTarget",
        );
    }

    #[test]
    fn group_meta_echo_and_schemas_are_ignored() {
        let result = changes(vec![operation(
            Op::Replace,
            None,
            Some(
                json!({"schemas": [GROUP_SCHEMA], "meta": {"resourceType": "Group"}, "displayName": "G"}),
            ),
        )]);
        assert_eq!(result, vec![Change::SetDisplayName("G".into())]);
        let result = changes(vec![operation(
            Op::Replace,
            Some(path(&format!("{GROUP_SCHEMA}:displayName"))),
            Some(json!("H")),
        )]);
        assert_eq!(result, vec![Change::SetDisplayName("H".into())]);
    }

    // ----- through the real path parser: IDP-QUIRKS.md bodies verbatim -----

    fn apply_body(resource: &mut Value, operations: Value) -> ScimResult<()> {
        apply_user_patch(resource, &parse_patch_request(&body(operations))?)
    }

    #[test]
    fn parsed_paths_have_the_expected_shape() {
        let parsed = parse_patch_request(&body(json!([
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "x@example.com"},
            {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": "m"},
            {"op": "remove", "path": "members[value eq \"89bb1940\"]"}
        ])))
        .unwrap();
        let first = parsed.operations[0].path.as_ref().unwrap();
        assert_eq!(first.attr.attribute, "emails");
        assert_eq!(first.sub_attribute.as_deref(), Some("value"));
        assert_eq!(first.filter, Some(eq("type", "work")));
        let second = parsed.operations[1].path.as_ref().unwrap();
        assert_eq!(second.attr.schema.as_deref(), Some(ENT));
        assert_eq!(second.attr.attribute, "manager");
        assert_eq!(
            parsed.operations[2].path.as_ref().unwrap().filter,
            Some(eq("value", "89bb1940"))
        );
    }

    #[test]
    fn parsed_entra_default_dialect() {
        let mut resource = user();
        apply_body(
            &mut resource,
            json!([
                {"op": "Replace", "path": "displayName", "value": "Pvlo"},
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "TestBcwqnm@test.microsoft.com"},
                {"op": "Replace", "path": "name.givenName", "value": "Gtfd"},
                {"op": "Replace", "path": "name.familyName", "value": "Pkqf"},
                {"op": "Replace", "path": "externalId", "value": "Eqpj"},
                {"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "value": "Eqpj"}
            ]),
        )
        .unwrap();
        assert_eq!(resource["displayName"], json!("Pvlo"));
        assert_eq!(
            resource["emails"],
            json!([{"value": "TestBcwqnm@test.microsoft.com", "type": "work", "primary": true}])
        );
        assert_eq!(
            resource["name"],
            json!({"givenName": "Gtfd", "familyName": "Pkqf"})
        );
        assert_eq!(resource["externalId"], json!("Eqpj"));
        assert_eq!(resource[ENT]["employeeNumber"], json!("Eqpj"));
    }

    #[test]
    fn parsed_entra_flag_dialect() {
        let mut resource = user();
        resource["emails"] = json!([{"value": "home@example.com", "type": "home"}]);
        apply_body(
            &mut resource,
            json!([
                {"op": "replace", "path": "emails[type eq \"home\"].value", "value": "TestMhvaes@test.microsoft.com"},
                {"op": "replace", "value": {"displayName": "Bjfe", "name.givenName": "Kkom", "name.familyName": "Unua",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "Aklq"}}
            ]),
        )
        .unwrap();
        assert_eq!(
            resource["emails"],
            json!([{"value": "TestMhvaes@test.microsoft.com", "type": "home"}])
        );
        assert_eq!(
            resource["name"],
            json!({"givenName": "Kkom", "familyName": "Unua"})
        );
        assert_eq!(resource[ENT]["employeeNumber"], json!("Aklq"));
    }

    #[test]
    fn parsed_entra_active_false_and_add_work_email() {
        let mut resource = user();
        resource.as_object_mut().unwrap().remove("emails");
        apply_body(
            &mut resource,
            json!([
                {"op": "Replace", "path": "active", "value": "False"},
                {"op": "Add", "path": "emails[type eq \"work\"].value", "value": "first@example.com"},
                {"op": "Add", "path": "emails[type eq \"work\"].value", "value": "second@example.com"},
                {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555 0123"}
            ]),
        )
        .unwrap();
        assert_eq!(resource["active"], json!(false));
        assert_eq!(
            resource["emails"],
            json!([{"type": "work", "value": "second@example.com"}])
        );
        assert_eq!(
            resource["phoneNumbers"],
            json!([{"value": "+1 555 0123", "type": "mobile"}])
        );
    }

    #[test]
    fn parsed_entra_manager_add_and_remove() {
        let mut resource = user();
        apply_body(
            &mut resource,
            json!([{"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
                    "value": "2c2f6fb8-254f-492e-b7fe-c09c5a61c8a2"}]),
        )
        .unwrap();
        assert_eq!(
            resource[ENT]["manager"],
            json!({"value": "2c2f6fb8-254f-492e-b7fe-c09c5a61c8a2"})
        );
        apply_body(
            &mut resource,
            json!([{"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value", "value": "m-7"}]),
        )
        .unwrap();
        assert_eq!(resource[ENT]["manager"], json!({"value": "m-7"}));
        apply_body(
            &mut resource,
            json!([{"op": "remove", "path": "manager[value eq \"m-7\"]"}]),
        )
        .unwrap();
        assert!(resource[ENT].get("manager").is_none());
        apply_body(&mut resource, json!([{"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": "m-8"}]))
            .unwrap();
        apply_body(&mut resource, json!([{"op": "Remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"}])).unwrap();
        assert!(resource[ENT].get("manager").is_none());
    }

    #[test]
    fn parsed_entra_roles_and_primary_filters() {
        let mut resource = user();
        apply_body(
            &mut resource,
            json!([
                {"op": "Add", "path": "roles[primary eq \"True\"].value", "value": "Admin"},
                {"op": "Replace", "path": "emails[primary eq true].value", "value": "p@example.com"},
                {"op": "Replace", "path": "addresses[type eq \"work\"].formatted", "value": "2 Side St"}
            ]),
        )
        .unwrap();
        assert_eq!(
            resource["roles"],
            json!([{"primary": true, "value": "Admin"}])
        );
        assert_eq!(resource["emails"][0]["value"], json!("p@example.com"));
        assert_eq!(
            resource["addresses"],
            json!([{"type": "work", "formatted": "2 Side St", "postalCode": "12345"}])
        );
    }

    #[test]
    fn parsed_errors() {
        let mut resource = user();
        let error = apply_body(
            &mut resource,
            json!([{"op": "replace", "path": "id", "value": "x"}]),
        )
        .unwrap_err();
        assert_scim_type(&error, "mutability");
        let error = apply_body(
            &mut resource,
            json!([{"op": "replace", "path": "meta.lastModified", "value": "x"}]),
        )
        .unwrap_err();
        assert_scim_type(&error, "mutability");
        let error = apply_body(
            &mut resource,
            json!([{"op": "add", "path": "groups", "value": [{"value": "g"}]}]),
        )
        .unwrap_err();
        assert_scim_type(&error, "mutability");
        let error = apply_body(
            &mut resource,
            json!([{"op": "replace", "path": "shoeSize", "value": "9"}]),
        )
        .unwrap_err();
        assert_scim_type(&error, "invalidPath");
        assert!(error.detail.contains("shoeSize"));
        let error = apply_body(
            &mut resource,
            json!([{"op": "replace", "path": "emails[type eq \"home\"].value", "value": "x"}]),
        )
        .unwrap_err();
        assert_scim_type(&error, "noTarget");
        let error = apply_body(
            &mut resource,
            json!([{"op": "remove", "path": "emails[type eq \"home\"]"}]),
        )
        .unwrap_err();
        assert_scim_type(&error, "noTarget");
        let error = apply_body(&mut resource, json!([{"op": "remove"}])).unwrap_err();
        assert_scim_type(&error, "noTarget");
    }

    #[test]
    fn parsed_okta_group_push() {
        let rename = parse_patch_request(&json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "value": {"id": "abf4dd94-0001", "displayName": "Test SCIMv2"}}]
        }))
        .unwrap();
        assert_eq!(
            group_patch_changes(&rename, "abf4dd94-0001").unwrap(),
            vec![Change::SetDisplayName("Test SCIMv2".into())]
        );
        let membership = parse_patch_request(&json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [
                {"op": "remove", "path": "members[value eq \"89bb1940-0001\"]"},
                {"op": "remove", "path": "members[value eq \"89bb1940-0002\"]"},
                {"op": "add", "path": "members", "value": [
                    {"value": "23a35c27-0001", "display": "test.user@okta.local"},
                    {"value": "23a35c27-0002", "display": "other@okta.local"}
                ]}
            ]
        }))
        .unwrap();
        assert_eq!(
            group_patch_changes(&membership, "g").unwrap(),
            vec![
                Change::RemoveMembers(ids(&["89bb1940-0001"])),
                Change::RemoveMembers(ids(&["89bb1940-0002"])),
                Change::AddMembers(ids(&["23a35c27-0001", "23a35c27-0002"])),
            ]
        );
        let push = parse_patch_request(&body(json!([
            {"op": "replace", "path": "members", "value": [{"value": "u-1"}, {"value": "u-2"}]}
        ])))
        .unwrap();
        assert_eq!(
            group_patch_changes(&push, "g").unwrap(),
            vec![Change::ReplaceMembers(ids(&["u-1", "u-2"]))]
        );
    }

    #[test]
    fn parsed_entra_group_membership() {
        let parsed = parse_patch_request(&body(json!([
            {"op": "Replace", "path": "displayName", "value": "updatedDisplayName"},
            {"op": "Add", "path": "members", "value": [{"$ref": null, "value": "f648f8d5ea4e4cd38e9c"}]},
            {"op": "Remove", "path": "members", "value": [{"$ref": null, "value": "f648f8d5ea4e4cd38e9c"}]},
            {"op": "remove", "path": "members[value eq \"7f4bc1a3-0001\" or value eq \"7f4bc1a3-0002\"]"}
        ])))
        .unwrap();
        assert_eq!(
            group_patch_changes(&parsed, "g").unwrap(),
            vec![
                Change::SetDisplayName("updatedDisplayName".into()),
                Change::AddMembers(ids(&["f648f8d5ea4e4cd38e9c"])),
                Change::RemoveMembers(ids(&["f648f8d5ea4e4cd38e9c"])),
                Change::RemoveMembers(ids(&["7f4bc1a3-0001", "7f4bc1a3-0002"])),
            ]
        );
        let bad = parse_patch_request(&body(
            json!([{"op": "remove", "path": "members[display eq \"x\"]"}]),
        ))
        .unwrap();
        assert_scim_type(
            &group_patch_changes(&bad, "g").unwrap_err(),
            "invalidFilter",
        );
    }
}
