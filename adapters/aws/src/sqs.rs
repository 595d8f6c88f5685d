//! SQS publisher: one `SendMessage` per event, to a FIFO or a standard
//! queue.
//!
//! - FIFO (URL ends in `.fifo`): `MessageGroupId` = `{provider}#{order_id}`
//!   (events of one order are delivered in order), `MessageDeduplicationId`
//!   = `event_id` (a copy published again within SQS's 5-minute
//!   deduplication window is dropped).
//! - Standard: at-least-once, unordered; consumers dedupe by `event_id`.
//!
//! Message attributes (all `String`): `provider`, `status`,
//! `provider_event` (left out when empty: SQS rejects empty values),
//! `schema`. The body is the published event JSON.

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::config::http::HttpResponse;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::operation::send_message::SendMessageError;
use aws_sdk_sqs::types::MessageAttributeValue;
use payhook::event::PaymentEvent;
use payhook::publish::{PublishError, Publisher};
use sha2::{Digest, Sha256};

/// A [`Publisher`] to one SQS queue.
#[derive(Debug, Clone)]
pub struct SqsPublisher {
    client: Client,
    queue_url: String,
    fifo: bool,
}

/// SQS limit on `MessageGroupId` / `MessageDeduplicationId`.
const MAX_ID_LEN: usize = 128;

/// Error codes that mean "slow down and retry".
const THROTTLE_CODES: &[&str] = &[
    "RequestThrottled",
    "AWS.SimpleQueueService.RequestThrottled",
    "ThrottlingException",
    "Throttling",
    "KmsThrottled",
    "KMS.ThrottlingException",
];

impl SqsPublisher {
    /// A publisher to `queue_url`; FIFO when the URL ends in `.fifo`.
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        let queue_url = queue_url.into();
        let fifo = queue_url.ends_with(".fifo");
        SqsPublisher {
            client,
            queue_url,
            fifo,
        }
    }

    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    pub fn is_fifo(&self) -> bool {
        self.fifo
    }
}

/// `MessageGroupId` of an event: `{provider}#{order_id}`; when that is too
/// long or holds characters SQS does not allow (anything but printable
/// ASCII), the order id is replaced by its SHA-256 (still one group per
/// order).
pub fn message_group_id(event: &PaymentEvent) -> String {
    let plain = format!("{}#{}", event.provider, event.order_id);
    if plain.len() <= MAX_ID_LEN && plain.bytes().all(|b| b.is_ascii_graphic()) {
        plain
    } else {
        let digest = Sha256::digest(event.order_id.as_bytes());
        format!("{}#sha256:{}", event.provider, hex::encode(digest))
    }
}

fn attr(v: &str) -> Result<MessageAttributeValue, PublishError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(v)
        .build()
        .map_err(PublishError::unavailable)
}

fn sdk_err(e: SdkError<SendMessageError, HttpResponse>) -> PublishError {
    let throttled = matches!(
        e.as_service_error(),
        Some(SendMessageError::RequestThrottled(_) | SendMessageError::KmsThrottled(_))
    ) || e.code().is_some_and(|c| THROTTLE_CODES.contains(&c));
    if throttled {
        PublishError::Throttled
    } else {
        PublishError::unavailable(e)
    }
}

#[async_trait]
impl Publisher for SqsPublisher {
    async fn publish(&self, event: &PaymentEvent, json: &str) -> Result<(), PublishError> {
        let mut req = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(json)
            .message_attributes("provider", attr(event.provider.as_str())?)
            .message_attributes("status", attr(event.status.as_str())?)
            .message_attributes("schema", attr(&event.schema)?);
        if !event.provider_event.is_empty() {
            req = req.message_attributes("provider_event", attr(&event.provider_event)?);
        }
        if self.fifo {
            req = req
                .message_group_id(message_group_id(event))
                .message_deduplication_id(&event.event_id);
        }
        req.send().await.map(|_| ()).map_err(sdk_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use payhook::event::{ProviderId, Status};
    use time::OffsetDateTime;

    fn ev(order: &str) -> PaymentEvent {
        PaymentEvent::new(
            ProviderId::KOYWE,
            "onramp",
            "x",
            Status::Pending,
            order,
            OffsetDateTime::UNIX_EPOCH,
            serde_json::Value::Null,
        )
    }

    #[test]
    fn group_ids() {
        assert_eq!(message_group_id(&ev("o-1")), "koywe#o-1");
        let long = message_group_id(&ev(&"x".repeat(200)));
        assert!(
            long.starts_with("koywe#sha256:") && long.len() <= MAX_ID_LEN,
            "{long}"
        );
        assert!(message_group_id(&ev("pedido ñ")).starts_with("koywe#sha256:"));
    }
}
