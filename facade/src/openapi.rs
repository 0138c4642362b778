//! The OpenAPI 3.0 description of the facade, served at `{base}/openapi.json` so standard API
//! fuzzers (schemathesis) and client generators can drive it.

use serde_json::{Value, json};

fn list_params() -> Value {
    json!([
        {"name": "filter", "in": "query", "schema": {"type": "string"}, "description": "RFC 7644 §3.4.2.2 filter"},
        {"name": "sortBy", "in": "query", "schema": {"type": "string"}},
        {"name": "sortOrder", "in": "query", "schema": {"type": "string", "enum": ["ascending", "descending"]}},
        {"name": "startIndex", "in": "query", "schema": {"type": "integer"}},
        {"name": "count", "in": "query", "schema": {"type": "integer"}},
        {"name": "attributes", "in": "query", "schema": {"type": "string"}},
        {"name": "excludedAttributes", "in": "query", "schema": {"type": "string"}}
    ])
}

fn projection_params() -> Value {
    json!([
        {"name": "attributes", "in": "query", "schema": {"type": "string"}},
        {"name": "excludedAttributes", "in": "query", "schema": {"type": "string"}}
    ])
}

fn id_param() -> Value {
    json!({"name": "id", "in": "path", "required": true, "schema": {"type": "string"}})
}

fn body(schema: &str) -> Value {
    json!({
        "required": true,
        "content": {
            "application/scim+json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}},
            "application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}
        }
    })
}

fn response(description: &str, schema: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/scim+json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}
    })
}

fn errors() -> Value {
    let error = response("SCIM error", "Error");
    json!({
        "400": error, "401": error, "403": error, "404": error, "409": error, "412": error,
        "413": error, "415": error, "500": error
    })
}

fn with_errors(mut responses: Value) -> Value {
    if let (Some(target), Value::Object(errors)) = (responses.as_object_mut(), errors()) {
        for (status, value) in errors {
            target.entry(status).or_insert(value);
        }
    }
    responses
}

fn resource_paths(name: &str, schema: &str) -> (Value, Value, Value) {
    let collection = json!({
        "get": {
            "summary": format!("List or query {name}"),
            "parameters": list_params(),
            "responses": with_errors(json!({"200": response("A page of resources", "ListResponse")}))
        },
        "post": {
            "summary": format!("Create a {schema}"),
            "parameters": projection_params(),
            "requestBody": body(schema),
            "responses": with_errors(json!({"201": response("Created", schema)}))
        }
    });
    let item = json!({
        "parameters": [id_param()],
        "get": {
            "summary": format!("Read a {schema}"),
            "parameters": projection_params(),
            "responses": with_errors(json!({"200": response("The resource", schema), "304": {"description": "Not modified"}}))
        },
        "put": {
            "summary": format!("Replace a {schema}"),
            "parameters": projection_params(),
            "requestBody": body(schema),
            "responses": with_errors(json!({"200": response("The resource", schema)}))
        },
        "patch": {
            "summary": format!("Modify a {schema}"),
            "parameters": projection_params(),
            "requestBody": body("PatchOp"),
            "responses": with_errors(json!({"200": response("The resource", schema)}))
        },
        "delete": {
            "summary": format!("Delete a {schema}"),
            "responses": with_errors(json!({"204": {"description": "Deleted"}}))
        }
    });
    let search = json!({
        "post": {
            "summary": format!("Query {name} with a body"),
            "requestBody": body("SearchRequest"),
            "responses": with_errors(json!({"200": response("A page of resources", "ListResponse")}))
        }
    });
    (collection, item, search)
}

fn multi_valued() -> Value {
    json!({"type": "array", "items": {"type": "object", "properties": {
        "value": {"type": "string"}, "type": {"type": "string"}, "display": {"type": "string"}, "primary": {"type": "boolean"}
    }}})
}

