//! payhook's embedded backend: the store and the outbox in one SQLite file
//! (bundled, WAL, `synchronous=FULL`: a claim answered is on disk). Mirrors
//! the DynamoDB single-table design as three tables: events, orders, and the
//! published outbox ([`SqliteOutbox`]). Used by `payhook serve` by default.

use async_trait::async_trait;
use payhook::event::{PaymentEvent, ProviderId, Status};
use payhook::pipeline::{Clock, RecordError, Recorded, Recorder};
use payhook::publish::{PublishError, Publisher};
use payhook::store::{
    Claim, EventFilter, EventRecord, EventState, EventStore, OrderState, StoreError, StoredEvent,
    stored_rank,
};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use time::OffsetDateTime;

pub mod deliveries;
pub mod reader;
pub use deliveries::{AttemptResult, Deliveries, Delivery, DeliveryState, Due, Redrive};
pub use reader::{EventQuery, EventSummary, Reader};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    event_id       TEXT PRIMARY KEY,
    provider       TEXT NOT NULL,
    order_id       TEXT NOT NULL,
    status         TEXT NOT NULL,
    provider_event TEXT NOT NULL,
    payload_sha256 TEXT NOT NULL,
    event_json     TEXT NOT NULL,
    received_at    INTEGER NOT NULL,
    state          TEXT NOT NULL,
    lease_until    INTEGER NOT NULL,
    published_at   INTEGER,
    -- 1 once the outbox holds its publication (one non-replay row per event).
    outboxed       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS events_stuck ON events (lease_until) WHERE state = 'recorded';
