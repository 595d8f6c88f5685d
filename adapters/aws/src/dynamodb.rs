//! DynamoDB event store: one table, string partition key `pk`, items written
//! with conditional expressions (never read-then-write).
//!
//! | item  | `pk`                              | written by |
//! |-------|-----------------------------------|------------|
//! | event | `EVENT#{event_id}`                | [`EventStore::claim`], [`EventStore::complete`] |
//! | order | `ORDER#{provider}#{order_id}`     | [`EventStore::complete`] |
//! | user  | `USER#{lowercased email}`         | user validation (later) |
//!
//! Items are (de)serialized with `serde_dynamo` from one struct per kind.
//! Instants used in conditions (`lease_until`, `gsi1sk`) are epoch
//! **milliseconds** (numbers), `expires_at` is epoch seconds (the TTL
//! attribute), other instants are RFC 3339 strings.
//!
//! Request budget per webhook: a duplicate costs exactly one request (the
//! claim); a new event costs two (claim + one `TransactWriteItems`), three
//! when its status does not move the order forward (the transaction is
//! cancelled by the order's condition and a second one only counts the
//! event).
//!
//! # Finding stuck events without a Scan
//!
//! An event carries `gsi1pk = "RECORDED#{n}"` and `gsi1sk = lease_until`
//! only while it is `recorded`; `complete` removes both, so the global
//! secondary index [`GSI_NAME`] is *sparse*: it holds only events that are
//! recorded and not yet published (normally just the few in flight), never
//! the table's history. `n` is a shard (`0..`[`SWEEP_SHARDS`]) derived from
//! the event id, so writes to the index are spread over
//! [`SWEEP_SHARDS`] partition keys instead of one hot key. The sweeper
//! issues one `Query` per shard with `gsi1sk <= cutoff`, reading only the
//! events whose lease expired. Its cost is therefore proportional to the
//! number of stuck events (plus [`SWEEP_SHARDS`] requests per run),
//! independent of the table size and retention. Each index partition key
//! sustains roughly 1,000 writes/s, and an event writes the index about
//! twice (claim adds it, complete removes it), so [`SWEEP_SHARDS`] = 8
//! supports on the order of 4,000 new events per second; raise the
//! constant for more (existing items keep their shard; the sweeper queries
//! all of them). The index is eventually consistent: the sweeper may see an
//! event that was just published, which its conditional `take_over` then
//! rejects.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, ReturnValue, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update,
};
use payhook::event::{ProviderId, Status};
use payhook::store::{
    Claim, EventFilter, EventRecord, EventState, EventStore, OrderState, StoreError, StoredEvent,
    matches, stored_rank,
};
use payhook::users::{Decision, UserRecord, UserStore};
use serde::{Deserialize, Serialize};
use serde_dynamo::aws_sdk_dynamodb_1::{from_item, to_item};
use std::collections::HashMap;
use std::time::Duration;
use time::OffsetDateTime;

/// Name of the sparse index of recorded-but-unpublished events.
pub const GSI_NAME: &str = "gsi1";
/// Number of partition keys (`RECORDED#0` …) the sparse index is spread over.
pub const SWEEP_SHARDS: u32 = 8;
/// The table's partition key attribute.
pub const PARTITION_KEY: &str = "pk";
/// The TTL attribute of event items (epoch seconds).
pub const TTL_ATTRIBUTE: &str = "expires_at";

const EVENT_PREFIX: &str = "EVENT#";
const ORDER_PREFIX: &str = "ORDER#";
const USER_PREFIX: &str = "USER#";

type Item = HashMap<String, AttributeValue>;

/// An [`EventStore`] on one DynamoDB table (see the module docs for the
/// item layout and the sweeper index).
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    retention_days: u32,
}

