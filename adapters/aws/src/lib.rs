//! payhook's AWS adapters: the DynamoDB store ([`dynamodb`]), the SQS
//! publisher ([`sqs`]), the Lambda glue ([`lambda`], [`http`]) and, here,
//! start-up: the SDK configuration, settings from a Secrets Manager JSON
//! secret, and the DynamoDB/SQS backend, run once per cold start.
//!
//! The standard SDK environment is honoured (`AWS_REGION`,
//! `AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL_SQS`,
//! `AWS_ENDPOINT_URL_SECRETS_MANAGER`, credentials…), so the same binaries
//! run against moto locally.

pub mod dynamodb;
pub mod http;
pub mod lambda;
pub mod sqs;

use crate::dynamodb::DynamoStore;
use crate::sqs::SqsPublisher;
use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_secretsmanager::config::http::HttpResponse;
use aws_sdk_secretsmanager::error::SdkError;
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::shared::IntoShared;
use payhook::config::{Config, ConfigError};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

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
/// `AWS_ENDPOINT_URL*`, profiles…), for the CLI: the hyper/rustls (ring)
/// client trusting the system's certificate store
/// ([`system_roots_https_client`]).
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(system_roots_https_client())
        .load()
        .await
}

/// The same hyper/rustls (ring) client as [`lambda_https_client`], trusting
/// the system's certificate store: `payhook serve --backend aws` on a
/// developer's machine (a TLS-inspecting proxy's CA is trusted there).
pub fn system_roots_https_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

/// The SDK configuration of a Lambda function: the same settings as
/// [`sdk_config`] (`AWS_ENDPOINT_URL*`, retries, timeouts, profile…), with
/// what costs time on a cold start taken out:
///
/// - the HTTPS client trusts the Mozilla root certificates compiled into the
///   binary ([`lambda_https_client`]) instead of reading every file of
///   `/etc/ssl/certs` (~5 ms), and builds its connector at the first
///   request instead of once per SDK client;
/// - the region and the credentials come straight from the variables Lambda
///   sets ([`LambdaEnv`]) instead of building the default provider chains
///   (profile, web identity, ECS, IMDS). The chains check these variables
///   first, so the outcome is the same; without them the chains are used.
pub async fn lambda_sdk_config() -> SdkConfig {
    let env = LambdaEnv::from_lookup(|k| std::env::var(k).ok());
    let mut loader =
        aws_config::defaults(BehaviorVersion::latest()).http_client(lambda_https_client());
    if let Some(region) = env.region {
        loader = loader.region(Region::new(region));
    }
    if env.env_credentials {
        loader = loader.credentials_provider(EnvironmentVariableCredentialsProvider::new());
    }
    loader.load().await
}

/// What a Lambda function's environment says about the region and the
/// credentials (empty values count as unset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaEnv {
    /// `AWS_REGION`, else `AWS_DEFAULT_REGION` (the order of the SDK's
    /// environment region provider).
    pub region: Option<String>,
    /// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` are both set (with
    /// `AWS_SESSION_TOKEN`, the function's role, on Lambda): the SDK's
    /// environment credentials provider answers, as the first link of the
    /// default chain would.
    pub env_credentials: bool,
}

impl LambdaEnv {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let get = |k: &str| lookup(k).filter(|v| !v.trim().is_empty());
        LambdaEnv {
            region: get("AWS_REGION").or_else(|| get("AWS_DEFAULT_REGION")),
            env_credentials: get("AWS_ACCESS_KEY_ID").is_some()
                && get("AWS_SECRET_ACCESS_KEY").is_some(),
        }
    }
}

/// The HTTPS client of the Lambda functions' SDK clients: the SDK's own
/// hyper/rustls (ring) connector, trusting only the Mozilla root set
/// compiled into the binary (`webpki-root-certs`, which holds Amazon's
/// roots), so certificates are verified as before without file I/O.
///
/// The connector is built at the first request, once for all the SDK
/// clients sharing this configuration (the SDK's own client builds one when
/// each SDK client is created, to load the system roots early, and another
/// at the first request). That build is the one-time cost left: the SDK
/// takes roots only as PEM, so it decodes and parses the bundle (~120
/// certificates), ~1 ms of the first invocation.
pub fn lambda_https_client() -> SharedHttpClient {
    LazyHttpsClient::default().into_shared()
}

#[derive(Debug, Default)]
struct LazyHttpsClient {
    inner: OnceLock<SharedHttpClient>,
}

