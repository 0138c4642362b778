//! Group commit for user creates: concurrent `CreateUser` calls of one organization queue here and
//! one task writes all that wait in a single transaction, so a provisioning burst pays for one
//! `BEGIN`/`COMMIT` and one turn of SQLite's single writer per batch rather than per user. A batch
//! that fails (a duplicate userName, say) is replayed one call at a time, so every caller gets
//! exactly the answer it would have had alone.

use super::Store;
use super::entities::users;
use crate::domain::accounts;
use crate::domain::audit::Actor;
use crate::error::{CoreError, CoreResult};
use roster::pb;
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::oneshot;

/// Most creates written in one transaction.
const MAX_BATCH: usize = 64;

/// One queued create.
pub(super) struct PendingCreate {
    pub actor: Actor,
    pub row: users::ActiveModel,
    pub user: pb::User,
    pub id: String,
    pub reply: oneshot::Sender<CoreResult<pb::User>>,
}

/// Waiting creates per organization; an entry exists while a task drains it.
#[derive(Default)]
pub(super) struct CreateBatches(Mutex<HashMap<String, Vec<PendingCreate>>>);

impl Store {
    /// Queues a create and waits for the batch that writes it.
    pub(super) async fn batched_create(
        &self,
        actor: &Actor,
        org_id: &str,
        row: users::ActiveModel,
        user: pb::User,
        id: String,
    ) -> CoreResult<pb::User> {
        let (reply, answer) = oneshot::channel();
        let pending = PendingCreate {
            actor: actor.clone(),
            row,
            user,
            id,
            reply,
        };
        let start_drainer = {
            let mut queues = self
                .creates
                .0
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            match queues.get_mut(org_id) {
                Some(queue) => {
                    queue.push(pending);
                    false
                }
                None => {
                    queues.insert(org_id.to_owned(), vec![pending]);
                    true
                }
            }
        };
        if start_drainer {
            // A task of its own: a caller that goes away must not strand the others' answers.
            let store = self.clone();
            let org_id = org_id.to_owned();
            tokio::spawn(async move { store.drain_creates(org_id).await });
        }
        answer.await.unwrap_or_else(|_| {
            Err(CoreError::internal(anyhow::anyhow!(
                "a create batch ended without an answer"
            )))
        })
    }

    async fn drain_creates(&self, org_id: String) {
        loop {
            let batch: Vec<PendingCreate> = {
                let mut queues = self
                    .creates
                    .0
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                let Some(queue) = queues.get_mut(&org_id) else {
                    return;
                };
                if queue.is_empty() {
                    queues.remove(&org_id);
                    return;
                }
                let take = queue.len().min(MAX_BATCH);
                queue.drain(..take).collect()
            };
            match self.write_creates(&org_id, &batch).await {
                Ok(created) => {
                    for (pending, user) in batch.into_iter().zip(created) {
                        let _ = pending.reply.send(Ok(user));
                    }
                }
                Err(error) if batch.len() == 1 => {
                    if let Some(pending) = batch.into_iter().next() {
                        let _ = pending.reply.send(Err(error));
                    }
                }
                Err(_) => {
                    for pending in batch {
                        let result = self
                            .write_creates(&org_id, std::slice::from_ref(&pending))
                            .await
                            .map(|mut created| created.remove(0));
                        let _ = pending.reply.send(result);
                    }
                }
            }
        }
    }

    async fn write_creates(
        &self,
        org_id: &str,
        batch: &[PendingCreate],
    ) -> CoreResult<Vec<pb::User>> {
        let txn = self.begin_write().await?;
        // One multi-row statement creates the batch's new accounts; only users whose account
        // exists already take the per-user adoption path.
        let keys: Vec<String> = batch
            .iter()
            .filter_map(|pending| accounts::account_email(&pending.user))
            .collect();
        let new_accounts = self
            .insert_accounts(&*txn, &keys, self.clock.now_micros())
            .await?;
        let created = self
            .insert_users_in(&txn, org_id, batch, &new_accounts)
            .await?;
        txn.commit().await?;
        Ok(created)
    }
}
