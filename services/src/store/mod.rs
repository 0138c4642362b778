//! Persistence on SQLite or PostgreSQL through sea-orm. Every function takes the organization id
//! and every statement is scoped by it: there is no unscoped query to call by mistake (the only
//! exceptions are organization-level reads and the token lookup by id that authentication needs).
//!
//! Writes run in one transaction each. On SQLite they also take an in-process lock and start with
//! `BEGIN IMMEDIATE`, so concurrent writers queue instead of failing with `SQLITE_BUSY`.

mod accounts;
mod audit;
mod checkpoint;
mod connections;
mod create_batch;
mod direct_writes;
mod domains;
mod entities;
mod external_ids;
pub mod filter;
mod groups;
mod inline_reads;
mod membership_batch;
mod organizations;
mod plan_stability;
mod policies;
mod roles;
mod sql;
mod tokens;
mod users;

pub use audit::Event;
pub use connections::{ConnectionRow, kind_name};
pub use domains::DomainRow;
pub use groups::validate_group;
pub use policies::{StoredRule, TokenSubjects};
pub use tokens::{AuthConnection, AuthToken};
pub use users::UserLookup;

use crate::domain::clock::Clock;
use crate::error::{CoreError, CoreResult};
use filter::{FilterCompiler, Resource};
use roster::pb;
use roster_migrations::{Migrator, MigratorTrait};
use sea_orm::{
    AccessMode, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, QueryResult,
    SqliteTransactionMode, SqlxPostgresConnector, SqlxSqliteConnector, Statement,
    TransactionOptions, TransactionTrait,
};
use sql::Sql;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, OwnedMutexGuard};
use users::page;

/// How to open the database.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// `sqlite://path?mode=rwc`, `sqlite::memory:` or `postgres://...`.
    pub url: String,
    /// Most pooled connections; `None` picks 4 for SQLite (one writer at a time, readers share two
    /// cores; more connections only add thread hand-offs) and 16 for PostgreSQL.
    pub max_connections: Option<u32>,
    /// SQLite `synchronous`: `normal` (durable across process crashes, the WAL default) or `full`
    /// (also across power loss, slower).
    pub sqlite_synchronous: String,
    /// SQLite files: point reads on the calling thread (see `inline_reads`).
    pub inline_reads: bool,
    /// SQLite files: membership batches written on the calling thread (see `direct_writes`).
    pub direct_writes: bool,
    /// SQLite files: bytes of the file each connection memory-maps (see [`DEFAULT_MMAP_BYTES`]).
    pub mmap_bytes: u64,
}

impl StoreOptions {
    /// Defaults for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: None,
            sqlite_synchronous: "normal".to_owned(),
            inline_reads: true,
            direct_writes: true,
            mmap_bytes: DEFAULT_MMAP_BYTES,
        }
    }
}

/// The database handle, cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    /// Where write transactions run (see `Store::connect`).
    writer: DatabaseConnection,
    backend: DbBackend,
    clock: Clock,
    /// Serialises writers in this process on SQLite (one writer at a time is all SQLite allows).
    write_lock: Option<Arc<Mutex<()>>>,
    /// Membership changes waiting to be applied together, per group.
    batches: Arc<membership_batch::MembershipBatches>,
    /// User creates waiting to be written together, per organization.
    creates: Arc<create_batch::CreateBatches>,
    /// Background WAL checkpoints (SQLite files only).
    checkpointer: Option<Arc<checkpoint::Checkpointer>>,
    /// Point reads on the calling thread (SQLite files only).
    inline: Option<Arc<inline_reads::InlineReads>>,
    /// Membership batches on the calling thread (SQLite files only).
    direct: Option<Arc<direct_writes::DirectWriter>>,
}

/// A write transaction; dropped without [`WriteTxn::commit`] it rolls back.
pub struct WriteTxn {
    txn: DatabaseTransaction,
    _guard: Option<OwnedMutexGuard<()>>,
    checkpoint: Option<(Arc<checkpoint::Checkpointer>, DatabaseConnection)>,
}

impl std::ops::Deref for WriteTxn {
    type Target = DatabaseTransaction;
    fn deref(&self) -> &DatabaseTransaction {
        &self.txn
    }
}

