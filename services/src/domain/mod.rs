//! Rules that hold whatever the protocol: input validation (values become valid at the edge) and
//! the API-token format. Never names tonic, axum or sea-orm types.

pub mod clock;
pub mod token;
pub mod user;
pub mod validate;
