//! The embedded SQLite store and outbox through the handler: exactly-once
//! under concurrency, restart survival, forward-only order status, sweeper.

use payhook::ProviderId;
use payhook::store::{EventState, EventStore};
use payhook_embedded::SqliteStore;
use payhook_embedded::{OutboxFilter, SqliteOutbox};
use payhook_tests::{Harness, cases};
use std::sync::Arc;
use std::time::Duration;

fn temp_db(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("payhook-embedded-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::create_dir_all(&dir);
    dir.join("payhook.db")
}

#[tokio::test]
async fn concurrent_deliveries_are_recorded_and_published_once_and_survive_reopen() {
    concurrent_deliveries("concurrent", false).await;
}

/// The same through the one-write path `payhook serve` uses on the
/// embedded store (claim + outbox row + complete in one transaction).
#[tokio::test]
async fn concurrent_deliveries_in_one_write_are_recorded_and_published_once() {
    concurrent_deliveries("one-step", true).await;
}

async fn concurrent_deliveries(name: &str, one_step: bool) {
    let h = Arc::new(Harness::new().await);
    let db = temp_db(name);
    let store = Arc::new(SqliteStore::open(&db).unwrap_or_else(|e| panic!("{e}")));
    let outbox = Arc::new(SqliteOutbox::new(&store));
    let mut ids = Vec::new();
    for p in ProviderId::all() {
        let mut app = h.app_with(p, store.clone(), outbox.clone());
        if one_step {
            app = app.with_recorder(store.clone());
        }
        let app = Arc::new(app);
        let case = valid_case(p);
        let ev = Arc::new(h.signed_event(p, &case));
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let (h, app, ev) = (h.clone(), app.clone(), ev.clone());
            tasks.push(tokio::spawn(async move { h.send_event(&app, &ev).await }));
        }
        let mut accepted = 0;
        for t in tasks {
            let (status, body, _) = t.await.unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(status, 200, "{p}: {body}");
            if body["status"] == "accepted" {
                accepted += 1;
                ids.push(body["event_id"].as_str().unwrap_or_default().to_owned());
            }
        }
        assert_eq!(accepted, 1, "{p}");
    }
    let rows = outbox
        .list(&OutboxFilter::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // One event (and one order) per registered provider.
    let n = ProviderId::all().count();
    assert_eq!(rows.len(), n);
    payhook_tests::validate_all(&rows.iter().map(|r| r.body.clone()).collect::<Vec<_>>());
    drop((store, outbox));
    // Reopen the file: everything is there and published.
    let store = SqliteStore::open(&db).unwrap_or_else(|e| panic!("{e}"));
    for id in &ids {
        let e = store.get_event(id).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(e.map(|e| e.state), Some(EventState::Published), "{id}");
    }
    assert_eq!(store.list_orders().await.map(|o| o.len()).unwrap_or(0), n);
    // A fresh process (empty published-id cache) still answers duplicate,
    // and a changed payload under a published id is a conflict.
    let store = Arc::new(store);
    let outbox = Arc::new(SqliteOutbox::new(&store));
    for p in ProviderId::all() {
        let mut app = h.app_with(p, store.clone(), outbox.clone());
        if one_step {
            app = app.with_recorder(store.clone());
        }
        let case = valid_case(p);
        let ev = h.signed_event(p, &case);
        for _ in 0..2 {
            let (status, body, _) = h.send_event(&app, &ev).await;
            assert_eq!(
                (status, body["status"].as_str()),
                (200, Some("duplicate")),
                "{p}"
            );
        }
    }
    let rows = outbox.list(&OutboxFilter::default()).await;
    assert_eq!(rows.map(|r| r.len()).unwrap_or(0), n);
}

/// A claim abandoned before publishing (its holder died) is taken over by
/// the provider's retry through the one-write path: published once, order
/// recorded, the later copies answered duplicate.
#[tokio::test]
async fn one_write_path_takes_over_an_abandoned_claim() {
    use payhook::store::Claim;
    let h = Harness::new().await;
    let store = Arc::new(SqliteStore::open(&temp_db("takeover")).unwrap_or_else(|e| panic!("{e}")));
    let outbox = Arc::new(SqliteOutbox::new(&store));
    let p = ProviderId::KOYWE;
    let case = valid_case(p);
    let rec = record_of(&h, p, &h.signed_event(p, &case)).await;
    let t0 = h.clock_now();
    let lease = Duration::from_secs(30);
    assert_eq!(store.claim(&rec, t0, lease).await.ok(), Some(Claim::New));
    // Within the lease: in flight, nothing written.
    let again = store
        .claim_publish_complete(&rec, t0 + Duration::from_secs(1), lease)
        .await;
    assert_eq!(again.ok(), Some(Claim::InFlight));
    assert_eq!(outbox_len(&outbox).await, 0);
    // After it: taken over, published and completed in the same write.
    let later = t0 + Duration::from_secs(31);
    let taken = store.claim_publish_complete(&rec, later, lease).await;
    assert_eq!(taken.ok(), Some(Claim::TakenOver));
    let rows = outbox
        .list(&OutboxFilter::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].body, rec.event_json);
    let stored = store.get_event(&rec.event_id).await.ok().flatten();
    assert_eq!(stored.map(|e| e.state), Some(EventState::Published));
    let orders = store.list_orders().await.unwrap_or_default();
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0].last_event_id, rec.event_id);
    for _ in 0..2 {
        let dup = store.claim_publish_complete(&rec, later, lease).await;
        assert_eq!(dup.ok(), Some(Claim::Duplicate));
    }
    let mut changed = rec.clone();
    changed.payload_sha256 = "0".repeat(64);
    let conflict = store.claim_publish_complete(&changed, later, lease).await;
    assert_eq!(conflict.ok(), Some(Claim::Conflict));
    assert_eq!(outbox_len(&outbox).await, 1);
}

