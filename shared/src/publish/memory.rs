//! In-memory publisher: keeps every published message, copies included, so
//! tests can count them.

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
