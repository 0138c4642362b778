//! rosterd's configuration: defaults, then an optional TOML file, then `ROSTER_*` environment
//! variables, then flags (clap reads the last two; later sources win).

use crate::domain::connection::Cidr;
use clap::{Parser, ValueEnum};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;

/// What this rosterd serves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The core (gRPC) and the HTTP side (SCIM facade in-process, health, metrics).
    #[default]
    All,
    /// Only the HTTP side, against a remote core (`--core`).
    Facade,
}

/// Log output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Command-line flags; each also reads a `ROSTER_*` variable.
#[derive(Debug, Parser)]
#[command(
    name = "rosterd",
    version,
    about = "Roster: identity core (gRPC) with a SCIM 2.0 facade"
)]
pub struct Args {
    /// TOML file with any of the settings below (snake_case keys).
    #[arg(long, env = "ROSTER_CONFIG")]
    pub config: Option<PathBuf>,
    /// Database: `sqlite://roster.db?mode=rwc` (default) or `postgres://user@host/db`.
    #[arg(long, env = "ROSTER_DATABASE_URL")]
    pub database_url: Option<String>,
    /// gRPC listen address (default 127.0.0.1:50051; port 0 picks a free port).
    #[arg(long, env = "ROSTER_GRPC_ADDR")]
    pub grpc_addr: Option<SocketAddr>,
    /// HTTP listen address for SCIM, /healthz, /readyz and /metrics (default 127.0.0.1:8080).
    #[arg(long, env = "ROSTER_HTTP_ADDR")]
    pub http_addr: Option<SocketAddr>,
    /// On first start, also write the admin token to this new file (mode 0600).
    #[arg(long, env = "ROSTER_BOOTSTRAP_TOKEN_FILE")]
    pub bootstrap_token_file: Option<PathBuf>,
    /// `text` or `json` logs (filter with RUST_LOG, default info).
    #[arg(long, env = "ROSTER_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    /// `all` (default) or `facade`.
    #[arg(long, env = "ROSTER_ROLE")]
    pub role: Option<Role>,
    /// With `--role facade`: the core's gRPC URL.
    #[arg(long, env = "ROSTER_CORE_URL")]
    pub core: Option<String>,
    /// Public origin of the HTTP side (`https://scim.example.com`), used in SCIM `meta.location`;
    /// default: `http://` plus the request's Host header.
    #[arg(long, env = "ROSTER_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Largest gRPC request message, in bytes (default 4 MiB).
    #[arg(long, env = "ROSTER_MAX_MESSAGE_BYTES")]
    pub max_message_bytes: Option<usize>,
    /// SQLite `synchronous`: `normal` (default; durable across crashes of rosterd) or `full`
    /// (also across power loss).
    #[arg(long, env = "ROSTER_SQLITE_SYNCHRONOUS")]
    pub sqlite_synchronous: Option<String>,
    /// Most database connections in the pool (default 4 on SQLite, 16 on PostgreSQL).
    #[arg(long, env = "ROSTER_MAX_CONNECTIONS")]
    pub max_connections: Option<u32>,
    /// SQLite: run point reads (a lookup by userName, a group by id) on the calling thread over
    /// read-only connections (default true; false sends every read through the pool).
    #[arg(long, env = "ROSTER_SQLITE_INLINE_READS")]
    pub sqlite_inline_reads: Option<bool>,
    /// SQLite: write membership batches (group member adds and removes) on the calling thread
    /// over a connection of their own (default true; false writes them through the pool).
    #[arg(long, env = "ROSTER_SQLITE_DIRECT_WRITES")]
    pub sqlite_direct_writes: Option<bool>,
    /// SQLite: how many MiB of the database file each connection memory-maps (default 1024; 0
    /// reads every page with `pread` into the connection's own cache).
    #[arg(long, env = "ROSTER_SQLITE_MMAP_MIB")]
    pub sqlite_mmap_mib: Option<u32>,
    /// DNS resolver for domain verification, `IP:PORT` (default: the nameservers of
    /// /etc/resolv.conf).
    #[arg(long, env = "ROSTER_DNS_RESOLVER")]
    pub dns_resolver: Option<SocketAddr>,
    /// Peers (CIDR blocks, comma-separated) whose `x-roster-client-addr` header the core believes:
    /// the addresses of remote SCIM facades (`--role facade`). Default: none.
    #[arg(long, env = "ROSTER_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Option<Vec<String>>,
}

