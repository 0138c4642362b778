//! roster-loadgen: seeds users into a running `rosterd` and measures gRPC and SCIM-over-HTTP
//! throughput and latency. See tools/loadgen/README.md.

mod bench;
mod client;
mod http;
#[cfg(test)]
mod mock_scim_tests;
#[cfg(test)]
mod mock_tests;
mod rss;
mod scim;
mod seed;
mod stats;
mod users;

use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};

use crate::client::Connector;
use crate::http::{Target, require_loopback};
use crate::rss::{Rss, Watch};
use crate::stats::Report;

#[derive(Parser)]
#[command(name = "roster-loadgen", version, about)]
struct Cli {
    /// The server's gRPC URL.
    #[arg(long, global = true, default_value = "http://127.0.0.1:50051")]
    server: String,
    /// Bearer token (scopes `scim:read` for lookup, `scim:write` for seed and create).
    #[arg(long, global = true, env = "ROSTER_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The server's HTTP URL (SCIM subcommands), optionally with the SCIM base path
    /// [default base: /scim/v2]. Loopback addresses only.
    #[arg(long, global = true, default_value = "http://127.0.0.1:8080")]
    http: String,
    /// Concurrent workers, each with one request in flight (SCIM: each on its own keep-alive
    /// connection, hence the alias --connections).
    #[arg(long, global = true, visible_alias = "connections", default_value_t = 8,
          value_parser = clap::value_parser!(u16).range(1..))]
    concurrency: u16,
    /// Separate connections (HTTP/2 channels) the workers share; default one per worker.
    #[arg(long, global = true, value_parser = clap::value_parser!(u16).range(1..))]
    channels: Option<u16>,
    /// Deadline of every call and connection attempt, in seconds.
    #[arg(long, global = true, default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    timeout_secs: u64,
    /// Also print the figures as one JSON line on stdout (the human lines then go to stderr).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Creates users `<prefix>-000000@example.com` ... until N of them exist (re-runs top up).
    Seed(SeedArgs),
    /// Measures create throughput and latency with N new, uniquely named users.
    Create(CreateArgs),
    /// Measures lookups of random seeded users by userName (GetUser, or ListUsers with --filter).
    Lookup(LookupArgs),
    /// SCIM: GET /Users?filter=userName eq "..." for random seeded users (optionally also the
    /// same lookups over gRPC, side by side).
    ScimLookup(ScimLookupArgs),
    /// SCIM: POST /Users throughput and latency with N new, uniquely named users.
    ScimCreate(CreateArgs),
    /// SCIM: prepares a group of M members (over gRPC), then measures PATCH adding one member and
    /// GET /Groups/{id}?excludedAttributes=members.
    ScimGroup(ScimGroupArgs),
    /// Prints VmRSS and VmHWM of a local process.
    Rss {
        /// The process id (for example of rosterd).
        #[arg(long)]
        pid: u32,
    },
}

#[derive(Args)]
struct SeedArgs {
    /// How many seeded users the organization should hold.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    users: u64,
    /// userName prefix.
    #[arg(long, default_value = "user", value_parser = parse_prefix)]
    prefix: String,
    /// Print this local process's memory (the server's) after the run.
    #[arg(long)]
    pid: Option<u32>,
}

#[derive(Args)]
struct CreateArgs {
    /// How many users to create.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    count: u64,
    /// Print this local process's memory (the server's) after the run.
    #[arg(long)]
    pid: Option<u32>,
}

#[derive(Args)]
struct LookupArgs {
    /// Pick among the first N seeded users (as given to `seed --users`).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    users: u64,
    /// userName prefix (as given to `seed --prefix`).
    #[arg(long, default_value = "user", value_parser = parse_prefix)]
    prefix: String,
    /// Total requests [default: 20000, or unbounded until --duration-secs when that is given].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    requests: Option<u64>,
    /// Run for this many seconds (stops at whichever of --requests and this comes first).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    duration_secs: Option<u64>,
    /// Use ListUsers with the filter `userName eq X` instead of GetUser.
    #[arg(long)]
    filter: bool,
    /// PRNG seed, for a repeatable sequence of users [default: from the clock].
    #[arg(long)]
    seed: Option<u64>,
    /// Print this local process's memory (the server's) after the run.
    #[arg(long)]
    pid: Option<u32>,
}

#[derive(Args)]
struct ScimLookupArgs {
    #[command(flatten)]
    lookup: LookupArgs,
    /// Unmeasured requests before the measured ones (for each protocol).
    #[arg(long, default_value_t = 1000)]
    warmup: u64,
    /// Then run the same lookups through gRPC ListUsers (`lookup --filter`) and print both.
    #[arg(long)]
    compare_grpc: bool,
}

