//! Every Lambda function *binary* through the real Lambda runtime API.
//!
//! `cargo lambda watch` (the Lambda runtime API emulator) runs the seven
//! functions (debug builds, `cargo run` on first request) configured as in
//! AWS: table and FIFO queue on moto (created from `template.yaml`), the test
//! secrets in the environment, the 8Pay API stand-in. Each API Gateway event
//! of `events/*/cases.json`, signed with the harness at the current time, is
//! written to a file and sent with `cargo lambda invoke --data-file`; the
//! answer is the API Gateway response the function returned. Then the queue
//! is read with a real SQS client: every accepted event is there exactly
//! once and valid against the JSON Schema.
//!
//! Requirements (the test fails, never skips, without them): `cargo lambda`
//! on PATH or in `$PAYHOOK_TOOLS/lambda/bin` (`pip install cargo-lambda
//! ziglang`; `scripts/deploy-checks.sh tools` installs it there), and moto at
//! `PAYHOOK_TEST_MOTO` (`scripts/moto.sh`).
//!
//! Notes
//! - Each case runs on an emptied table, like the handler tests' fresh store
//!   per case: several fixtures share an event id (a base64 copy of a sample,
//!   1buy's tampered bodies…), and on one table they would be duplicates or
//!   409 conflicts of each other. The queue is not emptied, so a fixture that
//!   repeats an earlier fixture's event id is published again with the same
//!   `MessageDeduplicationId` and dropped by the FIFO queue: one message per
//!   event id. Every accepted case is also delivered a second time, and the
//!   binary must answer `duplicate` from the table.
//! - Invalid base64 with `isBase64Encoded: true`: `lambda_http` decodes the
//!   body with `expect` before our handler runs, so the function panics and
//!   the runtime reports an invocation error (API Gateway would answer 500;
//!   it never sends invalid base64 itself). The test asserts exactly that,
//!   where `cases.json` says 400 (the answer of the library and of `payhook
//!   serve`), and that the function keeps serving afterwards.
//! - "inside" and "future" cases are signed 5 s ahead of the wall clock, so
//!   the few hundred milliseconds an invocation takes cannot push them across
//!   the window edge they test.

use aws_sdk_dynamodb as ddb;
use aws_sdk_sqs as sqs;
use base64::Engine as _;
use payhook::store::{Claim, EventRecord, EventStore};
use payhook::users::Decision;
use payhook::{PaymentEvent, ProviderId, Status};
use payhook_aws::dynamodb::{DynamoStore, PARTITION_KEY};
use payhook_tests::aws::{create_queue, create_table, drain, moto_endpoint, sdk, unique};
use payhook_tests::{Harness, cases, events_dir, function_of, settings, validate_all};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use time::OffsetDateTime;

const LAMBDA_HINT: &str =
    "install cargo-lambda: pip install cargo-lambda ziglang (scripts/test.sh does it)";

/// The binaries (package and bin names; `events/<name>/`): one per
/// registered provider, Koywe's user-validation callback and the sweeper.
fn functions() -> Vec<&'static str> {
    let mut f: Vec<&'static str> = payhook::ProviderId::all().map(|p| p.as_str()).collect();
    f.extend(["user-validation", "sweeper"]);
    f
}

/// Debug build of all functions (cold: a few minutes on 2 cores).
const BUILD_TIMEOUT: Duration = Duration::from_secs(1200);
/// First invocation of a function: `cargo run` checks the build and starts it.
const FIRST_INVOKE_TIMEOUT: Duration = Duration::from_secs(300);
const INVOKE_TIMEOUT: Duration = Duration::from_secs(60);
const CLOCK_MARGIN: Duration = Duration::from_secs(5);

fn root() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    p.canonicalize().unwrap_or(p)
}

// ---------------------------------------------------------- cargo lambda