impl WriteTxn {
    /// Commits.
    pub async fn commit(self) -> CoreResult<()> {
        self.txn.commit().await?;
        if let Some((checkpointer, db)) = &self.checkpoint {
            checkpointer.committed(db);
        }
        Ok(())
    }
}

/// How much of a SQLite file every connection maps into memory by default. A page its cache lacks
/// is then a pointer into the OS page cache, shared by all connections, instead of a `pread` into
/// each connection's own cache: with 100k users the rows of a lookup are rarely in an 8 MiB cache.
/// Only touched pages take memory (file-backed, so the kernel can reclaim them; RSS counts them
/// once per connection that touched them).
pub const DEFAULT_MMAP_BYTES: u64 = 1 << 30;

/// A pooled PostgreSQL connection idle longer than this is pinged before use (the server may have
/// restarted or a proxy dropped it meanwhile).
const IDLE_BEFORE_PING: Duration = Duration::from_secs(30);

impl Store {
    /// Opens the database (creating a SQLite file if needed) and runs pending migrations.
    pub async fn connect(options: &StoreOptions, clock: Clock) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        let url = options.url.as_str();
        let mut sqlite_path = None;
        // `writer` is where write transactions run: the pool itself, except on a SQLite file.
        let (db, writer, backend) = if url.starts_with("postgres://")
            || url.starts_with("postgresql://")
        {
            let connect = sqlx::postgres::PgConnectOptions::from_str(url)
                .context("while parsing the PostgreSQL URL")?;
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(options.max_connections.unwrap_or(16))
                .acquire_timeout(Duration::from_secs(10))
                // sqlx pings every connection it hands out by default: a round trip to the server
                // per statement. Only a connection that sat idle a while is checked.
                .test_before_acquire(false)
                .before_acquire(|connection, meta| {
                    Box::pin(async move {
                        if meta.idle_for > IDLE_BEFORE_PING {
                            sqlx::Connection::ping(connection).await?;
                        }
                        Ok(true)
                    })
                })
                .connect_with(connect)
                .await
                .context("while connecting to PostgreSQL")?;
            let db = SqlxPostgresConnector::from_sqlx_postgres_pool(pool);
            (db.clone(), db, DbBackend::Postgres)
        } else if url.starts_with("sqlite:") {
            use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
            let synchronous = match options.sqlite_synchronous.to_ascii_lowercase().as_str() {
                "normal" => SqliteSynchronous::Normal,
                "full" => SqliteSynchronous::Full,
                other => anyhow::bail!("sqlite synchronous must be normal or full, not {other}"),
            };
            let memory = url.contains(":memory:") || url.contains("mode=memory");
            let mut connect =
                SqliteConnectOptions::from_str(url).context("while parsing the SQLite URL")?;
            if !memory {
                sqlite_path = Some(connect.get_filename().to_path_buf());
            }
            connect = connect
                .create_if_missing(true)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(30))
                .synchronous(synchronous)
                // 8 MiB of page cache per connection keeps the hot indexes of 100k users in
                // memory (SQLite's default is 2 MiB).
                .pragma("cache_size", "-8192");
            if !memory {
                connect = connect
                    .journal_mode(SqliteJournalMode::Wal)
                    .pragma("wal_autocheckpoint", checkpoint::BACKSTOP_PAGES)
                    .pragma("mmap_size", options.mmap_bytes.to_string());
            }
            let pool = sqlx::sqlite::SqlitePoolOptions::new()
                // A file connection does not go stale; sqlx's default ping before each use is a
                // round trip to the connection's thread per statement.
                .test_before_acquire(false)
                // An in-memory database lives in one connection.
                .max_connections(if memory {
                    1
                } else {
                    options.max_connections.unwrap_or(4)
                })
                .min_connections(if memory { 1 } else { 0 })
                .idle_timeout(if memory {
                    None
                } else {
                    Some(Duration::from_secs(600))
                })
                .max_lifetime(if memory {
                    None
                } else {
                    Some(Duration::from_secs(3600))
                })
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(connect.clone())
                .await
                .context("while opening the SQLite database")?;
            let db = SqlxSqliteConnector::from_sqlx_sqlite_pool(pool);
            // Every write on a file goes through one connection that lives as long as the store.
            // In WAL mode a connection drops its whole page cache when it starts a transaction
            // after another connection wrote; with writes spread over the pool, each write
            // transaction began on a cold cache and read its pages back from the OS. Writers
            // queue on `write_lock` anyway, so one connection costs no concurrency.
            let writer = if memory {
                db.clone()
            } else {
                let pool = sqlx::sqlite::SqlitePoolOptions::new()
                    .test_before_acquire(false)
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(connect)
                    .await
                    .context("while opening the SQLite write connection")?;
                SqlxSqliteConnector::from_sqlx_sqlite_pool(pool)
            };
            (db, writer, DbBackend::Sqlite)
        } else {
            anyhow::bail!("database URL must start with sqlite: or postgres://");
        };
        log_durability(&db, backend).await?;
        if backend == DbBackend::Sqlite && !plan_stability::built_in(&db).await? {
            tracing::warn!(
                "this build's SQLite lacks SQLITE_ENABLE_QPSG: pooled list statements are planned \
                 again on every run (build from the workspace, whose .cargo/config.toml sets it)"
            );
        }
        Migrator::up(&db, None)
            .await
            .context("while running migrations")?;
        let write_lock = (backend == DbBackend::Sqlite).then(|| Arc::new(Mutex::new(())));
        let sqlite_file = backend == DbBackend::Sqlite
            && !(url.contains(":memory:") || url.contains("mode=memory"));
        let checkpointer = sqlite_file.then(Arc::default);
        let inline = match (&sqlite_path, options.inline_reads) {
            (Some(path), true) => Some(Arc::new(
                inline_reads::InlineReads::open(path, options.mmap_bytes)
                    .context("while opening the SQLite read connections")?,
            )),
            _ => None,
        };
        let direct = match (&sqlite_path, options.direct_writes) {
            (Some(path), true) => Some(Arc::new(
                direct_writes::DirectWriter::open(
                    path,
                    &options.sqlite_synchronous.to_ascii_lowercase(),
                    options.mmap_bytes,
                )
                .context("while opening the SQLite direct write connection")?,
            )),
            _ => None,
        };
        Ok(Self {
            db,
            writer,
            backend,
            clock,
            write_lock,
            batches: Arc::default(),
            creates: Arc::default(),
            checkpointer,
            inline,
            direct,
        })
    }

    /// The backend in use.
    pub fn backend(&self) -> DbBackend {
        self.backend
    }

    /// The clock writes are stamped with.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Whether the database answers (for `/readyz`).
    pub async fn ping(&self) -> bool {
        self.db.ping().await.is_ok()
    }

    /// Closes the pool, flushing SQLite's WAL.
    pub async fn close(self) {
        let _ = self.writer.close().await;
        let _ = self.db.close().await;
    }

    /// Starts a write transaction.
    pub async fn begin_write(&self) -> CoreResult<WriteTxn> {
        let guard = match &self.write_lock {
            Some(lock) => Some(lock.clone().lock_owned().await),
            None => None,
        };
        let options = TransactionOptions {
            isolation_level: None,
            access_mode: Some(AccessMode::ReadWrite)
                .filter(|_| self.backend == DbBackend::Postgres),
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate)
                .filter(|_| self.backend == DbBackend::Sqlite),
        };
        let txn = self.writer.begin_with_options(options).await?;
        Ok(WriteTxn {
            txn,
            _guard: guard,
            checkpoint: self
                .checkpointer
                .as_ref()
                .map(|checkpointer| (checkpointer.clone(), self.db.clone())),
        })
    }

    fn conn(&self) -> &impl ConnectionTrait {
        &self.db
    }

    /// A short indexed read of a list page on the calling thread, when SQLite's inline connections
    /// have one free (see `inline_reads`); `None` sends it to the pool.
    fn inline_page(
        &self,
        resource: Resource,
        statement: &Statement,
    ) -> Option<CoreResult<InlineRows>> {
        let inline = self.inline.as_ref()?;
        Some(match resource {
            Resource::User => inline
                .users(statement)?
                .map(InlineRows::Users)
                .map_err(CoreError::from),
            Resource::Group => inline
                .groups(statement)?
                .map(InlineRows::Groups)
                .map_err(CoreError::from),
        })
    }
}

