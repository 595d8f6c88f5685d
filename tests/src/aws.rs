//! AWS fixtures of the moto tests (`tests/moto.rs`, `tests/consumer.rs`,
//! `tests/runtime.rs`): the moto endpoint (the tests fail, never skip,
//! without it), an SDK configuration for it, unique resource names, and the
//! table and queues created exactly as `template.yaml` declares them, so the
//! template and the code cannot drift.

use aws_sdk_dynamodb as ddb;
use aws_sdk_sqs as sqs;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use payhook_aws::dynamodb::{GSI_NAME, PARTITION_KEY, TTL_ATTRIBUTE};
use serde_yaml::Value as Yaml;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use time::OffsetDateTime;

pub const MOTO_HINT: &str = "moto is not running: run scripts/moto.sh (pip install 'moto[server]')";

// ------------------------------------------------------------------ moto

/// The moto endpoint (`PAYHOOK_TEST_MOTO`), checked to answer; panics with
/// the install hint.
pub fn moto_endpoint() -> String {
    let Ok(ep) = std::env::var("PAYHOOK_TEST_MOTO") else {
        panic!("{MOTO_HINT} (PAYHOOK_TEST_MOTO is not set)");
    };
    let ep = ep.trim_end_matches('/').to_owned();
    let host = ep.trim_start_matches("http://");
    let answered = (|| -> std::io::Result<bool> {
        use std::io::{Read, Write};
        let addr = std::net::ToSocketAddrs::to_socket_addrs(host)?
            .next()
            .ok_or(std::io::ErrorKind::NotFound)?;
        let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        write!(s, "GET /moto-api/ HTTP/1.0\r\nHost: {host}\r\n\r\n")?;
        let mut head = [0u8; 12];
        s.read_exact(&mut head)?;
        Ok(head.starts_with(b"HTTP/1.") && &head[9..12] == b"200")
    })();
    assert!(
        matches!(answered, Ok(true)),
        "{MOTO_HINT} (no answer from {ep}: {answered:?})"
    );
    ep
}

/// SDK configuration for moto at `endpoint` (us-east-1, test credentials).
pub async fn sdk(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(payhook_aws::lambda_https_client())
        .endpoint_url(endpoint)
        .region(ddb::config::Region::new("us-east-1"))
        .credentials_provider(ddb::config::Credentials::new(
            "test", "test", None, None, "moto",
        ))
        .load()
        .await
}

/// [`sdk`] for [`moto_endpoint`].
pub async fn moto_sdk() -> aws_config::SdkConfig {
    sdk(&moto_endpoint()).await
}

/// `{prefix}-{pid}-{nanos}-{n}`: distinct across processes and calls.
pub fn unique(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos() % 1_000_000_000_000;
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

// -------------------------------------------------------------- template

/// `template.yaml` of the repository root.
pub fn template() -> Yaml {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `Resources.<resource>.Properties`.
pub fn properties<'a>(t: &'a Yaml, resource: &str) -> &'a serde_yaml::Mapping {
    t["Resources"][resource]["Properties"]
        .as_mapping()
        .unwrap_or_else(|| panic!("template.yaml: no Resources.{resource}.Properties"))
}

/// A scalar as text; panics on anything else.
pub fn text(v: &Yaml) -> String {
    match v {
        Yaml::String(s) => s.clone(),
        Yaml::Bool(b) => b.to_string(),
        Yaml::Number(n) => n.to_string(),
        other => panic!("template.yaml: expected a scalar, got {other:?}"),
    }
}

/// Resolve the CloudFormation intrinsics the queue definitions use:
/// `!If [IsFifo, a, b]` (`fifo` picks the branch; any other condition
/// panics) and `!Ref AWS::NoValue` (→ `None`).
pub fn resolve(v: &Yaml, fifo: bool) -> Option<Yaml> {
    match v {
        Yaml::Tagged(t) if t.tag == "If" => {
            let args = t.value.as_sequence().unwrap_or_else(|| panic!("!If {t:?}"));
            assert_eq!(
                args[0].as_str(),
                Some("IsFifo"),
                "unexpected condition {t:?}"
            );
            resolve(if fifo { &args[1] } else { &args[2] }, fifo)
        }
        Yaml::Tagged(t) if t.tag == "Ref" && t.value.as_str() == Some("AWS::NoValue") => None,
        other => Some(other.clone()),
    }
}