CREATE INDEX IF NOT EXISTS events_received ON events (received_at);
CREATE TABLE IF NOT EXISTS orders (
    provider      TEXT NOT NULL,
    order_id      TEXT NOT NULL,
    status        TEXT NOT NULL,
    status_rank   INTEGER NOT NULL,
    last_event_id TEXT NOT NULL,
    updated_at    INTEGER NOT NULL,
    event_count   INTEGER NOT NULL,
    -- The ids of its first ORDER_EVENT_IDS events, space-separated.
    event_ids     TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (provider, order_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outbox (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id     TEXT NOT NULL,
    provider     TEXT NOT NULL,
    order_id     TEXT NOT NULL,
    status       TEXT NOT NULL,
    body         TEXT NOT NULL,
    published_at INTEGER NOT NULL,
    replay       INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS users (
    email      TEXT PRIMARY KEY,
    decision   TEXT NOT NULL,
    reason     TEXT,
    updated_at INTEGER NOT NULL
);
";

/// The console's provider and status filters, newest first (with their
/// counts): [`SqliteStore::console_indexes`]. An order's events are found
/// through its row's `event_ids` instead of a random-order index.
const CONSOLE_INDEXES: &str = "
CREATE INDEX IF NOT EXISTS events_provider ON events (provider, received_at);
CREATE INDEX IF NOT EXISTS events_status ON events (status, received_at);
";

/// Event ids an order's row lists (its console timeline); later events are
/// counted (`event_count`) but not listed.
pub const ORDER_EVENT_IDS: usize = 100;

/// Whether `table` has `column` (a file of an earlier version may not).
fn has_column(conn: &Connection, table: &str, column: &str) -> Result<bool, StoreError> {
    conn.query_row(
        "SELECT COUNT(*) FROM pragma_table_info(?1) WHERE name = ?2",
        [table, column],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
    .map_err(sql)
}

/// Bring a file written by an earlier version up to [`SCHEMA`]: orders get
/// `event_ids`, filled from their events (once, with a temporary index);
/// events get `outboxed`.
fn migrate(conn: &Connection) -> Result<(), StoreError> {
    if !has_column(conn, "orders", "event_ids")? {
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE;
             ALTER TABLE orders ADD COLUMN event_ids TEXT NOT NULL DEFAULT '';
             CREATE INDEX IF NOT EXISTS events_by_order_tmp ON events (provider, order_id, received_at);
             UPDATE orders SET event_ids = COALESCE((SELECT group_concat(event_id, ' ') FROM (
                 SELECT event_id FROM events e
                 WHERE e.provider = orders.provider AND e.order_id = orders.order_id
                 ORDER BY e.received_at, e.event_id LIMIT {ORDER_EVENT_IDS})), '');
             DROP INDEX events_by_order_tmp;
             COMMIT;"
        ))
        .map_err(sql)?;
    }
    // The outbox's one-row-per-event rule moves from a unique index on
    // `outbox(event_id)` (a random B-tree page written per new event) to
    // the event row's `outboxed` flag (its page is written anyway).
    if !has_column(conn, "events", "outboxed")? {
        conn.execute_batch(
            "BEGIN IMMEDIATE;
             ALTER TABLE events ADD COLUMN outboxed INTEGER NOT NULL DEFAULT 0;
             UPDATE events SET outboxed = 1
                 WHERE event_id IN (SELECT event_id FROM outbox WHERE replay = 0);
             DROP INDEX IF EXISTS outbox_once;
             COMMIT;",
        )
        .map_err(sql)?;
    }
    // An index of a development version of the console: costly, unused.
    conn.execute_batch("DROP INDEX IF EXISTS events_order")
        .map_err(sql)
}

/// The writer thread shared by the store and the outbox publisher.
pub type SharedConn = Arc<Writer>;

/// An [`EventStore`] in one SQLite file.
#[derive(Clone)]
pub struct SqliteStore {
    conn: SharedConn,
    published: Arc<PublishedCache>,
}

/// Event ids known to be published, with their payload fingerprint: a
/// duplicate delivery of one of them is answered without a trip to the
/// writer thread. Sound because `published` is final (an event never goes
/// back to `recorded` and rows are never deleted). Bounded: emptied when full.
struct PublishedCache {
    ids: std::sync::Mutex<std::collections::HashMap<String, String>>,
}

/// Entries kept in [`PublishedCache`] (~100 bytes each).
const PUBLISHED_CACHE_MAX: usize = 100_000;

impl PublishedCache {
    fn new() -> Self {
        PublishedCache {
            ids: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// `Some(Duplicate | Conflict)` when `event_id` is known published.
    fn check(&self, event_id: &str, payload_sha256: &str) -> Option<Claim> {
        let ids = self.ids.lock().ok()?;
        ids.get(event_id).map(|sha| {
            if sha == payload_sha256 {
                Claim::Duplicate
            } else {
                Claim::Conflict
            }
        })
    }

    fn insert(&self, event_id: &str, payload_sha256: &str) {
        if let Ok(mut ids) = self.ids.lock() {
            if ids.len() >= PUBLISHED_CACHE_MAX {
                ids.clear();
            }
            ids.insert(event_id.to_owned(), payload_sha256.to_owned());
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("sqlite: {0}")]
struct SqlError(#[from] rusqlite::Error);

pub(crate) fn sql(e: rusqlite::Error) -> StoreError {
    match e {
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(
                f.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ) =>
        {
            StoreError::Throttled
        }
        other => StoreError::unavailable(SqlError(other)),
    }
}

pub(crate) fn nanos(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos()).unwrap_or(i64::MAX)
}

pub(crate) fn from_nanos(n: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(n)).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// One operation for the writer thread: run inside the batch's transaction
/// (again, each in its own savepoint, when another operation of its batch
/// failed), then handed the batch's outcome.
trait Op: Send {
    /// Run on `c`, keeping the result; `false` when it failed.
    fn run(&mut self, c: &Connection, savepoint: bool) -> bool;
    /// Send the result, or the commit's failure, to the waiting caller.
    fn deliver(self: Box<Self>, commit_failure: Option<&str>);
}

type Job = Box<dyn Op>;

/// An operation and, once run, its result.
struct Pending<T, F> {
    f: F,
    result: Option<Result<T, StoreError>>,
    reply: tokio::sync::oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Op for Pending<T, F>
where
    T: Send,
    F: FnMut(&Connection) -> Result<T, StoreError> + Send,
{
    fn run(&mut self, c: &Connection, savepoint: bool) -> bool {
        let r = if savepoint {
            in_savepoint(c, &mut self.f)
        } else {
            (self.f)(c)
        };
        let ok = r.is_ok();
        self.result = Some(r);
        ok
    }

    fn deliver(self: Box<Self>, commit_failure: Option<&str>) {
        let out = match (commit_failure, self.result) {
            (Some(m), _) => Err(StoreError::unavailable(BatchError(m.to_owned()))),
            (None, Some(r)) => r,
            (None, None) => Err(StoreError::Corrupt("sqlite writer skipped a job".into())),
        };
        let _ = self.reply.send(out);
    }
}

/// `f` inside a savepoint: undone alone when it fails.
fn in_savepoint<T>(
    c: &Connection,
    f: &mut impl FnMut(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let run = |stmt: &str| c.prepare_cached(stmt).and_then(|mut st| st.execute([]));
    run("SAVEPOINT op").map_err(sql)?;
    let r = f(c);
    let end = if r.is_ok() {
        run("RELEASE op")
    } else {
        run("ROLLBACK TO op").and_then(|_| run("RELEASE op"))
    };
    end.map_err(sql)?;
    r
}

/// Run `ops` in one transaction and commit it; the failure, if the batch
/// as a whole failed. The operations first run one after the other with no
/// savepoint: a savepoint makes SQLite copy each page it first touches into
/// a statement journal, ~15 % of the writer's time measured under load
/// (BENCHMARKS.md, section 3). Only when one of them fails is the batch
/// undone and run again with one savepoint per operation, so the failing
/// one is undone alone and the others still commit.
fn run_batch(conn: &Connection, ops: &mut [Job]) -> Option<String> {
    let begin = || {
        conn.execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| format!("begin: {e}"))
    };
    if let Err(e) = begin() {
        return Some(e);
    }
    if !ops.iter_mut().all(|op| op.run(conn, false)) {
        // SQLite may have rolled back already (e.g. disk full): then this
        // ROLLBACK fails with "no transaction is active", as intended.
        let _ = conn.execute_batch("ROLLBACK");
        if let Err(e) = begin() {
            return Some(e);
        }
        for op in ops.iter_mut() {
            op.run(conn, true);
        }
    }
    conn.execute_batch("COMMIT").err().map(|e| {
        let _ = conn.execute_batch("ROLLBACK");
        format!("commit: {e}")
    })
}

/// Most operations committed together.
const MAX_BATCH: usize = 512;

/// Group commit: one thread owns the connection and runs every operation;
/// operations that arrive while it is busy are run together in one
/// transaction (see [`run_batch`]: one failing operation does not undo the
/// others) and made durable by one commit (`synchronous=FULL`:
/// one fsync). An operation's result is delivered only after its batch has
/// committed, so an answered claim is on disk.
pub struct Writer {
    jobs: std::sync::mpsc::Sender<Job>,
    /// Dropped with the writer: tells the checkpointer thread to stop.
    _checkpointer: Option<std::sync::mpsc::Sender<()>>,
}

/// How often the checkpointer copies the WAL into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// Frames in the log past which the writer restarts it (32,768 frames of
/// 4 KiB pages: 128 MiB; see [`start_checkpointer`]).
const RESTART_FRAMES: i64 = 32 * 1024;

/// Frames the checkpointer may leave for the writer to copy (see
/// [`start_checkpointer`]): few, since the writer's copy pauses every
/// request waiting on it.
const CHECKPOINT_REMAINDER: i64 = 64;

/// Passes the checkpointer makes in a row before it hands what is left to
/// the writer anyway.
const CHECKPOINT_PASSES: usize = 4;

/// WAL bytes kept on disk after the log restarts (SQLite truncates a larger
/// one at the restart): [`RESTART_FRAMES`] frames of [`WAL_FRAME_BYTES`]
/// with room for what one checkpoint interval adds, so the file the next
/// cycle rewrites stays whole.
const WAL_SIZE_LIMIT: i64 = 160 * 1024 * 1024;

/// Bytes of one WAL frame: a 4 KiB page and its 24-byte header.
const WAL_FRAME_BYTES: i64 = 4096 + 24;

// A limit under a full log would truncate the file every cycle and make the
// next one grow it again from fresh pages.
const _: () = assert!(WAL_SIZE_LIMIT > RESTART_FRAMES * WAL_FRAME_BYTES);

/// Checkpoints run mostly on their own connection and thread (PASSIVE: they
/// never block the writer), instead of inside the commit of whichever batch
/// crossed SQLite's 1000-page threshold, which stalled every request of
/// that batch behind the copy and its fsyncs.
///
/// A passive checkpoint alone never lets the log start over under steady
/// load: SQLite restarts the WAL only when a write transaction begins with
/// every frame copied, and the writer is nearly always inside a batch, which
/// commits new frames right after any pass ends (even a pass that copied
/// everything there was). Measured: the WAL grew to 1.7 GB in 13 s of new
/// events, each commit appending to fresh file pages the kernel first zeroes
/// (the writer thread's largest cost in `perf`). So once the log holds
/// [`RESTART_FRAMES`] and a pass leaves at most [`CHECKPOINT_REMAINDER`]
/// frames (or after [`CHECKPOINT_PASSES`] passes), the checkpointer raises
/// `finish`, and the writer copies the rest itself between two batches; its
/// next transaction then restarts the log and rewrites the same file pages.
/// That copy pauses every request waiting on the writer, hence only once
/// per [`RESTART_FRAMES`] rather than after every pass. It ends with an
/// fsync of the database file, which had to write everything the passes
/// had copied (43-61 ms measured at 512 MiB under saturating load); the
/// checkpointer now flushes the file after its passes, so the restart's
/// sync finds only the last pass's pages (side by side on 2026-12-02: p99
/// 10-12 ms instead of 13-32 ms, longest request 41-50 ms instead of
/// 57-77), and before it hands over it copies and flushes what the writer
/// added during that flush (side by side on 2026-12-04, 6 interleaved runs
/// each: the writer's pause per restart 3.4-3.9 ms median instead of
/// 11-13, p99 of new events 7.9-10.4 ms instead of 10.5-16.2, the rate
/// alike). Under ordinary traffic the writer is idle between batches and
/// the log restarts by itself after a pass; the cap matters only while the
/// writer never pauses.
///
/// Why 128 MiB and not more: a log that restarts rewrites file pages the
/// kernel already holds, where a growing one appends to fresh pages the
/// kernel must allocate and zero first (`perf` on 2026-12-03: 12 % of the
/// server's samples in that zeroing with a 512 MiB cap, which a 10 s burst
/// of new events never reached). Side by side (4 interleaved runs each,
/// 2026-12-03): 8.7-9.5k new events/s and 111-124 µs of CPU per event at
/// 128 MiB against 6.9-7.8k/s and 142-157 µs at 512 MiB, p99 the same,
/// longest request 21-42 ms against 34-45 ms; 64 MiB restarted so often
/// that the pauses cost more (BENCHMARKS.md, section 3).
fn start_checkpointer(
    path: &Path,
    finish: Arc<AtomicBool>,
    restart_frames: i64,
) -> Result<std::sync::mpsc::Sender<()>, StoreError> {
    let conn = Connection::open(path).map_err(sql)?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(sql)?;
    // The database file, to flush what the passes copied into it.
    let db = std::fs::File::open(path).map_err(StoreError::unavailable)?;
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("payhook-checkpoint".into())
        .spawn(move || {
            let mut flushed = 0;
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                stopped.recv_timeout(CHECKPOINT_EVERY)
            {
                let mut copied = flushed;
                let mut hand_over = false;
                for pass in 1..=CHECKPOINT_PASSES {
                    match checkpoint(&conn) {
                        Err(e) => {
                            tracing::warn!(error = %e, "sqlite checkpoint failed; retrying");
                            break;
                        }
                        Ok(p) => {
                            copied = p.copied;
                            // A log under RESTART_FRAMES: growing it costs
                            // less than the writer's pause for a restart.
                            if p.log < restart_frames {
                                break;
                            }
                            if p.log - p.copied <= CHECKPOINT_REMAINDER || pass == CHECKPOINT_PASSES
                            {
                                hand_over = true;
                                break;
                            }
                        }
                    }
                }
                // A pass that does not reach the end of the log leaves the
                // pages it copied unflushed (SQLite syncs the database
                // file only at the end of a complete checkpoint): flushed
                // here, off the writer's path, so the restart's own sync
                // finds little to write (otherwise up to 128 MiB written
                // at once, pausing every request).
                flush_copied(&db, copied, &mut flushed);
                if hand_over {
                    // That flush took milliseconds (20 ms median under
                    // saturating load), while the writer kept adding
                    // frames the writer's own copy would otherwise take
                    // over, with an fsync of them, pausing every request
                    // (11-13 ms median per restart, 22-24 ms at most,
                    // measured 2026-12-04). One more pass and flush here
                    // leave it only what arrives during that short second
                    // pass (3.4-3.9 ms median, 8-10 ms at most).
                    if let Ok(p) = checkpoint(&conn) {
                        flush_copied(&db, p.copied, &mut flushed);
                    }
                    finish.store(true, Ordering::Release);
                }
            }
        })
        .map_err(StoreError::unavailable)?;
    Ok(stop)
}

/// Flush the database file once passes have copied frames into it up to
/// `copied` (the log's backfill count) since the last flush, `flushed`.
fn flush_copied(db: &std::fs::File, copied: i64, flushed: &mut i64) {
    if copied != *flushed {
        match db.sync_data() {
            Ok(()) => *flushed = copied,
            Err(e) => tracing::warn!(error = %e, "cannot flush the database file"),
        }
    }
}

/// Frames in the log, and copied into the database file, after a checkpoint
/// (both -1 when another checkpoint was running).
struct Progress {
    log: i64,
    copied: i64,
}

/// A passive checkpoint.
fn checkpoint(conn: &Connection) -> rusqlite::Result<Progress> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok(Progress {
            log: r.get(1)?,
            copied: r.get(2)?,
        })
    })
}

impl Writer {
    fn start(
        conn: Connection,
        path: Option<&Path>,
        restart_frames: i64,
    ) -> Result<Arc<Self>, StoreError> {
        let finish = Arc::new(AtomicBool::new(false));
        let checkpointer = match path {
            Some(p) => {
                conn.pragma_update(None, "wal_autocheckpoint", 0)
                    .map_err(sql)?;
                conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)
                    .map_err(sql)?;
                Some(start_checkpointer(p, finish.clone(), restart_frames)?)
            }
            None => None,
        };
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("payhook-sqlite".into())
            .spawn(move || writer_loop(&conn, &rx, &finish))
            .map_err(StoreError::unavailable)?;
        Ok(Arc::new(Writer {
            jobs: tx,
            _checkpointer: checkpointer,
        }))
    }
}

fn writer_loop(conn: &Connection, rx: &std::sync::mpsc::Receiver<Job>, finish: &AtomicBool) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        let failure = run_batch(conn, &mut batch);
        for op in batch {
            op.deliver(failure.as_deref());
        }
        // Between batches, after this one is answered: the checkpointer's
        // remainder (see `start_checkpointer`).
        if finish.swap(false, Ordering::AcqRel)
            && let Err(e) = checkpoint(conn)
        {
            tracing::warn!(error = %e, "sqlite checkpoint failed; retrying");
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("sqlite {0}")]
struct BatchError(String);

impl SqliteStore {
    /// Open (creating if needed) the database file at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_restarting_at(path, RESTART_FRAMES)
    }

    /// [`Self::open`], the writer restarting the log past `restart_frames`.
    fn open_restarting_at(path: &Path, restart_frames: i64) -> Result<Self, StoreError> {
        let conn = Connection::open(path).map_err(sql)?;
        Self::init(conn, Some(path), restart_frames)
    }

    /// A private in-memory database (tests).
    pub fn open_in_memory() -> Result<Self, StoreError> {
        Self::init(
            Connection::open_in_memory().map_err(sql)?,
            None,
            RESTART_FRAMES,
        )
    }

    fn init(
        conn: Connection,
        path: Option<&Path>,
        restart_frames: i64,
    ) -> Result<Self, StoreError> {
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sql)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(sql)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(sql)?;
        conn.execute_batch(SCHEMA).map_err(sql)?;
        // The forwarding schedule's table too: the console's reader joins it.
        conn.execute_batch(deliveries::SCHEMA).map_err(sql)?;
        migrate(&conn)?;
        Ok(SqliteStore {
            conn: Writer::start(conn, path, restart_frames)?,
            published: Arc::new(PublishedCache::new()),
        })
    }

    /// Keep (`on`) or drop the indexes only the console's filters use. They
    /// cost each new event two more index writes (measured side by side:
    /// BENCHMARKS.md); without them a filtered console list scans.
    pub async fn console_indexes(&self, on: bool) -> Result<(), StoreError> {
        Self::with(&self.conn, move |c| {
            if on {
                c.execute_batch(CONSOLE_INDEXES)
            } else {
                c.execute_batch(
                    "DROP INDEX IF EXISTS events_provider; DROP INDEX IF EXISTS events_status;",
                )
            }
            .map_err(sql)
        })
        .await
    }

    /// The writer, to build the outbox publisher on the same file.
    pub fn shared(&self) -> SharedConn {
        self.conn.clone()
    }

    /// Run `f` on the writer thread, in the current batch (see
    /// [`run_batch`]: `f` may run twice, the first run undone); resolves
    /// once the batch is committed.
    pub(crate) async fn with<T: Send + 'static>(
        conn: &SharedConn,
        f: impl FnMut(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (reply, rx) = tokio::sync::oneshot::channel::<Result<T, StoreError>>();
        let job: Job = Box::new(Pending {
            f,
            result: None,
            reply,
        });
        conn.jobs
            .send(job)
            .map_err(|_| StoreError::Corrupt("sqlite writer stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Corrupt("sqlite writer dropped a job".into()))?
    }
}

/// Rows read by a function whose outer error is SQLite's and inner one a
/// value this version cannot read (see [`read_event`]).
pub(crate) fn collect_rows<T>(
    rows: impl Iterator<Item = rusqlite::Result<Result<T, StoreError>>>,
) -> Result<Vec<T>, StoreError> {
    rows.map(|r| r.map_err(sql)?).collect()
}

/// An `orders` row (`SELECT *`).
pub(crate) fn read_order(
    r: &rusqlite::Row<'_>,
) -> rusqlite::Result<Result<OrderState, StoreError>> {
    let p: String = r.get("provider")?;
    let s: String = r.get("status")?;
    let (Some(provider), Some(status)) = (ProviderId::parse(&p), Status::parse(&s)) else {
        return Ok(Err(StoreError::Corrupt(format!("order row {p:?} {s:?}"))));
    };
    Ok(Ok(OrderState {
        provider,
        order_id: r.get("order_id")?,
        status,
        last_event_id: r.get("last_event_id")?,
        updated_at: from_nanos(r.get("updated_at")?),
        event_count: u64::try_from(r.get::<_, i64>("event_count")?).unwrap_or(0),
    }))
}

/// A stored event row. The outer error is SQLite's, the inner one a value
/// this version cannot read (an unknown state).
fn read_event(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<StoredEvent, StoreError>> {
    let state: String = row.get("state")?;
    let state = match EventState::parse(&state) {
        Ok(s) => s,
        Err(e) => return Ok(Err(e)),
    };
    Ok(Ok(StoredEvent {
        event_id: row.get("event_id")?,
        state,
        event_json: row.get("event_json")?,
        received_at: from_nanos(row.get("received_at")?),
        published_at: row.get::<_, Option<i64>>("published_at")?.map(from_nanos),
    }))
}

fn read_record(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<EventRecord, StoreError>> {
    let provider: String = row.get("provider")?;
    let status: String = row.get("status")?;
    let (Some(provider), Some(status)) = (ProviderId::parse(&provider), Status::parse(&status))
    else {
        return Ok(Err(StoreError::Corrupt(format!(
            "event row with provider {provider:?} status {status:?}"
        ))));
    };
    Ok(Ok(EventRecord {
        event_id: row.get("event_id")?,
        provider,
        order_id: row.get("order_id")?,
        status,
        provider_event: row.get("provider_event")?,
        payload_sha256: row.get("payload_sha256")?,
        event_json: row.get("event_json")?,
        received_at: from_nanos(row.get("received_at")?),
    }))
}

/// Claim `rec` inside the current transaction (see [`EventStore::claim`]).
/// With `published_at`, a new event is inserted already published and
/// outboxed (the caller appends its outbox row and moves its order in the
/// same transaction).
fn claim_in(
    tx: &Connection,
    rec: &EventRecord,
    now_n: i64,
    until: i64,
    published_at: Option<i64>,
) -> Result<Claim, StoreError> {
    let inserted = tx
        .prepare_cached(
            "INSERT INTO events (event_id, provider, order_id, status, provider_event,
                payload_sha256, event_json, received_at, state, lease_until, published_at,
                outboxed)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8,
                CASE WHEN ?10 IS NULL THEN 'recorded' ELSE 'published' END, ?9, ?10,
                ?10 IS NOT NULL)
             ON CONFLICT (event_id) DO NOTHING",
        )
        .and_then(|mut st| {
            st.execute(params![
                rec.event_id,
                rec.provider.as_str(),
                rec.order_id,
                rec.status.as_str(),
                rec.provider_event,
                rec.payload_sha256,
                rec.event_json,
                nanos(rec.received_at),
                until,
                published_at
            ])
        })
        .map_err(sql)?;
    if inserted == 1 {
        return Ok(Claim::New);
    }
    let (sha, state, lease_until): (String, String, i64) = tx
        .prepare_cached("SELECT payload_sha256, state, lease_until FROM events WHERE event_id = ?1")
        .and_then(|mut st| st.query_row([&rec.event_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))))
        .map_err(sql)?;
    let state = EventState::parse(&state)?;
    Ok(if sha != rec.payload_sha256 {
        Claim::Conflict
    } else if state == EventState::Published {
        Claim::Duplicate
    } else if lease_until > now_n {
        Claim::InFlight
    } else {
        tx.prepare_cached("UPDATE events SET lease_until = ?2 WHERE event_id = ?1")
            .and_then(|mut st| st.execute(params![rec.event_id, until]))
            .map_err(sql)?;
        Claim::TakenOver
    })
}

/// Mark `rec` published and move its order forward, inside the current
/// transaction (see [`EventStore::complete`]).
fn complete_in(tx: &Connection, rec: &EventRecord, now_n: i64) -> Result<(), StoreError> {
    let changed = tx
        .prepare_cached(
            "UPDATE events SET state = 'published', published_at = ?2
             WHERE event_id = ?1 AND state = 'recorded'",
        )
        .and_then(|mut st| st.execute(params![rec.event_id, now_n]))
        .map_err(sql)?;
    if changed == 1 {
        return order_forward_in(tx, rec, now_n);
    }
    // Nothing changed: already published (complete is idempotent), or never
    // claimed, which is a caller's bug and an error, as in every store.
    let known = tx
        .prepare_cached("SELECT 1 FROM events WHERE event_id = ?1")
        .and_then(|mut st| st.exists(params![rec.event_id]))
        .map_err(sql)?;
    if known {
        Ok(())
    } else {
        Err(StoreError::Corrupt(format!(
            "complete of unknown event {}",
            rec.event_id
        )))
    }
}

/// Count `rec` on its order and move the order's status forward (only to a
/// strictly higher rank), inside the current transaction.
fn order_forward_in(tx: &Connection, rec: &EventRecord, now_n: i64) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO orders (provider, order_id, status, status_rank, last_event_id,
                updated_at, event_count, event_ids)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?5)
             ON CONFLICT (provider, order_id) DO UPDATE SET
                event_count = event_count + 1,
                event_ids = CASE WHEN event_count < ?7
                              THEN event_ids || ' ' || excluded.event_ids ELSE event_ids END,
                status = CASE WHEN excluded.status_rank > status_rank
                              THEN excluded.status ELSE status END,
                last_event_id = CASE WHEN excluded.status_rank > status_rank
                              THEN excluded.last_event_id ELSE last_event_id END,
                updated_at = CASE WHEN excluded.status_rank > status_rank
                              THEN excluded.updated_at ELSE updated_at END,
                status_rank = MAX(status_rank, excluded.status_rank)",
    )
    .and_then(|mut st| {
        st.execute(params![
            rec.provider.as_str(),
            rec.order_id,
            rec.status.as_str(),
            stored_rank(rec.status),
            rec.event_id,
            now_n,
            i64::try_from(ORDER_EVENT_IDS).unwrap_or(i64::MAX)
        ])
    })
    .map_err(sql)?;
    Ok(())
}

