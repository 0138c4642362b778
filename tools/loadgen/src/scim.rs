//! `scim-lookup`, `scim-create` and `scim-group`: closed-loop workers over HTTP/1.1, each with its
//! own keep-alive connection and one request in flight, every latency recorded.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use hyper::body::Bytes;
use hyper::{Method, StatusCode};
use roster::pb::{
    self, AttributePath, CompareOp, Filter, FilterList, ListUsersRequest, SortBy, SortOrder,
    filter, group_change,
};
use tokio::task::JoinSet;

use crate::bench::{self, LookupOptions, join_all};
use crate::client::{Connector, GroupClient, UserClient, describe};
use crate::http::{HttpConn, Reply, Target, encode_query_value};
use crate::seed;
use crate::stats::{Latencies, Progress, Report, XorShift, rate, round2};
use crate::users::{new_user, seeded_index, seeded_user_name, user_name_filter};

/// A worker gives up after this many failed requests in a row (the server is gone or broken).
const MAX_CONSECUTIVE_ERRORS: u32 = 100;
/// Most member references UpdateGroup takes in one call.
pub const MAX_MEMBER_BATCH: usize = 10_000;
/// Page size of the listings (the server's maximum).
const PAGE: i32 = 1000;
/// Percentiles reported for every phase: p50, p90, p99, p99.9.
const PERCENTILES: [u64; 4] = [500, 900, 990, 999];

/// What the workers of one phase send; `i` is the request's index within the phase.
enum Job {
    /// `GET /Users?filter=userName eq "<a random seeded user>"`: found when totalResults is 1.
    Lookup { users: u64, prefix: String },
    /// `POST /Users` with user `<run_id>-<i>@example.com`.
    Create { run_id: String },
    /// `PATCH /Groups/{group}` adding `members[i]` (a user not yet in the group).
    Patch { group: String, members: Vec<String> },
    /// `GET /Groups/{group}?excludedAttributes=members`.
    GetGroup { group: String },
}

struct Call {
    method: Method,
    path: String,
    body: Option<Bytes>,
}

enum Verdict {
    Ok,
    NotFound,
    Failed { fatal: bool, message: String },
}

impl Job {
    fn call(&self, base: &str, i: u64, rng: &mut XorShift) -> Call {
        match self {
            Job::Lookup { users, prefix } => {
                let user_name = seeded_user_name(prefix, rng.below(*users));
                Call {
                    method: Method::GET,
                    path: lookup_path(base, &user_name),
                    body: None,
                }
            }
            Job::Create { run_id } => Call {
                method: Method::POST,
                path: format!("{base}/Users"),
                body: Some(scim_user(format!("{run_id}-{i:07}@example.com"), i)),
            },
            Job::Patch { group, members } => Call {
                method: Method::PATCH,
                path: format!("{base}/Groups/{group}"),
                body: Some(add_member_patch(&members[i as usize])),
            },
            Job::GetGroup { group } => Call {
                method: Method::GET,
                path: format!("{base}/Groups/{group}?excludedAttributes=members"),
                body: None,
            },
        }
    }

    fn judge(&self, reply: &Reply) -> Verdict {
        let expected = match self {
            Job::Create { .. } => StatusCode::CREATED,
            _ => StatusCode::OK,
        };
        if reply.status != expected {
            return Verdict::Failed {
                fatal: is_fatal(reply.status),
                message: format!("HTTP {}: {}", reply.status, reply.snippet()),
            };
        }
        match self {
            Job::Lookup { .. } => match total_results(&reply.body) {
                Some(1) => Verdict::Ok,
                Some(0) => Verdict::NotFound,
                other => Verdict::Failed {
                    fatal: other.is_none(),
                    message: format!("not one totalResults: {}", reply.snippet()),
                },
            },
            Job::GetGroup { .. } if contains(&reply.body, b"\"members\"") => Verdict::Failed {
                fatal: true,
                message: "the response lists members despite excludedAttributes=members".into(),
            },
            _ => Verdict::Ok,
        }
    }
}

