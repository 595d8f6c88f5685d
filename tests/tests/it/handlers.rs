//! Every provider through the HTTP handler (a `lambda_http::Request` built
//! from `events/*.json`), on the memory store: every case in `cases.json`,
//! duplicates, concurrency, out-of-order delivery, limits, faults.

use payhook::ProviderId;
use payhook::store::{EventFilter, EventStore};
use payhook_tests::faults::{FaultyPublisher, FaultyStore};
use payhook_tests::{Harness, cases, read_event};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

async fn stored_count(h: &Harness) -> usize {
    h.store
        .list_events(&EventFilter::default())
        .await
        .map(|v| v.len())
        .unwrap_or(usize::MAX)
}

#[tokio::test]
async fn every_case_of_every_provider() {
    let mut checked = 0;
    let mut all_published = Vec::new();
    for p in ProviderId::all() {
        let cases = cases(p);
        assert!(cases.len() >= 5, "{p}: too few cases");
        for case in cases {
            // Each case on its own store: fixtures of one provider may share
            // an order and event with different payloads (a 409 together).
            let h = Harness::new().await;
            let app = h.app(p);
            let ctx = format!("{p}/{}", case.file);
            let before_store = stored_count(&h).await;
            let before_pub = h.published().len();
            let ev = h.signed_event(p, &case);
            let (status, body, headers) = h.send_event(&app, &ev).await;
            assert_eq!(status, case.expect, "{ctx}: {body}");
            if status != 200 {
                assert_eq!(
                    stored_count(&h).await,
                    before_store,
                    "{ctx}: rejected request left a trace"
                );
                assert_eq!(
                    h.published().len(),
                    before_pub,
                    "{ctx}: rejected request published"
                );
                assert_eq!(body["status"], "rejected", "{ctx}");
                assert!(
                    body["error"].as_str().is_some_and(|e| !e.is_empty()),
                    "{ctx}: no reason"
                );
                if status == 405 {
                    assert_eq!(
                        headers.get("allow").and_then(|v| v.to_str().ok()),
                        Some("POST"),
                        "{ctx}"
                    );
                }
                checked += 1;
                continue;
            }
            let outcome = case.outcome.as_deref().unwrap_or("accepted");
            assert_eq!(body["status"], outcome, "{ctx}: {body}");
            let published = h.published();
            let event_id = body["event_id"].as_str().unwrap_or_default().to_owned();
            if outcome == "accepted" {
                assert_eq!(published.len(), before_pub + 1, "{ctx}: not published once");
                let ev = &published[published.len() - 1];
                assert_eq!(ev["event_id"], event_id.as_str(), "{ctx}");
                assert_eq!(ev["provider"], p.as_str(), "{ctx}");
                if let Some(s) = &case.status {
                    assert_eq!(ev["status"], s.as_str(), "{ctx}");
                }
                if let Some(s) = &case.provider_event {
                    assert_eq!(ev["provider_event"], s.as_str(), "{ctx}");
                }
                if let Some(s) = &case.order_id {
                    assert_eq!(ev["order_id"], s.as_str(), "{ctx}");
                }
                if let Some(flags) = &case.flags {
                    for f in flags {
                        assert!(
                            ev["flags"]
                                .as_array()
                                .is_some_and(|a| a.iter().any(|x| x == f.as_str())),
                            "{ctx}: flag {f} missing in {}",
                            ev["flags"]
                        );
                    }
                }
                if ev["status"] == "unknown" && ev["unparsed"].is_object() {
                    assert_eq!(
                        ev["order_id"].as_str(),
                        Some(format!("unparsed:{event_id}").as_str()),
                        "{ctx}: an unparsed event has an order of its own"
                    );
                }
                // The same delivery again is a duplicate and publishes nothing.
                let (status2, body2, _) = h.send_event(&app, &h.signed_event(p, &case)).await;
                assert_eq!(
                    (status2, body2["status"].as_str()),
                    (200, Some("duplicate")),
                    "{ctx}"
                );
                assert_eq!(body2["event_id"], event_id.as_str(), "{ctx}");
                assert_eq!(
                    h.published().len(),
                    before_pub + 1,
                    "{ctx}: duplicate published"
                );
            }
            all_published.extend(h.published());
            checked += 1;
        }
    }
    assert!(checked >= 60, "only {checked} cases checked");
    // Every fixture's published event validated against the schema above;
    // and every provider contributed accepted events.
    for p in ProviderId::all() {
        assert!(
            all_published.iter().any(|e| e["provider"] == p.as_str()),
            "{p}: nothing accepted"
        );
    }
}

/// The first accepted case of each provider: a valid, signed delivery.
fn first_valid(p: ProviderId) -> payhook_tests::Case {
    cases(p)
        .into_iter()
        .find(|c| c.expect == 200 && c.sign == "fresh")
        .unwrap_or_else(|| panic!("{p}: no valid case"))
}