impl SqliteStore {
    /// The embedded backend's whole write for one webhook in ONE durable
    /// step: claim `rec`; when the claim is [`Claim::New`] or
    /// [`Claim::TakenOver`], also add its outbox row (the embedded
    /// "publish", same file) and mark it published with its order moved
    /// forward. All in one transaction, so either everything is on disk or
    /// nothing is. Other outcomes write nothing.
    pub async fn claim_publish_complete(
        &self,
        rec: &EventRecord,
        now: OffsetDateTime,
        lease: Duration,
    ) -> Result<Claim, StoreError> {
        if let Some(known) = self.published.check(&rec.event_id, &rec.payload_sha256) {
            return Ok(known);
        }
        let r = rec.clone();
        let (now_n, until) = (nanos(now), nanos(now + lease));
        let outcome = Self::with(&self.conn, move |tx| {
            let claim = claim_in(tx, &r, now_n, until, Some(now_n))?;
            if matches!(claim, Claim::New | Claim::TakenOver) {
                let row = Row {
                    event_id: &r.event_id,
                    provider: r.provider.as_str(),
                    order_id: &r.order_id,
                    status: r.status.as_str(),
                    body: &r.event_json,
                    published_at: now_n,
                };
                if claim == Claim::New {
                    // Inserted as published and outboxed (`claim_in`): the
                    // row itself and the order are left.
                    append_in(tx, &row, false)?;
                    order_forward_in(tx, &r, now_n)?;
                } else {
                    insert_in(tx, &row, false)?;
                    complete_in(tx, &r, now_n)?;
                }
            }
            Ok(claim)
        })
        .await?;
        if matches!(outcome, Claim::New | Claim::TakenOver | Claim::Duplicate) {
            self.published.insert(&rec.event_id, &rec.payload_sha256);
        }
        Ok(outcome)
    }
}