// ----------------------------------------------------------------- table

/// Create the table `name` exactly as `Resources.Table` declares it (keys,
/// attributes, index, TTL), asserting that the template's key, index and TTL
/// attribute are the code's.
pub async fn create_table(client: &ddb::Client, name: &str) {
    use ddb::types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
        Projection, ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
    };
    let t = template();
    let p = properties(&t, "Table");
    let keys = |v: &Yaml| -> Vec<KeySchemaElement> {
        v.as_sequence()
            .unwrap_or_else(|| panic!("KeySchema {v:?}"))
            .iter()
            .map(|k| {
                KeySchemaElement::builder()
                    .attribute_name(text(&k["AttributeName"]))
                    .key_type(KeyType::from(text(&k["KeyType"]).as_str()))
                    .build()
                    .unwrap_or_else(|e| panic!("{e}"))
            })
            .collect()
    };
    let key_schema = keys(&p["KeySchema"]);
    assert_eq!(key_schema.len(), 1);
    assert_eq!(
        key_schema[0].attribute_name(),
        PARTITION_KEY,
        "template key != code key"
    );
    let mut req = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::from(text(&p["BillingMode"]).as_str()))
        .set_key_schema(Some(key_schema));
    for a in p["AttributeDefinitions"]
        .as_sequence()
        .into_iter()
        .flatten()
    {
        req = req.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(text(&a["AttributeName"]))
                .attribute_type(ScalarAttributeType::from(
                    text(&a["AttributeType"]).as_str(),
                ))
                .build()
                .unwrap_or_else(|e| panic!("{e}")),
        );
    }
    let gsis = p["GlobalSecondaryIndexes"]
        .as_sequence()
        .cloned()
        .unwrap_or_default();
    assert!(
        gsis.iter()
            .any(|g| g["IndexName"].as_str() == Some(GSI_NAME)),
        "template has no index {GSI_NAME}"
    );
    for g in &gsis {
        req = req.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(text(&g["IndexName"]))
                .set_key_schema(Some(keys(&g["KeySchema"])))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(
                            text(&g["Projection"]["ProjectionType"]).as_str(),
                        ))
                        .build(),
                )
                .build()
                .unwrap_or_else(|e| panic!("{e}")),
        );
    }
    req.send()
        .await
        .unwrap_or_else(|e| panic!("create_table: {e:?}"));
    let ttl = &p["TimeToLiveSpecification"];
    assert_eq!(
        ttl["AttributeName"].as_str(),
        Some(TTL_ATTRIBUTE),
        "template TTL != code TTL"
    );
    assert_eq!(
        ttl["Enabled"].as_bool(),
        Some(true),
        "template TTL is not enabled"
    );
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(TTL_ATTRIBUTE)
                .enabled(true)
                .build()
                .unwrap_or_else(|e| panic!("{e}")),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("update_time_to_live: {e:?}"));
}

// ---------------------------------------------------------------- queues

/// What becomes of a queue resource's `RedrivePolicy`.
#[derive(Debug, Clone, Copy)]
pub enum Redrive<'a> {
    /// No DLQ: the resource must not declare a redrive policy (panics).
    NoDlq,
    /// The redrive policy points at the DLQ with this ARN.
    To(&'a str),
    /// Left out (the template's policy is still checked).
    Omit,
}

/// Queue attributes from a queue resource's properties (`fifo` picks the
/// `IsFifo` branches). A `RedrivePolicy` must point at
/// `!GetAtt DeadLetterQueue.Arn`; `redrive` says what becomes of it.
pub fn queue_attributes(
    resource: &str,
    fifo: bool,
    redrive: Redrive<'_>,
) -> HashMap<QueueAttributeName, String> {
    let t = template();
    let mut out = HashMap::new();
    for (k, v) in properties(&t, resource) {
        let key = text(k);
        let Some(v) = resolve(v, fifo) else { continue };
        let value = if key == "RedrivePolicy" {
            assert_eq!(
                v["deadLetterTargetArn"],
                serde_yaml::from_str::<Yaml>("!GetAtt DeadLetterQueue.Arn").unwrap_or_default()
            );
            let arn = match redrive {
                Redrive::To(arn) => arn,
                Redrive::NoDlq => panic!("{resource} needs a DLQ"),
                Redrive::Omit => continue,
            };
            serde_json::json!({
                "deadLetterTargetArn": arn,
                "maxReceiveCount": v["maxReceiveCount"].as_u64().unwrap_or_else(|| panic!("maxReceiveCount")),
            })
            .to_string()
        } else {
            text(&v)
        };
        out.insert(QueueAttributeName::from(key.as_str()), value);
    }
    out
}

