#!/usr/bin/env bash
# The benchmarks of payhook, in one command: installs its tools from the
# package registries, builds the release binaries, runs every measurement on
# 127.0.0.1 and writes BENCHMARKS.md. See bench/run.py for the measurements.
#
#   scripts/bench.sh
#
# Settings (environment):
#   CARGO_TARGET_DIR   build directory (default $HOME/.cache/payhook/target)
#   BENCH_ONLY         comma list of sections to run: criterion,compare,embedded,coldstart,overload,console
#                      (default all; the report merges with the last figures of the others, or,
#                      where there are none, keeps those sections of BENCHMARKS.md as they are)
#   BENCH_SECONDS      length of each load run (default 10)
#   BENCH_CONNECTIONS  wrk connections (default 16); BENCH_WRK_THREADS (default 2)
#   BENCH_COLD_RUNS    starts per Lambda function (default 10; the same for payhook's binaries
#                      and for the Node.js and Python Powertools functions beside them)
#   BENCH_ARM64=1      also install cargo-lambda + zig and report stripped arm64 sizes (slow)
#
# Tools: wrk and perf (Debian, apt-get), express (npm, into bench/node), fastapi +
# uvicorn[standard] (PyPI, venv in $HOME/.cache/payhook-tools/bench), criterion
# (crates.io, dev-dependency of shared/). For the cold start section also the
# functions an AWS user would deploy instead: Powertools for AWS Lambda
# (TypeScript) idempotency + AWS SDK v3 (npm, `npm ci` from the committed
# bench/powertools-node/package-lock.json) and Powertools for AWS Lambda
# (Python) + boto3 (PyPI, every distribution pinned in
# bench/powertools-python/requirements.txt, venv in
# $HOME/.cache/payhook-tools/bench/powertools-venv). Bounded: each load run lasts
# BENCH_SECONDS; the whole run is ~10 minutes once the binaries are built.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/payhook/target}"
TOOLS="$HOME/.cache/payhook-tools"
VENV="$TOOLS/bench/venv"
OUT="$ROOT/bench/out"
ONLY=",${BENCH_ONLY:-criterion,compare,embedded,coldstart,overload,console},"
want() { [[ "$ONLY" == *",$1,"* ]]; }
say() { printf '\n== %s\n' "$*" >&2; }
mkdir -p "$OUT"
started=$(date +%s)

# ---------------------------------------------------------------- tools
say "tools"
if ! command -v wrk >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
    else
        sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
    fi
fi
# perf: section 2's profile of payhook serve (Debian's linux-perf).
if want compare && ! command -v perf >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq linux-perf >/dev/null
    else
        sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq linux-perf >/dev/null
    fi
fi
command -v node >/dev/null || { echo "bench: node (Node.js) is required" >&2; exit 1; }
if [ ! -d bench/node/node_modules/express ]; then
    (cd bench/node && npm install --no-audit --no-fund --silent)
