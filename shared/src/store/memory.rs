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
//! standard library's SipHash: each new event hashes its id and its order's
//! key twice (the shard, then the map), and SipHash was the largest single
//! item of the store in `perf` (~3 % of `payhook serve`'s samples under the
//! section 2 load). SipHash's resistance to chosen colliding keys is not
//! needed here: a key is stored only after its webhook's signature checked
//! out, and event ids are SHA-256 digests. Measured side by side on
//! 2026-12-03 (4 interleaved runs each): user-space CPU per webhook 23.5 →
//! 21.6 µs (medians), lower in every run.

use super::{
    Claim, EventFilter, EventRecord, EventState, EventStore, OrderState, StoreError, StoredEvent,
    matches, stored_rank,
};
use async_trait::async_trait;
use foldhash::fast::RandomState;
use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
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

/// Maps in a [`Shards`].
const SHARDS: usize = 256;

/// A hash map split in [`SHARDS`] maps, each key in the one its hash picks:
/// growing moves one small map at a time, never the whole. `pick` and every
/// map have seeds of their own (each `RandomState::default()` draws one), so
/// the keys of one shard, which share the bits `pick` chose it by, still
/// spread over all of their map's buckets.
struct Shards<K, V> {
    pick: RandomState,
    maps: Box<[HashMap<K, V, RandomState>; SHARDS]>,
}

impl<K: Hash + Eq, V> Default for Shards<K, V> {
    fn default() -> Self {
        Shards {
            pick: RandomState::default(),
            maps: Box::new(std::array::from_fn(|_| {
                HashMap::with_hasher(RandomState::default())
            })),
        }
    }
}

impl<K: Hash + Eq, V> Shards<K, V> {
    /// The map of `key`: always in bounds (`% SHARDS`).
    fn index<Q: Hash + ?Sized>(&self, key: &Q) -> usize {
        (self.pick.hash_one(key) as usize) % SHARDS
    }

    fn get<Q: Hash + Eq + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.maps[self.index(key)].get(key)
    }

    fn get_mut<Q: Hash + Eq + ?Sized>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
    {
        let i = self.index(key);
        self.maps[i].get_mut(key)
    }

    fn insert(&mut self, key: K, value: V) {
        let i = self.index(&key);
        self.maps[i].insert(key, value);
    }

    /// The value of `key`, made by `make` when there is none.
    fn get_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        let i = self.index(&key);
        self.maps[i].entry(key).or_insert_with(make)
    }

    fn values(&self) -> impl Iterator<Item = &V> {
        self.maps.iter().flat_map(HashMap::values)
    }
}

#[derive(Default)]
struct State {
    events: Shards<String, Item>,
    /// `(received_at, event_id)` of every event in state `recorded`.
    pending: BTreeSet<(OffsetDateTime, String)>,
    orders: Shards<(crate::ProviderId, String), OrderState>,
    users: BTreeMap<String, super::users::UserRecord>,
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
        let order = st.orders.get_or_insert_with(key, || OrderState {
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
