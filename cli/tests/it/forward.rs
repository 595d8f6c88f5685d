//! Forwarding (issue 14, item 1): `payhook serve` POSTs every published
//! event to the merchant's endpoint, signed the Standard Webhooks way. The
//! endpoint is `tests/py/forward_consumer.py`, which verifies each delivery
//! with the Standard Webhooks library from PyPI, never with payhook's code.
//! (kill -9 during forwarding: `crash.rs`.)

use crate::common::{
    Answer, Consumer, FORWARD_SECRET, FORWARD_SECRET_NEW, dev_secrets, payhook, post, serve_with,
};
use payhook::ProviderId;
use payhook::providers::{self, Provider};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

fn data_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("payhook-forward-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Koywe, built from the server's generated development secrets.
pub(crate) fn koywe(dir: &Path) -> Arc<dyn Provider> {
    let secrets = dev_secrets(dir);
    let cfg = payhook::Config::from_lookup(|k| secrets.get(k).cloned())
        .unwrap_or_else(|e| panic!("dev secrets: {e}"));
    providers::build(ProviderId::KOYWE, &cfg).unwrap_or_else(|e| panic!("koywe: {e}"))
}

/// Send one signed Koywe event `name` of `order`; its event id.
pub(crate) fn send(url: &str, p: &dyn Provider, order: &str, name: &str) -> String {
    let body = serde_json::json!({
        "eventName": name,
        "orderId": order,
        "timeStamp": "2026-01-01T00:00:00.000Z",
    });
    let signed = p
        .sign(body.to_string().as_bytes(), time::OffsetDateTime::now_utc())
        .unwrap_or_else(|e| panic!("sign: {e}"));
    let addr = url.trim_start_matches("http://");
    match post(addr, p.route(), &signed.headers, &signed.body) {
        Answer::Status(200, v) if v["status"] == "accepted" => {
            v["event_id"].as_str().unwrap_or_default().to_owned()
        }
        Answer::Status(s, v) => panic!("{order}/{name}: answered {s} {v}"),
        Answer::None => panic!("{order}/{name}: no answer"),
    }
}

/// `payhook deliveries … --json` on `dir`: one JSON object per delivery.
fn deliveries(dir: &Path, args: &[&str]) -> Vec<Value> {
    let out = payhook(dir)
        .arg("deliveries")
        .args(args)
        .arg("--json")
        .output()
        .unwrap_or_else(|e| panic!("payhook deliveries: {e}"));
    assert!(
        out.status.success(),
        "payhook deliveries: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// Start serve like [`serve_with`], then keep reading its stdout (EMF
/// metric lines) into the returned list.
fn serve_keeping_stdout(
    mut cmd: std::process::Command,
) -> (
    crate::common::Server,
    String,
    Arc<std::sync::Mutex<Vec<String>>>,
) {
    use std::io::BufRead as _;
    let mut child = cmd
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let server = crate::common::Server(child);
    let mut lines = std::io::BufReader::new(stdout).lines();
    let mut url = None;
    for line in lines.by_ref() {
        let line = line.unwrap_or_default();
        if let Some(rest) = line.split("listening on ").nth(1) {
            url = rest.split_whitespace().next().map(str::to_owned);
        }
        if line.starts_with("Try:") {
            break;
        }
    }
    let kept = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = kept.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if let Ok(mut v) = sink.lock() {
                v.push(line);
            }
        }
    });
    (server, url.unwrap_or_else(|| panic!("no address")), kept)
}

fn delivered(log: &[Value], id: &str) -> bool {
    log.iter()
        .any(|e| e["id"] == id && e["verified"] == true && e["answered"] == 200)
}

/// The position of the first log entry matching `f`.
fn first(log: &[Value], f: impl Fn(&Value) -> bool) -> Option<usize> {
    log.iter().position(f)
}

