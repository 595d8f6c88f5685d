//! Forwarding's schedule, kept in the same SQLite file as the outbox: one
//! row per outbox message to POST to the merchant's endpoint, with its
//! attempts, the time of its next attempt and its state. The forwarder
//! (`payhook serve`, `cli/src/forward.rs`) only ever reads and moves these
//! rows; a restart (or `kill -9`) resumes from them: an attempt that was in
//! flight is made again (at-least-once, with the same `webhook-id`).
//!
//! Order: the messages of one order (provider + order id) are attempted one
//! at a time, in publication order — a message waits while an older one of
//! its order is pending. A message that has used every attempt is `failed`
//! (the dead letter) and no longer holds its order back; `redrive` makes it
//! pending again.

use crate::{SharedConn, SqliteStore, collect_rows, from_nanos, nanos, sql};
use payhook::store::StoreError;
use rusqlite::{OptionalExtension, params};
use time::OffsetDateTime;

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS deliveries (
    seq         INTEGER PRIMARY KEY,
    event_id    TEXT NOT NULL,
    provider    TEXT NOT NULL,
    order_id    TEXT NOT NULL,
    state       TEXT NOT NULL,
    attempts    INTEGER NOT NULL,
    next_at     INTEGER NOT NULL,
    last_status INTEGER,
    last_error  TEXT,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_pending_order
    ON deliveries (provider, order_id, seq) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS deliveries_pending_due
    ON deliveries (next_at, seq) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS deliveries_event ON deliveries (event_id);
CREATE TABLE IF NOT EXISTS forward_cursor (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    last_seq INTEGER NOT NULL
);
";

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryState {
    /// Waiting for its next attempt (or for an older message of its order).
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
    /// Every attempt failed: the dead letter, until `redrive`.
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    /// The state stored as `s`; an unknown value is an error naming it.
    pub fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "pending" => Ok(DeliveryState::Pending),
            "delivered" => Ok(DeliveryState::Delivered),
            "failed" => Ok(DeliveryState::Failed),
            other => Err(StoreError::UnknownValue {
                field: "delivery state",
                value: other.to_owned(),
            }),
        }
    }
}

impl std::fmt::Display for DeliveryState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One message to forward, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The outbox row's sequence number.
    pub seq: i64,
    pub event_id: String,
    pub provider: String,
    pub order_id: String,
    pub state: DeliveryState,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the next attempt is due (pending only).
    pub next_at: OffsetDateTime,
    /// The HTTP status of the last attempt, when it got an answer.
    pub last_status: Option<u16>,
    /// What went wrong on the last attempt (a status or a transport error).
    pub last_error: Option<String>,
    pub updated_at: OffsetDateTime,
}

/// A due message with the body to POST.
#[derive(Debug, Clone)]
pub struct Due {
    pub seq: i64,
    pub event_id: String,
    pub provider: String,
    pub order_id: String,
    /// Attempts made before this one.
    pub attempts: u32,
    /// The published JSON, exactly as in the outbox.
    pub body: String,
}

impl Due {
    /// The order this message belongs to (attempted one at a time).
    pub fn order_key(&self) -> (String, String) {
        (self.provider.clone(), self.order_id.clone())
    }
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResult {
    /// 2xx: done.
    Delivered { status: u16 },
    /// Failed; try again at `next_at`.
    Retry {
        status: Option<u16>,
        error: String,
        next_at: OffsetDateTime,
    },
    /// Failed, and that was the last attempt: the dead letter.
    GaveUp { status: Option<u16>, error: String },
}

/// Which deliveries [`Deliveries::redrive`] makes pending again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redrive {
    /// Every failed delivery.
    AllFailed,
    /// The deliveries of one event id (failed or delivered).
    Event(String),
}

/// The forwarding schedule in the embedded store's file.
#[derive(Clone)]
pub struct Deliveries {
    conn: SharedConn,
}

impl Deliveries {
    /// The deliveries table of `store`'s file (created when absent).
    pub async fn open(store: &SqliteStore) -> Result<Self, StoreError> {
        let conn = store.shared();
        SqliteStore::with(&conn, |c| c.execute_batch(SCHEMA).map_err(sql)).await?;
        Ok(Deliveries { conn })
    }

    /// Mark where forwarding starts, the first time it is turned on: after
    /// the newest outbox message (what was published before is not sent;
    /// `payhook replay` sends it). Later calls change nothing. Called before
    /// the server accepts requests, so no event published after start-up
    /// can fall before the mark.
    pub async fn begin(&self) -> Result<(), StoreError> {
        SqliteStore::with(&self.conn, |c| {
            c.execute(
                "INSERT OR IGNORE INTO forward_cursor (id, last_seq)
                 SELECT 1, COALESCE(MAX(seq), 0) FROM outbox",
                [],
            )
            .map_err(sql)
            .map(|_| ())
        })
        .await
    }

