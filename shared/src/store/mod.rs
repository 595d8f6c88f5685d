//! The event store port: claim an event exactly once (with a lease), mark it
//! published, move an order's status forward, and look things up. Adapters:
//! [`memory`] (tests, here), SQLite (`payhook-embedded`), DynamoDB
//! (`payhook-aws`).

use crate::event::{PaymentEvent, ProviderId, Status};
use async_trait::async_trait;
use std::time::Duration;
use time::OffsetDateTime;

pub mod memory;
pub mod users;

/// What the store keeps of one event.
#[derive(Debug, Clone)]
pub struct EventRecord {
    pub event_id: String,
    pub provider: ProviderId,
    pub order_id: String,
    pub status: Status,
    pub provider_event: String,
    /// Hex SHA-256 fingerprint of the payload (see `Normalized::fingerprint`).
    pub payload_sha256: String,
    /// The published JSON of the event.
    pub event_json: String,
    pub received_at: OffsetDateTime,
}

impl EventRecord {
    /// The record of `event`; fails when the event cannot be serialized
    /// (see [`PaymentEvent::to_json`]).
    pub fn new(event: &PaymentEvent, fingerprint: &[u8; 32]) -> Result<Self, serde_json::Error> {
        Ok(EventRecord {
            event_id: event.event_id.clone(),
            provider: event.provider,
            order_id: event.order_id.clone(),
            status: event.status,
            provider_event: event.provider_event.clone(),
            payload_sha256: crate::providers::hex_lower(fingerprint),
            event_json: event.to_json()?,
            received_at: event.received_at,
        })
    }
}

/// Outcome of [`EventStore::claim`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// First time this event is seen: the caller holds the lease.
    New,
    /// Recorded earlier but never published, and the previous holder's lease
    /// expired: the caller now holds the lease and must publish.
    TakenOver,
    /// Already published: nothing to do.
    Duplicate,
    /// Recorded, not yet published, lease still held by another delivery.
    /// It is durably recorded: the holder or the sweeper will publish it.
    InFlight,
    /// Same event id, different payload fingerprint.
    Conflict,
}

/// Event lifecycle in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventState {
    Recorded,
    Published,
}

impl EventState {
    pub fn as_str(self) -> &'static str {
        match self {
            EventState::Recorded => "recorded",
            EventState::Published => "published",
        }
    }

    /// Read a stored state back. A value this version does not know (a
    /// damaged row, or one written by a newer version) is an error naming
    /// it, never a guess.
    pub fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "recorded" => Ok(EventState::Recorded),
            "published" => Ok(EventState::Published),
            other => Err(StoreError::UnknownValue {
                field: "event state",
                value: other.to_owned(),
            }),
        }
    }
}

impl std::str::FromStr for EventState {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventState::parse(s)
    }
}

impl std::fmt::Display for EventState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored event, as read back.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub event_id: String,
    pub state: EventState,
    pub event_json: String,
    pub received_at: OffsetDateTime,
    pub published_at: Option<OffsetDateTime>,
}

/// An order's current status.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OrderState {
    pub provider: ProviderId,
    pub order_id: String,
    pub status: Status,
    pub last_event_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub event_count: u64,
}

/// Filter for [`EventStore::list_events`].
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub provider: Option<ProviderId>,
    pub order_id: Option<String>,
    pub status: Option<Status>,
    pub since: Option<OffsetDateTime>,
    pub limit: Option<usize>,
}

/// A store operation that failed. Every variant is an infrastructure fault:
/// the webhook is answered 503 and the provider retries.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store throttled the request")]
    Throttled,
    #[error("store unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("store returned data it cannot read: {0}")]
    Corrupt(String),
    /// A stored field holds a value this version does not know.
    #[error("store returned an unknown {field} {value:?}")]
    UnknownValue { field: &'static str, value: String },
}

impl StoreError {
    pub fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        StoreError::Unavailable(Box::new(e))
    }
}

/// Rank stored for an order status; `unknown` ranks 0 so that it never
/// replaces a known status and any known status replaces it.
pub fn stored_rank(s: Status) -> u8 {
    s.rank().unwrap_or(0)
}

#[async_trait]
pub trait EventStore: Send + Sync {
    /// Record `rec` unless it exists, with a lease until `now + lease`.
    /// One conditional write; see [`Claim`] for the outcomes.
    async fn claim(
        &self,
        rec: &EventRecord,
        now: OffsetDateTime,
        lease: Duration,
    ) -> Result<Claim, StoreError>;

    /// Give the lease back early (after a failed publish) so that the
    /// provider's retry can take the event over at once.
    async fn release(&self, event_id: &str) -> Result<(), StoreError>;

    /// Mark the event published and move its order's status forward (only to
    /// a strictly higher rank; `unknown` never moves it).
    async fn complete(&self, rec: &EventRecord, now: OffsetDateTime) -> Result<(), StoreError>;

    /// Events recorded but not published whose lease expired before
    /// `lease_expired_before` (for the sweeper), oldest first (received_at,
    /// then event_id).
    async fn stuck(
        &self,
        lease_expired_before: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<EventRecord>, StoreError>;

    /// Take the lease of a stuck event (for the sweeper): true if taken.
    async fn take_over(
        &self,
        event_id: &str,
        now: OffsetDateTime,
        lease: Duration,
    ) -> Result<bool, StoreError>;

    async fn get_event(&self, event_id: &str) -> Result<Option<StoredEvent>, StoreError>;

    async fn list_events(&self, filter: &EventFilter) -> Result<Vec<StoredEvent>, StoreError>;

    async fn list_orders(&self) -> Result<Vec<OrderState>, StoreError>;
}

/// Does `ev` pass `f`? (for adapters that filter in memory).
pub fn matches(
    f: &EventFilter,
    rec_provider: ProviderId,
    order_id: &str,
    status: Status,
    received_at: OffsetDateTime,
) -> bool {
    f.provider.is_none_or(|p| p == rec_provider)
        && f.order_id.as_deref().is_none_or(|o| o == order_id)
        && f.status.is_none_or(|s| s == status)
        && f.since.is_none_or(|t| received_at >= t)
}

/// A backend that keeps both events and users (every adapter here does).
pub trait Store: EventStore + users::UserStore {}

impl<T: EventStore + users::UserStore> Store for T {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_state_round_trips_and_refuses_unknown_values() {
        for st in [EventState::Recorded, EventState::Published] {
            assert_eq!(EventState::parse(st.as_str()).ok(), Some(st));
            assert_eq!(st.as_str().parse::<EventState>().ok(), Some(st));
        }
        for bad in ["", "Published", "archived"] {
            match EventState::parse(bad) {
                Err(StoreError::UnknownValue { field, value }) => {
                    assert_eq!((field, value.as_str()), ("event state", bad));
                }
                other => panic!("{bad:?} read as {other:?}"),
            }
        }
        let e = EventState::parse("archived").err().map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("store returned an unknown event state \"archived\"")
        );
    }
}
