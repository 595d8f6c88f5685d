//! Forwarding's settings for `payhook serve`: read from the environment or
//! the data dir's file; a forward URL without secrets gets a generated
//! development secret (written to the data dir's development file, shown
//! once in the banner, like the other development secrets).

use crate::CliError;
use crate::settings::Settings;
use payhook::ConfigError;
use payhook::secret::Secret;
use payhook_cli::forward::{ForwardConfig, SECRETS_SETTING, SigningKey};
use std::path::Path;

pub struct Setup {
    pub config: ForwardConfig,
    /// The secret generated now, or earlier into the development file: the
    /// only forwarding secret ever printed.
    pub generated: Option<Secret>,
}

pub fn load(settings: &mut Settings, data_dir: &Path) -> Result<Option<Setup>, CliError> {
    match ForwardConfig::from_lookup(|k| settings.get(k)) {
        Ok(None) => Ok(None),
        Ok(Some(config)) => {
            let generated = settings
                .in_dev_file(SECRETS_SETTING)
                .then(|| settings.get(SECRETS_SETTING).map(Secret::new))
                .flatten();
            Ok(Some(Setup { config, generated }))
        }
        Err(ConfigError::Missing { name, .. }) if name == SECRETS_SETTING => {
            let secret = SigningKey::generate();
            settings.add_dev(data_dir, SECRETS_SETTING, secret.expose())?;
            let config =
                ForwardConfig::from_lookup(|k| settings.get(k))?.ok_or(ConfigError::Missing {
                    name: payhook_cli::forward::URL_SETTING,
                    hint: "",
                })?;
            Ok(Some(Setup {
                config,
                generated: Some(secret),
            }))
        }
        Err(e) => Err(e.into()),
    }
}
