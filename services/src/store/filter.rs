//! Compiles the contract's filter AST (RFC 7644 §3.4.2.2) and sort keys into parameterised SQL for
//! one backend. Attribute names are matched case-insensitively against a fixed catalog, and only
//! the catalog's own SQL text is ever written into the statement; every literal is a parameter.
//! Depth and size are checked while walking, so no input can overflow the stack.

use super::sql::{Sql, like_escape};
use crate::error::{CoreError, CoreResult};
use roster::pb::{self, CompareOp, filter::Node, filter_value::Kind as ValueKind};

/// Deepest nesting of and/or/not/value-path a filter may have.
pub const MAX_FILTER_DEPTH: usize = 32;
/// Most comparisons one filter may hold.
pub const MAX_FILTER_TERMS: usize = 256;

const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:user";
const CORE_GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:group";
const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user";

/// The resource a filter applies to; its table is aliased `u` (users) or `g` (groups).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resource {
    /// `users u`.
    User,
    /// `groups g`.
    Group,
}

/// How the SQL value of an operand compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Text. `prelowered`: the column holds a lowercase key, so the literal is lowered in Rust.
    Text { case_exact: bool, prelowered: bool },
    /// A boolean column.
    Bool,
    /// A JSON boolean inside an element (1/0 on SQLite, 'true'/'false' text on PostgreSQL).
    JsonBool,
    /// Microseconds since the epoch, compared with RFC 3339 literals.
    Micros,
    /// A member type code: 1 = User, 2 = Group.
    MemberType,
}

const CI: Kind = Kind::Text {
    case_exact: false,
    prelowered: false,
};
const CS: Kind = Kind::Text {
    case_exact: true,
    prelowered: false,
};
const KEY: Kind = Kind::Text {
    case_exact: false,
    prelowered: true,
};

/// An SQL expression with its comparison kind.
struct Operand {
    sql: String,
    kind: Kind,
}

/// A multi-valued attribute and where its elements live.
#[derive(Clone, Copy)]
enum Multi {
    /// A JSON array in `u.profile` under this key, with these sub-attributes.
    JsonArray(&'static str, &'static [&'static str]),
    /// `user_emails e`.
    Emails,
    /// The user's groups: `group_members gm` by `member_id`.
    UserGroups,
    /// The group's members: `group_members gm` by `group_id`.
    GroupMembers,
    /// The resource's externalId in the caller's namespace: `external_ids x` (at most one row, so
    /// "some element matches" is the single value's comparison, and no row is no value).
    ExternalId,
}

const PLAIN_SUBS: &[&str] = &["value", "display", "type", "primary"];
const ADDRESS_SUBS: &[&str] = &[
    "formatted",
    "streetAddress",
    "locality",
    "region",
    "postalCode",
    "country",
    "type",
    "primary",
];

/// What an attribute path names.
enum Target {
    Scalar(Operand),
    Multi(Multi, Option<&'static str>),
}

/// Compiles filters for one organization's rows of one resource.
pub struct FilterCompiler<'a> {
    resource: Resource,
    org_id: &'a str,
    /// The caller's externalId namespace (its connection); `None`: the `external_id` column.
    namespace: Option<&'a str>,
    terms: usize,
}

impl<'a> FilterCompiler<'a> {
    /// A compiler for `resource` rows of `org_id` (sub-queries are scoped to it too).
    pub fn new(resource: Resource, org_id: &'a str) -> Self {
        Self {
            resource,
            org_id,
            namespace: None,
            terms: 0,
        }
    }

    /// Compiles `externalId` against the namespace's values instead of the column.
    pub fn with_namespace(mut self, namespace: Option<&'a str>) -> Self {
        self.namespace = namespace;
        self
    }

    fn resource_kind(&self) -> &'static str {
        match self.resource {
            Resource::User => "user",
            Resource::Group => "group",
        }
    }

    /// Appends the SQL condition for `filter`.
    pub fn compile(&mut self, sql: &mut Sql, filter: &pb::Filter) -> CoreResult<()> {
        self.node(sql, filter, 0, None)
    }

    /// Appends ` ORDER BY ...` for a sort key (creation order when unset).
    pub fn order_by(&self, sql: &mut Sql, sort: Option<&pb::SortBy>) -> CoreResult<()> {
        let alias = self.alias();
        let descending = sort.is_some_and(|sort| sort.order == pb::SortOrder::Descending as i32);
        let direction = if descending { " DESC" } else { " ASC" };
        let expression = match sort.and_then(|sort| sort.path.as_ref()) {
            None => format!("{alias}.created_at"),
            Some(path) => match self.resolve(path, sql).map_err(|error| {
                CoreError::new(
                    roster::ErrorCode::InvalidPath,
                    "sort_by",
                    error.message.replace("attribute", "sort_by attribute"),
                )
            })? {
                Target::Scalar(operand) => match operand.kind {
                    Kind::Text {
                        case_exact: false,
                        prelowered: false,
                    } => format!("lower({})", operand.sql),
                    _ => operand.sql,
                },
                Target::Multi(Multi::ExternalId, None) => {
                    // The namespace's value of each row (NULL when it has none).
                    sql.push(
                        " ORDER BY (SELECT x.external_id FROM external_ids x WHERE x.org_id = ",
                    )
                    .bind(self.org_id)
                    .push(" AND x.namespace = ")
                    .bind(self.namespace.unwrap_or_default())
                    .push(&format!(
                        " AND x.resource_kind = '{}' AND x.resource_id = {alias}.id)",
                        self.resource_kind()
                    ))
                    .push(direction);
                    sql.push(&format!(", {alias}.id")).push(direction);
                    return Ok(());
                }
                Target::Multi(..) => {
                    return Err(CoreError::invalid(
                        "sort_by",
                        "sort_by must name a single-valued attribute",
                    ));
                }
            },
        };
        sql.push(" ORDER BY ").push(&expression).push(direction);
        sql.push(&format!(", {alias}.id")).push(direction);
        Ok(())
    }

    fn alias(&self) -> &'static str {
        match self.resource {
            Resource::User => "u",
            Resource::Group => "g",
        }
    }