#[derive(Args)]
struct ScimGroupArgs {
    /// Members the group starts with (seeded users `<member-prefix>-000000@example.com` ...).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    members: u64,
    /// Measured PATCH requests, each adding one user that is not a member yet.
    #[arg(long, default_value_t = 5000,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    patches: u64,
    /// Measured GET /Groups/{id}?excludedAttributes=members requests.
    #[arg(long, default_value_t = 20_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    requests: u64,
    /// Unmeasured PATCH and GET requests before each measured phase.
    #[arg(long, default_value_t = 500)]
    warmup: u64,
    /// userName prefix of the members.
    #[arg(long, default_value = "member", value_parser = parse_prefix)]
    member_prefix: String,
    /// userName prefix of the users the PATCHes add (warm-up + patches of them are seeded).
    #[arg(long, default_value = "patch", value_parser = parse_prefix)]
    patch_prefix: String,
    /// Member references per UpdateGroup call while filling the group.
    #[arg(long, default_value_t = scim::MAX_MEMBER_BATCH,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=10_000))]
    batch: usize,
    /// Print this local process's memory (the server's) after the run.
    #[arg(long)]
    pid: Option<u32>,
}

fn parse_prefix(s: &str) -> Result<String, String> {
    if s.is_empty() || s.len() > 200 {
        return Err("must be 1-200 characters".to_owned());
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return Err("only ASCII letters, digits, '-', '_' and '.' are allowed".to_owned());
    }
    Ok(s.to_owned())
}

/// The PRNG seed: as given, or from the clock.
fn seed_or_clock(seed: Option<u64>) -> Result<u64> {
    match seed {
        Some(seed) => Ok(seed),
        None => Ok(SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .context("the clock is before 1970")?
            .as_nanos() as u64),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = tokio::runtime::Runtime::new()
        .context("cannot start the tokio runtime")
        .and_then(|runtime| runtime.block_on(run(cli)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    let workers = usize::from(cli.concurrency);
    let channels = cli.channels.map_or(workers, usize::from);
    let connector = || -> Result<Connector> {
        let Some(token) = cli.token.as_deref() else {
            bail!("a token is required: pass --token or set ROSTER_TOKEN");
        };
        Connector::new(&cli.server, token, Duration::from_secs(cli.timeout_secs))
    };
    let target = || -> Result<Target> {
        let Some(token) = cli.token.as_deref() else {
            bail!("a token is required: pass --token or set ROSTER_TOKEN");
        };
        Target::new(&cli.http, token, Duration::from_secs(cli.timeout_secs))
    };
    // The SCIM subcommands load only servers on this machine, over gRPC too.
    let local_connector = || -> Result<Connector> {
        require_loopback(&cli.server, "--server")?;
        connector()
    };

    let (mut report, watch): (Report, Option<Watch>) = match cli.command {
        Command::Rss { pid } => {
            let mut report = Report::new("rss");
            report.set("pid", pid);
            Rss::read(pid)?.add_to(&mut report, &format!("process {pid}"), "");
            (report, None)
        }
        Command::Seed(args) => {
            let watch = Watch::start(args.pid)?;
            let report =
                seed::run(&connector()?, workers, channels, args.users, &args.prefix).await?;
            (report, watch)
        }
        Command::Create(args) => {
            let watch = Watch::start(args.pid)?;
            let report = bench::create(&connector()?, workers, channels, args.count).await?;
            (report, watch)
        }
        Command::Lookup(args) => {
            let watch = Watch::start(args.pid)?;
            let seed = seed_or_clock(args.seed)?;
            let options = bench::LookupOptions {
                users: args.users,
                prefix: args.prefix,
                requests: match (args.requests, args.duration_secs) {
                    (None, None) => Some(20_000),
                    (requests, _) => requests,
                },
                duration: args.duration_secs.map(Duration::from_secs),
                filter: args.filter,
                seed,
            };
            let report = bench::lookup(&connector()?, workers, channels, options).await?;
            (report, watch)
        }
        Command::ScimLookup(args) => {
            let lookup = args.lookup;
            if lookup.filter {
                bail!("scim-lookup always filters: drop --filter");
            }
            let watch = Watch::start(lookup.pid)?;
            let options = scim::ScimLookupOptions {
                users: lookup.users,
                prefix: lookup.prefix,
                requests: match (lookup.requests, lookup.duration_secs) {
                    (None, None) => Some(20_000),
                    (requests, _) => requests,
                },
                duration: lookup.duration_secs.map(Duration::from_secs),
                seed: seed_or_clock(lookup.seed)?,
                warmup: args.warmup,
            };
            let grpc = if args.compare_grpc {
                Some(local_connector()?)
            } else {
                None
            };
            let grpc = grpc.as_ref().map(|c| (c, channels));
            let report = scim::lookup(&target()?, grpc, workers, options).await?;
            (report, watch)
        }
        Command::ScimCreate(args) => {
            let watch = Watch::start(args.pid)?;
            let report = scim::create(&target()?, workers, args.count).await?;
            (report, watch)
        }
        Command::ScimGroup(args) => {
            let watch = Watch::start(args.pid)?;
            let options = scim::GroupOptions {
                members: args.members,
                patches: args.patches,
                requests: args.requests,
                warmup: args.warmup,
                member_prefix: args.member_prefix,
                patch_prefix: args.patch_prefix,
                batch: args.batch,
            };
            let report =
                scim::group(&target()?, &local_connector()?, workers, channels, options).await?;
            (report, watch)
        }
    };
    if let Some(watch) = &watch {
        watch.finish(&mut report);
    }
    report.print(cli.json);
    Ok(())
}
