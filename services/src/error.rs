//! The core's error: an [`ErrorCode`] from the contract's one status table, the field at fault and a
//! message a person can act on. Internal failures keep their cause for the log and return a generic
//! message, so no database text or secret reaches a client.

use roster::ErrorCode;
use sea_orm::{DbErr, SqlErr};

/// Result of a core operation.
pub type CoreResult<T> = Result<T, CoreError>;

/// An error of the core. Each [`ErrorCode`] documents its gRPC code and HTTP status.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CoreError {
    /// What went wrong.
    pub code: ErrorCode,
    /// The request field at fault (`user_name`), or empty.
    pub field: &'static str,
    /// Lowercase, no trailing period, names the field.
    pub message: String,
    /// The cause of an internal error, logged and never returned.
    #[source]
    pub source: Option<anyhow::Error>,
}

impl CoreError {
    /// An error with a code, a field and a message.
    pub fn new(code: ErrorCode, field: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            field,
            message: message.into(),
            source: None,
        }
    }

    /// INVALID_ARGUMENT (`invalidValue`) for a field.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidValue, field, message)
    }

    /// INVALID_ARGUMENT (`invalidFilter`).
    pub fn filter(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidFilter, "filter", message)
    }

    /// NOT_FOUND, worded identically whether the id is unknown or another organization's.
    pub fn not_found(kind: &str) -> Self {
        Self::new(ErrorCode::NotFound, "id", format!("{kind} not found"))
    }

    /// FAILED_PRECONDITION for a stale expected version.
    pub fn version_mismatch(current: i64) -> Self {
        Self::new(
            ErrorCode::VersionMismatch,
            "expected_version",
            format!("expected_version does not match the current version {current}"),
        )
    }

    /// PERMISSION_DENIED.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, "", message)
    }

    /// UNAUTHENTICATED.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthenticated, "authorization", message)
    }

    /// INTERNAL, keeping the cause for the log.
    pub fn internal(source: anyhow::Error) -> Self {
        Self {
            code: ErrorCode::Internal,
            field: "",
            message: "internal error".to_owned(),
            source: Some(source),
        }
    }
}

/// Unique indexes by name (PostgreSQL reports the index) and by column list (SQLite reports the
/// columns), with the request field each protects. The loser of a race gets the same answer as a
/// plain duplicate because both come through here.
const UNIQUE_CONSTRAINTS: [(&str, &str, &str, &str); 9] = [
    (
        "uq_users_org_user_name",
        "users.user_name_key",
        "user_name",
        "user_name is already taken in this organization",
    ),
    (
        "uq_users_org_external_id",
        "users.external_id",
        "external_id",
        "external_id is already taken by another user",
    ),
    (
        "uq_groups_org_display_name",
        "groups.display_name_key",
        "display_name",
        "display_name is already taken by another group",
    ),
    (
        "uq_groups_org_external_id",
        "groups.external_id",
        "external_id",
        "external_id is already taken by another group",
    ),
    // Two concurrent changes moving two accounts to one address: the second loses.
    (
        "uq_accounts_email_key",
        "accounts.email_key",
        "emails",
        "another account took this email address at the same moment; retry",
    ),
    (
        "uq_organizations_name",
        "organizations.name",
        "name",
        "name is already taken by another organization",
    ),
    // Before `uq_roles_org_name`: SQLite's column list `roles.name_key` contains `roles.name`.
    (
        "uq_roles_org_name_key",
        "roles.name_key",
        "name",
        "name differs from an existing role only in case or separators",
    ),
    (
        "uq_roles_org_name",
        "roles.name",
        "name",
        "a role with this name already exists",
    ),
    (
        "uq_roles_org_rank",
        "roles.rank",
        "rank",
        "rank is already held by another role in this organization",
    ),
];

impl From<DbErr> for CoreError {
    fn from(error: DbErr) -> Self {
        if let Some(SqlErr::UniqueConstraintViolation(message)) = error.sql_err() {
            for (index, columns, field, text) in UNIQUE_CONSTRAINTS {
                if message.contains(index) || message.contains(columns) {
                    return Self::new(ErrorCode::Uniqueness, field, text);
                }
            }
        }
        Self::internal(anyhow::Error::new(error).context("while talking to the database"))
    }
}

impl From<CoreError> for tonic::Status {
    fn from(error: CoreError) -> Self {
        if let Some(source) = &error.source {
            tracing::error!(error = ?source, "internal error");
        }
        roster::status(error.code, error.field, error.message)
    }
}