    fn node(
        &mut self,
        sql: &mut Sql,
        filter: &pb::Filter,
        depth: usize,
        element: Option<Multi>,
    ) -> CoreResult<()> {
        if depth >= MAX_FILTER_DEPTH {
            return Err(CoreError::filter(format!(
                "filter is nested deeper than {MAX_FILTER_DEPTH} levels"
            )));
        }
        let Some(node) = &filter.node else {
            return Err(CoreError::filter("filter node is empty"));
        };
        match node {
            Node::And(list) | Node::Or(list) => {
                if list.filters.is_empty() {
                    return Err(CoreError::filter("and/or needs at least one operand"));
                }
                let joiner = if matches!(node, Node::And(_)) {
                    " AND "
                } else {
                    " OR "
                };
                sql.push("(");
                for (index, operand) in list.filters.iter().enumerate() {
                    if index > 0 {
                        sql.push(joiner);
                    }
                    self.node(sql, operand, depth + 1, element)?;
                }
                sql.push(")");
            }
            Node::Not(inner) => {
                sql.push("NOT COALESCE((");
                self.node(sql, inner, depth + 1, element)?;
                sql.push("), FALSE)");
            }
            Node::Compare(comparison) => {
                self.count_term()?;
                let path = comparison
                    .path
                    .as_ref()
                    .ok_or_else(|| CoreError::filter("comparison has no attribute"))?;
                let op = CompareOp::try_from(comparison.op).unwrap_or(CompareOp::Unspecified);
                let value = comparison
                    .value
                    .as_ref()
                    .and_then(|value| value.kind.as_ref())
                    .ok_or_else(|| CoreError::filter("comparison has no value"))?;
                match element {
                    Some(multi) => {
                        let operand = self.element_operand(multi, element_sub(path)?, sql)?;
                        compare(sql, &operand, op, value)?;
                    }
                    None => match self.resolve(path, sql)? {
                        Target::Scalar(operand) => compare(sql, &operand, op, value)?,
                        Target::Multi(multi, None) if matches!(value, ValueKind::NullValue(_)) => {
                            // `emails eq null`: no element at all; `ne null`: at least one.
                            match op {
                                CompareOp::Eq => sql.push("NOT "),
                                CompareOp::Ne => sql,
                                _ => {
                                    return Err(CoreError::filter(
                                        "null compares only with eq or ne",
                                    ));
                                }
                            };
                            self.open_elements(sql, multi);
                            sql.push("TRUE)");
                        }
                        Target::Multi(multi, sub) => {
                            let sub = sub.unwrap_or(default_sub(multi));
                            self.open_elements(sql, multi);
                            let operand = self.element_operand(multi, sub, sql)?;
                            compare(sql, &operand, op, value)?;
                            sql.push(")");
                        }
                    },
                }
            }
            Node::Present(path) => {
                self.count_term()?;
                match element {
                    Some(multi) => {
                        let operand = self.element_operand(multi, element_sub(path)?, sql)?;
                        present(sql, &operand);
                    }
                    None => match self.resolve(path, sql)? {
                        Target::Scalar(operand) => present(sql, &operand),
                        Target::Multi(multi, sub) => {
                            self.open_elements(sql, multi);
                            match sub {
                                Some(sub) => {
                                    let operand = self.element_operand(multi, sub, sql)?;
                                    present(sql, &operand);
                                }
                                None => {
                                    sql.push("TRUE");
                                }
                            }
                            sql.push(")");
                        }
                    },
                }
            }
            Node::ValuePath(value_path) => {
                if element.is_some() {
                    return Err(CoreError::filter("value paths cannot be nested"));
                }
                let path = value_path
                    .path
                    .as_ref()
                    .ok_or_else(|| CoreError::filter("value path has no attribute"))?;
                let inner = value_path
                    .filter
                    .as_ref()
                    .ok_or_else(|| CoreError::filter("value path has no filter"))?;
                let Target::Multi(multi, None) = self.resolve(path, sql)? else {
                    return Err(CoreError::filter(format!(
                        "{} is not a multi-valued attribute, so it takes no [filter]",
                        display_path(path)
                    )));
                };
                if matches!(multi, Multi::ExternalId) {
                    return Err(CoreError::filter(format!(
                        "{} is not a multi-valued attribute, so it takes no [filter]",
                        display_path(path)
                    )));
                }
                self.open_elements(sql, multi);
                self.node(sql, inner, depth + 1, Some(multi))?;
                sql.push(")");
            }
        }
        Ok(())
    }