/// The document, with `base_url` as its server.
pub fn document(base_url: &str) -> Value {
    let (users, user, users_search) = resource_paths("Users", "User");
    let (groups, group, groups_search) = resource_paths("Groups", "Group");
    let discovery = |summary: &str| json!({"get": {"summary": summary, "responses": with_errors(json!({"200": {"description": "OK", "content": {"application/scim+json": {"schema": {"type": "object"}}}}}))}});
    json!({
        "openapi": "3.0.3",
        "info": {"title": "Roster SCIM 2.0", "version": env!("CARGO_PKG_VERSION"), "description": "SCIM 2.0 (RFC 7643, RFC 7644) service provider of Roster"},
        "servers": [{"url": base_url}],
        "security": [{"bearer": []}],
        "paths": {
            "/Users": users, "/Users/{id}": user, "/Users/.search": users_search,
            "/Groups": groups, "/Groups/{id}": group, "/Groups/.search": groups_search,
            "/.search": {"post": {"summary": "Query all resource types", "requestBody": body("SearchRequest"),
                "responses": with_errors(json!({"200": response("A page of resources", "ListResponse")}))}},
            "/ServiceProviderConfig": discovery("Service provider configuration"),
            "/ResourceTypes": discovery("Resource types"),
            "/ResourceTypes/{id}": {"parameters": [id_param()], "get": discovery("A resource type")["get"].clone()},
            "/Schemas": discovery("Schemas"),
            "/Schemas/{id}": {"parameters": [id_param()], "get": discovery("A schema")["get"].clone()}
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "User": {"type": "object", "required": ["userName"], "properties": {
                    "schemas": {"type": "array", "items": {"type": "string"}},
                    "externalId": {"type": "string"},
                    "userName": {"type": "string", "minLength": 1, "maxLength": 256},
                    "name": {"type": "object", "properties": {
                        "formatted": {"type": "string"}, "familyName": {"type": "string"}, "givenName": {"type": "string"},
                        "middleName": {"type": "string"}, "honorificPrefix": {"type": "string"}, "honorificSuffix": {"type": "string"}}},
                    "displayName": {"type": "string"}, "nickName": {"type": "string"}, "profileUrl": {"type": "string"},
                    "title": {"type": "string"}, "userType": {"type": "string"}, "preferredLanguage": {"type": "string"},
                    "locale": {"type": "string"}, "timezone": {"type": "string"}, "active": {"type": "boolean"},
                    "emails": multi_valued(), "phoneNumbers": multi_valued(), "ims": multi_valued(), "photos": multi_valued(),
                    "entitlements": multi_valued(), "roles": multi_valued(), "x509Certificates": multi_valued(),
                    "addresses": {"type": "array", "items": {"type": "object", "properties": {
                        "formatted": {"type": "string"}, "streetAddress": {"type": "string"}, "locality": {"type": "string"},
                        "region": {"type": "string"}, "postalCode": {"type": "string"}, "country": {"type": "string"},
                        "type": {"type": "string"}, "primary": {"type": "boolean"}}}},
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"type": "object", "properties": {
                        "employeeNumber": {"type": "string"}, "costCenter": {"type": "string"}, "organization": {"type": "string"},
                        "division": {"type": "string"}, "department": {"type": "string"},
                        "manager": {"type": "object", "properties": {"value": {"type": "string"}}}}}
                }},
                "Group": {"type": "object", "required": ["displayName"], "properties": {
                    "schemas": {"type": "array", "items": {"type": "string"}},
                    "externalId": {"type": "string"},
                    "displayName": {"type": "string", "minLength": 1, "maxLength": 256},
                    "members": {"type": "array", "items": {"type": "object", "required": ["value"], "properties": {
                        "value": {"type": "string"}, "type": {"type": "string", "enum": ["User", "Group"]}}}}
                }},
                "PatchOp": {"type": "object", "required": ["schemas", "Operations"], "properties": {
                    "schemas": {"type": "array", "items": {"type": "string", "enum": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"]}},
                    "Operations": {"type": "array", "minItems": 1, "items": {"type": "object", "required": ["op"], "properties": {
                        "op": {"type": "string", "enum": ["add", "replace", "remove", "Add", "Replace", "Remove"]},
                        "path": {"type": "string"},
                        "value": {}}}}
                }},
                "SearchRequest": {"type": "object", "properties": {
                    "schemas": {"type": "array", "items": {"type": "string"}},
                    "filter": {"type": "string"}, "sortBy": {"type": "string"},
                    "sortOrder": {"type": "string", "enum": ["ascending", "descending"]},
                    "startIndex": {"type": "integer"}, "count": {"type": "integer"},
                    "attributes": {"type": "array", "items": {"type": "string"}},
                    "excludedAttributes": {"type": "array", "items": {"type": "string"}}
                }},
                "ListResponse": {"type": "object", "required": ["schemas", "totalResults"], "properties": {
                    "schemas": {"type": "array", "items": {"type": "string"}},
                    "totalResults": {"type": "integer"}, "startIndex": {"type": "integer"}, "itemsPerPage": {"type": "integer"},
                    "Resources": {"type": "array", "items": {"type": "object"}}
                }},
                "Error": {"type": "object", "required": ["schemas", "status"], "properties": {
                    "schemas": {"type": "array", "items": {"type": "string"}},
                    "status": {"type": "string"}, "scimType": {"type": "string"}, "detail": {"type": "string"}
                }}
            }
        }
    })
}