    /// Add a pending delivery for every outbox message published since the
    /// last call (due `now`), after the mark [`Deliveries::begin`] set.
    /// Returns how many were added.
    pub async fn enqueue_new(&self, now: OffsetDateTime) -> Result<usize, StoreError> {
        let now = nanos(now);
        SqliteStore::with(&self.conn, move |c| {
            let last: Option<i64> = c
                .query_row(
                    "SELECT last_seq FROM forward_cursor WHERE id = 1",
                    [],
                    |r| r.get(0),
                )
                .optional()
                .map_err(sql)?;
            let newest: i64 = c
                .query_row("SELECT COALESCE(MAX(seq), 0) FROM outbox", [], |r| r.get(0))
                .map_err(sql)?;
            // Without a mark (begin not called), everything is new.
            let last = last.unwrap_or(0);
            if last == 0 {
                c.execute(
                    "INSERT OR IGNORE INTO forward_cursor (id, last_seq) VALUES (1, 0)",
                    [],
                )
                .map_err(sql)?;
            }
            if newest <= last {
                return Ok(0);
            }
            let added = c
                .prepare_cached(
                    "INSERT OR IGNORE INTO deliveries
                        (seq, event_id, provider, order_id, state, attempts, next_at, updated_at)
                     SELECT seq, event_id, provider, order_id, 'pending', 0, ?2, ?2
                     FROM outbox WHERE seq > ?1 AND seq <= ?3 ORDER BY seq",
                )
                .and_then(|mut st| st.execute(params![last, now, newest]))
                .map_err(sql)?;
            c.execute(
                "UPDATE forward_cursor SET last_seq = ?1 WHERE id = 1",
                params![newest],
            )
            .map_err(sql)?;
            Ok(added)
        })
        .await
    }

