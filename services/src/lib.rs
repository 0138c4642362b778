//! Roster's core: the domain rules, storage on SQLite or PostgreSQL, the gRPC services and the
//! `rosterd` start-up. It depends on the contract (`roster`), the schema (`roster-migrations`) and
//! mounts the SCIM facade (`roster-scim`) in-process; nothing depends on it but binaries and tests.

pub mod config;
pub mod dns;
pub mod domain;
pub mod error;
pub mod grpc;
pub mod http;
pub mod policy;
pub mod startup;
pub mod store;
pub mod telemetry;
