//! Crash safety of the embedded store (issue 8, item 1).
//!
//! `payhook serve` runs on a temporary data dir with a 1 s lease and a 1 s
//! sweep interval. Several threads send a steady stream of distinct, validly
//! signed thirdweb and Koywe webhooks over plain HTTP/1.1 to 127.0.0.1 while
//! the main thread `kill -9`s the server at random moments (at least 20
//! times) and restarts it on the same data dir (same port when it can be
//! bound again, else a new one). Every delivery is retried until it gets a
//! 200 (no answer and 503 are retried; anything else fails the test).
//!
//! At the end, after giving the sweeper time, the SQLite file is opened with
//! `SqliteStore` / `SqliteOutbox` and the test asserts: every delivery that
//! got a 200 is in the store, `published`, and in the outbox exactly once
//! (replay rows excluded); no event is left `recorded`; nothing else is
//! stored; zero lost.

use crate::common::{Answer, Consumer, FORWARD_SECRET, dev_secrets, post, repo, sample_body};
use payhook::ProviderId;
use payhook::providers::{self, Provider, Verified};
use payhook::store::{EventFilter, EventState, EventStore};
use payhook_embedded::SqliteStore;
use payhook_embedded::{OutboxFilter, SqliteOutbox};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// How many times the server is killed with SIGKILL.
const KILLS: usize = 22;
/// Sender threads.
const SENDERS: usize = 4;
/// Give up on one delivery after this long without a 200 (a lost delivery).
const DELIVERY_DEADLINE: Duration = Duration::from_secs(20);
/// The whole test must stay well under a minute.
const TEST_BUDGET: Duration = Duration::from_secs(75);

/// A tiny xorshift generator (no `rand` in this crate's dependencies); the
/// seed is printed so a failing run can be reasoned about.
struct Rng(u64);

impl Rng {
    fn new() -> Self {
        let mut b = [0u8; 8];
        payhook::secret::fill_random(&mut b);
        Rng(u64::from_le_bytes(b) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }
}

/// The running server. Killed (SIGKILL) and reaped on drop, so a failing
/// test never leaves a `payhook serve` behind.
struct Server {
    child: Option<Child>,
}

impl Server {
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Start `payhook serve` on `listen`, forwarding with the settings `env`;
/// the address it listens on, or `None` when it exited before printing one
/// (e.g. the port could not be bound).
fn start(
    data_dir: &Path,
    listen: &str,
    server: &mut Server,
    env: &[(String, String)],
) -> Option<String> {
    start_with(data_dir, listen, server, &[], env)
}

/// [`start`] with extra `serve` arguments.
fn start_with(
    data_dir: &Path,
    listen: &str,
    server: &mut Server,
    extra: &[&str],
    env: &[(String, String)],
) -> Option<String> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_payhook"));
    cmd.current_dir(repo()).arg("--data-dir").arg(data_dir);
    for k in payhook::config::setting_names() {
        cmd.env_remove(k);
    }
    cmd.env_remove("PAYHOOK_BACKEND")
        .env_remove("PAYHOOK_LISTEN")
        .env_remove("PAYHOOK_DATA_DIR")
        .env_remove("PAYHOOK_MAX_IN_FLIGHT")
        .env("PAYHOOK_LEASE_SECS", "1")
        .env("RUST_LOG", "warn");
    for k in payhook_cli::forward::SETTINGS {
        cmd.env_remove(k);
    }
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    let mut child = cmd
        .args(["serve", "--listen", listen, "--sweep-every-secs", "1"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn payhook serve: {e}"));
    let stdout = child.stdout.take();
    server.child = Some(child);
    let stdout = stdout?;
    let mut addr = None;
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        if let Some(rest) = line.split("listening on http://").nth(1) {
            addr = rest.split_whitespace().next().map(str::to_owned);
        }
        if line.starts_with("Try:") {
            break;
        }
    }
    if addr.is_none() {
        server.kill();
    }
    addr
}

/// One distinct webhook: the provider and its unsigned body.
struct Delivery {
    provider: Arc<dyn Provider>,
    body: Vec<u8>,
    /// The event id payhook must derive for it.
    event_id: String,
}

struct Templates {
    thirdweb: Arc<dyn Provider>,
    koywe: Arc<dyn Provider>,
    thirdweb_body: serde_json::Value,
    koywe_body: serde_json::Value,
}

impl Templates {
    /// Thirdweb v2 and Koywe samples, signed with the server's generated
    /// development secrets.
    fn from_dev_secrets(data_dir: &Path) -> Self {
        let secrets = dev_secrets(data_dir);
        let cfg = payhook::Config::from_lookup(|k| secrets.get(k).cloned())
            .unwrap_or_else(|e| panic!("dev secrets: {e}"));
        let build = |p| providers::build(p, &cfg).unwrap_or_else(|e| panic!("{p}: {e}"));
        Templates {
            thirdweb: build(ProviderId::THIRDWEB),
            koywe: build(ProviderId::KOYWE),
            thirdweb_body: sample_body("thirdweb", "v2-sample.json"),
            koywe_body: sample_body("koywe", "sample.json"),
        }
    }

