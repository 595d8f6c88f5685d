//! The event store's contract, one suite run against every adapter: the
//! memory store, the embedded SQLite store and DynamoDB (moto on
//! 127.0.0.1, `PAYHOOK_TEST_MOTO`; failing, never skipping, when it is not
//! running). Each backend gets a fresh store per test. Its helpers (`event`,
//! `record`, `claim`, …) serve the moto tests too.

use payhook::event::PaymentEvent;
use payhook::store::memory::MemoryStore;
use payhook::store::{Claim, EventRecord, EventState, EventStore, StoreError};
use payhook::{ProviderId, Status};
use payhook_aws::dynamodb::DynamoStore;
use payhook_embedded::SqliteStore;
use payhook_tests::aws::{create_table, moto_sdk, unique};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use time::macros::datetime;

pub(crate) const T0: OffsetDateTime = datetime!(2025-03-01 12:00:00 UTC);
pub(crate) const LEASE: Duration = Duration::from_secs(30);

pub(crate) fn event(
    id: &str,
    order: &str,
    status: Status,
    received_at: OffsetDateTime,
) -> PaymentEvent {
    let mut e = PaymentEvent::new(
        ProviderId::KOYWE,
        "onramp",
        status.as_str(),
        status,
        order,
        received_at,
        serde_json::json!({ "orderId": order, "n": id }),
    );
    e.event_id = id.to_owned();
    e
}

pub(crate) fn record(id: &str, order: &str, status: Status, fingerprint: u8) -> EventRecord {
    EventRecord::new(&event(id, order, status, T0), &[fingerprint; 32])
        .unwrap_or_else(|e| panic!("{e}"))
}

pub(crate) fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

pub(crate) async fn claim(store: &dyn EventStore, rec: &EventRecord, now: OffsetDateTime) -> Claim {
    store
        .claim(rec, now, LEASE)
        .await
        .unwrap_or_else(|e| panic!("claim: {e:?}"))
}

pub(crate) async fn complete(store: &dyn EventStore, rec: &EventRecord, now: OffsetDateTime) {
    store
        .complete(rec, now)
        .await
        .unwrap_or_else(|e| panic!("complete: {e:?}"));
}

// ------------------------------------------------------------- backends

fn memory() -> Arc<dyn EventStore> {
    Arc::new(MemoryStore::new())
}

fn sqlite(name: &str) -> Arc<dyn EventStore> {
    let dir = std::env::temp_dir().join(format!(
        "payhook-contract-{name}-{}-{}",
        std::process::id(),
        unique("db")
    ));
    let _ = std::fs::create_dir_all(&dir);
    Arc::new(SqliteStore::open(&dir.join("payhook.db")).unwrap_or_else(|e| panic!("{e}")))
}

async fn dynamodb() -> Arc<dyn EventStore> {
    let sdk = moto_sdk().await;
    let table = unique("payhook");
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    create_table(&client, &table).await;
    Arc::new(DynamoStore::new(client, &table, 30))
}

/// One `#[tokio::test]` per backend for each contract test.
macro_rules! contract {
    ($name:ident, $flavor:meta, |$s:ident| $run:expr) => {
        mod $name {
            use super::*;

            #[$flavor]
            async fn memory() {
                let $s = super::memory();
                $run
            }

            #[$flavor]
            async fn sqlite() {
                let $s = super::sqlite(stringify!($name));
                $run
            }

            #[$flavor]
            async fn dynamodb() {
                let $s = super::dynamodb().await;
                $run
            }
        }
    };
}

contract!(claims, tokio::test, |s| claim_outcomes_and_complete(&*s)
    .await);
contract!(
    concurrent_claims,
    tokio::test(flavor = "multi_thread", worker_threads = 4),
    |s| fifty_concurrent_claims_one_new(s).await
);
contract!(order_status, tokio::test, |s| {
    order_status_only_moves_forward(&*s).await
});
contract!(stuck_and_take_over, tokio::test, |s| {
    stuck_finds_expired_leases_only(&*s).await
});
/// Sized per backend: enough for the memory store's tables to grow several
/// times, fewer on DynamoDB (moto answers in milliseconds per call).
mod many_events {
    use super::*;

    #[tokio::test]
    async fn memory() {
        many_events_all_found(&*super::memory(), 1200, 200).await;
    }

    #[tokio::test]
    async fn sqlite() {
        many_events_all_found(&*super::sqlite("many_events"), 1200, 200).await;
    }

    #[tokio::test]
    async fn dynamodb() {
        many_events_all_found(&*super::dynamodb().await, 40, 8).await;
    }
}

// ------------------------------------------------------------- the suite

