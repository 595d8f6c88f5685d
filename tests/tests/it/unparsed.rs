//! Authentic means kept (DESIGN.md step 4), for every provider: an authentic
//! body that normalize cannot map is answered 200, recorded and published
//! once as status `unknown` with the flag `unparsed` and a machine-readable
//! reason, on an order of its own, counted by the `unparsed` metric; its
//! redelivery is a duplicate; the same body without valid authentication
//! is still a 401 that leaves nothing behind. The template alarms on the
//! metric.
//!
//! The counts read are the app's own ([`payhook::App::counts`]), so the
//! other tests of the binary may run beside it.

use payhook::ProviderId;
use payhook::metrics::{self, Count};
use payhook::store::{EventFilter, EventStore};
use payhook_tests::{Case, Harness, cases, event_body, rewrite_event};

async fn stored(h: &Harness) -> Vec<payhook::store::StoredEvent> {
    h.store
        .list_events(&EventFilter::default())
        .await
        .unwrap_or_else(|e| panic!("list: {e}"))
}

/// The authentic request `ev` with its authentication broken: a wrong URL
/// token for 1buy (which signs nothing), one more member (or byte) in the
/// body for the others, which sign or look up the body.
fn unauthenticated(h: &Harness, p: ProviderId, case: &Case) -> serde_json::Value {
    match p {
        ProviderId::ONEBUY_WALLET_PAY | ProviderId::ONEBUY_CHECKOUT => {
            let mut wrong = case.clone();
            wrong.sign = "wrong_secret".to_owned();
            h.signed_event(p, &wrong)
        }
        _ => {
            let mut ev = h.signed_event(p, case);
            let mut body = event_body(&ev);
            match body.iter().position(|b| *b == b'{') {
                Some(i) => {
                    body.splice(i + 1..i + 1, br#""tampered":true,"#.iter().copied());
                }
                None => body.push(b'x'),
            }
            // The signature headers stay as they were.
            rewrite_event(&mut ev, &body, &[], &[]);
            ev
        }
    }
}

fn is_unparsed_case(c: &Case) -> bool {
    c.expect == 200
        && c.status.as_deref() == Some("unknown")
        && c.flags
            .as_ref()
            .is_some_and(|f| f.iter().any(|x| x == "unparsed"))
}

#[tokio::test]
async fn every_provider_keeps_authentic_bodies_it_cannot_map() {
    for p in ProviderId::all() {
        let kept: Vec<Case> = cases(p).into_iter().filter(is_unparsed_case).collect();
        assert!(
            !kept.is_empty(),
            "{p}: no fixture of an authentic body that normalize cannot map"
        );
        for case in kept {
            let ctx = format!("{p}/{}", case.file);
            let h = Harness::new().await;
            let app = h.app(p);

            // Unauthenticated first: 401, nothing stored or published,
            // nothing counted as unparsed.
            let before = app.counts().get(Count::Unparsed);
            let (status, body, _) = h.send_event(&app, &unauthenticated(&h, p, &case)).await;
            assert_eq!(status, 401, "{ctx}: {body}");
            assert!(stored(&h).await.is_empty(), "{ctx}: a 401 left a trace");
            assert!(h.published().is_empty(), "{ctx}: a 401 published");
            assert_eq!(app.counts().get(Count::Unparsed), before, "{ctx}");
            assert_eq!(app.counts().get(Count::Rejected), 1, "{ctx}");

            // Authentic: kept.
            let ev = h.signed_event(p, &case);
            let (status, body, _) = h.send_event(&app, &ev).await;
            assert_eq!(status, 200, "{ctx}: {body}");
            assert_eq!(body["status"], "accepted", "{ctx}: {body}");
            let event_id = body["event_id"].as_str().unwrap_or_default().to_owned();
            assert_eq!(
                app.counts().get(Count::Unparsed),
                before + 1,
                "{ctx}: not counted"
            );
            let published = h.published();
            assert_eq!(published.len(), 1, "{ctx}");
            let e = &published[0];
            assert_eq!(e["event_id"], event_id.as_str(), "{ctx}");
            assert_eq!(e["provider"], p.as_str(), "{ctx}");
            assert_eq!(e["status"], "unknown", "{ctx}");
            assert!(
                e["unparsed"]["reason"]
                    .as_str()
                    .is_some_and(|r| !r.is_empty()),
                "{ctx}: no reason: {e}"
            );
            assert_eq!(
                e["order_id"].as_str(),
                Some(format!("unparsed:{event_id}").as_str()),
                "{ctx}"
            );
            assert!(!e["raw"].is_null(), "{ctx}: raw not kept");
            let unknown = h
                .store
                .list_events(&EventFilter {
                    status: Some(payhook::Status::Unknown),
                    ..EventFilter::default()
                })
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(unknown.len(), 1, "{ctx}: not listed as unknown");

            // The redelivery (the same bytes) is a duplicate.
            let (status, body, _) = h.send_event(&app, &h.signed_event(p, &case)).await;
            assert_eq!(
                (status, body["status"].as_str()),
                (200, Some("duplicate")),
                "{ctx}"
            );
            assert_eq!(body["event_id"], event_id.as_str(), "{ctx}");
            assert_eq!(h.published().len(), 1, "{ctx}: duplicate published");
            assert_eq!(app.counts().get(Count::Unparsed), before + 1, "{ctx}");
            assert_eq!(
                (
                    app.counts().get(Count::Accepted),
                    app.counts().get(Count::Duplicate)
                ),
                (1, 1),
                "{ctx}"
            );
        }
    }
}

#[test]
fn the_template_alarms_on_the_unparsed_metric() {
    let path = payhook_tests::events_dir()
        .parent()
        .map(|r| r.join("template.yaml"))
        .unwrap_or_default();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}"));
    let t: serde_yaml::Value = serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    let resources = t["Resources"]
        .as_mapping()
        .unwrap_or_else(|| panic!("no Resources"));
    let alarm = resources.values().find(|r| {
        r["Type"] == "AWS::CloudWatch::Alarm"
            && r["Properties"]["Namespace"] == metrics::NAMESPACE
            && r["Properties"]["MetricName"] == Count::Unparsed.name()
    });
    let alarm = alarm.unwrap_or_else(|| panic!("no alarm on payhook/unparsed"));
    assert_eq!(alarm["Properties"]["Threshold"].as_u64(), Some(1));
    assert!(alarm["Properties"]["AlarmActions"].is_sequence());
}

