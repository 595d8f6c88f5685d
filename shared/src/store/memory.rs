//! In-memory event store, for unit and handler tests and benchmarks. Same
//! semantics as the persistent adapters; nothing survives the process.
//!
//! Maps are B-trees, not hash maps: a hash map grows by moving every entry
//! into a table twice its size under the lock, and at a few hundred thousand
//! events one such move held every request for tens of milliseconds (the
//! memory backend's p99 in BENCHMARKS.md section 2). A B-tree insert costs
//! O(log n) every time and never moves the whole map. Events still waiting to
//! be published are also kept in a set ordered as [`EventStore::stuck`]
//! answers, so the sweep reads those alone instead of every event.

use super::{
    Claim, EventFilter, EventRecord, EventState, EventStore, OrderState, StoreError, StoredEvent,
    matches, stored_rank,
};
use async_trait::async_trait;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;
use time::OffsetDateTime;

#[derive(Debug, Clone)]
struct Item {
    rec: EventRecord,
    state: EventState,
    lease_until: OffsetDateTime,
    published_at: Option<OffsetDateTime>,
}

#[derive(Default)]
struct State {
    events: BTreeMap<String, Item>,
    /// `(received_at, event_id)` of every event in state `recorded`.
    pending: BTreeSet<(OffsetDateTime, String)>,
    orders: BTreeMap<(crate::ProviderId, String), OrderState>,
    users: BTreeMap<String, super::users::UserRecord>,
}

/// An [`EventStore`] in a `Mutex<BTreeMap>`.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, State>, StoreError> {
        self.state
            .lock()
            .map_err(|_| StoreError::Corrupt("memory store lock poisoned".into()))
    }
}

fn stored(i: &Item) -> StoredEvent {
    StoredEvent {
        event_id: i.rec.event_id.clone(),
        state: i.state,
        event_json: i.rec.event_json.clone(),
        received_at: i.rec.received_at,
        published_at: i.published_at,
    }
}

#[async_trait]
impl EventStore for MemoryStore {
    async fn claim(
        &self,
        rec: &EventRecord,
        now: OffsetDateTime,
        lease: Duration,
    ) -> Result<Claim, StoreError> {
        let mut st = self.lock()?;
        let until = now + lease;
        match st.events.get_mut(&rec.event_id) {
            None => {
                st.pending.insert((rec.received_at, rec.event_id.clone()));
                st.events.insert(
                    rec.event_id.clone(),
                    Item {
                        rec: rec.clone(),
                        state: EventState::Recorded,
                        lease_until: until,
                        published_at: None,
                    },
                );
                Ok(Claim::New)
            }
            Some(it) if it.rec.payload_sha256 != rec.payload_sha256 => Ok(Claim::Conflict),
            Some(it) if it.state == EventState::Published => Ok(Claim::Duplicate),
            Some(it) if it.lease_until > now => Ok(Claim::InFlight),
            Some(it) => {
                it.lease_until = until;
                Ok(Claim::TakenOver)
            }
        }
    }

    async fn release(&self, event_id: &str) -> Result<(), StoreError> {
        let mut st = self.lock()?;
        if let Some(it) = st.events.get_mut(event_id)
            && it.state == EventState::Recorded
        {
            it.lease_until = OffsetDateTime::UNIX_EPOCH;
        }
        Ok(())
    }

    async fn complete(&self, rec: &EventRecord, now: OffsetDateTime) -> Result<(), StoreError> {
        let mut st = self.lock()?;
        let Some(it) = st.events.get_mut(&rec.event_id) else {
            return Err(StoreError::Corrupt(format!(
                "complete of unknown event {}",
                rec.event_id
            )));
        };
        if it.state == EventState::Published {
            return Ok(());
        }
        it.state = EventState::Published;
        it.published_at = Some(now);
        let pending = (it.rec.received_at, it.rec.event_id.clone());
        st.pending.remove(&pending);
        let key = (rec.provider, rec.order_id.clone());
        let order = st.orders.entry(key).or_insert_with(|| OrderState {
            provider: rec.provider,
            order_id: rec.order_id.clone(),
            status: crate::Status::Unknown,
            last_event_id: rec.event_id.clone(),
            updated_at: now,
            event_count: 0,
        });
        order.event_count += 1;
        if stored_rank(rec.status) > stored_rank(order.status) {
            order.status = rec.status;
            order.last_event_id = rec.event_id.clone();
            order.updated_at = now;
        }
        Ok(())
    }

    async fn stuck(
        &self,
        lease_expired_before: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<EventRecord>, StoreError> {
        let st = self.lock()?;
        Ok(st
            .pending
            .iter()
            .filter_map(|(_, id)| st.events.get(id))
            .filter(|i| i.state == EventState::Recorded && i.lease_until <= lease_expired_before)
            .take(limit)
            .map(|i| i.rec.clone())
            .collect())
    }

    async fn take_over(
        &self,
        event_id: &str,
        now: OffsetDateTime,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let mut st = self.lock()?;
        match st.events.get_mut(event_id) {
            Some(it) if it.state == EventState::Recorded && it.lease_until <= now => {
                it.lease_until = now + lease;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn get_event(&self, event_id: &str) -> Result<Option<StoredEvent>, StoreError> {
        Ok(self.lock()?.events.get(event_id).map(stored))
    }

    async fn list_events(&self, filter: &EventFilter) -> Result<Vec<StoredEvent>, StoreError> {
        let st = self.lock()?;
        let mut v: Vec<&Item> = st
            .events
            .values()
            .filter(|i| {
                matches(
                    filter,
                    i.rec.provider,
                    &i.rec.order_id,
                    i.rec.status,
                    i.rec.received_at,
                )
            })
            .collect();
        v.sort_by(|a, b| {
            (a.rec.received_at, &a.rec.event_id).cmp(&(b.rec.received_at, &b.rec.event_id))
        });
        Ok(v.into_iter()
            .take(filter.limit.unwrap_or(usize::MAX))
            .map(stored)
            .collect())
    }

    async fn list_orders(&self) -> Result<Vec<OrderState>, StoreError> {
        // In (provider, order_id) order: the map's own.
        Ok(self.lock()?.orders.values().cloned().collect())
    }
}

#[async_trait]
impl super::users::UserStore for MemoryStore {
    async fn get_user(&self, email: &str) -> Result<Option<super::users::UserRecord>, StoreError> {
        Ok(self.lock()?.users.get(email).cloned())
    }
    async fn put_user(&self, rec: &super::users::UserRecord) -> Result<(), StoreError> {
        self.lock()?.users.insert(rec.email.clone(), rec.clone());
        Ok(())
    }
    async fn remove_user(&self, email: &str) -> Result<bool, StoreError> {
        Ok(self.lock()?.users.remove(email).is_some())
    }
    async fn list_users(&self) -> Result<Vec<super::users::UserRecord>, StoreError> {
        Ok(self.lock()?.users.values().cloned().collect())
    }
}