    /// Up to `limit` messages due at `now`, oldest due first, each the
    /// oldest pending message of its order, none of an order in `busy`.
    pub async fn due(
        &self,
        now: OffsetDateTime,
        limit: usize,
        busy: Vec<(String, String)>,
    ) -> Result<Vec<Due>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let now = nanos(now);
        // Enough rows to fill `limit` after skipping the busy orders.
        let fetch = i64::try_from(limit + busy.len()).unwrap_or(i64::MAX);
        SqliteStore::with(&self.conn, move |c| {
            let mut st = c
                .prepare_cached(
                    "SELECT d.seq, d.event_id, d.provider, d.order_id, d.attempts, o.body
                     FROM deliveries d JOIN outbox o ON o.seq = d.seq
                     WHERE d.state = 'pending' AND d.next_at <= ?1
                       AND NOT EXISTS (
                         SELECT 1 FROM deliveries e
                         WHERE e.state = 'pending' AND e.provider = d.provider
                           AND e.order_id = d.order_id AND e.seq < d.seq)
                     ORDER BY d.next_at, d.seq LIMIT ?2",
                )
                .map_err(sql)?;
            let rows = st
                .query_map(params![now, fetch], |r| {
                    Ok(Due {
                        seq: r.get(0)?,
                        event_id: r.get(1)?,
                        provider: r.get(2)?,
                        order_id: r.get(3)?,
                        attempts: u32::try_from(r.get::<_, i64>(4)?).unwrap_or(u32::MAX),
                        body: r.get(5)?,
                    })
                })
                .map_err(sql)?;
            let mut out = Vec::new();
            for row in rows {
                let row = row.map_err(sql)?;
                if !busy.contains(&row.order_key()) && out.len() < limit {
                    out.push(row);
                }
            }
            Ok(out)
        })
        .await
    }

    /// Record what attempt `attempt` (1-based) of message `seq` came to.
    pub async fn record(
        &self,
        seq: i64,
        attempt: u32,
        result: AttemptResult,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let now = nanos(now);
        SqliteStore::with(&self.conn, move |c| {
            let (state, status, error, next_at) = match &result {
                AttemptResult::Delivered { status } => {
                    (DeliveryState::Delivered, Some(*status), None, now)
                }
                AttemptResult::Retry {
                    status,
                    error,
                    next_at,
                } => (
                    DeliveryState::Pending,
                    *status,
                    Some(error),
                    nanos(*next_at),
                ),
                AttemptResult::GaveUp { status, error } => {
                    (DeliveryState::Failed, *status, Some(error), now)
                }
            };
            let changed = c
                .prepare_cached(
                    "UPDATE deliveries SET state = ?2, attempts = ?3, next_at = ?4,
                        last_status = ?5, last_error = ?6, updated_at = ?7
                     WHERE seq = ?1 AND state = 'pending'",
                )
                .and_then(|mut st| {
                    st.execute(params![
                        seq,
                        state.as_str(),
                        attempt,
                        next_at,
                        status,
                        error,
                        now
                    ])
                })
                .map_err(sql)?;
            if changed == 1 {
                Ok(())
            } else {
                Err(StoreError::Corrupt(format!(
                    "delivery {seq} is not pending: its attempt cannot be recorded"
                )))
            }
        })
        .await
    }

    /// Make deliveries pending again, due `now`, attempts reset. Returns
    /// how many.
    pub async fn redrive(&self, which: Redrive, now: OffsetDateTime) -> Result<usize, StoreError> {
        let now = nanos(now);
        SqliteStore::with(&self.conn, move |c| {
            let n = match &which {
                Redrive::AllFailed => c.execute(
                    "UPDATE deliveries SET state = 'pending', attempts = 0, next_at = ?1,
                        updated_at = ?1 WHERE state = 'failed'",
                    params![now],
                ),
                Redrive::Event(id) => c.execute(
                    "UPDATE deliveries SET state = 'pending', attempts = 0, next_at = ?1,
                        updated_at = ?1 WHERE event_id = ?2 AND state != 'pending'",
                    params![now, id],
                ),
            }
            .map_err(sql)?;
            Ok(n)
        })
        .await
    }

    /// Deliveries in publication order, only those in `state` when given.
    pub async fn list(&self, state: Option<DeliveryState>) -> Result<Vec<Delivery>, StoreError> {
        SqliteStore::with(&self.conn, move |c| {
            let mut st = c
                .prepare(
                    "SELECT seq, event_id, provider, order_id, state, attempts, next_at,
                        last_status, last_error, updated_at
                     FROM deliveries WHERE (?1 IS NULL OR state = ?1) ORDER BY seq",
                )
                .map_err(sql)?;
            let rows = st
                .query_map(params![state.map(DeliveryState::as_str)], read_delivery)
                .map_err(sql)?;
            collect_rows(rows)
        })
        .await
    }

    /// How many deliveries are in each state: (pending, delivered, failed).
    pub async fn counts(&self) -> Result<(u64, u64, u64), StoreError> {
        SqliteStore::with(&self.conn, counts_in).await
    }
}

/// A delivery row selected as `seq, event_id, provider, order_id, state,
/// attempts, next_at, last_status, last_error, updated_at`. The outer error
/// is SQLite's, the inner one a state this version does not know.
pub(crate) fn read_delivery(
    r: &rusqlite::Row<'_>,
) -> rusqlite::Result<Result<Delivery, StoreError>> {
    let state: String = r.get(4)?;
    let state = match DeliveryState::parse(&state) {
        Ok(s) => s,
        Err(e) => return Ok(Err(e)),
    };
    Ok(Ok(Delivery {
        seq: r.get(0)?,
        event_id: r.get(1)?,
        provider: r.get(2)?,
        order_id: r.get(3)?,
        state,
        attempts: u32::try_from(r.get::<_, i64>(5)?).unwrap_or(u32::MAX),
        next_at: from_nanos(r.get(6)?),
        last_status: r
            .get::<_, Option<i64>>(7)?
            .and_then(|s| u16::try_from(s).ok()),
        last_error: r.get(8)?,
        updated_at: from_nanos(r.get(9)?),
    }))
}

