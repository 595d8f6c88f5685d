//! Helpers shared by the CLI integration tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The functions with webhook samples in `events/`: every registered
/// provider's.
pub fn functions() -> Vec<&'static str> {
    payhook::ProviderId::all().map(|p| p.as_str()).collect()
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A `payhook serve` child, killed when dropped (also when a test fails).
pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The first case of `events/<function>/cases.json` that is accepted when
/// freshly signed, as a path relative to the repository.
pub fn first_valid_sample(function: &str) -> String {
    let path = repo().join("events").join(function).join("cases.json");
    let cases: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_default())
            .unwrap_or_default();
    let file = cases
        .iter()
        .find(|c| c["expect"] == 200 && c["sign"] == "fresh")
        .and_then(|c| c["file"].as_str())
        .unwrap_or_else(|| panic!("{function}: no valid case"));
    format!("events/{function}/{file}")
}

/// `payhook` run from the repository on `data_dir`, with no payhook
/// setting inherited from the environment (development secrets are
/// generated, as for a newcomer).
pub fn payhook(data_dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_payhook"));
    c.current_dir(repo()).arg("--data-dir").arg(data_dir);
    for k in payhook::config::setting_names()
        .into_iter()
        .chain(payhook_cli::forward::SETTINGS.iter().copied())
        .chain(["PAYHOOK_CONSOLE_TOKEN"])
    {
        c.env_remove(k);
    }
    c.env_remove("PAYHOOK_BACKEND").env_remove("PAYHOOK_LISTEN");
    c
}

/// Start `payhook serve` on a free port of 127.0.0.1 with `data_dir`:
/// the server (killed when dropped), its URL and its start-up banner.
pub fn serve(data_dir: &Path) -> (Server, String, String) {
    serve_with(payhook(data_dir))
}

/// [`serve`] with `cmd` (a [`payhook`] command with extra settings).
pub fn serve_with(cmd: Command) -> (Server, String, String) {
    serve_args(cmd, &[])
}

/// [`serve_with`], with extra `serve` flags.
pub fn serve_args(mut cmd: Command, flags: &[&str]) -> (Server, String, String) {
    let mut child = cmd
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(flags)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn payhook serve: {e}"));
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let server = Server(child);
    let mut url = None;
    let mut banner = String::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap_or_default();
        banner.push_str(&line);
        banner.push('\n');
        if let Some(rest) = line.split("listening on ").nth(1) {
            url = rest.split_whitespace().next().map(str::to_owned);
        }
        if line.starts_with("Try:") {
            break;
        }
    }
    let url = url.unwrap_or_else(|| panic!("no address in banner:\n{banner}"));
    (server, url, banner)
}

/// What one HTTP exchange gave.
pub enum Answer {
    /// Connection refused, reset, timed out or cut short: no answer.
    None,
    Status(u16, serde_json::Value),
}

pub fn post(addr: &str, path: &str, headers: &[(String, String)], body: &[u8]) -> Answer {
    let Ok(sock) = addr.parse::<std::net::SocketAddr>() else {
        return Answer::None;
    };
    let Ok(mut s) = TcpStream::connect_timeout(&sock, Duration::from_secs(2)) else {
        return Answer::None;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(5)));
    let mut req = format!("POST {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    if s.write_all(&bytes).is_err() {
        return Answer::None;
    }
    let mut resp = Vec::new();
    if s.read_to_end(&mut resp).is_err() {
        return Answer::None;
    }
    let text = String::from_utf8_lossy(&resp);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return Answer::None;
    };
    let Some(status) = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
    else {
        return Answer::None;
    };
    match serde_json::from_str(body) {
        Ok(v) => Answer::Status(status, v),
        // A response cut short by the kill.
        Err(_) => Answer::None,
    }
}

