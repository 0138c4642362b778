//! TXT lookups for domain verification, with hickory's stub resolver over UDP (TCP when a reply is
//! truncated) against one configured nameserver (`--dns-resolver IP:PORT`) or the nameservers of
//! `/etc/resolv.conf`. Nothing is cached: every verification asks again, so a record just
//! published (or just fixed) counts at once, as far as the upstream resolver allows.
//!
//! The outcome separates what the domain's owner can fix (no record, other values) from what they
//! cannot (the resolver failed or did not answer), so the first becomes FAILED_PRECONDITION and
//! the second UNAVAILABLE, never INTERNAL.

use crate::domain::domains::{TxtAnswer, TxtRecord};
use hickory_resolver::Resolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::RData;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// How long one query waits for an answer.
const TIMEOUT: Duration = Duration::from_secs(3);

/// Why a TXT lookup could not tell: the resolver failed or did not answer. The text is for people.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{0}")]
pub struct DnsUnavailable(pub String);

/// Looks up TXT records.
#[derive(Clone)]
pub struct TxtResolver {
    resolver: Option<Resolver<TokioRuntimeProvider>>,
    /// The nameservers asked, for messages and logs.
    servers: String,
}

impl std::fmt::Debug for TxtResolver {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("TxtResolver")
            .field("servers", &self.servers)
            .finish()
    }
}

impl TxtResolver {
    /// A resolver asking `server`, or with `None` the nameservers of `/etc/resolv.conf` (a
    /// system without any gets a resolver whose every lookup is UNAVAILABLE, saying so).
    pub fn new(server: Option<SocketAddr>) -> anyhow::Result<Self> {
        let servers: Vec<SocketAddr> = match server {
            Some(server) => vec![server],
            None => std::fs::read_to_string("/etc/resolv.conf")
                .map(|text| resolv_conf_nameservers(&text))
                .unwrap_or_default(),
        };
        if servers.is_empty() {
            tracing::warn!(
                "no DNS resolver: /etc/resolv.conf names no nameserver and --dns-resolver is unset; domain verification will fail"
            );
            return Ok(Self {
                resolver: None,
                servers: String::new(),
            });
        }
        let name_servers = servers
            .iter()
            .map(|address| {
                let mut config = NameServerConfig::udp_and_tcp(address.ip());
                for connection in &mut config.connections {
                    connection.port = address.port();
                }
                config
            })
            .collect();
        let mut options = ResolverOpts::default();
        options.timeout = TIMEOUT;
        options.attempts = 1;
        // Every verification must see the record as published now, never a cached answer.
        options.cache_size = 0;
        options.num_concurrent_reqs = 1;
        let resolver = Resolver::builder_with_config(
            ResolverConfig::from_name_servers(name_servers),
            TokioRuntimeProvider::default(),
        )
        .with_options(options)
        .build()?;
        let servers = servers
            .iter()
            .map(SocketAddr::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        tracing::info!(%servers, "DNS resolver for domain verification");
        Ok(Self {
            resolver: Some(resolver),
            servers,
        })
    }

    /// The TXT records at `name` (a fully qualified name without the trailing dot).
    pub async fn lookup_txt(&self, name: &str) -> Result<TxtAnswer, DnsUnavailable> {
        let Some(resolver) = &self.resolver else {
            return Err(DnsUnavailable(
                "no DNS resolver is configured (set --dns-resolver)".to_owned(),
            ));
        };
        // The trailing dot makes the name absolute: no search domains are tried.
        match resolver.txt_lookup(format!("{name}.")).await {
            Ok(lookup) => {
                let records: Vec<TxtRecord> = lookup
                    .answers()
                    .iter()
                    .filter_map(|record| match &record.data {
                        RData::TXT(txt) => {
                            Some(txt.txt_data.iter().map(|bytes| bytes.to_vec()).collect())
                        }
                        _ => None,
                    })
                    .collect();
                if records.is_empty() {
                    Ok(TxtAnswer::NoRecords)
                } else {
                    Ok(TxtAnswer::Records(records))
                }
            }
            Err(error) if error.is_nx_domain() => Ok(TxtAnswer::NoSuchName),
            Err(error) if error.is_no_records_found() => Ok(TxtAnswer::NoRecords),
            Err(error) => {
                tracing::warn!(name, servers = %self.servers, error = %error, "TXT lookup failed");
                Err(DnsUnavailable(format!(
                    "the DNS resolver ({}) {}",
                    self.servers,
                    describe_failure(&error)
                )))
            }
        }
    }
}

/// A resolver failure in a few words.
fn describe_failure(error: &NetError) -> String {
    match error {
        NetError::Timeout => "did not answer in time".to_owned(),
        NetError::Dns(DnsError::ResponseCode(code)) => match code {
            ResponseCode::ServFail => {
                "answered SERVFAIL (it could not resolve the name)".to_owned()
            }
            ResponseCode::Refused => "refused the query".to_owned(),
            other => format!("answered {other}"),
        },
        NetError::Io(io) => format!("could not be reached ({})", io.kind()),
        NetError::NoConnections => "could not be reached".to_owned(),
        other => format!("failed: {}", truncate(&other.to_string(), 120)),
    }
}

fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// The `nameserver` addresses of a resolv.conf (port 53).
fn resolv_conf_nameservers(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next()? == "nameserver").then_some(())?;
            // A link-local IPv6 address may carry a zone (`fe80::1%eth0`); hickory cannot use it.
            let address: IpAddr = words.next()?.parse().ok()?;
            Some(SocketAddr::new(address, 53))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_nameservers_are_read() {
        let text = "# comment\nsearch example.internal\nnameserver 10.0.0.2\nnameserver ::1\n\
                    nameserver fe80::1%eth0\noptions ndots:2\n";
        assert_eq!(
            resolv_conf_nameservers(text),
            vec![
                "10.0.0.2:53".parse::<SocketAddr>().unwrap(),
                "[::1]:53".parse().unwrap()
            ]
        );
    }
}
