//! payhook: receive crypto-payment webhooks, prove them authentic, record
//! each exactly once, normalize them and publish them to a queue.
//!
//! The crate holds everything but the binaries' `main`s: the published event
//! types ([`event`]), one module per provider ([`providers`]), the pipeline
//! ([`pipeline`]), the store and publisher ports with their adapters
//! ([`store`], [`publish`]), the HTTP glue ([`http`]) and configuration
//! ([`config`]).

pub mod aws;
pub mod canonical;
pub mod config;
pub mod event;
pub mod http;
pub mod lambda;
pub mod logging;
pub mod metrics;
pub mod outbound;
pub mod pipeline;
pub mod providers;
pub mod publish;
pub mod rejection;
pub mod secret;
pub mod store;
pub mod users;
pub mod validation;

pub use config::{Config, ConfigError};
pub use event::{PaymentEvent, ProviderId, Status};
pub use pipeline::{App, Clock, FixedClock, Limits, SystemClock};
pub use rejection::Rejection;
