//! `rosterctl role`: the organization's role catalog (user types), explicit and group role
//! assignments, and a user's effective role with its reason. Reads need scope `scim:read`, changes
//! `admin`.

use anyhow::Result;
use clap::{ArgGroup, Args, Subcommand};
use roster::pb::{
    AssignGroupRoleRequest, AssignGroupRoleResponse, AssignUserRoleRequest, AssignmentSource,
    DefineRoleRequest, EffectiveRole, GetEffectiveRoleRequest, ListRolesRequest, Role, RoleReason,
    assign_group_role_request, assign_user_role_request,
};
use serde_json::{Value, json};

use super::conn::Connection;
use super::output::{Report, render_fields, render_table, timestamp_json, timestamp_text};

/// Role commands.
#[derive(Subcommand)]
pub enum RoleCommand {
    /// List the role catalog, highest rank first.
    List,
    /// Create a role or change its rank (needs scope `admin`).
    Define {
        /// The exact name (letters, digits, `-`, `_`, `.`; "FullMember", not "Full Member").
        name: String,
        /// Precedence: higher outranks lower; unique in the organization.
        #[arg(long, value_parser = clap::value_parser!(i32).range(1..))]
        rank: i32,
        /// Also make it the organization's default role.
        #[arg(long)]
        default: bool,
    },
    /// Assign a role to a user explicitly, or clear the assignment (needs scope `admin`).
    AssignUser {
        /// The user's id.
        user_id: String,
        #[command(flatten)]
        assignment: Assignment,
    },
    /// Give a group's members a role, or take it away (needs scope `admin`).
    AssignGroup {
        /// The group's id.
        group_id: String,
        #[command(flatten)]
        assignment: Assignment,
    },
    /// Show a user's effective role and why the user has it.
    Effective {
        /// The user's id.
        user_id: String,
    },
}

/// A role to assign, or `--clear`.
#[derive(Args)]
#[command(group(ArgGroup::new("assignment").required(true).args(["role", "clear"])))]
pub struct Assignment {
    /// The role's exact name.
    role: Option<String>,
    /// Remove the assignment instead.
    #[arg(long)]
    clear: bool,
}

/// Runs a role command.
pub async fn run(command: RoleCommand, conn: &Connection) -> Result<Report> {
    let mut client = conn.roles();
    match command {
        RoleCommand::List => {
            let roles = client
                .list_roles(ListRolesRequest {})
                .await?
                .into_inner()
                .roles;
            let json = json!({ "roles": roles.iter().map(role_json).collect::<Vec<_>>() });
            let rows: Vec<Vec<String>> = roles.iter().map(role_row).collect();
            let text = render_table(&["NAME", "RANK", "DEFAULT", "CREATED"], &rows);
            Ok(Report::new(json, text))
        }
        RoleCommand::Define {
            name,
            rank,
            default,
        } => {
            let request = DefineRoleRequest {
                name,
                rank,
                make_default: default,
            };
            let role = client.define_role(request).await?.into_inner();
            let fields = vec![
                ("name", role.name.clone()),
                ("rank", role.rank.to_string()),
                ("default", yes_no(role.is_default)),
                ("created", timestamp_text(role.created.as_ref())),
                ("last modified", timestamp_text(role.last_modified.as_ref())),
            ];
            Ok(Report::new(role_json(&role), render_fields(&fields)))
        }
        RoleCommand::AssignUser {
            user_id,
            assignment,
        } => {
            use assign_user_role_request::Assignment as Change;
            let change = match assignment.role {
                Some(role) => Change::Role(role),
                None => Change::Clear(true),
            };
            let request = AssignUserRoleRequest {
                user_id,
                assignment: Some(change),
            };
            Ok(effective(
                client.assign_user_role(request).await?.into_inner(),
            ))
        }
        RoleCommand::AssignGroup {
            group_id,
            assignment,
        } => {
            use assign_group_role_request::Assignment as Change;
            let change = match assignment.role {
                Some(role) => Change::Role(role),
                None => Change::Clear(true),
            };
            let request = AssignGroupRoleRequest {
                group_id,
                assignment: Some(change),
            };
            Ok(group_assigned(
                client.assign_group_role(request).await?.into_inner(),
            ))
        }
        RoleCommand::Effective { user_id } => {
            let request = GetEffectiveRoleRequest { user_id };
            Ok(effective(
                client.get_effective_role(request).await?.into_inner(),
            ))
        }
    }
}

