//! The README's run path, end to end: `payhook serve` on the embedded store
//! with generated development secrets, `payhook send` of every provider's
//! first valid sample (accepted, then duplicate), `payhook events --json`
//! showing exactly one normalized event per distinct delivery, and
//! `payhook orders`.

use crate::common::{first_valid_sample, functions, payhook, serve};
use std::path::Path;

#[test]
fn serve_send_events_orders() {
    let data_dir = std::env::temp_dir().join(format!("payhook-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data_dir);
    let (server, url, banner) = serve(&data_dir);
    assert!(banner.contains("generated development secrets"), "{banner}");
    assert!(banner.contains("DEVELOPMENT stand-in"), "{banner}");

    for f in functions() {
        let sample = first_valid_sample(f);
        for expected in ["accepted", "duplicate"] {
            let out = payhook(&data_dir)
                .args(["send", &sample, "--url", &url])
                .output()
                .unwrap_or_else(|e| panic!("send: {e}"));
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "{sample}: {text} {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                text.contains(" 200 ") && text.contains(expected),
                "{sample}: {text}"
            );
        }
    }

    let out = payhook(&data_dir)
        .args(["events", "--json"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("events --json line: {e}")))
        .collect();
    assert_eq!(
        lines.len(),
        functions().len(),
        "one event per distinct delivery"
    );
    let schema: serde_json::Value =
        serde_json::from_str(payhook::event::JSON_SCHEMA).unwrap_or_default();
    let validator = jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{e}"));
    for ev in &lines {
        assert!(validator.is_valid(ev), "{ev}");
    }
    let providers: std::collections::BTreeSet<_> = lines
        .iter()
        .map(|e| e["provider"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(providers.len(), functions().len(), "{providers:?}");

    let out = payhook(&data_dir)
        .args(["events", "--provider", "koywe"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 event(s)"));

    let out = payhook(&data_dir)
        .args(["orders", "--json"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    // One order per registered provider.
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        functions().len()
    );

    // Users and the user-validation callback on the same server.
    let token = std::fs::read_to_string(data_dir.join("dev-secrets.env"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("PAYHOOK_VALIDATION_AUTH=bearer:")
                .map(str::to_owned)
        })
        .unwrap_or_else(|| panic!("no validation token in dev secrets"));
    for (action, email) in [("allow", "Ana@Example.com"), ("block", "bad@example.com")] {
        let out = payhook(&data_dir)
            .args(["users", action, email, "--reason", "e2e"])
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = payhook(&data_dir)
        .args(["users", "list", "--json"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        listed.contains("\"ana@example.com\"") && listed.contains("\"block\""),
        "{listed}"
    );
    let validate = |email: &str, auth: &str| {
        post_json(
            &url,
            "/callbacks/koywe/validate-user",
            auth,
            &format!("{{\"email\":\"{email}\"}}"),
        )
    };
    assert_eq!(validate("ana@example.com", &token), "true 200");
    assert_eq!(validate("bad@example.com", &token), "false 200");
    assert_eq!(validate("nobody@example.com", &token), "false 200");
    assert!(validate("ana@example.com", "wrong").ends_with(" 401"));
    let out = payhook(&data_dir)
        .args(["users", "remove", "ana@example.com"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.status.success());
    assert_eq!(validate("ana@example.com", &token), "false 200");

    // Replay: dry run changes nothing, --yes republishes with the same id.
    let koywe_id = lines
        .iter()
        .find(|e| e["provider"] == "koywe")
        .and_then(|e| e["event_id"].as_str())
        .unwrap_or_default()
        .to_owned();
    let out = payhook(&data_dir)
        .args(["replay", &koywe_id])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(String::from_utf8_lossy(&out.stdout).contains("would replay"));
    let count = |d: &Path| {
        payhook(d)
            .args(["events", "--json"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).lines().count())
            .unwrap_or(0)
    };
    assert_eq!(count(&data_dir), functions().len());
    let out = payhook(&data_dir)
        .args(["replay", &koywe_id, "--yes"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = payhook(&data_dir)
        .args(["events", "--json", "--provider", "koywe"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let koywe: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(koywe.len(), 2, "replayed copy listed");
    assert_eq!(koywe[0], koywe[1], "the replay is the same event");
    let out = payhook(&data_dir)
        .args([
            "replay",
            "--since",
            "2000-01-01T00:00:00Z",
            "--provider",
            "thirdweb",
        ])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 event(s) would be replayed"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // Authentic means kept: an authentic body payhook cannot map is
    // accepted, listed under `--status unknown` with the flag `unparsed`,
    // and its redelivery is a duplicate.
    let unmappable = "events/onebuy-wallet-pay/missing-order-id.json";
    for expected in ["accepted", "duplicate"] {
        let out = payhook(&data_dir)
            .args(["send", unmappable, "--url", &url])
            .output()
            .unwrap_or_else(|e| panic!("send: {e}"));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains(" 200 ") && text.contains(expected),
            "{unmappable}: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = payhook(&data_dir)
        .args(["events", "--json", "--status", "unknown"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let unknown: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("events --json line: {e}")))
        .collect();
    assert_eq!(unknown.len(), 1, "{unknown:?}");
    let ev = &unknown[0];
    assert!(validator.is_valid(ev), "{ev}");
    assert_eq!(ev["status"], "unknown");
    assert_eq!(ev["unparsed"]["reason"], "missing_field");
    assert_eq!(ev["unparsed"]["field"], "order_id");
    assert!(
        ev["flags"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x == "unparsed")),
        "{ev}"
    );
    assert_eq!(
        ev["order_id"].as_str(),
        Some(format!("unparsed:{}", ev["event_id"].as_str().unwrap_or_default()).as_str())
    );

    // The store survives a restart: the same delivery is still a duplicate.
    drop(server);
    let out = payhook(&data_dir)
        .args(["events", "--json"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    // One per provider, Koywe's replayed copy, the unparsed one.
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        functions().len() + 2
    );
    let _ = std::fs::remove_dir_all(&data_dir);
}

/// POST a JSON body over a plain HTTP/1.1 connection; "BODY STATUS".
fn post_json(url: &str, path: &str, bearer: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let mut s =
        std::net::TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    let req = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\nauthorization: Bearer {bearer}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes())
        .unwrap_or_else(|e| panic!("write: {e}"));
    let mut resp = String::new();
    s.read_to_string(&mut resp)
        .unwrap_or_else(|e| panic!("read: {e}"));
    let status = resp
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    let body = resp.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    format!("{body} {status}")
}