/// Statuses that mean the run is misconfigured (bad token, missing scope, unknown route, rejected
/// request): repeating cannot help, so the run stops at once.
fn is_fatal(status: StatusCode) -> bool {
    matches!(
        status.as_u16(),
        400 | 401 | 403 | 404 | 405 | 413 | 415 | 501
    )
}

/// `GET <base>/Users?filter=userName eq "<user_name>"`, URL-encoded.
pub fn lookup_path(base: &str, user_name: &str) -> String {
    let filter = format!("userName eq \"{user_name}\"");
    format!("{base}/Users?filter={}", encode_query_value(&filter))
}

/// The PatchOp body adding one member.
pub fn add_member_patch(id: &str) -> Bytes {
    serde_json::json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "add", "path": "members", "value": [{"value": id}]}],
    })
    .to_string()
    .into()
}

/// The SCIM representation of the user `seed` would create with this name and index.
pub fn scim_user(user_name: String, i: u64) -> Bytes {
    let user = new_user(user_name, i);
    let name = user.name.unwrap_or_default();
    serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user.user_name,
        "name": {
            "givenName": name.given_name,
            "familyName": name.family_name,
            "formatted": name.formatted,
        },
        "displayName": user.display_name,
        "emails": [{"value": user.user_name, "type": "work", "primary": true}],
        "active": true,
    })
    .to_string()
    .into()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// `totalResults` of a ListResponse, read without parsing the rest of the body.
