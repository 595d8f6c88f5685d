//! `payhook serve --backend aws` and the operator commands on DynamoDB/SQS
//! served by moto (`PAYHOOK_TEST_MOTO`; scripts/test.sh starts it): a sample
//! of every provider over HTTP, accepted then duplicate; `events`, `orders`,
//! `users` and `replay` with `--backend aws`; the messages on the queue.

use crate::common::{first_valid_sample, functions, serve_with};
use payhook_tests::aws;
use std::path::Path;
use std::process::Command;

/// `crate::common::payhook` on the AWS backend, pointed at moto.
fn payhook(data_dir: &Path, endpoint: &str, table: &str, queue: &str) -> Command {
    let mut c = crate::common::payhook(data_dir);
    c.arg("--backend").arg("aws");
    c.env("PAYHOOK_TABLE", table)
        .env("PAYHOOK_QUEUE_URL", queue)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env_remove("AWS_PROFILE");
    c
}

fn stdout(mut c: Command) -> String {
    let out = c.output().unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_and_operate_on_dynamodb_and_sqs() {
    let endpoint = aws::moto_endpoint();
    let sdk = aws::sdk(&endpoint).await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let table = aws::unique("payhook-cli");
    aws::create_table(&ddb, &table).await;
    let queue = aws::create_queue(&sqs, "payhook-cli", true).await;

    let data_dir = std::env::temp_dir().join(format!("payhook-aws-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data_dir);
    let cmd = |args: &[&str]| {
        let mut c = payhook(&data_dir, &endpoint, &table, &queue);
        c.args(args);
        c
    };
    let (server, url, banner) = serve_with(cmd(&[]));
    assert!(
        banner
            .lines()
            .any(|l| l.contains("listening on ") && l.contains("Aws backend")),
        "{banner}"
    );

    for f in functions() {
        let sample = first_valid_sample(f);
        for expected in ["accepted", "duplicate"] {
            let text = stdout(cmd(&["send", &sample, "--url", &url]));
            assert!(
                text.contains(" 200 ") && text.contains(expected),
                "{sample}: {text}"
            );
        }
    }

    // The queue holds one schema-valid message per event.
    let messages: Vec<String> = aws::drain(&sqs, &queue)
        .await
        .into_iter()
        .filter_map(|m| m.body)
        .collect();
    assert_eq!(messages.len(), functions().len(), "{messages:?}");
    payhook_tests::validate_all(&messages);

    let events: Vec<serde_json::Value> = stdout(cmd(&["events", "--json"]))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    assert_eq!(events.len(), functions().len());
    assert_eq!(
        stdout(cmd(&["orders", "--json"])).lines().count(),
        functions().len()
    );
    assert!(stdout(cmd(&["events", "--provider", "thirdweb"])).contains("1 event(s)"));

    // Users on DynamoDB.
    stdout(cmd(&[
        "users",
        "block",
        "Eve@Example.com",
        "--reason",
        "test",
    ]));
    let listed = stdout(cmd(&["users", "list", "--json"]));
    assert!(
        listed.contains("\"eve@example.com\"") && listed.contains("\"block\""),
        "{listed}"
    );
    stdout(cmd(&["users", "remove", "eve@example.com"]));
    assert!(stdout(cmd(&["users", "list"])).contains("0 user(s)"));

    // Replay republishes the same event id to the queue.
    let id = events[0]["event_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(stdout(cmd(&["replay", &id])).contains("would replay"));
    assert!(
        aws::drain(&sqs, &queue).await.is_empty(),
        "a dry run published"
    );
    assert!(stdout(cmd(&["replay", &id, "--yes"])).contains("1 event(s) replayed"));

    // The console reads DynamoDB: the list, a filter, one event, its order,
    // and a user blocked from it lands in the users table.
    let token = banner
        .lines()
        .find_map(|l| l.split("PAYHOOK_CONSOLE_TOKEN=").nth(1))
        .map(|t| t.trim_end_matches(')').to_owned())
        .unwrap_or_else(|| panic!("no console token in the banner:\n{banner}"));
    let bearer = format!("Bearer {token}");
    let get = |path: &str| {
        let got = crate::console::http(&url, "GET", path, &[("authorization", &bearer)], "");
        assert_eq!(got.status, 200, "{path}: {}", got.body);
        got.body
    };
    let list = get("/console/events");
    for e in &events {
        let id = e["event_id"].as_str().unwrap_or_default();
        assert!(list.contains(id), "{id} not on the console's list");
    }
    assert!(get("/console/events?provider=thirdweb").contains("1 event(s)"));
    let page = get(&format!("/console/events/{id}"));
    assert!(page.contains("Normalized event") && page.contains(&id));
    let order = events[0]["order_id"].as_str().unwrap_or_default();
    let provider = events[0]["provider"].as_str().unwrap_or_default();
    assert!(get(&format!("/console/orders/{provider}/{order}")).contains("set to "));
    let saved = crate::console::http(
        &url,
        "POST",
        "/console/users",
        &[
            ("authorization", &bearer),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        "action=set&decision=block&email=mallory%40example.com",
    );
    assert_eq!(saved.status, 303, "{}", saved.body);
    assert!(stdout(cmd(&["users", "list"])).contains("mallory@example.com"));
    drop(server);
    let _ = std::fs::remove_dir_all(&data_dir);
    // FIFO queues drop a copy within their deduplication window: the replay
    // reached SQS (the command succeeded) and consumers see the event once.
    let after: Vec<String> = aws::drain(&sqs, &queue)
        .await
        .into_iter()
        .filter_map(|m| m.body)
        .collect();
    assert!(after.len() <= 1);
    assert!(after.iter().all(|b| b.contains(&id)));
}