/// The embedded [`Recorder`]: one transaction per delivery
/// ([`SqliteStore::claim_publish_complete`]), the outbox row being the
/// publication; the app's store must be this store and its outbox
/// ([`SqliteOutbox::new`]) the publisher the sweeper uses.
#[async_trait]
impl Recorder for SqliteStore {
    async fn record(
        &self,
        rec: &EventRecord,
        _event: &PaymentEvent,
        now: OffsetDateTime,
        lease: Duration,
        _clock: &dyn Clock,
    ) -> Result<Recorded, RecordError> {
        let claim = self
            .claim_publish_complete(rec, now, lease)
            .await
            .map_err(RecordError::Claim)?;
        Ok(Recorded::settled(claim).unwrap_or(Recorded::Published))
    }
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn claim(
        &self,
        rec: &EventRecord,
        now: OffsetDateTime,
        lease: Duration,
    ) -> Result<Claim, StoreError> {
        if let Some(known) = self.published.check(&rec.event_id, &rec.payload_sha256) {
            return Ok(known);
        }
        let owned = rec.clone();
        let (now_n, until) = (nanos(now), nanos(now + lease));
        let outcome = Self::with(&self.conn, move |tx| {
            claim_in(tx, &owned, now_n, until, None)
        })
        .await?;
        if outcome == Claim::Duplicate {
            self.published.insert(&rec.event_id, &rec.payload_sha256);
        }
        Ok(outcome)
    }

