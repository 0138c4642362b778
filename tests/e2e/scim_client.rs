//! A small SCIM client over real HTTP for the facade's end-to-end tests: every call returns the
//! status, the headers and the body parsed as JSON (`Null` when empty, a JSON string when the body
//! is not JSON), and sends `Content-Type: application/scim+json` with a body.

use crate::harness::TestServer;
use reqwest::header::{self, HeaderMap};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// The SCIM media type.
pub const SCIM_JSON: &str = "application/scim+json";
/// The core User schema.
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// The core Group schema.
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// The enterprise User extension.
pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// The PatchOp message.
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// The ListResponse message.
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// The Error message.
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// Status, headers and JSON body of a response.
pub type Reply = (StatusCode, HeaderMap, Value);

/// A request body as sent: JSON (with the SCIM content type) or raw bytes with a content type.
pub enum Body {
    Json(Value),
    Raw(&'static str, Vec<u8>),
}

/// A SCIM client for one server and one bearer secret.
#[derive(Clone)]
pub struct ScimClient {
    http: reqwest::Client,
    /// `http://{addr}/scim/v2` (or another SCIM base), no trailing slash.
    pub base: String,
    secret: Option<String>,
}

impl ScimClient {
    /// A client of `http://{http_addr}/scim/v2` sending `Authorization: Bearer {secret}`.
    pub fn new(server: &TestServer, secret: &str) -> Self {
        Self::at(server, "/scim/v2", Some(secret))
    }

    /// A client of another base path on the server (`/orgs/{org}/scim/v2`); `None` sends no
    /// `Authorization` header.
    pub fn at(server: &TestServer, base_path: &str, secret: Option<&str>) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: format!("http://{}{base_path}", server.http_addr),
            secret: secret.map(str::to_owned),
        }
    }

    /// A client of a full SCIM base URL (another rosterd, such as a remote facade).
    pub fn at_url(base: &str, secret: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_owned(),
            secret: Some(secret.to_owned()),
        }
    }

    /// The same client, connecting from the local address `local` (`127.0.0.2`: any address of
    /// 127.0.0.0/8 reaches the loopback interface).
    pub fn bound_to(mut self, local: std::net::IpAddr) -> Self {
        self.http = reqwest::Client::builder()
            .local_address(local)
            .build()
            .expect("an HTTP client");
        self
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.request(Method::GET, path, &[], None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.request(Method::POST, path, &[], Some(Body::Json(body.clone())))
            .await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Reply {
        self.request(Method::PUT, path, &[], Some(Body::Json(body.clone())))
            .await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Reply {
        self.request(Method::PATCH, path, &[], Some(Body::Json(body.clone())))
            .await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.request(Method::DELETE, path, &[], None).await
    }

    /// Any request, with extra headers; the body parsed as JSON.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Body>,
    ) -> Reply {
        let (status, headers, bytes) = self.raw(method, path, headers, body).await;
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        (status, headers, value)
    }

    /// Any request, with extra headers; the body as bytes.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Body>,
    ) -> (StatusCode, HeaderMap, Vec<u8>) {
        let url = format!("{}{path}", self.base);
        // Long URLs (huge filters) are cut in panic messages.
        let shown: String = url.chars().take(200).collect();
        let mut request = self
            .http
            .request(method.clone(), &url)
            .header(header::ACCEPT, SCIM_JSON);
        if let Some(secret) = &self.secret {
            request = request.header(header::AUTHORIZATION, format!("Bearer {secret}"));
        }
        match body {
            Some(Body::Json(value)) => {
                request = request
                    .header(header::CONTENT_TYPE, SCIM_JSON)
                    .body(value.to_string());
            }
            Some(Body::Raw(content_type, bytes)) => {
                request = request
                    .header(header::CONTENT_TYPE, content_type)
                    .body(bytes);
            }
            None => {}
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|error| panic!("{method} {shown}: {}", cut(&error.to_string())));
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap_or_else(|error| {
            panic!(
                "{method} {shown}: reading the body: {}",
                cut(&error.to_string())
            )
        });
        (status, headers, bytes.to_vec())
    }
}

/// At most 300 characters of `text`.
fn cut(text: &str) -> String {
    text.chars().take(300).collect()
}

/// Percent-encodes everything but RFC 3986 unreserved characters, for query values.
pub fn enc(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `{resource}?filter={filter}`, encoded.
pub fn filtered(resource: &str, filter: &str) -> String {
    format!("{resource}?filter={}", enc(filter))
}

/// A PatchOp body with `operations`.
pub fn patch_op(operations: Value) -> Value {
    serde_json::json!({"schemas": [PATCH_OP], "Operations": operations})
}

/// The `Content-Type` of a reply, if any.
pub fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
}

/// A header of a reply as text, if present.
pub fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// Asserts a SCIM error: status, Error schema, `status` string, and `scimType` when given.
#[track_caller]
pub fn assert_error(reply: &Reply, status: StatusCode, scim_type: Option<&str>) {
    let (actual, headers, body) = reply;
    assert_eq!(*actual, status, "status of {body}");
    assert!(
        content_type(headers).starts_with(SCIM_JSON),
        "content type {:?} of {body}",
        content_type(headers)
    );
    assert_eq!(body["schemas"][0], ERROR_SCHEMA, "{body}");
    assert_eq!(body["status"], status.as_u16().to_string(), "{body}");
    if let Some(scim_type) = scim_type {
        assert_eq!(body["scimType"], scim_type, "{body}");
    }
}

/// Asserts a 200 ListResponse with integer paging members; returns the resources.
#[track_caller]
pub fn assert_list(reply: &Reply) -> Vec<Value> {
    let (status, headers, body) = reply;
    assert_eq!(*status, StatusCode::OK, "{body}");
    assert!(
        content_type(headers).starts_with(SCIM_JSON),
        "{:?}",
        content_type(headers)
    );
    assert_eq!(body["schemas"][0], LIST_RESPONSE, "{body}");
    for member in ["totalResults", "itemsPerPage", "startIndex"] {
        assert!(body[member].is_i64(), "{member} is not an integer: {body}");
    }
    let resources = body["Resources"]
        .as_array()
        .unwrap_or_else(|| panic!("no Resources array: {body}"))
        .clone();
    assert_eq!(
        body["itemsPerPage"].as_u64(),
        Some(resources.len() as u64),
        "{body}"
    );
    resources
}

/// The string `key` of each resource, sorted.
pub fn sorted_strings(resources: &[Value], key: &str) -> Vec<String> {
    let mut values: Vec<String> = resources
        .iter()
        .map(|resource| resource[key].as_str().unwrap_or_default().to_owned())
        .collect();
    values.sort();
    values
}
