//! The discovery documents (RFC 7644 §4; RFC 7643 §5-§7 and §8.5-§8.7): the service provider
//! configuration, the resource types and the schemas, the last rendered from the one attribute
//! table in [`super::schema`]. Also the ListResponse envelope (RFC 7644 §3.4.2) and the limits the
//! configuration advertises, which the routes enforce.

use super::path::{ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA};
use super::schema::{self, Attribute, Schema, Uniqueness};
use serde_json::{Map, Value, json};

/// `urn:ietf:params:scim:api:messages:2.0:ListResponse`.
pub const LIST_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// `urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig`.
pub const SERVICE_PROVIDER_CONFIG_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
/// `urn:ietf:params:scim:schemas:core:2.0:ResourceType`.
pub const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
/// `urn:ietf:params:scim:schemas:core:2.0:Schema`.
pub const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

/// Seconds a pagination cursor stays valid (RFC 9865 `cursorTimeout`).
pub const CURSOR_TIMEOUT_SECONDS: u64 = 3600;

/// The limits the facade enforces and `/ServiceProviderConfig` advertises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest page (`count`) and `filter.maxResults`; the core's own maximum is 1000.
    pub max_results: i32,
    /// Page size when the request gives no `count`.
    pub default_page: i32,
    /// Most operations in one bulk request (`bulk.maxOperations`).
    pub max_operations: usize,
    /// Largest request body in bytes (`bulk.maxPayloadSize`).
    pub max_payload_bytes: usize,
    /// Longest filter in bytes; longer ones are refused before parsing.
    pub max_filter_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_results: 1000,
            default_page: 100,
            max_operations: 1000,
            max_payload_bytes: 1024 * 1024,
            max_filter_len: super::filter::MAX_FILTER_LEN,
        }
    }
}

fn meta(resource_type: &str, location: String) -> Value {
    json!({ "resourceType": resource_type, "location": location })
}

/// `GET /ServiceProviderConfig` (RFC 7643 §5, §8.5), with RFC 9865's `pagination`.
pub fn service_provider_config(base_url: &str, limits: &Limits) -> Value {
    let base = base_url.trim_end_matches('/');
    json!({
        "schemas": [SERVICE_PROVIDER_CONFIG_SCHEMA],
        "patch": { "supported": true },
        "bulk": {
            "supported": true,
            "maxOperations": limits.max_operations,
            "maxPayloadSize": limits.max_payload_bytes,
        },
        "filter": { "supported": true, "maxResults": limits.max_results },
        "changePassword": { "supported": false },
        "sort": { "supported": true },
        "etag": { "supported": true },
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "Authentication with a Roster API token sent as an OAuth 2.0 bearer token (RFC 6750).",
            "primary": true,
        }],
        "pagination": {
            "cursor": true,
            "index": true,
            "defaultPaginationMethod": "index",
            "defaultPageSize": limits.default_page,
            "maxPageSize": limits.max_results,
            "cursorTimeout": CURSOR_TIMEOUT_SECONDS,
        },
        "meta": meta("ServiceProviderConfig", format!("{base}/ServiceProviderConfig")),
    })
}

/// `GET /ResourceTypes` (RFC 7643 §6, §8.6): User (with the optional enterprise extension) and
/// Group.
pub fn resource_types(base_url: &str) -> Vec<Value> {
    let base = base_url.trim_end_matches('/');
    vec![
        json!({
            "schemas": [RESOURCE_TYPE_SCHEMA],
            "id": "User",
            "name": "User",
            "endpoint": "/Users",
            "description": "User Account",
            "schema": USER_SCHEMA,
            "schemaExtensions": [{ "schema": ENTERPRISE_USER_SCHEMA, "required": false }],
            "meta": meta("ResourceType", format!("{base}/ResourceTypes/User")),
        }),
        json!({
            "schemas": [RESOURCE_TYPE_SCHEMA],
            "id": "Group",
            "name": "Group",
            "endpoint": "/Groups",
            "description": "Group",
            "schema": GROUP_SCHEMA,
            "meta": meta("ResourceType", format!("{base}/ResourceTypes/Group")),
        }),
    ]
}

