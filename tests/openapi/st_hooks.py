"""schemathesis hooks for scripts/schemathesis.sh: make generated requests
reach payhook's handlers, not only its authentication.

Loaded through SCHEMATHESIS_HOOKS=st_hooks (with this folder on PYTHONPATH).
Reads:
  PAYHOOK_ST_URL       base URL of the `payhook serve` under test
  PAYHOOK_ST_SECRETS   its generated dev-secrets.env

Before each call, per operation (most of the time; the rest of the requests
keep what schemathesis generated, so the 401 paths are exercised too):
  * 1buy: put the real URL token in the path;
  * Koywe: stamp `timeStamp` with now and sign the body the way Koywe does
    (HMAC-SHA256 of JavaScript's JSON.stringify of the body without
    `signature`);
  * thirdweb: sign `"{now}.{raw body}"` with the v2 or the v1 header names;
  * 8Pay: set `id` to the SHA-256 of the body without `id` and register the
    body with `payhook serve`'s 8Pay API stand-in, so that it confirms it;
    sometimes use a chain that is not configured;
  * user validation: send the real bearer token, and sometimes the e-mail
    of a user registered as allowed or blocked.
The body is then sent as the exact bytes that were signed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import random
import time
import urllib.request
from datetime import datetime, timezone
from decimal import Decimal

import schemathesis

BASE = os.environ.get("PAYHOOK_ST_URL", "http://127.0.0.1:8080").rstrip("/")
STANDIN = BASE + "/__dev/8pay-api"


def _secrets() -> dict[str, str]:
    path = os.environ.get("PAYHOOK_ST_SECRETS")
    out: dict[str, str] = {}
    if not path:
        return out
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                k, v = line.split("=", 1)
                out[k.strip()] = v.strip()
    return out


SECRETS = _secrets()
ONEBUY_TOKEN = SECRETS.get("PAYHOOK_ONEBUY_TOKENS", "").split(",")[0].strip()
KOYWE_SECRET = SECRETS.get("PAYHOOK_KOYWE_SECRETS", "").split(",")[0].strip()
THIRDWEB_SECRET = SECRETS.get("PAYHOOK_THIRDWEB_SECRETS", "").split(",")[0].strip()
_auth = SECRETS.get("PAYHOOK_VALIDATION_AUTH", "")
VALIDATION_TOKEN = _auth.split(":", 1)[1].split(",")[0] if _auth.startswith("bearer:") else ""
EIGHTPAY_KEYS = dict(
    kv.split("=", 1) for kv in SECRETS.get("PAYHOOK_EIGHTPAY_API_KEYS", "").split(",") if "=" in kv
)

RNG = random.Random(int(os.environ.get("PAYHOOK_ST_SEED", "7")))
# Share of requests made to pass authentication.
REAL = 0.8


# --- JavaScript's JSON.stringify, for the values Python's json produces ----


def _js_number(x: float) -> str:
    """ECMAScript Number::toString for a finite double."""
    if x == 0:
        return "0"
    if x < 0:
        return "-" + _js_number(-x)
    # repr gives the shortest round-trip digits, as ECMAScript does.
    t = Decimal(repr(x)).as_tuple()
    digits = "".join(map(str, t.digits)).lstrip("0")
    exp = t.exponent
    while len(digits) > 1 and digits.endswith("0"):
        digits = digits[:-1]
        exp += 1
    k = len(digits)
    n = k + exp  # value = 0.digits × 10^n
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + digits
    e = n - 1
    sign = "+" if e >= 0 else "-"
    head = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{head}e{sign}{abs(e)}"


def js_stringify(v) -> str:
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        if -(2**63) <= v < 2**64:
            return str(v)
        try:
            return _js_number(float(v))  # serde_json reads it as a double
        except OverflowError:
            return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            return "null"
        return _js_number(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(js_stringify(i) for i in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(json.dumps(str(k), ensure_ascii=False) + ":" + js_stringify(i) for k, i in v.items()) + "}"
    raise TypeError(type(v))


def _bytes(v) -> bytes | None:
    try:
        return js_stringify(v).encode("utf-8")
    except (TypeError, UnicodeEncodeError):
        return None


def _hmac_hex(secret: str, *parts: bytes) -> str:
    h = hmac.new(secret.encode(), digestmod=hashlib.sha256)
    for p in parts:
        h.update(p)
    return h.hexdigest()


def _set_header(case, name: str, value: str | None) -> None:
    if case.headers is None:
        case.headers = {}
    for k in [k for k in case.headers if k.lower() == name.lower()]:
        del case.headers[k]
    if value is not None:
        case.headers[name] = value


# --- per operation -----------------------------------------------------------


def _onebuy(case) -> None:
    if ONEBUY_TOKEN and RNG.random() < REAL:
        case.path_parameters["token"] = ONEBUY_TOKEN


def _koywe(case) -> None:
    body = case.body
    if not (KOYWE_SECRET and isinstance(body, dict) and RNG.random() < REAL):
        return
    body = {k: v for k, v in body.items() if k != "signature"}
    now = datetime.now(timezone.utc)
    body["timeStamp"] = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
    raw = _bytes(body)
    if raw is None:
        return
    body["signature"] = _hmac_hex(KOYWE_SECRET, raw)
    signed = _bytes(body)
    if signed is not None:
        case.body = signed


def _thirdweb(case) -> None:
    if not THIRDWEB_SECRET or RNG.random() >= REAL:
        return
    raw = case.body if isinstance(case.body, bytes) else _bytes(case.body)
    if raw is None:
        return
    ts = str(int(time.time()))
    sig = _hmac_hex(THIRDWEB_SECRET, ts.encode(), b".", raw)
    for n in ("x-payload-signature", "x-timestamp", "x-pay-signature", "x-pay-timestamp"):
        _set_header(case, n, None)
    if RNG.random() < 0.5:
        _set_header(case, "x-payload-signature", sig)
        _set_header(case, "x-timestamp", ts)
    else:
        _set_header(case, "x-pay-signature", sig)
        _set_header(case, "x-pay-timestamp", ts)
    case.body = raw


def _eightpay(case) -> None:
    r = RNG.random()
    if r < 0.1:
        case.path_parameters["chain"] = RNG.choice(["tron", "BSC", "mainnet"])
        return
    chain = case.path_parameters.get("chain")
    body = case.body
    if chain not in EIGHTPAY_KEYS or not isinstance(body, dict) or r >= REAL:
        return
    rest = {k: v for k, v in body.items() if k != "id"}
    raw = _bytes(rest)
    if raw is None:
        return
    body = dict(body)
    if isinstance(body.get("chain"), str) and RNG.random() < 0.8:
        body["chain"] = chain  # else a mismatch: 401
        raw = _bytes({k: v for k, v in body.items() if k != "id"})
        if raw is None:
            return
    body["id"] = hashlib.sha256(raw).hexdigest()
    sent = _bytes(body)
    if sent is None:
        return
    if RNG.random() < 0.9:  # else 8Pay "does not know it": 401
        req = urllib.request.Request(
            f"{STANDIN}/v1/{chain}/webhook-notifications/{body['id']}",
            data=sent,
            method="PUT",
            headers={"Authorization": f"Bearer {EIGHTPAY_KEYS[chain]}", "Content-Type": "application/json"},
        )
        urllib.request.urlopen(req, timeout=5).read()
    case.body = sent


# Registered by scripts/schemathesis.sh with `payhook users allow|block`.
KNOWN_USERS = ["allowed@example.com", "Allowed@Example.COM", "blocked@example.com"]


def _validate(case) -> None:
    if VALIDATION_TOKEN and RNG.random() < REAL:
        _set_header(case, "X-Api-Key", None)
        _set_header(case, "Authorization", f"Bearer {VALIDATION_TOKEN}")
    if isinstance(case.body, dict) and RNG.random() < 0.3:
        case.body = {**case.body, "email": RNG.choice(KNOWN_USERS)}


BY_PATH = {
    "/webhooks/onebuy/wallet-pay/{token}": _onebuy,
    "/webhooks/onebuy/checkout/{token}": _onebuy,
    "/webhooks/koywe": _koywe,
    "/webhooks/thirdweb": _thirdweb,
    "/webhooks/8pay/{chain}": _eightpay,
    "/callbacks/koywe/validate-user": _validate,
}


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.method.upper() != "POST":
        return
    fix = BY_PATH.get(case.operation.path)
    if fix is not None:
        fix(case)