    fn count_term(&mut self) -> CoreResult<()> {
        self.terms += 1;
        if self.terms > MAX_FILTER_TERMS {
            return Err(CoreError::filter(format!(
                "filter has more than {MAX_FILTER_TERMS} comparisons"
            )));
        }
        Ok(())
    }

    /// Opens `EXISTS (...` / `id IN (...` over the elements of `multi`, ready for `AND <condition>`
    /// or a condition; the caller closes it with `)`.
    fn open_elements(&self, sql: &mut Sql, multi: Multi) {
        match multi {
            Multi::JsonArray(key, _) => {
                if sql.is_postgres() {
                    sql.push(&format!("EXISTS (SELECT 1 FROM jsonb_array_elements(u.profile -> '{key}') AS e(v) WHERE "));
                } else {
                    sql.push(&format!(
                        "EXISTS (SELECT 1 FROM json_each(u.profile, '$.{key}') AS e WHERE "
                    ));
                }
            }
            Multi::Emails => {
                sql.push("u.id IN (SELECT e.user_id FROM user_emails e WHERE e.org_id = ")
                    .bind(self.org_id)
                    .push(" AND ");
            }
            Multi::UserGroups => {
                sql.push("u.id IN (SELECT gm.member_id FROM group_members gm WHERE gm.org_id = ")
                    .bind(self.org_id)
                    .push(" AND ");
            }
            Multi::GroupMembers => {
                sql.push("g.id IN (SELECT gm.group_id FROM group_members gm WHERE gm.org_id = ")
                    .bind(self.org_id)
                    .push(" AND ");
            }
            Multi::ExternalId => {
                sql.push(&format!(
                    "{}.id IN (SELECT x.resource_id FROM external_ids x WHERE x.org_id = ",
                    self.alias()
                ))
                .bind(self.org_id)
                .push(" AND x.namespace = ")
                .bind(self.namespace.unwrap_or_default())
                .push(&format!(
                    " AND x.resource_kind = '{}' AND ",
                    self.resource_kind()
                ));
            }
        }
    }

