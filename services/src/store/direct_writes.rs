//! Membership batches on SQLite written on the calling thread. sqlx runs each SQLite connection on
//! a thread of its own, so each statement of a write transaction is a round trip to that thread
//! and back: a membership batch (begin, version bump, existence check, insert, delete, count,
//! audit, commit) cost eight of them, and under a PATCH load `perf` put over a third of rosterd's
//! CPU in those threads and in the futex waits and wake-ups around them. Here the same statements,
//! built by the same code, run on one read-write rusqlite connection of the file on the thread
//! that applies the batch.
//!
//! The connection is used only while this process's SQLite write lock (`Store::write_lock`) is
//! held, so it never competes with the pool's writer for SQLite's own lock. Its errors all map to
//! an internal error: the statements run here cannot break a uniqueness rule (the member insert
//! says `ON CONFLICT DO NOTHING`).

use super::entities::groups;
use super::{Store, WriteTxn, checkpoint};
use crate::error::{CoreError, CoreResult};
use rusqlite::types::Value as Sqlite;
use rusqlite::{Connection, OpenFlags};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, FromQueryResult, Statement};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::OwnedMutexGuard;

/// The read-write connection (behind a mutex only so that it can be shared between threads; the
/// write lock already serialises its users).
pub struct DirectWriter(Mutex<Connection>);

impl DirectWriter {
    /// Opens a read-write connection to the (already migrated, WAL-mode) database at `path`, with
    /// the settings the pool's connections have (`Store::connect`).
    pub fn open(path: &Path, synchronous: &str, mmap_bytes: u64) -> anyhow::Result<Self> {
        let connection = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        connection.busy_timeout(std::time::Duration::from_secs(30))?;
        connection.pragma_update(None, "foreign_keys", true)?;
        connection.pragma_update(None, "synchronous", synchronous)?;
        connection.pragma_update(None, "cache_size", -8192)?;
        connection.pragma_update(
            None,
            "mmap_size",
            i64::try_from(mmap_bytes).unwrap_or(i64::MAX),
        )?;
        connection.pragma_update(None, "wal_autocheckpoint", checkpoint::BACKSTOP_PAGES)?;
        connection.set_prepared_statement_cache_capacity(64);
        super::plan_stability::enable(&connection)?;
        Ok(Self(Mutex::new(connection)))
    }

    fn connection(&self) -> MutexGuard<'_, Connection> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A write transaction on the [`DirectWriter`]; dropped without [`DirectTxn::commit`] it rolls
/// back.
pub struct DirectTxn {
    writer: Arc<DirectWriter>,
    committed: bool,
    _guard: OwnedMutexGuard<()>,
    checkpoint: Option<(Arc<checkpoint::Checkpointer>, DatabaseConnection)>,
}

impl DirectTxn {
    /// Runs `statement`; the number of rows it changed.
    fn execute(&self, statement: &Statement) -> Result<u64, DbErr> {
        let values = bound(statement)?;
        let connection = self.writer.connection();
        let changed = connection
            .prepare_cached(&statement.sql)
            .and_then(|mut prepared| prepared.execute(rusqlite::params_from_iter(values.iter())))
            .map_err(query_error)?;
        Ok(changed as u64)
    }

    /// The first column of every row `statement` returns, as text.
    fn texts(&self, statement: &Statement) -> Result<Vec<String>, DbErr> {
        let values = bound(statement)?;
        let connection = self.writer.connection();
        let result = (|| {
            let mut prepared = connection.prepare_cached(&statement.sql)?;
            let rows = prepared.query_map(rusqlite::params_from_iter(values.iter()), |row| {
                row.get::<_, String>(0)
            })?;
            rows.collect::<rusqlite::Result<Vec<String>>>()
        })();
        result.map_err(query_error)
    }