/// The same settings read from a TOML file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    database_url: Option<String>,
    grpc_addr: Option<SocketAddr>,
    http_addr: Option<SocketAddr>,
    bootstrap_token_file: Option<PathBuf>,
    log_format: Option<LogFormat>,
    role: Option<Role>,
    core: Option<String>,
    public_url: Option<String>,
    max_message_bytes: Option<usize>,
    sqlite_synchronous: Option<String>,
    max_connections: Option<u32>,
    sqlite_inline_reads: Option<bool>,
    sqlite_direct_writes: Option<bool>,
    sqlite_mmap_mib: Option<u32>,
    dns_resolver: Option<SocketAddr>,
    trusted_proxies: Option<Vec<String>>,
}

/// The resolved configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Database URL.
    pub database_url: String,
    /// gRPC listen address.
    pub grpc_addr: SocketAddr,
    /// HTTP listen address.
    pub http_addr: SocketAddr,
    /// Where to write the first admin token, if anywhere.
    pub bootstrap_token_file: Option<PathBuf>,
    /// Log format.
    pub log_format: LogFormat,
    /// What to serve.
    pub role: Role,
    /// Remote core URL for the facade role.
    pub core: Option<String>,
    /// Public origin for SCIM locations.
    pub public_url: Option<String>,
    /// Largest gRPC request message.
    pub max_message_bytes: usize,
    /// SQLite synchronous mode.
    pub sqlite_synchronous: String,
    /// Pool size (`None`: the backend's default).
    pub max_connections: Option<u32>,
    /// SQLite point reads on the calling thread.
    pub sqlite_inline_reads: bool,
    /// SQLite membership batches on the calling thread.
    pub sqlite_direct_writes: bool,
    /// SQLite memory map per connection, MiB (0: none).
    pub sqlite_mmap_mib: u32,
    /// The DNS resolver domain verification asks (`None`: the nameservers of /etc/resolv.conf).
    pub dns_resolver: Option<SocketAddr>,
    /// Peers whose forwarded client address (`x-roster-client-addr`) the core believes.
    pub trusted_proxies: Vec<Cidr>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: "sqlite://roster.db?mode=rwc".to_owned(),
            grpc_addr: SocketAddr::from(([127, 0, 0, 1], 50051)),
            http_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            bootstrap_token_file: None,
            log_format: LogFormat::Text,
            role: Role::All,
            core: None,
            public_url: None,
            max_message_bytes: 4 * 1024 * 1024,
            sqlite_synchronous: "normal".to_owned(),
            max_connections: None,
            sqlite_inline_reads: true,
            sqlite_direct_writes: true,
            sqlite_mmap_mib: 1024,
            dns_resolver: None,
            trusted_proxies: Vec::new(),
        }
    }
}

