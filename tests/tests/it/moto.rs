//! The DynamoDB store and the SQS publisher against a real DynamoDB/SQS API
//! (moto server on 127.0.0.1). Start it with `scripts/moto.sh` and export
//! `PAYHOOK_TEST_MOTO=http://127.0.0.1:5055`; these tests fail (never skip)
//! when it is not running.
//!
//! Every test creates its own table and queues (random suffix), from the
//! definitions in `template.yaml`, so tests run in parallel and the template
//! and the code cannot drift.

use aws_sdk_dynamodb as ddb;
use aws_sdk_dynamodb::config::interceptors::{
    BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_sqs as sqs;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use aws_smithy_types::body::SdkBody;
use payhook::event::PaymentEvent;
use payhook::publish::{PublishError, Publisher};
use payhook::store::{Claim, EventState, EventStore, StoreError};
use payhook::{ProviderId, Status};
use payhook_aws::dynamodb::DynamoStore;
use payhook_aws::sqs::SqsPublisher;
use payhook_tests::aws::{create_queue, create_table, drain, moto_sdk, unique};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::store_contract::{LEASE, T0, claim, complete, event, record, secs};

// ---------------------------------------------------------- interceptors

/// Counts request attempts sent on the wire.
#[derive(Debug, Clone, Default)]
struct Counter(Arc<AtomicUsize>);

impl Counter {
    fn take(&self) -> usize {
        self.0.swap(0, Ordering::SeqCst)
    }
}

impl Intercept for Counter {
    fn name(&self) -> &'static str {
        "payhook-test-counter"
    }
    fn read_before_transmit(
        &self,
        _ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// Replaces the next `remaining` responses by an AWS JSON error response
/// (`body`), as a throttled service would answer.
#[derive(Debug, Clone)]
struct FailNext {
    remaining: Arc<AtomicUsize>,
    body: &'static str,
}

impl Intercept for FailNext {
    fn name(&self) -> &'static str {
        "payhook-test-fail-next"
    }
    fn modify_before_deserialization(
        &self,
        ctx: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let armed = self
            .remaining
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if armed {
            let resp = ctx.response_mut();
            *resp.status_mut() = http::StatusCode::BAD_REQUEST.into();
            for h in [
                "x-amz-crc32",
                "content-length",
                "x-amzn-errortype",
                "x-amzn-query-error",
            ] {
                resp.headers_mut().remove(h);
            }
            resp.headers_mut()
                .insert("content-type", "application/x-amz-json-1.0");
            *resp.body_mut() = SdkBody::from(self.body);
        }
        Ok(())
    }
}

// ------------------------------------------------------------- fixtures

struct Env {
    sdk: aws_config::SdkConfig,
    table: String,
    store: DynamoStore,
}

impl Env {
    async fn new() -> Self {
        let sdk = moto_sdk().await;
        let table = unique("payhook");
        let client = ddb::Client::new(&sdk);
        create_table(&client, &table).await;
        let store = DynamoStore::new(client, &table, 30);
        Env { sdk, table, store }
    }

    /// A store on the same table whose client carries `interceptor`
    /// (retries off, so one failed attempt is one failed call).
    fn store_with(&self, interceptor: impl Intercept + 'static) -> DynamoStore {
        let conf = ddb::config::Builder::from(&self.sdk)
            .interceptor(interceptor)
            .retry_config(ddb::config::retry::RetryConfig::disabled())
            .build();
        DynamoStore::new(ddb::Client::from_conf(conf), &self.table, 30)
    }
}

// ---------------------------------------------------------------- store
// The store's contract (claim, complete, order status, stuck/take-over) is
// checked on DynamoDB by `store_contract.rs`, with the same tests as the
// memory and SQLite stores.

#[tokio::test]
async fn sweeper_publishes_an_abandoned_event_once() {
    let env = Env::new().await;
    let sqs_client = sqs::Client::new(&env.sdk);
    let url = create_queue(&sqs_client, "payhook", true).await;
    let publisher = SqsPublisher::new(sqs_client.clone(), &url);
    let rec = record("swept", "o1", Status::Completed, 1);
    // The delivery claimed it and "died" before publishing.
    assert_eq!(claim(&env.store, &rec, T0).await, Claim::New);
    let now = T0 + secs(120);
    let report = payhook::pipeline::sweep(&env.store, &publisher, now, secs(60), LEASE, 100)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!((report.found, report.published), (1, 1), "{report:?}");
    let again = payhook::pipeline::sweep(&env.store, &publisher, now, secs(60), LEASE, 100)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(again.found, 0, "{again:?}");
    let msgs = drain(&sqs_client, &url).await;
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].body(), Some(rec.event_json.as_str()));
    assert_eq!(claim(&env.store, &rec, now).await, Claim::Duplicate);
}

