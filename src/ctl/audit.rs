//! `rosterctl audit`: the organization's audit log (needs scope `admin`). `list` shows the newest
//! events, filtered; `tail` prints new events as they are recorded, polling every 2 seconds, and
//! stops by itself after `--for` seconds.

use std::collections::HashMap;
use std::io::Write as _;
use std::time::{Duration, Instant};

use anyhow::Result;
use clap::Subcommand;
use roster::pb::{AuditEvent, ListAuditEventsRequest};
use serde_json::{Value, json};

use super::conn::Connection;
use super::output::{Report, format_timestamp, render_table, timestamp_json};

/// How often `tail` asks for new events.
const POLL: Duration = Duration::from_secs(2);
/// How far back each `tail` poll reaches before the newest event seen, in microseconds.
const OVERLAP_MICROS: i64 = 10_000_000;
/// The server's largest page.
const MAX_PAGE: u32 = 1000;

/// Audit commands.
#[derive(Subcommand)]
pub enum AuditCommand {
    /// List events, newest first.
    List {
        /// Only operations starting with this (`user.`, `token.revoke`).
        #[arg(long)]
        operation: Option<String>,
        /// Only events about this target id.
        #[arg(long)]
        target: Option<String>,
        /// Only events by this principal (a token id, or a connection id for all its tokens).
        #[arg(long)]
        principal: Option<String>,
        /// Only `ok` or `denied` events.
        #[arg(long, value_parser = ["ok", "denied"])]
        outcome: Option<String>,
        /// Most events to show.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        limit: u32,
    },
    /// Print new events as they are recorded (oldest first), for a while.
    Tail {
        /// Only operations starting with this.
        #[arg(long)]
        operation: Option<String>,
        /// Stop after this many seconds.
        #[arg(long = "for", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
        seconds: u64,
    },
}

/// Runs an audit command. `as_json` makes `tail` print one JSON object per line as events arrive.
pub async fn run(command: AuditCommand, conn: &Connection, as_json: bool) -> Result<Report> {
    match command {
        AuditCommand::List {
            operation,
            target,
            principal,
            outcome,
            limit,
        } => {
            let filter = ListAuditEventsRequest {
                operation_prefix: operation.unwrap_or_default(),
                target_id: target.unwrap_or_default(),
                principal_id: principal.unwrap_or_default(),
                outcome: outcome.unwrap_or_default(),
                ..Default::default()
            };
            let events = fetch(conn, &filter, limit as usize).await?;
            let json = json!({ "events": events.iter().map(event_json).collect::<Vec<_>>() });
            let rows: Vec<Vec<String>> = events.iter().map(event_row).collect();
            Ok(Report::new(json, render_table(&HEADER, &rows)))
        }
        AuditCommand::Tail { operation, seconds } => {
            tail(conn, operation.unwrap_or_default(), seconds, as_json).await
        }
    }
}

const HEADER: [&str; 7] = [
    "TIME",
    "OPERATION",
    "OUTCOME",
    "TARGET",
    "PRINCIPAL",
    "CLIENT",
    "CHANGES",
];

/// Up to `limit` events matching `filter`, newest first, following page tokens.
async fn fetch(
    conn: &Connection,
    filter: &ListAuditEventsRequest,
    limit: usize,
) -> Result<Vec<AuditEvent>> {
    let mut client = conn.audit();
    let mut events = Vec::new();
    let mut page_token = String::new();
    loop {
        let request = ListAuditEventsRequest {
            page_size: (limit - events.len()).min(MAX_PAGE as usize) as i32,
            page_token,
            ..filter.clone()
        };
        let page = client.list_audit_events(request).await?.into_inner();
        events.extend(page.events);
        if page.next_page_token.is_empty() || events.len() >= limit {
            return Ok(events);
        }
        page_token = page.next_page_token;
    }
}

