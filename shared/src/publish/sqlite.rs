//! The embedded backend's "queue": an outbox table in the same SQLite file as
//! the store. One row per event id from the pipeline and the sweeper (a
//! republished copy is dropped, as a FIFO queue would), plus one row per
//! explicit `payhook replay`; read by `payhook events`.

use super::{PublishError, Publisher};
use crate::event::PaymentEvent;
use crate::store::StoreError;
use crate::store::sqlite::{SharedConn, SqliteStore, from_nanos, nanos};
use async_trait::async_trait;
use rusqlite::params;
use time::OffsetDateTime;

pub struct SqliteOutbox {
    conn: SharedConn,
}

/// One published message.
#[derive(Debug, Clone)]
pub struct OutboxEntry {
    pub seq: i64,
    pub event_id: String,
    pub body: String,
    pub published_at: OffsetDateTime,
    /// Written by `payhook replay`, not by the pipeline.
    pub replay: bool,
}

/// Filter for [`SqliteOutbox::list`].
#[derive(Debug, Clone, Default)]
pub struct OutboxFilter {
    pub provider: Option<String>,
    pub order_id: Option<String>,
    pub status: Option<String>,
    pub since: Option<OffsetDateTime>,
}

impl SqliteOutbox {
    pub fn new(store: &SqliteStore) -> Self {
        SqliteOutbox {
            conn: store.shared(),
        }
    }

    /// Published messages in publication order.
    pub async fn list(&self, f: &OutboxFilter) -> Result<Vec<OutboxEntry>, StoreError> {
        let f = f.clone();
        SqliteStore::with(&self.conn, move |c| {
            let err = |e: rusqlite::Error| StoreError::Corrupt(format!("outbox: {e}"));
            let mut st = c
                .prepare(
                    "SELECT seq, event_id, body, published_at, replay FROM outbox
                     WHERE (?1 IS NULL OR provider = ?1) AND (?2 IS NULL OR order_id = ?2)
                       AND (?3 IS NULL OR status = ?3) AND (?4 IS NULL OR published_at >= ?4)
                     ORDER BY seq",
                )
                .map_err(err)?;
            let rows = st
                .query_map(
                    params![f.provider, f.order_id, f.status, f.since.map(nanos)],
                    |r| {
                        Ok(OutboxEntry {
                            seq: r.get(0)?,
                            event_id: r.get(1)?,
                            body: r.get(2)?,
                            published_at: from_nanos(r.get(3)?),
                            replay: r.get::<_, i64>(4)? != 0,
                        })
                    },
                )
                .map_err(err)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(err)
        })
        .await
    }
}

#[derive(Debug, thiserror::Error)]
#[error("outbox: {0}")]
struct OutboxError(String);

/// One outbox row to write.
pub(crate) struct Row<'a> {
    pub event_id: &'a str,
    pub provider: &'a str,
    pub order_id: &'a str,
    pub status: &'a str,
    pub body: &'a str,
    pub published_at: i64,
}

/// Add `row` inside the writer's current transaction. A second non-replay
/// row for the same event id is dropped (unique index `outbox_once`).
pub(crate) fn insert_in(
    c: &rusqlite::Connection,
    row: &Row<'_>,
    replay: bool,
) -> Result<(), StoreError> {
    c.prepare_cached(
        "INSERT OR IGNORE INTO outbox
            (event_id, provider, order_id, status, body, published_at, replay)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .and_then(|mut st| {
        st.execute(params![
            row.event_id,
            row.provider,
            row.order_id,
            row.status,
            row.body,
            row.published_at,
            replay
        ])
    })
    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(())
}

impl SqliteOutbox {
    async fn insert(
        &self,
        event: &PaymentEvent,
        json: &str,
        replay: bool,
    ) -> Result<(), PublishError> {
        let (event_id, provider, order_id, status, body) = (
            event.event_id.clone(),
            event.provider.as_str(),
            event.order_id.clone(),
            event.status.as_str(),
            json.to_owned(),
        );
        let published_at = nanos(OffsetDateTime::now_utc());
        SqliteStore::with(&self.conn, move |c| {
            let row = Row {
                event_id: &event_id,
                provider,
                order_id: &order_id,
                status,
                body: &body,
                published_at,
            };
            insert_in(c, &row, replay)
        })
        .await
        .map_err(|e| PublishError::unavailable(OutboxError(e.to_string())))
    }
}

#[async_trait]
impl Publisher for SqliteOutbox {
    async fn publish(&self, event: &PaymentEvent, json: &str) -> Result<(), PublishError> {
        self.insert(event, json, false).await
    }

    async fn replay(&self, event: &PaymentEvent, json: &str) -> Result<(), PublishError> {
        self.insert(event, json, true).await
    }
}
