//! The example consumer (`examples/consumer`) against a real SQS API (moto
//! server on 127.0.0.1): events produced by running every provider's
//! accepted samples through the pipeline are published with the real
//! `SqsPublisher`, received with a real SQS client, turned into the
//! `SqsEvent` Lambda would deliver, and handled by `handle_batch`.
//!
//! Start moto with `scripts/moto.sh` and export `PAYHOOK_TEST_MOTO`; these
//! tests fail (never skip) when it is not running.

use aws_sdk_sqs as sqs;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use payhook::PaymentEvent;
use payhook::publish::Publisher;
use payhook_aws::sqs::SqsPublisher;
use payhook_consumer_example::{
    Action, Consumer, ProcessError, Processor, SqsEvent, SqsMessage, handle_batch,
};
use payhook_tests::aws::{create_queue_without_dlq, moto_sdk, unique};
use payhook_tests::{Harness, cases};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;

// ------------------------------------------------------------------ moto

async fn client() -> sqs::Client {
    sqs::Client::new(&moto_sdk().await)
}

/// A new event queue as `template.yaml` declares it (`Resources.Queue`),
/// without the redrive policy: these tests look at one delivery round at a
/// time and never reach `maxReceiveCount`. Returns its URL and ARN.
async fn create_queue(client: &sqs::Client, fifo: bool) -> (String, String) {
    create_queue_without_dlq(client, "payhook-consumer", fifo).await
}

/// Receive until `n` messages arrived (or 10 s passed), as the event source
/// mapping does, and turn them into SQS events of at most 10 records.
async fn receive(client: &sqs::Client, url: &str, arn: &str, n: usize) -> Vec<SqsEvent> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut records = Vec::new();
    while records.len() < n && tokio::time::Instant::now() < deadline {
        let out = client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap_or_else(|e| panic!("receive: {e:?}"));
        for m in out.messages() {
            let mut r = SqsMessage::default();
            r.message_id = m.message_id().map(str::to_owned);
            r.receipt_handle = m.receipt_handle().map(str::to_owned);
            r.body = m.body().map(str::to_owned);
            r.md5_of_body = m.md5_of_body().map(str::to_owned);
            r.attributes = m
                .attributes()
                .map(|a| {
                    a.iter()
                        .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
                        .collect()
                })
                .unwrap_or_default();
            r.event_source = Some("aws:sqs".into());
            r.event_source_arn = Some(arn.to_owned());
            r.aws_region = Some("us-east-1".into());
            records.push(r);
        }
    }
    assert_eq!(records.len(), n, "messages received from {url}");
    records
        .chunks(10)
        .map(|c| {
            let mut ev = SqsEvent::default();
            ev.records = c.to_vec();
            ev
        })
        .collect()
}

/// What Lambda does after a partial batch response: delete the handled
/// messages, and (here, to see the redelivery now instead of after the
/// visibility timeout) make the failed ones visible again.
async fn settle(client: &sqs::Client, url: &str, batch: &SqsEvent, failed: &BTreeSet<String>) {
    for r in &batch.records {
        let id = r.message_id.clone().unwrap_or_default();
        let handle = r.receipt_handle.clone().unwrap_or_default();
        if failed.contains(&id) {
            client
                .change_message_visibility()
                .queue_url(url)
                .receipt_handle(handle)
                .visibility_timeout(0)
                .send()
                .await
                .unwrap_or_else(|e| panic!("change visibility: {e:?}"));
        } else {
            client
                .delete_message()
                .queue_url(url)
                .receipt_handle(handle)
                .send()
                .await
                .unwrap_or_else(|e| panic!("delete: {e:?}"));
        }
    }
}

// ------------------------------------------------------------- processor

/// Records every processed event; fails the first attempt of the event ids
/// in `fail_once`.
#[derive(Default)]
struct Recorder {
    processed: Mutex<Vec<(String, Action)>>,
    fail_once: Mutex<BTreeSet<String>>,
}

