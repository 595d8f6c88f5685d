//! Read-only queries for the console, on a connection of their own: they run
//! on tokio's blocking pool (WAL readers never wait for the writer, and the
//! writer thread never waits for a page of the console).

use crate::deliveries::{Delivery, DeliveryState};
use crate::{collect_rows, from_nanos, nanos, read_event, read_order, sql};
use payhook::event::{ProviderId, Status};
use payhook::store::{EventState, OrderState, StoreError, StoredEvent};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use std::path::Path;
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;

/// A page of the event list: newest first, filtered.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub provider: Option<ProviderId>,
    pub status: Option<Status>,
    pub order_id: Option<String>,
    /// Received at or after.
    pub since: Option<OffsetDateTime>,
    /// Received before.
    pub until: Option<OffsetDateTime>,
    /// Strictly older than this (received_at, event_id): the next page.
    pub before: Option<(OffsetDateTime, String)>,
    pub limit: usize,
}

/// One row of the event list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSummary {
    pub event_id: String,
    pub provider: ProviderId,
    pub order_id: String,
    pub status: Status,
    pub provider_event: String,
    pub received_at: OffsetDateTime,
    pub state: EventState,
    /// Where the newest forwarding delivery of the event stands, if any.
    pub delivery: Option<DeliveryState>,
}

/// The console's reads of the embedded store's file.
#[derive(Clone)]
pub struct Reader {
    conn: Arc<Mutex<Connection>>,
}

fn corrupt(what: &str, p: &str, s: &str) -> StoreError {
    StoreError::Corrupt(format!("{what} row with provider {p:?} status {s:?}"))
}

type Values = Vec<Box<dyn rusqlite::ToSql + Send>>;

/// The ids an order's row lists (see [`crate::ORDER_EVENT_IDS`]): of
/// `provider`'s order, or of every provider's order with that id.
fn order_event_ids(
    c: &Connection,
    provider: Option<ProviderId>,
    order_id: &str,
) -> Result<Vec<String>, StoreError> {
    // Registered names as literals: the primary key (provider, order_id) is
    // then searched once per provider instead of scanning the table.
    let names: Vec<String> = match provider {
        Some(p) => vec![format!("'{}'", p.as_str())],
        None => ProviderId::all()
            .map(|p| format!("'{}'", p.as_str()))
            .collect(),
    };
    let stmt = format!(
        "SELECT event_ids FROM orders WHERE provider IN ({}) AND order_id = ?1",
        names.join(", ")
    );
    let mut st = c.prepare_cached(&stmt).map_err(sql)?;
    let rows = st
        .query_map([order_id], |r| r.get::<_, String>(0))
        .map_err(sql)?;
    let mut ids = Vec::new();
    for r in rows {
        ids.extend(r.map_err(sql)?.split_whitespace().map(str::to_owned));
    }
    Ok(ids)
}

/// `e.event_id IN (?, …)` for `ids` (never matching when there are none).
fn ids_clause(ids: Vec<String>, values: &mut Values) -> String {
    if ids.is_empty() {
        return "0".to_owned();
    }
    let marks = vec!["?"; ids.len()].join(", ");
    for id in ids {
        values.push(Box::new(id));
    }
    format!("e.event_id IN ({marks})")
}

/// The WHERE clauses of `q`'s filters and their values. Only the filters
/// given appear (so SQLite can pick the index that serves them); the status
/// is written as a literal, one of [`Status`]'s own names; an order id is
/// looked up in its order's row.
fn filter_sql(c: &Connection, q: &EventQuery) -> Result<(Vec<String>, Values), StoreError> {
    let mut clauses = Vec::new();
    let mut values: Values = Vec::new();
    if let Some(p) = q.provider {
        clauses.push("e.provider = ?".to_owned());
        values.push(Box::new(p.as_str()));
    }
    if let Some(s) = q.status {
        clauses.push(format!("e.status = '{}'", s.as_str()));
    }
    if let Some(o) = &q.order_id {
        let ids = order_event_ids(c, q.provider, o)?;
        clauses.push(ids_clause(ids, &mut values));
    }
    if let Some(t) = q.since {
        clauses.push("e.received_at >= ?".to_owned());
        values.push(Box::new(nanos(t)));
    }
    if let Some(t) = q.until {
        clauses.push("e.received_at < ?".to_owned());
        values.push(Box::new(nanos(t)));
    }
    Ok((clauses, values))
}

fn where_of(clauses: &[String]) -> String {
    if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    }
}

