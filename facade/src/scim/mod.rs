//! SCIM wire handling with no I/O: errors, paths and filters, the schema table, resource
//! conversion, PATCH, projection and discovery documents.

pub mod discovery;
pub mod error;
pub mod filter;
pub mod patch;
pub mod path;
pub mod projection;
pub mod resource;
pub mod schema;
