//! The console (`/console` of `payhook serve`) driven in Debian's headless
//! chromium through chromedriver (WebDriver, `webdriver.rs`): log
//! in, watch events arrive after `payhook send`, filter, open an event
//! (personal data masked, then revealed), its order's timeline, replay it
//! and see the replay reach the merchant's endpoint, retry deliveries,
//! block and allow a user (and the Koywe callback obeying it), the refused
//! requests and unknown events; and, over plain HTTP, that nothing is shown
//! or changed without the token, a session's CSRF token and the console's
//! own origin. Every screenshot is checked against its page's text.
// A test: a failed step should stop it with the step's error.
#![allow(clippy::unwrap_used)]

use crate::common::{
    Consumer, FORWARD_SECRET, dev_secrets, first_valid_sample, payhook, repo, serve_with,
};
use crate::forward::{koywe, send};
use crate::webdriver::{Client, Locator};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "console-test-token-7f3a9c1e5b";

fn data_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("payhook-console-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// One HTTP/1.1 exchange: status, headers (lowercase names), body.
pub(crate) struct Got {
    pub status: u16,
    headers: Vec<(String, String)>,
    pub body: String,
}

impl Got {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

pub(crate) fn http(
    url: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Got {
    let addr = url.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("content-length: {}\r\n\r\n{body}", body.len()));
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Got {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// chromedriver on a free port, in a process group of its own: dropped (also
/// when a step fails), the whole group goes, the chromium it started too.
struct Driver(Child, u16);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", &format!("-{}", self.0.id())])
            .status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn which(tool: &str) -> PathBuf {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{tool} not found: scripts/test.sh installs it (apt-get install chromium chromium-driver)"
            )
        })
}

fn driver() -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap();
    use std::os::unix::process::CommandExt as _;
    let child = Command::new(which("chromedriver"))
        .arg(format!("--port={port}"))
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start chromedriver: {e}"));
    let end = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < end, "chromedriver did not listen");
        std::thread::sleep(Duration::from_millis(100));
    }
    Driver(child, port)
}

async fn browser(d: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), "chrome".into());
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": which("chromium"),
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1360,900", "--no-first-run", "--disable-extensions"],
        }),
    );
    Client::connect(
        &format!("http://127.0.0.1:{}", d.1),
        serde_json::Value::Object(caps),
    )
    .await
    .unwrap_or_else(|e| panic!("WebDriver session: {e}"))
}

