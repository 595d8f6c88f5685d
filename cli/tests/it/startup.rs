//! `payhook serve` start-up facing a real install: an explicitly set but
//! invalid setting stops start-up naming it (instead of leaving the route
//! out), and a configured 1buy URL token is never printed.

use crate::common::{payhook, serve};
use std::process::Stdio;
use std::time::{Duration, Instant};

fn data_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("payhook-startup-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn an_invalid_setting_stops_start_up_naming_it() {
    let dir = data_dir("invalid");
    let mut child = payhook(&dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("PAYHOOK_THIRDWEB_SECRETS", "configured-thirdweb-secret")
        .env("PAYHOOK_VALIDATION_AUTH", "jwt-hs256:short")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn: {e}"));
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap_or_else(|e| panic!("{e}")) {
            break s;
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("payhook serve started with an invalid PAYHOOK_VALIDATION_AUTH");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!status.success(), "exit status {status}");
    assert!(stderr.contains("PAYHOOK_VALIDATION_AUTH"), "{stderr}");
    assert!(!stderr.contains("short"), "the secret is echoed: {stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_configured_onebuy_token_is_never_printed() {
    let dir = data_dir("token");
    let token = "configured-onebuy-token-5f1c";
    let mut cmd = payhook(&dir);
    cmd.env("PAYHOOK_ONEBUY_TOKENS", token);
    let (server, _url, banner) = crate::common::serve_with(cmd);
    assert!(
        banner.contains("/webhooks/onebuy/wallet-pay/{token}"),
        "{banner}"
    );
    assert!(
        !banner.contains(token),
        "configured token printed:\n{banner}"
    );
    drop(server);

    // Generated development tokens are shown: a newcomer needs them.
    let dir2 = data_dir("generated");
    let (server, _url, banner) = serve(&dir2);
    assert!(
        banner.contains("/webhooks/onebuy/wallet-pay/dev-onebuy-"),
        "{banner}"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&dir2);
}