/// An event item.
#[derive(Debug, Serialize, Deserialize)]
struct EventItem {
    pk: String,
    event_id: String,
    state: String,
    /// Epoch milliseconds; `0` after a release.
    lease_until: i64,
    payload_sha256: String,
    provider: ProviderId,
    order_id: String,
    status: Status,
    provider_event: String,
    event_json: String,
    #[serde(with = "time::serde::rfc3339")]
    received_at: OffsetDateTime,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    published_at: Option<OffsetDateTime>,
    /// TTL, epoch seconds.
    expires_at: i64,
    /// `RECORDED#{shard}` while recorded; removed on complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi1pk: Option<String>,
    /// `lease_until` while recorded; removed on complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi1sk: Option<i64>,
}

/// The attributes of an event item that decide a claim.
#[derive(Debug, Deserialize)]
struct ClaimView {
    state: String,
    payload_sha256: String,
}

/// An order item.
#[derive(Debug, Serialize, Deserialize)]
struct OrderItem {
    pk: String,
    provider: ProviderId,
    order_id: String,
    status: Status,
    status_rank: u8,
    last_event_id: String,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
    event_count: u64,
}

/// `pk` of an event item.
pub fn event_pk(event_id: &str) -> String {
    format!("{EVENT_PREFIX}{event_id}")
}

/// `pk` of an order item.
pub fn order_pk(provider: ProviderId, order_id: &str) -> String {
    format!("{ORDER_PREFIX}{provider}#{order_id}")
}

/// `pk` of a user item (Koywe user validation).
pub fn user_pk(email: &str) -> String {
    format!("{USER_PREFIX}{}", email.to_lowercase())
}

/// The sweeper-index shard of an event (FNV-1a of the id, stable forever).
pub fn sweep_shard(event_id: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in event_id.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h % SWEEP_SHARDS
}

fn shard_key(shard: u32) -> String {
    format!("RECORDED#{shard}")
}

