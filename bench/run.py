#!/usr/bin/env python3
"""payhook benchmarks: the measurements that need servers and processes.

Called by scripts/bench.sh (read it first); each subcommand writes one JSON
file of figures under bench/out/, and `report` turns them (and criterion's
estimates) into BENCHMARKS.md.

    run.py compare   --payhook BIN [--profile-payhook BIN] --out F
                                              Express vs FastAPI vs payhook (memory store),
                                              and payhook's CPU by component under perf
    run.py embedded  --payhook BIN --out F    payhook serve on SQLite: new events, duplicates
    run.py coldstart --bin NAME=PATH ... [--cmd NAME=COMMAND ...] --out F
                                              Lambda functions under a runtime API stand-in
    run.py report    --results DIR --criterion DIR --out BENCHMARKS.md

Everything listens on 127.0.0.1 and every load run is bounded in time
(BENCH_SECONDS, default 10) and connections (BENCH_CONNECTIONS, default 16).
"""

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import shlex
import shutil
import signal
import socket
import struct
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"
SECRET = "bench-koywe-secret"
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "16"))
THREADS = int(os.environ.get("BENCH_WRK_THREADS", "2"))
TICK = os.sysconf("SC_CLK_TCK")


def log(*a):
    print("[bench]", *a, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# processes, ports, CPU time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def cpu_split(pid):
    """(utime, stime) of the whole process (all threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    rest = stat[stat.rfind(")") + 2 :].split()
    return int(rest[11]) / TICK, int(rest[12]) / TICK


def cpu_seconds(pid):
    return sum(cpu_split(pid))


def vm_hwm_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


# --------------------------------------------------------------------------
# bodies and load


def koywe_bodies(n, out, prefix):
    """N distinct Koywe bodies signed with SECRET, one per line (node)."""
    subprocess.run(
        ["node", str(HERE / "gen_koywe_bodies.js"), SECRET, str(n), str(out), prefix],
        check=True,
    )
    return out


def wrk(url, bodies, seconds=SECONDS, connections=CONNECTIONS, threads=THREADS):
    env = dict(os.environ, BODIES=str(bodies), WRK_THREADS=str(threads))
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "-T5s",
        "-s",
        str(HERE / "wrk" / "bodies.lua"),
        url,
    ]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 60)
    for line in p.stdout.splitlines():
        if line.startswith("WRK_JSON "):
            r = json.loads(line[len("WRK_JSON ") :])
            r["connections"] = connections
            r["threads"] = threads
            r["seconds"] = seconds
            return r
    raise RuntimeError(f"wrk printed no figures:\n{p.stdout}\n{p.stderr}")


def post_all(port, path, bodies_file):
    """POST every body once, sequentially, on one keep-alive connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    codes = {}
    with open(bodies_file, "rb") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            conn.request("POST", path, body=line, headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
            codes[r.status] = codes.get(r.status, 0) + 1
    conn.close()
    return codes


def machine_ticks():
    """The whole machine's CPU time by kind, in clock ticks (/proc/stat)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = v
    return {"user": user + nice, "system": system + irq + softirq, "idle": idle,
            "iowait": iowait, "steal": steal}


def machine_shares(t0, t1):
    """Each kind's share of the machine's CPU time between two readings:
    `steal` is time the hypervisor gave this VM's vCPUs to someone else."""
    d = {k: t1[k] - t0[k] for k in t0}
    total = max(sum(d.values()), 1)
    return {k: round(v / total, 3) for k, v in d.items()}


def measured_run(proc, url, bodies):
    """One wrk run with the server's CPU time read before and after, and
    how the machine's CPU time was spent meanwhile (steal included). Dirty
    pages left by earlier steps (the builds) are written out first, so the
    kernel's writeback of them does not land in the measured window."""
    os.sync()
    la = loadavg()
    m0 = machine_ticks()
    u0, s0 = cpu_split(proc.pid)
    r = wrk(url, bodies)
    u1, s1 = cpu_split(proc.pid)
    r["machine"] = machine_shares(m0, machine_ticks())
    c0, c1 = u0 + s0, u1 + s1
    r["server_cpu_s"] = round(c1 - c0, 3)
    r["kernel_share"] = round((s1 - s0) / max(c1 - c0, 1e-9), 3)
    r["cpu_us_per_request"] = round((c1 - c0) / max(r["requests"], 1) * 1e6, 2)
    r["loadavg_before"] = la
    return r


# --------------------------------------------------------------------------
# compare: Express vs FastAPI vs payhook serve --backend memory


def start_express(port):
    env = dict(os.environ, KOYWE_SECRET=SECRET, PORT=str(port), NODE_ENV="production")
    return subprocess.Popen(
        ["node", str(HERE / "node" / "server.js")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(OUT / "express.log", "w"),
    )


def start_fastapi(port, venv):
    env = dict(os.environ, KOYWE_SECRET=SECRET)
    return subprocess.Popen(
        [
            str(Path(venv) / "bin" / "uvicorn"),
            "app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=HERE / "python",
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(OUT / "fastapi.log", "w"),
    )


def start_payhook(binary, port, data_dir, backend, log_name, rust_log=None, extra=()):
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PAYHOOK_") and not k.startswith("AWS_")
    }
    env["PAYHOOK_KOYWE_SECRETS"] = SECRET
    if rust_log:
        env["RUST_LOG"] = rust_log
    return subprocess.Popen(
        [
            str(binary),
            "--data-dir",
            str(data_dir),
            "--backend",
            backend,
            "serve",
            "--listen",
            f"127.0.0.1:{port}",
            *extra,
        ],
        env=env,
        stdout=open(OUT / f"{log_name}.out.log", "w"),
        stderr=open(OUT / f"{log_name}.log", "w"),
    )


def versions(venv):
    v = {}
    try:
        v["node"] = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
        v["express"] = json.loads((HERE / "node" / "node_modules" / "express" / "package.json").read_text())["version"]
    except (OSError, ValueError):
        pass
    try:
        out = subprocess.run(
            [str(Path(venv) / "bin" / "python"), "-c",
             "import sys,fastapi,uvicorn;print(sys.version.split()[0],fastapi.__version__,uvicorn.__version__)"],
            capture_output=True, text=True,
        ).stdout.split()
        v["python"], v["fastapi"], v["uvicorn"] = out
        for mod in ("uvloop", "httptools"):
            ok = subprocess.run([str(Path(venv) / "bin" / "python"), "-c", f"import {mod}"],
                                capture_output=True).returncode == 0
            v[mod] = ok
    except (OSError, ValueError):
        pass
    try:
        v["wrk"] = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0].strip()
    except OSError:
        pass
    return v


def cmd_compare(a):
    OUT.mkdir(exist_ok=True)
    warm = koywe_bodies(20000, OUT / "warm.txt", "warm")
    main = koywe_bodies(a.bodies, OUT / "compare.txt", "cmp")
    results = {"bodies": a.bodies, "versions": versions(a.venv), "servers": {}}
    servers = [
        ("express", lambda port: start_express(port)),
        ("fastapi", lambda port: start_fastapi(port, a.venv)),
        ("payhook", lambda port: start_payhook(
            a.payhook, port, Path(tempfile.mkdtemp(prefix="payhook-bench-mem-")), "memory", "payhook-memory")),
        # One HTTP thread, as Node.js and uvicorn run.
        ("payhook-1", lambda port: start_payhook(
            a.payhook, port, Path(tempfile.mkdtemp(prefix="payhook-bench-mem-")), "memory",
            "payhook-memory-1", extra=("--workers", "1"))),
        # Diagnostic: the same without the per-webhook log line.
        ("payhook-1-nolog", lambda port: start_payhook(
            a.payhook, port, Path(tempfile.mkdtemp(prefix="payhook-bench-mem-")), "memory",
            "payhook-memory-1-nolog", rust_log="warn", extra=("--workers", "1"))),
    ]
    for name, start in servers:
        port = free_port()
        proc = start(port)
        try:
            wait_port(port, proc)
            url = f"http://127.0.0.1:{port}/webhooks/koywe"
            log(f"compare: {name}: warm-up 3 s")
            wrk(url, warm, seconds=3)
            log(f"compare: {name}: {SECONDS} s of distinct signed Koywe webhooks")
            r = measured_run(proc, url, main)
            results["servers"][name] = r
            log(f"compare: {name}: {r['rps']:.0f} req/s, {r['cpu_us_per_request']} µs CPU/request, "
                f"non-200 {r['non200']}, wrapped {r['wrapped']}")
        finally:
            stop(proc)
    if a.profile_payhook:
        results["profile"] = profile_payhook(a.profile_payhook, warm, main)
    results["date"] = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    Path(a.out).write_text(json.dumps(results, indent=2))


# Where payhook's CPU per webhook goes, by component: the first group whose
# pattern matches a sample's symbol (self time, no call graph) takes it.
# Kernel groups take kernel samples, the rest user-space ones.
PROFILE_KERNEL = [
    ("memory: page faults, zeroing new pages", r"page|fault|mm_|folio|lru|pte|memcg|clear_|zone|rmqueue|vma|pmd"),
    ("scheduling, wake-ups, futex", r"sched|switch|futex|wake|idle|rq_|enqueue|dequeue|pick_next|select_task"),
    ("loopback TCP/IP, sockets, epoll, system calls", r"."),
]
PROFILE_USER = [
    ("allocator (glibc malloc/free)", r"malloc|free|realloc|calloc|tcache|_int_|consolidate|unlink_chunk|sysmalloc|brk"),
    ("memory copies and compares (libc)", r"^__mem|^mem|^__str|^str"),
    ("HTTP/1 (hyper, http, httparse, bytes)", r"hyper|http::|httparse|h1::|bytes::"),
    ("routing, middleware (axum, tower)", r"axum|tower|matchit"),
    ("async runtime (tokio, mio)", r"tokio|mio::|futures"),
    ("log line (tracing, logfmt, logbuf)", r"tracing|logfmt|logbuf|nu_ansi|sharded_slab"),
    ("JSON parse (strict, serde_json)", r"serde_json::de|Deserializ|deserialize|canonical::parse|Strict|serde_json::read"),
    ("JSON write (published event, signed text, answer)", r"serde_json::ser|Serializ|serialize|canonical::|ryu|itoa|format_escaped"),
    ("SHA-256, HMAC, hex", r"sha2|hmac|digest|Digest|hex|subtle|secret::"),
    ("memory store (hash tables, pending set)", r"store::memory|hashbrown|foldhash|btree|BTree"),
    ("JSON object maps (indexmap, SipHash)", r"indexmap|sip::"),
    ("dates (time crate)", r"time::"),
    ("payhook: verify, normalize, pipeline", r"payhook"),
    ("Rust core/alloc/std (fmt, strings, vectors)", r"core::|alloc::|std::"),
    ("other user space (libc, vDSO, unresolved)", r"."),
]


def perf_symbols(data):
    """[(share %, is_kernel, dso, symbol)] from `perf report` (self time)."""
    out = subprocess.run(
        ["perf", "report", "-i", str(data), "--no-children", "--sort", "dso,sym", "--stdio", "-g", "none"],
        capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        m = re.match(r"^\s*([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(.*?)\s*$", line)
        if m:
            sym = re.sub(r"(\s+-)+$", "", m.group(4))
            rows.append((float(m.group(1)), m.group(3) == "k", m.group(2), sym))
    return rows


def profile_payhook(binary, warm, main):
    """payhook serve (memory store) under the compare load with `perf record`
    sampling it: its CPU per webhook from /proc, split by component in the
    proportions of perf's samples (user-space samples share the user time,
    kernel samples the kernel time)."""
    if not shutil.which("perf"):
        raise SystemExit("bench: perf is required for the profile of section 2 (Debian: linux-perf)")
    port = free_port()
    proc = start_payhook(binary, port, Path(tempfile.mkdtemp(prefix="payhook-bench-mem-")), "memory",
                         "payhook-memory-perf")
    data = OUT / "perf-compare.data"
    try:
        wait_port(port, proc)
        url = f"http://127.0.0.1:{port}/webhooks/koywe"
        log("compare: payhook under perf: warm-up 3 s")
        wrk(url, warm, seconds=3)
        rec = subprocess.Popen(["perf", "record", "-F", "999", "-p", str(proc.pid), "-o", str(data),
                                "--", "sleep", str(SECONDS)],
                               stdout=subprocess.DEVNULL, stderr=open(OUT / "perf-record.log", "w"))
        time.sleep(0.3)
        r = measured_run(proc, url, main)
        rec.wait()
    finally:
        stop(proc)
    rows = perf_symbols(data)
    cpu = r["cpu_us_per_request"]
    kern_us, user_us = cpu * r["kernel_share"], cpu * (1 - r["kernel_share"])
    groups = []
    for kernel, table, total_us in ((False, PROFILE_USER, user_us), (True, PROFILE_KERNEL, kern_us)):
        mine = [x for x in rows if x[1] == kernel]
        total = sum(x[0] for x in mine) or 1e-9
        acc = {name: 0.0 for name, _ in table}
        for share, _, _, sym in mine:
            for name, pat in table:
                if re.search(pat, sym):
                    acc[name] += share
                    break
        for name, share in acc.items():
            groups.append({"kernel": kernel, "component": name, "samples_pct": round(share, 2),
                           "us": round(total_us * share / total, 2)})
    top = [{"samples_pct": sh, "symbol": sym[:120]} for sh, k, _, sym in rows if not k][:12]
    log(f"compare: payhook under perf: {cpu} µs CPU/request, {len(rows)} symbols")
    return {"run": r, "user_us": round(user_us, 2), "kernel_us": round(kern_us, 2),
            "groups": groups, "top_user": top, "perf_version": subprocess.run(
                ["perf", "--version"], capture_output=True, text=True).stdout.strip()}


# --------------------------------------------------------------------------
# embedded: payhook serve on SQLite, new events and duplicates


def count_events(db):
    con = sqlite3.connect(str(db), timeout=10)
    try:
        total = con.execute("SELECT count(*) FROM events").fetchone()[0]
        published = con.execute("SELECT count(*) FROM events WHERE state = 'published'").fetchone()[0]
        outbox = con.execute("SELECT count(*) FROM outbox").fetchone()[0]
    finally:
        con.close()
    return {"events": total, "published": published, "outbox": outbox}


def fsync_probe(directory, n=200):
    """How long one write + fdatasync takes where the database lives."""
    path = Path(directory) / "fsync-probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        t0 = time.perf_counter()
        for _ in range(n):
            os.write(fd, b"x" * 4096)
            os.fdatasync(fd)
        dt = time.perf_counter() - t0
    finally:
        os.close(fd)
        path.unlink()
    return round(dt / n * 1e6, 1)


def wal_frames(wal_path):
    """The frames of a WAL file's current cycle: (page size, checkpoint
    sequence, [(page number, commit?)]), stopping at the first frame whose
    salt is not the header's (a frame of an earlier cycle, or torn)."""
    data = Path(wal_path).read_bytes()
    if len(data) < 32:
        return 0, 0, []
    page_size, seq = struct.unpack(">II", data[8:16])
    salt = data[16:24]
    frames, off = [], 32
    while off + 24 + page_size <= len(data):
        pgno, commit_size = struct.unpack(">II", data[off:off + 8])
        if data[off + 8:off + 16] != salt:
            break
        frames.append((pgno, commit_size != 0))
        off += 24 + page_size
    return page_size, seq, frames


def wal_pages(binary, events, data_parent):
    """Which B-trees a new event's commit writes: EVENTS distinct events sent
    by wrk (16 connections) to a fresh server, which is then killed (-9) so
    its write-ahead log stays; the frames the run added are counted by the
    B-tree their page belongs to (SQLite's dbstat on a copy). Fewer events
    than one log cycle holds, so no restart drops frames; a restart
    (checkpoint sequence moved) is reported instead of figures."""
    bodies = koywe_bodies(events, OUT / "walpages.txt", "walpages")
    data = Path(tempfile.mkdtemp(prefix="payhook-bench-wal-", dir=data_parent))
    db, wal = data / "payhook.db", data / "payhook.db-wal"
    port = free_port()
    proc = start_payhook(binary, port, data, "embedded", "payhook-walpages")
    try:
        wait_port(port, proc)
        _, seq0, before = wal_frames(wal)
        # Long enough for every body once; the rest are duplicates (no write).
        wrk(f"http://127.0.0.1:{port}/webhooks/koywe", bodies, seconds=3)
        time.sleep(0.3)
        proc.kill()
        proc.wait()
        page_size, seq1, after = wal_frames(wal)
        copy = Path(tempfile.mkdtemp(prefix="payhook-bench-walcopy-", dir=data_parent))
        try:
            shutil.copy(db, copy / "payhook.db")
            shutil.copy(wal, copy / "payhook.db-wal")
            con = sqlite3.connect(str(copy / "payhook.db"))
            try:
                owner = dict(con.execute("SELECT pageno, name FROM dbstat"))
                recorded = con.execute("SELECT count(*) FROM events").fetchone()[0]
            finally:
                con.close()
        finally:
            shutil.rmtree(copy, ignore_errors=True)
    finally:
        stop(proc)
        shutil.rmtree(data, ignore_errors=True)
    if seq1 != seq0 or len(after) < len(before):
        return {"events": recorded, "restarted": True}
    added = after[len(before):]
    by_tree = {}
    for pgno, _ in added:
        # Page 1 holds the file header (its size grows) and sqlite_schema's root.
        name = "file header (page 1)" if pgno == 1 else owner.get(pgno, "free pages")
        by_tree[name] = by_tree.get(name, 0) + 1
    return {
        "events": recorded,
        "page_size": page_size,
        "frames": len(added),
        "commits": sum(1 for _, c in added if c),
        "by_tree": dict(sorted(by_tree.items(), key=lambda kv: -kv[1])),
    }


def cmd_embedded(a):
    OUT.mkdir(exist_ok=True)
    dups = koywe_bodies(2000, OUT / "dup.txt", "dup")
    new = koywe_bodies(a.bodies, OUT / "new.txt", "new")
    data = Path(tempfile.mkdtemp(prefix="payhook-bench-sqlite-", dir=a.data_parent))
    db = data / "payhook.db"
    port = free_port()
    proc = start_payhook(a.payhook, port, data, "embedded", "payhook-embedded")
    results = {"data_dir_fs": fs_of(data), "fdatasync_us": fsync_probe(data)}
    try:
        wait_port(port, proc)
        path = "/webhooks/koywe"
        url = f"http://127.0.0.1:{port}{path}"
        log("embedded: recording the 2,000 events the duplicate run replays")
        t0 = time.perf_counter()
        codes = post_all(port, path, dups)
        dt = time.perf_counter() - t0
        results["preload"] = {"codes": codes, "seconds": round(dt, 3),
                              "sequential_rps": round(2000 / dt, 1)}
        before = count_events(db)
        log(f"embedded: new events, {SECONDS} s")
        r = measured_run(proc, url, new)
        time.sleep(0.5)
        after = count_events(db)
        r["rows_added"] = {k: after[k] - before[k] for k in after}
        r["accepted_200"] = r["requests"] - r["non200"]
        wal = data / "payhook.db-wal"
        results["wal_bytes_after_new"] = wal.stat().st_size if wal.exists() else 0
        results["new"] = r
        log(f"embedded: new: {r['rps']:.0f} req/s p50 {r['p50_us']} µs p99 {r['p99_us']} µs, "
            f"steal {r['machine']['steal']:.1%}, "
            f"rows added {r['rows_added']}")
        before = count_events(db)
        log(f"embedded: duplicates, {SECONDS} s")
        r = measured_run(proc, url, dups)
        after = count_events(db)
        r["rows_added"] = {k: after[k] - before[k] for k in after}
        results["duplicates"] = r
        log(f"embedded: duplicates: {r['rps']:.0f} req/s p50 {r['p50_us']} µs p99 {r['p99_us']} µs")
    finally:
        stop(proc)
        shutil.rmtree(data, ignore_errors=True)
    log(f"embedded: WAL pages per new event ({a.wal_events:,} events, fresh server)")
    w = wal_pages(a.payhook, a.wal_events, a.data_parent)
    results["wal_pages"] = w
    if not w.get("restarted"):
        log(f"embedded: {w['frames'] / max(w['events'], 1):.2f} WAL frames per new event, "
            f"{w['events'] / max(w['commits'], 1):.1f} events per commit")
    results["date"] = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    Path(a.out).write_text(json.dumps(results, indent=2))


def fs_of(path):
    try:
        out = subprocess.run(["df", "-T", str(path)], capture_output=True, text=True).stdout.splitlines()
        return out[-1].split()[1]
    except (OSError, IndexError):
        return "?"


# --------------------------------------------------------------------------
# DynamoDB in memory, for the coldstart stand-in: the item operations the
# functions under test send (PutItem, GetItem, UpdateItem, DeleteItem,
# TransactWriteItems), with condition and update expressions evaluated on
# the stored item, so that a second delivery of an event meets the item the
# first one wrote and takes its real duplicate path. Only top-level
# attributes; anything outside this subset is refused with a
# ValidationException (loudly, rather than answered wrongly).


class DdbError(Exception):
    def __init__(self, kind, message, **extra):
        super().__init__(message)
        self.kind = kind
        self.extra = extra

    def body(self):
        # ConditionalCheckFailedException carries `message`, the
        # transaction's exception `Message` (as DynamoDB spells them).
        msg_key = "Message" if self.kind == "TransactionCanceledException" else "message"
        return {"__type": f"com.amazonaws.dynamodb.v20120810#{self.kind}", msg_key: str(self), **self.extra}


def _invalid(msg):
    return DdbError("ValidationException", msg)


_TOKEN = re.compile(r"\s*(?:(#[A-Za-z0-9_]+)|(:[A-Za-z0-9_]+)|([A-Za-z_][A-Za-z0-9_]*)|(<>|<=|>=|=|<|>)|([(),+\-])|(\S))")


def _tokens(expr):
    out = []
    for m in _TOKEN.finditer(expr or ""):
        name, value, word, op, punct, bad = m.groups()
        if bad:
            raise _invalid(f"unsupported character {bad!r} in expression {expr!r}")
        if name:
            out.append(("name", name))
        elif value:
            out.append(("value", value))
        elif word:
            out.append(("word", word))
        elif op:
            out.append(("op", op))
        elif punct:
            out.append(("punct", punct))
    return out


def _num(v):
    return Decimal(v)


def _same(a, b):
    if a is None or b is None:
        return False
    (ta, va), = a.items()
    (tb, vb), = b.items()
    if ta != tb:
        return False
    if ta == "N":
        return _num(va) == _num(vb)
    if ta == "NS":
        return {_num(x) for x in va} == {_num(x) for x in vb}
    if ta in ("SS", "BS"):
        return set(va) == set(vb)
    return va == vb


def _order(a, op, b):
    if a is None or b is None:
        return False
    (ta, va), = a.items()
    (tb, vb), = b.items()
    if ta != tb or ta not in ("N", "S", "B"):
        return False
    if ta == "N":
        va, vb = _num(va), _num(vb)
    return {"<": va < vb, "<=": va <= vb, ">": va > vb, ">=": va >= vb}[op]


class _Expr:
    """Recursive descent over one condition or update expression."""

    def __init__(self, expr, names, values):
        self.toks = _tokens(expr)
        self.i = 0
        self.expr = expr
        self.names = names or {}
        self.values = values or {}

    def peek(self, kind=None, text=None):
        if self.i >= len(self.toks):
            return None
        k, t = self.toks[self.i]
        if kind and k != kind:
            return None
        if text and t.upper() != text.upper():
            return None
        return t

    def take(self, kind=None, text=None):
        t = self.peek(kind, text)
        if t is None:
            got = self.toks[self.i][1] if self.i < len(self.toks) else "end"
            raise _invalid(f"expected {text or kind}, got {got!r} in {self.expr!r}")
        self.i += 1
        return t

    def done(self):
        if self.i != len(self.toks):
            raise _invalid(f"unexpected {self.toks[self.i][1]!r} in {self.expr!r}")

    # -- operands
    def path(self):
        if self.peek("name"):
            n = self.take("name")
            if n not in self.names:
                raise _invalid(f"{n} is not in ExpressionAttributeNames")
            return self.names[n]
        w = self.take("word")
        if w.upper() in ("AND", "OR", "NOT", "SET", "REMOVE", "ADD", "DELETE"):
            raise _invalid(f"attribute name expected, got the keyword {w} in {self.expr!r}")
        return w

    def value_ref(self):
        v = self.take("value")
        if v not in self.values:
            raise _invalid(f"{v} is not in ExpressionAttributeValues")
        return self.values[v]

    def operand(self, item):
        if self.peek("value"):
            return self.value_ref()
        if self.peek("word", "size"):
            self.take()
            self.take("punct", "(")
            v = item.get(self.path())
            self.take("punct", ")")
            if v is None:
                return None
            (t, x), = v.items()
            n = len(base64.b64decode(x)) if t == "B" else len(x.encode()) if t == "S" else len(x)
            return {"N": str(n)}
        return item.get(self.path())

    # -- conditions: OR < AND < NOT < comparison / function / ( )
    def condition(self, item):
        r = self.conj(item)
        while self.peek("word", "OR"):
            self.take()
            r = self.conj(item) or r
        return r

    def conj(self, item):
        r = self.neg(item)
        while self.peek("word", "AND"):
            self.take()
            r = self.neg(item) and r
        return r

    def neg(self, item):
        if self.peek("word", "NOT"):
            self.take()
            return not self.neg(item)
        return self.primary(item)

    def primary(self, item):
        if self.peek("punct", "("):
            self.take()
            r = self.condition(item)
            self.take("punct", ")")
            return r
        for fn in ("attribute_exists", "attribute_not_exists", "begins_with"):
            if self.peek("word", fn):
                self.take()
                self.take("punct", "(")
                if fn == "begins_with":
                    a = self.operand(item)
                    self.take("punct", ",")
                    b = self.operand(item)
                    self.take("punct", ")")
                    if a is None or b is None:
                        return False
                    (ta, va), = a.items()
                    (tb, vb), = b.items()
                    return ta == tb == "S" and va.startswith(vb)
                present = self.path() in item
                self.take("punct", ")")
                return present if fn == "attribute_exists" else not present
        a = self.operand(item)
        op = self.take("op")
        b = self.operand(item)
        if op == "=":
            return _same(a, b)
        if op == "<>":
            return a is not None and b is not None and not _same(a, b)
        return _order(a, op, b)

    # -- update expressions
    def update(self, old):
        new = dict(old)
        seen = set()
        while self.i < len(self.toks):
            clause = self.take("word").upper()
            if clause in seen or clause not in ("SET", "REMOVE", "ADD"):
                raise _invalid(f"unsupported or repeated clause {clause} in {self.expr!r}")
            seen.add(clause)
            while True:
                attr = self.path()
                if clause == "SET":
                    self.take("op", "=")
                    new[attr] = self.set_value(old)
                elif clause == "REMOVE":
                    new.pop(attr, None)
                else:  # ADD: a number or a set
                    v = self.value_ref()
                    cur = old.get(attr)
                    (t, x), = v.items()
                    if cur is None:
                        new[attr] = v
                    elif t == "N" and "N" in cur:
                        new[attr] = {"N": str(_num(cur["N"]) + _num(x))}
                    elif t in ("SS", "NS", "BS") and t in cur:
                        new[attr] = {t: sorted(set(cur[t]) | set(x))}
                    else:
                        raise _invalid(f"ADD of {t} to {list(cur)} in {self.expr!r}")
                if not self.peek("punct", ","):
                    break
                self.take()
        return new

    def set_value(self, old):
        a = self.set_operand(old)
        if self.peek("punct", "+") or self.peek("punct", "-"):
            sign = self.take()
            b = self.set_operand(old)
            if a is None or b is None or "N" not in a or "N" not in b:
                raise _invalid(f"arithmetic on a missing or non-number operand in {self.expr!r}")
            r = _num(a["N"]) + _num(b["N"]) if sign == "+" else _num(a["N"]) - _num(b["N"])
            return {"N": str(r)}
        if a is None:
            raise _invalid(f"an operand of SET does not exist in {self.expr!r}")
        return a

    def set_operand(self, old):
        if self.peek("word", "if_not_exists"):
            self.take()
            self.take("punct", "(")
            attr = self.path()
            self.take("punct", ",")
            v = self.set_value(old)
            self.take("punct", ")")
            return old[attr] if attr in old else v
        if self.peek("value"):
            return self.value_ref()
        return old.get(self.path())


def _condition_holds(req, item):
    expr = req.get("ConditionExpression")
    if not expr:
        return True
    p = _Expr(expr, req.get("ExpressionAttributeNames"), req.get("ExpressionAttributeValues"))
    ok = p.condition(item or {})
    p.done()
    return ok


class DynamoTables:
    """Tables by name, each a dict from the item's key to the item."""

    def __init__(self, key_schema):
        self.key_schema = key_schema  # table name -> key attribute names
        self.tables = {}
        self.lock = threading.Lock()

    def clear(self):
        with self.lock:
            self.tables = {}

    def _table(self, req):
        name = req.get("TableName")
        if name not in self.key_schema:
            raise DdbError("ResourceNotFoundException", f"Requested resource not found: Table: {name} not found")
        return self.tables.setdefault(name, {}), self.key_schema[name]

    @staticmethod
    def _key(attrs, schema, whole_item=False):
        try:
            key = tuple(json.dumps(attrs[a], sort_keys=True) for a in schema)
        except KeyError as e:
            raise _invalid(f"the key attribute {e.args[0]} is missing") from None
        if not whole_item and len(attrs) != len(schema):
            raise _invalid("the provided key element does not match the schema")
        return key

    @staticmethod
    def _failed(req, old):
        extra = {}
        if req.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and old:
            extra["Item"] = old
        return extra

    def _plan(self, op, req):
        """(table, key, old item, new item or None to delete, returned attributes),
        or DdbError if the condition fails."""
        table, schema = self._table(req)
        if op == "PutItem":
            key = self._key(req["Item"], schema, whole_item=True)
        else:
            key = self._key(req.get("Key") or {}, schema)
        old = table.get(key)
        if not _condition_holds(req, old):
            raise DdbError("ConditionalCheckFailedException", "The conditional request failed",
                           **self._failed(req, old))
        rv = req.get("ReturnValues", "NONE")
        if op == "PutItem":
            new = dict(req["Item"])
        elif op == "DeleteItem":
            new = None
        elif op == "UpdateItem":
            p = _Expr(req.get("UpdateExpression"), req.get("ExpressionAttributeNames"),
                      req.get("ExpressionAttributeValues"))
            new = p.update(old or dict(req["Key"]))
            p.done()
            new.update(req["Key"])
        else:  # ConditionCheck
            return table, key, old, old, {}
        out = {}
        if rv == "ALL_OLD" and old:
            out["Attributes"] = old
        elif rv in ("ALL_NEW", "UPDATED_NEW") and new:
            out["Attributes"] = new
        elif rv == "UPDATED_OLD" and old:
            out["Attributes"] = old
        return table, key, old, new, out

    @staticmethod
    def _apply(table, key, new):
        if new is None:
            table.pop(key, None)
        else:
            table[key] = new

    def call(self, op, req):
        """The answer (a dict) to one operation, or DdbError."""
        with self.lock:
            if op in ("PutItem", "UpdateItem", "DeleteItem"):
                table, key, _, new, out = self._plan(op, req)
                self._apply(table, key, new)
                return out
            if op == "GetItem":
                table, schema = self._table(req)
                item = table.get(self._key(req.get("Key") or {}, schema))
                return {"Item": item} if item else {}
            if op == "TransactWriteItems":
                plans, reasons, failed = [], [], False
                for entry in req.get("TransactItems") or []:
                    (kind, sub), = entry.items()
                    op_ = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                           "ConditionCheck": "ConditionCheck"}[kind]
                    try:
                        plans.append(self._plan(op_, sub))
                        reasons.append({"Code": "None"})
                    except DdbError as e:
                        if e.kind != "ConditionalCheckFailedException":
                            raise
                        failed = True
                        reasons.append({"Code": "ConditionalCheckFailed", "Message": str(e), **e.extra})
                if failed:
                    codes = ", ".join(r["Code"] for r in reasons)
                    raise DdbError("TransactionCanceledException",
                                   f"Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]",
                                   CancellationReasons=reasons)
                for table, key, _, new, _ in plans:
                    self._apply(table, key, new)
                return {}
            # Anything else the functions might send (none does on these
            # paths) is answered as before: success, empty.
            return {}


# --------------------------------------------------------------------------
# coldstart: a stand-in of the Lambda runtime API (and of DynamoDB, SQS and
# the 8Pay API, answering at once) that starts each function and times it

# The invocations one process gets, in order: the event (new), the same
# event again (a duplicate: the table still holds what the first wrote),
# and the same event once more after the stand-in forgot its tables (a new
# event again, on a warm process).
PHASES = ("new", "duplicate", "new-warm")


class Invocation:
    """What the stand-in records for one process."""

    def __init__(self, event, request_id, tables):
        self.event = event
        self.request_id = request_id
        self.tables = tables
        tables.clear()
        self.t_spawn = None
        self.t_next = None
        # Per invocation (PHASES): event handed out, response received, the
        # answer, and the time the stand-in itself spends on the function's
        # DynamoDB, SQS and 8Pay requests (request line read -> answer
        # written), the "network" part of an invocation that is this Python
        # server's own work, reported beside the invocation time.
        self.t_served = [None] * len(PHASES)
        self.t_response = [None] * len(PHASES)
        self.response = [None] * len(PHASES)
        self.standin_ns = [0] * (len(PHASES) + 1)
        # AWS operations per phase: 0 is init, 1.. the invocations.
        self.aws_calls = [{} for _ in range(len(PHASES) + 1)]
        self.phase = 0
        self.hwm_kib = None
        self.pid = None
        self.error = None
        self.done = threading.Event()
        # Set once the process is killed: the long poll it left hanging ends.
        self.killed = threading.Event()


class StandIn(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, tables):
        super().__init__(addr, Handler)
        self.current = None
        self.tables = tables
        self.eightpay_body = b"{}"
        self.lock = threading.Lock()
        # Connections whose handler thread is still running.
        self.open = 0
        self.idle = threading.Condition()

    def wait_idle(self, timeout=5.0):
        """Until every connection's thread has ended (false on timeout)."""
        with self.idle:
            return self.idle.wait_for(lambda: self.open == 0, timeout)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Without TCP_NODELAY the header and body writes of one answer meet
    # delayed ACKs and each answer takes ~40 ms.
    disable_nagle_algorithm = True

    def setup(self):
        with self.server.idle:
            self.server.open += 1
        super().setup()

    def finish(self):
        try:
            super().finish()
        finally:
            with self.server.idle:
                self.server.open -= 1
                self.server.idle.notify_all()

    def log_message(self, *args):
        pass

    def parse_request(self):
        # Stamped when the request line has been read (before the headers
        # are parsed): the start of the stand-in's own time for a request.
        self._t_request = time.perf_counter_ns()
        return super().parse_request()

    def _count_standin(self, inv):
        """Add this request's stand-in time to the phase in progress."""
        if inv is not None:
            inv.standin_ns[inv.phase] += time.perf_counter_ns() - self._t_request

    def _send(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        # Headers and body in one write.
        self._headers_buffer.append(b"\r\n" + body)
        self.wfile.write(b"".join(self._headers_buffer))
        self._headers_buffer = []
        self.wfile.flush()

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        inv = self.server.current
        if self.path == "/2018-06-01/runtime/invocation/next":
            now = time.perf_counter_ns()
            if inv is None:
                return self._send(500)
            n = inv.phase  # invocations handed out so far
            if n == 0:
                inv.t_next = now
            else:
                # Peak RSS of init and the invocations so far.
                inv.hwm_kib = max(inv.hwm_kib or 0, vm_hwm_kib(inv.pid) or 0)
            if n < len(PHASES):
                if PHASES[n] == "new-warm":
                    self.server.tables.clear()
                deadline = int(time.time() * 1000) + 30000
                body = json.dumps(inv.event).encode()
                rid = inv.request_id + ("" if n == 0 else f"-{n + 1}")
                # Stamped as the event is handed out (before the write: the
                # answer may come back before this thread runs again).
                inv.phase = n + 1
                inv.t_served[n] = time.perf_counter_ns()
                self._send(200, body, [
                    ("Content-Type", "application/json"),
                    ("Lambda-Runtime-Aws-Request-Id", rid),
                    ("Lambda-Runtime-Deadline-Ms", str(deadline)),
                    ("Lambda-Runtime-Invoked-Function-Arn",
                     "arn:aws:lambda:us-east-1:123456789012:function:bench"),
                    ("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000;Sampled=0"),
                ])
                return None
            # Every invocation is over. Leave the long poll hanging until
            # the process is killed.
            inv.done.set()
            inv.killed.wait(timeout=30)
            self.close_connection = True
            return None
        if self.path.startswith("/8pay/"):
            # The 8Pay API stand-in: the notification, as sent.
            self._send(200, self.server.eightpay_body, [("Content-Type", "application/json")])
            return self._count_standin(inv)
        return self._send(404)

    def do_POST(self):
        inv = self.server.current
        body = self._body()
        target = self.headers.get("X-Amz-Target")
        if target:
            return self._aws(inv, target, body)
        if self.path.startswith("/2018-06-01/runtime/"):
            # invocation/{id}/response, invocation/{id}/error or init/error
            if inv is not None:
                n = inv.phase - 1
                if n < 0 or self.path.endswith("/init/error"):
                    # Init failed: nothing to time.
                    inv.error = body
                    inv.done.set()
                else:
                    # An invocation's answer, or its error (shown as the answer).
                    inv.t_response[n] = time.perf_counter_ns()
                    inv.response[n] = body if self.path.endswith("/response") else b"ERROR " + body
            return self._send(202, b'{"status":"OK"}', [("Content-Type", "application/json")])
        return self._send(404)

    def _aws(self, inv, target, body):
        """DynamoDB (an in-memory table) and SQS (success at once), AWS JSON 1.0."""
        if inv is not None:
            calls = inv.aws_calls[inv.phase]
            calls[target] = calls.get(target, 0) + 1
        ct = [("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-RequestId", "bench")]
        try:
            req = json.loads(body or b"{}")
        except ValueError:
            req = {}
        if target == "AmazonSQS.SendMessage":
            md5 = hashlib.md5(str(req.get("MessageBody", "")).encode()).hexdigest()
            out = json.dumps({"MessageId": "00000000-0000-0000-0000-000000000000",
                              "MD5OfMessageBody": md5}).encode()
            self._send(200, out, ct)
        elif target.startswith("DynamoDB_20120810."):
            try:
                out = self.server.tables.call(target.split(".", 1)[1], req)
                self._send(200, json.dumps(out).encode(), ct)
            except DdbError as e:
                self._send(400, json.dumps(e.body()).encode(), ct)
        else:
            self._send(200, b"{}", ct)
        return self._count_standin(inv)


def apigw_event(function, file, body=None, headers=None):
    ev = json.loads((ROOT / "events" / function / file).read_text())
    if body is not None:
        ev["body"] = body
        ev["isBase64Encoded"] = False
    h = ev.setdefault("headers", {})
    h.pop("content-length", None)
    for k, v in (headers or {}).items():
        h[k.lower()] = v
    return ev


def coldstart_cases(port):
    """NAME -> (extra environment, API Gateway event) for each function."""
    now = datetime.now(timezone.utc)
    # Koywe: re-sign the sample at the current time.
    sample = json.loads(json.loads((ROOT / "events/koywe/sample.json").read_text())["body"])
    sample.pop("signature", None)
    sample["timeStamp"] = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
    signed = json.dumps(sample, separators=(",", ":"), ensure_ascii=False)
    sample["signature"] = hmac.new(SECRET.encode(), signed.encode(), hashlib.sha256).hexdigest()
    koywe_body = json.dumps(sample, separators=(",", ":"), ensure_ascii=False)
    koywe = apigw_event("koywe", "sample.json", koywe_body)
    # thirdweb v2: x-payload-signature = HMAC(secret, "{ts}.{body}").
    tw = json.loads((ROOT / "events/thirdweb/v2-sample.json").read_text())["body"]
    ts = str(int(now.timestamp()))
    tw_sig = hmac.new(b"bench-thirdweb-secret", f"{ts}.{tw}".encode(), hashlib.sha256).hexdigest()
    # The Powertools functions (bench/powertools-*): the same Koywe event.
    powertools = {
        "KOYWE_SECRET": SECRET,
        "IDEMPOTENCY_TABLE": POWERTOOLS_TABLE,
        "QUEUE_URL": f"http://127.0.0.1:{port}/123456789012/powertools-bench",
    }
    return {
        "koywe": ({}, koywe),
        "onebuy-wallet-pay": ({}, apigw_event("onebuy-wallet-pay", "seed-sample.json")),
        "onebuy-checkout": ({}, apigw_event("onebuy-checkout", "sample.json")),
        "eightpay": ({}, apigw_event("eightpay", "one-time-payment.json")),
        "thirdweb": ({}, apigw_event("thirdweb", "v2-sample.json", tw,
                                     {"x-payload-signature": tw_sig, "x-timestamp": ts,
                                      "content-type": "application/json"})),
        "hello-lambda": ({}, koywe),
        "hello-sdk": ({}, koywe),
        "node-powertools": (powertools, koywe),
        "python-powertools": (powertools, koywe),
        # Their languages' baselines: the same runtime loops, the smallest handler.
        "node-hello": ({}, koywe),
        "python-hello": ({}, koywe),
    }


PAYHOOK_TABLE = "payhook-bench"
POWERTOOLS_TABLE = "powertools-bench"
# The tables' key schemas, as template.yaml and a Powertools user's table
# (partition key `id`, Powertools' default) define them.
TABLE_KEYS = {PAYHOOK_TABLE: ("pk",), POWERTOOLS_TABLE: ("id",)}


def status_of(resp):
    if resp is None:
        return None
    text = resp.decode(errors="replace")
    try:
        return json.loads(text).get("statusCode")
    except (ValueError, AttributeError):
        return text[:80]


def ms(a, b):
    return (b - a) / 1e6 if a is not None and b is not None else None


def versions_of_powertools(venv):
    """Package versions of the Powertools functions, read where they run from."""
    v = {}
    try:
        v["node"] = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
        nm = HERE / "powertools-node" / "node_modules"
        for pkg in ("@aws-lambda-powertools/idempotency", "@aws-lambda-powertools/commons",
                    "@aws-sdk/client-dynamodb", "@aws-sdk/lib-dynamodb", "@aws-sdk/client-sqs"):
            v[pkg] = json.loads((nm / pkg / "package.json").read_text())["version"]
    except (OSError, ValueError):
        pass
    if venv:
        code = ("import sys, json, importlib.metadata as m; print(json.dumps(dict(python=sys.version.split()[0], "
                "**{d: m.version(d) for d in ('aws-lambda-powertools', 'boto3', 'botocore')})))")
        try:
            out = subprocess.run([str(Path(venv) / "bin" / "python"), "-c", code],
                                 capture_output=True, text=True).stdout
            v.update(json.loads(out))
        except (OSError, ValueError):
            pass
    return v


def cmd_coldstart(a):
    OUT.mkdir(exist_ok=True)
    tables = DynamoTables(TABLE_KEYS)
    server = StandIn(("127.0.0.1", 0), tables)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    eightpay_event = json.loads((ROOT / "events/eightpay/one-time-payment.json").read_text())
    server.eightpay_body = eightpay_event["body"].encode()
    cases = coldstart_cases(port)
    base_env = {k: v for k, v in os.environ.items()
                if not k.startswith(("PAYHOOK_", "AWS_", "RUST_LOG", "NODE_", "PYTHON", "POWERTOOLS_"))}
    base_env.update({
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/bench",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "PAYHOOK_TABLE": PAYHOOK_TABLE,
        "PAYHOOK_QUEUE_URL": f"http://127.0.0.1:{port}/123456789012/payhook-bench",
        "PAYHOOK_KOYWE_SECRETS": SECRET,
        "PAYHOOK_ONEBUY_TOKENS": "test-onebuy-token",
        "PAYHOOK_THIRDWEB_SECRETS": "bench-thirdweb-secret",
        "PAYHOOK_EIGHTPAY_API_KEYS": "bsc=bench-8pay-key",
        "PAYHOOK_EIGHTPAY_API_BASE": f"http://127.0.0.1:{port}/8pay",
    })
    results = {"runs": a.runs, "phases": list(PHASES), "binaries": {},
               "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
               "versions": versions_of_powertools(a.venv) if a.cmds else {}}
    # --bin NAME=PATH (a binary), --cmd NAME=COMMAND LINE (an interpreter and
    # its script), in the order given.
    specs = [(s, False) for s in a.bin or []] + [(s, True) for s in a.cmds or []]
    # Starts are interleaved (one of each binary per round, in the order
    # given) so that a drift of the machine's speed during the run reaches
    # every binary alike: the ratios to hello-world compare like with like.
    runs = []
    for spec, is_cmd in specs:
        name, path = spec.split("=", 1)
        argv = shlex.split(path) if is_cmd else [path]
        # `NAME@variant` (another build of NAME) gets NAME's event.
        extra, event = cases[name.split("@")[0]]
        env = dict(base_env, AWS_LAMBDA_FUNCTION_NAME=name, **extra)
        runs.append({"name": name, "path": path, "is_cmd": is_cmd, "argv": argv,
                     "event": event, "env": env, "samples": [], "answers": None})
    la = loadavg()
    for i in range(a.runs + 1):  # the first round warms the page cache
        for r in runs:
            name, event = r["name"], r["event"]
            inv = Invocation(event, f"req-{name}-{i}", tables)
            server.current = inv
            inv.t_spawn = time.perf_counter_ns()
            proc = subprocess.Popen(r["argv"], env=r["env"], stdout=subprocess.DEVNULL,
                                    stderr=open(OUT / f"coldstart-{name}.log", "w"))
            inv.pid = proc.pid
            ok = inv.done.wait(timeout=30)
            proc.kill()
            proc.wait()
            # The next start begins with the stand-in idle: this process's
            # connections closed and their threads ended. Otherwise their
            # wind-down (Python threads, GIL) lands in the next binary's
            # init: measured, the binary started after one that made no AWS
            # calls came out best in every run.
            inv.killed.set()
            if not server.wait_idle():
                raise RuntimeError(f"{name}: the stand-in's connections did not close")
            if inv.error is not None:
                raise RuntimeError(f"{name}: init failed: {inv.error[:300]!r} (see bench/out/coldstart-{name}.log)")
            if not ok or None in inv.t_response:
                raise RuntimeError(f"{name}: no answer (see bench/out/coldstart-{name}.log)")
            # The answers of the last start, for a look (bench/out/coldstart.json).
            r["answers"] = [(x or b"").decode(errors="replace")[:400] for x in inv.response]
            if i == 0:
                continue
            first, dup, warm = range(len(PHASES))
            r["samples"].append({
                "init_ms": ms(inv.t_spawn, inv.t_next),
                "invoke_ms": ms(inv.t_served[first], inv.t_response[first]),
                # The duplicate (the second invocation, warm).
                "second_ms": ms(inv.t_served[dup], inv.t_response[dup]),
                # A new event again on the warm process (third invocation).
                "warm_new_ms": ms(inv.t_served[warm], inv.t_response[warm]),
                "standin_ms": inv.standin_ns[1] / 1e6,
                "standin2_ms": inv.standin_ns[2] / 1e6,
                "standin3_ms": inv.standin_ns[3] / 1e6,
                "hwm_kib": inv.hwm_kib,
                "status": status_of(inv.response[first]),
                "status_dup": status_of(inv.response[dup]),
                "status_warm_new": status_of(inv.response[warm]),
                "aws_calls_init": inv.aws_calls[0],
                "aws_calls": inv.aws_calls[1],
                "aws_calls_dup": inv.aws_calls[2],
                "aws_calls_warm_new": inv.aws_calls[3],
            })
    for r in runs:
        name, path, is_cmd = r["name"], r["path"], r["is_cmd"]
        argv, samples, answers = r["argv"], r["samples"], r["answers"]
        size = os.path.getsize(path) if not is_cmd else None
        results["binaries"][name] = {
            "answers": dict(zip(PHASES, answers)),
            "loadavg_before": la,
            "path": path,
            "command": argv,
            "size_bytes": size,
            "samples": samples,
            "init_ms_median": median([s["init_ms"] for s in samples]),
            "init_ms_min": min(s["init_ms"] for s in samples),
            "invoke_ms_median": median([s["invoke_ms"] for s in samples]),
            "invoke_ms_max": max(s["invoke_ms"] for s in samples),
            "second_ms_median": median([s["second_ms"] for s in samples]),
            "warm_new_ms_median": median([s["warm_new_ms"] for s in samples]),
            # The first invocation without the stand-in's own time on the
            # function's AWS/8Pay requests (loopback and connection set-up
            # stay in): the budget's "excluding network", conservatively.
            "standin_ms_median": median([s["standin_ms"] for s in samples]),
            "invoke_ex_standin_ms_median": median([s["invoke_ms"] - s["standin_ms"] for s in samples]),
            "invoke_ex_standin_ms_max": max(s["invoke_ms"] - s["standin_ms"] for s in samples),
            "standin2_ms_median": median([s["standin2_ms"] for s in samples]),
            "second_ex_standin_ms_median": median([s["second_ms"] - s["standin2_ms"] for s in samples]),
            "hwm_kib_max": max(s["hwm_kib"] or 0 for s in samples),
            "hwm_kib_median": median([s["hwm_kib"] or 0 for s in samples]),
            "status": sorted({str(s["status"]) for s in samples}),
            "status_dup": sorted({str(s["status_dup"]) for s in samples}),
            "status_warm_new": sorted({str(s["status_warm_new"]) for s in samples}),
            "aws_calls_init": samples[-1]["aws_calls_init"],
            "aws_calls": samples[-1]["aws_calls"],
            "aws_calls_dup": samples[-1]["aws_calls_dup"],
            "aws_calls_warm_new": samples[-1]["aws_calls_warm_new"],
            # Every start must have sent the same requests.
            "aws_calls_vary": len({json.dumps([s["aws_calls"], s["aws_calls_dup"]], sort_keys=True)
                                   for s in samples}) > 1,
        }
        b = results["binaries"][name]
        log(f"coldstart: {name}: init {b['init_ms_median']:.2f} ms, first invocation "
            f"{b['invoke_ms_median']:.2f} ms (max {b['invoke_ms_max']:.2f}; "
            f"{b['invoke_ex_standin_ms_median']:.2f} ms without the stand-in's "
            f"{b['standin_ms_median']:.2f} ms), duplicate {b['second_ms_median']:.2f} ms, "
            f"warm new {b['warm_new_ms_median']:.2f} ms, VmHWM {b['hwm_kib_max']} KiB, "
            f"status {b['status']} / {b['status_dup']} / {b['status_warm_new']}, "
            f"AWS calls new {b['aws_calls']} duplicate {b['aws_calls_dup']}")
    server.shutdown()
    Path(a.out).write_text(json.dumps(results, indent=2))


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


# --------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("compare")
    c.add_argument("--payhook", required=True)
    c.add_argument("--venv", required=True)
    # Enough that no server repeats a body in BENCH_SECONDS (repeats are
    # duplicates, cheaper, and would blur the per-webhook comparison).
    c.add_argument("--bodies", type=int, default=600000)
    c.add_argument("--profile-payhook", default=None,
                   help="the same serve build with symbols: one more run under perf (section 2's profile)")
    c.add_argument("--out", required=True)
    e = sub.add_parser("embedded")
    e.add_argument("--payhook", required=True)
    e.add_argument("--bodies", type=int, default=150000)
    e.add_argument("--data-parent", default=None,
                   help="where the SQLite database goes (default: the system temp dir)")
    e.add_argument("--wal-events", type=int, default=5000,
                   help="distinct events of the WAL-pages run (fewer than one log cycle of 128 MiB holds)")
    e.add_argument("--out", required=True)
    s = sub.add_parser("coldstart")
    s.add_argument("--bin", action="append", default=[], help="NAME=PATH (a Lambda binary)")
    s.add_argument("--cmd", dest="cmds", action="append", default=[],
                   help="NAME=COMMAND (an interpreter and its runtime loop, e.g. node-powertools=node ...)")
    s.add_argument("--venv", default=None, help="the Powertools venv (for its package versions)")
    s.add_argument("--runs", type=int, default=10)
    s.add_argument("--out", required=True)
    r = sub.add_parser("report")
    r.add_argument("--results", required=True)
    r.add_argument("--criterion", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--command", default="scripts/bench.sh")
    r.add_argument("--arm64-size", default="")
    r.add_argument("--note", default=os.environ.get("BENCH_NOTE", ""))
    r.add_argument("--keep-overload", action="store_true",
                   help="keep section 6 of the BENCHMARKS.md being replaced (bench/overload.py not run)")
    r.add_argument("--keep-console", action="store_true",
                   help="keep section 7 (console pages) of the BENCHMARKS.md being replaced")
    a = ap.parse_args()
    if a.cmd == "compare":
        cmd_compare(a)
    elif a.cmd == "embedded":
        cmd_embedded(a)
    elif a.cmd == "coldstart":
        cmd_coldstart(a)
    else:
        from report import write_report  # noqa: PLC0415 (bench/report.py)

        write_report(a)


if __name__ == "__main__":
    main()
