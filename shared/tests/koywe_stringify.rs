//! payhook's `JSON.stringify` agrees with Node.js on Koywe bodies.
//!
//! `fixtures/koywe_stringify_vectors.json` holds bodies written by Node.js
//! (`scripts/koywe-vectors.js`) with the signature Node.js computes. Every
//! one must verify with [`Koywe`]. The test also re-runs the script and
//! requires its output to equal the committed file, so the vectors cannot
//! drift from what Node.js really prints. The `header` vectors are Koywe's
//! current API: the HMAC of the raw bytes as Node.js computes it, which
//! must verify on those bytes only. Node.js is required: without it
//! the test fails rather than skipping.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use payhook::canonical;
use payhook::providers::koywe::Koywe;
use payhook::providers::{Authentic, Inbound, Provider};
use payhook::rejection::Rejection;
use payhook::secret::{Secret, SecretList, sign_hmac_sha256_hex};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;
use time::OffsetDateTime;
use time::macros::datetime;

/// Just after the `timeStamp` every vector carries.
const NOW: OffsetDateTime = datetime!(2022-10-26 22:36:42 UTC);

#[derive(Debug, Deserialize)]
struct Vector {
    name: String,
    /// `stringify`: the body is Node's `JSON.stringify` output;
    /// `template`: hand-written text with non-canonical numbers / escapes;
    /// `header`: the current API, Node's HMAC of the raw bytes (the
    /// `Koywe-Signature` header).
    kind: String,
    secret: String,
    body: String,
    signature: String,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixture_path() -> PathBuf {
    root().join("shared/tests/fixtures/koywe_stringify_vectors.json")
}

fn vectors() -> Vec<Vector> {
    let text = std::fs::read_to_string(fixture_path()).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[tokio::test]
async fn every_vector_verifies() {
    let vectors = vectors();
    assert!(vectors.len() >= 9, "too few vectors");
    assert!(vectors.iter().any(|v| v.kind == "template"));
    let headers = http::HeaderMap::new();
    let params = HashMap::new();
    for v in &vectors {
        let secrets = SecretList::from_secrets(vec![Secret::new(v.secret.clone())]).unwrap();
        if v.kind == "header" {
            verify_header_vector(v, secrets).await;
            continue;
        }
        let parsed = canonical::parse_strict(v.body.as_bytes()).unwrap();

        // The bytes payhook signs are the bytes Node.js signed.
        let payload = canonical::stringify(&canonical::without_key(&parsed, "signature"));
        assert_eq!(
            sign_hmac_sha256_hex(&Secret::new(v.secret.clone()), &[payload.as_bytes()]),
            v.signature,
            "{}: payhook prints {payload}\n(numbers off in the last digit mean serde_json \
             lacks its `float_roundtrip` feature: it then reads some doubles one ulp off)",
            v.name
        );
        if v.kind == "stringify" {
            // Node's own output survives a parse / print round trip byte for byte.
            assert_eq!(canonical::stringify(&parsed), v.body, "{}", v.name);
        }

        let koywe = Koywe::new(secrets, Duration::from_secs(86_400));
        let inbound = Inbound {
            body: v.body.as_bytes(),
            headers: &headers,
            params: &params,
        };
        let verified = koywe
            .verify(&inbound, NOW)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", v.name))
            .parsed()
            .unwrap_or_else(|e| panic!("{}: {e}", v.name));
        koywe
            .normalize(verified, NOW)
            .unwrap_or_else(|e| panic!("{}: {e}", v.name));

        // And a wrong secret does not.
        let other = Koywe::new(
            SecretList::parse("not-it").unwrap(),
            Duration::from_secs(86_400),
        );
        assert_eq!(other.verify(&inbound, NOW).await.unwrap_err().status, 401);
    }
}

async fn verify_on(
    p: &Koywe,
    body: &[u8],
    headers: &http::HeaderMap,
) -> Result<Authentic, Rejection> {
    let params = HashMap::new();
    p.verify(
        &Inbound {
            body,
            headers,
            params: &params,
        },
        NOW,
    )
    .await
}

/// Koywe's current API: Node's HMAC of the raw bytes, in `Koywe-Signature`,
/// verifies on exactly those bytes and on no re-serialization of them.
async fn verify_header_vector(v: &Vector, secrets: SecretList) {
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "koywe-signature",
        http::HeaderValue::from_str(&v.signature).unwrap(),
    );
    let koywe = Koywe::new(secrets, Duration::from_secs(86_400));
    let other = Koywe::new(
        SecretList::parse("not-it").unwrap(),
        Duration::from_secs(86_400),
    );
    let reprinted = canonical::stringify(&canonical::parse_strict(v.body.as_bytes()).unwrap());
    let verified = verify_on(&koywe, v.body.as_bytes(), &headers)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", v.name))
        .parsed()
        .unwrap_or_else(|e| panic!("{}: {e}", v.name));
    let n = koywe
        .normalize(verified, NOW)
        .unwrap_or_else(|e| panic!("{}: {e}", v.name));
    assert!(n.event.order_id.starts_with("vec-order-"), "{}", v.name);
    // payhook's own signer agrees with Node's.
    let signed = koywe.sign(v.body.as_bytes(), NOW).unwrap();
    assert_eq!(signed.headers[0].1, v.signature, "{}", v.name);
    // A re-print of a non-canonical body is other bytes: refused.
    if reprinted != v.body {
        assert_eq!(
            verify_on(&koywe, reprinted.as_bytes(), &headers)
                .await
                .unwrap_err()
                .status,
            401,
            "{}",
            v.name
        );
    }
    assert_eq!(
        verify_on(&other, v.body.as_bytes(), &headers)
            .await
            .unwrap_err()
            .status,
        401,
        "{}",
        v.name
    );
}

#[test]
fn committed_vectors_match_what_node_prints_now() {
    let out =
        std::env::temp_dir().join(format!("payhook-koywe-vectors-{}.json", std::process::id()));
    let script = root().join("scripts/koywe-vectors.js");
    let status = match std::process::Command::new("node")
        .arg(&script)
        .arg(&out)
        .status()
    {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "Node.js (`node`) is not on PATH: install Node.js (https://nodejs.org) to run \
             this test; it proves payhook's JSON.stringify agrees with JavaScript's"
        ),
        Err(e) => panic!("cannot run node: {e}"),
    };
    assert!(status.success(), "{} failed: {status}", script.display());
    let fresh = std::fs::read(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    let committed = std::fs::read(fixture_path()).unwrap();
    assert!(
        fresh == committed,
        "{} is out of date: run `node scripts/koywe-vectors.js` and commit the result",
        fixture_path().display()
    );
}