/// An authentic 8Pay notification whose `timestamp` (Unix seconds) is a
/// time RFC 3339 cannot write (before year 0000): the mapped event could
/// not be published as schema-valid JSON, so the pipeline keeps the
/// delivery as unparsed (`invalid_field`, the body in `raw`) instead of
/// recording an empty event or refusing it. A time at the very edge of the
/// range is still mapped.
#[tokio::test]
async fn an_8pay_timestamp_outside_rfc3339_is_kept_as_unparsed() {
    let p = ProviderId::EIGHTPAY;
    for (timestamp, mapped) in [
        (-62_167_219_200_i64, Some("0000-01-01T00:00:00Z")),
        (-62_167_219_201, None),
        (-100_000_000_000, None),
    ] {
        let ctx = format!("timestamp {timestamp}");
        let h = Harness::new().await;
        let app = h.app(p);
        let mut ev = payhook_tests::read_event(p, "docs-one-time-payment.json");
        let mut body: serde_json::Value =
            serde_json::from_slice(&event_body(&ev)).unwrap_or_else(|e| panic!("{ctx}: {e}"));
        body["timestamp"] = timestamp.into();
        let signed = h
            .provider(p)
            .sign(body.to_string().as_bytes(), h.clock_now())
            .unwrap_or_else(|e| panic!("{ctx}: sign: {e}"));
        let sent: serde_json::Value =
            serde_json::from_slice(&signed.body).unwrap_or_else(|e| panic!("{ctx}: {e}"));
        assert!(h.standin.insert("bsc", sent.clone()), "{ctx}");
        rewrite_event(&mut ev, &signed.body, &signed.headers, &signed.params);

        let (status, reply, _) = h.send_event(&app, &ev).await;
        assert_eq!(
            (status, reply["status"].as_str()),
            (200, Some("accepted")),
            "{ctx}: {reply}"
        );
        let event_id = reply["event_id"].as_str().unwrap_or_default().to_owned();
        // Published once, schema-valid (`published` validates every message).
        let published = h.published();
        assert_eq!(published.len(), 1, "{ctx}");
        let e = &published[0];
        assert_eq!(e["event_id"], event_id.as_str(), "{ctx}");
        assert_eq!(e["raw"], sent, "{ctx}: raw is the body as sent");
        match mapped {
            Some(at) => {
                assert_eq!(e["status"], "completed", "{ctx}: {e}");
                assert_eq!(e["occurred_at"], at, "{ctx}");
                assert!(e.get("unparsed").is_none(), "{ctx}: {e}");
                assert_eq!(app.counts().get(Count::Unparsed), 0, "{ctx}");
            }
            None => {
                assert_eq!(e["status"], "unknown", "{ctx}: {e}");
                assert_eq!(e["unparsed"]["reason"], "invalid_field", "{ctx}: {e}");
                assert_eq!(e["flags"], serde_json::json!(["unparsed"]), "{ctx}");
                assert_eq!(
                    e["order_id"].as_str(),
                    Some(format!("unparsed:{event_id}").as_str()),
                    "{ctx}"
                );
                assert!(e["occurred_at"].is_null(), "{ctx}");
                assert_eq!(app.counts().get(Count::Unparsed), 1, "{ctx}");
            }
        }
        // Stored as what was published, never an empty string.
        let stored = h
            .store
            .get_event(&event_id)
            .await
            .unwrap_or_else(|e| panic!("{ctx}: {e}"))
            .unwrap_or_else(|| panic!("{ctx}: not stored"));
        let back: serde_json::Value =
            serde_json::from_str(&stored.event_json).unwrap_or_else(|e| panic!("{ctx}: {e}"));
        assert_eq!(&back, e, "{ctx}");

        // The redelivery is a duplicate of the same event.
        let (status, reply, _) = h.send_event(&app, &ev).await;
        assert_eq!(
            (status, reply["status"].as_str(), reply["event_id"].as_str()),
            (200, Some("duplicate"), Some(event_id.as_str())),
            "{ctx}"
        );
        assert_eq!(h.published().len(), 1, "{ctx}");
    }
}
