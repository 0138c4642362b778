//! externalId namespaces: each provisioning connection keeps its own externalId per user and group,
//! so Okta and Entra can both send one for the same person. Tokens without a connection keep using
//! `users.external_id` and `groups.external_id` (the default namespace); nothing existing moves.
//!
//! - `namespace` is the connection's id; `resource_kind` is `user` or `group`.
//! - The primary key (organization, kind, resource, namespace): one value per resource and
//!   namespace, and the index that reads a page's values and deletes a resource's rows.
//! - `uq_external_ids_value`: a value names one resource per organization, namespace and kind (the
//!   index a filter `externalId eq "x"` uses).
//! - Rows go with their resource: the store deletes them in the resource's delete transaction.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261213_000002_create_external_ids"
    }
}

const TABLES: &str = r#"
CREATE TABLE external_ids (
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    namespace TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    resource_kind TEXT NOT NULL CHECK (resource_kind IN ('user', 'group')),
    resource_id TEXT NOT NULL,
    external_id TEXT NOT NULL,
    PRIMARY KEY (org_id, resource_kind, resource_id, namespace)
);
CREATE UNIQUE INDEX uq_external_ids_value
    ON external_ids (org_id, namespace, resource_kind, external_id)
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let connection = manager.get_connection();
        for statement in TABLES.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            connection.execute_unprepared(statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE IF EXISTS external_ids")
            .await?;
        Ok(())
    }
}
