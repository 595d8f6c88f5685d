//! The providers' own published examples through `payhook serve`, as a
//! newcomer would send them: every fixture taken from a provider's SDK or
//! docs (`sdk-test-*`, `docs-*`; Koywe's legacy docs example `sample.json`
//! and its current format `current-order-*`) is sent with `payhook send`
//! (signed with the generated development secrets) to a fresh server on the
//! embedded store, and must come out as the normalized status and order id
//! its `cases.json` entry says. Each file gets its own server: two
//! versions of one docs example share an order and status with different
//! bytes.

use crate::common::{functions, payhook, serve};

fn published(function: &str, file: &str) -> bool {
    file.starts_with("sdk-test-")
        || file.starts_with("docs-")
        || (function == "koywe" && (file == "sample.json" || file.starts_with("current-order-")))
}

#[test]
fn every_published_example_is_accepted_through_serve() {
    let mut sent = 0;
    for f in functions() {
        let path = crate::common::repo()
            .join("events")
            .join(f)
            .join("cases.json");
        let cases: Vec<serde_json::Value> =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_default())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for case in cases.iter().filter(|c| {
            c["expect"] == 200
                && c["sign"] == "fresh"
                && c["file"].as_str().is_some_and(|file| published(f, file))
        }) {
            let file = case["file"].as_str().unwrap_or_default();
            let ctx = format!("{f}/{file}");
            let data_dir = std::env::temp_dir().join(format!(
                "payhook-published-{}-{f}-{file}",
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&data_dir);
            let (server, url, _) = serve(&data_dir);
            let out = payhook(&data_dir)
                .args(["send", &format!("events/{f}/{file}"), "--url", &url])
                .output()
                .unwrap_or_else(|e| panic!("{ctx}: send: {e}"));
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && text.contains(" 200 ") && text.contains("accepted"),
                "{ctx}: {text} {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let out = payhook(&data_dir)
                .args(["events", "--json"])
                .output()
                .unwrap_or_else(|e| panic!("{ctx}: events: {e}"));
            let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{ctx}: {e}")))
                .collect();
            assert_eq!(events.len(), 1, "{ctx}: {events:?}");
            for key in ["status", "order_id", "provider_event"] {
                if let Some(want) = case[key].as_str() {
                    assert_eq!(events[0][key], want, "{ctx}: {key}");
                }
            }
            drop(server);
            let _ = std::fs::remove_dir_all(&data_dir);
            sent += 1;
        }
    }
    // thirdweb's SDK test payloads and docs, 8Pay's docs, Koywe's legacy
    // docs example and every current order type.
    assert!(sent >= 15, "only {sent} published examples");
}
