//! WAL checkpoints off the write path (SQLite files). SQLite's automatic checkpoint runs inside the
//! commit that crosses the WAL threshold, and with `synchronous=normal` that is where both fsyncs
//! happen (the WAL, then the database file), while this process's write lock is still held: every
//! queued writer waited for them (6–9 ms each on this project's benchmark machine, a visible p99
//! step). Here a commit only counts; every [`EVERY_COMMITS`] commits one background task runs a
//! `PASSIVE` checkpoint on a pooled connection, which never blocks writers or readers. SQLite's own
//! automatic checkpoint stays on, at a higher threshold, as the backstop should these fall behind.

use sea_orm::{ConnectionTrait, DatabaseConnection};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// Commits between background checkpoints.
const EVERY_COMMITS: u32 = 64;
/// SQLite's own automatic checkpoint threshold in pages (its default is 1000): only reached when
/// background checkpoints cannot keep up.
pub const BACKSTOP_PAGES: &str = "8000";

/// Counts commits and starts background checkpoints.
#[derive(Default)]
pub struct Checkpointer {
    commits: AtomicU32,
    running: AtomicBool,
}

impl Checkpointer {
    /// Notes a commit; every [`EVERY_COMMITS`] starts a checkpoint unless one is running.
    pub fn committed(self: &Arc<Self>, db: &DatabaseConnection) {
        if self.commits.fetch_add(1, Ordering::Relaxed) % EVERY_COMMITS != EVERY_COMMITS - 1 {
            return;
        }
        if self.running.swap(true, Ordering::AcqRel) {
            return;
        }
        let this = self.clone();
        let db = db.clone();
        tokio::spawn(async move {
            if let Err(error) = db
                .execute_unprepared("PRAGMA wal_checkpoint(PASSIVE)")
                .await
            {
                tracing::warn!(error = %error, "background WAL checkpoint failed");
            }
            this.running.store(false, Ordering::Release);
        });
    }
}
