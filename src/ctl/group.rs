//! `rosterctl group`: creating, listing, reading and deleting groups and changing their members
//! (scopes `scim:read` and `scim:write`).

use anyhow::{Result, bail};
use clap::Subcommand;
use roster::pb::group_change::Change;
use roster::pb::{
    CreateGroupRequest, DeleteGroupRequest, GetGroupRequest, Group, GroupChange,
    GroupWriteResponse, ListGroupMembersRequest, ListGroupsRequest, Member, MemberList, MemberType,
    UpdateGroupRequest,
};
use serde_json::{Value, json};

use super::conn::Connection;
use super::filter;
use super::output::{
    Report, meta_fields, meta_json, or_dash, page_footer, render_fields, render_table,
};

/// Group commands.
#[derive(Subcommand)]
pub enum GroupCommand {
    /// Create a group with its initial members.
    Create {
        /// Unique (case-insensitive) display name.
        display_name: String,
        /// The id of a user or group to add; repeat for several.
        #[arg(long = "member", value_name = "ID")]
        members: Vec<String>,
        /// The provisioning client's identifier for the group.
        #[arg(long)]
        external_id: Option<String>,
    },
    /// List groups (without members), optionally by display name.
    List {
        /// Only the group with this display name (`displayName eq X`).
        #[arg(long)]
        display_name: Option<String>,
        /// Page size (server default 100, at most 1000; 0 prints only the total).
        #[arg(long, value_parser = clap::value_parser!(i32).range(0..))]
        count: Option<i32>,
        /// 1-based index of the first group to print.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i64).range(1..))]
        start_index: i64,
    },
    /// Show a group (without members; see `members`).
    Get {
        /// The group's id.
        id: String,
    },
    /// List all members of a group, fetching every page.
    Members {
        /// The group's id.
        id: String,
        /// Members fetched per call (server default 100, at most 1000).
        #[arg(long, value_parser = clap::value_parser!(i32).range(1..=1000))]
        page_size: Option<i32>,
    },
    /// Add members to a group (ones already present are left alone).
    AddMember {
        /// The group's id.
        group_id: String,
        /// Ids of users or groups to add.
        #[arg(required = true)]
        member_ids: Vec<String>,
    },
    /// Remove members from a group (absent ones are ignored).
    RemoveMember {
        /// The group's id.
        group_id: String,
        /// Ids of users or groups to remove.
        #[arg(required = true)]
        member_ids: Vec<String>,
    },
    /// Delete a group and its memberships.
    Delete {
        /// The group's id.
        id: String,
    },
}

/// Runs a group command.
pub async fn run(command: GroupCommand, conn: &Connection) -> Result<Report> {
    let mut client = conn.groups();
    match command {
        GroupCommand::Create {
            display_name,
            members,
            external_id,
        } => {
            let group = Group {
                display_name,
                external_id,
                members: member_refs(members),
                ..Group::default()
            };
            let request = CreateGroupRequest { group: Some(group) };
            Ok(written(client.create_group(request).await?.into_inner()))
        }
        GroupCommand::List {
            display_name,
            count,
            start_index,
        } => {
            let request = ListGroupsRequest {
                filter: display_name.map(|name| filter::eq("displayName", "", &name)),
                start_index,
                count,
                ..ListGroupsRequest::default()
            };
            let page = client.list_groups(request).await?.into_inner();
            let json = json!({
                "groups": page.groups.iter().map(group_json).collect::<Vec<_>>(),
                "totalResults": page.total_results,
                "startIndex": page.start_index,
            });
            let rows: Vec<Vec<String>> = page.groups.iter().map(group_row).collect();
            let text = render_table(&["ID", "DISPLAY NAME", "EXTERNAL ID"], &rows)
                + &page_footer(
                    page.start_index,
                    page.groups.len(),
                    page.total_results,
                    "groups",
                );
            Ok(Report::new(json, text))
        }
        GroupCommand::Get { id } => {
            let request = GetGroupRequest {
                id,
                include_members: false,
            };
            let group = client.get_group(request).await?.into_inner();
            Ok(Report::new(
                group_json(&group),
                render_fields(&group_fields(&group)),
            ))
        }
        GroupCommand::Members { id, page_size } => {
            let mut members = Vec::new();
            let mut page_token = String::new();
            loop {
                let request = ListGroupMembersRequest {
                    group_id: id.clone(),
                    page_size: page_size.unwrap_or(0),
                    page_token: page_token.clone(),
                };
                let page = client.list_group_members(request).await?.into_inner();
                members.extend(page.members);
                if page.next_page_token.is_empty() {
                    break;
                }
                if page.next_page_token == page_token {
                    bail!("the server returned the same page token twice");
                }
                page_token = page.next_page_token;
            }
            let json = json!({
                "groupId": id,
                "members": members.iter().map(member_json).collect::<Vec<_>>(),
                "totalResults": members.len(),
            });
            let rows: Vec<Vec<String>> = members.iter().map(member_row).collect();
            let text = render_table(&["ID", "TYPE", "DISPLAY"], &rows)
                + &format!("{} members\n", members.len());
            Ok(Report::new(json, text))
        }
        GroupCommand::AddMember {
            group_id,
            member_ids,
        } => {
            let change = Change::AddMembers(MemberList {
                members: member_refs(member_ids),
            });
            let request = update(group_id, change);
            Ok(written(client.update_group(request).await?.into_inner()))
        }
        GroupCommand::RemoveMember {
            group_id,
            member_ids,
        } => {
            let change = Change::RemoveMembers(MemberList {
                members: member_refs(member_ids),
            });
            let request = update(group_id, change);
            Ok(written(client.update_group(request).await?.into_inner()))
        }
        GroupCommand::Delete { id } => {
            let request = DeleteGroupRequest {
                id: id.clone(),
                expected_version: None,
            };
            client.delete_group(request).await?;
            let json = json!({ "id": id, "deleted": true });
            Ok(Report::new(json, format!("deleted group {id}\n")))
        }
    }
}

