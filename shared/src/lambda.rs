//! What every Lambda binary's `main` does: read settings (environment +
//! Secrets Manager) and build the DynamoDB/SQS clients once per cold start,
//! then serve API Gateway events. A function with no table or queue refuses
//! to start, naming the missing setting: it never falls back to the
//! embedded store.

use crate::config::{Config, ConfigError};
use crate::pipeline::{App, Limits};
use crate::providers::Provider;
use std::sync::Arc;

/// Why a Lambda function could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Aws(#[from] crate::aws::AwsSetupError),
    #[error("runtime: {0}")]
    Runtime(String),
}

/// Build the app of one webhook function from the environment.
pub async fn webhook_app(
    build: impl FnOnce(&Config) -> Result<Arc<dyn Provider>, ConfigError>,
) -> Result<App, StartError> {
    let (cfg, sdk) = crate::aws::config_from_env_and_secret().await?;
    let provider = build(&cfg)?;
    let (store, publisher) = crate::aws::aws_backend(&cfg, &sdk).await?;
    Ok(App::new(provider, store, publisher, Limits::from(&cfg)))
}

/// Run a webhook function: JSON logs, app built once, `lambda_http::run`.
pub async fn run_webhook(
    build: impl FnOnce(&Config) -> Result<Arc<dyn Provider>, ConfigError>,
) -> Result<(), StartError> {
    crate::logging::init_json();
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
