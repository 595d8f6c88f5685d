//! payhook's cross-crate integration tests, one binary (one link of the AWS
//! SDK instead of one per file): handlers over every provider's events/
//! fixtures, attacks, properties, the fuzz corpus, logs, the embedded store,
//! moto-backed DynamoDB/SQS, the Lambda runtime API, Koywe's callback, the
//! consumer example and the outbound clients.

mod attacks;
mod consumer;
mod eightpay;
mod embedded;
mod fuzz_corpus;
mod handlers;
mod logs;
mod moto;
mod outbound;
mod props;
mod registry;
mod runtime;
mod standard_webhooks;
mod store_contract;
mod unparsed;
mod validation;
