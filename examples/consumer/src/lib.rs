//! An example consumer of payhook's queue: an SQS-triggered Lambda that
//! reads `payhook.payment_event/v1` events, acts on their status once per
//! `event_id`, and reports the messages it could not handle so that SQS
//! redelivers only those (`ReportBatchItemFailures`).
//!
//! - Each message body is deserialized into [`payhook::PaymentEvent`]; one
//!   that does not parse, or whose `schema` is not
//!   [`payhook::event::SCHEMA`], is reported as failed (after the queue's
//!   `maxReceiveCount` it lands in the dead-letter queue, where a person can
//!   look at it).
//! - [`action_for`] matches on [`payhook::Status`] exhaustively: a new
//!   status in a later payhook version is a compile error here, not a
//!   silently ignored payment.
//! - Duplicates: payhook publishes at least once (a standard queue may also
//!   deliver a message twice), so the consumer skips an `event_id` it has
//!   already processed. This example remembers the last
//!   [`DEFAULT_CAPACITY`] ids in memory ([`SeenIds`]): enough within one warm
//!   Lambda instance, but concurrent instances and cold starts do not share
//!   it. **For real use** keep the ids in DynamoDB with a conditional put,
//!   e.g. `PutItem` of `{pk: "EVENT#<event_id>", state: "processing",
//!   lease_until, expires_at}` with `ConditionExpression:
//!   attribute_not_exists(pk) OR (#state = :processing AND lease_until <
//!   :now)`; `ConditionalCheckFailedException` means "already done or being
//!   done: skip". Set `state = done` after processing, delete the item when
//!   processing fails (so the redelivery can claim it), and let a TTL on
//!   `expires_at` (longer than the queue's retention, 4 days) clean up.
//!   payhook's own store does the same for webhooks
//!   (`payhook_aws::dynamodb`).
//! - An id is remembered only after it was processed successfully: a
//!   failed event is redelivered and processed again.
//! - FIFO queues: once a message fails, every later message of the batch is
//!   reported as failed too without being processed, so that an order's
//!   events are never handled out of order (AWS's guidance for partial
//!   batch responses with FIFO queues).
//!
//! An order's status only moves forward ([`payhook::Status::rank`]): a
//! consumer that stores an order status should ignore an event whose rank is
//! not higher than the stored one (payhook's own `orders` table does).

pub use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use payhook::{PaymentEvent, Status};
use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::sync::Mutex;

pub use aws_lambda_events;

/// How many processed event ids [`SeenIds`] remembers by default.
pub const DEFAULT_CAPACITY: usize = 10_000;

/// What the merchant's system does for an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Money moved: ship, credit, unlock.
    Fulfil,
    /// The payment was refunded: take the goods or credit back.
    Refund,
    /// Failed, canceled or expired: release the reservation, tell the
    /// customer.
    Cancel,
    /// Still under way: update what the customer sees, nothing else.
    Track,
    /// An event type payhook does not know: record it, change nothing.
    Ignore,
}

/// The action for a normalized status. Exhaustive on purpose.
pub fn action_for(status: Status) -> Action {
    match status {
        Status::Completed => Action::Fulfil,
        Status::Refunded => Action::Refund,
        Status::Failed | Status::Canceled | Status::Expired => Action::Cancel,
        Status::Created | Status::Opened | Status::Pending | Status::Processing => Action::Track,
        Status::Unknown => Action::Ignore,
    }
}

/// A processing failure: the message is reported and SQS redelivers it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ProcessError(pub String);

/// The merchant's business logic for one event.
pub trait Processor: Send + Sync {
    /// Act on `event` (already deduplicated). An error makes SQS redeliver
    /// the message.
    fn process(
        &self,
        event: &PaymentEvent,
        action: Action,
    ) -> impl Future<Output = Result<(), ProcessError>> + Send;
}

/// The example's processor: one log line per event (ids and status only,
/// never the customer or the raw body).
#[derive(Debug, Clone, Copy, Default)]
pub struct LogProcessor;

impl Processor for LogProcessor {
    async fn process(&self, event: &PaymentEvent, action: Action) -> Result<(), ProcessError> {
        tracing::info!(
            event_id = %event.event_id,
            provider = %event.provider,
            order_id = %event.order_id,
            status = %event.status,
            provider_event = %event.provider_event,
            action = ?action,
            "payment event"
        );
        Ok(())
    }
}

/// The last `capacity` processed event ids (oldest forgotten first).
#[derive(Debug)]
pub struct SeenIds {
    capacity: usize,
    inner: Mutex<(HashSet<String>, VecDeque<String>)>,
}

