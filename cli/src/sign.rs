//! `payhook sign`: sign a body the way its provider signs it, with the
//! newest configured secret, and print the request to send: the exact body
//! bytes (base64), the headers and the path parameters. The one signer the
//! test suites and probes use (no re-implementation of a provider's
//! signing elsewhere).

use crate::CliError;
use crate::settings::Settings;
use base64::Engine as _;
use payhook::ProviderId;
use payhook::providers;
use std::io::Read;
use std::path::Path;

/// Where the body comes from: a file, or `-` for stdin.
pub fn read_body(source: &Path) -> Result<Vec<u8>, CliError> {
    if source == Path::new("-") {
        let mut b = Vec::new();
        std::io::stdin()
            .read_to_end(&mut b)
            .map_err(|e| CliError::Io {
                what: "read the body from stdin".into(),
                source: e,
            })?;
        return Ok(b);
    }
    std::fs::read(source).map_err(|e| CliError::Io {
        what: format!("read {}", source.display()),
        source: e,
    })
}

/// The signed request as one JSON line: `{"provider", "route", "body"
/// (base64 of the exact bytes), "headers": [[name, value]…], "params":
/// [[name, value]…]}`. `params` are the path parameters the signer sets
/// (8Pay's chain), over `extra_params`.
pub fn run(
    data_dir: &Path,
    provider: ProviderId,
    body: &[u8],
    at: time::OffsetDateTime,
    extra_params: &[(String, String)],
) -> Result<String, CliError> {
    let settings = Settings::load(data_dir)?;
    let cfg = settings.config()?;
    let p = providers::build(provider, &cfg)?;
    let signed = p.sign_for(body, at, extra_params)?;
    let mut params = extra_params.to_vec();
    for (k, v) in &signed.params {
        params.retain(|(pk, _)| pk != k);
        params.push((k.clone(), v.clone()));
    }
    Ok(serde_json::json!({
        "provider": provider.as_str(),
        "route": p.route(),
        "body": base64::engine::general_purpose::STANDARD.encode(&signed.body),
        "headers": signed.headers,
        "params": params,
    })
    .to_string())
}

/// `NAME=VALUE` of `--param`.
pub fn parse_param(s: &str) -> Result<(String, String), CliError> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| CliError::Usage(format!("--param {s}: expected NAME=VALUE")))
}
