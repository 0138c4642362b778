//! casbin enforcement cost at 10,000 rules (`cargo bench -p roster-services --bench policy`, or
//! `just bench-policy`). Each case decides one request against a snapshot whose partition for
//! the request is already built (the steady state of a running rosterd); `partition build` is
//! the one-time cost of the first request for a new (organization, object) pair.
//!
//! Shapes of 10,000 rules, besides the 25-rule starting policy:
//! - `spread`: 100 organizations × 10 objects × 10 subjects (the request's partition holds ~10
//!   organization rules and the starting rules for its object);
//! - `one org`: all in one organization over 100 objects (~100 rules in the partition);
//! - `one object`: all in one organization on one object (10,000 subjects).
//!
//! Partitions past 24 rules are split by rule subject and action (see `policy/engine.rs`), so
//! casbin evaluates only the few rules of the subjects a caller is; before the split the last two
//! shapes cost 139 µs and 14 ms.

use criterion::{Criterion, criterion_group, criterion_main};
use roster_services::policy::rules::{STARTING_POLICY, parse_csv, permission};
use roster_services::policy::{Rule, Snapshot};
use std::hint::black_box;

fn org(index: usize) -> String {
    format!("00000000-0000-4000-8000-{index:012}")
}

fn snapshot(extra: Vec<Rule>) -> Snapshot {
    let mut rules = parse_csv(STARTING_POLICY).expect("starting policy");
    rules.extend(extra);
    Snapshot::new(
        1,
        rules
            .into_iter()
            .enumerate()
            .map(|(index, rule)| (format!("r{index}"), rule))
            .collect(),
    )
}

fn spread() -> Vec<Rule> {
    let mut rules = Vec::with_capacity(10_000);
    for o in 0..100 {
        for object in 0..10 {
            for subject in 0..10 {
                rules.push(
                    permission(
                        &format!("role:r{subject}"),
                        &org(o),
                        &format!("workflows{object}"),
                        "edit",
                        "allow",
                    )
                    .unwrap(),
                );
            }
        }
    }
    rules
}

fn one_org(objects: usize) -> Vec<Rule> {
    (0..10_000)
        .map(|index| {
            permission(
                &format!("role:r{}", index / objects),
                &org(7),
                &format!("workflows{}", index % objects),
                "edit",
                "allow",
            )
            .unwrap()
        })
        .collect()
}

fn enforcement(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let subjects = "token:00000000-0000-4000-8000-0000000000aa|scope:scim:read|scope:scim:write";
    let mut group = c.benchmark_group("casbin enforce, 10k rules");
    for (name, policy, object) in [
        (
            "spread, gRPC call (users read)",
            snapshot(spread()),
            "users",
        ),
        ("spread, service question", snapshot(spread()), "workflows3"),
        ("one org, 100 objects", snapshot(one_org(100)), "workflows3"),
        (
            "one org, one object (worst)",
            snapshot(one_org(1)),
            "workflows0",
        ),
    ] {
        let action = if object == "users" { "read" } else { "edit" };
        let subjects = if object == "users" {
            subjects.to_owned()
        } else {
            "user:u1|role:r3".to_owned()
        };
        // Build the partition once, as the first request would.
        runtime
            .block_on(policy.decide(&subjects, &org(7), object, action))
            .unwrap();
        group.bench_function(name, |b| {
            b.iter(|| {
                runtime
                    .block_on(policy.decide(black_box(&subjects), &org(7), object, action))
                    .unwrap()
            })
        });
    }
    group.finish();

    let mut cold = c.benchmark_group("casbin partition build");
    cold.sample_size(20);
    cold.bench_function("100-rule partition, first request", |b| {
        b.iter_batched(
            || snapshot(one_org(100)),
            |policy| {
                runtime
                    .block_on(policy.decide("role:r3", &org(7), "workflows3", "edit"))
                    .unwrap()
            },
            criterion::BatchSize::LargeInput,
        )
    });
    cold.finish();
}

criterion_group!(benches, enforcement);
criterion_main!(benches);
