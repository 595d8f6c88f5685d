//! Slow clients cannot starve honest ones: with `--max-in-flight 4`, 32
//! connections that send their headers and then trickle their body hold no
//! in-flight slot (the body is read before a slot is taken), so a signed
//! Koywe delivery sent meanwhile is accepted while they are all still
//! waiting; and a trickling client is answered 408 once the body deadline
//! passes.

use crate::common::{payhook, serve_with};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

fn data_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("payhook-slow-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn server(dir: &Path, body_timeout_secs: &str) -> (crate::common::Server, String) {
    let mut cmd = payhook(dir);
    cmd.env("PAYHOOK_MAX_IN_FLIGHT", "4")
        .env("PAYHOOK_BODY_TIMEOUT_SECS", body_timeout_secs);
    let (server, url, _) = serve_with(cmd);
    (server, url)
}

/// A connection that sent its headers (a 1000-byte body announced) and the
/// first two bytes of its body.
fn trickling(addr: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect: {e}"));
    let head = format!(
        "POST /webhooks/koywe HTTP/1.1\r\nHost: {addr}\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{{"
    );
    s.write_all(head.as_bytes())
        .unwrap_or_else(|e| panic!("write: {e}"));
    s.write_all(b" ").unwrap_or_else(|e| panic!("write: {e}"));
    s
}