#[tokio::test]
async fn fifty_concurrent_identical_deliveries_publish_once() {
    let h = Arc::new(Harness::new().await);
    for p in ProviderId::all() {
        let app = Arc::new(h.app(p));
        let ev = Arc::new(h.signed_event(p, &first_valid(p)));
        let before = h.published().len();
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
            } else {
                assert_eq!(body["status"], "duplicate", "{p}");
            }
        }
        assert_eq!(accepted, 1, "{p}: accepted {accepted} times");
        assert_eq!(
            h.published().len(),
            before + 1,
            "{p}: published more than once"
        );
    }
}

fn koywe_case(event_name: &str) -> payhook_tests::Case {
    cases(ProviderId::KOYWE)
        .into_iter()
        .find(|c| c.expect == 200 && c.provider_event.as_deref() == Some(event_name))
        .unwrap_or_else(|| panic!("no koywe case for {event_name}"))
}

/// Rewrite a Koywe event's orderId so that several events share one order.
fn with_order(ev: &serde_json::Value, order: &str) -> serde_json::Value {
    let mut ev = ev.clone();
    let body: serde_json::Value =
        serde_json::from_str(ev["body"].as_str().unwrap_or("{}")).unwrap_or_default();
    let mut body = body;
    body["orderId"] = serde_json::Value::String(order.into());
    ev["body"] = serde_json::Value::String(body.to_string());
    ev
}

#[tokio::test]
async fn out_of_order_delivery_never_moves_an_order_backwards() {
    let h = Harness::new().await;
    let p = ProviderId::KOYWE;
    let provider = h.provider(p);
    let app = h.app(p);
    let order = "order-out-of-order-1";
    let send = |name: &str| {
        let case = koywe_case(name);
        let ev = with_order(&read_event(p, &case.file), order);
        let body = payhook_tests::event_body(&ev);
        let signed = provider
            .sign(&body, h.clock_now())
            .unwrap_or_else(|e| panic!("{e}"));
        let mut ev = ev;
        payhook_tests::rewrite_event(&mut ev, &signed.body, &signed.headers, &signed.params);
        ev
    };
    let order_status = || async {
        h.store
            .list_orders()
            .await
            .unwrap_or_default()
            .into_iter()
            .find(|o| o.order_id == order)
            .map(|o| (o.status, o.event_count))
    };
    // completed arrives first, then the earlier events and a late failure.
    for name in [
        "crypto_delivered",
        "payment_received",
        "payment_created",
        "crypto_tx_failed",
    ] {
        let (status, body, _) = h.send_event(&app, &send(name)).await;
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some("accepted")),
            "{name}"
        );
        assert_eq!(
            order_status().await.map(|o| o.0),
            Some(payhook::Status::Completed),
            "after {name}"
        );
    }
    assert_eq!(order_status().await.map(|o| o.1), Some(4));
    // An unknown event never changes it either.
    let mut ev = send("crypto_delivered");
    let mut body: serde_json::Value =
        serde_json::from_str(ev["body"].as_str().unwrap_or("{}")).unwrap_or_default();
    body["eventName"] = "something_new".into();
    let signed = provider
        .sign(body.to_string().as_bytes(), h.clock_now())
        .unwrap_or_else(|e| panic!("{e}"));
    payhook_tests::rewrite_event(&mut ev, &signed.body, &signed.headers, &signed.params);
    let (status, resp, _) = h.send_event(&app, &ev).await;
    assert_eq!((status, resp["status"].as_str()), (200, Some("accepted")));
    assert_eq!(order_status().await, Some((payhook::Status::Completed, 5)));
    // A refund moves it forward.
    let later = cases(ProviderId::ONEBUY_CHECKOUT);
    assert!(
        later
            .iter()
            .any(|c| c.status.as_deref() == Some("refunded")),
        "checkout has a refund case"
    );
}

#[tokio::test]
async fn oversized_body_is_413_and_leaves_no_trace() {
    let h = Harness::new().await;
    for p in ProviderId::all() {
        let app = h.app(p);
        let mut ev = h.signed_event(p, &first_valid(p));
        let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(256 * 1024));
        ev["body"] = serde_json::Value::String(big);
        ev["isBase64Encoded"] = false.into();
        let (status, _, _) = h.send_event(&app, &ev).await;
        assert_eq!(status, 413, "{p}");
    }
    assert_eq!(stored_count(&h).await, 0);
}

#[tokio::test]
async fn wrong_method_is_405_with_allow() {
    let h = Harness::new().await;
    for p in ProviderId::all() {
        let app = h.app(p);
        for method in ["GET", "PUT", "DELETE"] {
            let mut ev = h.signed_event(p, &first_valid(p));
            ev["requestContext"]["http"]["method"] = method.into();
            let (status, _, headers) = h.send_event(&app, &ev).await;
            assert_eq!(status, 405, "{p} {method}");
            assert_eq!(
                headers.get("allow").and_then(|v| v.to_str().ok()),
                Some("POST")
            );
        }
    }
    assert_eq!(stored_count(&h).await, 0);
}