    /// The first row `statement` returns as a group, with its `carried_role` column.
    fn group_with_role(
        &self,
        statement: &Statement,
    ) -> Result<Option<(groups::Model, Option<String>)>, DbErr> {
        let values = bound(statement)?;
        let connection = self.writer.connection();
        let result = (|| {
            let mut prepared = connection.prepare_cached(&statement.sql)?;
            let mut rows = prepared.query(rusqlite::params_from_iter(values.iter()))?;
            // Every row is stepped through: an `UPDATE ... RETURNING` completes only then.
            let mut first = None;
            while let Some(row) = rows.next()? {
                if first.is_none() {
                    first = Some((
                        super::inline_reads::group_row(row)?,
                        row.get::<_, Option<String>>("carried_role")?,
                    ));
                }
            }
            Ok(first)
        })();
        result.map_err(query_error)
    }

    /// Commits.
    pub fn commit(mut self) -> CoreResult<()> {
        self.writer
            .connection()
            .execute_batch("COMMIT")
            .map_err(|error| CoreError::from(query_error(error)))?;
        self.committed = true;
        if let Some((checkpointer, db)) = &self.checkpoint {
            checkpointer.committed(db);
        }
        Ok(())
    }
}

impl Drop for DirectTxn {
    fn drop(&mut self) {
        if !self.committed {
            let connection = self.writer.connection();
            if !connection.is_autocommit()
                && let Err(error) = connection.execute_batch("ROLLBACK")
            {
                tracing::error!(error = %error, "rolling back a direct SQLite write failed");
            }
        }
    }
}

impl Store {
    /// Starts a write transaction on the calling thread's SQLite connection, when this store has
    /// one (SQLite files with direct writes on).
    pub(super) async fn begin_direct(&self) -> CoreResult<Option<DirectTxn>> {
        let (Some(writer), Some(lock)) = (&self.direct, &self.write_lock) else {
            return Ok(None);
        };
        let guard = lock.clone().lock_owned().await;
        writer
            .connection()
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|error| CoreError::from(query_error(error)))?;
        Ok(Some(DirectTxn {
            writer: writer.clone(),
            committed: false,
            _guard: guard,
            checkpoint: self
                .checkpointer
                .as_ref()
                .map(|checkpointer| (checkpointer.clone(), self.db.clone())),
        }))
    }
}

/// The transaction a write's statements run in: sea-orm's (either backend) or a [`DirectTxn`].
#[derive(Clone, Copy)]
pub enum Tx<'a> {
    /// A pooled transaction.
    Orm(&'a WriteTxn),
    /// A transaction on the calling thread.
    Direct(&'a DirectTxn),
}

impl<'a> From<&'a WriteTxn> for Tx<'a> {
    fn from(txn: &'a WriteTxn) -> Self {
        Tx::Orm(txn)
    }
}

impl<'a> From<&'a DirectTxn> for Tx<'a> {
    fn from(txn: &'a DirectTxn) -> Self {
        Tx::Direct(txn)
    }
}

/// A row of one text column named `id`.
#[derive(FromQueryResult)]
pub(super) struct IdRow {
    pub id: String,
}

impl Tx<'_> {
    /// Runs `statement`; the number of rows it changed.
    pub async fn execute(self, statement: Statement) -> CoreResult<u64> {
        Ok(match self {
            Tx::Orm(txn) => txn.execute_raw(statement).await?.rows_affected(),
            Tx::Direct(txn) => txn.execute(&statement)?,
        })
    }

    /// The `id` column of every row `statement` returns.
    pub async fn ids(self, statement: Statement) -> CoreResult<Vec<String>> {
        match self {
            Tx::Orm(txn) => txn
                .query_all_raw(statement)
                .await?
                .iter()
                .map(|row| Ok(IdRow::from_query_result(row, "")?.id))
                .collect(),
            Tx::Direct(txn) => Ok(txn.texts(&statement)?),
        }
    }

    /// The group row `statement` returns (`RETURNING *, ... AS carried_role`), with that role.
    pub async fn group_with_role(
        self,
        statement: Statement,
    ) -> CoreResult<Option<(groups::Model, Option<String>)>> {
        match self {
            Tx::Orm(txn) => match txn.query_one_raw(statement).await? {
                Some(row) => Ok(Some((
                    groups::Model::from_query_result(&row, "")?,
                    row.try_get("", "carried_role")?,
                ))),
                None => Ok(None),
            },
            Tx::Direct(txn) => Ok(txn.group_with_role(&statement)?),
        }
    }
}