    fn element_operand(&self, multi: Multi, sub: &str, sql: &Sql) -> CoreResult<Operand> {
        let unknown = || CoreError::filter(format!("unknown sub-attribute {sub}"));
        let operand = match multi {
            Multi::JsonArray(_, subs) => {
                let name = *subs
                    .iter()
                    .find(|name| name.eq_ignore_ascii_case(sub))
                    .ok_or_else(unknown)?;
                let expression = if sql.is_postgres() {
                    format!("(e.v ->> '{name}')")
                } else {
                    format!("json_extract(e.value, '$.{name}')")
                };
                let kind = if name == "primary" {
                    Kind::JsonBool
                } else {
                    CI
                };
                Operand {
                    sql: expression,
                    kind,
                }
            }
            Multi::Emails => match sub.to_ascii_lowercase().as_str() {
                "value" => Operand {
                    sql: "e.value_key".into(),
                    kind: KEY,
                },
                "type" => Operand {
                    sql: "e.type".into(),
                    kind: CI,
                },
                "display" => Operand {
                    sql: "e.display".into(),
                    kind: CI,
                },
                "primary" => Operand {
                    sql: "e.is_primary".into(),
                    kind: Kind::Bool,
                },
                _ => return Err(unknown()),
            },
            Multi::UserGroups => match sub.to_ascii_lowercase().as_str() {
                "value" => Operand {
                    sql: "gm.group_id".into(),
                    kind: CS,
                },
                _ => return Err(unknown()),
            },
            Multi::GroupMembers => match sub.to_ascii_lowercase().as_str() {
                "value" => Operand {
                    sql: "gm.member_id".into(),
                    kind: CS,
                },
                "type" => Operand {
                    sql: "gm.member_type".into(),
                    kind: Kind::MemberType,
                },
                _ => return Err(unknown()),
            },
            Multi::ExternalId => match sub.to_ascii_lowercase().as_str() {
                "value" => Operand {
                    sql: "x.external_id".into(),
                    kind: CS,
                },
                _ => return Err(unknown()),
            },
        };
        Ok(operand)
    }

