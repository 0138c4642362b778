//! The pieces of `rosterctl`: the connection to the server, output rendering, filter building and
//! one module per resource (its subcommands and how its messages are printed).

pub mod audit;
pub mod conn;
pub mod connection;
pub mod domain;
pub mod filter;
pub mod group;
pub mod org;
pub mod output;
pub mod policy;
pub mod role;
pub mod token;
pub mod user;

#[cfg(test)]
mod mock_tests;
