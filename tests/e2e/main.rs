//! End-to-end tests: each starts a real rosterd (in this process, on port 0) on a fresh database —
//! a SQLite file by default, a new PostgreSQL database when `ROSTER_TEST_DATABASE_URL` is set —
//! and speaks gRPC (and HTTP) to it over real sockets. Logs only when `TEST_LOG` is set.

mod harness;

mod audit;
mod bootstrap;
mod cli;
mod connections;
mod domains;
mod durability;
mod email_changes;
mod groups;
mod isolation;
mod paging;
mod policy;
mod roles;
mod scim_client;
mod scim_groups;
mod scim_users;
mod tokens;
mod users;