/// Asserts that `attrs` declare a FIFO queue exactly when `fifo`.
fn assert_fifo(attrs: &HashMap<QueueAttributeName, String>, fifo: bool) {
    assert_eq!(
        attrs
            .get(&QueueAttributeName::FifoQueue)
            .map(String::as_str),
        fifo.then_some("true")
    );
}

/// Create the queue `name` with `attrs`; its URL. `what` names it in
/// failure messages.
async fn new_queue(
    client: &sqs::Client,
    name: String,
    attrs: HashMap<QueueAttributeName, String>,
    what: &str,
) -> String {
    client
        .create_queue()
        .queue_name(name)
        .set_attributes(Some(attrs))
        .send()
        .await
        .unwrap_or_else(|e| panic!("create {what}: {e:?}"))
        .queue_url()
        .unwrap_or_default()
        .to_owned()
}

/// The ARN of the queue at `url`. `what` names it in failure messages.
pub async fn queue_arn(client: &sqs::Client, url: &str, what: &str) -> String {
    client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{what} arn: {e:?}"))
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .unwrap_or_default()
}

/// The event queue (`Resources.Queue`) and its DLQ with the redrive policy
/// (`Resources.DeadLetterQueue`) as the template declares them, named
/// `unique(prefix)` (`-dlq` for the DLQ; `.fifo` when `fifo`); returns the
/// queue URL.
pub async fn create_queue(client: &sqs::Client, prefix: &str, fifo: bool) -> String {
    let suffix = if fifo { ".fifo" } else { "" };
    let name = unique(prefix);
    let dlq_attrs = queue_attributes("DeadLetterQueue", fifo, Redrive::NoDlq);
    let dlq_url = new_queue(client, format!("{name}-dlq{suffix}"), dlq_attrs, "dlq").await;
    let dlq_arn = queue_arn(client, &dlq_url, "dlq").await;
    let attrs = queue_attributes("Queue", fifo, Redrive::To(&dlq_arn));
    assert_fifo(&attrs, fifo);
    new_queue(client, format!("{name}{suffix}"), attrs, "queue").await
}

/// The event queue alone, as `Resources.Queue` declares it but without the
/// redrive policy (no DLQ), named `unique(prefix)` (`.fifo` when `fifo`);
/// returns its URL and ARN.
pub async fn create_queue_without_dlq(
    client: &sqs::Client,
    prefix: &str,
    fifo: bool,
) -> (String, String) {
    let name = unique(prefix) + if fifo { ".fifo" } else { "" };
    let attrs = queue_attributes("Queue", fifo, Redrive::Omit);
    assert_fifo(&attrs, fifo);
    let url = new_queue(client, name, attrs, "queue").await;
    let arn = queue_arn(client, &url, "queue").await;
    (url, arn)
}

/// Receive (and delete) every message of the queue, with their message and
/// system attributes, until two receives in a row come back empty.
/// Deleting each message as it comes releases its message group (FIFO: the
/// next message of an order is delivered only after this one is gone).
pub async fn drain(client: &sqs::Client, url: &str) -> Vec<sqs::types::Message> {
    let mut out = Vec::new();
    let mut empty = 0;
    while empty < 2 {
        let got = client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .visibility_timeout(300)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .unwrap_or_else(|e| panic!("receive_message: {e:?}"))
            .messages
            .unwrap_or_default();
        if got.is_empty() {
            empty += 1;
            continue;
        }
        empty = 0;
        for m in &got {
            client
                .delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await
                .unwrap_or_else(|e| panic!("delete_message: {e:?}"));
        }
        out.extend(got);
    }
    out
}