/// `GET /ResourceTypes/{id}`: `User` or `Group` (ignoring case); `None` for anything else.
pub fn resource_type(base_url: &str, id: &str) -> Option<Value> {
    resource_types(base_url).into_iter().find(|resource_type| {
        resource_type["id"]
            .as_str()
            .is_some_and(|known| known.eq_ignore_ascii_case(id))
    })
}

/// The schemas served, in `/Schemas` order.
const SCHEMAS: [&Schema; 3] = [&schema::USER, &schema::ENTERPRISE_USER, &schema::GROUP];

/// `GET /Schemas` (RFC 7643 §7, §8.7.1): the core User, enterprise User and core Group schemas.
pub fn schemas(base_url: &str) -> Vec<Value> {
    SCHEMAS
        .iter()
        .map(|schema| render_schema(schema, base_url))
        .collect()
}

/// `GET /Schemas/{urn}` (ignoring case); `None` for an unknown URN.
pub fn schema(base_url: &str, id: &str) -> Option<Value> {
    SCHEMAS
        .iter()
        .find(|schema| schema.id.eq_ignore_ascii_case(id))
        .map(|schema| render_schema(schema, base_url))
}

fn render_schema(schema: &Schema, base_url: &str) -> Value {
    let base = base_url.trim_end_matches('/');
    json!({
        "schemas": [SCHEMA_SCHEMA],
        "id": schema.id,
        "name": schema.name,
        "description": schema.description,
        "attributes": schema.attributes.iter().map(render_attribute).collect::<Vec<_>>(),
        "meta": meta("Schema", format!("{base}/Schemas/{}", schema.id)),
    })
}

/// One attribute definition with every characteristic (RFC 7643 §7); `canonicalValues`,
/// `referenceTypes` and `subAttributes` only when non-empty.
fn render_attribute(attribute: &Attribute) -> Value {
    let mut object = Map::new();
    object.insert("name".into(), attribute.name.into());
    object.insert("type".into(), attribute.kind.name().into());
    object.insert("multiValued".into(), attribute.multi_valued.into());
    object.insert("description".into(), attribute.description.into());
    object.insert("required".into(), attribute.required.into());
    object.insert("caseExact".into(), attribute.case_exact.into());
    object.insert("mutability".into(), attribute.mutability.name().into());
    object.insert("returned".into(), attribute.returned.name().into());
    let uniqueness = match attribute.uniqueness {
        Uniqueness::None => "none",
        Uniqueness::Server => "server",
    };
    object.insert("uniqueness".into(), uniqueness.into());
    if !attribute.canonical_values.is_empty() {
        object.insert("canonicalValues".into(), attribute.canonical_values.into());
    }
    if !attribute.reference_types.is_empty() {
        object.insert("referenceTypes".into(), attribute.reference_types.into());
    }
    if !attribute.sub_attributes.is_empty() {
        let subs = attribute
            .sub_attributes
            .iter()
            .map(render_attribute)
            .collect();
        object.insert("subAttributes".into(), Value::Array(subs));
    }
    Value::Object(object)
}

