//! The one status table. Every error the core returns is one of these codes, attached to the gRPC
//! status as an encoded [`pb::ErrorDetail`]; the facade reads it back to render a SCIM error.

use crate::pb;
use prost::Message;

/// What went wrong, independent of the protocol that reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// A value is malformed or out of range: INVALID_ARGUMENT, 400 `invalidValue`.
    InvalidValue,
    /// The request cannot be parsed: INVALID_ARGUMENT, 400 `invalidSyntax`.
    InvalidSyntax,
    /// A filter is malformed, too deep or names an unknown attribute: INVALID_ARGUMENT, 400 `invalidFilter`.
    InvalidFilter,
    /// An attribute path is unknown: INVALID_ARGUMENT, 400 `invalidPath`.
    InvalidPath,
    /// A pagination cursor is malformed: INVALID_ARGUMENT, 400 `invalidCursor` (RFC 9865).
    InvalidCursor,
    /// A read-only attribute was written: INVALID_ARGUMENT, 400 `mutability`.
    Mutability,
    /// Too many results or operations: INVALID_ARGUMENT, 400 `tooMany`.
    TooMany,
    /// A unique value is taken: ALREADY_EXISTS, 409 `uniqueness`.
    Uniqueness,
    /// The expected version does not match: FAILED_PRECONDITION, 412.
    VersionMismatch,
    /// No such resource in the caller's organization: NOT_FOUND, 404.
    NotFound,
    /// Missing, malformed, expired or revoked credentials: UNAUTHENTICATED, 401.
    Unauthenticated,
    /// The credentials are valid but lack the permission: PERMISSION_DENIED, 403.
    Forbidden,
    /// The request is too large: RESOURCE_EXHAUSTED, 413.
    TooLarge,
    /// The server failed; details are logged, not returned: INTERNAL, 500.
    Internal,
    /// The server cannot serve now (for example shutting down, or a DNS resolver it needs does
    /// not answer): UNAVAILABLE, 503.
    Unavailable,
    /// The request is well formed but the state it needs does not hold (a domain's challenge TXT
    /// record is missing or holds another value): FAILED_PRECONDITION, 400 `failedPrecondition`.
    FailedPrecondition,
}

impl ErrorCode {
    /// Every code, for tests and documentation.
    pub const ALL: [ErrorCode; 16] = [
        Self::InvalidValue,
        Self::InvalidCursor,
        Self::InvalidSyntax,
        Self::InvalidFilter,
        Self::InvalidPath,
        Self::Mutability,
        Self::TooMany,
        Self::Uniqueness,
        Self::VersionMismatch,
        Self::NotFound,
        Self::Unauthenticated,
        Self::Forbidden,
        Self::TooLarge,
        Self::Internal,
        Self::Unavailable,
        Self::FailedPrecondition,
    ];

    /// The gRPC status code.
    pub fn grpc_code(self) -> tonic::Code {
        use tonic::Code;
        match self {
            Self::InvalidValue
            | Self::InvalidSyntax
            | Self::InvalidFilter
            | Self::InvalidPath
            | Self::InvalidCursor
            | Self::Mutability
            | Self::TooMany => Code::InvalidArgument,
            Self::Uniqueness => Code::AlreadyExists,
            Self::VersionMismatch => Code::FailedPrecondition,
            Self::NotFound => Code::NotFound,
            Self::Unauthenticated => Code::Unauthenticated,
            Self::Forbidden => Code::PermissionDenied,
            Self::TooLarge => Code::ResourceExhausted,
            Self::Internal => Code::Internal,
            Self::Unavailable => Code::Unavailable,
            Self::FailedPrecondition => Code::FailedPrecondition,
        }
    }

