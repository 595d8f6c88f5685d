//! In-memory event store, for unit and handler tests and benchmarks. Same
//! semantics as the persistent adapters; nothing survives the process.
//!
//! Events and orders are kept in [`Shards`]: a hash map grows by moving every
//! entry into a table twice its size, under the store's lock, and at a few
//! hundred thousand events one such move held every request for tens of
//! milliseconds (the memory backend's p99 in BENCHMARKS.md section 2). Split
//! in 256 maps, a move is 1/256 of that. (A B-tree, which never moves the
//! whole map, was measured too: its key comparisons made each webhook cost
//! ~10 µs more CPU.) Events still waiting to be published are also kept in a
//! set ordered as [`EventStore::stuck`] answers, so the sweep reads those
//! alone instead of every event.
//!
//! Keys are hashed with `foldhash` (seeded per process) instead of the
//! standard library's SipHash, once per lookup: the hash picks the shard by
//! its bits 32–39 and is kept with the entry, and hashbrown's `HashTable`
//! places the entry by its low bits and tags it with its top 7, so one
//! hash serves both and growing a table never hashes a key again. A key is
//! not stored apart from its value (the event's id is in its record, the
//! order's in its state). SipHash was the store's largest item in `perf`
//! (~3 % of `payhook serve`'s samples under the section 2 load); its
//! resistance to chosen colliding keys is not needed here: a key is stored
//! only after its webhook's signature checked out, and event ids are SHA-256
//! digests. Measured side by side on 2026-12-03 (4 interleaved runs each):
//! foldhash instead of SipHash, user-space CPU per webhook 23.5 → 21.6 µs
//! (medians), lower in every run.

use super::{
    Claim, EventFilter, EventRecord, EventState, EventStore, OrderState, StoreError, StoredEvent,
    matches, stored_rank,
};
use async_trait::async_trait;
use foldhash::fast::RandomState;
use hashbrown::HashTable;
use hashbrown::hash_table::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{BuildHasher, Hash};
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

/// Tables in a [`Shards`].
const SHARDS: usize = 256;

/// A value and the hash of its key. The value is boxed: a table then holds
/// 16 bytes per entry instead of a whole record (~220 bytes), so growing it
/// moves and zeroes a fraction of the memory.
struct Slot<V> {
    hash: u64,
    value: Box<V>,
}

/// A hash table split in [`SHARDS`] tables, each value in the one its key's
/// hash picks: growing moves one small table at a time, never the whole.
/// Each value holds its own key; callers pass the key's hash (from
/// [`Shards::hash`]) and how to recognize the key.
struct Shards<V> {
    state: RandomState,
    maps: Box<[HashTable<Slot<V>>; SHARDS]>,
}

impl<V> Default for Shards<V> {
    fn default() -> Self {
        Shards {
            state: RandomState::default(),
            maps: Box::new(std::array::from_fn(|_| HashTable::new())),
        }
    }
}

impl<V> Shards<V> {
    fn hash(&self, key: impl Hash) -> u64 {
        self.state.hash_one(key)
    }

    /// The table of `hash`: its bits 32–39, which hashbrown does not use
    /// while a table has fewer than 2^32 buckets (it places by the low bits
    /// and tags by the top 7). Always in bounds (`% SHARDS`).
    fn shard(hash: u64) -> usize {
        ((hash >> 32) as usize) % SHARDS
    }

    fn table(&mut self, hash: u64) -> &mut HashTable<Slot<V>> {
        &mut self.maps[Self::shard(hash)]
    }

    fn get(&self, hash: u64, is: impl Fn(&V) -> bool) -> Option<&V> {
        self.maps[Self::shard(hash)]
            .find(hash, |s| s.hash == hash && is(&s.value))
            .map(|s| &*s.value)
    }

    fn get_mut(&mut self, hash: u64, is: impl Fn(&V) -> bool) -> Option<&mut V> {
        self.table(hash)
            .find_mut(hash, |s| s.hash == hash && is(&s.value))
            .map(|s| &mut *s.value)
    }

