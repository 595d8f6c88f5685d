//! AWS start-up: the SDK configuration, settings from a Secrets Manager JSON
//! secret, and the DynamoDB/SQS backend. Run once per cold start.
//!
//! The standard SDK environment is honoured (`AWS_REGION`,
//! `AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL_SQS`,
//! `AWS_ENDPOINT_URL_SECRETS_MANAGER`, credentials…), so the same binaries
//! run against moto locally.

use crate::config::{Config, ConfigError};
use crate::publish::sqs::SqsPublisher;
use crate::store::dynamodb::DynamoStore;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_secretsmanager::config::http::HttpResponse;
use aws_sdk_secretsmanager::error::SdkError;
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Environment variable naming the Secrets Manager secret (name or ARN).
pub const SECRETS_ID_VAR: &str = "PAYHOOK_SECRETS_ID";

/// Start-up failed. `Display` names settings and the secret id, never a
/// secret value.
#[derive(Debug, thiserror::Error)]
pub enum AwsSetupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot read secret {secret_id} from Secrets Manager: {source}")]
    SecretUnavailable {
        secret_id: String,
        #[source]
        source: Box<SdkError<GetSecretValueError, HttpResponse>>,
    },
    #[error("secret {secret_id} has no SecretString (binary secrets are not supported)")]
    SecretNotString { secret_id: String },
    #[error(
        "secret {secret_id} is not a JSON object of settings (syntax error at line {line}, column {column})"
    )]
    SecretNotJson {
        secret_id: String,
        line: usize,
        column: usize,
    },
    #[error("secret {secret_id} must be a JSON object of PAYHOOK_* settings")]
    SecretNotObject { secret_id: String },
    #[error("secret {secret_id}: the value of {key} must be a string, number or boolean")]
    SecretValueType { secret_id: String, key: String },
}

/// The SDK configuration from the environment (region, credentials,
/// `AWS_ENDPOINT_URL*`…).
pub async fn sdk_config() -> SdkConfig {
    aws_config::load_defaults(BehaviorVersion::latest()).await
}

/// Read `secret_id` (name or ARN) from Secrets Manager: a JSON object whose
/// keys are `PAYHOOK_*` setting names. String values are taken as they are;
/// numbers and booleans as their JSON text; `null` is skipped.
pub async fn load_secret_settings(
    sdk: &SdkConfig,
    secret_id: &str,
) -> Result<BTreeMap<String, String>, AwsSetupError> {
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    let out = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| AwsSetupError::SecretUnavailable {
            secret_id: secret_id.to_owned(),
            source: Box::new(e),
        })?;
    let text = out
        .secret_string()
        .ok_or_else(|| AwsSetupError::SecretNotString {
            secret_id: secret_id.to_owned(),
        })?;
    parse_secret(secret_id, text)
}

/// Parse the JSON secret text (see [`load_secret_settings`]). Errors never
/// quote the text (serde_json's messages may contain parts of it).
pub fn parse_secret(
    secret_id: &str,
    text: &str,
) -> Result<BTreeMap<String, String>, AwsSetupError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| AwsSetupError::SecretNotJson {
            secret_id: secret_id.to_owned(),
            line: e.line(),
            column: e.column(),
        })?;
    let serde_json::Value::Object(map) = value else {
        return Err(AwsSetupError::SecretNotObject {
            secret_id: secret_id.to_owned(),
        });
    };
    let mut out = BTreeMap::new();
    for (key, v) in map {
        let text = match v {
            serde_json::Value::String(s) => s,
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            serde_json::Value::Null => continue,
            serde_json::Value::Array(_) | serde_json::Value::Object(_) => {
                return Err(AwsSetupError::SecretValueType {
                    secret_id: secret_id.to_owned(),
                    key,
                });
            }
        };
        out.insert(key, text);
    }
    Ok(out)
}