    async fn release(&self, event_id: &str) -> Result<(), StoreError> {
        let id = event_id.to_owned();
        Self::with(&self.conn, move |c| {
            c.execute(
                "UPDATE events SET lease_until = 0 WHERE event_id = ?1 AND state = 'recorded'",
                [&id],
            )
            .map_err(sql)?;
            Ok(())
        })
        .await
    }

    async fn complete(&self, rec: &EventRecord, now: OffsetDateTime) -> Result<(), StoreError> {
        let owned = rec.clone();
        let now_n = nanos(now);
        Self::with(&self.conn, move |tx| complete_in(tx, &owned, now_n)).await?;
        self.published.insert(&rec.event_id, &rec.payload_sha256);
        Ok(())
    }

    async fn stuck(
        &self,
        lease_expired_before: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<EventRecord>, StoreError> {
        let before = nanos(lease_expired_before);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        Self::with(&self.conn, move |c| {
            let mut st = c
                .prepare(
                    "SELECT * FROM events WHERE state = 'recorded' AND lease_until <= ?1
                     ORDER BY received_at, event_id LIMIT ?2",
                )
                .map_err(sql)?;
            let rows = st
                .query_map(params![before, limit], read_record)
                .map_err(sql)?;
            collect_rows(rows)
        })
        .await
    }

    async fn take_over(
        &self,
        event_id: &str,
        now: OffsetDateTime,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let id = event_id.to_owned();
        let (now_n, until) = (nanos(now), nanos(now + lease));
        Self::with(&self.conn, move |c| {
            let n = c
                .execute(
                    "UPDATE events SET lease_until = ?3
                     WHERE event_id = ?1 AND state = 'recorded' AND lease_until <= ?2",
                    params![id, now_n, until],
                )
                .map_err(sql)?;
            Ok(n == 1)
        })
        .await
    }

    async fn get_event(&self, event_id: &str) -> Result<Option<StoredEvent>, StoreError> {
        let id = event_id.to_owned();
        Self::with(&self.conn, move |c| {
            c.query_row(
                "SELECT * FROM events WHERE event_id = ?1",
                [&id],
                read_event,
            )
            .optional()
            .map_err(sql)?
            .transpose()
        })
        .await
    }

    async fn list_events(&self, filter: &EventFilter) -> Result<Vec<StoredEvent>, StoreError> {
        let f = filter.clone();
        Self::with(&self.conn, move |c| {
            let mut st = c
                .prepare(
                    "SELECT * FROM events
                     WHERE (?1 IS NULL OR provider = ?1) AND (?2 IS NULL OR order_id = ?2)
                       AND (?3 IS NULL OR status = ?3) AND (?4 IS NULL OR received_at >= ?4)
                     ORDER BY received_at, event_id LIMIT ?5",
                )
                .map_err(sql)?;
            let rows = st
                .query_map(
                    params![
                        f.provider.map(|p| p.as_str()),
                        f.order_id,
                        f.status.map(|s| s.as_str()),
                        f.since.map(nanos),
                        f.limit.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX)),
                    ],
                    read_event,
                )
                .map_err(sql)?;
            collect_rows(rows)
        })
        .await
    }

    async fn list_orders(&self) -> Result<Vec<OrderState>, StoreError> {
        Self::with(&self.conn, move |c| {
            let mut st = c
                .prepare("SELECT * FROM orders ORDER BY provider, order_id")
                .map_err(sql)?;
            let rows = st.query_map([], read_order).map_err(sql)?;
            collect_rows(rows)
        })
        .await
    }
}

