//! In-memory publishers: [`MemoryPublisher`] keeps every published message,
//! copies included, so tests can count them; [`CountingPublisher`] keeps
//! none (`payhook serve --backend memory`).

use super::{PublishError, Publisher};
use crate::event::PaymentEvent;
use async_trait::async_trait;
use std::sync::Mutex;

#[derive(Default)]
pub struct MemoryPublisher {
    messages: Mutex<Vec<String>>,
}

impl MemoryPublisher {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every message published so far, in order (duplicates kept).
    pub fn messages(&self) -> Vec<String> {
        self.messages.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl Publisher for MemoryPublisher {
    async fn publish(&self, _event: &PaymentEvent, json: &str) -> Result<(), PublishError> {
        self.messages
            .lock()
            .map_err(|_| PublishError::Unavailable("memory publisher lock poisoned".into()))?
            .push(json.to_owned());
        Ok(())
    }
}

/// A publisher without a consumer: counts the messages it is given and keeps
/// none. `payhook serve --backend memory` publishes here: in one process
/// nothing reads published messages, and every event is in the memory store
/// already (a [`MemoryPublisher`] there kept each event's JSON a second time,
/// for good, and its copy was ~3 % of serve's CPU per webhook in `perf`).
#[derive(Default)]
pub struct CountingPublisher {
    published: std::sync::atomic::AtomicU64,
}

impl CountingPublisher {
    pub fn new() -> Self {
        Self::default()
    }

    /// Messages published so far (replays included).
    pub fn published(&self) -> u64 {
        self.published.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[async_trait]
impl Publisher for CountingPublisher {
    async fn publish(&self, _event: &PaymentEvent, _json: &str) -> Result<(), PublishError> {
        self.published
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::test_support::block_on;

    #[test]
    fn counting_publisher_counts_publishes_and_replays_and_keeps_nothing() {
        let ev = PaymentEvent::new(
            crate::ProviderId::new("koywe"),
            "checkout",
            "order.completed",
            crate::Status::Completed,
            "o1",
            time::OffsetDateTime::UNIX_EPOCH,
            serde_json::Value::Null,
        );
        let p = CountingPublisher::new();
        assert_eq!(p.published(), 0);
        assert!(block_on(p.publish(&ev, "{}")).is_ok());
        assert!(block_on(p.replay(&ev, "{}")).is_ok());
        assert_eq!(p.published(), 2);
    }
}