    fn resolve(&self, path: &pb::AttributePath, sql: &Sql) -> CoreResult<Target> {
        let schema = path.schema.to_ascii_lowercase();
        let attribute = path.attribute.to_ascii_lowercase();
        let sub = path.sub_attribute.to_ascii_lowercase();
        let unknown = || CoreError::filter(format!("unknown attribute {}", display_path(path)));
        let json = |keys: &[&str]| -> Target {
            let expression = if sql.is_postgres() {
                format!("(u.profile #>> '{{{}}}')", keys.join(","))
            } else {
                format!("json_extract(u.profile, '$.{}')", keys.join("."))
            };
            Target::Scalar(Operand {
                sql: expression,
                kind: CI,
            })
        };
        let column = |sql: &str, kind: Kind| {
            Target::Scalar(Operand {
                sql: sql.to_owned(),
                kind,
            })
        };
        let no_sub = |target: Target| {
            if sub.is_empty() {
                Ok(target)
            } else {
                Err(unknown())
            }
        };
        let alias = self.alias();

        if attribute == "meta" {
            return match sub.as_str() {
                "created" => Ok(column(&format!("{alias}.created_at"), Kind::Micros)),
                "lastmodified" => Ok(column(&format!("{alias}.updated_at"), Kind::Micros)),
                _ => Err(unknown()),
            };
        }
        match self.resource {
            Resource::Group => {
                if !(schema.is_empty() || schema == CORE_GROUP) {
                    return Err(CoreError::filter(format!(
                        "unsupported schema {}",
                        path.schema
                    )));
                }
                match attribute.as_str() {
                    "id" => no_sub(column("g.id", CS)),
                    "externalid" if self.namespace.is_some() => {
                        no_sub(Target::Multi(Multi::ExternalId, None))
                    }
                    "externalid" => no_sub(column("g.external_id", CS)),
                    "displayname" => no_sub(column("g.display_name_key", KEY)),
                    "members" => Ok(Target::Multi(
                        Multi::GroupMembers,
                        self.sub_of(Multi::GroupMembers, &sub, sql)?,
                    )),
                    _ => Err(unknown()),
                }
            }
            Resource::User if schema == ENTERPRISE_USER => match attribute.as_str() {
                "employeenumber" => no_sub(json(&["enterprise", "employeeNumber"])),
                "costcenter" => no_sub(json(&["enterprise", "costCenter"])),
                "organization" => no_sub(json(&["enterprise", "organization"])),
                "division" => no_sub(json(&["enterprise", "division"])),
                "department" => no_sub(json(&["enterprise", "department"])),
                "manager" => match sub.as_str() {
                    "" | "value" => Ok(json(&["enterprise", "manager", "value"])),
                    "displayname" => Ok(json(&["enterprise", "manager", "displayName"])),
                    _ => Err(unknown()),
                },
                _ => Err(unknown()),
            },
            Resource::User if schema.is_empty() || schema == CORE_USER => {
                let simple_json = [
                    ("nickname", "nickName"),
                    ("profileurl", "profileUrl"),
                    ("title", "title"),
                    ("preferredlanguage", "preferredLanguage"),
                    ("locale", "locale"),
                    ("timezone", "timezone"),
                ];
                if let Some((_, key)) = simple_json.iter().find(|(name, _)| *name == attribute) {
                    return no_sub(json(&[key]));
                }
                let multi = match attribute.as_str() {
                    "id" => return no_sub(column("u.id", CS)),
                    "externalid" if self.namespace.is_some() => {
                        return no_sub(Target::Multi(Multi::ExternalId, None));
                    }
                    "externalid" => return no_sub(column("u.external_id", CS)),
                    "username" => return no_sub(column("u.user_name_key", KEY)),
                    "displayname" => return no_sub(column("u.display_name_key", KEY)),
                    "active" => return no_sub(column("u.active", Kind::Bool)),
                    "usertype" => return no_sub(column("u.user_type", CI)),
                    "name" => {
                        let names = [
                            "formatted",
                            "familyName",
                            "givenName",
                            "middleName",
                            "honorificPrefix",
                            "honorificSuffix",
                        ];
                        let name = names
                            .iter()
                            .find(|name| name.eq_ignore_ascii_case(&sub))
                            .ok_or_else(unknown)?;
                        return Ok(json(&["name", name]));
                    }
                    "emails" => Multi::Emails,
                    "phonenumbers" => Multi::JsonArray("phoneNumbers", PLAIN_SUBS),
                    "ims" => Multi::JsonArray("ims", PLAIN_SUBS),
                    "photos" => Multi::JsonArray("photos", PLAIN_SUBS),
                    "entitlements" => Multi::JsonArray("entitlements", PLAIN_SUBS),
                    "roles" => Multi::JsonArray("roles", PLAIN_SUBS),
                    "x509certificates" => Multi::JsonArray("x509Certificates", PLAIN_SUBS),
                    "addresses" => Multi::JsonArray("addresses", ADDRESS_SUBS),
                    "groups" => Multi::UserGroups,
                    _ => return Err(unknown()),
                };
                Ok(Target::Multi(multi, self.sub_of(multi, &sub, sql)?))
            }
            Resource::User => Err(CoreError::filter(format!(
                "unsupported schema {}",
                path.schema
            ))),
        }
    }

    /// Validates a sub-attribute of a multi-valued attribute, returning its canonical name.
    fn sub_of(&self, multi: Multi, sub: &str, sql: &Sql) -> CoreResult<Option<&'static str>> {
        if sub.is_empty() {
            return Ok(None);
        }
        self.element_operand(multi, sub, sql)?;
        let all: &[&'static str] = match multi {
            Multi::JsonArray(_, subs) => subs,
            _ => PLAIN_SUBS,
        };
        Ok(all
            .iter()
            .copied()
            .find(|name| name.eq_ignore_ascii_case(sub)))
    }
}

/// The sub-attribute compared when a multi-valued attribute is compared as a whole.
fn default_sub(multi: Multi) -> &'static str {
    match multi {
        Multi::JsonArray(_, subs) if subs == ADDRESS_SUBS => "formatted",
        _ => "value",
    }
}

/// Inside `attr[...]`, paths name sub-attributes of one element.
fn element_sub(path: &pb::AttributePath) -> CoreResult<&str> {
    if !path.sub_attribute.is_empty() || !path.schema.is_empty() {
        return Err(CoreError::filter(format!(
            "inside [filter], name a sub-attribute of the element, not {}",
            display_path(path)
        )));
    }
    Ok(&path.attribute)
}

