//! The `koywe` webhook function: everything but `main`, so tests can call
//! [`handle`] with a request built from `events/koywe/*.json`.

use payhook::providers::{self, Provider};
use payhook::{Config, ConfigError, ProviderId};
use std::sync::Arc;

pub use payhook::http::handle;

/// This function's provider, built from configuration.
pub fn provider(cfg: &Config) -> Result<Arc<dyn Provider>, ConfigError> {
    providers::build(ProviderId::Koywe, cfg)
}
