//! SQLite's query planner stability guarantee (QPSG), switched on for every connection.
//!
//! *Why*: SQLite 3.51 reads some bound parameters while it plans a statement — a `LIMIT`/`OFFSET`,
//! a `LIKE` pattern, a value compared with a partial index's condition — and then marks the
//! statement to be planned again whenever such a parameter is bound anew. Every list page binds
//! `LIMIT ? OFFSET ?`, so every cached list statement was parsed and planned again on every run:
//! under a userName lookup load `perf` put 29% of rosterd's CPU in `sqlite3Reprepare`. With QPSG a
//! prepared statement keeps its plan; our statements' plans come from their indexes, not from the
//! bound values.

//! The bundled SQLite is built with `SQLITE_ENABLE_QPSG` (`.cargo/config.toml`), which turns it
//! on for every connection sqlx opens; the inline readers also switch it on themselves, and
//! startup warns when a build lacks it (an install that ignored the workspace's cargo config).

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};

/// Switches QPSG on for a rusqlite connection.
pub(super) fn enable(connection: &rusqlite::Connection) -> rusqlite::Result<()> {
    connection
        .set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )
        .map(|_| ())
}

/// Whether the SQLite behind `db` was built with QPSG on by default.
pub(super) async fn built_in(db: &DatabaseConnection) -> Result<bool, sea_orm::DbErr> {
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            "SELECT COUNT(*) AS n FROM pragma_compile_options WHERE compile_options = 'ENABLE_QPSG'",
        ))
        .await?;
    Ok(row
        .map(|row| row.try_get::<i64>("", "n"))
        .transpose()?
        .unwrap_or(0)
        > 0)
}

#[cfg(test)]
mod tests {
    use super::super::{Store, StoreOptions};
    use crate::domain::clock::Clock;
    use rusqlite::StatementStatus;

    /// A statement that binds its `LIMIT` runs again without being planned again, on the pool's
    /// connections and on the inline readers alike.
    #[tokio::test]
    async fn bound_limits_do_not_replan_statements() {
        let dir = std::env::temp_dir().join(format!("roster-qpsg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("plans.db");
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let store = Store::connect(&StoreOptions::new(url), Clock::system())
            .await
            .unwrap();

        assert!(super::built_in(&store.db).await.unwrap());

        // A plain connection: the build's default alone must keep the plan.
        let reader = rusqlite::Connection::open(&path).unwrap();
        let mut statement = reader
            .prepare("SELECT id FROM organizations WHERE id > ? LIMIT ? OFFSET ?")
            .unwrap();
        for limit in 1..=4_i64 {
            statement
                .query_map(rusqlite::params!["", limit, 0_i64], |_| Ok(()))
                .unwrap()
                .for_each(drop);
        }
        assert_eq!(statement.get_status(StatementStatus::RePrepare), 0);

        store.close().await;
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
