//! `rosterctl`, the command-line client of Roster's v1 gRPC API. It manages the caller's
//! organization, API tokens, users, groups and roles, and reads the audit log; every call
//! authenticates with a bearer token (`--token` or `ROSTER_TOKEN`, never printed). Output is an
//! aligned table, or one JSON object with `--json`. Failures print `error: ...` to stderr and exit
//! with 1 (2 for usage errors).

#[path = "../ctl/mod.rs"]
mod ctl;

use std::io;
use std::process::ExitCode;

use anyhow::Result;
use clap::error::ErrorKind;
use clap::{CommandFactory, Parser, Subcommand};

use ctl::audit::AuditCommand;
use ctl::conn::{Connection, describe_error, parse_server_url};
use ctl::connection::ConnectionCommand;
use ctl::domain::DomainCommand;
use ctl::group::GroupCommand;
use ctl::org::OrgCommand;
use ctl::output::Report;
use ctl::policy::PolicyCommand;
use ctl::role::RoleCommand;
use ctl::token::TokenCommand;
use ctl::user::UserCommand;

/// The help heading of the flags every command takes.
const GLOBAL: &str = "Global options";

/// Command-line client for the Roster identity API.
#[derive(Parser)]
#[command(name = "rosterctl", version)]
struct Cli {
    /// The server's gRPC URL.
    #[arg(
        long,
        env = "ROSTER_SERVER",
        default_value = "http://127.0.0.1:50051",
        value_parser = parse_server_url,
        global = true,
        help_heading = GLOBAL
    )]
    server: String,
    /// The API token secret to authenticate with (required).
    #[arg(
        long,
        env = "ROSTER_TOKEN",
        hide_env_values = true,
        global = true,
        help_heading = GLOBAL
    )]
    token: Option<String>,
    /// Print one JSON object instead of a table.
    #[arg(long, global = true, help_heading = GLOBAL)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Organizations.
    #[command(subcommand)]
    Org(OrgCommand),
    /// API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Provisioning connections (an identity provider's named link and IP allow-list).
    #[command(subcommand)]
    Connection(ConnectionCommand),
    /// Users.
    #[command(subcommand)]
    User(UserCommand),
    /// Groups and their members.
    #[command(subcommand)]
    Group(GroupCommand),
    /// Roles (user types): the catalog, assignments and effective roles.
    #[command(subcommand)]
    Role(RoleCommand),
    /// Domains: register, verify by a DNS TXT record, list, delete.
    #[command(subcommand)]
    Domain(DomainCommand),
    /// The audit log: list events, or tail new ones.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// The authorization policy (casbin rules): list, allow, deny, group, remove, explain.
    #[command(subcommand)]
    Policy(PolicyCommand),
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let Some(token) = cli.token else {
        Cli::command()
            .error(
                ErrorKind::MissingRequiredArgument,
                "a token is required: pass --token or set ROSTER_TOKEN",
            )
            .exit();
    };
    let report = match run(cli.command, &cli.server, &token, cli.json).await {
        Ok(report) => report,
        Err(err) => {
            eprintln!("error: {}", describe_error(&err, &cli.server));
            return ExitCode::FAILURE;
        }
    };
    match report.print(cli.json) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if err.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: cannot write output: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Connects (lazily) and runs one command.
async fn run(command: Command, server: &str, token: &str, as_json: bool) -> Result<Report> {
    let conn = Connection::new(server, token)?;
    match command {
        Command::Org(command) => ctl::org::run(command, &conn).await,
        Command::Token(command) => ctl::token::run(command, &conn).await,
        Command::Connection(command) => ctl::connection::run(command, &conn).await,
        Command::User(command) => ctl::user::run(command, &conn).await,
        Command::Group(command) => ctl::group::run(command, &conn).await,
        Command::Role(command) => ctl::role::run(command, &conn).await,
        Command::Domain(command) => ctl::domain::run(command, &conn).await,
        Command::Audit(command) => ctl::audit::run(command, &conn, as_json).await,
        Command::Policy(command) => ctl::policy::run(command, &conn).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_are_global() {
        let cli = Cli::try_parse_from([
            "rosterctl",
            "user",
            "list",
            "--json",
            "--token",
            "t",
            "--server",
            "http://h:1",
            "--user-name",
            "alice",
        ])
        .unwrap();
        assert!(cli.json);
        assert_eq!(cli.token.as_deref(), Some("t"));
        assert_eq!(cli.server, "http://h:1");
    }

    #[test]
    fn role_assignments_take_a_role_or_clear() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(["rosterctl", "--token", "t", "role"].iter().chain(args))
        };
        assert!(parse(&["assign-user", "u1", "FullMember"]).is_ok());
        assert!(parse(&["assign-user", "u1", "--clear"]).is_ok());
        assert!(parse(&["assign-user", "u1"]).is_err());
        assert!(parse(&["assign-user", "u1", "Guest", "--clear"]).is_err());
        assert!(parse(&["assign-group", "g1", "--clear"]).is_ok());
        assert!(parse(&["define", "Owner", "--rank", "500", "--default"]).is_ok());
        assert!(parse(&["define", "Owner"]).is_err());
        assert!(parse(&["define", "Owner", "--rank", "0"]).is_err());
    }

    #[test]
    fn token_create_needs_a_known_scope() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(
                ["rosterctl", "--token", "t", "token", "create", "ci"]
                    .iter()
                    .chain(args),
            )
        };
        assert!(parse(&[]).is_err());
        assert!(parse(&["--scope", "root"]).is_err());
        assert!(
            parse(&[
                "--scope",
                "scim:read",
                "--scope",
                "admin",
                "--expires-in",
                "30d"
            ])
            .is_ok()
        );
        assert!(parse(&["--scope", "admin", "--expires-in", "30x"]).is_err());
    }
}
