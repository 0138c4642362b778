//! Keeps this process on the stored policy: loads it at start (writing the starting policy into
//! an empty database first) and polls the one-row version every [`POLL_INTERVAL`]; when it moves,
//! a complete snapshot is read and swapped in. *Why polling*: one indexed read of one row is
//! cheap, works the same on SQLite and PostgreSQL, and cannot miss a change the way a dropped
//! LISTEN connection can; a change made through this process is installed at once, one made
//! through another rosterd within the interval.

use super::engine::{PolicyEngine, Snapshot};
use super::rules;
use crate::error::CoreResult;
use crate::store::Store;
use std::time::Duration;

/// How often the stored version is compared with the installed one.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Reads the whole policy and installs it; returns whether it replaced the installed one.
pub async fn reload(store: &Store, engine: &PolicyEngine) -> CoreResult<bool> {
    let (version, stored) = store.load_policy().await?;
    let snapshot = Snapshot::new(
        version,
        stored
            .into_iter()
            .map(|stored| (stored.id, stored.rule))
            .collect(),
    );
    let rules = snapshot.len();
    let installed = engine.install(snapshot);
    if installed {
        tracing::info!(version, rules, "policy loaded");
    }
    Ok(installed)
}

/// Writes the starting policy into a database that never had one, then loads the policy.
pub async fn start(store: &Store, engine: &PolicyEngine) -> anyhow::Result<()> {
    let starting = rules::parse_csv(rules::STARTING_POLICY)
        .map_err(|error| anyhow::anyhow!("services/policy/policy.csv: {}", error.message))?;
    if store.seed_policy(&starting).await? {
        tracing::info!(rules = starting.len(), "starting policy written");
    }
    reload(store, engine).await?;
    Ok(())
}

/// Polls for changes until the process ends.
pub fn spawn(store: Store, engine: PolicyEngine) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(POLL_INTERVAL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let installed = engine.snapshot().version();
            match store.policy_version().await {
                Ok((version, _)) if version != installed => {
                    if let Err(error) = reload(&store, &engine).await {
                        tracing::warn!(error = %error, "could not reload the policy");
                    }
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(error = %error, "could not read the policy version"),
            }
        }
    })
}
