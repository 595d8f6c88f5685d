//! payhook: receive crypto-payment webhooks, prove them authentic, record
//! each exactly once, normalize them and publish them to a queue.
//!
//! This is the core, the crate every function links: the published event
//! types ([`event`]), one module per provider ([`providers`]), the pipeline
//! ([`pipeline`]), the store and publisher ports with their in-memory
//! implementations ([`store`], [`publish`]), canonical JSON ([`canonical`]),
//! secrets ([`secret`]) and configuration ([`config`]). It links no AWS SDK,
//! web framework, SQLite or JWT library: the adapters live in sibling crates
//! (`adapters/aws`: DynamoDB, SQS, Secrets Manager and the Lambda glue;
//! `adapters/embedded`: SQLite), and the optional parts are features
//! (`callback`: Koywe's user-validation callback, with its JWT verifier;
//! `eightpay-api`: the HTTP client confirming 8Pay notifications).

pub mod canonical;
pub mod config;
pub mod event;
#[cfg(feature = "callback")]
pub mod koywe_callback;
pub mod logging;
pub mod metrics;
pub mod pipeline;
pub mod providers;
pub mod publish;
pub mod rejection;
pub mod secret;
pub mod store;
#[cfg(feature = "eightpay-api")]
pub mod tls;

pub use config::{Config, ConfigError};
pub use event::{PaymentEvent, ProviderId, Status};
pub use pipeline::{App, Clock, FixedClock, Limits, SystemClock};
pub use rejection::Rejection;
/// The user records of Koywe's callback (a store port: [`store::users`]).
pub use store::users;
