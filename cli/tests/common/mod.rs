//! Helpers shared by the CLI integration tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Child;

/// The functions with webhook samples in `events/`.
pub const FUNCTIONS: [&str; 5] = [
    "onebuy-wallet-pay",
    "onebuy-checkout",
    "koywe",
    "eightpay",
    "thirdweb",
];

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