impl Recorder {
    fn processed(&self) -> Vec<(String, Action)> {
        self.processed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl Processor for Recorder {
    async fn process(&self, event: &PaymentEvent, action: Action) -> Result<(), ProcessError> {
        if self
            .fail_once
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&event.event_id)
        {
            return Err(ProcessError("downstream unavailable".into()));
        }
        self.processed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((event.event_id.clone(), action));
        Ok(())
    }
}

/// Real published events: every accepted sample of every provider through
/// the pipeline (memory store), as the JSON payhook publishes.
async fn published_events() -> Vec<PaymentEvent> {
    let h = Harness::new().await;
    for p in payhook::ProviderId::all() {
        let app = h.app(p);
        for case in cases(p) {
            if case.expect == 200 && case.outcome.as_deref() == Some("accepted") {
                h.send_event(&app, &h.signed_event(p, &case)).await;
            }
        }
    }
    let events: Vec<PaymentEvent> = h
        .published()
        .iter()
        .map(|v| serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{e}: {v}")))
        .collect();
    let providers: BTreeSet<_> = events.iter().map(|e| e.provider).collect();
    assert_eq!(
        providers.len(),
        payhook::ProviderId::all().count(),
        "{providers:?}"
    );
    events
}

fn failures(resp: &payhook_consumer_example::SqsBatchResponse) -> BTreeSet<String> {
    resp.batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect()
}

// ----------------------------------------------------------------- tests

#[tokio::test]
async fn standard_queue_each_event_once_duplicates_skipped_bad_bodies_reported() {
    let client = client().await;
    let (url, arn) = create_queue(&client, false).await;
    let publisher = SqsPublisher::new(client.clone(), &url);

    let events = published_events().await;
    for e in &events {
        publisher
            .publish(e, &e.to_json().unwrap_or_else(|e| panic!("{e}")))
            .await
            .unwrap_or_else(|err| panic!("publish: {err}"));
    }
    // payhook publishes at least once: the same event again (same event_id).
    let dup = &events[0];
    publisher
        .publish(dup, &dup.to_json().unwrap_or_else(|e| panic!("{e}")))
        .await
        .unwrap_or_else(|err| panic!("publish: {err}"));
    // Not payment events: not JSON, another shape, another schema version.
    let mut other_schema: serde_json::Value =
        serde_json::from_str(&events[1].to_json().unwrap_or_else(|e| panic!("{e}")))
            .unwrap_or_else(|e| panic!("{e}"));
    other_schema["schema"] = "payhook.payment_event/v999".into();
    let bad_bodies = [
        "not json".to_owned(),
        r#"{"hello":"world"}"#.to_owned(),
        other_schema.to_string(),
    ];
    for b in &bad_bodies {
        client
            .send_message()
            .queue_url(&url)
            .message_body(b)
            .send()
            .await
            .unwrap_or_else(|e| panic!("send: {e:?}"));
    }

    // One event fails downstream on its first attempt.
    let recorder = Recorder::default();
    let flaky = events[events.len() - 1].event_id.clone();
    recorder
        .fail_once
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(flaky.clone());
    let consumer = Consumer::new(recorder, 1000);

    let total = events.len() + 1 + bad_bodies.len();
    let batches = receive(&client, &url, &arn, total).await;
    let mut failed = BTreeSet::new();
    let mut expected_failed = BTreeSet::new();
    for batch in &batches {
        for r in &batch.records {
            let body = r.body.clone().unwrap_or_default();
            let id = r.message_id.clone().unwrap_or_default();
            if bad_bodies.contains(&body) || body.contains(&format!("\"event_id\":\"{flaky}\"")) {
                expected_failed.insert(id);
            }
        }
        let resp = handle_batch(&consumer, batch.clone()).await;
        let f = failures(&resp);
        settle(&client, &url, batch, &f).await;
        failed.extend(f);
    }
    assert_eq!(failed, expected_failed, "reported message ids");
    assert_eq!(failed.len(), bad_bodies.len() + 1);

    // Every event processed once except the flaky one; the duplicate skipped.
    let processed = consumer.processor().processed();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (id, _) in &processed {
        *counts.entry(id.as_str()).or_default() += 1;
    }
    let distinct: BTreeSet<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(distinct.len(), events.len(), "event ids are distinct");
    assert_eq!(processed.len(), events.len() - 1);
    assert!(counts.values().all(|&n| n == 1), "{counts:?}");
    assert!(!counts.contains_key(flaky.as_str()));

    // Redelivery: the flaky event is processed now, the bad bodies fail
    // again, nothing else comes back.
    let again = receive(&client, &url, &arn, failed.len()).await;
    let mut failed_again = BTreeSet::new();
    for batch in &again {
        let resp = handle_batch(&consumer, batch.clone()).await;
        let f = failures(&resp);
        settle(&client, &url, batch, &f).await;
        failed_again.extend(f);
    }
    assert_eq!(failed_again.len(), bad_bodies.len());
    assert!(failed_again.is_subset(&failed));
    let processed = consumer.processor().processed();
    assert_eq!(processed.len(), events.len());
    let ids: BTreeSet<&str> = processed.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, distinct, "each event processed exactly once");
    // The action follows the status.
    for e in &events {
        let (_, action) = processed
            .iter()
            .find(|(id, _)| *id == e.event_id)
            .unwrap_or_else(|| panic!("{} not processed", e.event_id));
        assert_eq!(*action, payhook_consumer_example::action_for(e.status));
    }
}

#[tokio::test]
async fn fifo_queue_stops_at_the_first_failure() {
    let client = client().await;
    let (url, arn) = create_queue(&client, true).await;
    let publisher = SqsPublisher::new(client.clone(), &url);
    assert!(publisher.is_fifo());

    // Three events of one order, a bad body in the same message group
    // between the first and the others.
    let events = published_events().await;
    let first = &events[0];
    let same_order: Vec<&PaymentEvent> = events
        .iter()
        .filter(|e| e.provider == first.provider && e.order_id == first.order_id)
        .take(3)
        .collect();
    assert_eq!(same_order.len(), 3, "samples of one order");
    publisher
        .publish(
            same_order[0],
            &same_order[0].to_json().unwrap_or_else(|e| panic!("{e}")),
        )
        .await
        .unwrap_or_else(|e| panic!("publish: {e}"));
    client
        .send_message()
        .queue_url(&url)
        .message_body("not json")
        .message_group_id(payhook_aws::sqs::message_group_id(same_order[0]))
        .message_deduplication_id(unique("bad"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("send: {e:?}"));
    for e in &same_order[1..] {
        publisher
            .publish(e, &e.to_json().unwrap_or_else(|e| panic!("{e}")))
            .await
            .unwrap_or_else(|err| panic!("publish: {err}"));
    }

    let batches = receive(&client, &url, &arn, 4).await;
    assert_eq!(batches.len(), 1);
    let batch = &batches[0];
    let ids: Vec<String> = batch
        .records
        .iter()
        .map(|r| r.message_id.clone().unwrap_or_default())
        .collect();
    assert_eq!(
        batch.records[1].body.as_deref(),
        Some("not json"),
        "FIFO order kept"
    );

    let consumer = Consumer::new(Recorder::default(), 100);
    let resp = handle_batch(&consumer, batch.clone()).await;
    // The bad body and everything after it, in order.
    let reported: Vec<String> = resp
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    assert_eq!(reported, ids[1..].to_vec());
    let processed = consumer.processor().processed();
    assert_eq!(processed.len(), 1);
    assert_eq!(processed[0].0, same_order[0].event_id);
}