/// Polls for events newer than the last one seen until `seconds` have passed.
async fn tail(
    conn: &Connection,
    operation_prefix: String,
    seconds: u64,
    as_json: bool,
) -> Result<Report> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let filter = ListAuditEventsRequest {
        operation_prefix,
        ..Default::default()
    };
    // Only what is recorded from now on is printed: events up to the newest one are old.
    let newest = fetch(conn, &filter, 1).await?;
    let started_at = newest.first().map(event_micros);
    let mut high = started_at;
    // Each poll reaches back OVERLAP before the newest event seen, because an event can commit a
    // moment after a later-stamped one; the ids seen in that window keep anything from repeating.
    let mut seen: HashMap<String, i64> = HashMap::new();
    let mut printed = 0usize;
    loop {
        let request = ListAuditEventsRequest {
            since: high.map(|micros| timestamp(micros - OVERLAP_MICROS)),
            ..filter.clone()
        };
        let mut events = fetch(conn, &request, 100_000).await?;
        events.reverse();
        let mut stdout = std::io::stdout().lock();
        for event in &events {
            let at = event_micros(event);
            if seen.insert(event.id.clone(), at).is_some()
                || started_at.is_some_and(|start| at <= start)
            {
                continue;
            }
            high = Some(high.map_or(at, |high| high.max(at)));
            if as_json {
                writeln!(stdout, "{}", event_json(event))?;
            } else {
                writeln!(stdout, "{}", event_row(event).join("  "))?;
            }
            printed += 1;
        }
        stdout.flush()?;
        drop(stdout);
        if let Some(high) = high {
            seen.retain(|_, at| *at >= high - OVERLAP_MICROS);
        }
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        tokio::time::sleep(POLL.min(deadline - now)).await;
    }
    // The events went out as they came; the report only says how many.
    Ok(Report::new(Value::Null, String::new())
        .with_note(format!("{printed} events in {seconds} s")))
}

/// When an event happened, in microseconds since the epoch.
fn event_micros(event: &AuditEvent) -> i64 {
    event.occurred_at.as_ref().map_or(0, |at| {
        at.seconds
            .saturating_mul(1_000_000)
            .saturating_add(i64::from(at.nanos) / 1000)
    })
}

/// Microseconds since the epoch as a protobuf timestamp.
fn timestamp(micros: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: micros.div_euclid(1_000_000),
        nanos: (micros.rem_euclid(1_000_000) * 1000) as i32,
    }
}

/// An event as JSON (changes parsed back into an object).
fn event_json(event: &AuditEvent) -> Value {
    json!({
        "id": event.id,
        "occurredAt": timestamp_json(event.occurred_at.as_ref()),
        "principalKind": event.principal_kind,
        "principalId": event.principal_id,
        "principalName": event.principal_name,
        "tokenId": if event.token_id.is_empty() { Value::Null } else { event.token_id.clone().into() },
        "client": event.client,
        "requestId": event.request_id,
        "operation": event.operation,
        "targetKind": event.target_kind,
        "targetId": event.target_id,
        "changes": serde_json::from_str::<Value>(&event.changes_json).unwrap_or(Value::Null),
        "outcome": event.outcome,
        "reason": event.reason,
    })
}

/// An event as a row of `audit list`.
fn event_row(event: &AuditEvent) -> Vec<String> {
    let outcome = if event.reason.is_empty() {
        event.outcome.clone()
    } else {
        format!("{} ({})", event.outcome, event.reason)
    };
    let target = if event.target_id.is_empty() {
        event.target_kind.clone()
    } else {
        format!("{} {}", event.target_kind, event.target_id)
    };
    let changes: String = event.changes_json.chars().take(120).collect();
    vec![
        event
            .occurred_at
            .as_ref()
            .map(format_timestamp)
            .unwrap_or_default(),
        event.operation.clone(),
        outcome,
        target,
        format!("{} ({})", event.principal_name, event.principal_id),
        if event.client.is_empty() {
            "-".to_owned()
        } else {
            event.client.clone()
        },
        changes,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> AuditEvent {
        AuditEvent {
            id: "0190a3c2-0000-7000-8000-000000000001".into(),
            organization_id: "org".into(),
            occurred_at: Some(timestamp(1_700_000_000_123_456)),
            principal_kind: "token".into(),
            principal_id: "tok".into(),
            principal_name: "Okta production".into(),
            client: "Okta SCIM Client 1.0.0".into(),
            request_id: "req-1".into(),
            operation: "user.replace".into(),
            target_kind: "user".into(),
            target_id: "u1".into(),
            changes_json: r#"{"active":{"before":true,"after":false}}"#.into(),
            outcome: "ok".into(),
            reason: String::new(),
            token_id: "tok".into(),
        }
    }

    #[test]
    fn timestamps_round_trip_in_microseconds() {
        assert_eq!(event_micros(&event()), 1_700_000_000_123_456);
        assert_eq!(timestamp(-1).nanos, 999_999_000);
    }

    #[test]
    fn events_render_as_rows_and_json() {
        let row = event_row(&event());
        assert_eq!(row[1], "user.replace");
        assert_eq!(row[2], "ok");
        assert_eq!(row[3], "user u1");
        assert_eq!(row[4], "Okta production (tok)");
        let denied = AuditEvent {
            outcome: "denied".into(),
            reason: "missing_scope:admin".into(),
            target_id: String::new(),
            target_kind: String::new(),
            ..event()
        };
        assert_eq!(event_row(&denied)[2], "denied (missing_scope:admin)");
        let json = event_json(&event());
        assert_eq!(json["changes"]["active"]["after"], false);
        assert_eq!(json["requestId"], "req-1");
    }
}