fn millis(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

#[cfg(test)]
fn from_millis(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// Error codes that mean "slow down and retry" (service errors and
/// transaction cancellation reasons).
const THROTTLE_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ProvisionedThroughputExceeded",
    "RequestLimitExceeded",
    "ThrottlingException",
    "ThrottlingError",
    "Throttling",
    "TransactionConflictException",
    "TransactionConflict",
    "TransactionInProgressException",
];

fn is_throttle(code: Option<&str>) -> bool {
    code.is_some_and(|c| THROTTLE_CODES.contains(&c))
}

/// Keep SDK errors typed: throttling becomes [`StoreError::Throttled`],
/// anything else [`StoreError::Unavailable`] holding the `SdkError` itself.
fn sdk_err<E>(e: SdkError<E, HttpResponse>) -> StoreError
where
    E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
{
    if is_throttle(e.code()) {
        StoreError::Throttled
    } else {
        StoreError::unavailable(e)
    }
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

impl EventItem {
    fn new(rec: &EventRecord, now: OffsetDateTime, lease: Duration, retention_days: u32) -> Self {
        let until = millis(now + lease);
        EventItem {
            pk: event_pk(&rec.event_id),
            event_id: rec.event_id.clone(),
            state: EventState::Recorded.as_str().to_owned(),
            lease_until: until,
            payload_sha256: rec.payload_sha256.clone(),
            provider: rec.provider,
            order_id: rec.order_id.clone(),
            status: rec.status,
            provider_event: rec.provider_event.clone(),
            event_json: rec.event_json.clone(),
            received_at: rec.received_at,
            published_at: None,
            expires_at: now
                .unix_timestamp()
                .saturating_add(i64::from(retention_days).saturating_mul(86_400)),
            gsi1pk: Some(shard_key(sweep_shard(&rec.event_id))),
            gsi1sk: Some(until),
        }
    }

    /// The stored state; an unknown value is an error naming it.
    fn state(&self) -> Result<EventState, StoreError> {
        EventState::parse(&self.state)
    }

    fn stored(self) -> Result<StoredEvent, StoreError> {
        Ok(StoredEvent {
            state: self.state()?,
            event_id: self.event_id,
            event_json: self.event_json,
            received_at: self.received_at,
            published_at: self.published_at,
        })
    }

    fn record(self) -> EventRecord {
        EventRecord {
            event_id: self.event_id,
            provider: self.provider,
            order_id: self.order_id,
            status: self.status,
            provider_event: self.provider_event,
            payload_sha256: self.payload_sha256,
            event_json: self.event_json,
            received_at: self.received_at,
        }
    }
}

impl OrderItem {
    fn state(self) -> OrderState {
        OrderState {
            provider: self.provider,
            order_id: self.order_id,
            status: self.status,
            last_event_id: self.last_event_id,
            updated_at: self.updated_at,
            event_count: self.event_count,
        }
    }
}

impl DynamoStore {
    /// A store on `table`; event items expire `retention_days` after their
    /// first receipt (DynamoDB TTL on `expires_at`).
    pub fn new(client: Client, table: impl Into<String>, retention_days: u32) -> Self {
        DynamoStore {
            client,
            table: table.into(),
            retention_days,
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn retention_days(&self) -> u32 {
        self.retention_days
    }

    fn key(pk: String) -> Item {
        HashMap::from([(PARTITION_KEY.to_owned(), s(pk))])
    }

    /// The transaction item that marks an event published (only if it is
    /// still recorded) and takes it out of the sweeper index.
    fn publish_update(&self, event_id: &str, now: OffsetDateTime) -> Result<Update, StoreError> {
        Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(event_pk(event_id))))
            .update_expression(
                "SET #state = :published, #published_at = :now REMOVE #gsi1pk, #gsi1sk",
            )
            .condition_expression("#state = :recorded")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#published_at", "published_at")
            .expression_attribute_names("#gsi1pk", "gsi1pk")
            .expression_attribute_names("#gsi1sk", "gsi1sk")
            .expression_attribute_values(":published", s(EventState::Published.as_str()))
            .expression_attribute_values(":recorded", s(EventState::Recorded.as_str()))
            .expression_attribute_values(":now", now_rfc3339(now)?)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(StoreError::unavailable)
    }

    /// The order update that moves the status forward (strictly higher
    /// rank, or creates the order) and counts the event.
    fn order_forward(&self, rec: &EventRecord, now: OffsetDateTime) -> Result<Update, StoreError> {
        Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(order_pk(rec.provider, &rec.order_id))))
            .update_expression(
                "SET #provider = :provider, #order_id = :order_id, #status = :status, \
                 #status_rank = :rank, #last_event_id = :event_id, #updated_at = :now \
                 ADD #event_count :one",
            )
            .condition_expression("attribute_not_exists(pk) OR #status_rank < :rank")
            .expression_attribute_names("#provider", "provider")
            .expression_attribute_names("#order_id", "order_id")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#status_rank", "status_rank")
            .expression_attribute_names("#last_event_id", "last_event_id")
            .expression_attribute_names("#updated_at", "updated_at")
            .expression_attribute_names("#event_count", "event_count")
            .expression_attribute_values(":provider", s(rec.provider.as_str()))
            .expression_attribute_values(":order_id", s(&rec.order_id))
            .expression_attribute_values(":status", s(rec.status.as_str()))
            .expression_attribute_values(":rank", n(stored_rank(rec.status)))
            .expression_attribute_values(":event_id", s(&rec.event_id))
            .expression_attribute_values(":now", now_rfc3339(now)?)
            .expression_attribute_values(":one", n(1))
            .build()
            .map_err(StoreError::unavailable)
    }

    /// The order update used when the status does not move: count only.
    fn order_count(&self, rec: &EventRecord) -> Result<Update, StoreError> {
        Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(order_pk(rec.provider, &rec.order_id))))
            .update_expression("ADD #event_count :one")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#event_count", "event_count")
            .expression_attribute_values(":one", n(1))
            .build()
            .map_err(StoreError::unavailable)
    }

    async fn transact(
        &self,
        items: Vec<Update>,
    ) -> Result<(), SdkError<TransactWriteItemsError, HttpResponse>> {
        self.client
            .transact_write_items()
            .set_transact_items(Some(
                items
                    .into_iter()
                    .map(|u| TransactWriteItem::builder().update(u).build())
                    .collect(),
            ))
            .send()
            .await
            .map(|_| ())
    }

    /// The event update of a `complete` was cancelled by its condition: the
    /// event is already published (success: complete is idempotent) or does
    /// not exist (an error). Reads the item only if the cancellation reason
    /// did not carry it.
    async fn already_published(
        &self,
        reason: &CancellationReason,
        event_id: &str,
    ) -> Result<(), StoreError> {
        let state = match reason.item() {
            Some(item) if !item.is_empty() => Some(
                from_item::<ClaimView>(item.clone())
                    .map_err(|e| corrupt("event item", e))?
                    .state,
            ),
            _ => self.read_event(event_id).await?.map(|e| e.state),
        };
        match state.as_deref().map(EventState::parse).transpose()? {
            Some(EventState::Published) => Ok(()),
            Some(st) => Err(StoreError::Corrupt(format!(
                "complete of event {event_id} in state {st}"
            ))),
            None => Err(StoreError::Corrupt(format!(
                "complete of unknown event {event_id}"
            ))),
        }
    }

    async fn read_event(&self, event_id: &str) -> Result<Option<EventItem>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(event_pk(event_id))))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err)?;
        out.item
            .map(|i| from_item::<EventItem>(i).map_err(|e| corrupt("event item", e)))
            .transpose()
    }

    /// All items whose `pk` starts with `prefix` (Scan, paginated).
    async fn scan_prefix(&self, prefix: &str) -> Result<Vec<Item>, StoreError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("begins_with(pk, :prefix)")
                .expression_attribute_values(":prefix", s(prefix))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk_err)?;
            out.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(out),
            }
        }
    }
}

