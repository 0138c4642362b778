//! `seed`: tops the organization up to N users named `<prefix>-000000@example.com` ...

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use roster::pb::{
    CompareOp, CreateUserRequest, Filter, FilterList, ListUsersRequest, SortBy, SortOrder, filter,
};
use tokio::task::JoinSet;
use tonic::Code;

use crate::bench::join_all;
use crate::client::{Connector, UserClient, describe, is_fatal, is_transient};
use crate::stats::{Progress, Report, rate, round2};
use crate::users::{new_user, seeded_index, seeded_user_name, user_name_filter};

/// Page size when listing the users already there (the server's maximum).
const PAGE: i32 = 1000;
/// Retries of a create that failed with a transient error.
const RETRIES: u32 = 3;
/// A worker gives up after this many failed creates in a row.
const MAX_CONSECUTIVE_FAILURES: u32 = 20;

#[derive(Default)]
struct Tally {
    created: u64,
    skipped: u64,
    failed: u64,
    first_error: Option<String>,
}

pub async fn run(
    connector: &Connector,
    workers: usize,
    channels: usize,
    users: u64,
    prefix: &str,
) -> Result<Report> {
    let mut clients = connector.clients(workers, channels).await?;
    let started = Instant::now();
    let (total_before, present) = existing(&mut clients[0], prefix, users).await?;
    let missing: Vec<u64> = (0..users).filter(|&i| !present[i as usize]).collect();
    eprintln!(
        "seed: {total_before} users with prefix {prefix:?} already present (listed in {:.1} s); \
         creating {} of {}..{}",
        started.elapsed().as_secs_f64(),
        missing.len(),
        seeded_user_name(prefix, 0),
        seeded_user_name(prefix, users - 1),
    );

    let missing = Arc::new(missing);
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let progress = Progress::start("created", done.clone(), Some(missing.len() as u64));
    let started = Instant::now();
    let mut set = JoinSet::new();
    for mut client in clients.iter().cloned() {
        let (missing, next, done, prefix) = (
            missing.clone(),
            next.clone(),
            done.clone(),
            prefix.to_owned(),
        );
        set.spawn(async move {
            let mut tally = Tally::default();
            let mut consecutive = 0;
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some(&i) = missing.get(k) else { break };
                let user_name = seeded_user_name(&prefix, i);
                let request = CreateUserRequest {
                    user: Some(new_user(user_name.clone(), i)),
                };
                let mut attempt = 0;
                let outcome = loop {
                    match client.create_user(request.clone()).await {
                        Err(status) if is_transient(status.code()) && attempt < RETRIES => {
                            attempt += 1;
                            tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt)))
                                .await;
                        }
                        outcome => break outcome,
                    }
                };
                match outcome {
                    Ok(_) => {
                        tally.created += 1;
                        consecutive = 0;
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(status) if status.code() == Code::AlreadyExists => {
                        tally.skipped += 1;
                        consecutive = 0;
                    }
                    Err(status) if is_fatal(status.code()) => {
                        bail!("CreateUser {user_name}: {}", describe(&status))
                    }
                    Err(status) => {
                        tally.failed += 1;
                        consecutive += 1;
                        let message = format!("CreateUser {user_name}: {}", describe(&status));
                        if consecutive >= MAX_CONSECUTIVE_FAILURES {
                            bail!("{consecutive} creates failed in a row, last: {message}");
                        }
                        tally.first_error.get_or_insert(message);
                    }
                }
            }
            Ok(tally)
        });
    }
    let tallies = join_all(set).await?;
    let elapsed = started.elapsed();
    drop(progress);

    let mut sum = Tally::default();
    for t in tallies {
        sum.created += t.created;
        sum.skipped += t.skipped;
        sum.failed += t.failed;
        if sum.first_error.is_none() {
            sum.first_error = t.first_error;
        }
    }
    let total_after = count(&mut clients[0], prefix).await?;
    let per_sec = rate(sum.created, elapsed);

    let mut report = Report::new("seed");
    report.line(format!(
        "seed: created {} users in {:.2} s ({per_sec:.1} creates/s, concurrency {workers}, {} channels)",
        sum.created,
        elapsed.as_secs_f64(),
        channels.clamp(1, workers),
    ));
    report.line(format!(
        "      {} already existed, {} failed; organization now holds {total_after} users with prefix {prefix:?} (wanted {users})",
        sum.skipped, sum.failed,
    ));
    if let Some(err) = &sum.first_error {
        report.line(format!("      first error: {err}"));
    }
    report.set("prefix", prefix);
    report.set("users", users);
    report.set("present_before", total_before);
    report.set("created", sum.created);
    report.set("skipped", sum.skipped);
    report.set("failed", sum.failed);
    report.set("present_after", total_after);
    report.set("elapsed_s", round2(elapsed.as_secs_f64()));
    report.set("creates_per_s", round2(per_sec));
    report.set("concurrency", workers);
    if sum.failed > 0 {
        report.line("      some creates failed: run seed again to top up");
    }
    Ok(report)
}

pub fn prefix_filter(prefix: &str) -> Filter {
    user_name_filter(CompareOp::Sw, &format!("{prefix}-"))
}

/// How many users of the organization have a userName starting with `<prefix>-`.
pub async fn count(client: &mut UserClient, prefix: &str) -> Result<i64> {
    let response = client
        .list_users(ListUsersRequest {
            filter: Some(prefix_filter(prefix)),
            count: Some(0),
            ..Default::default()
        })
        .await
        .map_err(|status| anyhow::anyhow!("ListUsers: {}", describe(&status)))?;
    Ok(response.into_inner().total_results)
}

/// The number of users with the prefix, and which of the indices `0..users` already exist. When
/// there are at least `users` of them nothing is listed (and all count as present).
async fn existing(client: &mut UserClient, prefix: &str, users: u64) -> Result<(i64, Vec<bool>)> {
    let len = usize::try_from(users).context("--users is too large")?;
    let total = count(client, prefix).await?;
    if total >= 0 && total as u64 >= users {
        return Ok((total, vec![true; len]));
    }
    let mut present = vec![false; len];
    // Keyset paging in userName order (`userName sw "<prefix>-" and userName gt "<last>"`), so
    // each page costs the same however many came before; at most total / PAGE + 2 pages.
    let mut last: Option<String> = None;
    let max_pages = total / i64::from(PAGE) + 2;
    for _ in 0..max_pages {
        let filter = match &last {
            None => prefix_filter(prefix),
            Some(last) => Filter {
                node: Some(filter::Node::And(FilterList {
                    filters: vec![prefix_filter(prefix), user_name_filter(CompareOp::Gt, last)],
                })),
            },
        };
        let page = client
            .list_users(ListUsersRequest {
                filter: Some(filter),
                sort_by: Some(SortBy {
                    path: Some(roster::pb::AttributePath {
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
        let full = page.users.len() == PAGE as usize;
        for user in &page.users {
            if let Some(i) = seeded_index(prefix, &user.user_name)
                && i < users
            {
                present[i as usize] = true;
            }
        }
        match page.users.last() {
            Some(user) if full => last = Some(user.user_name.clone()),
            _ => break,
        }
    }
    Ok((total, present))
}