impl Reader {
    /// A read-only connection to the file at `path` (the writer must have
    /// created it: [`crate::SqliteStore::open`]).
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sql)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(sql)?;
        Ok(Reader {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let c = conn
                .lock()
                .map_err(|_| StoreError::Corrupt("console reader poisoned".into()))?;
            f(&c)
        })
        .await
        .map_err(StoreError::unavailable)?
    }

    /// The events matching `q`, newest first, at most `q.limit`.
    pub async fn events(&self, q: EventQuery) -> Result<Vec<EventSummary>, StoreError> {
        self.run(move |c| {
            let (mut clauses, mut values) = filter_sql(c, &q)?;
            if let Some((t, id)) = q.before {
                clauses.push("(e.received_at, e.event_id) < (?, ?)".into());
                values.push(Box::new(nanos(t)));
                values.push(Box::new(id));
            }
            values.push(Box::new(i64::try_from(q.limit).unwrap_or(i64::MAX)));
            let stmt = format!(
                "SELECT e.event_id, e.provider, e.order_id, e.status, e.provider_event,
                        e.received_at, e.state,
                        (SELECT d.state FROM deliveries d WHERE d.event_id = e.event_id
                          ORDER BY d.seq DESC LIMIT 1)
                 FROM events e {} ORDER BY e.received_at DESC, e.event_id DESC LIMIT ?",
                where_of(&clauses)
            );
            let mut st = c.prepare_cached(&stmt).map_err(sql)?;
            let rows = st
                .query_map(rusqlite::params_from_iter(values.iter()), |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, i64>(5)?,
                        r.get::<_, String>(6)?,
                        r.get::<_, Option<String>>(7)?,
                    ))
                })
                .map_err(sql)?;
            let mut out = Vec::new();
            for row in rows {
                let (event_id, p, order_id, s, provider_event, at, state, delivery) =
                    row.map_err(sql)?;
                let (Some(provider), Some(status)) = (ProviderId::parse(&p), Status::parse(&s))
                else {
                    return Err(corrupt("event", &p, &s));
                };
                out.push(EventSummary {
                    event_id,
                    provider,
                    order_id,
                    status,
                    provider_event,
                    received_at: from_nanos(at),
                    state: EventState::parse(&state)?,
                    delivery: delivery.as_deref().map(DeliveryState::parse).transpose()?,
                });
            }
            Ok(out)
        })
        .await
    }

    /// How many events match `q` (its cursor and limit ignored), counted up
    /// to `cap` (past it the console shows "more than `cap`").
    pub async fn count_events(&self, q: EventQuery, cap: usize) -> Result<usize, StoreError> {
        self.run(move |c| {
            let (clauses, mut values) = filter_sql(c, &q)?;
            values.push(Box::new(i64::try_from(cap).unwrap_or(i64::MAX)));
            let stmt = format!(
                "SELECT COUNT(*) FROM (SELECT 1 FROM events e {} LIMIT ?)",
                where_of(&clauses)
            );
            let n: i64 = c
                .prepare_cached(&stmt)
                .map_err(sql)?
                .query_row(rusqlite::params_from_iter(values.iter()), |r| r.get(0))
                .map_err(sql)?;
            Ok(usize::try_from(n).unwrap_or(0))
        })
        .await
    }

    pub async fn event(&self, event_id: &str) -> Result<Option<StoredEvent>, StoreError> {
        let id = event_id.to_owned();
        self.run(move |c| {
            c.prepare_cached("SELECT * FROM events WHERE event_id = ?1")
                .map_err(sql)?
                .query_row([id], read_event)
                .optional()
                .map_err(sql)?
                .transpose()
        })
        .await
    }

    /// The events one order's row lists, oldest first (its first
    /// [`crate::ORDER_EVENT_IDS`]).
    pub async fn order_events(
        &self,
        provider: ProviderId,
        order_id: &str,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let order_id = order_id.to_owned();
        self.run(move |c| {
            let mut values: Values = Vec::new();
            let ids = order_event_ids(c, Some(provider), &order_id)?;
            let stmt = format!(
                "SELECT * FROM events e WHERE {} ORDER BY e.received_at, e.event_id",
                ids_clause(ids, &mut values)
            );
            let mut st = c.prepare_cached(&stmt).map_err(sql)?;
            let rows = st
                .query_map(rusqlite::params_from_iter(values.iter()), read_event)
                .map_err(sql)?;
            collect_rows(rows)
        })
        .await
    }

    pub async fn order(
        &self,
        provider: ProviderId,
        order_id: &str,
    ) -> Result<Option<OrderState>, StoreError> {
        let order_id = order_id.to_owned();
        self.run(move |c| {
            c.prepare_cached("SELECT * FROM orders WHERE provider = ?1 AND order_id = ?2")
                .map_err(sql)?
                .query_row(params![provider.as_str(), order_id], read_order)
                .optional()
                .map_err(sql)?
                .transpose()
        })
        .await
    }

    /// Forwarding deliveries, newest first: only `state` when given, only
    /// one event's when given, older than `before_seq` (the next page).
    pub async fn deliveries(
        &self,
        state: Option<DeliveryState>,
        event_id: Option<&str>,
        before_seq: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let event_id = event_id.map(str::to_owned);
        self.run(move |c| {
            let mut st = c
                .prepare_cached(
                    "SELECT seq, event_id, provider, order_id, state, attempts, next_at,
                        last_status, last_error, updated_at
                     FROM deliveries
                     WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR event_id = ?2)
                       AND (?3 IS NULL OR seq < ?3)
                     ORDER BY seq DESC LIMIT ?4",
                )
                .map_err(sql)?;
            let rows = st
                .query_map(
                    params![
                        state.map(DeliveryState::as_str),
                        event_id,
                        before_seq,
                        i64::try_from(limit).unwrap_or(i64::MAX)
                    ],
                    crate::deliveries::read_delivery,
                )
                .map_err(sql)?;
            collect_rows(rows)
        })
        .await
    }

    /// Deliveries in each state: (pending, delivered, failed).
    pub async fn delivery_counts(&self) -> Result<(u64, u64, u64), StoreError> {
        self.run(crate::deliveries::counts_in).await
    }
}