// ---------------------------------------------------------------- queue

fn attr<'a>(m: &'a sqs::types::Message, name: &str) -> Option<&'a str> {
    m.message_attributes()
        .and_then(|a| a.get(name))
        .and_then(|v| {
            assert_eq!(v.data_type(), "String");
            v.string_value()
        })
}

async fn publish_twice(fifo: bool) -> (Vec<sqs::types::Message>, PaymentEvent) {
    let sdk = moto_sdk().await;
    let client = sqs::Client::new(&sdk);
    let url = create_queue(&client, "payhook", fifo).await;
    let p = SqsPublisher::new(client.clone(), &url);
    assert_eq!(p.is_fifo(), fifo);
    let ev = event(
        "0123456789abcdef0123456789abcdef",
        "order-7",
        Status::Completed,
        T0,
    );
    let json = ev.to_json().unwrap_or_else(|e| panic!("{e}"));
    p.publish(&ev, &json)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    p.publish(&ev, &json)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let msgs = drain(&client, &url).await;
    for m in &msgs {
        assert_eq!(m.body(), Some(json.as_str()));
        assert_eq!(attr(m, "provider"), Some("koywe"));
        assert_eq!(attr(m, "status"), Some("completed"));
        assert_eq!(attr(m, "provider_event"), Some("completed"));
        assert_eq!(attr(m, "schema"), Some("payhook.payment_event/v1"));
        let body: serde_json::Value =
            serde_json::from_str(m.body().unwrap_or_default()).unwrap_or_default();
        assert_eq!(body["event_id"], ev.event_id.as_str());
    }
    (msgs, ev)
}

#[tokio::test]
async fn sqs_fifo_groups_by_order_and_dedupes_by_event_id() {
    let (msgs, ev) = publish_twice(true).await;
    assert_eq!(msgs.len(), 1, "FIFO deduplication let a copy through");
    let sys = msgs[0].attributes().cloned().unwrap_or_default();
    assert_eq!(
        sys.get(&MessageSystemAttributeName::MessageGroupId)
            .map(String::as_str),
        Some("koywe#order-7")
    );
    assert_eq!(
        sys.get(&MessageSystemAttributeName::MessageDeduplicationId),
        Some(&ev.event_id)
    );
}

#[tokio::test]
async fn sqs_standard_queue_delivers_at_least_once() {
    let (msgs, _) = publish_twice(false).await;
    // A standard queue has no deduplication: consumers dedupe by event_id.
    assert_eq!(msgs.len(), 2);
}

// ----------------------------------------------------------- throttling

const DDB_THROTTLED: &str = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"The level of configured provisioned throughput for the table was exceeded."}"#;
const DDB_THROTTLING: &str = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate exceeded"}"#;
const DDB_INTERNAL: &str =
    r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"boom"}"#;
const SQS_THROTTLED: &str =
    r#"{"__type":"com.amazonaws.sqs#RequestThrottled","message":"slow down"}"#;

