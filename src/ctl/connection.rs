//! `rosterctl connection`: the organization's provisioning connections (an identity provider's
//! named link, "Okta production"; its tokens are minted with `token create --connection`). Every
//! command needs scope `admin`.

use anyhow::{Result, bail};
use clap::Subcommand;
use clap::builder::PossibleValuesParser;
use roster::pb::{
    Connection as ConnectionMessage, ConnectionKind, CreateConnectionRequest,
    DeleteConnectionRequest, GetConnectionRequest, IpAllowList, ListConnectionsRequest,
    UpdateConnectionRequest,
};
use serde_json::{Value, json};

use super::conn::Connection;
use super::output::{Report, render_fields, render_table, timestamp_json, timestamp_text};

/// Connection commands.
#[derive(Subcommand)]
pub enum ConnectionCommand {
    /// Create a connection.
    Create {
        /// What people see, such as "Okta production" (1-128 characters, unique ignoring case).
        name: String,
        /// The identity provider.
        #[arg(long, value_parser = PossibleValuesParser::new(["okta", "entra", "generic"]))]
        kind: String,
        /// A CIDR block (or one address) its tokens may be used from; repeat for several. Any
        /// address when omitted.
        #[arg(long = "allow-ip", value_name = "CIDR")]
        allow_ips: Vec<String>,
    },
    /// List the organization's connections.
    List,
    /// Show one connection.
    Get {
        /// The connection's id or name.
        id_or_name: String,
    },
    /// Rename a connection or replace its IP allow-list.
    Update {
        /// The connection's id or name.
        id_or_name: String,
        /// A new name.
        #[arg(long)]
        name: Option<String>,
        /// A CIDR block for the new allow-list; repeat for several (replaces the old list).
        #[arg(
            long = "allow-ip",
            value_name = "CIDR",
            conflicts_with = "allow_any_ip"
        )]
        allow_ips: Vec<String>,
        /// Clear the allow-list: any address may use the connection's tokens.
        #[arg(long)]
        allow_any_ip: bool,
    },
    /// Delete a connection and revoke all its tokens.
    Delete {
        /// The connection's id or name.
        id_or_name: String,
    },
}

/// Runs a connection command.
pub async fn run(command: ConnectionCommand, conn: &Connection) -> Result<Report> {
    let mut client = conn.connections();
    match command {
        ConnectionCommand::Create {
            name,
            kind,
            allow_ips,
        } => {
            let kind = match kind.as_str() {
                "okta" => ConnectionKind::Okta,
                "entra" => ConnectionKind::Entra,
                _ => ConnectionKind::Generic,
            };
            let created = client
                .create_connection(CreateConnectionRequest {
                    name,
                    kind: kind as i32,
                    ip_allow_list: allow_ips,
                })
                .await?
                .into_inner();
            Ok(single(&created).with_note(format!(
                "next: rosterctl token create \"{}\" --connection {} --scope scim:read --scope scim:write",
                created.name, created.id
            )))
        }
        ConnectionCommand::List => {
            let connections = client
                .list_connections(ListConnectionsRequest {})
                .await?
                .into_inner()
                .connections;
            let json = json!({
                "connections": connections.iter().map(connection_json).collect::<Vec<_>>()
            });
            let rows: Vec<Vec<String>> = connections
                .iter()
                .map(|connection| {
                    vec![
                        connection.id.clone(),
                        connection.name.clone(),
                        kind_name(connection).to_owned(),
                        allow_list_text(connection),
                        timestamp_text(connection.created.as_ref()),
                    ]
                })
                .collect();
            let text = render_table(&["ID", "NAME", "KIND", "IP ALLOW-LIST", "CREATED"], &rows);
            Ok(Report::new(json, text))
        }
        ConnectionCommand::Get { id_or_name } => {
            let id = resolve(conn, &id_or_name).await?;
            let connection = client
                .get_connection(GetConnectionRequest { id })
                .await?
                .into_inner();
            Ok(single(&connection))
        }
        ConnectionCommand::Update {
            id_or_name,
            name,
            allow_ips,
            allow_any_ip,
        } => {
            if name.is_none() && allow_ips.is_empty() && !allow_any_ip {
                bail!("nothing to change: pass --name, --allow-ip or --allow-any-ip");
            }
            let id = resolve(conn, &id_or_name).await?;
            let ip_allow_list =
                (allow_any_ip || !allow_ips.is_empty()).then_some(IpAllowList { cidrs: allow_ips });
            let connection = client
                .update_connection(UpdateConnectionRequest {
                    id,
                    name,
                    ip_allow_list,
                })
                .await?
                .into_inner();
            Ok(single(&connection))
        }
        ConnectionCommand::Delete { id_or_name } => {
            let id = resolve(conn, &id_or_name).await?;
            let deleted = client
                .delete_connection(DeleteConnectionRequest { id })
                .await?
                .into_inner();
            let connection = deleted.connection.unwrap_or_default();
            let mut json = connection_json(&connection);
            json["revokedTokens"] = deleted.revoked_tokens.into();
            let mut fields = fields(&connection);
            fields.push(("revoked tokens", deleted.revoked_tokens.to_string()));
            Ok(Report::new(json, render_fields(&fields)))
        }
    }
}

