//! Point reads on SQLite without a thread hand-off. sqlx runs each SQLite connection on a thread of
//! its own, so every statement costs a round trip to that thread and back (and another when the
//! connection returns to the pool, which pings it): under load, `perf` put four tenths of rosterd's
//! CPU in those threads and the context switches they cause, against a few percent in SQLite
//! itself. The reads that every provisioning call makes — a user page by an `eq` filter, a group
//! by id — take microseconds on a warm page cache, so they run here, on the calling thread, on a
//! small set of read-only connections of the same file. Writes, and every longer read, stay on the
//! pool.
//!
//! WAL gives each statement the latest committed state when it starts, so a read here sees every
//! write committed through the pool before it, exactly as a pooled read does.

use super::entities::{groups, users};
use parking_lot::Mutex;
use roster::pb;
use rusqlite::types::Value as Sqlite;
use rusqlite::{Connection, OpenFlags, Row};
use sea_orm::{DbErr, Statement, Value};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Read-only connections: a read here holds one only while its thread runs it, so one per core
/// (the runtime's worker threads) is enough; each keeps an 8 MiB page cache.
fn connections() -> usize {
    std::thread::available_parallelism().map_or(2, |cores| cores.get().clamp(2, 8))
}

/// A few read-only connections to the database file.
pub struct InlineReads {
    connections: Vec<Mutex<Connection>>,
    next: AtomicUsize,
}

/// A user row, with the `member_of` column when the statement selects it. The stored profile is
/// decoded straight into the user (`model.profile` is left `Null`): going through a JSON value
/// first cost a few percent of a lookup.
pub struct UserRow {
    pub model: users::Model,
    pub profile: pb::User,
    pub member_of: Option<String>,
}

impl InlineReads {
    /// Opens read-only connections to the (already migrated) database at `path`, each mapping
    /// `mmap_bytes` of it.
    pub fn open(path: &Path, mmap_bytes: u64) -> anyhow::Result<Self> {
        let mmap_bytes = i64::try_from(mmap_bytes).unwrap_or(i64::MAX);
        let count = connections();
        let mut connections = Vec::with_capacity(count);
        for _ in 0..count {
            let connection = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            connection.busy_timeout(std::time::Duration::from_secs(30))?;
            // The same page cache per connection as the pool's (see `Store::connect`).
            connection.pragma_update(None, "cache_size", -8192)?;
            connection.pragma_update(None, "mmap_size", mmap_bytes)?;
            connection.set_prepared_statement_cache_capacity(64);
            super::plan_stability::enable(&connection)?;
            connections.push(Mutex::new(connection));
        }
        Ok(Self {
            connections,
            next: AtomicUsize::new(0),
        })
    }

    /// Users selected by `statement` (`SELECT u.*[, member_of] ...`).
    pub fn users(&self, statement: &Statement) -> Option<Result<Vec<UserRow>, DbErr>> {
        self.query(statement, user_row)
    }

    /// Groups selected by `statement` (`SELECT groups.* ...`).
    pub fn groups(&self, statement: &Statement) -> Option<Result<Vec<groups::Model>, DbErr>> {
        self.query(statement, group_row)
    }

    /// Runs a read statement on a free connection; `None` when every connection is busy or the
    /// statement binds a value this path does not carry (the caller then uses the pool).
    fn query<T>(
        &self,
        statement: &Statement,
        decode: fn(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Option<Result<Vec<T>, DbErr>> {
        let values = match &statement.values {
            Some(values) => values
                .0
                .iter()
                .map(to_sqlite)
                .collect::<Option<Vec<Sqlite>>>()?,
            None => Vec::new(),
        };
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let count = self.connections.len();
        let connection =
            (0..count).find_map(|offset| self.connections[(start + offset) % count].try_lock())?;
        let result = (|| {
            let mut prepared = connection.prepare_cached(&statement.sql)?;
            let rows = prepared.query_map(rusqlite::params_from_iter(values.iter()), decode)?;
            rows.collect::<rusqlite::Result<Vec<T>>>()
        })();
        Some(result.map_err(|error| {
            DbErr::Query(sea_orm::RuntimeErr::Internal(format!(
                "inline SQLite read: {error}"
            )))
        }))
    }
}

/// A JSON text column decoded as `T`.
fn json<T: serde::de::DeserializeOwned>(row: &Row<'_>, column: &str) -> rusqlite::Result<T> {
    let index = row.as_ref().column_index(column)?;
    let text = row.get_ref(index)?.as_str()?;
    serde_json::from_str(text).map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            rusqlite::types::Type::Text,
            Box::new(error),
        )
    })
}

fn user_row(row: &Row<'_>) -> rusqlite::Result<UserRow> {
    let model = users::Model {
        id: row.get("id")?,
        org_id: row.get("org_id")?,
        account_id: row.get("account_id")?,
        user_name: row.get("user_name")?,
        user_name_key: row.get("user_name_key")?,
        external_id: row.get("external_id")?,
        display_name: row.get("display_name")?,
        display_name_key: row.get("display_name_key")?,
        active: row.get("active")?,
        active_assigned: row.get("active_assigned")?,
        user_type: row.get("user_type")?,
        profile: serde_json::Value::Null,
        custom_attributes: json(row, "custom_attributes")?,
        version: row.get("version")?,
        created_at: row.get("created_at")?,
        updated_at: row.get("updated_at")?,
    };
    let member_of = match row.as_ref().column_index("member_of") {
        Ok(index) => row.get(index)?,
        Err(_) => None,
    };
    Ok(UserRow {
        model,
        profile: json(row, "profile")?,
        member_of,
    })
}

pub(super) fn group_row(row: &Row<'_>) -> rusqlite::Result<groups::Model> {
    Ok(groups::Model {
        id: row.get("id")?,
        org_id: row.get("org_id")?,
        display_name: row.get("display_name")?,
        display_name_key: row.get("display_name_key")?,
        external_id: row.get("external_id")?,
        version: row.get("version")?,
        created_at: row.get("created_at")?,
        updated_at: row.get("updated_at")?,
        member_count: row.get("member_count")?,
    })
}

/// A bound value as SQLite stores it; `None` for a kind this path does not carry.
pub(super) fn to_sqlite(value: &Value) -> Option<Sqlite> {
    Some(match value {
        Value::String(text) => text.clone().map_or(Sqlite::Null, Sqlite::Text),
        Value::BigInt(number) => number.map_or(Sqlite::Null, Sqlite::Integer),
        Value::Int(number) => number.map_or(Sqlite::Null, |n| Sqlite::Integer(n.into())),
        Value::SmallInt(number) => number.map_or(Sqlite::Null, |n| Sqlite::Integer(n.into())),
        Value::Bool(flag) => flag.map_or(Sqlite::Null, |b| Sqlite::Integer(b.into())),
        Value::Double(number) => number.map_or(Sqlite::Null, Sqlite::Real),
        _ => return None,
    })
}