/// A user page with each user's direct groups as a JSON array of `[id, displayName]` pairs, in the
/// same statement: a second query for the groups cost a lookup by userName about as much again on
/// SQLite, where each statement is a hand-off to the connection's thread. The pairs are put in
/// displayName order in Rust (`users::member_of_groups`): an `ORDER BY` inside the aggregate made
/// SQLite open and close a sorter for every user read, a few percent of a lookup's CPU, and the
/// order is then the same on both backends whatever the database's collation.
const MEMBER_OF_SQLITE: &str = "SELECT u.*, (SELECT json_group_array(json_array(rg.id, \
     rg.display_name)) FROM group_members rgm JOIN groups rg ON rg.id = rgm.group_id WHERE \
     rgm.org_id = u.org_id AND rgm.member_id = u.id) AS member_of FROM ";
/// [`MEMBER_OF_SQLITE`] for PostgreSQL (`json_agg` is NULL, not `[]`, for no rows).
const MEMBER_OF_POSTGRES: &str = "SELECT u.*, (SELECT json_agg(json_build_array(rg.id, \
     rg.display_name))::text FROM group_members rgm JOIN groups rg ON rg.id = rgm.group_id WHERE \
     rgm.org_id = u.org_id AND rgm.member_id = u.id) AS member_of FROM ";

