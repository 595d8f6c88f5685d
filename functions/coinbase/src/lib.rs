//! The `coinbase` webhook function: everything but `main`, so tests can call
//! [`handle`] with a request built from `events/coinbase/*.json`.

use payhook::providers::{self, Provider};
use payhook::{Config, ConfigError};
use std::sync::Arc;

pub use payhook_aws::http::handle;

/// This function's provider, built from configuration.
pub fn provider(cfg: &Config) -> Result<Arc<dyn Provider>, ConfigError> {
    Ok(Arc::new(providers::coinbase::Coinbase::from_config(cfg)?))
}