/// (pending, delivered, failed) counts on `c`.
pub(crate) fn counts_in(c: &rusqlite::Connection) -> Result<(u64, u64, u64), StoreError> {
    c.query_row(
        "SELECT COALESCE(SUM(state = 'pending'), 0), COALESCE(SUM(state = 'delivered'), 0),
                COALESCE(SUM(state = 'failed'), 0) FROM deliveries",
        [],
        |r| {
            Ok((
                u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
                u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
                u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
            ))
        },
    )
    .map_err(sql)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    async fn publish(store: &SqliteStore, event_id: &str, order_id: &str) {
        crate::tests::publish_row(store, event_id, order_id, false).await;
    }

    fn ids(due: &[Due]) -> Vec<&str> {
        due.iter().map(|d| d.event_id.as_str()).collect()
    }

    #[tokio::test]
    async fn the_schedule_keeps_order_per_order_and_ends_in_dead_letters() {
        let store = SqliteStore::open_in_memory().unwrap_or_else(|e| panic!("{e}"));
        let t0 = OffsetDateTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        publish(&store, "before", "o0").await;
        let d = Deliveries::open(&store)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        d.begin().await.unwrap_or_else(|e| panic!("{e}"));
        d.begin().await.unwrap_or_else(|e| panic!("{e}"));
        for (e, o) in [("a1", "A"), ("b1", "B"), ("a2", "A")] {
            publish(&store, e, o).await;
        }
        assert_eq!(
            d.enqueue_new(t0).await.ok(),
            Some(3),
            "published before begin is skipped"
        );
        assert_eq!(d.enqueue_new(t0).await.ok(), Some(0));

        // One per order, oldest first; a busy order is skipped.
        let due = d.due(t0, 10, Vec::new()).await.unwrap_or_default();
        assert_eq!(ids(&due), ["a1", "b1"]);
        let busy = vec![("koywe".to_owned(), "A".to_owned())];
        assert_eq!(ids(&d.due(t0, 10, busy).await.unwrap_or_default()), ["b1"]);
        assert_eq!(
            d.due(t0, 1, Vec::new()).await.map(|v| v.len()).ok(),
            Some(1)
        );

        // a1 fails and waits: a2 stays behind it, b1 is delivered.
        let later = t0 + Duration::from_secs(60);
        let seq = |name: &str| {
            due.iter()
                .find(|x| x.event_id == name)
                .map(|x| x.seq)
                .unwrap_or(-1)
        };
        let retry = AttemptResult::Retry {
            status: Some(500),
            error: "answered 500".into(),
            next_at: later,
        };
        d.record(seq("a1"), 1, retry, t0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        d.record(seq("b1"), 1, AttemptResult::Delivered { status: 200 }, t0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            d.due(t0, 10, Vec::new())
                .await
                .unwrap_or_default()
                .is_empty()
        );
        let again = d.due(later, 10, Vec::new()).await.unwrap_or_default();
        assert_eq!(ids(&again), ["a1"]);
        assert_eq!(again[0].attempts, 1);

        // Recording twice is an error (the row is no longer pending).
        let gave_up = AttemptResult::GaveUp {
            status: Some(500),
            error: "answered 500".into(),
        };
        d.record(seq("a1"), 2, gave_up.clone(), later)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(d.record(seq("a1"), 3, gave_up, later).await.is_err());

        // A dead letter no longer holds its order back.
        assert_eq!(
            ids(&d.due(later, 10, Vec::new()).await.unwrap_or_default()),
            ["a2"]
        );
        let failed = d
            .list(Some(DeliveryState::Failed))
            .await
            .unwrap_or_default();
        assert_eq!(failed.len(), 1);
        assert_eq!((failed[0].attempts, failed[0].last_status), (2, Some(500)));
        assert_eq!(d.counts().await.ok(), Some((1, 1, 1)));

        // Redrive: pending again, attempts reset, due now.
        assert_eq!(d.redrive(Redrive::AllFailed, later).await.ok(), Some(1));
        let pending = d
            .list(Some(DeliveryState::Pending))
            .await
            .unwrap_or_default();
        assert_eq!(
            pending
                .iter()
                .map(|p| p.event_id.as_str())
                .collect::<Vec<_>>(),
            ["a1", "a2"]
        );
        assert_eq!(pending[0].attempts, 0);
        assert_eq!(
            ids(&d.due(later, 10, Vec::new()).await.unwrap_or_default()),
            ["a1"]
        );
        assert_eq!(
            d.redrive(Redrive::Event("b1".into()), later).await.ok(),
            Some(1)
        );
        assert_eq!(d.counts().await.ok(), Some((3, 0, 0)));
    }

    #[tokio::test]
    async fn an_unknown_state_fails_the_read_naming_it() {
        let store = SqliteStore::open_in_memory().unwrap_or_else(|e| panic!("{e}"));
        let d = Deliveries::open(&store)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        publish(&store, "x", "o").await;
        d.enqueue_new(OffsetDateTime::UNIX_EPOCH)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        SqliteStore::with(&store.shared(), |c| {
            c.execute("UPDATE deliveries SET state = 'bounced'", [])
                .map_err(sql)
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        match d.list(None).await {
            Err(StoreError::UnknownValue { field, value }) => {
                assert_eq!((field, value.as_str()), ("delivery state", "bounced"))
            }
            other => panic!("read as {other:?}"),
        }
    }
}
