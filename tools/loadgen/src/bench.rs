//! `create` and `lookup`: closed-loop workers, one request in flight each, every latency recorded.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Result, bail};
use roster::pb::{
    CompareOp, CreateUserRequest, GetUserRequest, ListUsersRequest, get_user_request,
};
use tokio::task::JoinSet;
use tonic::Code;

use crate::client::{Connector, UserClient, describe, is_fatal};
use crate::stats::{Latencies, Progress, Report, XorShift, rate, round2};
use crate::users::{new_user, seeded_user_name, user_name_filter};

/// A worker gives up after this many failed requests in a row (the server is gone or broken).
const MAX_CONSECUTIVE_ERRORS: u32 = 100;

/// Waits for every task; the first failure aborts the rest (dropping the set aborts its tasks).
pub async fn join_all<T: 'static>(mut set: JoinSet<Result<T>>) -> Result<Vec<T>> {
    let mut out = Vec::with_capacity(set.len());
    while let Some(joined) = set.join_next().await {
        out.push(joined??);
    }
    Ok(out)
}

/// What one worker saw.
#[derive(Default)]
struct Tally {
    /// Latencies of successful requests, in microseconds.
    latencies: Vec<u64>,
    not_found: u64,
    errors: u64,
    first_error: Option<String>,
    consecutive_errors: u32,
}

impl Tally {
    fn ok(&mut self, micros: u64) {
        self.latencies.push(micros);
        self.consecutive_errors = 0;
    }

