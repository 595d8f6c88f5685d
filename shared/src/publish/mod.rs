//! The publisher port: hand one normalized event to the merchant's systems.
//! Adapters: [`memory`] (tests, here), the SQLite outbox (`payhook-embedded`),
//! SQS (`payhook-aws`).
//!
//! Publishing is at-least-once: after a crash between publish and complete
//! the same event (same `event_id`) may be published again; the SQLite
//! outbox and FIFO queues drop such copies, standard-queue consumers dedupe
//! by `event_id`.

use crate::event::PaymentEvent;
use async_trait::async_trait;

pub mod memory;

/// Publishing failed; the webhook is answered 503.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("queue throttled the request")]
    Throttled,
    #[error("queue unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl PublishError {
    pub fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        PublishError::Unavailable(Box::new(e))
    }
}

#[async_trait]
pub trait Publisher: Send + Sync {
    /// Publish `event`, whose serialized form is `json`.
    async fn publish(&self, event: &PaymentEvent, json: &str) -> Result<(), PublishError>;

    /// Publish `event` again on an operator's request (`payhook replay`),
    /// same `event_id`. Adapters that drop copies of a published event
    /// (the embedded outbox) keep replays; by default, the same as publish.
    async fn replay(&self, event: &PaymentEvent, json: &str) -> Result<(), PublishError> {
        self.publish(event, json).await
    }
}