fn display_path(path: &pb::AttributePath) -> String {
    let mut text = String::new();
    if !path.schema.is_empty() {
        text.push_str(&path.schema);
        text.push(':');
    }
    text.push_str(&path.attribute);
    if !path.sub_attribute.is_empty() {
        text.push('.');
        text.push_str(&path.sub_attribute);
    }
    // Long attribute names are cut so an error never echoes a long input back.
    text.chars().take(120).collect()
}

fn present(sql: &mut Sql, operand: &Operand) {
    match operand.kind {
        Kind::Text { .. } => sql.push(&format!("({0} IS NOT NULL AND {0} <> '')", operand.sql)),
        _ => sql.push(&format!("{} IS NOT NULL", operand.sql)),
    };
}

fn op_name(op: CompareOp) -> &'static str {
    match op {
        CompareOp::Unspecified => "unspecified",
        CompareOp::Eq => "eq",
        CompareOp::Ne => "ne",
        CompareOp::Co => "co",
        CompareOp::Sw => "sw",
        CompareOp::Ew => "ew",
        CompareOp::Gt => "gt",
        CompareOp::Ge => "ge",
        CompareOp::Lt => "lt",
        CompareOp::Le => "le",
    }
}

/// `=`, `<>`, `>`, ... for the ordering operators.
fn ordering_sql(op: CompareOp) -> Option<&'static str> {
    match op {
        CompareOp::Eq => Some(" = "),
        CompareOp::Ne => Some(" <> "),
        CompareOp::Gt => Some(" > "),
        CompareOp::Ge => Some(" >= "),
        CompareOp::Lt => Some(" < "),
        CompareOp::Le => Some(" <= "),
        _ => None,
    }
}