    fn entry(&mut self, hash: u64, is: impl Fn(&V) -> bool) -> Entry<'_, Slot<V>> {
        self.table(hash)
            .entry(hash, |s| s.hash == hash && is(&s.value), |s| s.hash)
    }

    fn values(&self) -> impl Iterator<Item = &V> {
        self.maps.iter().flat_map(|t| t.iter().map(|s| &*s.value))
    }
}

#[derive(Default)]
struct State {
    /// Keyed by `rec.event_id`.
    events: Shards<Item>,
    /// `(received_at, event_id)` of every event in state `recorded`.
    pending: BTreeSet<(OffsetDateTime, String)>,
    /// Keyed by `(provider, order_id)`.
    orders: Shards<OrderState>,
    users: BTreeMap<String, super::users::UserRecord>,
}

impl State {
    fn event(&self, id: &str) -> Option<&Item> {
        let hash = self.events.hash(id);
        self.events.get(hash, |i| i.rec.event_id == id)
    }

    fn event_mut(&mut self, id: &str) -> Option<&mut Item> {
        let hash = self.events.hash(id);
        self.events.get_mut(hash, |i| i.rec.event_id == id)
    }
}

/// An [`EventStore`] in maps behind one `Mutex`.
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
        let st = &mut *st;
        let hash = st.events.hash(rec.event_id.as_str());
        match st.events.entry(hash, |i| i.rec.event_id == rec.event_id) {
            Entry::Vacant(v) => {
                v.insert(Slot {
                    hash,
                    value: Box::new(Item {
                        rec: rec.clone(),
                        state: EventState::Recorded,
                        lease_until: until,
                        published_at: None,
                    }),
                });
                st.pending.insert((rec.received_at, rec.event_id.clone()));
                Ok(Claim::New)
            }
            Entry::Occupied(mut o) => {
                let it = &mut o.get_mut().value;
                if it.rec.payload_sha256 != rec.payload_sha256 {
                    Ok(Claim::Conflict)
                } else if it.state == EventState::Published {
                    Ok(Claim::Duplicate)
                } else if it.lease_until > now {
                    Ok(Claim::InFlight)
                } else {
                    it.lease_until = until;
                    Ok(Claim::TakenOver)
                }
            }
        }
    }

    async fn release(&self, event_id: &str) -> Result<(), StoreError> {
        let mut st = self.lock()?;
        if let Some(it) = st.event_mut(event_id)
            && it.state == EventState::Recorded
        {
            it.lease_until = OffsetDateTime::UNIX_EPOCH;
        }
        Ok(())
    }

    async fn complete(&self, rec: &EventRecord, now: OffsetDateTime) -> Result<(), StoreError> {
        let mut st = self.lock()?;
        let st = &mut *st;
        let hash = st.events.hash(rec.event_id.as_str());
        let Some(it) = st.events.get_mut(hash, |i| i.rec.event_id == rec.event_id) else {
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
        // The id is lent to the key and given back: no copy of it to drop.
        let pending = (it.rec.received_at, std::mem::take(&mut it.rec.event_id));
        st.pending.remove(&pending);
        it.rec.event_id = pending.1;
        let hash = st.orders.hash((rec.provider, rec.order_id.as_str()));
        let is = |o: &OrderState| o.provider == rec.provider && o.order_id == rec.order_id;
        let order = &mut st
            .orders
            .entry(hash, is)
            .or_insert_with(|| Slot {
                hash,
                value: Box::new(OrderState {
                    provider: rec.provider,
                    order_id: rec.order_id.clone(),
                    status: crate::Status::Unknown,
                    last_event_id: rec.event_id.clone(),
                    updated_at: now,
                    event_count: 0,
                }),
            })
            .into_mut()
            .value;
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
            .filter_map(|(_, id)| st.event(id))
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
        match st.event_mut(event_id) {
            Some(it) if it.state == EventState::Recorded && it.lease_until <= now => {
                it.lease_until = now + lease;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn get_event(&self, event_id: &str) -> Result<Option<StoredEvent>, StoreError> {
        Ok(self.lock()?.event(event_id).map(stored))
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
        let mut v: Vec<OrderState> = self.lock()?.orders.values().cloned().collect();
        v.sort_by(|a, b| (a.provider, &a.order_id).cmp(&(b.provider, &b.order_id)));
        Ok(v)
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