/// A ListResponse (RFC 7644 §3.4.2): integer `totalResults`, `itemsPerPage` (the page's length)
/// and `startIndex`, and `Resources` (always present, `[]` when empty). RFC 9865 cursor pages add
/// `nextCursor`/`previousCursor` to the returned object.
pub fn list_response(resources: Vec<Value>, total: i64, start_index: i64) -> Value {
    json!({
        "schemas": [LIST_RESPONSE_SCHEMA],
        "totalResults": total,
        "itemsPerPage": resources.len(),
        "startIndex": start_index,
        "Resources": resources,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "https://h/scim/v2/";

    /// Asserts that a rendered attribute carries every characteristic of its definition, recursively.
    fn assert_attribute(rendered: &Value, definition: &Attribute, at: &str) {
        let at = format!("{at}.{}", definition.name);
        let object = rendered
            .as_object()
            .unwrap_or_else(|| panic!("{at} is not an object"));
        for key in [
            "name",
            "type",
            "multiValued",
            "description",
            "required",
            "caseExact",
            "mutability",
            "returned",
            "uniqueness",
        ] {
            assert!(object.contains_key(key), "{at} lacks {key}");
        }
        assert_eq!(rendered["name"], definition.name, "{at}");
        assert_eq!(rendered["type"], definition.kind.name(), "{at}");
        assert_eq!(rendered["multiValued"], definition.multi_valued, "{at}");
        assert_eq!(rendered["description"], definition.description, "{at}");
        assert_eq!(rendered["required"], definition.required, "{at}");
        assert_eq!(rendered["caseExact"], definition.case_exact, "{at}");
        assert_eq!(rendered["mutability"], definition.mutability.name(), "{at}");
        assert_eq!(rendered["returned"], definition.returned.name(), "{at}");
        let uniqueness = rendered["uniqueness"].as_str().unwrap();
        assert!(matches!(uniqueness, "none" | "server"), "{at}");
        assert_eq!(
            uniqueness == "server",
            definition.uniqueness == Uniqueness::Server,
            "{at}"
        );
        match definition.canonical_values {
            [] => assert!(!object.contains_key("canonicalValues"), "{at}"),
            values => assert_eq!(rendered["canonicalValues"], json!(values), "{at}"),
        }
        match definition.reference_types {
            [] => assert!(!object.contains_key("referenceTypes"), "{at}"),
            types => assert_eq!(rendered["referenceTypes"], json!(types), "{at}"),
        }
        if definition.sub_attributes.is_empty() {
            assert!(!object.contains_key("subAttributes"), "{at}");
        } else {
            let subs = rendered["subAttributes"].as_array().unwrap();
            assert_eq!(subs.len(), definition.sub_attributes.len(), "{at}");
            for (rendered_sub, sub) in subs.iter().zip(definition.sub_attributes) {
                assert_attribute(rendered_sub, sub, &at);
            }
        }
    }

    #[test]
    fn schemas_render_every_attribute_with_every_characteristic() {
        let rendered = schemas(BASE);
        assert_eq!(rendered.len(), 3);
        for (document, definition) in rendered.iter().zip(SCHEMAS) {
            assert_eq!(document["schemas"], json!([SCHEMA_SCHEMA]));
            assert_eq!(document["id"], definition.id);
            assert_eq!(document["name"], definition.name);
            assert_eq!(document["description"], definition.description);
            assert_eq!(document["meta"]["resourceType"], "Schema");
            assert_eq!(
                document["meta"]["location"],
                format!("https://h/scim/v2/Schemas/{}", definition.id)
            );
            let attributes = document["attributes"].as_array().unwrap();
            assert_eq!(attributes.len(), definition.attributes.len());
            for (attribute, expected) in attributes.iter().zip(definition.attributes) {
                assert_attribute(attribute, expected, definition.id);
            }
        }
        // Spot checks against RFC 7643 §8.7.1.
        let user = schema(BASE, USER_SCHEMA).unwrap();
        let user_name = &user["attributes"][0];
        assert_eq!(
            (
                user_name["name"].as_str(),
                user_name["required"].as_bool(),
                user_name["uniqueness"].as_str()
            ),
            (Some("userName"), Some(true), Some("server"))
        );
        let emails = user["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|attribute| attribute["name"] == "emails")
            .unwrap();
        assert_eq!(emails["type"], "complex");
        assert_eq!(emails["multiValued"], true);
        assert!(
            emails["subAttributes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|sub| sub["name"] == "primary" && sub["type"] == "boolean")
        );
        let groups = user["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|attribute| attribute["name"] == "groups")
            .unwrap();
        assert_eq!(groups["mutability"], "readOnly");
        assert!(!user.to_string().contains("password"));
    }

    #[test]
    fn schema_by_id() {
        assert_eq!(schema(BASE, GROUP_SCHEMA).unwrap()["name"], "Group");
        assert_eq!(
            schema(BASE, &ENTERPRISE_USER_SCHEMA.to_uppercase()).unwrap()["id"],
            ENTERPRISE_USER_SCHEMA
        );
        assert!(schema(BASE, "urn:nope").is_none());
    }

    #[test]
    fn resource_types_describe_users_and_groups() {
        let types = resource_types(BASE);
        assert_eq!(types.len(), 2);
        let user = &types[0];
        assert_eq!(user["schemas"], json!([RESOURCE_TYPE_SCHEMA]));
        assert_eq!(
            (
                user["id"].as_str(),
                user["name"].as_str(),
                user["endpoint"].as_str()
            ),
            (Some("User"), Some("User"), Some("/Users"))
        );
        assert_eq!(user["schema"], USER_SCHEMA);
        assert_eq!(
            user["schemaExtensions"],
            json!([{"schema": ENTERPRISE_USER_SCHEMA, "required": false}])
        );
        assert_eq!(
            user["meta"],
            json!({"resourceType": "ResourceType", "location": "https://h/scim/v2/ResourceTypes/User"})
        );
        let group = &types[1];
        assert_eq!(
            (
                group["name"].as_str(),
                group["endpoint"].as_str(),
                group["schema"].as_str()
            ),
            (Some("Group"), Some("/Groups"), Some(GROUP_SCHEMA))
        );
        assert_eq!(resource_type(BASE, "group").unwrap()["id"], "Group");
        assert_eq!(resource_type(BASE, "User").unwrap(), types[0]);
        assert!(resource_type(BASE, "Device").is_none());
    }

    #[test]
    fn service_provider_config_advertises_limits() {
        let limits = Limits::default();
        assert_eq!(
            (
                limits.max_results,
                limits.default_page,
                limits.max_operations,
                limits.max_payload_bytes
            ),
            (1000, 100, 1000, 1_048_576)
        );
        let config = service_provider_config(
            BASE,
            &Limits {
                max_results: 500,
                ..limits
            },
        );
        assert_eq!(config["schemas"], json!([SERVICE_PROVIDER_CONFIG_SCHEMA]));
        assert_eq!(config["patch"], json!({"supported": true}));
        assert_eq!(
            config["bulk"],
            json!({"supported": true, "maxOperations": 1000, "maxPayloadSize": 1_048_576})
        );
        assert_eq!(
            config["filter"],
            json!({"supported": true, "maxResults": 500})
        );
        assert_eq!(config["changePassword"], json!({"supported": false}));
        assert_eq!(config["sort"], json!({"supported": true}));
        assert_eq!(config["etag"], json!({"supported": true}));
        let scheme = &config["authenticationSchemes"][0];
        assert_eq!(
            (
                scheme["type"].as_str(),
                scheme["name"].as_str(),
                scheme["primary"].as_bool()
            ),
            (
                Some("oauthbearertoken"),
                Some("OAuth Bearer Token"),
                Some(true)
            )
        );
        assert!(!scheme["description"].as_str().unwrap().is_empty());
        assert_eq!(
            config["pagination"],
            json!({"cursor": true, "index": true, "defaultPaginationMethod": "index", "defaultPageSize": 100, "maxPageSize": 500, "cursorTimeout": 3600})
        );
        assert_eq!(
            config["meta"],
            json!({"resourceType": "ServiceProviderConfig", "location": "https://h/scim/v2/ServiceProviderConfig"})
        );
    }

    #[test]
    fn list_responses_use_integers() {
        let list = list_response(vec![json!({"id": "a"}), json!({"id": "b"})], 12, 3);
        assert_eq!(
            list,
            json!({"schemas": [LIST_RESPONSE_SCHEMA], "totalResults": 12, "itemsPerPage": 2, "startIndex": 3, "Resources": [{"id": "a"}, {"id": "b"}]})
        );
        let empty = list_response(Vec::new(), 0, 1);
        assert_eq!(empty["Resources"], json!([]));
        assert_eq!(empty["itemsPerPage"], json!(0));
        assert!(empty["totalResults"].is_i64());
    }
}
