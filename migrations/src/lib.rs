//! Roster's schema as sea-orm migrations, run at start-up by `rosterd` on SQLite and PostgreSQL.
//! This crate owns table, index and constraint definitions only; it must never depend on the core
//! or the contract. Constraint names are part of the contract with the store, which maps a unique
//! violation to ALREADY_EXISTS by name.

pub use sea_orm_migration::prelude::*;

mod m20261127_000001_create_core_tables;
mod m20261204_000001_create_roles;
mod m20261211_000001_create_audit_events;
mod m20261211_000002_create_domains;
mod m20261212_000001_count_group_members;
mod m20261213_000001_create_connections;
mod m20261213_000002_create_external_ids;
mod m20261213_000003_create_accounts;
mod m20261220_000001_create_policy_rules;
mod m20261220_000002_unassigned_active;

/// Every migration, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_create_core_tables::Migration),
            Box::new(m20261204_000001_create_roles::Migration),
            Box::new(m20261211_000001_create_audit_events::Migration),
            Box::new(m20261211_000002_create_domains::Migration),
            Box::new(m20261212_000001_count_group_members::Migration),
            Box::new(m20261213_000001_create_connections::Migration),
            Box::new(m20261213_000002_create_external_ids::Migration),
            Box::new(m20261213_000003_create_accounts::Migration),
            Box::new(m20261220_000001_create_policy_rules::Migration),
            Box::new(m20261220_000002_unassigned_active::Migration),
        ]
    }
}
