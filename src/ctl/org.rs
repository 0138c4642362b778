//! `rosterctl org`: the caller's organization, and creating and listing organizations (scope
//! `system`).

use anyhow::Result;
use clap::Subcommand;
use roster::pb::{
    CreateOrganizationRequest, GetOrganizationRequest, ListOrganizationsRequest, Organization,
};
use serde_json::{Value, json};

use super::conn::Connection;
use super::output::{Report, render_fields, render_table, timestamp_json, timestamp_text};
use super::token;

/// Organization commands.
#[derive(Subcommand)]
pub enum OrgCommand {
    /// Show the organization of the calling token.
    Get,
    /// Create an organization and its first admin token (needs scope `system`).
    Create {
        /// Unique handle: lowercase letters, digits and `-`, starting with a letter.
        name: String,
        /// Human-readable name (defaults to NAME).
        #[arg(long)]
        display_name: Option<String>,
    },
    /// List all organizations (needs scope `system`).
    List,
}

/// Runs an organization command.
pub async fn run(command: OrgCommand, conn: &Connection) -> Result<Report> {
    let mut client = conn.organizations();
    match command {
        OrgCommand::Get => {
            let org = client
                .get_organization(GetOrganizationRequest {})
                .await?
                .into_inner();
            Ok(Report::new(
                org_json(&org),
                render_fields(&org_fields(&org)),
            ))
        }
        OrgCommand::Create { name, display_name } => {
            let request = CreateOrganizationRequest {
                name,
                display_name: display_name.unwrap_or_default(),
            };
            let response = client.create_organization(request).await?.into_inner();
            let org = response.organization.unwrap_or_default();
            let admin = response.admin_token.unwrap_or_default();
            let json = json!({
                "organization": org_json(&org),
                "adminToken": token::created_json(&admin),
            });
            let text = format!(
                "{}\nadmin token:\n{}",
                render_fields(&org_fields(&org)),
                token::created_text(&admin)
            );
            Ok(Report::new(json, text).with_note(token::SECRET_NOTE))
        }
        OrgCommand::List => {
            let orgs = client
                .list_organizations(ListOrganizationsRequest {})
                .await?
                .into_inner()
                .organizations;
            let json = json!({ "organizations": orgs.iter().map(org_json).collect::<Vec<_>>() });
            let rows: Vec<Vec<String>> = orgs.iter().map(org_row).collect();
            let text = render_table(&["ID", "NAME", "DISPLAY NAME", "CREATED"], &rows);
            Ok(Report::new(json, text))
        }
    }
}

/// An organization as JSON.
fn org_json(org: &Organization) -> Value {
    json!({
        "id": org.id,
        "name": org.name,
        "displayName": org.display_name,
        "created": timestamp_json(org.created.as_ref()),
    })
}

/// An organization as `label value` pairs.
fn org_fields(org: &Organization) -> Vec<(&'static str, String)> {
    vec![
        ("id", org.id.clone()),
        ("name", org.name.clone()),
        ("display name", org.display_name.clone()),
        ("created", timestamp_text(org.created.as_ref())),
    ]
}

/// An organization as a row of `org list`.
fn org_row(org: &Organization) -> Vec<String> {
    vec![
        org.id.clone(),
        org.name.clone(),
        org.display_name.clone(),
        timestamp_text(org.created.as_ref()),
    ]
}