/// Read `KEY=VALUE` lines of the generated `dev-secrets.env`.
pub fn dev_secrets(data_dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(data_dir.join("dev-secrets.env"))
        .unwrap_or_else(|e| panic!("read dev-secrets.env: {e}"))
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

pub fn sample_body(function: &str, file: &str) -> serde_json::Value {
    let path = repo().join("events").join(function).join(file);
    let ev: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(ev["body"].as_str().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{}: body: {e}", path.display()))
}

/// A Standard Webhooks secret for forwarding tests (the consumer's).
pub const FORWARD_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// A newer secret payhook signs with first (rotation: the consumer only
/// knows [`FORWARD_SECRET`]).
pub const FORWARD_SECRET_NEW: &str = "whsec_c2Vjb25kLXNlY3JldC1mb3ItcGF5aG9vay10ZXN0cw==";

/// The Python with the Standard Webhooks library (`scripts/standardwebhooks.sh`,
/// exported by the test command as `PAYHOOK_STANDARDWEBHOOKS_PYTHON`).
pub fn python() -> String {
    match std::env::var("PAYHOOK_STANDARDWEBHOOKS_PYTHON") {
        Ok(p) if !p.is_empty() => p,
        _ => panic!(
            "PAYHOOK_STANDARDWEBHOOKS_PYTHON is not set: run the tests with scripts/test.sh, or \
             export PAYHOOK_STANDARDWEBHOOKS_PYTHON=$(scripts/standardwebhooks.sh | tail -n 1)"
        ),
    }
}

/// The merchant's endpoint of the forwarding tests: `tests/py/forward_consumer.py`,
/// which verifies every delivery with the Standard Webhooks library from
/// PyPI and logs it. Killed when dropped.
pub struct Consumer {
    child: Child,
    pub url: String,
    log: PathBuf,
}

impl Drop for Consumer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

impl Consumer {
    /// Start it knowing `secret`, with extra arguments (`--fail-orders`, `--fail-first`).
    pub fn start(secret: &str, extra: &[&str]) -> Consumer {
        let mut b = [0u8; 8];
        payhook::secret::fill_random(&mut b);
        let log = std::env::temp_dir().join(format!(
            "payhook-consumer-{}-{}.jsonl",
            std::process::id(),
            u64::from_le_bytes(b)
        ));
        let mut child = Command::new(python())
            .arg(repo().join("tests/py/forward_consumer.py"))
            .arg(&log)
            .arg(secret)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("start the forwarding consumer: {e}"));
        let mut port = String::new();
        if let Some(out) = child.stdout.take() {
            let _ = BufReader::new(out).read_line(&mut port);
        }
        let port = port.trim().to_owned();
        assert!(
            port.parse::<u16>().is_ok(),
            "the consumer did not start (is standardwebhooks installed in {}?)",
            python()
        );
        Consumer {
            child,
            url: format!("http://127.0.0.1:{port}/hook"),
            log,
        }
    }

    /// Forwarding settings pointing at this consumer, signing with `secrets`
    /// (comma-separated), a short schedule.
    pub fn settings(&self, secrets: &str) -> Vec<(String, String)> {
        vec![
            ("PAYHOOK_FORWARD_URL".into(), self.url.clone()),
            ("PAYHOOK_FORWARD_SECRETS".into(), secrets.into()),
            (
                "PAYHOOK_FORWARD_SCHEDULE".into(),
                "200ms,400ms,800ms,1s,1s,1s,1s,1s,1s,1s".into(),
            ),
            ("PAYHOOK_FORWARD_TIMEOUT_MS".into(), "2000".into()),
        ]
    }

    /// Every request it got, in arrival order.
    pub fn log(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Replace the orders it fails (empty: it recovers).
    pub fn fail_orders(&self, orders: &[&str]) {
        let addr = self
            .url
            .trim_start_matches("http://")
            .trim_end_matches("/hook")
            .to_owned();
        match post(
            &addr,
            "/control/fail-orders",
            &[],
            orders.join(",").as_bytes(),
        ) {
            Answer::Status(200, _) => {}
            Answer::Status(s, _) => panic!("consumer control answered {s}"),
            Answer::None => panic!("consumer control: no answer"),
        }
    }

    /// Wait until `done(log)` or `within` passes; the log then.
    pub fn wait_for(
        &self,
        within: Duration,
        done: impl Fn(&[serde_json::Value]) -> bool,
    ) -> Vec<serde_json::Value> {
        let end = std::time::Instant::now() + within;
        loop {
            let log = self.log();
            if done(&log) || std::time::Instant::now() > end {
                return log;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