#[tokio::test]
async fn bad_base64_is_400() {
    let h = Harness::new().await;
    for p in ProviderId::all() {
        let app = h.app(p);
        let mut ev = h.signed_event(p, &first_valid(p));
        ev["body"] = "!!not base64!!".into();
        ev["isBase64Encoded"] = true.into();
        let (status, body, _) = h.send_event(&app, &ev).await;
        assert_eq!(status, 400, "{p}: {body}");
    }
    assert_eq!(stored_count(&h).await, 0);
}

/// Build an app for `p` whose store and publisher fail on command.
fn faulty(h: &Harness, p: ProviderId) -> (payhook::App, Arc<FaultyStore>, Arc<FaultyPublisher>) {
    let store = Arc::new(FaultyStore::new(h.store.clone()));
    let publisher = Arc::new(FaultyPublisher::new(h.publisher.clone()));
    (
        h.app_with(p, store.clone(), publisher.clone()),
        store,
        publisher,
    )
}

#[tokio::test]
async fn claim_failure_is_503_and_the_retry_is_accepted() {
    let h = Harness::new().await;
    for p in ProviderId::all() {
        let (app, store, _) = faulty(&h, p);
        let ev = h.signed_event(p, &first_valid(p));
        store.faults.claim.store(1, Ordering::SeqCst);
        let before = h.published().len();
        assert_eq!(h.send_event(&app, &ev).await.0, 503, "{p}");
        assert_eq!(h.published().len(), before);
        store.faults.claim_throttled.store(1, Ordering::SeqCst);
        assert_eq!(h.send_event(&app, &ev).await.0, 503, "{p}: throttled");
        let (status, body, _) = h.send_event(&app, &ev).await;
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some("accepted")),
            "{p}"
        );
        assert_eq!(h.published().len(), before + 1);
    }
}

#[tokio::test]
async fn publish_failure_is_503_and_the_retry_publishes_once() {
    let h = Harness::new().await;
    for p in ProviderId::all() {
        let (app, _, publisher) = faulty(&h, p);
        let ev = h.signed_event(p, &first_valid(p));
        let before = h.published().len();
        publisher.fail.store(1, Ordering::SeqCst);
        assert_eq!(h.send_event(&app, &ev).await.0, 503, "{p}");
        publisher.throttle.store(1, Ordering::SeqCst);
        assert_eq!(h.send_event(&app, &ev).await.0, 503, "{p}: throttled");
        assert_eq!(h.published().len(), before, "{p}");
        let (status, body, _) = h.send_event(&app, &ev).await;
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some("accepted")),
            "{p}"
        );
        assert_eq!(h.published().len(), before + 1, "{p}");
        let (status, body, _) = h.send_event(&app, &ev).await;
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some("duplicate")),
            "{p}"
        );
    }
}

#[tokio::test]
async fn crash_between_publish_and_complete_loses_nothing() {
    let h = Harness::new().await;
    let p = ProviderId::THIRDWEB;
    let (app, store, _) = faulty(&h, p);
    let ev = h.signed_event(p, &first_valid(p));
    // Publish succeeds, then neither complete nor the lease release reach the
    // store: as if the process died right after publishing.
    store.faults.complete.store(1, Ordering::SeqCst);
    store.faults.release.store(1, Ordering::SeqCst);
    assert_eq!(h.send_event(&app, &ev).await.0, 503);
    assert_eq!(h.published().len(), 1);
    // The provider's retry within the lease: recorded, so a duplicate.
    let (status, body, _) = h.send_event(&app, &ev).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("duplicate")));
    // The sweeper, after the lease and grace period, publishes the same event
    // id again (consumers and FIFO queues drop the copy) and completes it.
    h.clock.advance(Duration::from_secs(120));
    let report = payhook::pipeline::sweep(
        &*store,
        &*h.publisher,
        h.clock_now(),
        Duration::from_secs(60),
        Duration::from_secs(30),
        100,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.published, 1);
    let published = h.published();
    assert_eq!(published.len(), 2);
    assert_eq!(published[0]["event_id"], published[1]["event_id"]);
    // Nothing is left for the next sweep.
    let again = payhook::pipeline::sweep(
        &*store,
        &*h.publisher,
        h.clock_now(),
        Duration::from_secs(60),
        Duration::from_secs(30),
        100,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again.found, 0);
}

#[tokio::test]
async fn complete_failure_is_503_and_the_retry_completes() {
    let h = Harness::new().await;
    let p = ProviderId::KOYWE;
    let (app, store, _) = faulty(&h, p);
    let ev = h.signed_event(p, &first_valid(p));
    store.faults.complete.store(1, Ordering::SeqCst);
    assert_eq!(h.send_event(&app, &ev).await.0, 503);
    // The lease was released, so the retry takes over and completes; the
    // event was published at most twice under one id.
    let (status, body, _) = h.send_event(&app, &ev).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("accepted")));
    let published = h.published();
    assert!(published.len() <= 2 && !published.is_empty());
    assert!(
        published
            .iter()
            .all(|e| e["event_id"] == published[0]["event_id"])
    );
    let (status, body, _) = h.send_event(&app, &ev).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("duplicate")));
}
