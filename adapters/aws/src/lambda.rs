//! What every Lambda binary's `main` does: read settings (environment +
//! Secrets Manager) and build the DynamoDB/SQS clients once per cold start,
//! then serve API Gateway events. A function with no table or queue refuses
//! to start, naming the missing setting: it never falls back to the
//! embedded store.

use payhook::config::{Config, ConfigError};
use payhook::pipeline::{App, Limits};
use payhook::providers::Provider;
use std::sync::Arc;

/// Why a Lambda function could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Aws(#[from] crate::AwsSetupError),
    #[error("runtime: {0}")]
    Runtime(String),
}

/// Build the app of one webhook function from the environment.
pub async fn webhook_app(
    build: impl FnOnce(&Config) -> Result<Arc<dyn Provider>, ConfigError>,
) -> Result<App, StartError> {
    let (cfg, sdk) = crate::config_from_env_and_secret().await?;
    let provider = build(&cfg)?;
    let (store, publisher) = crate::aws_backend(&cfg, &sdk).await?;
    Ok(App::new(provider, store, publisher, Limits::from(&cfg)))
}

/// Run a webhook function: JSON logs, app built once, `lambda_http::run`.
pub async fn run_webhook(
    build: impl FnOnce(&Config) -> Result<Arc<dyn Provider>, ConfigError>,
) -> Result<(), StartError> {
    payhook::logging::init_json();
    let app = match webhook_app(build).await {
        Ok(app) => app,
        Err(e) => {
            tracing::error!(error = %e, "cannot start");
            return Err(e);
        }
    };
    let app = &app;
    lambda_http::run(lambda_http::service_fn(move |req| async move {
        Ok::<_, std::convert::Infallible>(crate::http::handle(app, req).await)
    }))
    .await
    .map_err(|e| StartError::Runtime(e.to_string()))
}

#[cfg(feature = "callback")]
/// Build the user-validation endpoint from the environment: only the table
/// is needed (read access to `USER#…` items).
pub async fn validation_app() -> Result<payhook::koywe_callback::Validator, StartError> {
    let (cfg, sdk) = crate::settings_from_env_and_secret().await?;
    let table = cfg.table.as_deref().ok_or(ConfigError::Missing {
        name: "PAYHOOK_TABLE",
        hint: " (the DynamoDB table holding USER# items)",
    })?;
    let store = crate::dynamodb::DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        table,
        cfg.retention_days,
    );
    Ok(payhook::koywe_callback::Validator::from_config(
        &cfg,
        Arc::new(store),
    )?)
}

#[cfg(feature = "callback")]
/// Run the user-validation function.
pub async fn run_validation() -> Result<(), StartError> {
    payhook::logging::init_json();
    let v = match validation_app().await {
        Ok(v) => v,
        Err(e) => {
            tracing::error!(error = %e, "cannot start");
            return Err(e);
        }
    };
    let v = &v;
    lambda_http::run(lambda_http::service_fn(move |req| async move {
        Ok::<_, std::convert::Infallible>(crate::http::handle_validation(v, req).await)
    }))
    .await
    .map_err(|e| StartError::Runtime(e.to_string()))
}

/// Sweeper settings: `PAYHOOK_SWEEP_GRACE_SECS` (default 60) past the lease,
/// `PAYHOOK_SWEEP_LIMIT` events per run (default 500).
#[derive(Debug, Clone, Copy)]
pub struct SweepSettings {
    pub grace: std::time::Duration,
    pub limit: usize,
}

impl SweepSettings {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let num = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
            match lookup(name).filter(|v| !v.trim().is_empty()) {
                None => Ok(default),
                Some(v) => v.trim().parse().map_err(|_| ConfigError::Invalid {
                    name,
                    why: "expected a whole number".into(),
                }),
            }
        };
        Ok(SweepSettings {
            grace: std::time::Duration::from_secs(num("PAYHOOK_SWEEP_GRACE_SECS", 60)?),
            limit: usize::try_from(num("PAYHOOK_SWEEP_LIMIT", 500)?.max(1)).unwrap_or(500),
        })
    }
}

/// Run the scheduled sweeper: each invocation (any event, e.g. an
/// EventBridge schedule) republishes events stuck between recorded and
/// published, and returns what it did.
pub async fn run_sweeper() -> Result<(), StartError> {
    use lambda_http::lambda_runtime::{self, LambdaEvent};
    payhook::logging::init_json();
    let built = async {
        let (cfg, sdk) = crate::config_from_env_and_secret().await?;
        let sweep = SweepSettings::from_lookup(|k| std::env::var(k).ok())?;
        let (store, publisher) = crate::aws_backend(&cfg, &sdk).await?;
        Ok::<_, StartError>((cfg, sweep, store, publisher))
    }
    .await;
    let (cfg, sweep, store, publisher) = match built {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "cannot start");
            return Err(e);
        }
    };
    let (store, publisher) = (&*store, &*publisher);
    let lease = cfg.lease;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |_ev: LambdaEvent<serde_json::Value>| async move {
            let now = time::OffsetDateTime::now_utc();
            payhook::pipeline::sweep(store, publisher, now, sweep.grace, lease, sweep.limit)
                .await
                .map_err(|e| lambda_runtime::Error::from(e.to_string()))
        },
    ))
    .await
    .map_err(|e| StartError::Runtime(e.to_string()))
}
