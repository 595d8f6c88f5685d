#!/usr/bin/env python3
"""payhook benchmarks: the measurements that need servers and processes.

Called by scripts/bench.sh (read it first); each subcommand writes one JSON
file of figures under bench/out/, and `report` turns them (and criterion's
estimates) into BENCHMARKS.md.

    run.py compare   --payhook BIN --out F    Express vs FastAPI vs payhook (memory store)
    run.py embedded  --payhook BIN --out F    payhook serve on SQLite: new events, duplicates
    run.py coldstart --bin NAME=PATH ... --out F   Lambda binaries under a runtime API stand-in
    run.py report    --results DIR --criterion DIR --out BENCHMARKS.md

Everything listens on 127.0.0.1 and every load run is bounded in time
(BENCH_SECONDS, default 10) and connections (BENCH_CONNECTIONS, default 16).
"""

import argparse
import hashlib
import hmac
import http.client
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
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


def measured_run(proc, url, bodies):
    """One wrk run with the server's CPU time read before and after."""
    la = loadavg()
    u0, s0 = cpu_split(proc.pid)
    r = wrk(url, bodies)
    u1, s1 = cpu_split(proc.pid)
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
    Path(a.out).write_text(json.dumps(results, indent=2))


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
        results["new"] = r
        log(f"embedded: new: {r['rps']:.0f} req/s p50 {r['p50_us']} µs p99 {r['p99_us']} µs, "
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
    Path(a.out).write_text(json.dumps(results, indent=2))


def fs_of(path):
    try:
        out = subprocess.run(["df", "-T", str(path)], capture_output=True, text=True).stdout.splitlines()
        return out[-1].split()[1]
    except (OSError, IndexError):
        return "?"


# --------------------------------------------------------------------------
# coldstart: a stand-in of the Lambda runtime API (and of DynamoDB, SQS and
# the 8Pay API, answering at once) that starts each binary and times it


class Invocation:
    """What the stand-in records for one process."""

    def __init__(self, event, request_id):
        self.event = event
        self.request_id = request_id
        self.t_spawn = None
        self.t_next = None
        self.t_served = None
        self.t_response = None
        self.response = None
        self.t_served2 = None
        self.t_response2 = None
        self.hwm_kib = None
        self.pid = None
        self.aws_calls = {}
        # Time the stand-in itself spends on the function's DynamoDB, SQS
        # and 8Pay requests (request line read -> answer written), per
        # invocation: the "network" part of an invocation that is this
        # Python server's own work, reported beside the invocation time.
        self.standin_ns = [0, 0]
        self.done = threading.Event()


class StandIn(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr):
        super().__init__(addr, Handler)
        self.current = None
        self.eightpay_body = b"{}"
        self.lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Without TCP_NODELAY the header and body writes of one answer meet
    # delayed ACKs and each answer takes ~40 ms.
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def parse_request(self):
        # Stamped when the request line has been read (before the headers
        # are parsed): the start of the stand-in's own time for a request.
        self._t_request = time.perf_counter_ns()
        return super().parse_request()

    def _count_standin(self, inv):
        """Add this request's stand-in time to the invocation in progress."""
        if inv is not None:
            i = 0 if inv.t_response is None else 1
            inv.standin_ns[i] += time.perf_counter_ns() - self._t_request

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
            if inv.t_next is None or inv.t_served2 is None:
                first = inv.t_next is None
                if first:
                    inv.t_next = now
                else:
                    # Before the second event: peak RSS of init + first invocation.
                    inv.hwm_kib = vm_hwm_kib(inv.pid)
                deadline = int(time.time() * 1000) + 30000
                body = json.dumps(inv.event).encode()
                rid = inv.request_id + ("" if first else "-2")
                # Stamped as the event is handed out (before the write: the
                # answer may come back before this thread runs again).
                if first:
                    inv.t_served = time.perf_counter_ns()
                else:
                    inv.t_served2 = time.perf_counter_ns()
                self._send(200, body, [
                    ("Content-Type", "application/json"),
                    ("Lambda-Runtime-Aws-Request-Id", rid),
                    ("Lambda-Runtime-Deadline-Ms", str(deadline)),
                    ("Lambda-Runtime-Invoked-Function-Arn",
                     "arn:aws:lambda:us-east-1:123456789012:function:bench"),
                    ("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000;Sampled=0"),
                ])
                return None
            # The third /next: both invocations are over. Leave the long
            # poll hanging; the process is killed.
            inv.hwm_kib = max(inv.hwm_kib or 0, vm_hwm_kib(inv.pid) or 0)
            inv.done.set()
            time.sleep(5)
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
        if self.path.startswith("/2018-06-01/runtime/invocation/") and self.path.endswith("/response"):
            if inv is not None:
                if inv.t_response is None:
                    inv.t_response = time.perf_counter_ns()
                    inv.response = body
                    inv.aws_first = dict(inv.aws_calls)
                else:
                    inv.t_response2 = time.perf_counter_ns()
            return self._send(202, b'{"status":"OK"}', [("Content-Type", "application/json")])
        if self.path.startswith("/2018-06-01/runtime/"):
            # init/error or invocation/{id}/error
            if inv is not None:
                inv.t_response = time.perf_counter_ns()
                inv.response = b"ERROR " + body
            return self._send(202, b'{"status":"OK"}', [("Content-Type", "application/json")])
        return self._send(404)

    def _aws(self, inv, target, body):
        """DynamoDB and SQS (AWS JSON 1.0), answering success at once."""
        if inv is not None:
            inv.aws_calls[target] = inv.aws_calls.get(target, 0) + 1
        ct = [("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-RequestId", "bench")]
        if target == "AmazonSQS.SendMessage":
            try:
                msg = json.loads(body).get("MessageBody", "")
            except ValueError:
                msg = ""
            md5 = hashlib.md5(msg.encode()).hexdigest()
            out = json.dumps({"MessageId": "00000000-0000-0000-0000-000000000000",
                              "MD5OfMessageBody": md5}).encode()
            self._send(200, out, ct)
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
    """NAME -> (extra environment, API Gateway event) for each binary."""
    now = datetime.now(timezone.utc)
    # Koywe: re-sign the sample at the current time.
    sample = json.loads(json.loads((ROOT / "events/koywe/sample.json").read_text())["body"])
    sample.pop("signature", None)
    sample["timeStamp"] = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
    signed = json.dumps(sample, separators=(",", ":"), ensure_ascii=False)
    sample["signature"] = hmac.new(SECRET.encode(), signed.encode(), hashlib.sha256).hexdigest()
    koywe_body = json.dumps(sample, separators=(",", ":"), ensure_ascii=False)
    # thirdweb v2: x-payload-signature = HMAC(secret, "{ts}.{body}").
    tw = json.loads((ROOT / "events/thirdweb/v2-sample.json").read_text())["body"]
    ts = str(int(now.timestamp()))
    tw_sig = hmac.new(b"bench-thirdweb-secret", f"{ts}.{tw}".encode(), hashlib.sha256).hexdigest()
    return {
        "koywe": ({}, apigw_event("koywe", "sample.json", koywe_body)),
        "onebuy-wallet-pay": ({}, apigw_event("onebuy-wallet-pay", "seed-sample.json")),
        "onebuy-checkout": ({}, apigw_event("onebuy-checkout", "sample.json")),
        "eightpay": ({}, apigw_event("eightpay", "one-time-payment.json")),
        "thirdweb": ({}, apigw_event("thirdweb", "v2-sample.json", tw,
                                     {"x-payload-signature": tw_sig, "x-timestamp": ts,
                                      "content-type": "application/json"})),
        "hello-lambda": ({}, apigw_event("koywe", "sample.json", koywe_body)),
    }


def cmd_coldstart(a):
    OUT.mkdir(exist_ok=True)
    server = StandIn(("127.0.0.1", 0))
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    eightpay_event = json.loads((ROOT / "events/eightpay/one-time-payment.json").read_text())
    server.eightpay_body = eightpay_event["body"].encode()
    cases = coldstart_cases(port)
    base_env = {k: v for k, v in os.environ.items()
                if not k.startswith(("PAYHOOK_", "AWS_", "RUST_LOG"))}
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
        "PAYHOOK_TABLE": "payhook-bench",
        "PAYHOOK_QUEUE_URL": f"http://127.0.0.1:{port}/123456789012/payhook-bench",
        "PAYHOOK_KOYWE_SECRETS": SECRET,
        "PAYHOOK_ONEBUY_TOKENS": "test-onebuy-token",
        "PAYHOOK_THIRDWEB_SECRETS": "bench-thirdweb-secret",
        "PAYHOOK_EIGHTPAY_API_KEYS": "bsc=bench-8pay-key",
        "PAYHOOK_EIGHTPAY_API_BASE": f"http://127.0.0.1:{port}/8pay",
    })
    results = {"runs": a.runs, "binaries": {}}
    for spec in a.bin:
        name, path = spec.split("=", 1)
        # `NAME@variant` (another build of NAME) gets NAME's event.
        extra, event = cases[name.split("@")[0]]
        env = dict(base_env, AWS_LAMBDA_FUNCTION_NAME=name, **extra)
        samples = []
        for i in range(a.runs + 1):  # the first run warms the page cache
            inv = Invocation(event, f"req-{name}-{i}")
            server.current = inv
            inv.t_spawn = time.perf_counter_ns()
            proc = subprocess.Popen([path], env=env, stdout=subprocess.DEVNULL,
                                    stderr=open(OUT / f"coldstart-{name}.log", "w"))
            inv.pid = proc.pid
            ok = inv.done.wait(timeout=20)
            proc.kill()
            proc.wait()
            if not ok or inv.t_response is None:
                raise RuntimeError(f"{name}: no answer (see bench/out/coldstart-{name}.log)")
            if i == 0:
                continue
            resp = inv.response.decode(errors="replace")
            try:
                status = json.loads(resp).get("statusCode")
            except ValueError:
                status = resp[:80]
            samples.append({
                "init_ms": (inv.t_next - inv.t_spawn) / 1e6,
                "invoke_ms": (inv.t_response - inv.t_served) / 1e6,
                "second_ms": (inv.t_response2 - inv.t_served2) / 1e6 if inv.t_response2 else None,
                "standin_ms": inv.standin_ns[0] / 1e6,
                "standin2_ms": inv.standin_ns[1] / 1e6,
                "hwm_kib": inv.hwm_kib,
                "status": status,
                "aws_calls": getattr(inv, "aws_first", inv.aws_calls),
            })
        size = os.path.getsize(path)
        results["binaries"][name] = {
            "path": path,
            "size_bytes": size,
            "samples": samples,
            "init_ms_median": median([s["init_ms"] for s in samples]),
            "init_ms_min": min(s["init_ms"] for s in samples),
            "invoke_ms_median": median([s["invoke_ms"] for s in samples]),
            "invoke_ms_max": max(s["invoke_ms"] for s in samples),
            "second_ms_median": median([s["second_ms"] for s in samples if s["second_ms"] is not None] or [0]),
            # The first invocation without the stand-in's own time on the
            # function's AWS/8Pay requests (loopback and connection set-up
            # stay in): the budget's "excluding network", conservatively.
            "standin_ms_median": median([s["standin_ms"] for s in samples]),
            "invoke_ex_standin_ms_median": median([s["invoke_ms"] - s["standin_ms"] for s in samples]),
            "invoke_ex_standin_ms_max": max(s["invoke_ms"] - s["standin_ms"] for s in samples),
            "standin2_ms_median": median([s["standin2_ms"] for s in samples]),
            "hwm_kib_max": max(s["hwm_kib"] or 0 for s in samples),
            "status": sorted({str(s["status"]) for s in samples}),
            "aws_calls": samples[-1]["aws_calls"],
        }
        b = results["binaries"][name]
        log(f"coldstart: {name}: init {b['init_ms_median']:.2f} ms, first invocation "
            f"{b['invoke_ms_median']:.2f} ms (max {b['invoke_ms_max']:.2f}; "
            f"{b['invoke_ex_standin_ms_median']:.2f} ms without the stand-in's "
            f"{b['standin_ms_median']:.2f} ms), second {b['second_ms_median']:.2f} ms, "
            f"VmHWM {b['hwm_kib_max']} KiB, status {b['status']}, "
            f"AWS calls {b['aws_calls']}")
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
    c.add_argument("--bodies", type=int, default=300000)
    c.add_argument("--out", required=True)
    e = sub.add_parser("embedded")
    e.add_argument("--payhook", required=True)
    e.add_argument("--bodies", type=int, default=150000)
    e.add_argument("--data-parent", default=None,
                   help="where the SQLite database goes (default: the system temp dir)")
    e.add_argument("--out", required=True)
    s = sub.add_parser("coldstart")
    s.add_argument("--bin", action="append", required=True, help="NAME=PATH")
    s.add_argument("--runs", type=int, default=10)
    s.add_argument("--out", required=True)
    r = sub.add_parser("report")
    r.add_argument("--results", required=True)
    r.add_argument("--criterion", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--command", default="scripts/bench.sh")
    r.add_argument("--arm64-size", default="")
    r.add_argument("--note", default=os.environ.get("BENCH_NOTE", ""))
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
