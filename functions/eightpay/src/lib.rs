//! The `eightpay` webhook function: everything but `main`, so tests can call
//! [`handle`] with a request built from `events/eightpay/*.json`.

use payhook::providers::{self, Provider};
use payhook::{Config, ConfigError};
use std::sync::Arc;

pub use payhook_aws::http::handle;

/// This function's provider, built from configuration.
pub fn provider(cfg: &Config) -> Result<Arc<dyn Provider>, ConfigError> {
    Ok(Arc::new(providers::eightpay::EightPay::from_config(cfg)?))
}
