//! HTTPS (issue 14, item 3): `payhook serve` with `PAYHOOK_TLS_CERT` /
//! `PAYHOOK_TLS_KEY`, reached with a real TLS client (curl, OpenSSL) that
//! trusts only a CA made in the test (with the `openssl` command): HTTP/2 and HTTP/1.1, a signed webhook
//! accepted over HTTPS, the certificate reloaded on SIGHUP and on a file
//! change (a broken replacement keeps the old one), and pairs that cannot
//! serve refused at start-up naming the setting.

use crate::common::{dev_secrets, payhook, serve_with};
use payhook::ProviderId;
use payhook::providers;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A CA and a `localhost` leaf it signed, as PEM files in `dir/<name>-*`.
struct Pki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

/// Made with the `openssl` command (a P-256 CA, and a leaf for
/// `localhost` with serverAuth it signed).
fn pki(dir: &Path, name: &str) -> Pki {
    let f = |suffix: &str| dir.join(format!("{name}-{suffix}"));
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap_or_else(|e| panic!("openssl (apt-get install openssl) is needed: {e}"));
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ext = f("leaf.ext");
    std::fs::write(
        &ext,
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let p = Pki {
        ca: f("ca.pem"),
        cert: f("cert.pem"),
        key: f("key.pem"),
    };
    let (ca_key, csr) = (f("ca.key"), f("leaf.csr"));
    let s = |p: &Path| p.display().to_string();
    let cn = format!("/CN=payhook test CA {name}");
    run(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        &s(&ca_key),
        "-out",
        &s(&p.ca),
        "-days",
        "2",
        "-subj",
        &cn,
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    run(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        &s(&p.key),
        "-out",
        &s(&csr),
        "-subj",
        "/CN=localhost",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        &s(&csr),
        "-CA",
        &s(&p.ca),
        "-CAkey",
        &s(&ca_key),
        "-CAcreateserial",
        "-out",
        &s(&p.cert),
        "-days",
        "2",
        "-extfile",
        &s(&ext),
    ]);
    p
}

/// What curl got: its exit code, the body and the HTTP version.
struct Got {
    code: i32,
    body: String,
    version: String,
}

/// curl `https://localhost:PORT{path}` trusting only `ca`.
fn curl(port: u16, ca: &Path, path: &str, extra: &[&str]) -> Got {
    let out = Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "5"])
        .arg("--cacert")
        .arg(ca)
        .args(["--resolve", &format!("localhost:{port}:127.0.0.1")])
        .args(["--write-out", "\n%{http_version}"])
        .args(extra)
        .arg(format!("https://localhost:{port}{path}"))
        .output()
        .unwrap_or_else(|e| panic!("curl (apt-get install curl) is needed: {e}"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, version) = text.rsplit_once('\n').unwrap_or((&text, ""));
    Got {
        code: out.status.code().unwrap_or(-1),
        body: body.to_owned(),
        version: version.to_owned(),
    }
}

fn port_of(url: &str) -> u16 {
    url.rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {url}"))
}

/// Install `p`'s certificate and key as the served files.
fn install(p: &Pki, served: &Pki) {
    std::fs::copy(&p.key, &served.key).unwrap_or_else(|e| panic!("{e}"));
    std::fs::copy(&p.cert, &served.cert).unwrap_or_else(|e| panic!("{e}"));
}