fn compare(sql: &mut Sql, operand: &Operand, op: CompareOp, value: &ValueKind) -> CoreResult<()> {
    if op == CompareOp::Unspecified {
        return Err(CoreError::filter("comparison operator is missing"));
    }
    let mismatch = |what: &str| {
        CoreError::filter(format!(
            "operator {} cannot compare this attribute with {what}",
            op_name(op)
        ))
    };
    let lhs = &operand.sql;
    if let ValueKind::NullValue(_) = value {
        // `eq null` is "not present" and `ne null` is "present", the same test as `pr`: an empty
        // string counts as absent (RFC 7644 §3.4.2.2).
        let text = matches!(operand.kind, Kind::Text { .. });
        match (op, text) {
            (CompareOp::Eq, true) => sql.push(&format!("({lhs} IS NULL OR {lhs} = '')")),
            (CompareOp::Eq, false) => sql.push(&format!("{lhs} IS NULL")),
            (CompareOp::Ne, _) => {
                present(sql, operand);
                sql
            }
            _ => return Err(mismatch("null")),
        };
        return Ok(());
    }
    match (operand.kind, value) {
        (
            Kind::Text {
                case_exact,
                prelowered,
            },
            ValueKind::StringValue(text),
        ) => {
            let folded_in_sql = !case_exact && !prelowered;
            let left = if folded_in_sql {
                format!("lower({lhs})")
            } else {
                lhs.clone()
            };
            let literal = if prelowered {
                text.to_lowercase()
            } else {
                text.clone()
            };
            let bind_literal = |sql: &mut Sql, literal: String| {
                if folded_in_sql {
                    sql.push("lower(").bind(literal).push(")");
                } else {
                    sql.bind(literal);
                }
            };
            match op {
                CompareOp::Co | CompareOp::Sw | CompareOp::Ew if literal.is_empty() => {
                    sql.push(&format!("{lhs} IS NOT NULL"));
                }
                CompareOp::Co | CompareOp::Sw | CompareOp::Ew if case_exact => {
                    like_case_exact(sql, lhs, op, literal);
                }
                CompareOp::Co | CompareOp::Sw | CompareOp::Ew => {
                    let escaped = like_escape(&literal);
                    let pattern = match op {
                        CompareOp::Co => format!("%{escaped}%"),
                        CompareOp::Sw => format!("{escaped}%"),
                        _ => format!("%{escaped}"),
                    };
                    sql.push(&left).push(" LIKE ");
                    bind_literal(sql, pattern);
                    sql.push(" ESCAPE '\\'");
                }
                CompareOp::Ne => {
                    sql.push(&format!("({lhs} IS NULL OR {left} <> "));
                    bind_literal(sql, literal);
                    sql.push(")");
                }
                _ => {
                    let symbol = ordering_sql(op).ok_or_else(|| mismatch("a string"))?;
                    sql.push(&left).push(symbol);
                    bind_literal(sql, literal);
                }
            }
        }
        (Kind::Bool, ValueKind::BoolValue(flag)) => {
            let symbol = match op {
                CompareOp::Eq => " = ",
                CompareOp::Ne => " <> ",
                _ => return Err(mismatch("a boolean")),
            };
            sql.push(lhs).push(symbol).bind(*flag);
        }
        (Kind::JsonBool, ValueKind::BoolValue(flag)) => {
            let symbol = match op {
                CompareOp::Eq => " = ",
                CompareOp::Ne => " <> ",
                _ => return Err(mismatch("a boolean")),
            };
            if sql.is_postgres() {
                sql.push(lhs)
                    .push(symbol)
                    .bind(if *flag { "true" } else { "false" });
            } else {
                sql.push(lhs).push(symbol).bind(i64::from(*flag));
            }
        }
        (Kind::Micros, ValueKind::DateTimeValue(text) | ValueKind::StringValue(text)) => {
            let instant = chrono::DateTime::parse_from_rfc3339(text).map_err(|_| {
                CoreError::filter("date-time literal must be RFC 3339, like 2026-01-31T12:00:00Z")
            })?;
            let symbol = ordering_sql(op).ok_or_else(|| mismatch("a date-time"))?;
            sql.push(lhs).push(symbol).bind(instant.timestamp_micros());
        }
        (Kind::MemberType, ValueKind::StringValue(text)) => {
            let code: i16 = match text.to_ascii_lowercase().as_str() {
                "user" => 1,
                "group" => 2,
                _ => return Err(CoreError::filter("members.type is User or Group")),
            };
            let symbol = match op {
                CompareOp::Eq => " = ",
                CompareOp::Ne => " <> ",
                _ => return Err(mismatch("a string")),
            };
            sql.push(lhs).push(symbol).bind(code);
        }
        (_, ValueKind::StringValue(_)) => return Err(mismatch("a string")),
        (_, ValueKind::BoolValue(_)) => return Err(mismatch("a boolean")),
        (_, ValueKind::NumberValue(_)) => return Err(mismatch("a number")),
        (_, ValueKind::DateTimeValue(_)) => return Err(mismatch("a date-time")),
        (_, ValueKind::NullValue(_)) => unreachable!("null handled above"),
    }
    Ok(())
}

