//! SCIM over HTTP/1.1: a minimal keep-alive client (one hyper connection per worker, no pool), the
//! target it talks to (loopback only) and query-string encoding.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// The SCIM media type, sent as `Content-Type` and `Accept`.
const SCIM_JSON: &str = "application/scim+json";

/// Whether `host` (from a URL) names this machine: a loopback IP or `localhost`.
fn loopback(host: &str) -> Option<IpAddr> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.eq_ignore_ascii_case("localhost") {
        return Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    host.parse::<IpAddr>().ok().filter(IpAddr::is_loopback)
}

/// Refuses a gRPC `--server` that is not on this machine (the SCIM subcommands load only local
/// servers).
pub fn require_loopback(url: &str, flag: &str) -> Result<()> {
    let with_scheme = if url.contains("://") {
        url.to_owned()
    } else {
        format!("http://{url}")
    };
    let uri: Uri = with_scheme
        .parse()
        .with_context(|| format!("invalid {flag} {url:?}"))?;
    match uri.host().and_then(loopback) {
        Some(_) => Ok(()),
        None => bail!("{flag} {url:?} is not a loopback address (127.0.0.1, ::1 or localhost)"),
    }
}

/// Where the SCIM requests go and what every one of them carries.
#[derive(Clone)]
pub struct Target {
    addr: SocketAddr,
    host: HeaderValue,
    auth: HeaderValue,
    /// The SCIM base path, such as `/scim/v2` (no trailing slash).
    pub base: String,
    timeout: Duration,
}

impl Target {
    /// `url` is `http://127.0.0.1:8080` (the base path is then `/scim/v2`) or includes the base
    /// path (`http://127.0.0.1:8080/orgs/acme/scim/v2`). Only plain HTTP to loopback addresses.
    pub fn new(url: &str, token: &str, timeout: Duration) -> Result<Self> {
        let token = token.trim();
        if token.is_empty() {
            bail!("the token is empty");
        }
        let with_scheme = if url.contains("://") {
            url.to_owned()
        } else {
            format!("http://{url}")
        };
        let uri: Uri = with_scheme
            .parse()
            .with_context(|| format!("invalid --http {url:?}"))?;
        if uri.scheme_str() != Some("http") {
            bail!("--http {url:?}: only http:// is supported");
        }
        let ip = uri.host().and_then(loopback).with_context(|| {
            format!("--http {url:?} is not a loopback address (127.0.0.1, ::1 or localhost)")
        })?;
        let port = uri.port_u16().unwrap_or(80);
        let authority = uri.authority().context("--http has no host")?.as_str();
        let base = match uri.path().trim_end_matches('/') {
            "" => "/scim/v2".to_owned(),
            path => path.to_owned(),
        };
        let mut auth = HeaderValue::from_str(&format!("Bearer {token}"))
            .context("the token is not a valid header value")?;
        auth.set_sensitive(true);
        Ok(Self {
            addr: SocketAddr::new(ip, port),
            host: HeaderValue::from_str(authority).context("invalid --http host")?,
            auth,
            base,
            timeout,
        })
    }

    /// `http://host:port`, for messages.
    pub fn origin(&self) -> String {
        format!("http://{}", self.host.to_str().unwrap_or_default())
    }

    /// Opens one keep-alive connection.
    pub async fn connect(&self) -> Result<HttpConn> {
        let mut conn = HttpConn {
            target: self.clone(),
            sender: None,
            opened: 0,
        };
        conn.ensure().await?;
        Ok(conn)
    }

    /// Opens `n` connections up front, so a wrong address fails before the run.
    pub async fn connections(&self, n: usize) -> Result<Vec<HttpConn>> {
        let mut conns = Vec::with_capacity(n);
        for _ in 0..n {
            conns.push(self.connect().await?);
        }
        Ok(conns)
    }
}

