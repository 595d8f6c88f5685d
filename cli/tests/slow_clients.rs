//! Slow clients cannot starve honest ones: with `--max-in-flight 4`, 32
//! connections that send their headers and then trickle their body hold no
//! in-flight slot (the body is read before a slot is taken), so a signed
//! Koywe delivery sent meanwhile is accepted while they are all still
//! waiting; and a trickling client is answered 408 once the body deadline
//! passes.

mod common;

use common::{payhook, serve_with};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

fn data_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("payhook-slow-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn server(dir: &Path, body_timeout_secs: &str) -> (common::Server, String) {
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