impl LazyHttpsClient {
    fn inner(&self) -> &SharedHttpClient {
        self.inner.get_or_init(|| {
            let roots = TrustStore::empty().with_pem_certificate(builtin_roots_pem());
            let tls = match TlsContext::builder().with_trust_store(roots).build() {
                Ok(tls) => tls,
                Err(e) => {
                    // Not reachable with aws-smithy-http-client 1.x (the
                    // builder only stores the trust store); the system
                    // roots still verify certificates.
                    tracing::warn!(error = %e, "built-in root certificates refused, using the system's");
                    TlsContext::default()
                }
            };
            aws_smithy_http_client::Builder::new()
                .tls_provider(tls::Provider::Rustls(
                    tls::rustls_provider::CryptoMode::Ring,
                ))
                .tls_context(tls)
                .build_https()
        })
    }
}

// `validate_base_client_config` keeps its default (nothing): the SDK's own
// client builds a throw-away connector there.
impl HttpClient for LazyHttpsClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.inner().http_connector(settings, components)
    }

    /// What the SDK's hyper client says (the user agent names it), without
    /// building the connector.
    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        Some(ConnectorMetadata::new("hyper", Some(Cow::Borrowed("1.x"))))
    }
}

/// The `webpki-root-certs` certificates as one PEM bundle (what the SDK's
/// trust store takes).
pub fn builtin_roots_pem() -> Vec<u8> {
    use base64::Engine as _;
    let mut pem = Vec::with_capacity(256 * 1024);
    for cert in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        let b64 = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
        pem.extend_from_slice(b"-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.extend_from_slice(line);
            pem.push(b'\n');
        }
        pem.extend_from_slice(b"-----END CERTIFICATE-----\n");
    }
    pem
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
    let sdk = lambda_sdk_config().await;
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
    fn lambda_env_region_and_credentials() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            LambdaEnv::from_lookup(move |k| {
                pairs
                    .iter()
                    .find(|(name, _)| *name == k)
                    .map(|(_, v)| (*v).to_owned())
            })
        };
        // What Lambda sets: both region variables and the role's keys.
        let lambda = env(&[
            ("AWS_REGION", "eu-west-1"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "AKID"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "token"),
        ]);
        assert_eq!(lambda.region.as_deref(), Some("eu-west-1"));
        assert!(lambda.env_credentials);
        // AWS_DEFAULT_REGION when AWS_REGION is unset or empty.
        let fallback = env(&[("AWS_REGION", " "), ("AWS_DEFAULT_REGION", "us-east-2")]);
        assert_eq!(fallback.region.as_deref(), Some("us-east-2"));
        // Half a key pair, or an empty secret: the default chain decides.
        assert!(!env(&[("AWS_ACCESS_KEY_ID", "AKID")]).env_credentials);
        assert!(
            !env(&[("AWS_ACCESS_KEY_ID", "AKID"), ("AWS_SECRET_ACCESS_KEY", "")]).env_credentials
        );
        // Nothing set: the default chains for both.
        assert_eq!(
            env(&[]),
            LambdaEnv {
                region: None,
                env_credentials: false
            }
        );
    }

    #[test]
    fn builtin_roots_pem_holds_every_webpki_root() {
        use base64::Engine as _;
        let pem = String::from_utf8(builtin_roots_pem()).unwrap_or_else(|e| panic!("{e}"));
        let mut ders = Vec::new();
        for block in pem.split("-----END CERTIFICATE-----\n") {
            if block.is_empty() {
                continue;
            }
            let b64 = block
                .strip_prefix("-----BEGIN CERTIFICATE-----\n")
                .unwrap_or_else(|| panic!("block without a BEGIN line: {block:.40}"));
            assert!(b64.lines().all(|l| l.len() <= 64));
            let der = base64::engine::general_purpose::STANDARD
                .decode(b64.replace('\n', ""))
                .unwrap_or_else(|e| panic!("{e}"));
            ders.push(der);
        }
        let expected: Vec<&[u8]> = webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .map(|c| c.as_ref())
            .collect();
        assert_eq!(ders, expected);
        // The roots of the AWS endpoints' certificates (Amazon Trust
        // Services) are among them.
        for ca in [
            "Amazon Root CA 1",
            "Amazon Root CA 2",
            "Amazon Root CA 3",
            "Amazon Root CA 4",
        ] {
            assert!(
                ders.iter()
                    .any(|d| d.windows(ca.len()).any(|w| w == ca.as_bytes())),
                "{ca} missing"
            );
        }
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