/// The id of the connection named by `id_or_name`: a UUID is taken as it is; anything else is
/// looked up by name, ignoring case, among the organization's connections.
pub async fn resolve(conn: &Connection, id_or_name: &str) -> Result<String> {
    if uuid_like(id_or_name) {
        return Ok(id_or_name.to_owned());
    }
    let connections = conn
        .connections()
        .list_connections(ListConnectionsRequest {})
        .await?
        .into_inner()
        .connections;
    let wanted = id_or_name.to_lowercase();
    match connections
        .iter()
        .find(|connection| connection.name.to_lowercase() == wanted)
    {
        Some(connection) => Ok(connection.id.clone()),
        None => bail!("no connection named {id_or_name:?} (rosterctl connection list shows them)"),
    }
}

/// Whether `text` has the shape of a UUID (32 hex digits, with or without the four hyphens).
fn uuid_like(text: &str) -> bool {
    let digits: String = text.chars().filter(|c| *c != '-').collect();
    let hyphens = text.len() - digits.len();
    digits.len() == 32
        && (hyphens == 0 || hyphens == 4)
        && digits.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `okta`, `entra` or `generic`.
fn kind_name(connection: &ConnectionMessage) -> &'static str {
    match connection.kind() {
        ConnectionKind::Okta => "okta",
        ConnectionKind::Entra => "entra",
        ConnectionKind::Generic => "generic",
        ConnectionKind::Unspecified => "unspecified",
    }
}

fn allow_list_text(connection: &ConnectionMessage) -> String {
    if connection.ip_allow_list.is_empty() {
        "any".to_owned()
    } else {
        connection.ip_allow_list.join(",")
    }
}

/// A connection as JSON.
fn connection_json(connection: &ConnectionMessage) -> Value {
    json!({
        "id": connection.id,
        "name": connection.name,
        "kind": kind_name(connection),
        "ipAllowList": connection.ip_allow_list,
        "created": timestamp_json(connection.created.as_ref()),
        "createdBy": connection.created_by,
        "updated": timestamp_json(connection.updated.as_ref()),
    })
}

fn fields(connection: &ConnectionMessage) -> Vec<(&'static str, String)> {
    vec![
        ("id", connection.id.clone()),
        ("name", connection.name.clone()),
        ("kind", kind_name(connection).to_owned()),
        ("IP allow-list", allow_list_text(connection)),
        ("created", timestamp_text(connection.created.as_ref())),
        ("created by", connection.created_by.clone()),
        ("updated", timestamp_text(connection.updated.as_ref())),
    ]
}

fn single(connection: &ConnectionMessage) -> Report {
    Report::new(
        connection_json(connection),
        render_fields(&fields(connection)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_told_from_names() {
        assert!(uuid_like("0b6c4a8e-8f2e-4c1a-9d8e-2f3a4b5c6d7e"));
        assert!(uuid_like("0b6c4a8e8f2e4c1a9d8e2f3a4b5c6d7e"));
        assert!(!uuid_like("Okta production"));
        assert!(!uuid_like("0b6c4a8e-8f2e-4c1a-9d8e"));
    }
}