#[test]
fn trickling_bodies_hold_no_slot() {
    let dir = data_dir("slots");
    let (server, url) = server(&dir, "60");
    let addr = url.trim_start_matches("http://").to_owned();
    let mut slow: Vec<TcpStream> = (0..32).map(|_| trickling(&addr)).collect();

    let out = payhook(&dir)
        .args(["send", "events/koywe/sample.json", "--url", &url])
        .output()
        .unwrap_or_else(|e| panic!("send: {e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(" 200 ") && text.contains("accepted"),
        "honest delivery starved by 32 slow clients (4 slots): {text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The slow clients were still mid-body, unanswered, when it got in.
    for (i, s) in slow.iter_mut().enumerate() {
        s.set_nonblocking(true).unwrap_or_else(|e| panic!("{e}"));
        let mut buf = [0u8; 64];
        match s.read(&mut buf) {
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            other => panic!("slow client {i} was answered early: {other:?}"),
        }
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_body_that_does_not_arrive_in_time_is_a_408() {
    let dir = data_dir("deadline");
    let (server, url) = server(&dir, "1");
    let addr = url.trim_start_matches("http://").to_owned();
    let mut s = trickling(&addr);
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    assert!(text.starts_with("HTTP/1.1 408"), "{text:?}");
    assert!(text.contains("body not received in time"), "{text:?}");
    // Nothing was stored.
    drop(server);
    let out = payhook(&dir)
        .args(["events", "--json"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Start a server with extra settings.
fn server_with(dir: &Path, env: &[(&str, &str)]) -> (crate::common::Server, String) {
    let mut cmd = payhook(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let (server, url, _) = serve_with(cmd);
    (server, url)
}

/// Read until the server closes `s`; `Ok` with what it sent, `Err` when it
/// kept the connection open for `limit`.
fn until_closed(s: &mut TcpStream, limit: Duration) -> Result<Vec<u8>, std::io::Error> {
    s.set_read_timeout(Some(limit))?;
    let mut buf = Vec::new();
    match s.read_to_end(&mut buf) {
        Ok(_) => Ok(buf),
        Err(e) if e.kind() == ErrorKind::ConnectionReset => Ok(buf),
        Err(e) => Err(e),
    }
}

fn honest_delivery_is_accepted(dir: &Path, url: &str) {
    let out = payhook(dir)
        .args(["send", "events/koywe/sample.json", "--url", url])
        .output()
        .unwrap_or_else(|e| panic!("send: {e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(" 200 ") && text.contains("accepted"),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn headers_that_never_finish_are_closed() {
    let dir = data_dir("headers");
    let (server, url) = server_with(&dir, &[("PAYHOOK_HEADER_TIMEOUT_SECS", "1")]);
    let addr = url.trim_start_matches("http://").to_owned();
    let mut slow: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut s = TcpStream::connect(&addr).unwrap_or_else(|e| panic!("connect: {e}"));
            s.write_all(b"POST /webhooks/koywe HTTP/1.1\r\nHost: x\r\n")
                .unwrap_or_else(|e| panic!("write: {e}"));
            s
        })
        .collect();
    for (i, s) in slow.iter_mut().enumerate() {
        let r = until_closed(s, Duration::from_secs(20));
        assert!(
            r.is_ok(),
            "connection {i} with unfinished headers kept open: {r:?}"
        );
    }
    honest_delivery_is_accepted(&dir, &url);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn connections_over_the_cap_are_closed_at_once() {
    let dir = data_dir("cap");
    let (server, url) = server_with(
        &dir,
        &[
            ("PAYHOOK_MAX_CONNECTIONS", "8"),
            ("PAYHOOK_HEADER_TIMEOUT_SECS", "60"),
        ],
    );
    let addr = url.trim_start_matches("http://").to_owned();
    let idle: Vec<TcpStream> = (0..8)
        .map(|_| TcpStream::connect(&addr).unwrap_or_else(|e| panic!("connect: {e}")))
        .collect();
    // Let the server accept all eight before the ninth arrives.
    std::thread::sleep(Duration::from_millis(300));
    let mut ninth = TcpStream::connect(&addr).unwrap_or_else(|e| panic!("connect: {e}"));
    let _ = ninth.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    let got = until_closed(&mut ninth, Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("the ninth connection was kept open: {e}"));
    assert!(
        got.is_empty(),
        "the ninth connection was served: {:?}",
        String::from_utf8_lossy(&got)
    );
    // Once the idle ones go, honest deliveries get in again.
    drop(idle);
    std::thread::sleep(Duration::from_millis(300));
    honest_delivery_is_accepted(&dir, &url);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The scene at its size: 600 slow connections against the default
/// deadlines (10 s for headers and for a body) and `--max-in-flight 64`,
/// half never finishing their headers, half trickling a body one byte every
/// 2 s. Honest signed deliveries sent meanwhile are accepted (their
/// latency is printed; BENCHMARKS.md keeps the figure), and every slow
/// connection is closed by the server within 30 s.
#[test]
fn six_hundred_slow_connections_starve_no_one_and_are_closed() {
    let dir = data_dir("six-hundred");
    let (server, url) = server_with(&dir, &[("PAYHOOK_MAX_IN_FLIGHT", "64")]);
    let addr = url.trim_start_matches("http://").to_owned();
    let started = std::time::Instant::now();
    let mut slow: Vec<TcpStream> = (0..600)
        .map(|i| {
            if i % 2 == 0 {
                let mut s = TcpStream::connect(&addr).unwrap_or_else(|e| panic!("connect: {e}"));
                s.write_all(b"POST /webhooks/koywe HTTP/1.1\r\nHost: x\r\n")
                    .unwrap_or_else(|e| panic!("write: {e}"));
                s
            } else {
                trickling(&addr)
            }
        })
        .collect();
    // Trickle one byte every 2 s on the body connections, from one thread,
    // until each is closed.
    let trickle: Vec<TcpStream> = slow
        .iter()
        .skip(1)
        .step_by(2)
        .filter_map(|s| s.try_clone().ok())
        .collect();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopper = stop.clone();
    let trickler = std::thread::spawn(move || {
        let mut trickle = trickle;
        while !stopper.load(std::sync::atomic::Ordering::Relaxed) && !trickle.is_empty() {
            trickle.retain_mut(|s| s.write_all(b" ").is_ok());
            std::thread::sleep(Duration::from_secs(2));
        }
    });
    let mut latencies = Vec::new();
    for i in 0..5 {
        let t = std::time::Instant::now();
        if i == 0 {
            honest_delivery_is_accepted(&dir, &url);
        } else {
            // The same sample again: answered, as a duplicate.
            let out = payhook(&dir)
                .args(["send", "events/koywe/sample.json", "--url", &url])
                .output()
                .unwrap_or_else(|e| panic!("send: {e}"));
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                text.contains(" 200 ") && text.contains("duplicate"),
                "{text}"
            );
        }
        latencies.push(t.elapsed());
    }
    eprintln!(
        "600 slow connections: honest deliveries (payhook send, process start included) took {latencies:?}"
    );
    for (i, s) in slow.iter_mut().enumerate() {
        let left = Duration::from_secs(30).saturating_sub(started.elapsed());
        let r = until_closed(s, left.max(Duration::from_millis(1)));
        assert!(
            r.is_ok(),
            "slow connection {i} still open after 30 s: {r:?}"
        );
    }
    eprintln!("600 slow connections closed after {:?}", started.elapsed());
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = trickler.join();
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// An idle keep-alive connection (one request answered, then nothing) is
/// closed once the header deadline passes: idle connections cannot pile up.
#[test]
fn idle_keep_alive_connections_are_closed() {
    let dir = data_dir("idle");
    let (server, url) = server_with(&dir, &[("PAYHOOK_HEADER_TIMEOUT_SECS", "1")]);
    let addr = url.trim_start_matches("http://").to_owned();
    let mut s = TcpStream::connect(&addr).unwrap_or_else(|e| panic!("connect: {e}"));
    s.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .unwrap_or_else(|e| panic!("write: {e}"));
    // The answer to the first request, on a connection kept alive.
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut first = [0u8; 512];
    let n = s.read(&mut first).unwrap_or_else(|e| panic!("read: {e}"));
    let head = String::from_utf8_lossy(&first[..n]).into_owned();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        !head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    let started = std::time::Instant::now();
    let rest = until_closed(&mut s, Duration::from_secs(20));
    assert!(
        rest.is_ok(),
        "an idle keep-alive connection was kept open: {rest:?}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "closed before it was idle for the deadline ({:?})",
        started.elapsed()
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
