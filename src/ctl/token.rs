//! `rosterctl token`: minting, listing and revoking API tokens (scope `admin`), and describing the
//! calling token.

use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use clap::Subcommand;
use clap::builder::PossibleValuesParser;
use prost_types::Timestamp;
use roster::pb::{
    ApiToken, CreateTokenRequest, CreateTokenResponse, GetCurrentTokenRequest, ListTokensRequest,
    RevokeTokenRequest,
};
use serde_json::{Value, json};

use super::conn::Connection;
use super::output::{Report, render_fields, render_table, timestamp_json, timestamp_text};

/// Printed (to stderr) whenever a secret is.
pub const SECRET_NOTE: &str = "the secret is shown only this once; store it now";

/// Token commands.
#[derive(Subcommand)]
pub enum TokenCommand {
    /// Mint a token in the caller's organization and print its secret (needs scope `admin`).
    Create {
        /// Label for people, such as "Okta production".
        name: String,
        /// A scope to grant; repeat for several.
        #[arg(
            long = "scope",
            value_name = "SCOPE",
            required = true,
            value_parser = PossibleValuesParser::new(roster::scopes::ALL)
        )]
        scopes: Vec<String>,
        /// Lifetime: a whole number and a unit, s, m, h or d (30d, 12h, 90m, 3600s). No expiry when
        /// omitted.
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        expires_in: Option<Duration>,
        /// The connection the token belongs to (its id or name): an identity provider's token.
        #[arg(long, value_name = "ID_OR_NAME")]
        connection: Option<String>,
    },
    /// List the organization's tokens, newest first (needs scope `admin`).
    List {
        /// Include revoked tokens.
        #[arg(long)]
        include_revoked: bool,
    },
    /// Revoke a token; it is refused from its next request on (needs scope `admin`).
    Revoke {
        /// The token's id.
        id: String,
    },
    /// Describe the calling token.
    Whoami,
}

/// Runs a token command.
pub async fn run(command: TokenCommand, conn: &Connection) -> Result<Report> {
    let mut client = conn.tokens();
    match command {
        TokenCommand::Create {
            name,
            scopes,
            expires_in,
            connection,
        } => {
            let expires_at = expires_in.map(expiry).transpose()?;
            let connection_id = match connection {
                Some(connection) => super::connection::resolve(conn, &connection).await?,
                None => String::new(),
            };
            let request = CreateTokenRequest {
                name,
                scopes,
                expires_at,
                connection_id,
            };
            let created = client.create_token(request).await?.into_inner();
            Ok(Report::new(created_json(&created), created_text(&created)).with_note(SECRET_NOTE))
        }
        TokenCommand::List { include_revoked } => {
            let tokens = client
                .list_tokens(ListTokensRequest { include_revoked })
                .await?
                .into_inner()
                .tokens;
            let json = json!({ "tokens": tokens.iter().map(token_json).collect::<Vec<_>>() });
            let now = SystemTime::now();
            let rows: Vec<Vec<String>> = tokens.iter().map(|token| token_row(token, now)).collect();
            let header = [
                "ID",
                "NAME",
                "CONNECTION",
                "PREFIX",
                "SCOPES",
                "STATUS",
                "EXPIRES",
                "LAST USED",
            ];
            Ok(Report::new(json, render_table(&header, &rows)))
        }
        TokenCommand::Revoke { id } => {
            let token = client
                .revoke_token(RevokeTokenRequest { id })
                .await?
                .into_inner();
            Ok(single(&token))
        }
        TokenCommand::Whoami => {
            let token = client
                .get_current_token(GetCurrentTokenRequest {})
                .await?
                .into_inner();
            Ok(single(&token))
        }
    }
}

/// Parses a lifetime such as `30d`, `12h`, `90m` or `3600s`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    const HINT: &str = "expected a whole number and a unit s, m, h or d, like 30d";
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("missing unit: {HINT}"))?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| HINT.to_owned())?;
    let unit_seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 60 * 60,
        "d" => 24 * 60 * 60,
        _ => return Err(format!("unknown unit {unit:?}: {HINT}")),
    };
    match number.checked_mul(unit_seconds) {
        Some(0) => Err("the duration must be positive".to_owned()),
        Some(seconds) => Ok(Duration::from_secs(seconds)),
        None => Err("the duration is too long".to_owned()),
    }
}

/// The instant `lifetime` from now.
fn expiry(lifetime: Duration) -> Result<Timestamp> {
    SystemTime::now()
        .checked_add(lifetime)
        .map(Timestamp::from)
        .context("--expires-in is too long")
}