fn read_user(r: &rusqlite::Row<'_>) -> rusqlite::Result<(String, String, Option<String>, i64)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

fn to_user(
    (email, decision, reason, updated_at): (String, String, Option<String>, i64),
) -> Result<payhook::users::UserRecord, StoreError> {
    let decision = payhook::users::Decision::parse(&decision)
        .ok_or_else(|| StoreError::Corrupt(format!("user row with decision {decision:?}")))?;
    Ok(payhook::users::UserRecord {
        email,
        decision,
        reason,
        updated_at: from_nanos(updated_at),
    })
}

#[async_trait]
impl payhook::users::UserStore for SqliteStore {
    async fn get_user(
        &self,
        email: &str,
    ) -> Result<Option<payhook::users::UserRecord>, StoreError> {
        let email = email.to_owned();
        let row = Self::with(&self.conn, move |c| {
            c.query_row(
                "SELECT email, decision, reason, updated_at FROM users WHERE email = ?1",
                [&email],
                read_user,
            )
            .optional()
            .map_err(sql)
        })
        .await?;
        row.map(to_user).transpose()
    }

    async fn put_user(&self, rec: &payhook::users::UserRecord) -> Result<(), StoreError> {
        let rec = rec.clone();
        Self::with(&self.conn, move |c| {
            c.execute(
                "INSERT INTO users (email, decision, reason, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (email) DO UPDATE SET decision = excluded.decision,
                    reason = excluded.reason, updated_at = excluded.updated_at",
                params![
                    rec.email,
                    rec.decision.as_str(),
                    rec.reason,
                    nanos(rec.updated_at)
                ],
            )
            .map_err(sql)?;
            Ok(())
        })
        .await
    }

    async fn remove_user(&self, email: &str) -> Result<bool, StoreError> {
        let email = email.to_owned();
        Self::with(&self.conn, move |c| {
            Ok(c.execute("DELETE FROM users WHERE email = ?1", [&email])
                .map_err(sql)?
                == 1)
        })
        .await
    }

    async fn list_users(&self) -> Result<Vec<payhook::users::UserRecord>, StoreError> {
        let rows = Self::with(&self.conn, move |c| {
            let mut st = c
                .prepare("SELECT email, decision, reason, updated_at FROM users ORDER BY email")
                .map_err(sql)?;
            let rows = st.query_map([], read_user).map_err(sql)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(sql)
        })
        .await?;
        rows.into_iter().map(to_user).collect()
    }
}

// ------------------------------------------------------------------ outbox
// The embedded backend's "queue": an outbox table in the same SQLite file as
// the store. One row per event id from the pipeline and the sweeper (a
// republished copy is dropped, as a FIFO queue would), plus one row per
// explicit `payhook replay`; read by `payhook events`.

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
    /// Only messages after this sequence number (`payhook events --follow`).
    pub after_seq: Option<i64>,
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
                       AND (?5 IS NULL OR seq > ?5)
                     ORDER BY seq",
                )
                .map_err(err)?;
            let rows = st
                .query_map(
                    params![
                        f.provider,
                        f.order_id,
                        f.status,
                        f.since.map(nanos),
                        f.after_seq
                    ],
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
/// row for an event the store holds is dropped: the event row's `outboxed`
/// flag says whether it has one (an id the store does not hold is written).
pub(crate) fn insert_in(
    c: &rusqlite::Connection,
    row: &Row<'_>,
    replay: bool,
) -> Result<(), StoreError> {
    if !replay {
        let err = |e: rusqlite::Error| StoreError::Corrupt(e.to_string());
        let flagged = c
            .prepare_cached("UPDATE events SET outboxed = 1 WHERE event_id = ?1 AND outboxed = 0")
            .and_then(|mut st| st.execute([row.event_id]))
            .map_err(err)?;
        if flagged == 0
            && c.prepare_cached("SELECT 1 FROM events WHERE event_id = ?1")
                .and_then(|mut st| st.exists([row.event_id]))
                .map_err(err)?
        {
            return Ok(());
        }
    }
    append_in(c, row, replay)
}

/// Add `row` to the outbox, unconditionally.
fn append_in(c: &rusqlite::Connection, row: &Row<'_>, replay: bool) -> Result<(), StoreError> {
    c.prepare_cached(
        "INSERT INTO outbox
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

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> EventRecord {
        EventRecord {
            event_id: id.to_owned(),
            provider: ProviderId::KOYWE,
            order_id: "o1".to_owned(),
            status: Status::Pending,
            provider_event: "x".to_owned(),
            payload_sha256: "00".to_owned(),
            event_json: "{}".to_owned(),
            received_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    /// An empty directory of this test process named after `name`, and the
    /// database path in it.
    fn fresh_db(name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
        let dir =
            std::env::temp_dir().join(format!("payhook-embedded-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let db = dir.join("payhook.db");
        (dir, db)
    }

    /// Salt-1 of the WAL header: SQLite draws a new one each time the log
    /// restarts from its beginning.
    fn wal_salt(db: &Path) -> Option<[u8; 4]> {
        let mut p = db.as_os_str().to_owned();
        p.push("-wal");
        let head = std::fs::read(std::path::PathBuf::from(p)).ok()?;
        head.get(16..20)?.try_into().ok()
    }

    /// Under writes that never pause (the writer always has a batch
    /// waiting), passive checkpoints alone never let the log restart and the
    /// WAL grows without bound; past its cap the writer copies the rest and
    /// the log starts over. Without the writer's step the salt never changes
    /// here.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_restarts_under_writes_that_never_pause() {
        let (dir, db) = fresh_db("wal");
        let store = SqliteStore::open_restarting_at(&db, 64).unwrap_or_else(|e| panic!("{e}"));
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..32)
            .map(|w| {
                let (store, stop) = (store.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let mut r = record(&format!("w{w}-{n}"));
                        r.order_id = format!("o{w}-{n}");
                        r.event_json = "x".repeat(1000);
                        let claim = store
                            .claim_publish_complete(
                                &r,
                                OffsetDateTime::now_utc(),
                                Duration::from_secs(30),
                            )
                            .await
                            .unwrap_or_else(|e| panic!("{e}"));
                        assert_eq!(claim, Claim::New);
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        // The first salt once the log exists, then watch for another.
        let started = std::time::Instant::now();
        let mut first = None;
        let mut restarted = false;
        while started.elapsed() < Duration::from_secs(20) && !restarted {
            tokio::time::sleep(Duration::from_millis(10)).await;
            match (first, wal_salt(&db)) {
                (None, Some(s)) => first = Some(s),
                (Some(a), Some(b)) => restarted = a != b,
                _ => {}
            }
        }
        stop.store(true, Ordering::Relaxed);
        let mut written = 0;
        for w in writers {
            written += w.await.unwrap_or_else(|e| panic!("{e}"));
        }
        let rows: u64 = SqliteStore::with(&store.conn, |c| {
            c.query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
                .map_err(sql)
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(rows, written, "every answered write is in the file");
        assert!(
            restarted,
            "the WAL never restarted in 20 s of writes ({written} events)"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn unknown_state(r: Result<impl std::fmt::Debug, StoreError>, what: &str) {
        match r {
            Err(StoreError::UnknownValue { field, value }) => {
                assert_eq!(
                    (field, value.as_str()),
                    ("event state", "archived"),
                    "{what}"
                );
            }
            other => panic!("{what}: an unknown state read as {other:?}"),
        }
    }

    /// A row whose `state` this version does not know (damaged, or written
    /// by a newer version) is an error naming the value on every read, never
    /// read as `recorded`.
    #[tokio::test]
    async fn an_unknown_event_state_in_the_file_fails_reads_naming_it() {
        let (dir, db) = fresh_db("state");
        let store = SqliteStore::open(&db).unwrap_or_else(|e| panic!("{e}"));
        let rec = record("e1");
        let now = OffsetDateTime::UNIX_EPOCH;
        let lease = Duration::from_secs(30);
        assert_eq!(store.claim(&rec, now, lease).await.ok(), Some(Claim::New));
        let read = store.get_event("e1").await.map(|e| e.map(|e| e.state));
        assert_eq!(read.ok(), Some(Some(EventState::Recorded)));

        let raw = Connection::open(&db).unwrap_or_else(|e| panic!("{e}"));
        let changed = raw
            .execute(
                "UPDATE events SET state = 'archived' WHERE event_id = 'e1'",
                [],
            )
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(changed, 1);
        drop(raw);

        unknown_state(store.get_event("e1").await, "get_event");
        unknown_state(
            store.list_events(&EventFilter::default()).await,
            "list_events",
        );
        // The redelivery's claim does not guess either (not in flight, not
        // taken over).
        unknown_state(
            store
                .claim(&rec, now + Duration::from_secs(60), lease)
                .await,
            "claim",
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// An order's row lists its first [`ORDER_EVENT_IDS`] events (what the
    /// console's timeline and order filter read), and a file of the
    /// previous schema is migrated with its orders' events listed.
    #[tokio::test]
    async fn orders_list_their_events_and_old_files_are_migrated() {
        let (dir, db) = fresh_db("ids");
        let store = SqliteStore::open(&db).unwrap_or_else(|e| panic!("{e}"));
        let now = OffsetDateTime::UNIX_EPOCH;
        for i in 0..(ORDER_EVENT_IDS + 5) {
            let mut rec = record(&format!("e{i:03}"));
            rec.received_at = now + Duration::from_secs(u64::try_from(i).unwrap_or(0));
            store
                .claim(&rec, now, Duration::from_secs(30))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            store
                .complete(&rec, now)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let reader = Reader::open(&db).unwrap_or_else(|e| panic!("{e}"));
        let listed = reader
            .order_events(ProviderId::KOYWE, "o1")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let ids: Vec<_> = listed.iter().map(|e| e.event_id.clone()).collect();
        let want: Vec<_> = (0..ORDER_EVENT_IDS).map(|i| format!("e{i:03}")).collect();
        assert_eq!(ids, want);
        let q = EventQuery {
            order_id: Some("o1".into()),
            limit: 1000,
            ..EventQuery::default()
        };
        assert_eq!(
            reader.events(q.clone()).await.map(|v| v.len()).ok(),
            Some(ORDER_EVENT_IDS)
        );
        assert_eq!(
            reader.count_events(q, 10_000).await.ok(),
            Some(ORDER_EVENT_IDS)
        );
        let none = EventQuery {
            order_id: Some("nope".into()),
            limit: 10,
            ..EventQuery::default()
        };
        assert_eq!(reader.events(none).await.map(|v| v.len()).ok(), Some(0));
        drop((store, reader));

        // The previous schema: no `event_ids` column.
        let raw = Connection::open(&db).unwrap_or_else(|e| panic!("{e}"));
        raw.execute_batch(
            "CREATE TABLE o2 AS SELECT provider, order_id, status, status_rank, last_event_id,
                 updated_at, event_count FROM orders;
             DROP TABLE orders;
             CREATE TABLE orders (provider TEXT NOT NULL, order_id TEXT NOT NULL,
                 status TEXT NOT NULL, status_rank INTEGER NOT NULL, last_event_id TEXT NOT NULL,
                 updated_at INTEGER NOT NULL, event_count INTEGER NOT NULL,
                 PRIMARY KEY (provider, order_id)) WITHOUT ROWID;
             INSERT INTO orders SELECT * FROM o2; DROP TABLE o2;
             CREATE INDEX events_order ON events (order_id, provider);",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        drop(raw);
        let store = SqliteStore::open(&db).unwrap_or_else(|e| panic!("{e}"));
        let reader = Reader::open(&db).unwrap_or_else(|e| panic!("{e}"));
        let listed = reader
            .order_events(ProviderId::KOYWE, "o1")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            listed.len(),
            ORDER_EVENT_IDS,
            "migrated order lists its first events"
        );
        assert_eq!(listed.first().map(|e| e.event_id.as_str()), Some("e000"));
        let raw = Connection::open(&db).unwrap_or_else(|e| panic!("{e}"));
        let dev_index: i64 = raw
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE name = 'events_order'",
                [],
                |r| r.get(0),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(dev_index, 0);
        drop((store, reader, raw));
        let _ = std::fs::remove_dir_all(&dir);
    }
    /// Publish a stand-in row for `event_id` through the outbox's
    /// write path ([`insert_in`]).
    pub(crate) async fn publish_row(
        store: &SqliteStore,
        event_id: &str,
        order_id: &str,
        replay: bool,
    ) {
        let (e, o) = (event_id.to_owned(), order_id.to_owned());
        SqliteStore::with(&store.shared(), move |c| {
            let row = Row {
                event_id: &e,
                provider: "koywe",
                order_id: &o,
                status: "pending",
                body: "{}",
                published_at: 0,
            };
            insert_in(c, &row, replay)
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    }

    fn count(c: &Connection, sql_text: &str) -> i64 {
        c.query_row(sql_text, [], |r| r.get(0))
            .unwrap_or_else(|e| panic!("{sql_text}: {e}"))
    }

    /// A batch runs without savepoints; when one operation fails, the batch
    /// is undone and run again with one savepoint each: the failing one's
    /// writes are gone, the others' are committed, each caller gets its own
    /// result.
    #[tokio::test]
    async fn a_failing_operation_is_undone_alone_and_the_rest_of_its_batch_commits() {
        let conn = Connection::open_in_memory().unwrap_or_else(|e| panic!("{e}"));
        conn.execute_batch("CREATE TABLE t (k TEXT PRIMARY KEY)")
            .unwrap_or_else(|e| panic!("{e}"));
        let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let op = |key: &'static str, fail: bool| {
            let runs = runs.clone();
            let (reply, rx) = tokio::sync::oneshot::channel();
            let job: Job = Box::new(Pending {
                f: move |c: &Connection| {
                    runs.fetch_add(1, Ordering::Relaxed);
                    c.execute("INSERT INTO t (k) VALUES (?1)", [key])
                        .map_err(sql)?;
                    if fail {
                        return Err(StoreError::Corrupt(format!("{key} fails")));
                    }
                    Ok(key)
                },
                result: None,
                reply,
            });
            (job, rx)
        };
        // All succeed: each runs once.
        let (a, ra) = op("a", false);
        let (b, rb) = op("b", false);
        let mut batch = vec![a, b];
        assert_eq!(run_batch(&conn, &mut batch), None);
        batch.into_iter().for_each(|j| j.deliver(None));
        assert_eq!(runs.load(Ordering::Relaxed), 2);
        assert_eq!(ra.await.ok().and_then(|r| r.ok()), Some("a"));
        assert_eq!(rb.await.ok().and_then(|r| r.ok()), Some("b"));
        // The middle one fails after writing: undone alone.
        runs.store(0, Ordering::Relaxed);
        let (c, rc) = op("c", false);
        let (d, rd) = op("d", true);
        let (e, re) = op("e", false);
        let mut batch = vec![c, d, e];
        assert_eq!(run_batch(&conn, &mut batch), None);
        batch.into_iter().for_each(|j| j.deliver(None));
        // c and d ran, then the batch again: c, d, e.
        assert_eq!(runs.load(Ordering::Relaxed), 5);
        assert_eq!(rc.await.ok().and_then(|r| r.ok()), Some("c"));
        match rd.await {
            Ok(Err(StoreError::Corrupt(m))) => assert_eq!(m, "d fails"),
            other => panic!("the failing operation got {other:?}"),
        }
        assert_eq!(re.await.ok().and_then(|r| r.ok()), Some("e"));
        let keys: Vec<String> = conn
            .prepare("SELECT k FROM t ORDER BY k")
            .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(keys, ["a", "b", "c", "e"]);
        assert!(conn.is_autocommit(), "the batch's transaction is closed");
    }

    /// One non-replay outbox row per event the store holds (the event row's
    /// `outboxed` flag), any number of replays, and a file whose outbox
    /// relied on the former unique index is migrated to the flag.
    #[tokio::test]
    async fn the_outbox_holds_one_row_per_event_and_old_files_get_the_flag() {
        let (dir, db) = fresh_db("outboxed");
        let store = SqliteStore::open(&db).unwrap_or_else(|e| panic!("{e}"));
        let now = OffsetDateTime::UNIX_EPOCH;
        let lease = Duration::from_secs(30);
        let rows = |id: &str| {
            let raw = Connection::open(&db).unwrap_or_else(|e| panic!("{e}"));
            count(
                &raw,
                &format!("SELECT COUNT(*) FROM outbox WHERE event_id = '{id}' AND replay = 0"),
            )
        };
        // One step: the row written with the event.
        let claim = store
            .claim_publish_complete(&record("e1"), now, lease)
            .await;
        assert_eq!(claim.ok(), Some(Claim::New));
        assert_eq!(rows("e1"), 1);
        publish_row(&store, "e1", "o1", false).await;
        assert_eq!(rows("e1"), 1, "a republication of e1 is dropped");
        publish_row(&store, "e1", "o1", true).await;
        publish_row(&store, "e1", "o1", true).await;
        let raw = Connection::open(&db).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            count(
                &raw,
                "SELECT COUNT(*) FROM outbox WHERE event_id = 'e1' AND replay = 1"
            ),
            2
        );
        // Claimed, then published twice (the sweeper's path): one row.
        assert_eq!(
            store.claim(&record("e2"), now, lease).await.ok(),
            Some(Claim::New)
        );
        publish_row(&store, "e2", "o1", false).await;
        publish_row(&store, "e2", "o1", false).await;
        assert_eq!(rows("e2"), 1);
        // Claimed, not yet published.
        assert_eq!(
            store.claim(&record("e3"), now, lease).await.ok(),
            Some(Claim::New)
        );
        // An id the store does not hold has nothing to be checked against.
        publish_row(&store, "x", "o1", false).await;
        assert_eq!(rows("x"), 1);

        // The previous schema: no flag, the unique index instead.
        drop(store);
        raw.execute_batch(
            "ALTER TABLE events DROP COLUMN outboxed;
             CREATE UNIQUE INDEX outbox_once ON outbox (event_id) WHERE replay = 0;",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let store = SqliteStore::open(&db).unwrap_or_else(|e| panic!("{e}"));
        let flags: Vec<(String, i64)> = raw
            .prepare("SELECT event_id, outboxed FROM events ORDER BY event_id")
            .and_then(|mut st| st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
            .unwrap_or_else(|e| panic!("{e}"));
        let want = [("e1", 1), ("e2", 1), ("e3", 0)].map(|(id, f)| (id.to_owned(), f));
        assert_eq!(flags, want);
        assert_eq!(
            count(
                &raw,
                "SELECT COUNT(*) FROM sqlite_master WHERE name = 'outbox_once'"
            ),
            0
        );
        publish_row(&store, "e1", "o1", false).await;
        publish_row(&store, "e3", "o1", false).await;
        publish_row(&store, "e3", "o1", false).await;
        assert_eq!((rows("e1"), rows("e3")), (1, 1));
        drop((store, raw));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
