#!/usr/bin/env bash
# Check openapi.yaml against the real server: schemathesis (PyPI) sends
# generated requests to `payhook serve` and fails on any server error (5xx)
# and on any response the document does not describe (status code, content
# type, headers, body schema), including 405 + `Allow` for other methods.
#
#   scripts/schemathesis.sh            build, start a throw-away server, run
#
# Settings (environment):
#   PAYHOOK_TOOLS          where tool venvs live (default $HOME/.cache/payhook-tools)
#   CARGO_TARGET_DIR       cargo's target dir (default $HOME/.cache/payhook/target)
#   ST_MAX_EXAMPLES        test cases per operation and phase (default 60)
#   ST_MAX_TIME            time budget of the schemathesis run, seconds (default 120)
#   ST_SEED                schemathesis/hook seed (default: fixed, 7; "random" for none)
#   SCHEMATHESIS_VERSION   pip requirement (default schemathesis==4.32.5)
#
# The server runs with no provider secrets in its environment, so it generates
# development secrets into a temporary data dir; tests/openapi/st_hooks.py reads
# them to sign requests and fill path parameters, so that most requests reach
# the handlers (accepted, duplicate, 400, 409…) and the rest exercise the 401s.
# Traffic goes to 127.0.0.1 only. Exit status is non-zero on any failure.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="${PAYHOOK_TOOLS:-$HOME/.cache/payhook-tools}"
venv="$tools/schemathesis"
req="${SCHEMATHESIS_VERSION:-schemathesis==4.32.5}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/payhook/target}"
max_examples="${ST_MAX_EXAMPLES:-60}"
max_time="${ST_MAX_TIME:-120}"
seed="${ST_SEED:-7}"

say() { printf 'schemathesis.sh: %s\n' "$*" >&2; }

# 1. schemathesis in its own venv (outside the clone, shared by clones).
if ! "$venv/bin/python" -c 'import schemathesis' >/dev/null 2>&1 \
    || [[ "$("$venv/bin/schemathesis" --version 2>/dev/null | awk '{print $NF}')" != "${req##*==}" && "$req" == *==* ]]; then
    say "installing $req into $venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
    "$venv/bin/python" -m pip install --quiet "$req"
fi
if ! "$venv/bin/python" -c 'import openapi_spec_validator' >/dev/null 2>&1; then
    "$venv/bin/python" -m pip install --quiet openapi-spec-validator
fi
# The document itself: valid OpenAPI 3.1 (refs resolved, incl. schema/*.json).
"$venv/bin/python" - "$root/openapi.yaml" <<'PY'
import sys
from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename
spec, base = read_from_filename(sys.argv[1])
validate(spec, base_uri=base)
PY
say "openapi.yaml is valid OpenAPI 3.1"
say "$("$venv/bin/schemathesis" --version)"

# 2. the server.
say "building payhook-cli"
(cd "$root" && cargo build --quiet -p payhook-cli)
bin="$CARGO_TARGET_DIR/debug/payhook"