fi
if [ ! -x "$VENV/bin/uvicorn" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q 'fastapi' 'uvicorn[standard]'
fi
PT_VENV="$TOOLS/bench/powertools-venv"
PT_REQ=bench/powertools-python/requirements.txt
if want coldstart; then
    # Exactly the lock file's packages (reinstalled when the lock changes).
    if ! cmp -s bench/powertools-node/package-lock.json bench/powertools-node/node_modules/.bench-lock.json; then
        (cd bench/powertools-node && npm ci --no-audit --no-fund --silent \
            && cp package-lock.json node_modules/.bench-lock.json)
    fi
    # Exactly the pinned distributions (the venv is rebuilt when the pins change).
    if ! cmp -s "$PT_REQ" "$PT_VENV/bench-requirements.txt"; then
        rm -rf "$PT_VENV"
        python3 -m venv "$PT_VENV"
        "$PT_VENV/bin/pip" install -q --no-deps -r "$PT_REQ"
        "$PT_VENV/bin/pip" check >&2
        cp "$PT_REQ" "$PT_VENV/bench-requirements.txt"
    fi
fi

# ---------------------------------------------------------------- builds
say "release builds (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
FUNCS=(koywe onebuy-wallet-pay onebuy-checkout eightpay thirdweb)
pkgs=()
for f in "${FUNCS[@]}"; do pkgs+=(-p "$f"); done
# Lambda functions: the release profile (opt-level s, the 8 MB size budget).
cargo build --release "${pkgs[@]}"
(cd bench/hello-lambda && cargo build --release)
(cd bench/hello-sdk && cargo build --release)
# payhook serve: the `serve` profile (release at opt-level 3), for the load
# sections only.
if want compare || want embedded || want overload || want console; then
    cargo build --profile serve -p payhook-cli
fi
# Section 2's profile: the same `serve` build with its symbol table kept, so
# perf can name functions (the table is not loaded at run time), in a target
# directory of its own so the one above is not rebuilt.
if want compare; then
    CARGO_PROFILE_SERVE_STRIP=false cargo build --profile serve -p payhook-cli \
        --target-dir "$CARGO_TARGET_DIR/symbols"
fi
BIN="$CARGO_TARGET_DIR/release"
SERVE="$CARGO_TARGET_DIR/serve/payhook"
SERVE_SYMBOLS="$CARGO_TARGET_DIR/symbols/serve/payhook"

# ---------------------------------------------------------------- criterion
if want criterion; then
    say "criterion: CPU per webhook"
    rm -rf "$CARGO_TARGET_DIR/criterion/webhook" "$CARGO_TARGET_DIR/criterion/pipeline" \
        "$CARGO_TARGET_DIR/criterion/stages_thirdweb-v1" "$CARGO_TARGET_DIR/criterion/validation"
    cargo bench -p payhook --features eightpay-api --bench webhook 2>&1 | tee "$OUT/criterion.txt" >&2
    cargo bench -p payhook --features callback --bench validation 2>&1 | tee "$OUT/criterion-validation.txt" >&2
fi

# ---------------------------------------------------------------- load
if want compare; then
    say "side by side: Express, FastAPI, payhook (memory store)"
    python3 bench/run.py compare --payhook "$SERVE" --profile-payhook "$SERVE_SYMBOLS" --venv "$VENV" \
        --out "$OUT/compare.json"
fi
if want embedded; then
    say "payhook serve on the embedded store"
    python3 bench/run.py embedded --payhook "$SERVE" --out "$OUT/embedded.json"
fi

# ---------------------------------------------------------------- cold start
if want coldstart; then
    say "cold start proxy"
    args=(--bin "hello-lambda=$BIN/hello-lambda" --bin "hello-sdk=$BIN/hello-sdk")
    for f in "${FUNCS[@]}"; do args+=(--bin "$f=$BIN/$f"); done
    # Beside them, in the same run: the Koywe function an AWS user would
    # deploy with Powertools idempotency, on Node.js and on Python, each under
    # a minimal runtime-API loop of its own language, and as baselines the same
    # loops with the smallest handler.
    args+=(--cmd "node-powertools=node $ROOT/bench/powertools-node/runtime.js index.handler")
    args+=(--cmd "node-hello=node $ROOT/bench/powertools-node/runtime.js hello.handler")
    args+=(--cmd "python-powertools=$PT_VENV/bin/python $ROOT/bench/powertools-python/bootstrap.py app.handler")
    args+=(--cmd "python-hello=$PT_VENV/bin/python $ROOT/bench/powertools-python/bootstrap.py hello.handler")
    python3 bench/run.py coldstart --runs "${BENCH_COLD_RUNS:-10}" "${args[@]}" --venv "$PT_VENV" \
        --out "$OUT/coldstart.json"
fi

ARM64=""
if [ "${BENCH_ARM64:-0}" = 1 ]; then
    say "arm64 sizes (cargo-lambda)"
    LVENV="$TOOLS/lambda"
    [ -x "$LVENV/bin/cargo-lambda" ] || { python3 -m venv "$LVENV" && "$LVENV/bin/pip" install -q cargo-lambda ziglang; }
    rustup target add aarch64-unknown-linux-gnu >/dev/null
    lpkgs=()
    for f in "${FUNCS[@]}"; do lpkgs+=(--bin "$f"); done
    PATH="$LVENV/bin:$PATH" cargo lambda build --release --arm64 "${lpkgs[@]}" >&2
    ARM64=$(for f in "${FUNCS[@]}"; do
        p="$CARGO_TARGET_DIR/lambda/$f/bootstrap"
        [ -f "$p" ] && awk -v f="$f" -v s="$(stat -c %s "$p")" 'BEGIN { printf "%s %.1f MB, ", f, s / 1e6 }'
    done | sed 's/, $//')
    echo "$ARM64" > "$OUT/arm64.txt"
elif [ -f "$OUT/arm64.txt" ]; then
    ARM64=$(cat "$OUT/arm64.txt")
fi

# ---------------------------------------------------------------- report
say "report"
keep=()
want overload || keep+=(--keep-overload)
want console || keep+=(--keep-console)
python3 bench/run.py report --results "$OUT" --criterion "$CARGO_TARGET_DIR/criterion" \
    --out "$ROOT/BENCHMARKS.md" --command "scripts/bench.sh" --arm64-size "$ARM64" "${keep[@]}"
if want overload; then
    say "overload curve (bench/overload.py)"
    if python3 bench/overload.py "$SERVE" >&2; then
        { printf '\n## 6. Overload: load shedding on the embedded store (bench/overload.py)\n\n'
          cat "$OUT/overload.md"; } >> "$ROOT/BENCHMARKS.md"
    else
        echo "bench: overload curve failed" >&2
        exit 1
    fi
fi
if want console; then
    say "console pages with 100,000 events (bench/console.py)"
    python3 bench/console.py --payhook "$SERVE" --out "$OUT/console.json" --markdown "$OUT/console.md" >&2
    { printf '\n## 7. Console pages with 100,000 events (bench/console.py)\n\n'
      cat "$OUT/console.md"; } >> "$ROOT/BENCHMARKS.md"
fi
echo "bench: wrote BENCHMARKS.md in $(( $(date +%s) - started )) s" >&2