/// Largest page a list call may read as a point read.
const POINT_READ_ROWS: u64 = 200;

/// Whether a filter is one `eq` on an attribute with a unique index in the organization
/// (userName, externalId or id of users; displayName, externalId or id of groups): the lookup an
/// IdP makes before every provisioning call, which reads at most one row.
fn is_point_filter(resource: Resource, filter: &pb::Filter) -> bool {
    let Some(pb::filter::Node::Compare(comparison)) = &filter.node else {
        return false;
    };
    let Some(path) = &comparison.path else {
        return false;
    };
    if comparison.op() != pb::CompareOp::Eq
        || !path.schema.is_empty()
        || !path.sub_attribute.is_empty()
    {
        return false;
    }
    let attribute = path.attribute.to_ascii_lowercase();
    match resource {
        Resource::User => matches!(attribute.as_str(), "username" | "externalid" | "id"),
        Resource::Group => matches!(attribute.as_str(), "displayname" | "externalid" | "id"),
    }
}

/// `SELECT u.*, <groups> AS member_of FROM ` for `backend`.
fn member_of_select(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => MEMBER_OF_POSTGRES,
        _ => MEMBER_OF_SQLITE,
    }
}

/// What a list call asks for.
pub(crate) struct ListQuery<'a> {
    pub filter: Option<&'a pb::Filter>,
    pub sort_by: Option<&'a pb::SortBy>,
    pub start_index: i64,
    pub count: Option<i32>,
    /// `Some` for cursor paging (RFC 9865): empty for the first page.
    pub cursor: Option<&'a str>,
    /// The caller's externalId namespace (its connection), `None` for the default columns.
    pub namespace: Option<&'a str>,
    /// Users only: also select each user's groups as a JSON column `member_of` (see
    /// [`MEMBER_OF_SQLITE`]).
    pub with_groups: bool,
}

/// One page of rows.
pub(crate) struct ListPage {
    pub total: i64,
    pub start_index: i64,
    /// The rows read on the pool (empty when `inline` holds them).
    pub rows: Vec<QueryResult>,
    /// The rows of a point read on the calling thread.
    pub inline: Option<InlineRows>,
    pub next_cursor: String,
}

/// Rows of a list page read by `inline_reads`.
pub(crate) enum InlineRows {
    Users(Vec<inline_reads::UserRow>),
    Groups(Vec<entities::groups::Model>),
}

impl InlineRows {
    fn len(&self) -> usize {
        match self {
            InlineRows::Users(rows) => rows.len(),
            InlineRows::Groups(rows) => rows.len(),
        }
    }
}

/// A cursor names the last row of a page by its creation instant and id, hex-encoded so clients
/// treat it as opaque.
fn encode_cursor(created_at: i64, id: &str) -> String {
    hex::encode(format!("{created_at}:{id}"))
}