/// The page's visible text (read in one script run: the live list may
/// swap its rows between two WebDriver calls; a page still loading is
/// asked again).
async fn text(c: &Client) -> String {
    for _ in 0..50 {
        if let Ok(v) = c
            .execute(
                "return document.body ? document.body.innerText : null",
                vec![],
            )
            .await
            && let Some(s) = v.as_str()
        {
            return s.to_owned();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no page text")
}

/// Wait up to `within` for the page's text to satisfy `f`; its text then.
async fn until_text(c: &Client, within: Duration, f: impl Fn(&str) -> bool) -> String {
    let end = Instant::now() + within;
    loop {
        let t = text(c).await;
        if f(&t) || Instant::now() > end {
            return t;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A screenshot of the page: a PNG, written next to the test's other files;
/// the page's text must hold every `expect` when it is taken (waited for up
/// to 10 s: after a click the next page may still be loading).
async fn shot(c: &Client, name: &str, expect: &[&str]) -> PathBuf {
    let t = until_text(c, Duration::from_secs(10), |t| {
        expect.iter().all(|e| t.contains(e))
    })
    .await;
    for e in expect {
        assert!(t.contains(e), "{name}: {e:?} not on the page:\n{t}");
    }
    let png = c.screenshot().await.unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{name}: not a PNG");
    assert!(
        png.len() > 10_000,
        "{name}: a {} byte screenshot is blank",
        png.len()
    );
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, &png).unwrap();
    path
}

/// The provider column of the event rows of `table`.
async fn rows(c: &Client, table: &str) -> Vec<String> {
    let script = format!(
        "return Array.from(document.querySelectorAll(\"{table} tbody tr[data-event] td:nth-child(2)\")).map(td => td.innerText)"
    );
    let v = c.execute(&script, vec![]).await.unwrap();
    serde_json::from_value(v).unwrap()
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
}

fn payhook_send(dir: &Path, url: &str, file: &str) {
    let out = payhook(dir)
        .args(["send", file, "--url", url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "payhook send {file}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The checkout sample's customer, as sent (its JSON body).
fn checkout_email() -> String {
    let sample: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("events/onebuy-checkout/sample.json")).unwrap(),
    )
    .unwrap();
    let body: serde_json::Value =
        serde_json::from_str(sample["body"].as_str().unwrap_or_default()).unwrap();
    body["data"]["email"].as_str().unwrap().to_owned()
}

#[test]
fn the_console_in_headless_chromium() {
    let dir = data_dir("browser");
    let consumer = Consumer::start(FORWARD_SECRET, &[]);
    let mut cmd = payhook(&dir);
    for (k, v) in consumer.settings(FORWARD_SECRET) {
        cmd.env(k, v);
    }
    cmd.env("PAYHOOK_CONSOLE_TOKEN", TOKEN);
    let (_server, url, banner) = serve_with(cmd);
    assert!(banner.contains("/console"), "{banner}");
    assert!(
        !banner.contains(TOKEN),
        "the configured token was printed:\n{banner}"
    );

    let d = driver();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = browser(&d).await;

        // Unauthenticated: the login form, nothing else.
        c.goto(&format!("{url}/console/events")).await.unwrap();
        shot(&c, "01-login", &["Console token"]).await;
        // A wrong token is refused.
        c.find(Locator::Css("#token")).await.unwrap().send_keys("not-the-token-at-all").await.unwrap();
        click(&c, "form button[type=submit]").await;
        shot(&c, "02-wrong-token", &["That is not the console token."]).await;
        c.find(Locator::Css("#token")).await.unwrap().send_keys(TOKEN).await.unwrap();
        click(&c, "form button[type=submit]").await;
        let t = until_text(&c, Duration::from_secs(5), |t| t.contains("Events")).await;
        assert!(t.contains("0 event(s)"), "{t}");

        // Events arrive without a reload after `payhook send`.
        for f in [first_valid_sample("koywe"), "events/onebuy-checkout/sample.json".into(), first_valid_sample("thirdweb")] {
            payhook_send(&dir, &url, &f);
        }
        let end = Instant::now() + Duration::from_secs(10);
        while rows(&c, "#events").await.len() < 3 && Instant::now() < end {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let t = text(&c).await;
        assert!(t.contains("live, updated"), "{t}");
        let mut seen = rows(&c, "#events").await;
        seen.sort();
        assert_eq!(seen, ["koywe", "onebuy-checkout", "thirdweb"], "{t}");
        let email = checkout_email();
        assert!(!c.source().await.unwrap().contains(&email), "an email on the list");

        // Filter by provider.
        c.find(Locator::Css("select[name=provider]")).await.unwrap().select_by_value("onebuy-checkout").await.unwrap();
        click(&c, "form.filters button[type=submit]").await;
        until_text(&c, Duration::from_secs(5), |t| t.contains("1 event(s)")).await;
        assert_eq!(rows(&c, "#events").await, ["onebuy-checkout"]);
        shot(&c, "03-events-filtered", &["onebuy-checkout", "1 event(s)"]).await;

        // One event: personal data masked, then revealed.
        click(&c, "#events tbody tr[data-event] td.id a").await;
        let t = until_text(&c, Duration::from_secs(5), |t| t.contains("Normalized event")).await;
        assert!(t.contains("personal value(s) hidden"), "{t}");
        let src = c.source().await.unwrap();
        for pii in [email.as_str(), "Jane Q. Public", "+4915112345678", "Musterstrasse"] {
            assert!(!src.contains(pii), "{pii} shown before reveal");
        }
        shot(&c, "04-event-masked", &["Raw body (verified)", "hidden"]).await;
        click(&c, "#reveal").await;
        let t = until_text(&c, Duration::from_secs(5), |t| t.contains("Personal data shown")).await;
        assert!(t.contains(&email), "revealed page lacks the email:\n{t}");

        // Its order's timeline.
        click(&c, "#order").await;
        let t = until_text(&c, Duration::from_secs(5), |t| t.contains("Timeline")).await;
        assert!(t.contains("set to completed"), "{t}");
        shot(&c, "05-order", &["Timeline", "onebuy-checkout"]).await;

        // A Koywe order whose late `pending` does not move it back.
        let k = koywe(&dir);
        let done = send(&url, &*k, "ord-timeline", "crypto_delivered");
        send(&url, &*k, "ord-timeline", "payment_created");
        c.goto(&format!("{url}/console/orders/koywe/ord-timeline")).await.unwrap();
        let t = text(&c).await;
        assert!(t.contains("set to completed"), "{t}");
        assert!(t.contains("kept completed (did not move it backwards)"), "{t}");
        shot(&c, "06-order-timeline", &["kept completed"]).await;

        // Replay: the same event id reaches the merchant's endpoint again.
        let first = consumer.wait_for(Duration::from_secs(10), |l| {
            l.iter().any(|e| e["id"] == done.as_str() && e["verified"] == true)
        });
        assert!(first.iter().any(|e| e["id"] == done.as_str()), "not forwarded: {first:?}");
        c.goto(&format!("{url}/console/events/{done}")).await.unwrap();
        click(&c, "#replay").await;
        let t = until_text(&c, Duration::from_secs(5), |t| t.contains("Replayed")).await;
        assert!(t.contains("same event id"), "{t}");
        let log = consumer.wait_for(Duration::from_secs(10), |l| {
            l.iter().filter(|e| e["id"] == done.as_str() && e["verified"] == true).count() >= 2
        });
        let n = log.iter().filter(|e| e["id"] == done.as_str() && e["verified"] == true).count();
        assert_eq!(n, 2, "the replay did not arrive: {log:?}");
        let t = until_text(&c, Duration::from_secs(5), |t| t.matches("delivered").count() >= 2).await;
        assert!(t.contains("Deliveries to your endpoint"), "{t}");

        // Deliveries: every one delivered; "send again" re-drives one.
        c.goto(&format!("{url}/console/deliveries")).await.unwrap();
        let t = text(&c).await;
        assert!(t.contains(&consumer.url), "{t}");
        shot(&c, "07-deliveries", &["Deliveries", "delivered ("]).await;
        click(&c, "table.deliveries tbody tr[data-delivery] form button").await;
        let t = until_text(&c, Duration::from_secs(5), |t| t.contains("attempted again")).await;
        assert!(t.contains("Deliveries"), "{t}");

        // Users: block one, see the callback refuse them, allow, remove.
        c.goto(&format!("{url}/console/users")).await.unwrap();
        c.find(Locator::Css("#email")).await.unwrap().send_keys("Blocked.Buyer@Example.com").await.unwrap();
        c.find(Locator::Css("select[name=decision]")).await.unwrap().select_by_value("block").await.unwrap();
        click(&c, "#add-user").await;
        let t = until_text(&c, Duration::from_secs(5), |t| t.contains("User saved")).await;
        assert!(t.contains("blocked.buyer@example.com"), "{t}");
        shot(&c, "08-users", &["blocked.buyer@example.com", "block"]).await;
        let auth = dev_secrets(&dir)
            .get("PAYHOOK_VALIDATION_AUTH")
            .and_then(|a| a.strip_prefix("bearer:").map(str::to_owned))
            .unwrap();
        let ask = |email: &str| {
            http(&url, "POST", payhook::koywe_callback::ROUTE,
                &[("authorization", &format!("Bearer {auth}")), ("content-type", "application/json")],
                &serde_json::json!({ "email": email }).to_string())
        };
        let got = ask("blocked.buyer@example.com");
        assert_eq!((got.status, got.body.trim()), (200, "false"), "blocked user not refused");
        click(&c, "tr[data-user='blocked.buyer@example.com'] button[data-action=allow]").await;
        let t = until_text(&c, Duration::from_secs(5), |t| {
            t.contains("blocked.buyer@example.com\tallow")
        })
        .await;
        assert!(t.contains("blocked.buyer@example.com\tallow"), "{t}");
        assert_eq!(ask("blocked.buyer@example.com").body.trim(), "true");
        click(&c, "tr[data-user='blocked.buyer@example.com'] button[data-action=remove]").await;
        let t = until_text(&c, Duration::from_secs(5), |t| t.contains("User removed")).await;
        assert!(!t.contains("blocked.buyer@example.com"), "{t}");

        // Refused requests and unknown events.
        let k_route = k.route();
        for _ in 0..3 {
            let got = http(&url, "POST", k_route, &[("content-type", "application/json")],
                r#"{"eventName":"crypto_delivered","orderId":"forged","timeStamp":"2026-01-01T00:00:00.000Z","signature":"00"}"#);
            assert_eq!(got.status, 401, "{}", got.body);
        }
        let unknown = send(&url, &*k, "ord-new-format", "a_stage_koywe_adds_later");
        c.goto(&format!("{url}/console/rejected")).await.unwrap();
        let t = text(&c).await;
        let row: Vec<&str> = t
            .lines()
            .map(|l| l.split('\t').map(str::trim).collect::<Vec<_>>())
            .find(|cells| cells.first() == Some(&"koywe") && cells.get(1) == Some(&"401"))
            .unwrap_or_else(|| panic!("no koywe 401 row:\n{t}"));
        assert_eq!(row.last(), Some(&"3"), "{row:?}");
        assert!(t.contains(&unknown), "the unknown event is not listed:\n{t}");
        shot(&c, "09-rejected", &["By reason", "Unknown events", "koywe"]).await;

        // The overview for the README: every event, live.
        c.goto(&format!("{url}/console/events")).await.unwrap();
        until_text(&c, Duration::from_secs(5), |t| t.contains("live, updated")).await;
        let overview = shot(&c, "10-events", &["Events", "ord-timeline", "onebuy-checkout"]).await;
        if std::env::var_os("PAYHOOK_UPDATE_SCREENSHOT").is_some() {
            std::fs::copy(&overview, repo().join("docs/console.png")).unwrap();
        }

        // Log out: the next page is the login form again.
        click(&c, "form.logout button").await;
        c.goto(&format!("{url}/console/events")).await.unwrap();
        let t = text(&c).await;
        assert!(t.contains("Console token") && !t.contains("ord-timeline"), "{t}");
        c.close().await.unwrap();
    });
    let _ = std::fs::remove_dir_all(&dir);
}

/// Without the token nothing is shown or changed; with a session, a
/// state-changing request needs the session's CSRF token and the console's
/// own origin; every answer carries the strict Content-Security-Policy; a
/// generated development token is printed, a short configured one stops
/// start-up naming the setting.
#[test]
fn nothing_without_the_token_csrf_and_the_same_origin() {
    let dir = data_dir("http");
    let (_server, url, banner) = serve_with(payhook(&dir));
    let generated = banner
        .lines()
        .find_map(|l| l.split("PAYHOOK_CONSOLE_TOKEN=").nth(1))
        .map(|t| t.trim_end_matches(')').to_owned())
        .unwrap_or_else(|| panic!("no generated token in the banner:\n{banner}"));
    assert!(generated.starts_with("dev-console-"), "{generated}");
    let k = koywe(&dir);
    let id = send(&url, &*k, "ord-secret-77", "crypto_delivered");

    for path in [
        "/console/events",
        &format!("/console/events/{id}"),
        "/console/orders/koywe/ord-secret-77",
        "/console/deliveries",
        "/console/rejected",
        "/console/users",
        "/console/events?part=rows",
    ] {
        for auth in [
            None,
            Some("Bearer wrong-token-wrong-token"),
            Some("Basic Zm9vOmJhcg=="),
        ] {
            let h: Vec<(&str, &str)> = auth.map(|a| vec![("authorization", a)]).unwrap_or_default();
            let got = http(&url, "GET", path, &h, "");
            assert_eq!(got.status, 401, "{path} {auth:?}");
            assert!(
                !got.body.contains(&id) && !got.body.contains("ord-secret-77"),
                "{path} leaked"
            );
            assert!(
                got.header("content-security-policy")
                    .is_some_and(|v| v.contains("default-src 'none'"))
            );
        }
    }
    let replay = format!("/console/events/{id}/replay");
    let form = [("content-type", "application/x-www-form-urlencoded")];
    assert_eq!(http(&url, "POST", &replay, &form, "").status, 401);

    // The right token as Bearer reads and acts (no CSRF: a browser never
    // sends that header on its own).
    let bearer = format!("Bearer {generated}");
    let got = http(
        &url,
        "GET",
        "/console/events",
        &[("authorization", &bearer)],
        "",
    );
    assert_eq!(got.status, 200);
    assert!(got.body.contains(&id));
    let csp = got.header("content-security-policy").unwrap_or_default();
    for part in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(part), "{csp}");
    }
    assert_eq!(got.header("x-frame-options"), Some("DENY"));
    assert!(
        !got.body.contains("http://") || !got.body.contains("src=\"http"),
        "an external asset"
    );
    let got = http(
        &url,
        "POST",
        &replay,
        &[("authorization", &bearer), form[0]],
        "",
    );
    assert_eq!(got.status, 303, "{}", got.body);

    // A session: the login form's cookie.
    let got = http(
        &url,
        "POST",
        "/console/login",
        &form,
        &format!("token={generated}"),
    );
    assert_eq!(got.status, 303);
    let set = got.header("set-cookie").unwrap_or_default().to_owned();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let cookie = set.split(';').next().unwrap_or_default().to_owned();
    let page = http(
        &url,
        "GET",
        &format!("/console/events/{id}"),
        &[("cookie", &cookie)],
        "",
    );
    assert_eq!(page.status, 200);
    let csrf = page
        .body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_else(|| panic!("no CSRF token in the page"))
        .to_owned();
    let with = |extra: &[(&str, &str)], body: &str| {
        let mut h = vec![("cookie", cookie.as_str()), form[0]];
        h.extend_from_slice(extra);
        http(&url, "POST", &replay, &h, body).status
    };
    assert_eq!(with(&[], ""), 403, "no CSRF token");
    assert_eq!(with(&[], "csrf=forged"), 403, "a wrong CSRF token");
    assert_eq!(
        with(
            &[("origin", "https://evil.example")],
            &format!("csrf={csrf}")
        ),
        403,
        "cross-origin"
    );
    assert_eq!(
        with(&[("sec-fetch-site", "cross-site")], &format!("csrf={csrf}")),
        403,
        "cross-site"
    );
    assert_eq!(
        with(&[("origin", &url)], &format!("csrf={csrf}")),
        303,
        "the console's own form"
    );

    // A short configured token stops start-up, naming the setting.
    let out = payhook(&data_dir("short"))
        .env("PAYHOOK_CONSOLE_TOKEN", "short")
        .args(["serve", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("PAYHOOK_CONSOLE_TOKEN"));
    let _ = std::fs::remove_dir_all(&dir);
}