impl Config {
    /// Resolves flags and environment over the file over the defaults.
    pub fn load(args: Args) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        let file = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("while reading {}", path.display()))?;
                toml::from_str::<FileConfig>(&text)
                    .with_context(|| format!("while parsing {}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let defaults = Config::default();
        let config = Config {
            database_url: args
                .database_url
                .or(file.database_url)
                .unwrap_or(defaults.database_url),
            grpc_addr: args
                .grpc_addr
                .or(file.grpc_addr)
                .unwrap_or(defaults.grpc_addr),
            http_addr: args
                .http_addr
                .or(file.http_addr)
                .unwrap_or(defaults.http_addr),
            bootstrap_token_file: args.bootstrap_token_file.or(file.bootstrap_token_file),
            log_format: args
                .log_format
                .or(file.log_format)
                .unwrap_or(defaults.log_format),
            role: args.role.or(file.role).unwrap_or(defaults.role),
            core: args.core.or(file.core),
            public_url: args.public_url.or(file.public_url),
            max_message_bytes: args
                .max_message_bytes
                .or(file.max_message_bytes)
                .unwrap_or(defaults.max_message_bytes),
            sqlite_synchronous: args
                .sqlite_synchronous
                .or(file.sqlite_synchronous)
                .unwrap_or(defaults.sqlite_synchronous),
            max_connections: args.max_connections.or(file.max_connections),
            sqlite_inline_reads: args
                .sqlite_inline_reads
                .or(file.sqlite_inline_reads)
                .unwrap_or(defaults.sqlite_inline_reads),
            sqlite_direct_writes: args
                .sqlite_direct_writes
                .or(file.sqlite_direct_writes)
                .unwrap_or(defaults.sqlite_direct_writes),
            sqlite_mmap_mib: args
                .sqlite_mmap_mib
                .or(file.sqlite_mmap_mib)
                .unwrap_or(defaults.sqlite_mmap_mib),
            dns_resolver: args.dns_resolver.or(file.dns_resolver),
            trusted_proxies: args
                .trusted_proxies
                .or(file.trusted_proxies)
                .unwrap_or_default()
                .iter()
                .map(|block| {
                    block
                        .parse::<Cidr>()
                        .map_err(|message| anyhow::anyhow!("--trusted-proxies: {message}"))
                })
                .collect::<anyhow::Result<_>>()?,
        };
        if config.role == Role::Facade && config.core.is_none() {
            anyhow::bail!("--role facade needs --core URL (the core's gRPC address)");
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file_which_wins_over_defaults() {
        let dir = std::env::temp_dir().join(format!("roster-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("roster.toml");
        std::fs::write(
            &path,
            "database_url = \"sqlite://file.db\"\nhttp_addr = \"127.0.0.1:9999\"\n",
        )
        .unwrap();
        let args = Args::parse_from([
            "rosterd",
            "--config",
            path.to_str().unwrap(),
            "--http-addr",
            "127.0.0.1:7777",
        ]);
        let config = Config::load(args).unwrap();
        assert_eq!(config.database_url, "sqlite://file.db");
        assert_eq!(config.http_addr.port(), 7777);
        assert_eq!(config.grpc_addr.port(), 50051);
    }

    #[test]
    fn the_dns_resolver_comes_from_the_flag_or_the_file() {
        let args = Args::parse_from(["rosterd", "--dns-resolver", "127.0.0.1:5353"]);
        assert_eq!(
            Config::load(args).unwrap().dns_resolver,
            Some("127.0.0.1:5353".parse().unwrap())
        );
        let file = toml::from_str::<FileConfig>("dns_resolver = \"10.0.0.2:53\"").unwrap();
        assert_eq!(file.dns_resolver, Some("10.0.0.2:53".parse().unwrap()));
        assert!(Args::try_parse_from(["rosterd", "--dns-resolver", "10.0.0.2"]).is_err());
    }

    #[test]
    fn trusted_proxies_are_cidr_blocks() {
        let args = Args::parse_from(["rosterd", "--trusted-proxies", "10.0.0.0/8,127.0.0.1"]);
        let proxies = Config::load(args).unwrap().trusted_proxies;
        assert_eq!(proxies.len(), 2);
        assert!(proxies[1].contains("127.0.0.1".parse().unwrap()));
        let file = toml::from_str::<FileConfig>("trusted_proxies = [\"10.0.0.0/8\"]").unwrap();
        assert_eq!(file.trusted_proxies, Some(vec!["10.0.0.0/8".to_owned()]));
        let args = Args::parse_from(["rosterd", "--trusted-proxies", "10.0.0.1/8"]);
        assert!(Config::load(args).is_err());
    }

    #[test]
    fn unknown_file_keys_are_errors() {
        let parsed = toml::from_str::<FileConfig>("databse_url = \"x\"");
        assert!(parsed.is_err());
    }
}