/// Every event reaches the endpoint once, verified by the library with the
/// older of payhook's two secrets (rotation: one signature per secret),
/// `webhook-id` = the event id = the body's `event_id`, each order's events
/// in the order they were published; `payhook deliveries` lists them
/// delivered; a configured secret is never printed; SIGTERM stops serve
/// cleanly.
#[test]
fn deliveries_verify_with_the_standard_webhooks_library_in_order() {
    let dir = data_dir("verify");
    let consumer = Consumer::start(FORWARD_SECRET, &[]);
    let secrets = format!("{FORWARD_SECRET_NEW},{FORWARD_SECRET}");
    let mut cmd = payhook(&dir);
    cmd.envs(consumer.settings(&secrets));
    let (mut server, url, banner) = serve_with(cmd);
    assert!(
        banner.contains("Forwarding every published event to"),
        "{banner}"
    );
    for s in [FORWARD_SECRET, FORWARD_SECRET_NEW] {
        let key = s.trim_start_matches("whsec_");
        assert!(
            !banner.contains(key),
            "a configured secret in the banner:\n{banner}"
        );
    }
    let p = koywe(&dir);
    let names = ["payment_created", "crypto_tx_sent", "crypto_delivered"];
    let mut sent: Vec<(String, Vec<String>)> = Vec::new();
    for order in ["fw-a", "fw-b", "fw-c"] {
        sent.push((order.to_owned(), Vec::new()));
    }
    // Interleaved: a1 b1 c1 a2 b2 c2 …
    for name in names {
        for (order, ids) in &mut sent {
            ids.push(send(&url, &*p, order, name));
        }
    }
    let all: Vec<&String> = sent.iter().flat_map(|(_, ids)| ids).collect();
    let log = consumer.wait_for(Duration::from_secs(20), |log| {
        all.iter().all(|id| delivered(log, id))
    });
    for id in &all {
        assert!(delivered(&log, id), "{id} not delivered: {log:?}");
    }
    assert!(log.iter().all(|e| e["verified"] == true), "{log:?}");
    assert!(log.iter().all(|e| e["id"] == e["event_id"]), "{log:?}");
    assert_eq!(log.len(), all.len(), "each event once: {log:?}");
    for (order, ids) in &sent {
        let got: Vec<&str> = log
            .iter()
            .filter(|e| e["order_id"] == order.as_str())
            .filter_map(|e| e["id"].as_str())
            .collect();
        let want: Vec<&str> = ids.iter().map(String::as_str).collect();
        assert_eq!(got, want, "{order}: out of order");
    }
    let listed = deliveries(&dir, &[]);
    assert_eq!(listed.len(), all.len());
    assert!(
        listed
            .iter()
            .all(|d| d["state"] == "delivered" && d["attempts"] == 1 && d["last_status"] == 200),
        "{listed:?}"
    );

    // SIGTERM: serve stops accepting, finishes and exits 0.
    let pid = server.0.id().to_string();
    let term = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap_or_else(|e| panic!("kill: {e}"));
    assert!(term.success());
    let end = std::time::Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Ok(Some(s)) = server.0.try_wait() {
            break s;
        }
        assert!(std::time::Instant::now() < end, "serve ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "serve exited with {status} on SIGTERM");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A failing endpoint: an order whose events are refused is retried on the
/// schedule, its later events wait behind its first (order), other orders
/// are delivered meanwhile; once the endpoint recovers, the waiting order
/// is delivered in order with the same webhook-id as the failed attempts.
#[test]
fn a_failing_order_is_retried_then_recovers_without_blocking_others() {
    let dir = data_dir("retry");
    let consumer = Consumer::start(FORWARD_SECRET, &["--fail-orders", "fw-stuck"]);
    let mut cmd = payhook(&dir);
    cmd.envs(consumer.settings(FORWARD_SECRET));
    let (_server, url, _) = serve_with(cmd);
    let p = koywe(&dir);
    let s1 = send(&url, &*p, "fw-stuck", "payment_created");
    let s2 = send(&url, &*p, "fw-stuck", "crypto_delivered");
    let o1 = send(&url, &*p, "fw-other", "payment_created");
    let o2 = send(&url, &*p, "fw-other", "crypto_delivered");
    let log = consumer.wait_for(Duration::from_secs(20), |log| {
        delivered(log, &o1)
            && delivered(log, &o2)
            && log.iter().filter(|e| e["id"] == s1.as_str()).count() >= 3
    });
    assert!(delivered(&log, &o1) && delivered(&log, &o2), "{log:?}");
    let failed: Vec<_> = log.iter().filter(|e| e["id"] == s1.as_str()).collect();
    assert!(failed.len() >= 3, "not retried: {log:?}");
    assert!(
        failed
            .iter()
            .all(|e| e["answered"] == 500 && e["verified"] == true)
    );
    assert!(
        !log.iter().any(|e| e["id"] == s2.as_str()),
        "the stuck order's second event went before its first: {log:?}"
    );
    let pending = deliveries(&dir, &["--state", "pending"]);
    let ids: Vec<&str> = pending
        .iter()
        .filter_map(|d| d["event_id"].as_str())
        .collect();
    assert_eq!(ids, vec![s1.as_str(), s2.as_str()], "{pending:?}");
    assert!(pending[0]["last_status"] == 500 && pending[0]["next_attempt_at"].is_string());

    consumer.fail_orders(&[]);
    let log = consumer.wait_for(Duration::from_secs(20), |log| {
        delivered(log, &s1) && delivered(log, &s2)
    });
    let ok1 = first(&log, |e| e["id"] == s1.as_str() && e["answered"] == 200);
    let any2 = first(&log, |e| e["id"] == s2.as_str());
    assert!(
        matches!((ok1, any2), (Some(a), Some(b)) if a < b),
        "order not kept on recovery: {log:?}"
    );
    assert!(deliveries(&dir, &["--state", "pending"]).is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

/// After the last attempt a delivery is `failed`: listed by `payhook
/// deliveries --failed`; `payhook replay --failed --yes` sends it again
/// (same webhook-id) once the endpoint works.
#[test]
fn dead_letters_are_listed_and_replayed() {
    let dir = data_dir("dead");
    let consumer = Consumer::start(FORWARD_SECRET, &["--fail-orders", "fw-dead"]);
    let mut settings = consumer.settings(FORWARD_SECRET);
    for (k, v) in &mut settings {
        if k == "PAYHOOK_FORWARD_SCHEDULE" {
            *v = "100ms".into();
        }
    }
    let mut cmd = payhook(&dir);
    cmd.envs(settings).env("PAYHOOK_METRICS", "emf");
    let (_server, url, stdout) = serve_keeping_stdout(cmd);
    let p = koywe(&dir);
    let id = send(&url, &*p, "fw-dead", "payment_created");
    let mut failed = Vec::new();
    let end = std::time::Instant::now() + Duration::from_secs(15);
    while failed.is_empty() && std::time::Instant::now() < end {
        std::thread::sleep(Duration::from_millis(100));
        failed = deliveries(&dir, &["--failed"]);
    }
    assert_eq!(failed.len(), 1, "no dead letter");
    assert_eq!(failed[0]["event_id"], id.as_str());
    assert_eq!(failed[0]["attempts"], 2, "{failed:?}");
    assert_eq!(failed[0]["last_status"], 500);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        consumer
            .log()
            .iter()
            .filter(|e| e["id"] == id.as_str())
            .count(),
        2,
        "attempted after it failed"
    );

    // A dry run changes nothing.
    let dry = payhook(&dir)
        .args(["replay", "--failed"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(dry.status.success());
    assert!(String::from_utf8_lossy(&dry.stdout).contains(&format!("would retry {id}")));
    assert_eq!(deliveries(&dir, &["--failed"]).len(), 1);

    consumer.fail_orders(&[]);
    let replay = payhook(&dir)
        .args(["replay", "--failed", "--yes"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        replay.status.success(),
        "{}",
        String::from_utf8_lossy(&replay.stderr)
    );
    let log = consumer.wait_for(Duration::from_secs(10), |log| delivered(log, &id));
    assert!(
        delivered(&log, &id),
        "replayed dead letter not delivered: {log:?}"
    );
    assert!(deliveries(&dir, &["--failed"]).is_empty());
    // Counted: one retry, one dead letter, then one delivery (EMF lines).
    let metric = |name: &str| {
        stdout
            .lock()
            .map(|lines| {
                lines
                    .iter()
                    .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                    .filter(|v| v["provider"] == "koywe")
                    .filter_map(|v| v[name].as_u64())
                    .sum::<u64>()
            })
            .unwrap_or_default()
    };
    let end = std::time::Instant::now() + Duration::from_secs(5);
    while metric("forwarded") == 0 && std::time::Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        (
            metric("forward_retries"),
            metric("forward_failures"),
            metric("forwarded")
        ),
        (1, 1, 1)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// With a forward URL and no secret, `payhook serve` generates a
/// development secret, keeps it in the data dir and shows it; a consumer
/// that does not know it refuses the deliveries (the library checks the
/// signature), and an invalid secret stops start-up naming the setting. The
/// URL comes from `--forward-url` here.
#[test]
fn a_missing_secret_is_generated_and_an_invalid_one_refused() {
    let dir = data_dir("gen");
    let consumer = Consumer::start(FORWARD_SECRET, &[]);
    let mut cmd = payhook(&dir);
    // The URL by flag (`--forward-url`), the rest from the environment.
    cmd.env("PAYHOOK_FORWARD_SCHEDULE", "none");
    let (server, url, banner) = crate::common::serve_args(cmd, &["--forward-url", &consumer.url]);
    assert!(banner.contains(&consumer.url), "{banner}");
    let generated = dev_secrets(&dir)
        .get("PAYHOOK_FORWARD_SECRETS")
        .cloned()
        .unwrap_or_else(|| panic!("no generated secret in dev-secrets.env"));
    assert!(generated.starts_with("whsec_"));
    assert!(banner.contains(&generated), "{banner}");
    let p = koywe(&dir);
    let id = send(&url, &*p, "fw-gen", "payment_created");
    let log = consumer.wait_for(Duration::from_secs(10), |log| !log.is_empty());
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0]["id"], id.as_str());
    assert_eq!(
        log[0]["verified"], false,
        "the library accepted a wrong secret"
    );
    drop(server);

    let out = payhook(&dir)
        .env("PAYHOOK_FORWARD_URL", &consumer.url)
        .env("PAYHOOK_FORWARD_SECRETS", "not-a-whsec-secret")
        .args(["serve", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("PAYHOOK_FORWARD_SECRETS"), "{err}");
    assert!(
        !err.contains("not-a-whsec-secret"),
        "the secret in the error: {err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `payhook events --follow` prints the events already published, then each
/// new one as a JSON line as it is published.
#[test]
fn events_follow_prints_new_events_as_they_are_published() {
    use std::io::BufRead as _;
    let dir = data_dir("follow");
    let (_server, url, _) = serve_with(payhook(&dir));
    let p = koywe(&dir);
    let before = send(&url, &*p, "fw-follow", "payment_created");
    let mut child = payhook(&dir)
        .args(["events", "--follow"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    // Killed when dropped, also when an assertion fails.
    let follower = crate::common::Server(child);
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let next = || {
        let line = rx
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("no line from events --follow"));
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        v["event_id"].as_str().unwrap_or_default().to_owned()
    };
    assert_eq!(next(), before);
    let after = send(&url, &*p, "fw-follow", "crypto_delivered");
    assert_eq!(next(), after);
    drop(follower);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_forwarding_setting_is_documented() {
    let readme = std::fs::read_to_string(crate::common::repo().join("README.md"))
        .unwrap_or_else(|e| panic!("{e}"));
    for s in payhook_cli::forward::SETTINGS {
        assert!(
            readme.contains(&format!("`{s}`")),
            "README.md does not document {s}"
        );
    }
}
