//! Group commit for membership deltas. Concurrent `UpdateGroup` calls on one group that only add
//! or remove members (and carry no expected version) queue here; one task applies all waiting
//! calls in a single transaction with merged statements (one version bump, one existence check,
//! one insert, one delete), then answers each caller. A burst of provisioning calls on one group
//! thus costs a few statements per batch instead of a few per call, without changing what any
//! caller observes: each gets its own skipped ids and its own audit event, and the version moves by
//! one per call.

use super::direct_writes::Tx;
use super::groups::{remove_members, to_pb};
use super::{Event, Store};
use crate::domain::audit::{self, Actor, Changes};
use crate::domain::validate;
use crate::error::{CoreError, CoreResult};
use roster::pb::{self, group_change::Change};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use tokio::sync::oneshot;

/// The most member changes a batch may make on the calling thread (`direct_writes`). The runtime
/// thread is blocked meanwhile, which is fine for the handful of rows a provisioning call changes
/// (tens of microseconds) but not for a bulk fill of 10,000 members (around 100 ms): those go
/// through the pool, where the per-statement hand-off is small beside the rows anyway.
const DIRECT_MAX_CHANGES: usize = 256;

/// One queued call.
pub(super) struct PendingDelta {
    actor: Actor,
    add: Vec<pb::Member>,
    remove: Vec<String>,
    reply: oneshot::Sender<CoreResult<pb::GroupWriteResponse>>,
}

/// Waiting calls per (organization, group); an entry exists while a task drains it.
#[derive(Default)]
pub(super) struct MembershipBatches(Mutex<HashMap<(String, String), Vec<PendingDelta>>>);

/// The membership deltas of a change list, when it holds nothing else.
pub(super) fn membership_only(changes: &[Change]) -> Option<(Vec<pb::Member>, Vec<String>)> {
    let mut add = Vec::new();
    let mut remove = Vec::new();
    for change in changes {
        match change {
            Change::AddMembers(list) => add.extend(list.members.iter().cloned()),
            Change::RemoveMembers(list) => remove.extend(
                list.members
                    .iter()
                    .filter_map(|member| validate::id("members", &member.value).ok()),
            ),
            _ => return None,
        }
    }
    // A call that adds and removes the same id depends on the order of its own changes: it takes
    // the ordinary path, which applies them one after the other.
    let added: HashSet<String> = add.iter().map(member_key).collect();
    if remove.iter().any(|id| added.contains(id)) {
        return None;
    }
    Some((add, remove))
}

fn member_key(member: &pb::Member) -> String {
    validate::id("members", &member.value)
        .unwrap_or_else(|_| member.value.chars().take(64).collect())
}

impl Store {
    /// Queues a membership-only change of one group and waits for the batch that applies it.
    pub(super) async fn batched_membership_update(
        &self,
        actor: &Actor,
        org_id: &str,
        group_id: &str,
        add: Vec<pb::Member>,
        remove: Vec<String>,
    ) -> CoreResult<pb::GroupWriteResponse> {
        let (reply, answer) = oneshot::channel();
        let pending = PendingDelta {
            actor: actor.clone(),
            add,
            remove,
            reply,
        };
        let key = (org_id.to_owned(), group_id.to_owned());
        let start_drainer = {
            let mut queues = self
                .batches
                .0
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            match queues.get_mut(&key) {
                Some(queue) => {
                    queue.push(pending);
                    false
                }
                None => {
                    queues.insert(key.clone(), vec![pending]);
                    true
                }
            }
        };
        if start_drainer {
            // A task of its own: a caller that goes away must not strand the others' answers.
            let store = self.clone();
            tokio::spawn(async move { store.drain(key).await });
        }
        answer.await.unwrap_or_else(|_| {
            Err(CoreError::internal(anyhow::anyhow!(
                "a membership batch ended without an answer"
            )))
        })
    }

    async fn drain(&self, key: (String, String)) {
        loop {
            let batch = {
                let mut queues = self
                    .batches
                    .0
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                let Some(queue) = queues.get_mut(&key) else {
                    return;
                };
                let batch = take_compatible(queue);
                if batch.is_empty() {
                    queues.remove(&key);
                    return;
                }
                batch
            };
            let (org_id, group_id) = (&key.0, &key.1);
            let requests: Vec<(&[pb::Member], &[String])> = batch
                .iter()
                .map(|pending| (pending.add.as_slice(), pending.remove.as_slice()))
                .collect();
            let actors: Vec<&Actor> = batch.iter().map(|pending| &pending.actor).collect();
            match self.apply_batch(org_id, group_id, &requests, &actors).await {
                Ok(responses) => {
                    for (pending, response) in batch.into_iter().zip(responses) {
                        let _ = pending.reply.send(Ok(response));
                    }
                }
                Err(error) if batch.len() == 1 => {
                    if let Some(pending) = batch.into_iter().next() {
                        let _ = pending.reply.send(Err(error));
                    }
                }
                Err(_) => {
                    // One call must not fail another: apply each on its own.
                    for pending in batch {
                        let result = self
                            .apply_batch(
                                org_id,
                                group_id,
                                &[(&pending.add, &pending.remove)],
                                &[&pending.actor],
                            )
                            .await
                            .map(|mut responses| responses.remove(0));
                        let _ = pending.reply.send(result);
                    }
                }
            }
        }
    }

