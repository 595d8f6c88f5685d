//! `payhook send`: sign a sample event the way its provider would and post it.

use crate::CliError;
use crate::settings::Settings;
use base64::Engine as _;
use payhook::providers::{self, Provider};
use payhook::{Config, ProviderId};
use std::path::Path;

/// Which provider an API Gateway event file is for, from its path: the
/// registered route whose fixed part (before its first parameter) is the
/// longest prefix of it.
pub fn provider_for_path(path: &str) -> Option<ProviderId> {
    let path = format!("/{}", path.trim_start_matches('/'));
    providers::ALL
        .iter()
        .filter(|d| {
            let prefix = d.route_prefix();
            path.strip_prefix(prefix).is_some_and(|rest| {
                prefix.ends_with('/') || rest.is_empty() || rest.starts_with(['/', '?'])
            })
        })
        .max_by_key(|d| d.route_prefix().len())
        .map(|d| d.id)
}

/// The pieces of an API Gateway proxy event `send` needs.
pub struct SampleEvent {
    pub provider: ProviderId,
    pub method: String,
    pub body: Vec<u8>,
    pub params: Vec<(String, String)>,
}

pub fn read_event(file: &Path) -> Result<SampleEvent, CliError> {
    let text = std::fs::read_to_string(file).map_err(|e| CliError::Io {
        what: format!("read {}", file.display()),
        source: e,
    })?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| CliError::Usage(format!("{} is not JSON: {e}", file.display())))?;
    let path = v
        .get("rawPath")
        .or_else(|| v.get("path"))
        .and_then(|p| p.as_str())
        .unwrap_or_default();
    let provider = provider_for_path(path).ok_or_else(|| {
        CliError::Usage(format!(
            "{}: rawPath {path:?} is not a payhook webhook route",
            file.display()
        ))
    })?;
    let method = v
        .pointer("/requestContext/http/method")
        .or_else(|| v.get("httpMethod"))
        .and_then(|m| m.as_str())
        .unwrap_or("POST")
        .to_owned();
    let raw = v.get("body").and_then(|b| b.as_str()).unwrap_or_default();
    let body = if v.get("isBase64Encoded").and_then(|b| b.as_bool()) == Some(true) {
        base64::engine::general_purpose::STANDARD
            .decode(raw)
            .map_err(|_| CliError::Usage(format!("{}: body is not valid base64", file.display())))?
    } else {
        raw.as_bytes().to_vec()
    };
    let params = v
        .get("pathParameters")
        .and_then(|p| p.as_object())
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    Ok(SampleEvent {
        provider,
        method,
        body,
        params,
    })
}

/// Fill `{name}` placeholders of a route template.
pub fn fill_route(route: &str, params: &[(String, String)]) -> String {
    let mut out = route.to_owned();
    for (k, v) in params {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}

pub async fn run(
    data_dir: &Path,
    file: &Path,
    url: &str,
    eightpay_api: Option<&str>,
) -> Result<(), CliError> {
    let settings = Settings::load(data_dir)?;
    let cfg: Config = settings.config_for(url)?;
    let sample = read_event(file)?;
    let provider: std::sync::Arc<dyn Provider> = providers::build(sample.provider, &cfg)?;
    let now = time::OffsetDateTime::now_utc();
    let signed = provider.sign_for(&sample.body, now, &sample.params)?;
    // Path parameters the signer does not set (8Pay's chain) come from the file.
    let mut params = sample.params.clone();
    for (k, v) in &signed.params {
        params.retain(|(pk, _)| pk != k);
        params.push((k.clone(), v.clone()));
    }
    payhook::tls::ensure_crypto_provider();
    let client = reqwest::Client::new();
    if sample.provider == ProviderId::EIGHTPAY {
        register_with_eightpay_api(&client, &cfg, eightpay_api, &params, &signed.body).await?;
    }
    let target = format!(
        "{}{}",
        url.trim_end_matches('/'),
        fill_route(provider.route(), &params)
    );
    let method = reqwest::Method::from_bytes(sample.method.as_bytes())
        .map_err(|_| CliError::Usage(format!("bad method {}", sample.method)))?;
    let mut req = client.request(method, &target).body(signed.body.clone());
    for (k, v) in &signed.headers {
        req = req.header(k, v);
    }
    let resp = req
        .send()
        .await
        .map_err(|e| CliError::Http(format!("POST {}: {e}", redact_token(&target))))?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    println!(
        "{} {} -> {} {}",
        sample.method,
        redact_token(&target),
        status.as_u16(),
        text
    );
    if status.is_success() {
        Ok(())
    } else {
        Err(CliError::Failed(status.as_u16()))
    }
}

/// 8Pay proves authenticity by letting the receiver fetch the notification
/// from its API. For local development `send` registers the notification
/// with the stand-in first (the stand-in is never 8Pay itself).
async fn register_with_eightpay_api(
    client: &reqwest::Client,
    cfg: &Config,
    override_base: Option<&str>,
    params: &[(String, String)],
    body: &[u8],
) -> Result<(), CliError> {
    let chain = params
        .iter()
        .find(|(k, _)| k == "chain")
        .map(|(_, v)| v.clone())
        .ok_or_else(|| CliError::Usage("8Pay event has no `chain` path parameter".into()))?;
    // The chain's own API base (PAYHOOK_EIGHTPAY_API_BASES), else the
    // common one.
    let eightpay = payhook::providers::eightpay::Settings::from_config(cfg)?;
    let base = override_base.unwrap_or(eightpay.api_base(&chain));
    if base.starts_with("https://api.8pay.network") || base.starts_with("https://api.8pay.tech") {
        return Err(CliError::Usage(
            "8Pay samples can only be sent against a stand-in of the 8Pay API: run `payhook serve` \
             with its development secrets, or pass --eightpay-api URL"
                .into(),
        ));
    }
    let key = eightpay
        .keys
        .get(&chain)
        .ok_or_else(|| CliError::Usage(format!("no 8Pay API key for chain {chain}")))?;
    let v: serde_json::Value = serde_json::from_slice(body)
        .map_err(|_| CliError::Usage("8Pay body is not JSON".into()))?;
    let id = v.get("id").and_then(|i| i.as_str()).unwrap_or_default();
    let url = format!(
        "{}/v1/{chain}/webhook-notifications/{id}",
        base.trim_end_matches('/')
    );
    let resp = client
        .put(&url)
        .bearer_auth(key.expose())
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .await
        .map_err(|e| CliError::Http(format!("PUT {url}: {e}")))?;
    if !resp.status().is_success() {
        return Err(CliError::Http(format!(
            "8Pay stand-in refused the notification: {}",
            resp.status()
        )));
    }
    Ok(())
}

/// Hide the URL token of routes that carry one (1buy's) in what `send`
/// prints.
fn redact_token(url: &str) -> String {
    let tokened = providers::ALL
        .iter()
        .filter(|d| d.route.contains("{token}"))
        .map(|d| d.route_prefix());
    for prefix in tokened {
        if let Some(i) = url.find(prefix) {
            return format!("{}{prefix}<token>", &url[..i]);
        }
    }
    url.to_owned()
}
