//! `rosterctl domain`: the organization's domains and their verification by a DNS TXT record.
//! Reads need scope `scim:read`, registration, verification and deletion `admin`, and marking a
//! domain verified by hand `system` (the operator).

use anyhow::Result;
use clap::Subcommand;
use roster::pb::{
    DeleteDomainRequest, Domain, DomainStatus, ListDomainsRequest, MarkDomainVerifiedRequest,
    RegisterDomainRequest, VerifyDomainRequest,
};
use serde_json::{Value, json};

use super::conn::Connection;
use super::output::{Report, render_fields, render_table, timestamp_json, timestamp_text};

/// Domain commands.
#[derive(Subcommand)]
pub enum DomainCommand {
    /// Register a domain (needs scope `admin`); prints the TXT record to publish.
    Register {
        /// The domain name (`example.com`; case and a trailing dot are ignored).
        name: String,
    },
    /// List the organization's domains.
    List,
    /// Look up the domain's TXT record and verify it when it holds the challenge (needs `admin`).
    Verify {
        /// The domain's id.
        id: String,
    },
    /// Mark a domain verified without a DNS lookup (needs scope `system`: the operator).
    MarkVerified {
        /// The domain's id.
        id: String,
        /// The organization it belongs to (default: the token's own).
        #[arg(long)]
        organization: Option<String>,
    },
    /// Delete a domain (needs `admin`).
    Delete {
        /// The domain's id.
        id: String,
    },
}

/// Runs a domain command.
pub async fn run(command: DomainCommand, conn: &Connection) -> Result<Report> {
    let mut client = conn.domains();
    match command {
        DomainCommand::Register { name } => {
            let domain = client
                .register_domain(RegisterDomainRequest { name })
                .await?
                .into_inner();
            Ok(details(&domain))
        }
        DomainCommand::List => {
            let domains = client
                .list_domains(ListDomainsRequest {})
                .await?
                .into_inner()
                .domains;
            let json = json!({ "domains": domains.iter().map(domain_json).collect::<Vec<_>>() });
            let rows: Vec<Vec<String>> = domains
                .iter()
                .map(|domain| {
                    vec![
                        domain.id.clone(),
                        domain.name.clone(),
                        status_name(domain).to_owned(),
                        dash(&domain.verified_by),
                        timestamp_text(domain.created.as_ref()),
                    ]
                })
                .collect();
            let text = render_table(&["ID", "NAME", "STATUS", "VERIFIED BY", "CREATED"], &rows);
            Ok(Report::new(json, text))
        }
        DomainCommand::Verify { id } => {
            let domain = client
                .verify_domain(VerifyDomainRequest { id })
                .await?
                .into_inner();
            Ok(details(&domain))
        }
        DomainCommand::MarkVerified { id, organization } => {
            let request = MarkDomainVerifiedRequest {
                id,
                organization_id: organization.unwrap_or_default(),
            };
            let domain = client.mark_domain_verified(request).await?.into_inner();
            Ok(details(&domain))
        }
        DomainCommand::Delete { id } => {
            let domain = client
                .delete_domain(DeleteDomainRequest { id })
                .await?
                .into_inner()
                .domain
                .unwrap_or_default();
            Ok(details(&domain))
        }
    }
}

fn dash(value: &str) -> String {
    if value.is_empty() {
        "-".to_owned()
    } else {
        value.to_owned()
    }
}

/// `pending` or `verified`.
fn status_name(domain: &Domain) -> &'static str {
    match domain.status() {
        DomainStatus::Pending => "pending",
        DomainStatus::Verified => "verified",
        DomainStatus::Unspecified => "unspecified",
    }
}

/// A domain as JSON.
fn domain_json(domain: &Domain) -> Value {
    json!({
        "id": domain.id,
        "name": domain.name,
        "status": status_name(domain),
        "challengeRecordName": domain.challenge_record_name,
        "challengeValue": domain.challenge_value,
        "created": timestamp_json(domain.created.as_ref()),
        "verifiedAt": timestamp_json(domain.verified_at.as_ref()),
        "verifiedBy": if domain.verified_by.is_empty() { Value::Null } else { domain.verified_by.clone().into() },
    })
}

/// One domain, with the record to publish while it is pending.
fn details(domain: &Domain) -> Report {
    let mut fields = vec![
        ("id", domain.id.clone()),
        ("name", domain.name.clone()),
        ("status", status_name(domain).to_owned()),
        ("TXT record name", domain.challenge_record_name.clone()),
        ("TXT record value", domain.challenge_value.clone()),
        ("created", timestamp_text(domain.created.as_ref())),
    ];
    if domain.status() == DomainStatus::Verified {
        fields.push(("verified", timestamp_text(domain.verified_at.as_ref())));
        fields.push(("verified by", domain.verified_by.clone()));
    } else {
        fields.push((
            "next",
            format!(
                "publish the TXT record above, then: rosterctl domain verify {}",
                domain.id
            ),
        ));
    }
    Report::new(domain_json(domain), render_fields(&fields))
}