fn yes_no(value: bool) -> String {
    if value { "yes" } else { "no" }.to_owned()
}

/// A role as JSON.
fn role_json(role: &Role) -> Value {
    json!({
        "name": role.name,
        "rank": role.rank,
        "isDefault": role.is_default,
        "created": timestamp_json(role.created.as_ref()),
        "lastModified": timestamp_json(role.last_modified.as_ref()),
    })
}

/// A role as a row of `role list`.
fn role_row(role: &Role) -> Vec<String> {
    vec![
        role.name.clone(),
        role.rank.to_string(),
        if role.is_default { "default" } else { "" }.to_owned(),
        timestamp_text(role.created.as_ref()),
    ]
}

/// `explicit`, `group` or `default`.
fn reason_name(role: &EffectiveRole) -> &'static str {
    match role.reason() {
        RoleReason::Explicit => "explicit",
        RoleReason::Group => "group",
        RoleReason::Default => "default",
        RoleReason::Unspecified => "unspecified",
    }
}

/// Who made an explicit assignment: `userType`, `roles` or `admin`.
fn source_name(role: &EffectiveRole) -> Option<&'static str> {
    match role.source() {
        AssignmentSource::UserType => Some("userType"),
        AssignmentSource::Roles => Some("roles"),
        AssignmentSource::Admin => Some("admin"),
        AssignmentSource::Unspecified => None,
    }
}

/// The reason in words: "explicit (userType)", "via group Engineering", "default".
fn reason_text(role: &EffectiveRole) -> String {
    match role.reason() {
        RoleReason::Explicit => match source_name(role) {
            Some(source) => format!("explicit ({source})"),
            None => "explicit".to_owned(),
        },
        RoleReason::Group => format!("via group {}", role.group_display_name),
        _ => reason_name(role).to_owned(),
    }
}

/// A user's effective role.
fn effective(role: EffectiveRole) -> Report {
    let mut json = json!({
        "userId": role.user_id,
        "role": role.role,
        "rank": role.rank,
        "reason": reason_name(&role),
    });
    if let Some(source) = source_name(&role) {
        json["source"] = source.into();
    }
    if role.reason() == RoleReason::Group {
        json["groupId"] = role.group_id.clone().into();
        json["groupDisplayName"] = role.group_display_name.clone().into();
    }
    let mut fields = vec![
        ("user", role.user_id.clone()),
        ("role", role.role.clone()),
        ("rank", role.rank.to_string()),
        ("reason", reason_text(&role)),
    ];
    if role.reason() == RoleReason::Group {
        fields.push(("group id", role.group_id.clone()));
    }
    Report::new(json, render_fields(&fields))
}

/// The result of a group role change.
fn group_assigned(response: AssignGroupRoleResponse) -> Report {
    let json = json!({
        "groupId": response.group_id,
        "groupDisplayName": response.group_display_name,
        "role": if response.role.is_empty() { Value::Null } else { response.role.clone().into() },
        "changedMembers": response.changed_members,
    });
    let fields = vec![
        ("group", response.group_id.clone()),
        ("display name", response.group_display_name.clone()),
        (
            "role",
            if response.role.is_empty() {
                "-".to_owned()
            } else {
                response.role.clone()
            },
        ),
        ("members changed", response.changed_members.to_string()),
    ];
    Report::new(json, render_fields(&fields))
}