fn now_rfc3339(now: OffsetDateTime) -> Result<AttributeValue, StoreError> {
    now.format(&time::format_description::well_known::Rfc3339)
        .map(AttributeValue::S)
        .map_err(|e| corrupt("timestamp", e))
}

/// Which cancellation reason code a transaction failure carries per item
/// (`None` when the failure is not a cancellation).
fn cancellation(
    e: &SdkError<TransactWriteItemsError, HttpResponse>,
) -> Option<&[CancellationReason]> {
    match e.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(t)) => {
            Some(t.cancellation_reasons())
        }
        _ => None,
    }
}

fn reason_is(r: Option<&CancellationReason>, code: &str) -> bool {
    r.and_then(CancellationReason::code) == Some(code)
}

#[async_trait]
impl EventStore for DynamoStore {
    /// One conditional `UpdateItem` (an upsert): the item is created when
    /// absent, or its lease renewed when it is recorded with an expired lease
    /// and the same payload digest. Every other attribute is written with
    /// `if_not_exists`, so a take-over keeps the first delivery's
    /// `received_at`, event JSON and `expires_at` (as the in-memory store
    /// does). `ReturnValues=ALL_OLD` tells `New` (no old item) from
    /// `TakenOver`; on a failed condition
    /// `ReturnValuesOnConditionCheckFailure=ALL_OLD` returns the item, which
    /// tells `Duplicate` / `InFlight` / `Conflict` apart without a second
    /// read.
    async fn claim(
        &self,
        rec: &EventRecord,
        now: OffsetDateTime,
        lease: Duration,
    ) -> Result<Claim, StoreError> {
        let item: Item = to_item(EventItem::new(rec, now, lease, self.retention_days))
            .map_err(|e| corrupt("event item", e))?;
        let mut sets = Vec::with_capacity(item.len());
        let mut names = HashMap::new();
        let mut values = HashMap::new();
        for (attr, value) in item {
            if attr == PARTITION_KEY {
                continue;
            }
            let (name, val) = (format!("#{attr}"), format!(":{attr}"));
            if attr == "lease_until" || attr == "gsi1sk" {
                sets.push(format!("{name} = {val}"));
            } else {
                sets.push(format!("{name} = if_not_exists({name}, {val})"));
            }
            names.insert(name, attr);
            values.insert(val, value);
        }
        sets.sort();
        values.insert(":now".to_owned(), n(millis(now)));
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(event_pk(&rec.event_id))))
            .update_expression(format!("SET {}", sets.join(", ")))
            .condition_expression(
                "attribute_not_exists(pk) OR (#state = :state AND #lease_until <= :now \
                 AND #payload_sha256 = :payload_sha256)",
            )
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .return_values(ReturnValue::AllOld)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => Ok(if out.attributes.is_some_and(|a| !a.is_empty()) {
                Claim::TakenOver
            } else {
                Claim::New
            }),
            Err(e) => {
                let old = match e.as_service_error() {
                    Some(UpdateItemError::ConditionalCheckFailedException(c)) => c.item().cloned(),
                    _ => return Err(sdk_err(e)),
                };
                let Some(old) = old.filter(|o| !o.is_empty()) else {
                    return Err(StoreError::Corrupt(format!(
                        "claim of {} failed its condition without returning the item",
                        rec.event_id
                    )));
                };
                let old: ClaimView = from_item(old).map_err(|e| corrupt("event item", e))?;
                Ok(if old.payload_sha256 != rec.payload_sha256 {
                    Claim::Conflict
                } else if EventState::parse(&old.state)? == EventState::Published {
                    Claim::Duplicate
                } else {
                    // Recorded, same payload, and the condition failed: the
                    // lease is still held.
                    Claim::InFlight
                })
            }
        }
    }

    async fn release(&self, event_id: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(event_pk(event_id))))
            .update_expression("SET #lease_until = :zero, #gsi1sk = :zero")
            .condition_expression("#state = :recorded")
            .expression_attribute_names("#lease_until", "lease_until")
            .expression_attribute_names("#gsi1sk", "gsi1sk")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":recorded", s(EventState::Recorded.as_str()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(UpdateItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(sdk_err(e)),
        }
    }

    /// One `TransactWriteItems`: [event recorded → published, order status
    /// forward + `ADD event_count 1`]. If only the order's condition
    /// cancelled it (the status does not move the order forward), a second
    /// transaction marks the event published and only counts it on the
    /// order. An event already published makes this a successful no-op.
    async fn complete(&self, rec: &EventRecord, now: OffsetDateTime) -> Result<(), StoreError> {
        let first = self
            .transact(vec![
                self.publish_update(&rec.event_id, now)?,
                self.order_forward(rec, now)?,
            ])
            .await;
        let Err(e) = first else { return Ok(()) };
        let Some(reasons) = cancellation(&e) else {
            return Err(sdk_err(e));
        };
        if reasons.iter().any(|r| is_throttle(r.code())) {
            return Err(StoreError::Throttled);
        }
        if let Some(reason) = reasons
            .first()
            .filter(|r| reason_is(Some(r), "ConditionalCheckFailed"))
        {
            return self.already_published(reason, &rec.event_id).await;
        }
        if !reason_is(reasons.get(1), "ConditionalCheckFailed") {
            return Err(StoreError::unavailable(e));
        }
        let second = self
            .transact(vec![
                self.publish_update(&rec.event_id, now)?,
                self.order_count(rec)?,
            ])
            .await;
        let Err(e) = second else { return Ok(()) };
        let Some(reasons) = cancellation(&e) else {
            return Err(sdk_err(e));
        };
        if reasons.iter().any(|r| is_throttle(r.code())) {
            return Err(StoreError::Throttled);
        }
        if let Some(reason) = reasons
            .first()
            .filter(|r| reason_is(Some(r), "ConditionalCheckFailed"))
        {
            return self.already_published(reason, &rec.event_id).await;
        }
        Err(StoreError::unavailable(e))
    }

    /// One `Query` per shard of the sparse index (see the module docs), no
    /// Scan; merged oldest first.
    async fn stuck(
        &self,
        lease_expired_before: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<EventRecord>, StoreError> {
        let cutoff = millis(lease_expired_before);
        let page_limit = i32::try_from(limit.clamp(1, 1000)).unwrap_or(1000);
        let mut found = Vec::new();
        for shard in 0..SWEEP_SHARDS {
            let mut taken = 0usize;
            let mut start: Option<Item> = None;
            loop {
                let page = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .index_name(GSI_NAME)
                    .key_condition_expression("#gsi1pk = :shard AND #gsi1sk <= :cutoff")
                    .expression_attribute_names("#gsi1pk", "gsi1pk")
                    .expression_attribute_names("#gsi1sk", "gsi1sk")
                    .expression_attribute_values(":shard", s(shard_key(shard)))
                    .expression_attribute_values(":cutoff", n(cutoff))
                    .limit(page_limit)
                    .set_exclusive_start_key(start.take())
                    .send()
                    .await
                    .map_err(sdk_err)?;
                for item in page.items.unwrap_or_default() {
                    let ev: EventItem = from_item(item).map_err(|e| corrupt("event item", e))?;
                    if ev.state()? == EventState::Recorded {
                        found.push(ev);
                        taken += 1;
                    }
                }
                match page.last_evaluated_key {
                    Some(k) if !k.is_empty() && taken < limit => start = Some(k),
                    _ => break,
                }
            }
        }
        found.sort_by(|a, b| (a.received_at, &a.event_id).cmp(&(b.received_at, &b.event_id)));
        Ok(found
            .into_iter()
            .take(limit)
            .map(EventItem::record)
            .collect())
    }

    async fn take_over(
        &self,
        event_id: &str,
        now: OffsetDateTime,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(event_pk(event_id))))
            .update_expression("SET #lease_until = :until, #gsi1sk = :until")
            .condition_expression("#state = :recorded AND #lease_until <= :now")
            .expression_attribute_names("#lease_until", "lease_until")
            .expression_attribute_names("#gsi1sk", "gsi1sk")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":until", n(millis(now + lease)))
            .expression_attribute_values(":now", n(millis(now)))
            .expression_attribute_values(":recorded", s(EventState::Recorded.as_str()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(UpdateItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(sdk_err(e)),
        }
    }

    /// One strongly consistent `GetItem`.
    async fn get_event(&self, event_id: &str) -> Result<Option<StoredEvent>, StoreError> {
        self.read_event(event_id)
            .await?
            .map(EventItem::stored)
            .transpose()
    }

    /// **Scans the whole table** (paginated) and filters in memory: for the
    /// operator CLI only, never on the webhook path.
    async fn list_events(&self, filter: &EventFilter) -> Result<Vec<StoredEvent>, StoreError> {
        let mut v = Vec::new();
        for item in self.scan_prefix(EVENT_PREFIX).await? {
            let ev: EventItem = from_item(item).map_err(|e| corrupt("event item", e))?;
            if matches(filter, ev.provider, &ev.order_id, ev.status, ev.received_at) {
                v.push(ev);
            }
        }
        v.sort_by(|a, b| (a.received_at, &a.event_id).cmp(&(b.received_at, &b.event_id)));
        v.into_iter()
            .take(filter.limit.unwrap_or(usize::MAX))
            .map(EventItem::stored)
            .collect()
    }

    /// **Scans the whole table** (paginated): for the operator CLI only.
    async fn list_orders(&self) -> Result<Vec<OrderState>, StoreError> {
        let mut v = Vec::new();
        for item in self.scan_prefix(ORDER_PREFIX).await? {
            let o: OrderItem = from_item(item).map_err(|e| corrupt("order item", e))?;
            v.push(o.state());
        }
        v.sort_by(|a, b| (a.provider, &a.order_id).cmp(&(b.provider, &b.order_id)));
        Ok(v)
    }
}