/// A `PATH` under which `cargo lambda` runs: the inherited one, else with
/// `$PAYHOOK_TOOLS/lambda/bin` (where scripts/deploy-checks.sh installs it)
/// in front. Panics with the install hint.
fn lambda_path() -> OsString {
    let runs = |path: &OsString| {
        Command::new("cargo")
            .args(["lambda", "--version"])
            .env("PATH", path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let inherited = std::env::var_os("PATH").unwrap_or_default();
    if runs(&inherited) {
        return inherited;
    }
    let tools = std::env::var_os("PAYHOOK_TOOLS")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/payhook-tools")));
    if let Some(bin) = tools.map(|t| t.join("lambda/bin"))
        && bin.join("cargo-lambda").is_file()
        && let Ok(path) =
            std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(&inherited)))
        && runs(&path)
    {
        return path;
    }
    panic!("{LAMBDA_HINT} (`cargo lambda --version` does not run)");
}

/// A command in the repository root, with `cargo lambda` on PATH and none of
/// the variables `cargo test` sets for this test binary.
fn command(program: &str, path: &OsString) -> Command {
    let mut c = Command::new(program);
    c.current_dir(root()).env("PATH", path);
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if [
            "CARGO_PKG_",
            "CARGO_MANIFEST_",
            "CARGO_CRATE_",
            "CARGO_BIN_",
        ]
        .iter()
        .any(|p| k.starts_with(p))
            || k == "CARGO_PRIMARY_PACKAGE"
            || k == "CARGO_TARGET_TMPDIR"
        {
            c.env_remove(k.as_ref());
        }
    }
    c
}

/// The tail of a log file, for failure messages.
fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// `cargo lambda watch` in its own process group; dropping it kills the
/// group (the emulator, `cargo run`, the functions), even when a test fails.
struct Watch {
    child: std::process::Child,
    port: u16,
    log: PathBuf,
    path: OsString,
}

