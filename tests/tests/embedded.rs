//! The embedded SQLite store and outbox through the handler: exactly-once
//! under concurrency, restart survival, forward-only order status, sweeper.

use payhook::ProviderId;
use payhook::publish::sqlite::{OutboxFilter, SqliteOutbox};
use payhook::store::sqlite::SqliteStore;
use payhook::store::{EventState, EventStore};
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
    let h = Arc::new(Harness::new().await);
    let db = temp_db("concurrent");
    let store = Arc::new(SqliteStore::open(&db).unwrap_or_else(|e| panic!("{e}")));
    let outbox = Arc::new(SqliteOutbox::new(&store));
    let mut ids = Vec::new();
    for p in ProviderId::ALL {
        let app = Arc::new(h.app_with(p, store.clone(), outbox.clone()));
        let case = cases(p)
            .into_iter()
            .find(|c| c.expect == 200 && c.sign == "fresh")
            .unwrap_or_else(|| panic!("{p}: no valid case"));
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
    assert_eq!(rows.len(), 5);
    payhook_tests::validate_all(&rows.iter().map(|r| r.body.clone()).collect::<Vec<_>>());
    drop((store, outbox));
    // Reopen the file: everything is there and published.
    let store = SqliteStore::open(&db).unwrap_or_else(|e| panic!("{e}"));
    for id in &ids {
        let e = store.get_event(id).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(e.map(|e| e.state), Some(EventState::Published), "{id}");
    }
    assert_eq!(store.list_orders().await.map(|o| o.len()).unwrap_or(0), 5);
}

#[tokio::test]
async fn sweeper_publishes_an_abandoned_claim_exactly_once() {
    let h = Harness::new().await;
    let db = temp_db("sweeper");
    let store = Arc::new(SqliteStore::open(&db).unwrap_or_else(|e| panic!("{e}")));
    let outbox = Arc::new(SqliteOutbox::new(&store));
    let p = ProviderId::Koywe;
    let case = cases(p)
        .into_iter()
        .find(|c| c.expect == 200 && c.sign == "fresh")
        .unwrap_or_else(|| panic!("no case"));
    let provider = h.provider(p);
    let ev = h.signed_event(p, &case);
    let verified = {
        let body = payhook_tests::event_body(&ev);
        let headers = http::HeaderMap::new();
        let params = std::collections::HashMap::new();
        provider
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
    };
    let n = provider
        .normalize(&verified, h.clock_now())
        .unwrap_or_else(|e| panic!("{e}"));
    let mut event = n.event;
    event.event_id = payhook::event::event_id(p, &n.dedupe_key);
    let rec = payhook::store::EventRecord::new(&event, &n.fingerprint);
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
