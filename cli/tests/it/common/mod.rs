//! Helpers shared by the CLI integration tests.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

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
    for k in payhook::config::setting_names() {
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
pub fn serve_with(mut cmd: Command) -> (Server, String, String) {
    let mut child = cmd
        .args(["serve", "--listen", "127.0.0.1:0"])
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
