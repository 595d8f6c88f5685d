#!/usr/bin/env python3
"""Overload curve of `payhook serve` on the embedded store (issue 8, item 4).

Runs wrk with growing connection counts against one server started with a
small `--max-in-flight`, each load a few seconds, fresh signed Koywe bodies
per run, and records requests/s answered 200, the share shed with 503, p99
latency and the server's resident memory after each step. Prints a Markdown
table (also written to bench/out/overload.md).

    python3 bench/overload.py [BINARY]   # default $CARGO_TARGET_DIR/serve/payhook
"""
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402  (the bench helpers)

STEPS = [8, 32, 128, 512]
SECONDS = int(os.environ.get("OVERLOAD_SECONDS", "5"))
MAX_IN_FLIGHT = os.environ.get("OVERLOAD_MAX_IN_FLIGHT", "32")
QUEUE_MS = int(os.environ.get("OVERLOAD_QUEUE_MS", "500"))


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def curve(binary, queue_ms, port, tag):
    """One server with `--queue-ms queue_ms`, every step of STEPS."""
    data = tempfile.mkdtemp(prefix="payhook-overload-")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAYHOOK_", "AWS_"))}
    env["PAYHOOK_KOYWE_SECRETS"] = run.SECRET
    env["RUST_LOG"] = "warn"
    proc = subprocess.Popen(
        [binary, "--data-dir", data, "serve", "--listen", f"127.0.0.1:{port}",
         "--max-in-flight", MAX_IN_FLIGHT, "--queue-ms", str(queue_ms)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    rows = []
    try:
        run.wait_port(port, proc)
        for i, c in enumerate(STEPS):
            bodies = run.koywe_bodies(200_000, run.OUT / f"overload-{tag}-{i}.txt", f"ov{tag}{i}-")
            r = run.wrk(f"http://127.0.0.1:{port}/webhooks/koywe", bodies, seconds=SECONDS,
                        connections=c)
            total = r.get("requests", 0) or 1
            non200 = r.get("non200", 0)
            rows.append((c, r.get("rps", 0.0) * (1 - non200 / total), 100.0 * non200 / total,
                         r.get("p99_us", 0) / 1000, rss_kib(proc.pid) / 1024))
    finally:
        run.stop(proc)
    return rows


def main():
    target = os.environ.get("CARGO_TARGET_DIR", str(Path.home() / ".cache/payhook/target"))
    binary = sys.argv[1] if len(sys.argv) > 1 else f"{target}/serve/payhook"
    run.OUT.mkdir(parents=True, exist_ok=True)
    # Side by side in one run: the default wait in line for a slot, and
    # shedding at once (`--queue-ms 0`, what serve did before).
    modes = [(QUEUE_MS, curve(binary, QUEUE_MS, 39123, "q")), (0, curve(binary, 0, 39124, "z"))]
    limit = int(MAX_IN_FLIGHT)
    lines = [
        f"`payhook serve` (embedded store, `--max-in-flight {MAX_IN_FLIGHT}`), "
        f"`wrk` {SECONDS} s per step (closed loop: each connection sends again as soon as it is "
        "answered), distinct signed Koywe bodies; each server's goodput as a share of its own "
        "peak, both measured in this run:",
        "",
        "| `--queue-ms` | connections (× limit) | accepted/s (200) | of peak | shed (503) | p99 | server RSS after |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for q, rows in modes:
        peak = max(r[1] for r in rows) or 1
        for c, ok, shed, p99, rss in rows:
            lines.append(
                f"| {q} | {c} ({c / limit:g}×) | {ok:,.0f} | {100 * ok / peak:.0f} % | "
                f"{shed:.1f} % | {p99:.2f} ms | {rss:.1f} MiB |"
            )
    text = "\n".join(lines) + "\n"
    (run.OUT / "overload.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