/// A user item (Koywe user validation).
#[derive(Debug, Serialize, Deserialize)]
struct UserItem {
    pk: String,
    email: String,
    decision: Decision,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
}

impl UserItem {
    fn record(self) -> UserRecord {
        UserRecord {
            email: self.email,
            decision: self.decision,
            reason: self.reason,
            updated_at: self.updated_at,
        }
    }
}

#[async_trait]
impl UserStore for DynamoStore {
    /// One `GetItem` (eventually consistent: decisions change rarely and
    /// the read costs half).
    async fn get_user(&self, email: &str) -> Result<Option<UserRecord>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(user_pk(email))))
            .send()
            .await
            .map_err(sdk_err)?;
        out.item
            .map(|i| from_item::<UserItem>(i).map_err(|e| corrupt("user item", e)))
            .transpose()
            .map(|u| u.map(UserItem::record))
    }

    /// One `PutItem` (replaces the previous decision).
    async fn put_user(&self, rec: &UserRecord) -> Result<(), StoreError> {
        let item: Item = to_item(UserItem {
            pk: user_pk(&rec.email),
            email: rec.email.to_lowercase(),
            decision: rec.decision,
            reason: rec.reason.clone(),
            updated_at: rec.updated_at,
        })
        .map_err(|e| corrupt("user item", e))?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }

    /// One `DeleteItem` with `ReturnValues=ALL_OLD`.
    async fn remove_user(&self, email: &str) -> Result<bool, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(user_pk(email))))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }

    /// **Scans the whole table** (paginated): for the operator CLI only.
    async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError> {
        let mut v = Vec::new();
        for item in self.scan_prefix(USER_PREFIX).await? {
            let u: UserItem = from_item(item).map_err(|e| corrupt("user item", e))?;
            v.push(u.record());
        }
        v.sort_by(|a, b| a.email.cmp(&b.email));
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_shards() {
        assert_eq!(event_pk("ab"), "EVENT#ab");
        assert_eq!(order_pk(ProviderId::KOYWE, "o-1"), "ORDER#koywe#o-1");
        assert_eq!(user_pk("Ana@Example.com"), "USER#ana@example.com");
        let shards: std::collections::BTreeSet<u32> = (0..200)
            .map(|i| sweep_shard(&format!("{i:032x}")))
            .collect();
        assert_eq!(shards.len(), SWEEP_SHARDS as usize);
        assert_eq!(sweep_shard("abc"), sweep_shard("abc"));
    }

    #[test]
    fn millis_round_trip() {
        let t = OffsetDateTime::from_unix_timestamp(1_700_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        assert_eq!(from_millis(millis(t)), t);
    }

    #[test]
    fn event_item_round_trips_through_serde_dynamo() {
        let rec = EventRecord {
            event_id: "e1".into(),
            provider: ProviderId::ONEBUY_WALLET_PAY,
            order_id: "o1".into(),
            status: Status::Unknown,
            provider_event: "x".into(),
            payload_sha256: "00".into(),
            event_json: "{}".into(),
            received_at: OffsetDateTime::UNIX_EPOCH,
        };
        let it = EventItem::new(
            &rec,
            OffsetDateTime::UNIX_EPOCH,
            Duration::from_secs(30),
            30,
        );
        let item: Item = to_item(&it).unwrap_or_default();
        assert_eq!(item.get("provider"), Some(&s("onebuy-wallet-pay")));
        assert_eq!(item.get("status"), Some(&s("unknown")));
        assert_eq!(item.get("lease_until"), Some(&n(30_000)));
        assert_eq!(item.get("expires_at"), Some(&n(30 * 86_400)));
        assert!(!item.contains_key("published_at"));
        let back: EventItem = from_item(item).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back.record().provider, ProviderId::ONEBUY_WALLET_PAY);
    }

    #[test]
    fn an_unknown_event_state_is_an_error_naming_it() {
        let rec = EventRecord {
            event_id: "e1".into(),
            provider: ProviderId::KOYWE,
            order_id: "o1".into(),
            status: Status::Pending,
            provider_event: "x".into(),
            payload_sha256: "00".into(),
            event_json: "{}".into(),
            received_at: OffsetDateTime::UNIX_EPOCH,
        };
        let it = EventItem::new(
            &rec,
            OffsetDateTime::UNIX_EPOCH,
            Duration::from_secs(30),
            30,
        );
        let mut item: Item = to_item(&it).unwrap_or_default();
        let ok: EventItem = from_item(item.clone()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            ok.stored().map(|e| e.state).ok(),
            Some(EventState::Recorded)
        );
        item.insert("state".into(), s("archived"));
        let bad: EventItem = from_item(item).unwrap_or_else(|e| panic!("{e}"));
        match bad.stored() {
            Err(StoreError::UnknownValue { field, value }) => {
                assert_eq!((field, value.as_str()), ("event state", "archived"));
            }
            other => panic!("an unknown state read as {other:?}"),
        }
    }
}