/// Settings for a Lambda function: when `PAYHOOK_SECRETS_ID` is set, each
/// setting is looked up in that secret first and in the environment second;
/// otherwise the environment alone. `PAYHOOK_TABLE` and `PAYHOOK_QUEUE_URL`
/// are required (a Lambda function never falls back to the embedded store).
pub async fn config_from_env_and_secret() -> Result<(Config, SdkConfig), AwsSetupError> {
    let (cfg, sdk) = settings_from_env_and_secret().await?;
    require_aws(&cfg)?;
    Ok((cfg, sdk))
}

/// Like [`config_from_env_and_secret`] without requiring the table and the
/// queue (the user-validation function needs only the table).
pub async fn settings_from_env_and_secret() -> Result<(Config, SdkConfig), AwsSetupError> {
    let sdk = sdk_config().await;
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let cfg = match env(SECRETS_ID_VAR) {
        Some(id) => {
            let secret = load_secret_settings(&sdk, &id).await?;
            config_from_layers(&secret, env)?
        }
        None => Config::from_lookup(env)?,
    };
    Ok((cfg, sdk))
}

/// `Config` from the secret's settings first, then `fallback` (empty
/// values count as unset in both).
pub fn config_from_layers(
    secret: &BTreeMap<String, String>,
    fallback: impl Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    Config::from_lookup(|k| {
        secret
            .get(k)
            .filter(|v| !v.trim().is_empty())
            .cloned()
            .or_else(|| fallback(k))
    })
}

/// The table and queue URL, or an error naming the missing setting.
pub fn require_aws(cfg: &Config) -> Result<(&str, &str), ConfigError> {
    let table = cfg.table.as_deref().ok_or(ConfigError::Missing {
        name: "PAYHOOK_TABLE",
        hint: " (the DynamoDB table; the AWS backend never falls back to the embedded store)",
    })?;
    let queue = cfg.queue_url.as_deref().ok_or(ConfigError::Missing {
        name: "PAYHOOK_QUEUE_URL",
        hint: " (the SQS queue URL; the AWS backend never falls back to the embedded store)",
    })?;
    Ok((table, queue))
}

/// The DynamoDB store and SQS publisher for `cfg` (clients built once).
pub async fn aws_backend(
    cfg: &Config,
    sdk: &SdkConfig,
) -> Result<(Arc<DynamoStore>, Arc<SqsPublisher>), AwsSetupError> {
    let (table, queue_url) = require_aws(cfg)?;
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(sdk),
        table,
        cfg.retention_days,
    );
    let publisher = SqsPublisher::new(aws_sdk_sqs::Client::new(sdk), queue_url);
    Ok((Arc::new(store), Arc::new(publisher)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_first_then_environment() {
        let secret = parse_secret(
            "s",
            r#"{"PAYHOOK_TABLE":"from-secret","PAYHOOK_RETENTION_DAYS":7,"PAYHOOK_QUEUE_URL":""}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let env = |k: &str| match k {
            "PAYHOOK_TABLE" => Some("from-env".to_owned()),
            "PAYHOOK_QUEUE_URL" => Some("http://q".to_owned()),
            _ => None,
        };
        let cfg = config_from_layers(&secret, env).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cfg.table.as_deref(), Some("from-secret"));
        assert_eq!(cfg.queue_url.as_deref(), Some("http://q"));
        assert_eq!(cfg.retention_days, 7);
    }

    #[test]
    fn missing_settings_are_named() {
        let cfg = Config::from_lookup(|_| None).unwrap_or_else(|e| panic!("{e}"));
        let e = require_aws(&cfg)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("PAYHOOK_TABLE"), "{e}");
        let cfg = Config::from_lookup(|k| (k == "PAYHOOK_TABLE").then(|| "t".to_owned()))
            .unwrap_or_else(|e| panic!("{e}"));
        let e = require_aws(&cfg)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("PAYHOOK_QUEUE_URL"), "{e}");
    }

    #[test]
    fn secret_errors_never_quote_values() {
        for text in [
            r#"{"PAYHOOK_KOYWE_SECRETS": "hunter2-secret""#,
            r#"{"PAYHOOK_KOYWE_SECRETS": ["hunter2-secret"]}"#,
            r#""hunter2-secret""#,
        ] {
            let e = parse_secret("my-secret", text)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains("my-secret") && !e.contains("hunter2"), "{e}");
        }
    }
}