impl SeenIds {
    pub fn new(capacity: usize) -> Self {
        SeenIds {
            capacity: capacity.max(1),
            inner: Mutex::new((HashSet::new(), VecDeque::new())),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (HashSet<String>, VecDeque<String>)> {
        // A panic while holding the lock leaves a consistent set: go on.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn contains(&self, id: &str) -> bool {
        self.lock().0.contains(id)
    }

    /// Remember `id`; false when it was already there.
    pub fn insert(&self, id: &str) -> bool {
        let mut g = self.lock();
        let (set, order) = &mut *g;
        if !set.insert(id.to_owned()) {
            return false;
        }
        order.push_back(id.to_owned());
        while order.len() > self.capacity {
            if let Some(old) = order.pop_front() {
                set.remove(&old);
            }
        }
        true
    }

    pub fn len(&self) -> usize {
        self.lock().0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why one message was not handled.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    #[error("the message has no body")]
    NoBody,
    #[error("the body is not a payment event: {0}")]
    Parse(#[from] serde_json::Error),
    #[error("unsupported schema {0:?}")]
    Schema(String),
    #[error("processing failed: {0}")]
    Process(#[from] ProcessError),
    #[error("not processed: an earlier message of this FIFO batch failed")]
    Skipped,
}

/// What happened to one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Processed now, with this action.
    Processed { event_id: String, action: Action },
    /// Already processed: skipped.
    Duplicate { event_id: String },
}

/// A processor and its memory of processed ids.
#[derive(Debug)]
pub struct Consumer<P> {
    processor: P,
    seen: SeenIds,
}

impl<P: Processor> Consumer<P> {
    pub fn new(processor: P, capacity: usize) -> Self {
        Consumer {
            processor,
            seen: SeenIds::new(capacity),
        }
    }

    pub fn processor(&self) -> &P {
        &self.processor
    }

    pub fn seen(&self) -> &SeenIds {
        &self.seen
    }

    /// Parse, dedupe and process one message.
    pub async fn handle_message(&self, msg: &SqsMessage) -> Result<Outcome, MessageError> {
        let body = msg.body.as_deref().ok_or(MessageError::NoBody)?;
        let event = parse(body)?;
        if self.seen.contains(&event.event_id) {
            return Ok(Outcome::Duplicate {
                event_id: event.event_id,
            });
        }
        let action = action_for(event.status);
        self.processor.process(&event, action).await?;
        self.seen.insert(&event.event_id);
        Ok(Outcome::Processed {
            event_id: event.event_id,
            action,
        })
    }
}

/// A message body as a payment event of the supported schema.
pub fn parse(body: &str) -> Result<PaymentEvent, MessageError> {
    let event: PaymentEvent = serde_json::from_str(body)?;
    if event.schema != payhook::event::SCHEMA {
        return Err(MessageError::Schema(event.schema));
    }
    Ok(event)
}

/// True when the batch comes from a FIFO queue.
fn is_fifo(event: &SqsEvent) -> bool {
    event.records.iter().any(|m| {
        m.event_source_arn
            .as_deref()
            .is_some_and(|a| a.ends_with(".fifo"))
            || m.attributes.contains_key("MessageGroupId")
    })
}

/// Handle one SQS batch; the answer lists the messages to redeliver.
///
/// Messages are handled one after the other, in the batch's order (so a
/// duplicate inside one batch is skipped too). A failed message is reported
/// by its `messageId`; a message without one is reported with an empty id,
/// which makes Lambda retry the whole batch (nothing is lost, processed
/// messages are then skipped as duplicates).
pub async fn handle_batch<P: Processor>(
    consumer: &Consumer<P>,
    event: SqsEvent,
) -> SqsBatchResponse {
    let fifo = is_fifo(&event);
    let mut response = SqsBatchResponse::default();
    let mut failed = false;
    for msg in &event.records {
        let id = msg.message_id.clone().unwrap_or_default();
        let result = if fifo && failed {
            Err(MessageError::Skipped)
        } else {
            consumer.handle_message(msg).await
        };
        match result {
            Ok(Outcome::Processed { .. }) => {}
            Ok(Outcome::Duplicate { event_id }) => {
                tracing::info!(message_id = %id, %event_id, "duplicate event skipped");
            }
            Err(e) => {
                failed = true;
                tracing::warn!(message_id = %id, error = %e, "message not handled; SQS will redeliver it");
                response.add_failure(id);
            }
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seen_ids_forget_the_oldest() {
        let s = SeenIds::new(2);
        assert!(s.insert("a"));
        assert!(!s.insert("a"));
        assert!(s.insert("b"));
        assert!(s.insert("c"));
        assert!(!s.contains("a"));
        assert!(s.contains("b") && s.contains("c"));
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn every_status_has_an_action() {
        assert_eq!(action_for(Status::Completed), Action::Fulfil);
        assert_eq!(action_for(Status::Expired), Action::Cancel);
        assert_eq!(action_for(Status::Unknown), Action::Ignore);
    }
}