    /// Applies calls in order within one transaction; each answer carries the group as it is
    /// after the whole batch. On a SQLite file a batch of up to [`DIRECT_MAX_CHANGES`] members
    /// runs on the calling thread (`direct_writes`), unless the group carries a role:
    /// recomputing its members' roles is the pooled path's work, so that batch is rolled back and
    /// applied there.
    async fn apply_batch(
        &self,
        org_id: &str,
        group_id: &str,
        requests: &[(&[pb::Member], &[String])],
        actors: &[&Actor],
    ) -> CoreResult<Vec<pb::GroupWriteResponse>> {
        let changes: usize = requests
            .iter()
            .map(|(add, remove)| add.len() + remove.len())
            .sum();
        let direct = if changes <= DIRECT_MAX_CHANGES {
            self.begin_direct().await?
        } else {
            None
        };
        if let Some(txn) = direct
            && let Some(responses) = self
                .apply_batch_in((&txn).into(), org_id, group_id, requests, actors)
                .await?
        {
            txn.commit()?;
            return Ok(responses);
        }
        // A direct transaction that stopped short is gone by now: rolled back, the write lock free.
        let txn = self.begin_write().await?;
        let responses = self
            .apply_batch_in((&txn).into(), org_id, group_id, requests, actors)
            .await?
            .ok_or_else(|| {
                CoreError::internal(anyhow::anyhow!("a pooled membership batch was not applied"))
            })?;
        txn.commit().await?;
        Ok(responses)
    }

    /// The statements of [`Store::apply_batch`] in `tx`; `None` when the group carries a role and
    /// `tx` is a direct one (nothing is committed then).
    async fn apply_batch_in(
        &self,
        tx: Tx<'_>,
        org_id: &str,
        group_id: &str,
        requests: &[(&[pb::Member], &[String])],
        actors: &[&Actor],
    ) -> CoreResult<Option<Vec<pb::GroupWriteResponse>>> {
        self.bump_group_by(tx, org_id, group_id, requests.len() as i64)
            .await?;
        let all_add: Vec<pb::Member> = requests
            .iter()
            .flat_map(|(add, _)| add.iter().cloned())
            .collect();
        let all_remove: Vec<String> = requests
            .iter()
            .flat_map(|(_, remove)| remove.iter().cloned())
            .collect();
        let mut skipped = Vec::new();
        let added: HashSet<String> = self
            .add_members(tx, org_id, group_id, &all_add, &mut skipped)
            .await?
            .into_iter()
            .collect();
        let removed: HashSet<String> =
            remove_members(tx, self.backend, org_id, group_id, &all_remove)
                .await?
                .into_iter()
                .collect();
        // The member count moves, the group is read back and its role (if any) comes along, in
        // one statement.
        let (row, carried_role) = self
            .count_members_returning(
                tx,
                org_id,
                group_id,
                added.len() as i64 - removed.len() as i64,
            )
            .await?;
        if carried_role.is_some() {
            let Tx::Orm(txn) = tx else {
                return Ok(None);
            };
            let touched: Vec<String> = all_add
                .iter()
                .filter_map(|member| validate::id("members", &member.value).ok())
                .chain(all_remove.iter().cloned())
                .collect();
            self.recompute_members(txn, org_id, &touched).await?;
        }
        let member_count = row.member_count;
        let updated = to_pb(row);
        let skipped: HashSet<String> = skipped.into_iter().collect();
        // Each id added or removed is credited to the first call in the batch that named it.
        let mut credited: HashSet<String> = HashSet::new();
        let mut responses = Vec::with_capacity(requests.len());
        let mut changes_of_calls = Vec::with_capacity(requests.len());
        for (add, remove) in requests {
            let mut own_added = Vec::new();
            let mut own_skipped = Vec::new();
            for member in add.iter() {
                let key = member_key(member);
                if skipped.contains(&key) {
                    own_skipped.push(key);
                } else if added.contains(&key) && credited.insert(key.clone()) {
                    own_added.push(key);
                }
            }
            let own_removed: Vec<String> = remove
                .iter()
                .filter(|id| removed.contains(*id) && credited.insert((*id).clone()))
                .cloned()
                .collect();
            let mut changes = Changes::new();
            if !own_added.is_empty() || !own_removed.is_empty() {
                changes.note("members", audit::membership(&own_added, &own_removed));
            }
            changes_of_calls.push(changes);
            responses.push(pb::GroupWriteResponse {
                group: Some(updated.clone()),
                skipped_member_ids: own_skipped,
                member_count,
            });
        }
        // One audit event per call, written in one statement.
        let events: Vec<_> = actors
            .iter()
            .zip(&changes_of_calls)
            .map(|(actor, changes)| {
                let event = Event {
                    operation: "group.update",
                    target_kind: "group",
                    target_id: group_id,
                };
                (*actor, event, changes)
            })
            .collect();
        self.audit_many(tx, &events).await?;
        Ok(Some(responses))
    }
}

/// The longest prefix of the queue in which no id is both added and removed, so applying the
/// merged statements equals applying the calls in order.
fn take_compatible(queue: &mut Vec<PendingDelta>) -> Vec<PendingDelta> {
    let mut added: HashSet<String> = HashSet::new();
    let mut removed: HashSet<String> = HashSet::new();
    let mut take = 0;
    for pending in queue.iter() {
        let adds: Vec<String> = pending.add.iter().map(member_key).collect();
        let conflict = adds.iter().any(|id| removed.contains(id))
            || pending.remove.iter().any(|id| added.contains(id));
        if conflict && take > 0 {
            break;
        }
        added.extend(adds);
        removed.extend(pending.remove.iter().cloned());
        take += 1;
    }
    queue.drain(..take).collect()
}