    /// Records a failed request; fatal codes and long runs of errors stop the run.
    fn error(&mut self, what: &str, status: &tonic::Status) -> Result<()> {
        let message = format!("{what}: {}", describe(status));
        if is_fatal(status.code()) {
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

    fn merge(tallies: Vec<Tally>) -> Tally {
        let mut sum = Tally::default();
        for t in tallies {
            sum.latencies.extend(t.latencies);
            sum.not_found += t.not_found;
            sum.errors += t.errors;
            if sum.first_error.is_none() {
                sum.first_error = t.first_error;
            }
        }
        sum
    }
}

fn micros_since(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// Creates `count` new users named `lg<run id>-0000000@example.com` ..., where the run id is the
/// current time, so repeated runs never collide.
pub async fn create(
    connector: &Connector,
    workers: usize,
    channels: usize,
    count: u64,
) -> Result<Report> {
    let clients = connector.clients(workers, channels).await?;
    let run_id = format!(
        "lg{:x}",
        SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis()
    );
    eprintln!("create: {count} users named {run_id}-NNNNNNN@example.com");

    let next = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let progress = Progress::start("created", done.clone(), Some(count));
    let started = Instant::now();
    let mut set = JoinSet::new();
    for mut client in clients {
        let (next, done, run_id) = (next.clone(), done.clone(), run_id.clone());
        set.spawn(async move {
            let mut tally = Tally {
                latencies: Vec::with_capacity((count / workers as u64 + 1) as usize),
                ..Default::default()
            };
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let user_name = format!("{run_id}-{i:07}@example.com");
                let request = CreateUserRequest {
                    user: Some(new_user(user_name.clone(), i)),
                };
                let start = Instant::now();
                match client.create_user(request).await {
                    Ok(_) => tally.ok(micros_since(start)),
                    Err(status) => tally.error(&format!("CreateUser {user_name}"), &status)?,
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok(tally)
        });
    }
    let tally = Tally::merge(join_all(set).await?);
    let elapsed = started.elapsed();
    drop(progress);

    let latencies = Latencies::new(tally.latencies);
    let created = latencies.len() as u64;
    let per_sec = rate(created, elapsed);
    let mut report = Report::new("create");
    report.line(format!(
        "create: {created} users in {:.2} s: {per_sec:.1} creates/s (concurrency {workers}, {} channels, {} errors)",
        elapsed.as_secs_f64(),
        channels.clamp(1, workers),
        tally.errors,
    ));
    latencies.add_to(&mut report, &[500, 900, 990]);
    if let Some(err) = &tally.first_error {
        report.line(format!("first error: {err}"));
    }
    report.set("run_id", run_id);
    report.set("created", created);
    report.set("errors", tally.errors);
    report.set("elapsed_s", round2(elapsed.as_secs_f64()));
    report.set("creates_per_s", round2(per_sec));
    report.set("concurrency", workers);
    Ok(report)
}

pub struct LookupOptions {
    pub users: u64,
    pub prefix: String,
    /// Total requests; `None` means until the deadline.
    pub requests: Option<u64>,
    pub duration: Option<Duration>,
    /// ListUsers with `userName eq X` instead of GetUser by userName.
    pub filter: bool,
    pub seed: u64,
}

/// One lookup of `user_name`: `Ok(true)` found, `Ok(false)` not found.
async fn lookup_one(
    client: &mut UserClient,
    user_name: &str,
    filter: bool,
) -> Result<bool, tonic::Status> {
    if filter {
        let response = client
            .list_users(ListUsersRequest {
                filter: Some(user_name_filter(CompareOp::Eq, user_name)),
                ..Default::default()
            })
            .await?;
        Ok(!response.into_inner().users.is_empty())
    } else {
        let request = GetUserRequest {
            lookup: Some(get_user_request::Lookup::UserName(user_name.to_owned())),
            include_groups: false,
        };
        match client.get_user(request).await {
            Ok(_) => Ok(true),
            Err(status) if status.code() == Code::NotFound => Ok(false),
            Err(status) => Err(status),
        }
    }
}

/// Looks up uniformly random seeded users by userName.
pub async fn lookup(
    connector: &Connector,
    workers: usize,
    channels: usize,
    options: LookupOptions,
) -> Result<Report> {
    let mut clients = connector.clients(workers, channels).await?;
    let rpc = if options.filter {
        "ListUsers(userName eq)"
    } else {
        "GetUser(user_name)"
    };
    // Fail fast when the users are not there (the last index is created last by `seed`).
    let probe = seeded_user_name(&options.prefix, options.users - 1);
    match lookup_one(&mut clients[0], &probe, options.filter).await {
        Ok(true) => {}
        Ok(false) => bail!(
            "{probe} does not exist: run `seed --users {} --prefix {}` first",
            options.users,
            options.prefix
        ),
        Err(status) => bail!("{rpc} {probe}: {}", describe(&status)),
    }
    let limit = options.requests.unwrap_or(u64::MAX);
    let bound = match (options.requests, options.duration) {
        (Some(r), Some(d)) => format!("{r} requests or {} s", d.as_secs()),
        (Some(r), None) => format!("{r} requests"),
        (None, Some(d)) => format!("{} s", d.as_secs()),
        (None, None) => bail!("lookup needs a request count or a duration"),
    };
    eprintln!(
        "lookup: {rpc} over {} users {}, {bound}, concurrency {workers}, seed {}",
        options.users,
        seeded_user_name(&options.prefix, 0),
        options.seed
    );

    let issued = Arc::new(AtomicU64::new(0));
    let progress = Progress::start(
        "requests",
        issued.clone(),
        options.requests.filter(|_| options.duration.is_none()),
    );
    let started = Instant::now();
    let deadline = options.duration.map(|d| started + d);
    let per_worker = options.requests.map_or(1 << 16, |r| r / workers as u64 + 1);
    let mut set = JoinSet::new();
    for (w, mut client) in clients.into_iter().enumerate() {
        let issued = issued.clone();
        let (users, prefix, filter) = (options.users, options.prefix.clone(), options.filter);
        let mut rng = XorShift::new(options.seed.wrapping_add(w as u64));
        set.spawn(async move {
            let mut tally = Tally {
                latencies: Vec::with_capacity(per_worker.min(1 << 20) as usize),
                ..Default::default()
            };
            loop {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                if issued.fetch_add(1, Ordering::Relaxed) >= limit {
                    break;
                }
                let user_name = seeded_user_name(&prefix, rng.below(users));
                let start = Instant::now();
                match lookup_one(&mut client, &user_name, filter).await {
                    Ok(true) => tally.ok(micros_since(start)),
                    Ok(false) => tally.not_found += 1,
                    Err(status) => tally.error(&format!("{rpc} {user_name}"), &status)?,
                }
            }
            Ok(tally)
        });
    }
    let tally = Tally::merge(join_all(set).await?);
    let elapsed = started.elapsed();
    drop(progress);

    let latencies = Latencies::new(tally.latencies);
    let found = latencies.len() as u64;
    let total = found + tally.not_found + tally.errors;
    let per_sec = rate(found, elapsed);
    let mut report = Report::new("lookup");
    report.line(format!(
        "lookup {rpc}: {found} found in {:.2} s: {per_sec:.1} req/s (concurrency {workers}, {} channels)",
        elapsed.as_secs_f64(),
        channels.clamp(1, workers),
    ));
    latencies.add_to(&mut report, &[500, 900, 990, 999]);
    if tally.not_found > 0 || tally.errors > 0 {
        report.line(format!(
            "{} of {total} requests not found, {} failed (not in the latencies)",
            tally.not_found, tally.errors
        ));
    }
    if let Some(err) = &tally.first_error {
        report.line(format!("first error: {err}"));
    }
    report.set(
        "rpc",
        if options.filter {
            "ListUsers"
        } else {
            "GetUser"
        },
    );
    report.set("users", options.users);
    report.set("prefix", options.prefix);
    report.set("count", found);
    report.set("requests", total);
    report.set("not_found", tally.not_found);
    report.set("errors", tally.errors);
    report.set("elapsed_s", round2(elapsed.as_secs_f64()));
    report.set("req_per_s", round2(per_sec));
    report.set("concurrency", workers);
    report.set("seed", options.seed);
    Ok(report)
}