pub async fn claim_outcomes_and_complete(s: &dyn EventStore) {
    let rec = record("e1", "o1", Status::Pending, 1);

    assert_eq!(claim(s, &rec, T0).await, Claim::New);
    assert_eq!(claim(s, &rec, T0 + secs(1)).await, Claim::InFlight);
    let other = record("e1", "o1", Status::Pending, 2);
    assert_eq!(claim(s, &other, T0 + secs(1)).await, Claim::Conflict);
    // Different payload, even once the lease expired: still a conflict.
    assert_eq!(claim(s, &other, T0 + secs(60)).await, Claim::Conflict);

    // Lease expired: a retry (received later) takes over, keeping the first
    // receipt time and event JSON.
    let mut retry = rec.clone();
    retry.received_at = T0 + secs(31);
    retry.event_json = event("e1", "o1", Status::Pending, T0 + secs(31))
        .to_json()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(claim(s, &retry, T0 + secs(31)).await, Claim::TakenOver);
    assert_eq!(claim(s, &retry, T0 + secs(32)).await, Claim::InFlight);
    let stored = s
        .get_event("e1")
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("e1 missing"));
    assert_eq!(stored.state, EventState::Recorded);
    assert_eq!(stored.received_at, T0);
    assert_eq!(stored.event_json, rec.event_json);
    assert_eq!(stored.published_at, None);

    complete(s, &retry, T0 + secs(33)).await;
    let stored = s
        .get_event("e1")
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("e1 missing"));
    assert_eq!(stored.state, EventState::Published);
    assert_eq!(stored.published_at, Some(T0 + secs(33)));
    assert_eq!(claim(s, &rec, T0 + secs(34)).await, Claim::Duplicate);
    assert_eq!(claim(s, &rec, T0 + secs(3600)).await, Claim::Duplicate);
    assert_eq!(claim(s, &other, T0 + secs(34)).await, Claim::Conflict);
    // complete is idempotent and does not count the event twice.
    complete(s, &rec, T0 + secs(35)).await;
    let orders = s.list_orders().await.unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0].event_count, 1);
    assert_eq!(orders[0].status, Status::Pending);

    // release gives the lease back at once.
    let r2 = record("e2", "o1", Status::Completed, 3);
    assert_eq!(claim(s, &r2, T0).await, Claim::New);
    s.release("e2").await.unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(claim(s, &r2, T0 + secs(1)).await, Claim::TakenOver);
    // releasing a published or unknown event is fine and changes nothing.
    s.release("e1").await.unwrap_or_else(|e| panic!("{e:?}"));
    s.release("nope").await.unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(claim(s, &rec, T0 + secs(40)).await, Claim::Duplicate);

    // complete of an event never claimed is an error, not a silent success.
    let ghost = record("ghost", "o9", Status::Pending, 4);
    assert!(matches!(
        s.complete(&ghost, T0).await,
        Err(StoreError::Corrupt(_))
    ));

    // get / list
    assert!(
        s.get_event("nope")
            .await
            .unwrap_or_else(|e| panic!("{e:?}"))
            .is_none()
    );
    let all = s
        .list_events(&payhook::store::EventFilter::default())
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(
        all.iter().map(|e| e.event_id.as_str()).collect::<Vec<_>>(),
        ["e1", "e2"]
    );
    let published = s
        .list_events(&payhook::store::EventFilter {
            status: Some(Status::Completed),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(published.len(), 1);
}

pub async fn fifty_concurrent_claims_one_new(store: Arc<dyn EventStore>) {
    let rec = record("concurrent", "o1", Status::Completed, 7);
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (store, rec) = (store.clone(), rec.clone());
            tokio::spawn(async move { store.claim(&rec, T0, LEASE).await })
        })
        .collect();
    let mut outcomes: HashMap<String, usize> = HashMap::new();
    for t in tasks {
        let o = t.await.unwrap_or_else(|e| panic!("{e}"));
        *outcomes.entry(format!("{o:?}")).or_default() += 1;
    }
    assert_eq!(outcomes.get("Ok(New)"), Some(&1), "{outcomes:?}");
    assert_eq!(outcomes.get("Ok(InFlight)"), Some(&49), "{outcomes:?}");
}

