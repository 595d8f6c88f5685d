//! The example consumer as a Lambda function: `handle_batch` on every SQS
//! batch. Set `FunctionResponseTypes: [ReportBatchItemFailures]` on its
//! event source mapping, or a single failure retries the whole batch.
//!
//! Settings: `PAYHOOK_CONSUMER_DEDUPE_CAPACITY` (default 10000) ids kept in
//! memory per instance.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use payhook_consumer_example::{
    Consumer, DEFAULT_CAPACITY, LogProcessor, SqsBatchResponse, SqsEvent, handle_batch,
};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    payhook::logging::init_json();
    let capacity = std::env::var("PAYHOOK_CONSUMER_DEDUPE_CAPACITY")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_CAPACITY);
    let consumer = Arc::new(Consumer::new(LogProcessor, capacity));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let consumer = consumer.clone();
        async move { Ok::<SqsBatchResponse, Error>(handle_batch(&consumer, event.payload).await) }
    }))
    .await
}