fn total_results(body: &[u8]) -> Option<u64> {
    let key = b"\"totalResults\"";
    let at = body.windows(key.len()).position(|window| window == key)?;
    let rest = &body[at + key.len()..];
    let rest = rest
        .trim_ascii_start()
        .strip_prefix(b":")?
        .trim_ascii_start();
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

/// What one worker saw.
#[derive(Default)]
struct Tally {
    latencies: Vec<u64>,
    bytes: u64,
    not_found: u64,
    errors: u64,
    first_error: Option<String>,
    consecutive_errors: u32,
}

impl Tally {
    fn failed(&mut self, fatal: bool, message: String) -> Result<()> {
        if fatal {
            bail!(message);
        }
        self.errors += 1;
        self.consecutive_errors += 1;
        if self.consecutive_errors >= MAX_CONSECUTIVE_ERRORS {
            bail!("{MAX_CONSECUTIVE_ERRORS} requests failed in a row, last: {message}");
        }
        self.first_error.get_or_insert(message);
        Ok(())
    }
}

/// One measured (or warm-up) phase.
struct Phase {
    job: Job,
    /// Total requests; `None` means until the deadline.
    requests: Option<u64>,
    duration: Option<Duration>,
    seed: u64,
}

/// What all workers of a phase saw.
struct Outcome {
    latencies: Latencies,
    bytes: u64,
    not_found: u64,
    errors: u64,
    first_error: Option<String>,
    elapsed: Duration,
    workers: usize,
    /// TCP connections the workers have opened so far (== workers when keep-alive held).
    opened: u64,
}

/// Runs a phase on the given connections (one worker each) and hands them back for the next.
async fn run_phase(
    conns: Vec<HttpConn>,
    base: &str,
    phase: Phase,
    label: &'static str,
) -> Result<(Vec<HttpConn>, Outcome)> {
    let workers = conns.len();
    let limit = phase.requests.unwrap_or(u64::MAX);
    if phase.requests.is_none() && phase.duration.is_none() {
        bail!("a phase needs a request count or a duration");
    }
    let job = Arc::new(phase.job);
    let base: Arc<str> = base.into();
    let issued = Arc::new(AtomicU64::new(0));
    let progress = Progress::start(
        label,
        issued.clone(),
        phase.requests.filter(|_| phase.duration.is_none()),
    );
    let started = Instant::now();
    let deadline = phase.duration.map(|d| started + d);
    let per_worker = phase.requests.map_or(1 << 16, |r| r / workers as u64 + 1);
    let mut set = JoinSet::new();
    for (w, mut conn) in conns.into_iter().enumerate() {
        let (job, base, issued) = (job.clone(), base.clone(), issued.clone());
        let mut rng = XorShift::new(phase.seed.wrapping_add(w as u64));
        set.spawn(async move {
            let mut tally = Tally {
                latencies: Vec::with_capacity(per_worker.min(1 << 20) as usize),
                ..Default::default()
            };
            loop {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                let i = issued.fetch_add(1, Ordering::Relaxed);
                if i >= limit {
                    break;
                }
                let call = job.call(&base, i, &mut rng);
                let start = Instant::now();
                let result = conn.send(call.method.clone(), &call.path, call.body).await;
                let micros = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
                match result {
                    Ok(reply) => match job.judge(&reply) {
                        Verdict::Ok => {
                            tally.latencies.push(micros);
                            tally.bytes += reply.body.len() as u64;
                            tally.consecutive_errors = 0;
                        }
                        Verdict::NotFound => {
                            tally.not_found += 1;
                            tally.consecutive_errors = 0;
                        }
                        Verdict::Failed { fatal, message } => tally
                            .failed(fatal, format!("{} {}: {message}", call.method, call.path))?,
                    },
                    Err(err) => {
                        tally.failed(false, format!("{} {}: {err:#}", call.method, call.path))?
                    }
                }
            }
            Ok((conn, tally))
        });
    }
    let results = join_all(set).await?;
    let elapsed = started.elapsed();
    drop(progress);

    let mut conns = Vec::with_capacity(workers);
    let mut sum = Tally::default();
    for (conn, tally) in results {
        conns.push(conn);
        sum.latencies.extend(tally.latencies);
        sum.bytes += tally.bytes;
        sum.not_found += tally.not_found;
        sum.errors += tally.errors;
        if sum.first_error.is_none() {
            sum.first_error = tally.first_error;
        }
    }
    let opened = conns.iter().map(HttpConn::opened).sum();
    let outcome = Outcome {
        latencies: Latencies::new(sum.latencies),
        bytes: sum.bytes,
        not_found: sum.not_found,
        errors: sum.errors,
        first_error: sum.first_error,
        elapsed,
        workers,
        opened,
    };
    Ok((conns, outcome))
}

impl Outcome {
    fn ok(&self) -> u64 {
        self.latencies.len() as u64
    }

    fn per_sec(&self) -> f64 {
        rate(self.ok(), self.elapsed)
    }

    /// Adds the phase's lines, and its fields with `key_prefix` before each name.
    fn add_to(&self, report: &mut Report, title: &str, key_prefix: &str) {
        let ok = self.ok();
        let avg_bytes = self.bytes.checked_div(ok).unwrap_or(0);
        report.line(format!(
            "{title}: {ok} ok in {:.2} s: {:.1} req/s ({} connections, {} opened in all, {avg_bytes} B per response)",
            self.elapsed.as_secs_f64(),
            self.per_sec(),
            self.workers,
            self.opened,
        ));
        self.latencies
            .add_to_prefixed(report, &PERCENTILES, key_prefix, "  latency");
        let total = ok + self.not_found + self.errors;
        if self.not_found > 0 || self.errors > 0 {
            report.line(format!(
                "  {} of {total} requests not found, {} failed (not in the latencies)",
                self.not_found, self.errors
            ));
        }
        if let Some(err) = &self.first_error {
            report.line(format!("  first error: {err}"));
        }
        let key = |name: &str| format!("{key_prefix}{name}");
        report.set(&key("count"), ok);
        report.set(&key("requests"), total);
        report.set(&key("not_found"), self.not_found);
        report.set(&key("errors"), self.errors);
        report.set(&key("elapsed_s"), round2(self.elapsed.as_secs_f64()));
        report.set(&key("req_per_s"), round2(self.per_sec()));
        report.set(&key("avg_response_bytes"), avg_bytes);
        report.set(&key("connections"), self.workers);
        report.set(&key("connections_opened"), self.opened);
    }
}

fn run_id(prefix: &str) -> Result<String> {
    Ok(format!(
        "{prefix}{:x}",
        SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis()
    ))
}

pub struct ScimLookupOptions {
    pub users: u64,
    pub prefix: String,
    /// Total requests; `None` means until the deadline.
    pub requests: Option<u64>,
    pub duration: Option<Duration>,
    pub seed: u64,
    /// Unmeasured requests first (on the same connections).
    pub warmup: u64,
}

/// `GET /Users?filter=userName eq "..."` for uniformly random seeded users; with `grpc`, then
/// the same sequence through gRPC ListUsers (the existing `lookup --filter`), side by side.
pub async fn lookup(
    target: &Target,
    grpc: Option<(&Connector, usize)>,
    workers: usize,
    options: ScimLookupOptions,
) -> Result<Report> {
    let mut conns = target.connections(workers).await?;
    // Fail fast when the users are not there (the last index is created last by `seed`).
    let job = || Job::Lookup {
        users: options.users,
        prefix: options.prefix.clone(),
    };
    let probe = seeded_user_name(&options.prefix, options.users - 1);
    let path = lookup_path(&target.base, &probe);
    let reply = conns[0].send(Method::GET, &path, None).await?;
    match job().judge(&reply) {
        Verdict::Ok => {}
        Verdict::NotFound => bail!(
            "{probe} does not exist: run `seed --users {} --prefix {}` first",
            options.users,
            options.prefix
        ),
        Verdict::Failed { message, .. } => bail!("GET {path}: {message}"),
    }
    eprintln!(
        "scim-lookup: GET {}{}/Users?filter=userName eq \"{}\" over {} users, {} connections, seed {}",
        target.origin(),
        target.base,
        seeded_user_name(&options.prefix, 0),
        options.users,
        workers,
        options.seed
    );
    if options.warmup > 0 {
        let warm = Phase {
            job: job(),
            requests: Some(options.warmup),
            duration: None,
            seed: options.seed ^ 0x5EED,
        };
        conns = run_phase(conns, &target.base, warm, "warm-up").await?.0;
    }
    let phase = Phase {
        job: job(),
        requests: options.requests,
        duration: options.duration,
        seed: options.seed,
    };
    let (_conns, scim) = run_phase(conns, &target.base, phase, "requests").await?;

    let mut report = Report::new("scim-lookup");
    scim.add_to(&mut report, "scim-lookup GET /Users?filter=userName eq", "");
    report.set("users", options.users);
    report.set("seed", options.seed);
    report.set("warmup", options.warmup);

    if let Some((connector, channels)) = grpc {
        let grpc_options = |requests, duration, seed| LookupOptions {
            users: options.users,
            prefix: options.prefix.clone(),
            requests,
            duration,
            filter: true,
            seed,
        };
        if options.warmup > 0 {
            let warm = grpc_options(Some(options.warmup), None, options.seed ^ 0x5EED);
            bench::lookup(connector, workers, channels, warm).await?;
        }
        let measured = grpc_options(options.requests, options.duration, options.seed);
        let grpc = bench::lookup(connector, workers, channels, measured).await?;
        report.merge_prefixed(&grpc, "grpc_");
        side_by_side(&mut report, &scim, &grpc);
    }
    Ok(report)
}

/// The SCIM and gRPC figures in one table, with the facade's overhead (SCIM minus gRPC).
fn side_by_side(report: &mut Report, scim: &Outcome, grpc: &Report) {
    let number = |key: &str| grpc.get(key).and_then(serde_json::Value::as_f64);
    report.line(format!(
        "{:<12} {:>12} {:>12} {:>12} {:>7}",
        "same lookup", "SCIM (HTTP)", "gRPC", "SCIM - gRPC", "ratio"
    ));
    let grpc_rate = number("req_per_s").unwrap_or(0.0);
    report.line(format!(
        "{:<12} {:>12.1} {:>12.1} {:>12.1} {:>6.2}x",
        "req/s",
        scim.per_sec(),
        grpc_rate,
        scim.per_sec() - grpc_rate,
        if grpc_rate > 0.0 {
            scim.per_sec() / grpc_rate
        } else {
            0.0
        }
    ));
    let rows: [(&str, &str, Option<u64>); 5] = [
        ("p50 ms", "p50_us", scim.latencies.percentile(500)),
        ("p90 ms", "p90_us", scim.latencies.percentile(900)),
        ("p99 ms", "p99_us", scim.latencies.percentile(990)),
        ("p99.9 ms", "p999_us", scim.latencies.percentile(999)),
        ("max ms", "max_us", scim.latencies.percentile(1000)),
    ];
    for (label, key, scim_us) in rows {
        let (Some(s), Some(g)) = (scim_us, number(key)) else {
            continue;
        };
        let s = s as f64;
        report.line(format!(
            "{label:<12} {:>12.3} {:>12.3} {:>+12.3} {:>6.2}x",
            s / 1000.0,
            g / 1000.0,
            (s - g) / 1000.0,
            if g > 0.0 { s / g } else { 0.0 }
        ));
        report.set(&format!("overhead_{key}"), (s - g).round() as i64);
    }
}

/// `POST /Users` with `count` new users named `sc<run id>-0000000@example.com` ...
pub async fn create(target: &Target, workers: usize, count: u64) -> Result<Report> {
    let conns = target.connections(workers).await?;
    let run_id = run_id("sc")?;
    eprintln!(
        "scim-create: POST {}{}/Users, {count} users named {run_id}-NNNNNNN@example.com, {workers} connections",
        target.origin(),
        target.base
    );
    let phase = Phase {
        job: Job::Create {
            run_id: run_id.clone(),
        },
        requests: Some(count),
        duration: None,
        seed: 0,
    };
    let (_conns, outcome) = run_phase(conns, &target.base, phase, "created").await?;
    let mut report = Report::new("scim-create");
    outcome.add_to(&mut report, "scim-create POST /Users", "");
    report.set("run_id", run_id);
    report.set("created", outcome.ok());
    report.set("creates_per_s", round2(outcome.per_sec()));
    Ok(report)
}

pub struct GroupOptions {
    /// Members the group starts with.
    pub members: u64,
    /// Measured PATCH requests, each adding one user.
    pub patches: u64,
    /// Measured GET requests.
    pub requests: u64,
    /// Unmeasured PATCH and GET requests before each measured phase.
    pub warmup: u64,
    pub member_prefix: String,
    pub patch_prefix: String,
    /// Member references per UpdateGroup call while preparing (at most 10,000).
    pub batch: usize,
}

/// Prepares a group of `members` users over gRPC (seed, then UpdateGroup add_members in batches),
/// then measures PATCH adding one new member per request and GET without members.
pub async fn group(
    target: &Target,
    connector: &Connector,
    workers: usize,
    channels: usize,
    options: GroupOptions,
) -> Result<Report> {
    if options.batch == 0 || options.batch > MAX_MEMBER_BATCH {
        bail!("--batch must be 1..={MAX_MEMBER_BATCH}");
    }
    // Check the HTTP side before the long preparation.
    let conns = target.connections(workers).await?;
    let mut report = Report::new("scim-group");
    let prepared = Instant::now();

    // 1. The users: members, and the ones the PATCHes add (warm-up first, then measured).
    let adders = options.warmup + options.patches;
    seed::run(
        connector,
        workers,
        channels,
        options.members,
        &options.member_prefix,
    )
    .await?
    .eprint();
    seed::run(connector, workers, channels, adders, &options.patch_prefix)
        .await?
        .eprint();
    let mut users = connector.clients(1, 1).await?.remove(0);
    let member_ids = seeded_ids(&mut users, &options.member_prefix, options.members).await?;
    let mut adder_ids = seeded_ids(&mut users, &options.patch_prefix, adders).await?;

    // 2. The group, created empty, then filled in batches.
    let mut groups = connector.group_client().await?;
    let name = format!("{}-{}-members", run_id("lg")?, options.members);
    let created = groups
        .create_group(pb::CreateGroupRequest {
            group: Some(pb::Group {
                display_name: name.clone(),
                ..Default::default()
            }),
        })
        .await
        .map_err(|status| anyhow::anyhow!("CreateGroup {name}: {}", describe(&status)))?
        .into_inner();
    let group_id = created.group.context("CreateGroup returned no group")?.id;
    let filling = Instant::now();
    for (n, batch) in member_ids.chunks(options.batch).enumerate() {
        let started = Instant::now();
        let response = groups
            .update_group(pb::UpdateGroupRequest {
                id: group_id.clone(),
                expected_version: None,
                changes: vec![pb::GroupChange {
                    change: Some(group_change::Change::AddMembers(member_list(batch))),
                }],
            })
            .await
            .map_err(|status| anyhow::anyhow!("UpdateGroup add_members: {}", describe(&status)))?
            .into_inner();
        if !response.skipped_member_ids.is_empty() {
            bail!(
                "UpdateGroup skipped {} member ids (first {})",
                response.skipped_member_ids.len(),
                response.skipped_member_ids[0]
            );
        }
        eprintln!(
            "  batch {}: added {} members in {:.2} s",
            n + 1,
            batch.len(),
            started.elapsed().as_secs_f64()
        );
    }
    let fill_s = filling.elapsed().as_secs_f64();
    report.line(format!(
        "scim-group: group {name} ({group_id}) with {} members, filled in {fill_s:.2} s \
         (batches of {}); prepared in {:.1} s",
        options.members,
        options.batch,
        prepared.elapsed().as_secs_f64()
    ));
    eprintln!("{}", "-".repeat(40));

    // 3. PATCH: each request adds one user that is not a member yet.
    let measured_adders = adder_ids.split_off(options.warmup as usize);
    let mut conns = conns;
    if options.warmup > 0 {
        let warm = Phase {
            job: Job::Patch {
                group: group_id.clone(),
                members: adder_ids,
            },
            requests: Some(options.warmup),
            duration: None,
            seed: 0,
        };
        conns = run_phase(conns, &target.base, warm, "warm-up patches")
            .await?
            .0;
    }
    let phase = Phase {
        job: Job::Patch {
            group: group_id.clone(),
            members: measured_adders,
        },
        requests: Some(options.patches),
        duration: None,
        seed: 0,
    };
    let (conns, patch) = run_phase(conns, &target.base, phase, "patches").await?;
    patch.add_to(
        &mut report,
        &format!(
            "PATCH /Groups/{{id}} add 1 member ({} -> {} members)",
            options.members + options.warmup,
            options.members + adders
        ),
        "patch_",
    );

    // 4. GET without members.
    let get_job = || Job::GetGroup {
        group: group_id.clone(),
    };
    let mut conns = conns;
    if options.warmup > 0 {
        let warm = Phase {
            job: get_job(),
            requests: Some(options.warmup),
            duration: None,
            seed: 0,
        };
        conns = run_phase(conns, &target.base, warm, "warm-up gets")
            .await?
            .0;
    }
    let phase = Phase {
        job: get_job(),
        requests: Some(options.requests),
        duration: None,
        seed: 0,
    };
    let (_conns, get) = run_phase(conns, &target.base, phase, "gets").await?;
    get.add_to(
        &mut report,
        "GET /Groups/{id}?excludedAttributes=members",
        "get_",
    );

    // 5. Every PATCH really added its member.
    let expected = options.members + adders;
    let counted = count_members(&mut groups, &group_id, expected).await?;
    report.line(format!(
        "group now has {counted} members (expected {expected}{})",
        if counted == expected {
            ""
        } else {
            ": MISMATCH"
        }
    ));
    report.set("group_id", group_id);
    report.set("group_name", name);
    report.set("members", options.members);
    report.set("fill_s", round2(fill_s));
    report.set("patches", options.patches);
    report.set("warmup", options.warmup);
    report.set("members_after", counted);
    report.set("members_expected", expected);
    Ok(report)
}

fn member_list(ids: &[String]) -> pb::MemberList {
    pb::MemberList {
        members: ids
            .iter()
            .map(|id| pb::Member {
                value: id.clone(),
                r#type: pb::MemberType::User as i32,
                ..Default::default()
            })
            .collect(),
    }
}

/// The ids of the seeded users `0..n` with `prefix`, in index order (keyset pages in userName
/// order, at most as many pages as the prefix has users / 1000 + 2).
async fn seeded_ids(client: &mut UserClient, prefix: &str, n: u64) -> Result<Vec<String>> {
    let len = usize::try_from(n).context("too many users")?;
    let total = seed::count(client, prefix).await?;
    let mut ids = vec![String::new(); len];
    let mut found = 0usize;
    let mut last: Option<String> = None;
    let max_pages = total / i64::from(PAGE) + 2;
    for _ in 0..max_pages {
        let filter = match &last {
            None => seed::prefix_filter(prefix),
            Some(last) => Filter {
                node: Some(filter::Node::And(FilterList {
                    filters: vec![
                        seed::prefix_filter(prefix),
                        user_name_filter(CompareOp::Gt, last),
                    ],
                })),
            },
        };
        let page = client
            .list_users(ListUsersRequest {
                filter: Some(filter),
                sort_by: Some(SortBy {
                    path: Some(AttributePath {
                        attribute: "userName".to_owned(),
                        ..Default::default()
                    }),
                    order: SortOrder::Ascending as i32,
                }),
                count: Some(PAGE),
                ..Default::default()
            })
            .await
            .map_err(|status| anyhow::anyhow!("ListUsers: {}", describe(&status)))?
            .into_inner();
        for user in &page.users {
            if let Some(i) = seeded_index(prefix, &user.user_name)
                && i < n
                && ids[i as usize].is_empty()
            {
                ids[i as usize] = user.id.clone();
                found += 1;
            }
        }
        if found == len || page.users.len() < PAGE as usize {
            break;
        }
        last = page.users.last().map(|user| user.user_name.clone());
    }
    if let Some(i) = ids.iter().position(String::is_empty) {
        bail!(
            "{} is missing after seeding",
            seeded_user_name(prefix, i as u64)
        );
    }
    Ok(ids)
}

/// Counts the group's members (pages of 1000; stops after `expected` / 1000 + 10 pages).
async fn count_members(groups: &mut GroupClient, group_id: &str, expected: u64) -> Result<u64> {
    let mut counted = 0u64;
    let mut page_token = String::new();
    for _ in 0..expected / PAGE as u64 + 10 {
        let page = groups
            .list_group_members(pb::ListGroupMembersRequest {
                group_id: group_id.to_owned(),
                page_size: PAGE,
                page_token,
            })
            .await
            .map_err(|status| anyhow::anyhow!("ListGroupMembers: {}", describe(&status)))?
            .into_inner();
        counted += page.members.len() as u64;
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    Ok(counted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_results_is_read_from_the_body() {
        assert_eq!(
            total_results(br#"{"schemas":[],"totalResults":1,"Resources":[]}"#),
            Some(1)
        );
        assert_eq!(total_results(br#"{"totalResults" : 0 }"#), Some(0));
        assert_eq!(total_results(br#"{"Resources":[]}"#), None);
    }

    #[test]
    fn bodies_are_scim() {
        let patch: serde_json::Value = serde_json::from_slice(&add_member_patch("abc")).unwrap();
        assert_eq!(patch["Operations"][0]["value"][0]["value"], "abc");
        assert_eq!(patch["Operations"][0]["path"], "members");
        let user: serde_json::Value =
            serde_json::from_slice(&scim_user("a-0000001@example.com".into(), 1)).unwrap();
        assert_eq!(user["userName"], "a-0000001@example.com");
        assert_eq!(user["emails"][0]["primary"], true);
        assert_eq!(
            lookup_path("/scim/v2", "u-000001@example.com"),
            "/scim/v2/Users?filter=userName%20eq%20%22u-000001%40example.com%22"
        );
    }
}