#[tokio::test]
async fn throttling_and_service_errors_stay_typed() {
    let env = Env::new().await;
    let fail = FailNext {
        remaining: Arc::new(AtomicUsize::new(0)),
        body: DDB_THROTTLED,
    };
    let s = env.store_with(fail.clone());
    let rec = record("t1", "o1", Status::Pending, 1);
    fail.remaining.store(1, Ordering::SeqCst);
    assert!(matches!(
        s.claim(&rec, T0, LEASE).await,
        Err(StoreError::Throttled)
    ));
    // The (lost) answer hid a write that happened: the retry is safe.
    assert_eq!(claim(&s, &rec, T0 + secs(1)).await, Claim::InFlight);
    fail.remaining.store(1, Ordering::SeqCst);
    assert!(matches!(
        s.complete(&rec, T0).await,
        Err(StoreError::Throttled)
    ));
    complete(&s, &rec, T0).await;

    let fail = FailNext {
        remaining: Arc::new(AtomicUsize::new(1)),
        body: DDB_THROTTLING,
    };
    let s = env.store_with(fail.clone());
    assert!(matches!(
        s.get_event("t1").await,
        Err(StoreError::Throttled)
    ));
    let fail = FailNext {
        remaining: Arc::new(AtomicUsize::new(1)),
        body: DDB_INTERNAL,
    };
    let s = env.store_with(fail.clone());
    match s.claim(&rec, T0, LEASE).await {
        Err(StoreError::Unavailable(e)) => {
            // The SdkError itself, not a string.
            assert!(
                e.downcast_ref::<ddb::error::SdkError<
                    ddb::operation::update_item::UpdateItemError,
                    ddb::config::http::HttpResponse,
                >>()
                .is_some(),
                "{e:?}"
            );
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }

    let fail = FailNext {
        remaining: Arc::new(AtomicUsize::new(1)),
        body: SQS_THROTTLED,
    };
    let conf = sqs::config::Builder::from(&env.sdk)
        .interceptor(fail)
        .retry_config(sqs::config::retry::RetryConfig::disabled())
        .build();
    let sqs_client = sqs::Client::from_conf(conf);
    let url = create_queue(&sqs::Client::new(&env.sdk), "payhook", true).await;
    let p = SqsPublisher::new(sqs_client, url);
    let ev = event("t1", "o1", Status::Pending, T0);
    assert!(matches!(
        p.publish(&ev, &ev.to_json().unwrap_or_else(|e| panic!("{e}")))
            .await,
        Err(PublishError::Throttled)
    ));
    p.publish(&ev, &ev.to_json().unwrap_or_else(|e| panic!("{e}")))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
}

// --------------------------------------------------------------- budget

#[tokio::test]
async fn request_budget() {
    let env = Env::new().await;
    let counter = Counter::default();
    let s = env.store_with(counter.clone());

    let first = record("b1", "o1", Status::Completed, 1);
    assert_eq!(claim(&s, &first, T0).await, Claim::New);
    complete(&s, &first, T0).await;
    let new_forward = counter.take();

    assert_eq!(claim(&s, &first, T0).await, Claim::Duplicate);
    let duplicate = counter.take();

    let later = record("b2", "o1", Status::Failed, 2); // does not move the order
    assert_eq!(claim(&s, &later, T0).await, Claim::New);
    complete(&s, &later, T0).await;
    let new_not_forward = counter.take();

    assert_eq!(claim(&s, &later, T0 + secs(1)).await, Claim::Duplicate);
    let duplicate2 = counter.take();

    let sqs_counter = Counter::default();
    let conf = sqs::config::Builder::from(&env.sdk)
        .interceptor(sqs_counter.clone())
        .build();
    let url = create_queue(&sqs::Client::new(&env.sdk), "payhook", true).await;
    let p = SqsPublisher::new(sqs::Client::from_conf(conf), url);
    let ev = event("b3", "o1", Status::Pending, T0);
    p.publish(&ev, &ev.to_json().unwrap_or_else(|e| panic!("{e}")))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let publish = sqs_counter.take();

    eprintln!(
        "request budget: duplicate={duplicate}/{duplicate2} DynamoDB, new event (order moves)={new_forward}, \
         new event (order does not move)={new_not_forward} DynamoDB, publish={publish} SQS"
    );
    assert_eq!((duplicate, duplicate2), (1, 1));
    assert_eq!(new_forward, 2);
    assert_eq!(new_not_forward, 3);
    assert_eq!(publish, 1);
}

// ------------------------------------------------------------ pipeline

/// One accepted sample per provider through `payhook::App` (the HTTP
/// handler) on the DynamoDB store and the SQS FIFO queue: 200 `accepted`,
/// the same delivery again 200 `duplicate`, exactly one message on the
/// queue, valid against the JSON Schema.
#[tokio::test]
async fn every_provider_through_the_app_on_dynamodb_and_sqs() {
    let env = Env::new().await;
    let sqs_client = sqs::Client::new(&env.sdk);
    let url = create_queue(&sqs_client, "payhook", true).await;
    let store: Arc<dyn EventStore> = Arc::new(env.store.clone());
    let publisher: Arc<dyn Publisher> = Arc::new(SqsPublisher::new(sqs_client.clone(), &url));
    let h = payhook_tests::Harness::new().await;
    let mut ids = Vec::new();
    for p in ProviderId::all() {
        let case = payhook_tests::cases(p)
            .into_iter()
            .find(|c| c.expect == 200 && c.outcome.as_deref().unwrap_or("accepted") == "accepted")
            .unwrap_or_else(|| panic!("{p}: no accepted case"));
        let app = h.app_with(p, store.clone(), publisher.clone());
        let (status, body, _) = h.send_event(&app, &h.signed_event(p, &case)).await;
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some("accepted")),
            "{p}/{}: {body}",
            case.file
        );
        let (status, again, _) = h.send_event(&app, &h.signed_event(p, &case)).await;
        assert_eq!(
            (status, again["status"].as_str()),
            (200, Some("duplicate")),
            "{p}/{}: {again}",
            case.file
        );
        ids.push(body["event_id"].as_str().unwrap_or_default().to_owned());
    }
    let msgs = drain(&sqs_client, &url).await;
    let bodies: Vec<String> = msgs
        .iter()
        .map(|m| m.body().unwrap_or_default().to_owned())
        .collect();
    let published = payhook_tests::validate_all(&bodies);
    let mut got: Vec<String> = published
        .iter()
        .map(|v| v["event_id"].as_str().unwrap_or_default().to_owned())
        .collect();
    got.sort();
    ids.sort();
    assert_eq!(got, ids, "one message per accepted delivery");
    for id in &ids {
        let stored = env.store.get_event(id).await.ok().flatten();
        assert_eq!(stored.map(|e| e.state), Some(EventState::Published), "{id}");
    }
}

