//! The `standard-webhooks` webhook function: everything but `main`, so tests
//! can call [`handle`] with a request built from
//! `events/standard-webhooks/*.json`.

use payhook::providers::{self, Provider};
use payhook::{Config, ConfigError};
use std::sync::Arc;

pub use payhook_aws::http::handle;

/// This function's provider, built from configuration.
pub fn provider(cfg: &Config) -> Result<Arc<dyn Provider>, ConfigError> {
    Ok(Arc::new(
        providers::standard_webhooks::StandardWebhooks::from_config(cfg)?,
    ))
}