pub async fn order_status_only_moves_forward(s: &dyn EventStore) {
    let order = || async {
        let v = s.list_orders().await.unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(v.len(), 1, "{v:?}");
        v.into_iter().next().unwrap_or_else(|| unreachable!())
    };
    // The first event of an order is unknown: the order exists, rank 0.
    let steps = [
        ("u1", Status::Unknown, Status::Unknown, "u1"),
        ("p1", Status::Pending, Status::Pending, "p1"),
        ("c1", Status::Completed, Status::Completed, "c1"),
        ("f1", Status::Failed, Status::Completed, "c1"),
        ("u2", Status::Unknown, Status::Completed, "c1"),
        ("c2", Status::Completed, Status::Completed, "c1"),
        ("r1", Status::Refunded, Status::Refunded, "r1"),
        ("p2", Status::Pending, Status::Refunded, "r1"),
    ];
    for (i, (id, status, want, last)) in steps.into_iter().enumerate() {
        let rec = record(id, "o1", status, 10);
        let now = T0 + secs(i as u64);
        assert_eq!(claim(s, &rec, now).await, Claim::New);
        complete(s, &rec, now).await;
        let o = order().await;
        assert_eq!(
            (o.status, o.last_event_id.as_str()),
            (want, last),
            "after {id}"
        );
        assert_eq!(o.event_count, i as u64 + 1, "after {id}");
        assert_eq!(o.provider, ProviderId::KOYWE);
        assert_eq!(o.order_id, "o1");
    }
}

pub async fn stuck_finds_expired_leases_only(s: &dyn EventStore) {
    let a = record("a", "o1", Status::Pending, 1); // lease 30 s, abandoned
    let b = record("b", "o2", Status::Pending, 1); // long lease
    let c = record("c", "o3", Status::Pending, 1); // published
    let d = record("d", "o4", Status::Pending, 1); // released
    assert_eq!(claim(s, &a, T0).await, Claim::New);
    assert_eq!(s.claim(&b, T0, secs(600)).await.ok(), Some(Claim::New));
    assert_eq!(claim(s, &c, T0).await, Claim::New);
    complete(s, &c, T0).await;
    assert_eq!(claim(s, &d, T0 + secs(5)).await, Claim::New);

    let ids = |v: Vec<EventRecord>| v.into_iter().map(|r| r.event_id).collect::<Vec<_>>();
    let stuck = |before| async move {
        s.stuck(before, 10)
            .await
            .unwrap_or_else(|e| panic!("{e:?}"))
    };
    assert!(stuck(T0).await.is_empty());
    s.release("d").await.unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(ids(stuck(T0).await), ["d"]);
    let found = stuck(T0 + secs(60)).await;
    assert_eq!(
        found
            .iter()
            .map(|r| r.event_id.as_str())
            .collect::<Vec<_>>(),
        ["a", "d"]
    );
    assert_eq!(found[0].event_json, a.event_json);
    assert_eq!(found[0].payload_sha256, a.payload_sha256);
    assert_eq!(found[0].received_at, a.received_at);
    assert_eq!(
        ids(s.stuck(T0 + secs(60), 1).await.unwrap_or_default()).len(),
        1
    );

    let now = T0 + secs(60);
    assert!(
        s.take_over("a", now, LEASE)
            .await
            .unwrap_or_else(|e| panic!("{e:?}"))
    );
    // Taken over already, leased, published, unknown: nothing to take over.
    for id in ["a", "b", "c", "zz"] {
        assert!(
            !s.take_over(id, now, LEASE)
                .await
                .unwrap_or_else(|e| panic!("{e:?}")),
            "take_over {id}"
        );
    }
    assert_eq!(ids(stuck(now).await), ["d"]);
    // The taken-over lease expires in turn; after complete it is gone.
    assert_eq!(ids(stuck(now + secs(31)).await), ["a", "d"]);
    complete(s, &a, now).await;
    assert_eq!(ids(stuck(now + secs(3600)).await), ["b", "d"]);
}

/// `events` over `orders` (1,200 fill the memory store's 256 shards with
/// ~5 each, so their tables grow several times): every one is still found,
/// a second claim of each is a duplicate, and each order counts its own.
pub async fn many_events_all_found(s: &dyn EventStore, events: usize, orders: usize) {
    let recs: Vec<EventRecord> = (0..events)
        .map(|i| {
            record(
                &format!("ev-{i}"),
                &format!("order-{}", i % orders),
                Status::Pending,
                7,
            )
        })
        .collect();
    for r in &recs {
        assert_eq!(claim(s, r, T0).await, Claim::New, "{}", r.event_id);
        complete(s, r, T0).await;
    }
    for r in &recs {
        assert_eq!(claim(s, r, T0).await, Claim::Duplicate, "{}", r.event_id);
        let got = s
            .get_event(&r.event_id)
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        let got = got.unwrap_or_else(|| panic!("{} not found", r.event_id));
        assert_eq!(
            (got.event_id.as_str(), got.state),
            (r.event_id.as_str(), EventState::Published)
        );
        assert_eq!(got.event_json, r.event_json);
    }
    assert_eq!(
        s.get_event("ev-absent")
            .await
            .ok()
            .flatten()
            .map(|e| e.event_id),
        None
    );
    let all = s.list_orders().await.unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(all.len(), orders);
    assert!(
        all.iter()
            .all(|o| o.event_count == (events / orders) as u64),
        "{:?}",
        all.first()
    );
}