fn decode_cursor(cursor: &str) -> CoreResult<(i64, String)> {
    let invalid = || {
        CoreError::new(
            roster::ErrorCode::InvalidCursor,
            "cursor",
            "cursor is not one this server issued",
        )
    };
    let text = hex::decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(invalid)?;
    let (created_at, id) = text.split_once(':').ok_or_else(invalid)?;
    let created_at = created_at.parse::<i64>().map_err(|_| invalid())?;
    let id = crate::domain::validate::id("cursor", id).map_err(|_| invalid())?;
    Ok((created_at, id))
}

impl Store {
    /// A filtered page of users (`u`) or groups (`g`) of one organization, by index (sorted,
    /// offset) or by cursor (creation order, keyset), with the total. The statement is built (and
    /// so the filter and sort key validated) before anything runs.
    async fn list_page(
        &self,
        resource: Resource,
        org_id: &str,
        query: ListQuery<'_>,
    ) -> CoreResult<ListPage> {
        let (offset, limit) = page(query.start_index, query.count)?;
        let (columns, from, alias) = match resource {
            Resource::User if query.with_groups => (
                member_of_select(self.backend),
                "users u WHERE u.org_id = ",
                "u",
            ),
            Resource::User => ("SELECT u.* FROM ", "users u WHERE u.org_id = ", "u"),
            Resource::Group => ("SELECT g.* FROM ", "groups g WHERE g.org_id = ", "g"),
        };
        let after = match query.cursor {
            Some(_) if query.sort_by.is_some() => {
                return Err(CoreError::invalid(
                    "cursor",
                    "cursor paging follows creation order; drop sort_by",
                ));
            }
            Some("") | None => None,
            Some(cursor) => Some(decode_cursor(cursor)?),
        };
        let mut select = Sql::new(self.backend);
        select.push(columns).push(from).bind(org_id);
        let mut compiler = FilterCompiler::new(resource, org_id).with_namespace(query.namespace);
        if let Some(filter) = query.filter {
            select.push(" AND ");
            compiler.compile(&mut select, filter)?;
        }
        if let Some((created_at, id)) = &after {
            select
                .push(&format!(" AND ({alias}.created_at > "))
                .bind(*created_at)
                .push(&format!(" OR ({alias}.created_at = "))
                .bind(*created_at)
                .push(&format!(" AND {alias}.id > "))
                .bind(id.as_str())
                .push("))");
        }
        compiler.order_by(&mut select, query.sort_by)?;
        let cursor_mode = query.cursor.is_some();
        if cursor_mode {
            // One row more than the page tells whether there is a next page.
            select.push(" LIMIT ").bind(limit as i64 + 1);
        } else {
            select
                .push(" LIMIT ")
                .bind(limit as i64)
                .push(" OFFSET ")
                .bind(offset as i64);
        }

        let point = limit <= POINT_READ_ROWS
            && offset == 0
            && query.cursor.is_none()
            && query.sort_by.is_none()
            && query.namespace.is_none()
            && query
                .filter
                .is_some_and(|filter| is_point_filter(resource, filter));
        let statement = select.build();
        let mut inline = None;
        let mut rows = Vec::new();
        if limit > 0 {
            match point
                .then(|| self.inline_page(resource, &statement))
                .flatten()
            {
                Some(page) => inline = Some(page?),
                None => rows = self.conn().query_all_raw(statement).await?,
            }
        }
        let mut next_cursor = String::new();
        if cursor_mode && rows.len() as u64 > limit {
            rows.truncate(limit as usize);
            if let Some(last) = rows.last() {
                next_cursor = encode_cursor(
                    last.try_get("", "created_at")?,
                    &last.try_get::<String>("", "id")?,
                );
            }
        }
        // When the page is not full it is the last one, and its length gives the total without a
        // COUNT (a lookup by userName is then one indexed query).
        let row_count = inline.as_ref().map_or(rows.len(), InlineRows::len) as u64;
        let short_page = limit > 0 && row_count < limit;
        let settled_total = if cursor_mode {
            (after.is_none() && next_cursor.is_empty() && limit > 0).then_some(row_count)
        } else {
            (short_page && (row_count > 0 || offset == 0)).then_some(offset + row_count)
        };
        let total = if let Some(total) = settled_total {
            total as i64
        } else {
            let mut count_sql = Sql::new(self.backend);
            count_sql
                .push("SELECT COUNT(*) AS total FROM ")
                .push(from)
                .bind(org_id);
            if let Some(filter) = query.filter {
                count_sql.push(" AND ");
                FilterCompiler::new(resource, org_id)
                    .with_namespace(query.namespace)
                    .compile(&mut count_sql, filter)?;
            }
            self.conn()
                .query_one_raw(count_sql.build())
                .await?
                .map(|row| row.try_get::<i64>("", "total"))
                .transpose()?
                .unwrap_or(0)
        };
        let start_index = if cursor_mode { 0 } else { offset as i64 + 1 };
        Ok(ListPage {
            total,
            start_index,
            rows,
            inline,
            next_cursor,
        })
    }
}

