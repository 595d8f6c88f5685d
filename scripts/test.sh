#!/usr/bin/env bash
# The whole test suite, on a fresh machine or a fresh clone:
#
#   scripts/test.sh
#
# Installs what it needs (moto from PyPI, SAM CLI + cfn-lint from PyPI, the
# Standard Webhooks reference library from PyPI,
# cargo-lambda + zig from PyPI, the arm64 Rust target) into venvs under
# $PAYHOOK_TOOLS (default ~/.cache/payhook-tools), then runs, in order:
# formatting, clippy, every Rust test (unit, handler, moto-backed, CLI
# end to end), the SAM template checks, and the release arm64 build of every
# Lambda function. Nothing is skipped: a missing tool fails the run with a
# message saying how to install it.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/payhook/target}"
export PAYHOOK_TOOLS="${PAYHOOK_TOOLS:-$HOME/.cache/payhook-tools}"
export SAM_CLI_TELEMETRY=0
mkdir -p "$CARGO_TARGET_DIR" "$PAYHOOK_TOOLS"

step() { printf '\n==> %s\n' "$*"; }
need() {
    command -v "$1" >/dev/null 2>&1 || { echo "missing tool: $1 — $2" >&2; exit 1; }
}

need cargo "install Rust with rustup (https://rustup.rs)"
need python3 "install Python 3.10+ (apt-get install python3 python3-venv)"
# Debian packages the tests use as real clients and checkers, installed when
# missing (as root, or with sudo) and then required.
need_deb() {
    command -v "$1" >/dev/null 2>&1 && return 0
    echo "installing $2 (for $1)" >&2
    local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$2" >/dev/null; } || true
    need "$1" "$3"
}
need_deb curl curl "install curl: the HTTPS tests use it as the TLS client"
need_deb openssl openssl "install openssl: the HTTPS tests make their CA with it"
need_deb systemd-analyze systemd "install systemd: deploy/payhook.service is checked with systemd-analyze verify"
need_deb chromium chromium "install chromium: the console tests drive it headless"
need_deb chromedriver chromium-driver "install chromium-driver: the console tests drive chromium through it (WebDriver)"
need node "install Node.js 18+ (apt-get install nodejs): the Koywe tests compare with JavaScript's JSON.stringify"

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "tools: SAM CLI, cfn-lint, cargo-lambda + zig, arm64 target (installed once into $PAYHOOK_TOOLS)"
lambda_bin="$(scripts/deploy-checks.sh tools | tail -n 1)"
export PATH="$lambda_bin:$PATH"
command -v cargo-lambda >/dev/null || { echo "cargo-lambda not found after install (pip install cargo-lambda ziglang)" >&2; exit 1; }

step "Standard Webhooks reference library (PyPI standardwebhooks: the gateway interop test and the forwarding consumer)"
PAYHOOK_STANDARDWEBHOOKS_PYTHON="$(scripts/standardwebhooks.sh | tail -n 1)"
export PAYHOOK_STANDARDWEBHOOKS_PYTHON

step "moto server (DynamoDB + SQS) on 127.0.0.1"
moto_port="${MOTO_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}"
export MOTO_PORT="$moto_port"
PAYHOOK_TEST_MOTO="$(scripts/moto.sh | tail -n 1)"
export PAYHOOK_TEST_MOTO
trap 'scripts/moto.sh stop >/dev/null 2>&1 || true' EXIT
echo "moto at $PAYHOOK_TEST_MOTO"

step "cargo test --workspace"
cargo test --workspace --quiet 2>&1 | tee "$CARGO_TARGET_DIR/last-test.log"

step "dependency hygiene: licences and duplicate versions (offline)"
python3 scripts/deps-check.py

step "SAM template and Lambda release builds"
scripts/deploy-checks.sh

step "OpenAPI contract: schemathesis against payhook serve"
scripts/schemathesis.sh

# One closing line with the totals of every cargo test binary above.
passed=$(grep -Eo 'test result: ok\. [0-9]+ passed' "$CARGO_TARGET_DIR/last-test.log" | awk '{s+=$4} END {print s+0}')
step "all checks passed"
echo "summary: $passed passed, 0 failed"