/// co/sw/ew on a caseExact attribute: LIKE would fold ASCII case on SQLite, so use string functions.
fn like_case_exact(sql: &mut Sql, lhs: &str, op: CompareOp, literal: String) {
    let postgres = sql.is_postgres();
    match (op, postgres) {
        (CompareOp::Co, true) => sql
            .push(&format!("strpos({lhs}, "))
            .bind(literal)
            .push(") > 0"),
        (CompareOp::Co, false) => sql
            .push(&format!("instr({lhs}, "))
            .bind(literal)
            .push(") > 0"),
        (CompareOp::Sw, true) => sql
            .push(&format!("starts_with({lhs}, "))
            .bind(literal)
            .push(")"),
        (CompareOp::Sw, false) => sql
            .push(&format!("substr({lhs}, 1, length("))
            .bind(literal.clone())
            .push(")) = ")
            .bind(literal),
        (_, true) => sql
            .push(&format!("right({lhs}, length("))
            .bind(literal.clone())
            .push(")) = ")
            .bind(literal),
        (_, false) => sql
            .push(&format!("substr({lhs}, -length("))
            .bind(literal.clone())
            .push(")) = ")
            .bind(literal),
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::DbBackend;

    fn path(attribute: &str, sub: &str) -> pb::AttributePath {
        pb::AttributePath {
            schema: String::new(),
            attribute: attribute.into(),
            sub_attribute: sub.into(),
        }
    }

    fn eq(attribute: &str, sub: &str, value: &str) -> pb::Filter {
        pb::Filter {
            node: Some(Node::Compare(pb::Comparison {
                path: Some(path(attribute, sub)),
                op: CompareOp::Eq as i32,
                value: Some(pb::FilterValue {
                    kind: Some(ValueKind::StringValue(value.into())),
                }),
            })),
        }
    }

    fn compile(backend: DbBackend, filter: &pb::Filter) -> CoreResult<String> {
        let mut sql = Sql::new(backend);
        FilterCompiler::new(Resource::User, "org").compile(&mut sql, filter)?;
        Ok(sql.text().to_owned())
    }

    #[test]
    fn user_name_uses_the_lowercase_key_column() {
        let text = compile(DbBackend::Sqlite, &eq("USERNAME", "", "Alice@Example.com")).unwrap();
        assert_eq!(text, "u.user_name_key = ?");
    }

    #[test]
    fn emails_become_an_indexed_subquery() {
        let text = compile(DbBackend::Postgres, &eq("emails", "value", "a@b.c")).unwrap();
        assert_eq!(
            text,
            "u.id IN (SELECT e.user_id FROM user_emails e WHERE e.org_id = $1 AND e.value_key = $2)"
        );
    }

    #[test]
    fn a_connections_external_id_is_its_namespace_not_the_column() {
        let text = compile(DbBackend::Sqlite, &eq("externalId", "", "x")).unwrap();
        assert_eq!(text, "u.external_id = ?");
        let mut sql = Sql::new(DbBackend::Postgres);
        FilterCompiler::new(Resource::Group, "org")
            .with_namespace(Some("connection-id"))
            .compile(&mut sql, &eq("EXTERNALID", "", "x"))
            .unwrap();
        assert_eq!(
            sql.text(),
            "g.id IN (SELECT x.resource_id FROM external_ids x WHERE x.org_id = $1 AND \
             x.namespace = $2 AND x.resource_kind = 'group' AND x.external_id = $3)"
        );
        let mut sql = Sql::new(DbBackend::Sqlite);
        let error = FilterCompiler::new(Resource::User, "org")
            .with_namespace(Some("connection-id"))
            .compile(&mut sql, &eq("externalId", "value", "x"))
            .unwrap_err();
        assert_eq!(error.code, roster::ErrorCode::InvalidFilter);
    }

    #[test]
    fn json_paths_come_from_the_catalog_not_the_request() {
        let text = compile(DbBackend::Postgres, &eq("name", "FAMILYNAME", "x")).unwrap();
        assert_eq!(
            text,
            "lower((u.profile #>> '{name,familyName}')) = lower($1)"
        );
        let error = compile(DbBackend::Sqlite, &eq("name", "x') OR 1=1 --", "x")).unwrap_err();
        assert_eq!(error.code, roster::ErrorCode::InvalidFilter);
    }

    #[test]
    fn deep_nesting_is_refused_without_recursing_further() {
        let mut filter = eq("userName", "", "x");
        for _ in 0..(MAX_FILTER_DEPTH + 5) {
            filter = pb::Filter {
                node: Some(Node::Not(Box::new(filter))),
            };
        }
        let error = compile(DbBackend::Sqlite, &filter).unwrap_err();
        assert!(error.message.contains("nested deeper"), "{}", error.message);
    }

    #[test]
    fn value_paths_scope_conditions_to_one_element() {
        let filter = pb::Filter {
            node: Some(Node::ValuePath(Box::new(pb::ValuePathFilter {
                path: Some(path("phoneNumbers", "")),
                filter: Some(Box::new(eq("type", "", "work"))),
            }))),
        };
        let text = compile(DbBackend::Sqlite, &filter).unwrap();
        assert_eq!(
            text,
            "EXISTS (SELECT 1 FROM json_each(u.profile, '$.phoneNumbers') AS e WHERE lower(json_extract(e.value, '$.type')) = lower(?))"
        );
    }

    #[test]
    fn mismatched_types_are_invalid_filters() {
        let filter = pb::Filter {
            node: Some(Node::Compare(pb::Comparison {
                path: Some(path("active", "")),
                op: CompareOp::Co as i32,
                value: Some(pb::FilterValue {
                    kind: Some(ValueKind::BoolValue(true)),
                }),
            })),
        };
        assert_eq!(
            compile(DbBackend::Sqlite, &filter).unwrap_err().code,
            roster::ErrorCode::InvalidFilter
        );
    }
}
