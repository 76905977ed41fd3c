//! Group commit of webhook intake. A delivery is acknowledged only once it and its job are on
//! disk (an fsync'd commit, `Db::begin_durable`), and a disk does about a thousand fsyncs a
//! second. So deliveries that arrive together share one transaction and one fsync: each request
//! hands its write to a committer task and waits; a committer takes every write waiting (up to
//! [`RuntimeConfig::intake_batch`]), commits them together, and answers each. No request waits
//! for a timer: a batch is whatever queued up while the previous commit was on its way to disk,
//! so a lone delivery is committed at once and a burst is committed in a few large batches.
//!
//! A write that fails inside a batch (its endpoint was deleted meanwhile) would roll the others
//! back with it: then each write of that batch is committed on its own, so every request gets its
//! own answer.

use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::{Mutex as AsyncMutex, mpsc, oneshot};
use tributary_store::{
    Durability, Tx,
    webhooks::{DeliveryStatus, DeliveryToRecord, Recorded},
};

use crate::webhooks::{WebhookAck, WebhookRejection};
use crate::{Runtime, RuntimeError};

/// One delivery to store with the job that processes it.
#[derive(Debug, Clone)]
pub(crate) struct IntakeWrite {
    pub tenant_id: String,
    pub endpoint_id: String,
    /// The provider's delivery id, or a digest of the body.
    pub key: String,
    /// The event name, or `unhandled:<provider event>`.
    pub event_column: String,
    /// The event as stored (secrets stripped).
    pub stored: Value,
    /// The handled event's name; `None` records the delivery as done.
    pub handled: Option<String>,
    /// SHA-256 (hex) of the body as received: a delivery id reused for another body is a
    /// conflict. `None` when unknown (an event held before digests were kept).
    pub body_sha256: Option<String>,
}

/// What a request is answered: an acknowledgement, or a refusal that was recorded (a reused
/// delivery id) and commits with the rest.
type Answer = Result<WebhookAck, WebhookRejection>;

struct Pending {
    write: IntakeWrite,
    answer: oneshot::Sender<Answer>,
}

type Queue = Arc<AsyncMutex<mpsc::Receiver<Pending>>>;

/// The committers' inbox, started on first use on the tokio runtime of the caller, and again if
/// that runtime has gone (tests run one per test).
#[derive(Default)]
pub(crate) struct IntakeCommitter {
    sender: Mutex<Option<mpsc::Sender<Pending>>>,
}

/// Requests waiting for a committer; more wait in their handlers (the server bounds them).
const INBOX: usize = 4096;

impl Runtime {
    /// Stores `write` durably and answers once it is on disk: through the group committers, or
    /// in a transaction of its own when `intake_batch` is 1.
    pub(crate) async fn commit_intake(
        &self,
        write: IntakeWrite,
    ) -> Result<WebhookAck, WebhookRejection> {
        if self.inner.config.intake_batch <= 1 {
            return commit_alone(self, &write).await;
        }
        let (answer, answered) = oneshot::channel();
        let mut pending = Pending { write, answer };
        // A sender whose committers are gone (their runtime ended) is replaced once.
        for _ in 0..2 {
            let sender = self.intake_sender();
            match sender.send(pending).await {
                Ok(()) => {
                    return answered.await.unwrap_or_else(|_| {
                        Err(RuntimeError::Invalid(
                            "the webhook intake committer stopped; retry the delivery".into(),
                        )
                        .into())
                    });
                }
                Err(mpsc::error::SendError(returned)) => {
                    pending = returned;
                    self.inner
                        .intake
                        .sender
                        .lock()
                        .expect("not poisoned")
                        .take();
                }
            }
        }
        commit_alone(self, &pending.write).await
    }

    fn intake_sender(&self) -> mpsc::Sender<Pending> {
        let mut slot = self.inner.intake.sender.lock().expect("not poisoned");
        if let Some(sender) = slot.as_ref().filter(|s| !s.is_closed()) {
            return sender.clone();
        }
        let (sender, receiver) = mpsc::channel(INBOX);
        let queue: Queue = Arc::new(AsyncMutex::new(receiver));
        let committers = match self.inner.config.intake_committers {
            0 => crate::config::default_intake_committers(self.inner.db.backend()),
            n => n,
        };
        for _ in 0..committers {
            // The committers hold the runtime weakly: they end with it (their channel closes).
            let runtime = Arc::downgrade(&self.inner);
            let queue = Arc::clone(&queue);
            let batch = self.inner.config.intake_batch;
            tokio::spawn(async move {
                while let Some(writes) = next_batch(&queue, batch).await {
                    let Some(inner) = runtime.upgrade() else {
                        break;
                    };
                    commit_batch(&Runtime { inner }, writes).await;
                }
            });
        }
        *slot = Some(sender.clone());
        sender
    }
}

/// The next batch: the first write to arrive, then every write already waiting, up to `batch`.
/// None once every sender is gone.
async fn next_batch(queue: &Queue, batch: usize) -> Option<Vec<Pending>> {
    let mut receiver = queue.lock().await;
    let first = receiver.recv().await?;
    let mut writes = vec![first];
    while writes.len() < batch {
        match receiver.try_recv() {
            Ok(pending) => writes.push(pending),
            Err(_) => break,
        }
    }
    Some(writes)
}

