//! The systemd unit in `deploy/` (issue 14, item 6): `systemd-analyze
//! verify` accepts it (with its binary path pointed at the built `payhook`),
//! with no warning, and its ExecStart command line is one `payhook` runs.

use crate::common::repo;

fn unit() -> String {
    std::fs::read_to_string(repo().join("deploy/payhook.service"))
        .unwrap_or_else(|e| panic!("deploy/payhook.service: {e}"))
}

#[test]
fn the_systemd_unit_verifies() {
    let dir = std::env::temp_dir().join(format!("payhook-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let path = dir.join("payhook.service");
    let text = unit().replace("/usr/local/bin/payhook", env!("CARGO_BIN_EXE_payhook"));
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap_or_else(|e| {
            panic!("systemd-analyze (apt-get install systemd) is needed to check the unit: {e}")
        });
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "systemd-analyze verify: {err}");
    assert!(err.trim().is_empty(), "systemd-analyze warned: {err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_units_command_line_runs() {
    let text = unit();
    let exec = text
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap_or_else(|| panic!("no ExecStart"));
    let mut args: Vec<String> = exec.split_whitespace().skip(1).map(str::to_owned).collect();
    assert!(exec.starts_with("/usr/local/bin/payhook "), "{exec}");
    // Same flags, a temporary data dir and a free local port.
    let dir = std::env::temp_dir().join(format!("payhook-unit-run-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let at = |args: &[String], flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .unwrap_or_else(|| panic!("ExecStart has no {flag}"))
            + 1
    };
    let i = at(&args, "--data-dir");
    args[i] = dir.display().to_string();
    let i = at(&args, "--listen");
    args[i] = "127.0.0.1:0".into();
    // The unit's exact arguments (paths and port swapped) start a server.
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_payhook"));
    cmd.current_dir(repo())
        .args(&args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    for k in payhook::config::setting_names() {
        cmd.env_remove(k);
    }
    let child = cmd.spawn().unwrap_or_else(|e| panic!("{e}"));
    let mut server = crate::common::Server(child);
    let stdout = server
        .0
        .stdout
        .take()
        .unwrap_or_else(|| panic!("no stdout"));
    let mut banner = String::new();
    for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
        let line = line.unwrap_or_default();
        banner.push_str(&line);
        banner.push('\n');
        if line.starts_with("Try:") {
            break;
        }
    }
    assert!(
        banner.contains("listening on http://127.0.0.1:"),
        "{banner}"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