/// Reads back the settings durability depends on, logs them, and refuses to run on a PostgreSQL
/// server that acknowledges commits before they are durable (SECURITY-TESTS 5.G.41).
async fn log_durability(db: &DatabaseConnection, backend: DbBackend) -> anyhow::Result<()> {
    let read = |sql: &'static str| async move {
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(backend, sql))
            .await?;
        let value = match row {
            Some(row) => row.try_get_by_index::<String>(0).or_else(|_| {
                row.try_get_by_index::<i64>(0)
                    .map(|number| number.to_string())
            })?,
            None => String::new(),
        };
        Ok::<_, sea_orm::DbErr>(value)
    };
    if backend == DbBackend::Postgres {
        let fsync = read("SHOW fsync").await?;
        let synchronous_commit = read("SHOW synchronous_commit").await?;
        tracing::info!(%fsync, %synchronous_commit, "postgresql durability settings");
        if fsync == "off" {
            anyhow::bail!(
                "PostgreSQL runs with fsync=off: acknowledged writes could be lost; refusing to start"
            );
        }
    } else {
        let journal_mode = read("PRAGMA journal_mode").await?;
        let synchronous = read("PRAGMA synchronous").await?;
        let foreign_keys = read("PRAGMA foreign_keys").await?;
        tracing::info!(%journal_mode, %synchronous, %foreign_keys, "sqlite durability settings");
        if foreign_keys != "1" {
            anyhow::bail!("SQLite foreign keys are off; refusing to start");
        }
    }
    Ok(())
}

/// Microseconds since the epoch as a protobuf timestamp.
pub fn timestamp(micros: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: micros.div_euclid(1_000_000),
        nanos: (micros.rem_euclid(1_000_000) * 1000) as i32,
    }
}

/// A protobuf timestamp as microseconds since the epoch.
pub fn micros(timestamp: &prost_types::Timestamp) -> i64 {
    timestamp
        .seconds
        .saturating_mul(1_000_000)
        .saturating_add(i64::from(timestamp.nanos) / 1000)
}

/// Checks that exactly `1` row was changed, else reports a missing resource.
fn expect_one(rows: u64, kind: &str) -> CoreResult<()> {
    if rows == 1 {
        Ok(())
    } else {
        Err(CoreError::not_found(kind))
    }
}

#[cfg(test)]
mod tests {
    use super::{Store, StoreOptions};
    use crate::domain::clock::Clock;
    use sea_orm::{ConnectionTrait, DbBackend, Statement};

    async fn mmap_size(store: &Store) -> i64 {
        let row = store
            .db
            .query_one_raw(Statement::from_string(
                DbBackend::Sqlite,
                "PRAGMA mmap_size",
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get_by_index::<i64>(0).unwrap()
    }

    /// Every pooled connection maps what the option says, and 0 turns the map off.
    #[tokio::test]
    async fn sqlite_connections_map_what_the_option_says() {
        let dir = std::env::temp_dir().join(format!("roster-mmap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (file, bytes) in [("default.db", super::DEFAULT_MMAP_BYTES), ("off.db", 0)] {
            let url = format!("sqlite://{}?mode=rwc", dir.join(file).display());
            let options = StoreOptions {
                mmap_bytes: bytes,
                ..StoreOptions::new(url)
            };
            let store = Store::connect(&options, Clock::system()).await.unwrap();
            assert_eq!(mmap_size(&store).await, bytes as i64, "{file}");
            store.close().await;
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
