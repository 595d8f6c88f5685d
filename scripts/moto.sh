#!/usr/bin/env bash
# Start (or stop) a moto server on 127.0.0.1 for the DynamoDB/SQS tests.
#
#   scripts/moto.sh          install moto[server] + boto3 into a venv if missing,
#                            start moto_server in the background, wait until it
#                            answers, print the endpoint to export as
#                            PAYHOOK_TEST_MOTO
#   scripts/moto.sh stop     stop the server started by this script
#
# Settings: MOTO_PORT (default 5055), PAYHOOK_TOOLS (default
# $HOME/.cache/payhook-tools). The venv lives outside the clone so that every
# clone on this machine shares it.
set -euo pipefail

port="${MOTO_PORT:-5055}"
tools="${PAYHOOK_TOOLS:-$HOME/.cache/payhook-tools}"
venv="$tools/moto"
pidfile="$tools/moto-$port.pid"
logfile="$tools/moto-$port.log"
endpoint="http://127.0.0.1:$port"

answers() {
    python3 - "$endpoint" <<'PY' >/dev/null 2>&1
import sys, urllib.request
urllib.request.urlopen(sys.argv[1] + "/moto-api/", timeout=1).read()
PY
}

stop() {
    if [[ -f "$pidfile" ]]; then
        pid="$(cat "$pidfile")"
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid"
            for _ in $(seq 1 50); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
        fi
        rm -f "$pidfile"
        echo "moto stopped ($endpoint)"
    else
        echo "moto not started by this script on port $port"
    fi
}

start() {
    mkdir -p "$tools"
    if [[ ! -x "$venv/bin/moto_server" ]]; then
        echo "installing moto[server] and boto3 into $venv" >&2
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --upgrade pip
        "$venv/bin/pip" install --quiet 'moto[server]' boto3
    fi
    if [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null && answers; then
        echo "moto already running at $endpoint (pid $(cat "$pidfile"))" >&2
        echo "$endpoint"
        return 0
    fi
    if answers; then
        echo "something already answers at $endpoint; using it" >&2
        echo "$endpoint"
        return 0
    fi
    nohup "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$logfile" 2>&1 &
    echo $! >"$pidfile"
    for _ in $(seq 1 100); do
        if answers; then
            echo "moto running at $endpoint (pid $(cat "$pidfile"), log $logfile)" >&2
            echo "$endpoint"
            return 0
        fi
        if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
            break
        fi
        sleep 0.1
    done
    echo "moto did not start; see $logfile" >&2
    tail -n 20 "$logfile" >&2 || true
    stop >/dev/null
    return 1
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 [start|stop]" >&2; exit 2 ;;
esac