/// Member references by id (the server works out whether each is a user or a group).
fn member_refs(ids: Vec<String>) -> Vec<Member> {
    ids.into_iter()
        .map(|value| Member {
            value,
            ..Member::default()
        })
        .collect()
}

/// An UpdateGroup request applying the one change.
fn update(id: String, change: Change) -> UpdateGroupRequest {
    UpdateGroupRequest {
        id,
        expected_version: None,
        changes: vec![GroupChange {
            change: Some(change),
        }],
    }
}

/// The result of a write: the group, and a note listing member ids that were skipped.
fn written(response: GroupWriteResponse) -> Report {
    let group = response.group.unwrap_or_default();
    let skipped = response.skipped_member_ids;
    let json = json!({ "group": group_json(&group), "skippedMemberIds": skipped });
    let report = Report::new(json, render_fields(&group_fields(&group)));
    if skipped.is_empty() {
        report
    } else {
        report.with_note(format!(
            "skipped (no user or group has that id): {}",
            skipped.join(", ")
        ))
    }
}

/// A group as JSON (members only when the server sent some).
fn group_json(group: &Group) -> Value {
    let mut json = json!({
        "id": group.id,
        "externalId": group.external_id,
        "displayName": group.display_name,
        "meta": meta_json(group.meta.as_ref()),
    });
    if !group.members.is_empty() {
        json["members"] = group.members.iter().map(member_json).collect();
    }
    json
}

/// A group as `label value` pairs.
fn group_fields(group: &Group) -> Vec<(&'static str, String)> {
    let mut fields = vec![
        ("id", group.id.clone()),
        ("display name", group.display_name.clone()),
        ("external id", or_dash(group.external_id.as_deref())),
    ];
    fields.extend(meta_fields(group.meta.as_ref()));
    fields
}

/// A group as a row of `group list`.
fn group_row(group: &Group) -> Vec<String> {
    vec![
        group.id.clone(),
        group.display_name.clone(),
        or_dash(group.external_id.as_deref()),
    ]
}

/// A member as JSON.
fn member_json(member: &Member) -> Value {
    json!({
        "value": member.value,
        "type": member_type(member),
        "display": member.display,
    })
}

/// A member as a row of `group members`.
fn member_row(member: &Member) -> Vec<String> {
    vec![
        member.value.clone(),
        or_dash(member_type(member)),
        or_dash(Some(&member.display)),
    ]
}

/// `user`, `group`, or none when unspecified.
fn member_type(member: &Member) -> Option<&'static str> {
    match member.r#type() {
        MemberType::User => Some("user"),
        MemberType::Group => Some("group"),
        MemberType::Unspecified => None,
    }
}