impl Watch {
    fn start(path: &OsString, env: &BTreeMap<String, String>, log: PathBuf) -> Watch {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("no free port: {e}"));
        let out =
            std::fs::File::create(&log).unwrap_or_else(|e| panic!("create {}: {e}", log.display()));
        let err = out
            .try_clone()
            .unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        let mut c = command("cargo", path);
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy().into_owned();
            if k.starts_with("PAYHOOK_") || k.starts_with("AWS_") {
                c.env_remove(&k);
            }
        }
        c.args(["lambda", "watch", "--ignore-changes"])
            .args(["--invoke-address", "127.0.0.1"])
            .args(["--invoke-port", &port.to_string()])
            .envs(env)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        let child = c
            .spawn()
            .unwrap_or_else(|e| panic!("cargo lambda watch: {e} ({LAMBDA_HINT})"));
        let mut w = Watch {
            child,
            port,
            log,
            path: path.clone(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return w;
            }
            if let Ok(Some(status)) = w.child.try_wait() {
                panic!(
                    "cargo lambda watch exited ({status}):\n{}",
                    tail(&w.log, 40)
                );
            }
            assert!(
                Instant::now() < deadline,
                "cargo lambda watch does not listen on 127.0.0.1:{port} after 60 s:\n{}",
                tail(&w.log, 40)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn log_tail(&self) -> String {
        format!(
            "--- last lines of {} ---\n{}",
            self.log.display(),
            tail(&self.log, 30)
        )
    }

    /// `cargo lambda invoke FUNCTION --data-file FILE`: the function's
    /// response payload, or the invocation error (exit status and output).
    async fn invoke(&self, function: &str, file: &Path, limit: Duration) -> Result<Value, String> {
        let mut c = tokio::process::Command::from(command("cargo", &self.path));
        c.args(["lambda", "invoke", function])
            .args(["--invoke-address", "127.0.0.1"])
            .args(["--invoke-port", &self.port.to_string()])
            .arg("--data-file")
            .arg(file)
            .args(["--output-format", "json"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let child = c.spawn().map_err(|e| format!("cargo lambda invoke: {e}"))?;
        let out = match tokio::time::timeout(limit, child.wait_with_output()).await {
            Ok(Ok(out)) => out,
            Ok(Err(e)) => return Err(format!("cargo lambda invoke: {e}")),
            Err(_) => return Err(format!("no answer within {limit:?}")),
        };
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            return Err(format!(
                "cargo lambda invoke {function}: {}\nstdout: {stdout}\nstderr: {stderr}",
                out.status
            ));
        }
        serde_json::from_str(stdout.trim())
            .map_err(|e| format!("response is not JSON ({e}): {stdout}\nstderr: {stderr}"))
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let signal = |sig: &str| {
            let _ = Command::new("kill")
                .args([sig, "--", &group])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        };
        signal("-TERM");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // Whatever is left of the group (a function the emulator started).
        signal("-KILL");
        let _ = self.child.wait();
    }
}

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let p = std::env::temp_dir().join(unique("payhook-runtime"));
        std::fs::create_dir_all(&p).unwrap_or_else(|e| panic!("mkdir {}: {e}", p.display()));
        TempDir(p)
    }

    fn write(&self, name: &str, v: &Value) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, v.to_string()).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `cargo build` of every function in one invocation (debug, as `cargo
/// lambda watch` runs them), so the first invocations only start them and a
/// compile error reads as one.
async fn build_functions(path: &OsString) {
    let t0 = Instant::now();
    let mut c = tokio::process::Command::from(command("cargo", path));
    c.arg("build").arg("--quiet");
    for f in functions() {
        c.args(["-p", f]);
    }
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = c.spawn().unwrap_or_else(|e| panic!("cargo build: {e}"));
    let out = tokio::time::timeout(BUILD_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("cargo build of the functions took over {BUILD_TIMEOUT:?}"))
        .unwrap_or_else(|e| panic!("cargo build: {e}"));
    assert!(
        out.status.success(),
        "cargo build of the functions failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("runtime: functions built in {:.1?}", t0.elapsed());
}

// ----------------------------------------------------------------- table

/// Partition keys of every item in the table.
async fn keys_in(client: &ddb::Client, table: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut start = None;
    loop {
        let out = client
            .scan()
            .table_name(table)
            .projection_expression("#k")
            .expression_attribute_names("#k", PARTITION_KEY)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap_or_else(|e| panic!("scan {table}: {e:?}"));
        for item in out.items() {
            if let Some(Ok(k)) = item.get(PARTITION_KEY).map(|v| v.as_s()) {
                keys.push(k.clone());
            }
        }
        start = out.last_evaluated_key().cloned();
        if start.is_none() {
            return keys;
        }
    }
}

/// Delete every item: each case starts on an empty table.
async fn empty_table(client: &ddb::Client, table: &str) {
    for k in keys_in(client, table).await {
        client
            .delete_item()
            .table_name(table)
            .key(PARTITION_KEY, ddb::types::AttributeValue::S(k.clone()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("delete {k}: {e:?}"));
    }
}

// ------------------------------------------------------------- responses

/// Status code and JSON body of an API Gateway response payload.
fn api_response(ctx: &str, payload: &Value) -> (u16, Value) {
    let status = payload["statusCode"]
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .unwrap_or_else(|| panic!("{ctx}: no statusCode in {payload}"));
    let raw = payload["body"].as_str().unwrap_or_default();
    let bytes = if payload["isBase64Encoded"].as_bool() == Some(true) {
        base64::engine::general_purpose::STANDARD
            .decode(raw)
            .unwrap_or_else(|e| panic!("{ctx}: body is not base64: {e}"))
    } else {
        raw.as_bytes().to_vec()
    };
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "{ctx}: body is not JSON ({e}): {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    (status, body)
}

/// `isBase64Encoded: true` with a body that is not base64.
fn invalid_base64(ev: &Value) -> bool {
    ev["isBase64Encoded"].as_bool() == Some(true)
        && base64::engine::general_purpose::STANDARD
            .decode(ev["body"].as_str().unwrap_or_default())
            .is_err()
}

/// What the queue must hold for one accepted event.
#[derive(Debug)]
struct Expected {
    ctx: String,
    provider: String,
    status: Option<String>,
    provider_event: Option<String>,
    order_id: Option<String>,
}

// ------------------------------------------------------------------ test

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_function_through_the_lambda_runtime_api() {
    let t_start = Instant::now();
    let path = lambda_path();
    let moto = moto_endpoint();
    let sdk = sdk(&moto).await;
    let dynamo = ddb::Client::new(&sdk);
    let queue = sqs::Client::new(&sdk);
    let table = unique("payhook-rt");
    create_table(&dynamo, &table).await;
    let queue_url = create_queue(&queue, "payhook-rt", true).await;
    let h = Harness::new().await;
    let tmp = TempDir::new();

    // What every function reads at start (adapters/aws/src/lambda.rs, lib.rs).
    let mut env = settings(&format!("http://{}", h.standin_addr));
    for (k, v) in [
        ("PAYHOOK_TABLE", table.as_str()),
        ("PAYHOOK_QUEUE_URL", queue_url.as_str()),
        ("PAYHOOK_VALIDATION_AUTH", "bearer:test-validation-token"),
        ("AWS_ENDPOINT_URL", moto.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ] {
        env.insert(k.into(), v.into());
    }

    build_functions(&path).await;
    let watch = Watch::start(&path, &env, tmp.0.join("watch.log"));

    // First invocation of each function: started by the emulator. A
    // wrong-method request (405) leaves no trace; the sweeper sweeps an
    // empty table.
    let t_warm = Instant::now();
    let scheduled = tmp.write(
        "scheduled-event.json",
        &json!({
            "version": "0",
            "id": "7bf73129-1428-4cd3-a780-95db273d1602",
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "123456789012",
            "time": "2025-06-15T15:06:40Z",
            "region": "us-east-1",
            "resources": ["arn:aws:events:us-east-1:123456789012:rule/payhook-sweeper"],
            "detail": {}
        }),
    );
    for f in functions() {
        let file = if f == "sweeper" {
            scheduled.clone()
        } else {
            events_dir().join(f).join("wrong-method.json")
        };
        let out = watch
            .invoke(f, &file, FIRST_INVOKE_TIMEOUT)
            .await
            .unwrap_or_else(|e| panic!("{f}: first invocation: {e}\n{}", watch.log_tail()));
        if f != "sweeper" {
            let (status, body) = api_response(f, &out);
            assert_eq!(status, 405, "{f}: {body}");
        }
    }
    eprintln!("runtime: 7 functions started in {:.1?}", t_warm.elapsed());

    // ------------------------------------------------ webhook functions
    let t_cases = Instant::now();
    let mut expected: BTreeMap<String, Expected> = BTreeMap::new();
    let (mut checked, mut accepted_cases, mut invocation_errors) = (0, 0, 0);
    for p in ProviderId::all() {
        let f = function_of(p);
        for case in cases(p) {
            let ctx = format!("{f}/{}", case.file);
            empty_table(&dynamo, &table).await;
            let ahead = if matches!(case.sign.as_str(), "inside" | "future") {
                CLOCK_MARGIN
            } else {
                Duration::ZERO
            };
            h.clock.set(OffsetDateTime::now_utc() + ahead);
            let ev = h.signed_event(p, &case);
            let file = tmp.write(&format!("{f}-{}", case.file), &ev);
            let result = watch.invoke(f, &file, INVOKE_TIMEOUT).await;
            checked += 1;

            if invalid_base64(&ev) {
                // lambda_http panics decoding the body; the runtime turns
                // the panic into an invocation error (not a 4xx response).
                let err = match result {
                    Err(e) => e,
                    Ok(v) => panic!(
                        "{ctx}: invalid base64 answered {v} (expected an invocation error: see the module docs)"
                    ),
                };
                // cargo lambda invoke: "Lambda panicked: failed to decode
                // aws base64 encoded body: InvalidByte(…)".
                assert!(
                    err.contains("panicked") && err.contains("base64"),
                    "{ctx}: expected the lambda_http base64 panic, got: {err}\n{}",
                    watch.log_tail()
                );
                assert!(
                    keys_in(&dynamo, &table).await.is_empty(),
                    "{ctx}: a failed invocation left a trace"
                );
                if invocation_errors == 0 {
                    let short: String = err
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" ")
                        .chars()
                        .take(400)
                        .collect();
                    eprintln!("runtime: {ctx}: invocation error as expected: {short}");
                }
                invocation_errors += 1;
                // The function survived the panic and keeps serving.
                let wrong = events_dir().join(f).join("wrong-method.json");
                let after = watch
                    .invoke(f, &wrong, INVOKE_TIMEOUT)
                    .await
                    .unwrap_or_else(|e| {
                        panic!("{ctx}: next invocation: {e}\n{}", watch.log_tail())
                    });
                assert_eq!(api_response(&ctx, &after).0, 405, "{ctx}: next invocation");
                continue;
            }

            let payload = result.unwrap_or_else(|e| panic!("{ctx}: {e}\n{}", watch.log_tail()));
            let (status, body) = api_response(&ctx, &payload);
            assert_eq!(status, case.expect, "{ctx}: {body}");
            if status != 200 {
                assert_eq!(body["status"], "rejected", "{ctx}: {body}");
                assert!(
                    body["error"].as_str().is_some_and(|e| !e.is_empty()),
                    "{ctx}: no reason: {body}"
                );
                if status == 405 {
                    let allow = payload["headers"]["allow"]
                        .as_str()
                        .or(payload["multiValueHeaders"]["allow"][0].as_str());
                    assert_eq!(allow, Some("POST"), "{ctx}: {payload}");
                }
                assert!(
                    keys_in(&dynamo, &table).await.is_empty(),
                    "{ctx}: rejected request left a trace"
                );
                continue;
            }
            let outcome = case.outcome.as_deref().unwrap_or("accepted");
            assert_eq!(body["status"], outcome, "{ctx}: {body}");
            let event_id = body["event_id"]
                .as_str()
                .unwrap_or_else(|| panic!("{ctx}: no event_id in {body}"))
                .to_owned();
            assert!(
                keys_in(&dynamo, &table)
                    .await
                    .iter()
                    .any(|k| k.contains(&event_id)),
                "{ctx}: event {event_id} not in the table"
            );
            // The same delivery again: a duplicate, from the table.
            let again = watch
                .invoke(f, &file, INVOKE_TIMEOUT)
                .await
                .unwrap_or_else(|e| panic!("{ctx} (again): {e}\n{}", watch.log_tail()));
            let (status2, body2) = api_response(&ctx, &again);
            assert_eq!(
                (
                    status2,
                    body2["status"].as_str(),
                    body2["event_id"].as_str()
                ),
                (200, Some("duplicate"), Some(event_id.as_str())),
                "{ctx}: second delivery: {body2}"
            );
            accepted_cases += 1;
            expected.entry(event_id).or_insert(Expected {
                ctx,
                provider: p.as_str().to_owned(),
                status: case.status.clone(),
                provider_event: case.provider_event.clone(),
                order_id: case.order_id.clone(),
            });
        }
    }
    assert!(checked >= 100, "only {checked} webhook cases");
    for p in ProviderId::all() {
        assert!(
            expected.values().any(|e| e.provider == p.as_str()),
            "{p}: nothing accepted"
        );
    }
    assert!(
        invocation_errors >= 1,
        "no invalid-base64 case was sent (events/ changed?)"
    );
    eprintln!(
        "runtime: {checked} webhook cases in {:.1?} ({accepted_cases} accepted, {} distinct events, {invocation_errors} invalid-base64 invocation errors)",
        t_cases.elapsed(),
        expected.len()
    );

    // ------------------------------------------------------- sweeper
    // An event recorded 10 minutes ago whose publication never happened
    // (claimed, lease long expired): the sweeper publishes it.
    empty_table(&dynamo, &table).await;
    let store = DynamoStore::new(dynamo.clone(), &table, 30);
    let now = OffsetDateTime::now_utc();
    let order = unique("runtime-sweeper-order");
    let mut stuck = PaymentEvent::new(
        ProviderId::KOYWE,
        "onramp",
        "crypto_delivered",
        Status::Completed,
        &order,
        now - Duration::from_secs(600),
        json!({ "orderId": order, "eventName": "crypto_delivered" }),
    );
    stuck.event_id = payhook::event::event_id(ProviderId::KOYWE, &order);
    let rec = EventRecord::new(&stuck, &[7; 32]).unwrap_or_else(|e| panic!("{e}"));
    let claim = store
        .claim(
            &rec,
            now - Duration::from_secs(600),
            Duration::from_secs(30),
        )
        .await
        .unwrap_or_else(|e| panic!("sweeper: claim: {e:?}"));
    assert_eq!(claim, Claim::New, "sweeper: seeding the stuck event");
    let report = watch
        .invoke("sweeper", &scheduled, INVOKE_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("sweeper: {e}\n{}", watch.log_tail()));
    assert_eq!(
        report,
        json!({ "found": 1, "published": 1, "skipped": 0, "failed": 0 }),
        "sweeper report"
    );
    let report = watch
        .invoke("sweeper", &scheduled, INVOKE_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("sweeper (again): {e}\n{}", watch.log_tail()));
    assert_eq!(
        report,
        json!({ "found": 0, "published": 0, "skipped": 0, "failed": 0 }),
        "sweeper report, second run"
    );
    expected.insert(
        stuck.event_id.clone(),
        Expected {
            ctx: "sweeper (stuck event)".into(),
            provider: "koywe".into(),
            status: Some("completed".into()),
            provider_event: Some("crypto_delivered".into()),
            order_id: Some(order.clone()),
        },
    );

    // ----------------------------------------------- user-validation
    empty_table(&dynamo, &table).await;
    for (email, d) in [
        ("allowed@example.com", Decision::Allow),
        ("blocked@example.com", Decision::Block),
    ] {
        payhook::koywe_callback::set_user(&store, email, d, Some("runtime test".into()))
            .await
            .unwrap_or_else(|e| panic!("user-validation: seed {email}: {e:?}"));
    }
    let dir = events_dir().join("user-validation");
    let uv_cases: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(dir.join("cases.json"))
            .unwrap_or_else(|e| panic!("user-validation/cases.json: {e}")),
    )
    .unwrap_or_else(|e| panic!("user-validation/cases.json: {e}"));
    assert!(uv_cases.len() >= 10, "user-validation: too few cases");
    for c in &uv_cases {
        let file = c["file"].as_str().unwrap_or_default();
        let ctx = format!("user-validation/{file}");
        let payload = watch
            .invoke("user-validation", &dir.join(file), INVOKE_TIMEOUT)
            .await
            .unwrap_or_else(|e| panic!("{ctx}: {e}\n{}", watch.log_tail()));
        let (status, body) = api_response(&ctx, &payload);
        assert_eq!(
            Some(u64::from(status)),
            c["expect"].as_u64(),
            "{ctx}: {body}"
        );
        if let Some(answer) = c["answer"].as_bool() {
            assert_eq!(body, Value::Bool(answer), "{ctx}");
        }
    }

    // ----------------------------------------------------------- queue
    // Bodies and `provider` attributes.
    let messages: Vec<(String, Option<String>)> = drain(&queue, &queue_url)
        .await
        .iter()
        .map(|m| {
            let provider = m
                .message_attributes()
                .and_then(|a| a.get("provider"))
                .and_then(|v| v.string_value())
                .map(str::to_owned);
            (m.body().unwrap_or_default().to_owned(), provider)
        })
        .collect();
    let bodies: Vec<String> = messages.iter().map(|(b, _)| b.clone()).collect();
    let events = validate_all(&bodies);
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (ev, (_, attr)) in events.iter().zip(&messages) {
        let id = ev["event_id"].as_str().unwrap_or_default().to_owned();
        *seen.entry(id.clone()).or_default() += 1;
        let Some(want) = expected.get(&id) else {
            panic!("queue: unexpected event {id}: {ev}");
        };
        let ctx = &want.ctx;
        assert_eq!(ev["provider"], want.provider.as_str(), "{ctx}: {ev}");
        assert_eq!(
            attr.as_deref(),
            Some(want.provider.as_str()),
            "{ctx}: provider attribute"
        );
        for (field, v) in [
            ("status", &want.status),
            ("provider_event", &want.provider_event),
            ("order_id", &want.order_id),
        ] {
            if let Some(v) = v {
                assert_eq!(ev[field], v.as_str(), "{ctx}: {field} of {ev}");
            }
        }
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "queue: events published more than once: {twice:?}"
    );
    let missing: Vec<&str> = expected
        .iter()
        .filter(|(id, _)| !seen.contains_key(*id))
        .map(|(_, e)| e.ctx.as_str())
        .collect();
    assert!(
        missing.is_empty(),
        "queue: accepted but never published: {missing:?}"
    );
    eprintln!(
        "runtime: {} messages on the queue, one per accepted event; total {:.1?}",
        messages.len(),
        t_start.elapsed()
    );
    drop(watch);
}