/// The statement's bound values as SQLite stores them.
fn bound(statement: &Statement) -> Result<Vec<Sqlite>, DbErr> {
    let Some(values) = &statement.values else {
        return Ok(Vec::new());
    };
    values
        .0
        .iter()
        .map(|value| {
            super::inline_reads::to_sqlite(value).ok_or_else(|| {
                DbErr::Query(sea_orm::RuntimeErr::Internal(
                    "direct SQLite write: a bound value of a kind it does not carry".to_owned(),
                ))
            })
        })
        .collect()
}

fn query_error(error: rusqlite::Error) -> DbErr {
    DbErr::Query(sea_orm::RuntimeErr::Internal(format!(
        "direct SQLite write: {error}"
    )))
}

#[cfg(test)]
mod tests {
    use super::Tx;
    use crate::domain::clock::Clock;
    use crate::store::{Store, StoreOptions};
    use sea_orm::{ConnectionTrait, DbBackend, Statement};

    fn sql(text: &str) -> Statement {
        Statement::from_string(DbBackend::Sqlite, text)
    }

    async fn direct(store: &Store) -> super::DirectTxn {
        store
            .begin_direct()
            .await
            .unwrap()
            .expect("a direct writer")
    }

    /// A SQLite file URL in a new temporary directory.
    fn temp_file_url() -> (std::path::PathBuf, String) {
        let dir = std::env::temp_dir().join(format!("roster-direct-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.join("roster.db").display());
        (dir, url)
    }

    /// The rows of table `t` as the pool sees them (`None`: no such table).
    async fn pooled_rows(store: &Store) -> Option<i64> {
        let row = store
            .db
            .query_one_raw(sql("SELECT COUNT(*) AS n FROM t"))
            .await
            .ok()??;
        row.try_get::<i64>("", "n").ok()
    }

    #[tokio::test]
    async fn a_direct_transaction_commits_for_all_or_rolls_back_and_frees_the_lock() {
        let (dir, url) = temp_file_url();
        let store = Store::connect(&StoreOptions::new(url), Clock::system())
            .await
            .unwrap();

        // Dropped without a commit: nothing it did is left.
        let txn = direct(&store).await;
        let tx = Tx::Direct(&txn);
        tx.execute(sql("CREATE TABLE t (id TEXT)")).await.unwrap();
        tx.execute(sql("INSERT INTO t VALUES ('a')")).await.unwrap();
        drop(txn);
        assert_eq!(pooled_rows(&store).await, None, "rolled back");

        // Committed: the pool reads it, and RETURNING rows come back.
        let txn = direct(&store).await;
        let tx = Tx::Direct(&txn);
        tx.execute(sql("CREATE TABLE t (id TEXT)")).await.unwrap();
        let ids = tx
            .ids(sql("INSERT INTO t VALUES ('a'), ('b') RETURNING id"))
            .await
            .unwrap();
        assert_eq!(ids, ["a", "b"]);
        let error = tx.execute(sql("INSERT INTO nowhere VALUES (1)")).await;
        assert!(error.is_err(), "a failing statement is an error");
        txn.commit().unwrap();
        assert_eq!(pooled_rows(&store).await, Some(2));

        // The write lock is free again: a pooled write goes through and sees the direct one.
        let txn = store.begin_write().await.unwrap();
        let changed = Tx::Orm(&txn)
            .execute(sql("DELETE FROM t WHERE id = 'a'"))
            .await
            .unwrap();
        assert_eq!(changed, 1);
        txn.commit().await.unwrap();
        assert_eq!(pooled_rows(&store).await, Some(1));

        store.close().await;
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn memory_and_switched_off_stores_have_no_direct_writer() {
        let store = Store::connect(&StoreOptions::new("sqlite::memory:"), Clock::system())
            .await
            .unwrap();
        assert!(store.begin_direct().await.unwrap().is_none());
        let (dir, url) = temp_file_url();
        let options = StoreOptions {
            direct_writes: false,
            ..StoreOptions::new(url)
        };
        let store = Store::connect(&options, Clock::system()).await.unwrap();
        assert!(store.begin_direct().await.unwrap().is_none());
        store.close().await;
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