/// A created token and its secret as JSON (`CreateTokenResponse`).
pub fn created_json(created: &CreateTokenResponse) -> Value {
    json!({
        "token": created.token.as_ref().map_or(Value::Null, token_json),
        "secret": created.secret,
    })
}

/// A created token and its secret as `label value` lines.
pub fn created_text(created: &CreateTokenResponse) -> String {
    let mut fields = created.token.as_ref().map(token_fields).unwrap_or_default();
    fields.push(("secret", created.secret.clone()));
    render_fields(&fields)
}

/// One token, as printed by `revoke` and `whoami`.
fn single(token: &ApiToken) -> Report {
    Report::new(token_json(token), render_fields(&token_fields(token)))
}

/// A token as JSON.
fn token_json(token: &ApiToken) -> Value {
    json!({
        "id": token.id,
        "name": token.name,
        "scopes": token.scopes,
        "organizationId": token.organization_id,
        "secretPrefix": token.secret_prefix,
        "created": timestamp_json(token.created.as_ref()),
        "createdBy": token.created_by,
        "expiresAt": timestamp_json(token.expires_at.as_ref()),
        "lastUsedAt": timestamp_json(token.last_used_at.as_ref()),
        "revokedAt": timestamp_json(token.revoked_at.as_ref()),
        "connectionId": if token.connection_id.is_empty() { Value::Null } else { token.connection_id.clone().into() },
        "connectionName": if token.connection_name.is_empty() { Value::Null } else { token.connection_name.clone().into() },
    })
}

/// A token as `label value` pairs.
fn token_fields(token: &ApiToken) -> Vec<(&'static str, String)> {
    vec![
        ("id", token.id.clone()),
        ("name", token.name.clone()),
        ("scopes", token.scopes.join(",")),
        ("organization", token.organization_id.clone()),
        ("secret prefix", token.secret_prefix.clone()),
        ("created", timestamp_text(token.created.as_ref())),
        ("created by", token.created_by.clone()),
        ("expires", timestamp_text(token.expires_at.as_ref())),
        ("last used", timestamp_text(token.last_used_at.as_ref())),
        ("revoked", timestamp_text(token.revoked_at.as_ref())),
        ("connection", connection_text(token)),
    ]
}

/// `name (id)` of the token's connection, or `-`.
fn connection_text(token: &ApiToken) -> String {
    if token.connection_id.is_empty() {
        "-".to_owned()
    } else {
        format!("{} ({})", token.connection_name, token.connection_id)
    }
}

/// A token as a row of `token list`.
fn token_row(token: &ApiToken, now: SystemTime) -> Vec<String> {
    vec![
        token.id.clone(),
        token.name.clone(),
        if token.connection_name.is_empty() {
            "-".to_owned()
        } else {
            token.connection_name.clone()
        },
        token.secret_prefix.clone(),
        token.scopes.join(","),
        status(token, now).to_owned(),
        timestamp_text(token.expires_at.as_ref()),
        timestamp_text(token.last_used_at.as_ref()),
    ]
}

/// `revoked`, `expired` or `active`.
fn status(token: &ApiToken, now: SystemTime) -> &'static str {
    let now = Timestamp::from(now);
    if token.revoked_at.is_some() {
        "revoked"
    } else if token
        .expires_at
        .is_some_and(|at| (at.seconds, at.nanos) <= (now.seconds, now.nanos))
    {
        "expired"
    } else {
        "active"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("3600s"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("90m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("12h"), Ok(Duration::from_secs(43_200)));
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(2_592_000)));
    }

    #[test]
    fn rejects_bad_durations() {
        for text in [
            "",
            "30",
            "d",
            "1.5h",
            "-1d",
            "10y",
            "1 d",
            "0s",
            "99999999999999999999d",
        ] {
            assert!(parse_duration(text).is_err(), "{text:?} was accepted");
        }
        assert!(
            parse_duration("999999999999999999d").is_err(),
            "overflow was accepted"
        );
    }

    #[test]
    fn status_prefers_revoked_then_expired() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let at = |seconds| Some(Timestamp { seconds, nanos: 0 });
        let mut token = ApiToken::default();
        assert_eq!(status(&token, now), "active");
        token.expires_at = at(2000);
        assert_eq!(status(&token, now), "active");
        token.expires_at = at(500);
        assert_eq!(status(&token, now), "expired");
        token.revoked_at = at(400);
        assert_eq!(status(&token, now), "revoked");
    }
}