    /// The HTTP status the SCIM facade answers with.
    pub fn http_status(self) -> u16 {
        match self {
            Self::InvalidValue
            | Self::InvalidSyntax
            | Self::InvalidFilter
            | Self::InvalidPath
            | Self::InvalidCursor
            | Self::Mutability
            | Self::TooMany
            | Self::FailedPrecondition => 400,
            Self::Uniqueness => 409,
            Self::VersionMismatch => 412,
            Self::NotFound => 404,
            Self::Unauthenticated => 401,
            Self::Forbidden => 403,
            Self::TooLarge => 413,
            Self::Internal => 500,
            Self::Unavailable => 503,
        }
    }

    /// The SCIM `scimType` (RFC 7644 §3.12), where one is defined.
    pub fn scim_type(self) -> Option<&'static str> {
        match self {
            Self::InvalidValue => Some("invalidValue"),
            Self::InvalidSyntax => Some("invalidSyntax"),
            Self::InvalidFilter => Some("invalidFilter"),
            Self::InvalidPath => Some("invalidPath"),
            Self::InvalidCursor => Some("invalidCursor"),
            Self::Mutability => Some("mutability"),
            Self::TooMany => Some("tooMany"),
            Self::Uniqueness => Some("uniqueness"),
            _ => None,
        }
    }

    /// The machine reason carried in [`pb::ErrorDetail::reason`].
    pub fn reason(self) -> &'static str {
        match self {
            Self::VersionMismatch => "versionMismatch",
            Self::NotFound => "notFound",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::TooLarge => "tooLarge",
            Self::Internal => "internal",
            Self::Unavailable => "unavailable",
            Self::FailedPrecondition => "failedPrecondition",
            other => other.scim_type().unwrap_or("internal"),
        }
    }

    /// The code for a machine reason, if it is one of ours.
    pub fn from_reason(reason: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|code| code.reason() == reason)
    }
}

/// Builds a gRPC status carrying the code's reason and the field at fault as details.
pub fn status(code: ErrorCode, field: &str, message: impl Into<String>) -> tonic::Status {
    let detail = pb::ErrorDetail {
        reason: code.reason().to_owned(),
        field: field.to_owned(),
    };
    tonic::Status::with_details(code.grpc_code(), message, detail.encode_to_vec().into())
}

/// Reads the [`ErrorCode`] and field back from a status; falls back on the gRPC code alone for
/// statuses that did not come from the core (transport errors).
pub fn error_detail(status: &tonic::Status) -> (ErrorCode, String) {
    if let Ok(detail) = pb::ErrorDetail::decode(status.details())
        && let Some(code) = ErrorCode::from_reason(&detail.reason)
    {
        return (code, detail.field);
    }
    use tonic::Code;
    let code = match status.code() {
        Code::InvalidArgument => ErrorCode::InvalidValue,
        // tonic reports a message over the size limit as OUT_OF_RANGE.
        Code::OutOfRange => ErrorCode::TooLarge,
        Code::AlreadyExists => ErrorCode::Uniqueness,
        Code::FailedPrecondition | Code::Aborted => ErrorCode::VersionMismatch,
        Code::NotFound => ErrorCode::NotFound,
        Code::Unauthenticated => ErrorCode::Unauthenticated,
        Code::PermissionDenied => ErrorCode::Forbidden,
        Code::ResourceExhausted => ErrorCode::TooLarge,
        Code::Unavailable => ErrorCode::Unavailable,
        _ => ErrorCode::Internal,
    };
    (code, String::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_round_trips() {
        for code in ErrorCode::ALL {
            assert_eq!(
                ErrorCode::from_reason(code.reason()),
                Some(code),
                "{code:?}"
            );
        }
    }

    #[test]
    fn status_carries_reason_and_field() {
        let status = status(
            ErrorCode::Uniqueness,
            "user_name",
            "user_name is already taken",
        );
        assert_eq!(status.code(), tonic::Code::AlreadyExists);
        assert_eq!(
            error_detail(&status),
            (ErrorCode::Uniqueness, "user_name".to_owned())
        );
        assert_eq!(ErrorCode::Uniqueness.http_status(), 409);
    }
}