    fn delivery(&self, n: u64, tag: &str) -> Delivery {
        let order = format!("crash-{tag}-{n}");
        let (provider, body) = if n.is_multiple_of(2) {
            let mut b = self.thirdweb_body.clone();
            b["data"]["id"] = order.into();
            (self.thirdweb.clone(), b)
        } else {
            let mut b = self.koywe_body.clone();
            b["orderId"] = order.into();
            (self.koywe.clone(), b)
        };
        let body = serde_json::to_vec(&body).unwrap_or_default();
        // The event id the pipeline derives: normalize the (unsigned) body
        // the way the server will after verification.
        let signed = provider
            .sign(&body, time::OffsetDateTime::now_utc())
            .unwrap_or_else(|e| panic!("sign: {e}"));
        let parsed = payhook::canonical::parse_strict(&signed.body)
            .unwrap_or_else(|e| panic!("signed body: {e}"));
        let n = provider
            .normalize(Verified::new(parsed), time::OffsetDateTime::now_utc())
            .unwrap_or_else(|e| panic!("normalize: {e}"));
        let event_id = payhook::event::event_id(provider.id(), &n.dedupe_key);
        Delivery {
            provider,
            body,
            event_id,
        }
    }
}

#[derive(Default)]
struct Stats {
    accepted: AtomicU64,
    duplicate: AtomicU64,
    no_answer: AtomicU64,
    unavailable: AtomicU64,
}

/// Send `d` until it gets a 200; its event id then, or an error text.
fn deliver(d: &Delivery, addr: &RwLock<String>, stats: &Stats) -> Result<String, String> {
    let started = Instant::now();
    loop {
        if started.elapsed() > DELIVERY_DEADLINE {
            return Err(format!(
                "delivery of {} got no 200 within {DELIVERY_DEADLINE:?}",
                d.event_id
            ));
        }
        // Signed afresh on every attempt, as a provider's retry would be.
        let signed = d
            .provider
            .sign(&d.body, time::OffsetDateTime::now_utc())
            .map_err(|e| format!("sign: {e}"))?;
        let target = addr.read().map(|a| a.clone()).unwrap_or_default();
        match post(&target, d.provider.route(), &signed.headers, &signed.body) {
            Answer::None => {
                stats.no_answer.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
            Answer::Status(503, _) => {
                stats.unavailable.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
            Answer::Status(200, v) => {
                let id = v["event_id"].as_str().unwrap_or_default().to_owned();
                match v["status"].as_str() {
                    Some("accepted") => stats.accepted.fetch_add(1, Ordering::Relaxed),
                    _ => stats.duplicate.fetch_add(1, Ordering::Relaxed),
                };
                if id != d.event_id {
                    return Err(format!("200 with event id {id}, expected {}", d.event_id));
                }
                return Ok(id);
            }
            Answer::Status(s, v) => {
                return Err(format!("{}: answered {s} {v}", d.event_id));
            }
        }
    }
}

#[test]
fn kill_dash_nine_under_load_loses_nothing() {
    let test_started = Instant::now();
    let data_dir = std::env::temp_dir().join(format!("payhook-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data_dir);
    let mut rng = Rng::new();
    eprintln!("crash test seed: {:#x}", rng.0);

    let mut server = Server { child: None };
    // Forwarding runs all along: every event must reach the merchant's
    // endpoint (verified there by the Standard Webhooks library) despite
    // the kills; a kill in the middle of an attempt makes it again.
    let consumer = Consumer::start(FORWARD_SECRET, &[]);
    let forward = consumer.settings(FORWARD_SECRET);
    let first = start(&data_dir, "127.0.0.1:0", &mut server, &forward)
        .unwrap_or_else(|| panic!("payhook serve did not start"));
    let addr = Arc::new(RwLock::new(first.clone()));

    let templates = Arc::new(Templates::from_dev_secrets(&data_dir));

    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(Stats::default());
    // event id → number of 200s it got (one per delivery).
    let acked: Arc<Mutex<HashMap<String, u32>>> = Arc::new(Mutex::new(HashMap::new()));
    let errors: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let tag = format!("{:x}", rng.next());
    let senders: Vec<_> = (0..SENDERS)
        .map(|t| {
            let (addr, stop, stats, acked, errors, templates) = (
                addr.clone(),
                stop.clone(),
                stats.clone(),
                acked.clone(),
                errors.clone(),
                templates.clone(),
            );
            let tag = format!("{tag}-{t}");
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let d = templates.delivery(n, &tag);
                    n += 1;
                    match deliver(&d, &addr, &stats) {
                        Ok(id) => {
                            if let Ok(mut m) = acked.lock() {
                                *m.entry(id).or_default() += 1;
                            }
                        }
                        Err(e) => {
                            if let Ok(mut v) = errors.lock() {
                                v.push(e);
                            }
                            return;
                        }
                    }
                    std::thread::sleep(Duration::from_millis(3));
                }
            })
        })
        .collect();

    // Kill at random moments, restart on the same data dir.
    let mut kills = 0;
    let mut port_changes = 0;
    while kills < KILLS {
        std::thread::sleep(Duration::from_millis(rng.range(150, 700)));
        server.kill();
        kills += 1;
        // Down for a random while too: deliveries meanwhile get no answer.
        std::thread::sleep(Duration::from_millis(rng.range(0, 150)));
        let same = addr.read().map(|a| a.clone()).unwrap_or_default();
        let new = match start(&data_dir, &same, &mut server, &forward) {
            Some(a) => a,
            None => {
                port_changes += 1;
                start(&data_dir, "127.0.0.1:0", &mut server, &forward)
                    .unwrap_or_else(|| panic!("payhook serve did not restart"))
            }
        };
        if let Ok(mut a) = addr.write() {
            *a = new;
        }
        assert!(
            errors.lock().map(|e| e.is_empty()).unwrap_or(false),
            "{:?}",
            errors.lock().map(|e| e.clone())
        );
    }

    // Let the last, unkilled server answer every delivery still in flight.
    stop.store(true, Ordering::Relaxed);
    for s in senders {
        let _ = s.join();
    }
    let errors = errors.lock().map(|e| e.clone()).unwrap_or_default();
    assert!(errors.is_empty(), "deliveries failed: {errors:?}");
    let acked = acked.lock().map(|m| m.clone()).unwrap_or_default();

    // Give the sweeper (1 s lease, 1 s interval, 1 s grace) time to publish
    // what was recorded but not published when the server died.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let db = data_dir.join("payhook.db");
    let sweep_deadline = Instant::now() + Duration::from_secs(15);
    let mut recorded_at_stop = None;
    loop {
        let store = SqliteStore::open(&db).unwrap_or_else(|e| panic!("open store: {e}"));
        let events = rt
            .block_on(store.list_events(&EventFilter::default()))
            .unwrap_or_else(|e| panic!("list events: {e}"));
        drop(store);
        let recorded = events
            .iter()
            .filter(|e| e.state == EventState::Recorded)
            .count();
        recorded_at_stop.get_or_insert(recorded);
        if recorded == 0 || Instant::now() > sweep_deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    // And forwarding time to deliver what is still pending (at most a few
    // seconds: the consumer always answers 200, the schedule is short).
    let forward_deadline = Instant::now() + Duration::from_secs(30);
    let undelivered = |log: &[serde_json::Value]| -> Vec<String> {
        let delivered: std::collections::HashSet<&str> = log
            .iter()
            .filter(|e| e["verified"] == true && e["answered"] == 200)
            .filter_map(|e| e["id"].as_str())
            .collect();
        acked
            .keys()
            .filter(|id| !delivered.contains(id.as_str()))
            .cloned()
            .collect()
    };
    while !undelivered(&consumer.log()).is_empty() && Instant::now() < forward_deadline {
        std::thread::sleep(Duration::from_millis(250));
    }
    server.kill();

    // The verdict, on the file as the last kill left it.
    let store = SqliteStore::open(&db).unwrap_or_else(|e| panic!("open store: {e}"));
    let outbox = SqliteOutbox::new(&store);
    let events = rt
        .block_on(store.list_events(&EventFilter::default()))
        .unwrap_or_else(|e| panic!("list events: {e}"));
    let rows = rt
        .block_on(outbox.list(&OutboxFilter::default()))
        .unwrap_or_else(|e| panic!("list outbox: {e}"));
    let mut published: HashMap<&str, usize> = HashMap::new();
    for r in rows.iter().filter(|r| !r.replay) {
        *published.entry(r.event_id.as_str()).or_default() += 1;
    }
    let stored: HashMap<&str, EventState> = events
        .iter()
        .map(|e| (e.event_id.as_str(), e.state))
        .collect();

    let s = &*stats;
    eprintln!(
        "crash test: {kills} kills ({port_changes} port changes), {} deliveries acknowledged \
         ({} accepted, {} duplicate), {} attempts without answer, {} 503s, {} events stored, \
         {} outbox rows, {} left `recorded` when the load stopped (for the sweeper), {:?}",
        acked.len(),
        s.accepted.load(Ordering::Relaxed),
        s.duplicate.load(Ordering::Relaxed),
        s.no_answer.load(Ordering::Relaxed),
        s.unavailable.load(Ordering::Relaxed),
        events.len(),
        rows.len(),
        recorded_at_stop.unwrap_or(0),
        test_started.elapsed(),
    );
    assert!(kills >= 20);
    assert!(
        acked.len() >= 100,
        "too little traffic to mean anything: {}",
        acked.len()
    );
    assert!(
        s.no_answer.load(Ordering::Relaxed) > 0,
        "no delivery was ever cut off by a kill: the test did not test anything"
    );
    let mut lost = Vec::new();
    for (id, n) in &acked {
        assert_eq!(*n, 1, "{id}: one distinct delivery acknowledged {n} times");
        match stored.get(id.as_str()) {
            None => lost.push(format!("{id}: answered 200 but not in the store")),
            Some(EventState::Recorded) => {
                lost.push(format!("{id}: answered 200 but still `recorded`"))
            }
            Some(EventState::Published) => {}
        }
        match published.get(id.as_str()) {
            Some(1) => {}
            Some(n) => lost.push(format!("{id}: in the outbox {n} times")),
            None => lost.push(format!("{id}: answered 200 but never published")),
        }
    }
    assert!(lost.is_empty(), "{} problems: {lost:#?}", lost.len());
    // Forwarding: every acknowledged event reached the endpoint, verified by
    // the Standard Webhooks library, with its event id as webhook-id and as
    // the body's event_id; nothing else was forwarded; nothing unverifiable.
    let log = consumer.log();
    let missing = undelivered(&log);
    assert!(
        missing.is_empty(),
        "{} events never forwarded: {:?}",
        missing.len(),
        missing.iter().take(10).collect::<Vec<_>>()
    );
    let unverified: Vec<_> = log.iter().filter(|e| e["verified"] != true).collect();
    assert!(
        unverified.is_empty(),
        "deliveries the library refused: {unverified:?}"
    );
    let strangers: Vec<_> = log
        .iter()
        .filter(|e| {
            let id = e["id"].as_str().unwrap_or_default();
            !acked.contains_key(id) || e["event_id"] != id
        })
        .collect();
    assert!(
        strangers.is_empty(),
        "forwarded but not acknowledged: {strangers:?}"
    );
    eprintln!(
        "crash test: {} forwarding attempts for {} events (at-least-once: {} repeated)",
        log.len(),
        acked.len(),
        log.len().saturating_sub(acked.len())
    );
    let left: Vec<_> = events
        .iter()
        .filter(|e| e.state == EventState::Recorded)
        .map(|e| e.event_id.clone())
        .collect();
    assert!(left.is_empty(), "events left `recorded`: {left:?}");
    let twice: Vec<_> = published.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "published more than once: {twice:?}");
    // Nothing stored or published that no delivery stands for.
    assert_eq!(stored.len(), acked.len(), "stored events vs deliveries");
    assert_eq!(
        published.len(),
        acked.len(),
        "published events vs deliveries"
    );
    assert!(
        test_started.elapsed() < TEST_BUDGET,
        "took {:?}",
        test_started.elapsed()
    );
    drop(outbox);
    drop(store);
    let _ = std::fs::remove_dir_all(&data_dir);
}

/// Overload: far more concurrent deliveries than `--max-in-flight` lets in.
/// With no wait in line (`--queue-ms 0`) the excess is shed at once with
/// 503 (the provider retries), memory stays bounded, and every delivery is
/// accepted in the end, stored and published exactly once.
#[test]
fn overload_is_shed_with_503_and_loses_nothing() {
    let shed = overload("0");
    assert!(
        shed > 0,
        "nothing was shed: the in-flight limit was never reached"
    );
}

/// The same burst with a wait in line (`--queue-ms`, default 500): 24× the
/// in-flight limit waits for a slot instead of being refused — no 503, no
/// retry traffic — and the same guarantees hold.
#[test]
fn a_burst_waits_in_line_instead_of_being_refused() {
    let shed = overload("5000");
    assert_eq!(
        shed, 0,
        "requests were shed although the line was long enough"
    );
}

/// 48 threads × 12 distinct deliveries against `--max-in-flight 2` with
/// `--queue-ms queue_ms`; every delivery accepted, published exactly once,
/// memory bounded. Returns how many answers were 503.
fn overload(queue_ms: &str) -> u64 {
    const THREADS: u64 = 48;
    const PER_THREAD: u64 = 12;
    let data_dir = std::env::temp_dir().join(format!(
        "payhook-overload-{queue_ms}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&data_dir);
    let mut server = Server { child: None };
    let addr = start_with(
        &data_dir,
        "127.0.0.1:0",
        &mut server,
        &["--max-in-flight", "2", "--queue-ms", queue_ms],
        &[],
    )
    .unwrap_or_else(|| panic!("payhook serve did not start"));
    let pid = server.child.as_ref().map(|c| c.id()).unwrap_or_default();
    let addr = Arc::new(RwLock::new(addr));
    let templates = Arc::new(Templates::from_dev_secrets(&data_dir));
    let stats = Arc::new(Stats::default());
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (addr, stats, templates) = (addr.clone(), stats.clone(), templates.clone());
            std::thread::spawn(move || {
                (0..PER_THREAD)
                    .map(|n| {
                        deliver(
                            &templates.delivery(n, &format!("overload-{t}")),
                            &addr,
                            &stats,
                        )
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut acked = Vec::new();
    for t in threads {
        for r in t.join().unwrap_or_else(|_| panic!("sender panicked")) {
            acked.push(r.unwrap_or_else(|e| panic!("{e}")));
        }
    }
    let shed = stats.unavailable.load(Ordering::Relaxed);
    assert_eq!(acked.len() as u64, THREADS * PER_THREAD);
    let hwm_kib = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("VmHWM:")
                .map(|v| v.trim().trim_end_matches(" kB").trim().to_owned())
        })
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no VmHWM for pid {pid}"));
    assert!(
        hwm_kib < 150 * 1024,
        "serve grew to {hwm_kib} KiB under overload"
    );
    server.kill();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let store = SqliteStore::open(&data_dir.join("payhook.db")).unwrap_or_else(|e| panic!("{e}"));
    let outbox = SqliteOutbox::new(&store);
    let rows = rt
        .block_on(outbox.list(&OutboxFilter::default()))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut published: HashMap<String, u32> = HashMap::new();
    for r in rows.iter().filter(|r| !r.replay) {
        *published.entry(r.event_id.clone()).or_default() += 1;
    }
    for id in &acked {
        assert_eq!(
            published.get(id),
            Some(&1),
            "{id} not published exactly once"
        );
    }
    eprintln!(
        "overload (queue {queue_ms} ms): {} deliveries accepted, {shed} answers 503, max RSS {} KiB",
        acked.len(),
        hwm_kib
    );
    let _ = std::fs::remove_dir_all(&data_dir);
    shed
}

/// Start-up safety: `payhook serve` with an empty secret entry refuses to
/// start (non-zero exit, message naming the setting) instead of serving
/// with an empty secret or falling back to generated development secrets.
#[test]
fn serve_refuses_an_empty_secret_entry() {
    for (name, value) in [
        ("PAYHOOK_KOYWE_SECRETS", ","),
        ("PAYHOOK_KOYWE_SECRETS", "good-secret,,older"),
        ("PAYHOOK_THIRDWEB_SECRETS", " , "),
        ("PAYHOOK_ONEBUY_TOKENS", "tok,"),
        ("PAYHOOK_EIGHTPAY_API_KEYS", "bsc="),
    ] {
        let data_dir = std::env::temp_dir().join(format!(
            "payhook-empty-secret-{}-{}",
            std::process::id(),
            name.len() + value.len()
        ));
        let _ = std::fs::remove_dir_all(&data_dir);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_payhook"));
        cmd.current_dir(repo()).arg("--data-dir").arg(&data_dir);
        for k in payhook::config::setting_names() {
            cmd.env_remove(k);
        }
        let mut child = cmd
            .env_remove("PAYHOOK_BACKEND")
            .env_remove("PAYHOOK_LISTEN")
            .env(name, value)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn payhook serve: {e}"));
        // Bounded: a server that did start is killed after 10 s.
        let started = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break Some(s),
                Ok(None) if started.elapsed() < Duration::from_secs(10) => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
            }
        };
        let mut out = String::new();
        let mut err = String::new();
        if let Some(mut s) = child.stdout.take() {
            let _ = s.read_to_string(&mut out);
        }
        if let Some(mut s) = child.stderr.take() {
            let _ = s.read_to_string(&mut err);
        }
        let status = status.unwrap_or_else(|| {
            panic!("{name}={value:?}: payhook serve started and kept running:\n{out}")
        });
        assert!(!status.success(), "{name}={value:?}: exited 0");
        assert!(
            err.contains(name),
            "{name}={value:?}: the error does not name the setting: {err}"
        );
        assert!(
            !out.contains("listening on"),
            "{name}={value:?}: it listened:\n{out}"
        );
        assert!(
            !data_dir.join("dev-secrets.env").exists(),
            "{name}={value:?}: fell back to development secrets"
        );
        let _ = std::fs::remove_dir_all(&data_dir);
    }
}
