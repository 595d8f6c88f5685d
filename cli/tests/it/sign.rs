//! `payhook sign` is the one signer the probes use: what it prints is
//! accepted by `payhook serve` exactly as printed, and refused once a byte
//! of the body changes.

use crate::common::{payhook, serve};
use base64::Engine as _;
use std::io::Write;
use std::process::Stdio;

/// The body of the `cases.json` base case of `provider`'s events folder.
fn base_body(provider: &str) -> Vec<u8> {
    let dir = crate::common::repo().join("events").join(provider);
    let cases: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("cases.json")).unwrap_or_default())
            .unwrap_or_default();
    let file = cases
        .iter()
        .find(|c| c["base"] == true)
        .and_then(|c| c["file"].as_str())
        .unwrap_or_else(|| panic!("{provider}: no base case"));
    let ev: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(file)).unwrap_or_default())
            .unwrap_or_default();
    let body = ev["body"].as_str().unwrap_or_default();
    if ev["isBase64Encoded"] == true {
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap_or_else(|e| panic!("{provider}: {e}"))
    } else {
        body.as_bytes().to_vec()
    }
}

fn sign(data_dir: &std::path::Path, provider: &str, body: &[u8]) -> serde_json::Value {
    let mut child = payhook(data_dir)
        .args(["sign", "--provider", provider, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("payhook sign: {e}"));
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(body)
            .unwrap_or_else(|e| panic!("stdin: {e}"));
    }
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("payhook sign: {e}"));
    assert!(
        out.status.success(),
        "payhook sign --provider {provider}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("sign output: {e}"))
}

#[tokio::test]
async fn what_payhook_sign_prints_is_accepted_and_a_changed_byte_is_refused() {
    let data_dir = std::env::temp_dir().join(format!("payhook-sign-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data_dir);
    let (_server, url, _) = serve(&data_dir);
    payhook::tls::ensure_crypto_provider();
    let client = reqwest::Client::new();
    for provider in ["koywe", "thirdweb"] {
        let signed = sign(&data_dir, provider, &base_body(provider));
        assert_eq!(signed["provider"], provider);
        let body = base64::engine::general_purpose::STANDARD
            .decode(signed["body"].as_str().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{e}"));
        let route = signed["route"].as_str().unwrap_or_default().to_owned();
        let post = |body: Vec<u8>| {
            let mut req = client.post(format!("{url}{route}")).body(body);
            for h in signed["headers"].as_array().into_iter().flatten() {
                req = req.header(
                    h[0].as_str().unwrap_or_default(),
                    h[1].as_str().unwrap_or_default(),
                );
            }
            req.send()
        };
        let ok = post(body.clone()).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ok.status().as_u16(), 200, "{provider}");
        let mut changed = body.clone();
        let i = changed
            .iter()
            .rposition(u8::is_ascii_digit)
            .unwrap_or_else(|| panic!("{provider}: no digit to change"));
        changed[i] = if changed[i] == b'9' {
            b'8'
        } else {
            changed[i] + 1
        };
        let bad = post(changed).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(bad.status().as_u16(), 401, "{provider}: a changed byte");
    }
    let _ = std::fs::remove_dir_all(&data_dir);
}