/// How many messages the outbox holds.
async fn outbox_len(outbox: &SqliteOutbox) -> usize {
    outbox
        .list(&OutboxFilter::default())
        .await
        .map(|r| r.len())
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The first valid fixture of `p`.
fn valid_case(p: ProviderId) -> payhook_tests::Case {
    cases(p)
        .into_iter()
        .find(|c| c.expect == 200 && c.sign == "fresh")
        .unwrap_or_else(|| panic!("{p}: no valid case"))
}

/// The record of the signed event `ev` of `p`, as the pipeline builds it.
async fn record_of(
    h: &Harness,
    p: ProviderId,
    ev: &serde_json::Value,
) -> payhook::store::EventRecord {
    let provider = h.provider(p);
    let body = payhook_tests::event_body(ev);
    let headers = http::HeaderMap::new();
    let params = std::collections::HashMap::new();
    let verified = provider
        .verify(
            &payhook::providers::Inbound {
                body: &body,
                headers: &headers,
                params: &params,
            },
            h.clock_now(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .parsed()
        .unwrap_or_else(|e| panic!("{e}"));
    let n = provider
        .normalize(verified, h.clock_now())
        .unwrap_or_else(|e| panic!("{e}"));
    let mut event = n.event;
    event.event_id = payhook::event::event_id(p, &n.dedupe_key);
    payhook::store::EventRecord::new(&event, &n.fingerprint).unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn sweeper_publishes_an_abandoned_claim_exactly_once() {
    let h = Harness::new().await;
    let db = temp_db("sweeper");
    let store = Arc::new(SqliteStore::open(&db).unwrap_or_else(|e| panic!("{e}")));
    let outbox = Arc::new(SqliteOutbox::new(&store));
    let p = ProviderId::KOYWE;
    let case = valid_case(p);
    let ev = h.signed_event(p, &case);
    let rec = record_of(&h, p, &ev).await;
    // A claim whose holder died before publishing.
    let claimed = store
        .claim(&rec, h.clock_now(), Duration::from_secs(30))
        .await;
    assert_eq!(claimed.ok(), Some(payhook::store::Claim::New));
    let later = h.clock_now() + Duration::from_secs(120);
    for _ in 0..2 {
        payhook::pipeline::sweep(
            &*store,
            &*outbox,
            later,
            Duration::from_secs(60),
            Duration::from_secs(30),
            10,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    }
    let rows = outbox
        .list(&OutboxFilter::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].event_id, rec.event_id);
    // The provider's retry now finds it published.
    let app = h.app_with(p, store.clone(), outbox.clone());
    let (status, body, _) = h.send_event(&app, &ev).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("duplicate")));
}
