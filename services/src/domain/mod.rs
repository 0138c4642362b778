//! Rules that hold whatever the protocol: input validation (values become valid at the edge), the
//! API-token format and role precedence. Never names tonic, axum or sea-orm types.

pub mod accounts;
pub mod audit;
pub mod clock;
pub mod connection;
pub mod domains;
pub mod role;
pub mod token;
pub mod user;
pub mod validate;