// ---------------------------------------------------------------- users

#[tokio::test]
async fn users_put_get_remove_list() {
    use payhook::users::{Decision, UserRecord, UserStore};
    let env = Env::new().await;
    let s = &env.store;
    let ana = UserRecord {
        email: "ana@example.com".into(),
        decision: Decision::Block,
        reason: Some("chargeback".into()),
        updated_at: T0,
    };
    assert_eq!(s.get_user("ana@example.com").await.ok(), Some(None));
    s.put_user(&ana).await.unwrap_or_else(|e| panic!("{e:?}"));
    s.put_user(&UserRecord {
        email: "bo@example.com".into(),
        decision: Decision::Allow,
        reason: None,
        updated_at: T0,
    })
    .await
    .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(
        s.get_user("ana@example.com").await.ok(),
        Some(Some(ana.clone()))
    );
    let all = s.list_users().await.unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(
        all.iter().map(|u| u.email.as_str()).collect::<Vec<_>>(),
        ["ana@example.com", "bo@example.com"]
    );
    assert_eq!(s.remove_user("ana@example.com").await.ok(), Some(true));
    assert_eq!(s.remove_user("ana@example.com").await.ok(), Some(false));
    assert_eq!(s.get_user("ana@example.com").await.ok(), Some(None));
    // Users never show up as events or orders.
    assert!(s.list_orders().await.unwrap_or_default().is_empty());
}

/// thirdweb's own SDK test payload (`events/thirdweb/sdk-test-onchain.json`,
/// from `src/bridge/Webhook.test.ts` of npm `thirdweb` 5.121.6: a
/// `pay.onchain-transaction` with `paymentId` and no `transactionId`) on
/// the AWS backend: accepted, its redelivery a duplicate, exactly one
/// message on the queue, with the SDK's `paymentId` as the order id.
#[tokio::test]
async fn thirdweb_sdk_payload_on_dynamodb_and_sqs_reaches_the_queue_once() {
    let env = Env::new().await;
    let sqs_client = sqs::Client::new(&env.sdk);
    let url = create_queue(&sqs_client, "payhook-tw", true).await;
    let store: Arc<dyn EventStore> = Arc::new(env.store.clone());
    let publisher: Arc<dyn Publisher> = Arc::new(SqsPublisher::new(sqs_client.clone(), &url));
    let h = payhook_tests::Harness::new().await;
    let p = ProviderId::THIRDWEB;
    let case = payhook_tests::cases(p)
        .into_iter()
        .find(|c| c.file == "sdk-test-onchain.json")
        .unwrap_or_else(|| panic!("no case for the thirdweb SDK test payload"));
    let order = case
        .order_id
        .clone()
        .unwrap_or_else(|| panic!("the SDK payload's case names no order id"));
    let app = h.app_with(p, store, publisher);
    let (status, body, _) = h.send_event(&app, &h.signed_event(p, &case)).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("accepted")),
        "{body}"
    );
    let (status, again, _) = h.send_event(&app, &h.signed_event(p, &case)).await;
    assert_eq!(
        (status, again["status"].as_str()),
        (200, Some("duplicate")),
        "{again}"
    );
    let msgs = drain(&sqs_client, &url).await;
    assert_eq!(msgs.len(), 1, "one message for one payment");
    let bodies: Vec<String> = msgs
        .iter()
        .map(|m| m.body().unwrap_or_default().to_owned())
        .collect();
    let published = payhook_tests::validate_all(&bodies);
    assert_eq!(published[0]["event_id"], body["event_id"]);
    assert_eq!(published[0]["order_id"], order.as_str());
    assert_eq!(published[0]["provider"], "thirdweb");
    if let Some(s) = &case.status {
        assert_eq!(published[0]["status"], s.as_str());
    }
    assert!(published[0]["unparsed"].is_null(), "{}", published[0]);
}