work="$(mktemp -d "${TMPDIR:-/tmp}/payhook-schemathesis.XXXXXX")"
server_pid=""
cleanup() {
    local rc=$?
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    if [[ $rc -ne 0 && -f "$work/server.log" ]]; then
        say "server log, warnings and errors (last 30):"
        sed 's/\x1b\[[0-9;]*m//g' "$work/server.log" | grep -E ' (WARN|ERROR) |panicked' | grep -v 'same event id, different payload' | tail -n 30 >&2 || true
    fi
    if [[ -n "${ST_KEEP_LOG:-}" && -f "$work/server.log" ]]; then cp "$work/server.log" "$ST_KEEP_LOG"; fi
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT INT TERM

# Users the validation callback knows (the hooks and probes ask about them).
mkdir -p "$work/data"
"$bin" --data-dir "$work/data" users allow allowed@example.com >/dev/null
"$bin" --data-dir "$work/data" users block blocked@example.com >/dev/null

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"
url="http://127.0.0.1:$port"

# No secrets from the caller's environment: the server must generate its own.
server_env=(env)
while IFS= read -r name; do server_env+=(-u "$name"); done < <(env | sed -n 's/^\(PAYHOOK_[A-Z0-9_]*\)=.*/\1/p')
"${server_env[@]}" RUST_LOG="${RUST_LOG:-warn,payhook::webhook=info,payhook::validation=info}" \
    "$bin" --data-dir "$work/data" serve --listen "127.0.0.1:$port" >"$work/server.log" 2>&1 &
server_pid=$!

for _ in $(seq 1 100); do
    if curl -fsS --max-time 1 "$url/healthz" >/dev/null 2>&1; then break; fi
    if ! kill -0 "$server_pid" 2>/dev/null; then say "payhook serve exited"; exit 1; fi
    sleep 0.1
done
curl -fsS --max-time 2 "$url/healthz" >/dev/null || { say "payhook serve did not answer /healthz"; exit 1; }
secrets="$work/data/dev-secrets.env"
[[ -f "$secrets" ]] || { say "no $secrets: did the server generate dev secrets?"; exit 1; }
say "payhook serve on $url (data dir $work/data)"

# 3. schemathesis.
seed_args=()
[[ "$seed" != random ]] && seed_args=(--seed "$seed")
checks=not_a_server_error,status_code_conformance,content_type_conformance
checks+=,response_headers_conformance,response_schema_conformance
checks+=,unsupported_method,allow_header_conformance

set +e
PYTHONPATH="$root/tests/openapi${PYTHONPATH:+:$PYTHONPATH}" \
SCHEMATHESIS_HOOKS=st_hooks \
PAYHOOK_ST_URL="$url" PAYHOOK_ST_SECRETS="$secrets" PAYHOOK_ST_SEED="$seed" \
PAYHOOK_ST_BIN="$bin" PAYHOOK_ST_DATA="$work/data" \
    "$venv/bin/schemathesis" run "$root/openapi.yaml" \
    --url "$url" \
    --checks "$checks" \
    --phases examples,coverage,fuzzing \
    --max-examples "$max_examples" \
    --max-time "$max_time" \
    --request-timeout 10 \
    --workers 1 \
    --generation-database none \
    --suppress-health-check filter_too_much,too_slow \
    --no-color \
    "${seed_args[@]}" \
    --report junit --report-dir "${ST_REPORT_DIR:-$work/report}"
rc=$?

# 4. What schemathesis cannot generate: undecodable path parameters, bodies
# over the limits, repeated keys, stale signed timestamps, every other
# method… each checked against the document with the same checks.
say "probes"
"$venv/bin/python" "$root/tests/openapi/probes.py" "$root/openapi.yaml" "$url" "$secrets" "$bin" "$work/data"
probe_rc=$?
set -e

# 5. Proof that the hooks got requests through authentication: outcomes per
# route from the server's log lines (one per request).
summary="$(sed 's/\x1b\[[0-9;]*m//g' "$work/server.log" \
    | sed -nE 's/.*payhook::(webhook|validation).*(provider=([a-z0-9-]+)|auth="[a-z0-9-]+").* outcome="([a-z_]+)".* code=([0-9]+).*/\3 \4 \5/p' \
    | awk '{ if ($0 ~ /^ /) $0 = "validation" $0; print }' | sort | uniq -c | sort -k2,2 -k1,1nr)"
say "server outcomes (count, route, outcome, status):"
printf '%s\n' "$summary" >&2
missing=()
for want in "onebuy-wallet-pay accepted" "onebuy-checkout accepted" "koywe accepted" \
    "eightpay accepted" "thirdweb accepted" "validation allow" "validation deny"; do
    grep -q " $want " <<<"$summary" || missing+=("$want")
done
if [[ ${#missing[@]} -gt 0 ]]; then
    say "FAILED: no request reached: ${missing[*]} (are tests/openapi/st_hooks.py and the dev secrets in step?)"
    exit 1
fi
if [[ $rc -ne 0 ]]; then
    say "FAILED (schemathesis exit $rc)"
    exit "$rc"
fi
if [[ $probe_rc -ne 0 ]]; then
    say "FAILED (probes: a response breaks openapi.yaml)"
    exit "$probe_rc"
fi
say "passed"
