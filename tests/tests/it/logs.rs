//! Logs never carry bodies, signatures, secrets, tokens or PII. Captures the
//! logs (every level) of every case of every provider and of the
//! user-validation callback, with faults injected so error paths log too,
//! then searches them for each sensitive value of the inputs.

use payhook::ProviderId;
use payhook_tests::faults::{FaultyPublisher, FaultyStore};
use payhook_tests::{Harness, cases, event_body};
use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut g) = self.0.lock() {
            g.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every string leaf of a JSON value.
fn leaves(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| leaves(x, out)),
        serde_json::Value::Object(m) => m.values().for_each(|x| leaves(x, out)),
        _ => {}
    }
}

/// Keys whose values are personal data or credentials.
const SENSITIVE_KEYS: &[&str] = &[
    "email",
    "full_name",
    "date_of_birth",
    "phone",
    "street",
    "postal_code",
    "city",
    "signature",
    "api_key",
    "address",
    "wallet",
    "sender",
    "receiver",
];

fn sensitive(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                if SENSITIVE_KEYS.contains(&k.as_str()) {
                    leaves(x, out);
                }
                sensitive(x, out);
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| sensitive(x, out)),
        _ => {}
    }
}

/// The capture below needs a process of its own: a thread-scoped
/// subscriber misses events whose callsites other tests' threads registered
/// first (tracing caches each callsite's interest process-wide). So this
/// test runs [`capture_in_own_process`] alone, in a child process of this
/// same test binary, and passes when it does.
#[test]
fn logs_carry_no_bodies_signatures_secrets_or_pii() {
    let out = std::process::Command::new(std::env::current_exe().unwrap_or_default())
        .args([
            "--exact",
            "logs::capture_in_own_process",
            "--ignored",
            "--test-threads=1",
            "--nocapture",
        ])
        .output()
        .unwrap_or_else(|e| panic!("cannot run the test binary again: {e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("1 passed"),
        "the log capture failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
#[ignore = "run alone, in its own process, by logs_carry_no_bodies_signatures_secrets_or_pii"]
async fn capture_in_own_process() {
    let buf = Captured::default();
    let writer = buf.clone();
    let sub = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(sub);

    let h = Harness::new().await;
    let mut needles: Vec<String> = h
        .settings
        .values()
        .flat_map(|v| v.split([',', '=']).map(str::to_owned).collect::<Vec<_>>())
        .filter(|s| s.starts_with("test-"))
        .collect();
    let mut sent = 0;
    for p in ProviderId::all() {
        for case in cases(p) {
            let ev = h.signed_event(p, &case);
            let body = event_body(&ev);
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) {
                sensitive(&v, &mut needles);
            }
            if body.len() > 40 {
                needles.push(String::from_utf8_lossy(&body).into_owned());
            }
            if let Some(hs) = ev["headers"].as_object() {
                for (k, v) in hs {
                    if k.contains("signature") {
                        needles.extend(v.as_str().map(str::to_owned));
                    }
                }
            }
            // Happy path, then every fault on a fresh store.
            let app = h.app(p);
            h.send_event(&app, &ev).await;
            let store = Arc::new(FaultyStore::new(Arc::new(
                payhook::store::memory::MemoryStore::new(),
            )));
            let publisher = Arc::new(FaultyPublisher::new(h.publisher.clone()));
            let faulty = h.app_with(p, store.clone(), publisher.clone());
            store.faults.claim.store(1, Ordering::SeqCst);
            h.send_event(&faulty, &ev).await;
            publisher.fail.store(1, Ordering::SeqCst);
            store.faults.release.store(1, Ordering::SeqCst);
            h.send_event(&faulty, &ev).await;
            sent += 3;
        }
    }
    // The user-validation callback, including a store failure.
    let users = Arc::new(payhook::store::memory::MemoryStore::new());
    let auth = payhook::koywe_callback::CallerAuth::parse(
        &payhook::secret::Secret::new("bearer:test-validation-token"),
        None,
        None,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let v = payhook::koywe_callback::Validator::new(auth, users, false, std::time::Duration::ZERO);
    let dir = payhook_tests::events_dir().join("user-validation");
    for entry in std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{e}"))
        .flatten()
    {
        let path = entry.path();
        if path.file_name().is_some_and(|n| n == "cases.json")
            || path.extension().is_none_or(|e| e != "json")
        {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let ev: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        if let Ok(b) = serde_json::from_str::<serde_json::Value>(ev["body"].as_str().unwrap_or(""))
        {
            sensitive(&b, &mut needles);
        }
        if let Ok(req) = payhook_aws::http::request_from_event(&text) {
            payhook_aws::http::handle_validation(&v, req).await;
            sent += 1;
        }
    }
    needles.push("test-validation-token".into());

    let logs =
        String::from_utf8_lossy(&buf.0.lock().map(|g| g.clone()).unwrap_or_default()).into_owned();
    assert!(sent > 200, "only {sent} requests");
    assert!(
        logs.lines().count() >= sent,
        "{} log lines for {sent} requests",
        logs.lines().count()
    );
    assert!(logs.contains("\"outcome\":\"accepted\"") && logs.contains("store_unavailable"));
    needles.retain(|n| n.len() >= 6);
    needles.sort();
    needles.dedup();
    assert!(
        needles.len() > 50,
        "only {} sensitive values collected",
        needles.len()
    );
    for n in &needles {
        assert!(
            !logs.contains(n.as_str()),
            "the logs contain a sensitive value: {n:.60}"
        );
    }
}