/// A response, read completely.
pub struct Reply {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Reply {
    /// The body as text, shortened for an error message.
    pub fn snippet(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let text = text.trim();
        match text.char_indices().nth(300) {
            Some((cut, _)) => format!("{}...", &text[..cut]),
            None => text.to_owned(),
        }
    }
}

/// One HTTP/1.1 connection that stays open between requests; when the server closes it (or a
/// request fails on it) the next request opens a new one, and [`HttpConn::opened`] counts them.
pub struct HttpConn {
    target: Target,
    sender: Option<SendRequest<Full<Bytes>>>,
    opened: u64,
}

impl HttpConn {
    /// How many TCP connections this one has opened (1 when keep-alive held for the whole run).
    pub fn opened(&self) -> u64 {
        self.opened
    }

    async fn ensure(&mut self) -> Result<&mut SendRequest<Full<Bytes>>> {
        if self.sender.as_ref().is_none_or(SendRequest::is_closed) {
            let addr = self.target.addr;
            let stream = tokio::time::timeout(self.target.timeout, TcpStream::connect(addr))
                .await
                .map_err(|_| anyhow::anyhow!("connecting to {addr} timed out"))?
                .with_context(|| format!("cannot connect to {addr}"))?;
            stream.set_nodelay(true)?;
            let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .with_context(|| format!("HTTP handshake with {addr}"))?;
            // Drives the connection until either side closes it; errors surface on the sender.
            tokio::spawn(async move {
                let _ = connection.await;
            });
            self.opened += 1;
            self.sender = Some(sender);
        }
        Ok(self.sender.as_mut().expect("just set"))
    }

    /// Sends one request (`path_and_query` starts with `/`) and reads the whole response, within
    /// the target's timeout. A failed request drops the connection.
    pub async fn send(
        &mut self,
        method: Method,
        path_and_query: &str,
        body: Option<Bytes>,
    ) -> Result<Reply> {
        let timeout = self.target.timeout;
        match tokio::time::timeout(timeout, self.send_inner(method, path_and_query, body)).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(err)) => {
                self.sender = None;
                Err(err)
            }
            Err(_) => {
                self.sender = None;
                bail!("no response within {} s", timeout.as_secs())
            }
        }
    }

    async fn send_inner(
        &mut self,
        method: Method,
        path_and_query: &str,
        body: Option<Bytes>,
    ) -> Result<Reply> {
        let (host, auth) = (self.target.host.clone(), self.target.auth.clone());
        let mut builder = Request::builder()
            .method(method)
            .uri(path_and_query)
            .header(HOST, host)
            .header(AUTHORIZATION, auth)
            .header(ACCEPT, SCIM_JSON);
        if body.is_some() {
            builder = builder.header(CONTENT_TYPE, SCIM_JSON);
        }
        let request = builder
            .body(Full::new(body.unwrap_or_default()))
            .context("invalid request")?;
        let sender = self.ensure().await?;
        sender.ready().await.context("connection closed")?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        Ok(Reply { status, body })
    }
}

/// Percent-encodes a query-string value (everything but RFC 3986 unreserved characters).
pub fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3 / 2);
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_percent_encoded() {
        assert_eq!(
            encode_query_value(r#"userName eq "user-000123@example.com""#),
            "userName%20eq%20%22user-000123%40example.com%22"
        );
    }

    #[test]
    fn only_loopback_plain_http_targets() {
        let t = Duration::from_secs(1);
        let target = Target::new("http://127.0.0.1:8161", "x", t).unwrap();
        assert_eq!(target.base, "/scim/v2");
        assert_eq!(target.addr, "127.0.0.1:8161".parse().unwrap());
        let target = Target::new("localhost:8080/orgs/acme/scim/v2/", "x", t).unwrap();
        assert_eq!(target.base, "/orgs/acme/scim/v2");
        assert!(Target::new("http://[::1]:8080", "x", t).is_ok());
        assert!(Target::new("http://10.0.0.1:8080", "x", t).is_err());
        assert!(Target::new("http://example.com", "x", t).is_err());
        assert!(Target::new("https://127.0.0.1:8443", "x", t).is_err());
        assert!(Target::new("http://127.0.0.1:8080", " ", t).is_err());
        assert!(require_loopback("127.0.0.1:50051", "--server").is_ok());
        assert!(require_loopback("http://192.168.1.2:50051", "--server").is_err());
    }
}