fn eventually(what: &str, f: impl Fn() -> bool) {
    let end = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < end, "{what}: not within 10 s");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn https_with_http2_and_reload_without_restart() {
    let dir = std::env::temp_dir().join(format!("payhook-tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let one = pki(&dir, "one");
    let served = Pki {
        ca: one.ca.clone(),
        cert: dir.join("served-cert.pem"),
        key: dir.join("served-key.pem"),
    };
    install(&one, &served);
    let data = dir.join("data");
    let mut cmd = payhook(&data);
    cmd.env("PAYHOOK_TLS_CERT", &served.cert)
        .env("PAYHOOK_TLS_KEY", &served.key);
    let (server, url, banner) = serve_with(cmd);
    assert!(url.starts_with("https://127.0.0.1:"), "{banner}");
    let port = port_of(&url);

    let h2 = curl(port, &one.ca, "/healthz", &["--http2"]);
    assert_eq!(
        (h2.code, h2.body.as_str(), h2.version.as_str()),
        (0, "ok", "2")
    );
    let h1 = curl(port, &one.ca, "/healthz", &["--http1.1"]);
    assert_eq!(
        (h1.code, h1.body.as_str(), h1.version.as_str()),
        (0, "ok", "1.1")
    );
    // Trusting the system's roots only, the test CA's certificate fails.
    let system = Command::new("curl")
        .args(["--silent", "--max-time", "5", "--resolve"])
        .arg(format!("localhost:{port}:127.0.0.1"))
        .arg(format!("https://localhost:{port}/healthz"))
        .status()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        system.code(),
        Some(60),
        "curl trusted a certificate it should not"
    );
    // Plain HTTP on the TLS port gets no answer.
    let plain = Command::new("curl")
        .args(["--silent", "--max-time", "5"])
        .arg(format!("http://127.0.0.1:{port}/healthz"))
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!String::from_utf8_lossy(&plain.stdout).contains("ok"));

    // A signed webhook over HTTPS (HTTP/2).
    let secrets = dev_secrets(&data);
    let cfg =
        payhook::Config::from_lookup(|k| secrets.get(k).cloned()).unwrap_or_else(|e| panic!("{e}"));
    let koywe = providers::build(ProviderId::KOYWE, &cfg).unwrap_or_else(|e| panic!("{e}"));
    let body = br#"{"eventName":"payment_created","orderId":"tls-1","timeStamp":"2026-01-01T00:00:00.000Z"}"#;
    let signed = koywe
        .sign(body, time::OffsetDateTime::now_utc())
        .unwrap_or_else(|e| panic!("{e}"));
    let body_file = dir.join("body.json");
    std::fs::write(&body_file, &signed.body).unwrap_or_else(|e| panic!("{e}"));
    let mut args: Vec<String> = vec!["--http2".into(), "--data-binary".into()];
    args.push(format!("@{}", body_file.display()));
    args.push("-H".into());
    args.push("content-type: application/json".into());
    for (k, v) in &signed.headers {
        args.push("-H".into());
        args.push(format!("{k}: {v}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let posted = curl(port, &one.ca, koywe.route(), &args);
    assert_eq!(posted.version, "2");
    let v: serde_json::Value =
        serde_json::from_str(&posted.body).unwrap_or_else(|e| panic!("{e}: {}", posted.body));
    assert_eq!(v["status"], "accepted", "{v}");

    // SIGHUP: a new pair, from another CA, is served without a restart.
    let two = pki(&dir, "two");
    install(&two, &served);
    let hup = Command::new("kill")
        .args(["-HUP", &server.0.id().to_string()])
        .status()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(hup.success());
    eventually("reload on SIGHUP", || {
        curl(port, &two.ca, "/healthz", &[]).body == "ok"
    });
    assert_ne!(
        curl(port, &one.ca, "/healthz", &[]).code,
        0,
        "old certificate still served"
    );

    // A broken replacement is refused; the current pair stays.
    std::fs::write(&served.cert, "not a certificate").unwrap_or_else(|e| panic!("{e}"));
    let hup = Command::new("kill")
        .args(["-HUP", &server.0.id().to_string()])
        .status()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(hup.success());
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(curl(port, &two.ca, "/healthz", &[]).body, "ok");

    // A change of the files alone (what certbot does) is picked up too.
    let three = pki(&dir, "three");
    install(&three, &served);
    eventually("reload on change", || {
        curl(port, &three.ca, "/healthz", &[]).body == "ok"
    });
    assert!(server.0.id() > 0);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// TLS settings of one start-up attempt.
type Settings<'a> = Vec<(&'static str, &'a Path)>;

#[test]
fn pairs_that_cannot_serve_stop_start_up_naming_the_setting() {
    let dir = std::env::temp_dir().join(format!("payhook-tls-bad-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let one = pki(&dir, "one");
    let two = pki(&dir, "two");
    let missing = dir.join("missing.pem");
    let cases: Vec<(&str, Settings, &str)> = vec![
        (
            "cert only",
            vec![("PAYHOOK_TLS_CERT", &one.cert)],
            "PAYHOOK_TLS_KEY",
        ),
        (
            "key only",
            vec![("PAYHOOK_TLS_KEY", &one.key)],
            "PAYHOOK_TLS_CERT",
        ),
        (
            "missing cert file",
            vec![
                ("PAYHOOK_TLS_CERT", &missing),
                ("PAYHOOK_TLS_KEY", &one.key),
            ],
            "PAYHOOK_TLS_CERT",
        ),
        (
            "key of another certificate",
            vec![
                ("PAYHOOK_TLS_CERT", &one.cert),
                ("PAYHOOK_TLS_KEY", &two.key),
            ],
            "PAYHOOK_TLS_CERT",
        ),
        (
            "certificate as key",
            vec![
                ("PAYHOOK_TLS_CERT", &one.cert),
                ("PAYHOOK_TLS_KEY", &one.cert),
            ],
            "PAYHOOK_TLS_KEY",
        ),
    ];
    let key_text = std::fs::read_to_string(&two.key).unwrap_or_default();
    for (what, env, setting) in cases {
        let mut cmd = payhook(&dir.join("data"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd
            .args(["serve", "--listen", "127.0.0.1:0"])
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{what}: serve started");
        assert!(err.contains(setting), "{what}: {err}");
        let key_line = key_text.lines().nth(1).unwrap_or("x");
        assert!(!err.contains(key_line), "{what}: key material in the error");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_tls_settings_are_documented() {
    let readme = std::fs::read_to_string(crate::common::repo().join("README.md"))
        .unwrap_or_else(|e| panic!("{e}"));
    for s in ["`PAYHOOK_TLS_CERT`", "`PAYHOOK_TLS_KEY`"] {
        assert!(readme.contains(s), "README.md does not document {s}");
    }
}