async fn commit_batch(runtime: &Runtime, writes: Vec<Pending>) {
    match store_together(runtime, &writes).await {
        Ok(answers) => {
            for (pending, answer) in writes.into_iter().zip(answers) {
                let _ = pending.answer.send(answer);
            }
        }
        Err(error) => {
            if writes.len() > 1 {
                tracing::warn!(%error, writes = writes.len(), "a webhook intake batch failed; committing its deliveries one by one");
            }
            for pending in writes {
                let answer = commit_alone(runtime, &pending.write).await;
                let _ = pending.answer.send(answer);
            }
        }
    }
}

/// Every write of the batch in one durable transaction; the acknowledgements once committed.
async fn store_together(
    runtime: &Runtime,
    writes: &[Pending],
) -> Result<Vec<Answer>, WebhookRejection> {
    let mut tx = runtime.inner.db.begin_durable().await?;
    let batch: Vec<&IntakeWrite> = writes.iter().map(|pending| &pending.write).collect();
    let answers = store(runtime, &mut tx, &batch).await?;
    commit_durably(tx).await?;
    count_commit(runtime, writes.len());
    for (pending, answer) in writes.iter().zip(&answers) {
        log_stored(&pending.write, answer);
    }
    Ok(answers)
}

async fn commit_alone(
    runtime: &Runtime,
    write: &IntakeWrite,
) -> Result<WebhookAck, WebhookRejection> {
    let mut tx = runtime.inner.db.begin_durable().await?;
    let answer = store(runtime, &mut tx, &[write]).await?.remove(0);
    commit_durably(tx).await?;
    count_commit(runtime, 1);
    log_stored(write, &answer);
    answer
}

fn count_commit(runtime: &Runtime, deliveries: usize) {
    runtime.inner.metrics.intake_committed(deliveries);
}

/// Commits, after checking on the transaction's own connection that the commit will be on disk
/// when it returns: a 2xx is never sent for a write an OS crash could undo.
async fn commit_durably(mut tx: Tx) -> Result<(), WebhookRejection> {
    if tx.durability().await? != Durability::Fsync {
        return Err(RuntimeError::Invalid(
            "the webhook intake transaction would not be fsync'd at commit; nothing was acknowledged"
                .into(),
        )
        .into());
    }
    tx.commit().await?;
    Ok(())
}

/// Records the deliveries (deduplicated on their keys) in one statement, settles each, and
/// queues the jobs of the new or failed handled ones in one more: a batch costs a few round
/// trips, not a few per delivery.
async fn store(
    runtime: &Runtime,
    tx: &mut Tx,
    writes: &[&IntakeWrite],
) -> Result<Vec<Answer>, WebhookRejection> {
    let to_record: Vec<DeliveryToRecord<'_>> = writes
        .iter()
        .map(|write| DeliveryToRecord {
            tenant_id: &write.tenant_id,
            endpoint_id: &write.endpoint_id,
            delivery_id: &write.key,
            event: &write.event_column,
            payload: &write.stored,
            body_sha256: write.body_sha256.as_deref(),
        })
        .collect();
    let recorded = tx
        .webhooks(&runtime.inner.ring)
        .record_deliveries(&to_record)
        .await?;
    let mut answers = Vec::with_capacity(writes.len());
    let mut to_process = Vec::new();
    for (write, recorded) in writes.iter().zip(recorded) {
        let (answer, process) = settle(runtime, tx, write, recorded).await?;
        answers.push(answer);
        to_process.extend(process.map(|delivery| (write.tenant_id.as_str(), delivery)));
    }
    let pairs: Vec<(&str, &str)> = to_process
        .iter()
        .map(|(tenant_id, delivery)| (*tenant_id, delivery.as_str()))
        .collect();
    runtime.enqueue_deliveries(tx, &pairs).await?;
    Ok(answers)
}

/// The answer to a recorded delivery; for a new or failed handled one, also the delivery that
/// needs a job.
async fn settle(
    runtime: &Runtime,
    tx: &mut Tx,
    write: &IntakeWrite,
    recorded: Recorded,
) -> Result<(Answer, Option<String>), WebhookRejection> {
    let ring = &runtime.inner.ring;
    let delivery = match recorded {
        Recorded::Delivery { delivery, .. } => delivery,
        Recorded::Conflict(stored) => {
            tracing::warn!(
                delivery = %stored.id,
                endpoint = %write.endpoint_id,
                conflicts = stored.conflicts,
                "a webhook delivery id came again with a different body; refused with 409"
            );
            return Ok((
                Err(WebhookRejection::DeliveryIdReused {
                    delivery: stored.id,
                }),
                None,
            ));
        }
    };
    let new = delivery.attempts == 1;
    let queued = match &write.handled {
        None => {
            if new {
                // Acknowledged and recorded; nothing to run.
                tx.webhooks(ring)
                    .finish_delivery(&write.tenant_id, &delivery.id, None)
                    .await?;
            }
            false
        }
        Some(_) => {
            // A new delivery, or a failed one sent again: it is processed (again).
            new || (delivery.status == DeliveryStatus::Failed
                && tx
                    .webhooks(ring)
                    .retry_failed_delivery(&write.tenant_id, &delivery.id)
                    .await?)
        }
    };
    let process = queued.then(|| delivery.id.clone());
    Ok((
        Ok(WebhookAck::Accepted {
            delivery: delivery.id,
            duplicate: !new,
            queued,
            event: write.handled.clone(),
        }),
        process,
    ))
}

fn log_stored(write: &IntakeWrite, answer: &Answer) {
    if let Ok(WebhookAck::Accepted {
        delivery,
        duplicate,
        queued,
        ..
    }) = answer
    {
        tracing::info!(
            delivery = %delivery,
            endpoint = %write.endpoint_id,
            duplicate,
            queued,
            "webhook delivery stored"
        );
    }
}
