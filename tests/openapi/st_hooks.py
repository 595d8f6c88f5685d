"""schemathesis hooks for scripts/schemathesis.sh: make generated requests
reach payhook's handlers, not only its authentication.

Loaded through SCHEMATHESIS_HOOKS=st_hooks (with this folder on PYTHONPATH).
Reads:
  PAYHOOK_ST_URL       base URL of the `payhook serve` under test
  PAYHOOK_ST_SECRETS   its generated dev-secrets.env
  PAYHOOK_ST_BIN       the `payhook` binary, whose `payhook sign` signs
  PAYHOOK_ST_DATA      the server's data dir (the secrets `payhook sign` uses)

Before each call, per operation (most of the time; the rest of the requests
keep what schemathesis generated, so the 401 paths are exercised too):
  * 1buy: put the real URL token in the path;
  * Standard Webhooks: sign for the `demo` source (sometimes under Svix's
    header names);
  * Koywe, thirdweb, 8Pay: sign the body with `payhook sign` (payhook's own
    signer, the one the Rust tests use: Koywe's time stamp and signature,
    thirdweb's signature headers (sometimes renamed to the other
    generation's names), 8Pay's `id`); for 8Pay also register the body with
    `payhook serve`'s 8Pay API stand-in, so that it confirms it, and
    sometimes use a chain that is not configured;
  * user validation: send the real bearer token, and sometimes the e-mail
    of a user registered as allowed or blocked.
The body is then sent as the exact bytes that were signed.
"""

from __future__ import annotations

import base64
import json
import os
import random
import subprocess
import urllib.request

import schemathesis

BASE = os.environ.get("PAYHOOK_ST_URL", "http://127.0.0.1:8080").rstrip("/")
BIN = os.environ.get("PAYHOOK_ST_BIN", "payhook")
DATA = os.environ.get("PAYHOOK_ST_DATA", ".payhook")
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
_auth = SECRETS.get("PAYHOOK_VALIDATION_AUTH", "")
VALIDATION_TOKEN = _auth.split(":", 1)[1].split(",")[0] if _auth.startswith("bearer:") else ""
EIGHTPAY_KEYS = dict(
    kv.split("=", 1) for kv in SECRETS.get("PAYHOOK_EIGHTPAY_API_KEYS", "").split(",") if "=" in kv
)

RNG = random.Random(int(os.environ.get("PAYHOOK_ST_SEED", "7")))
# Share of requests made to pass authentication.
REAL = 0.8


# --- bodies -------------------------------------------------------------------


def _bytes(v) -> bytes | None:
    """A generated body as JSON bytes (the signer then prints it the way its
    provider does); None when it cannot be JSON."""
    try:
        return json.dumps(v, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
    except (TypeError, ValueError, UnicodeEncodeError):
        return None


def sign(provider: str, body: bytes, params: dict[str, str] | None = None):
    """`payhook sign`: (exact body bytes, headers, path parameters), or None
    when the provider cannot sign that body (the request is then sent as
    generated)."""
    args = [BIN, "--data-dir", DATA, "sign", "--provider", provider, "-"]
    for k, v in (params or {}).items():
        args += ["--param", f"{k}={v}"]
    out = subprocess.run(args, input=body, capture_output=True, timeout=30)
    if out.returncode != 0:
        return None
    signed = json.loads(out.stdout)
    return base64.b64decode(signed["body"]), signed["headers"], dict(signed["params"])


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
    if not (isinstance(body, dict) and RNG.random() < REAL):
        return
    raw = _bytes({k: v for k, v in body.items() if k != "signature"})
    if raw is None:
        return
    got = sign("koywe", raw)
    if got is None:
        return
    signed, headers, _ = got
    for name, value in headers:
        _set_header(case, name, value)
    case.body = signed


# thirdweb's header names by generation (v2 first): the same signature is
# accepted under either pair.
THIRDWEB_HEADERS = {"x-payload-signature": "x-pay-signature", "x-timestamp": "x-pay-timestamp"}


def _thirdweb(case) -> None:
    if RNG.random() >= REAL:
        return
    raw = case.body if isinstance(case.body, bytes) else _bytes(case.body)
    if raw is None:
        return
    got = sign("thirdweb", raw)
    if got is None:
        return
    signed, headers, _ = got
    other = RNG.random() < 0.5
    for n in (*THIRDWEB_HEADERS, *THIRDWEB_HEADERS.values()):
        _set_header(case, n, None)
    for name, value in headers:
        if other:
            name = THIRDWEB_HEADERS.get(name) or {v: k for k, v in THIRDWEB_HEADERS.items()}.get(name, name)
        _set_header(case, name, value)
    case.body = signed


def _eightpay(case) -> None:
    r = RNG.random()
    if r < 0.1:
        case.path_parameters["chain"] = RNG.choice(["tron", "BSC", "mainnet"])
        return
    chain = case.path_parameters.get("chain")
    body = case.body
    if chain not in EIGHTPAY_KEYS or not isinstance(body, dict) or r >= REAL:
        return
    body = dict(body)
    if isinstance(body.get("chain"), str) and RNG.random() < 0.8:
        body["chain"] = chain  # else a mismatch: 401
    raw = _bytes(body)
    if raw is None:
        return
    got = sign("eightpay", raw, {"chain": chain})
    if got is None:
        return
    sent = got[0]
    notification_id = json.loads(sent)["id"]
    if RNG.random() < 0.9:  # else 8Pay "does not know it": 401
        req = urllib.request.Request(
            f"{STANDIN}/v1/{chain}/webhook-notifications/{notification_id}",
            data=sent,
            method="PUT",
            headers={"Authorization": f"Bearer {EIGHTPAY_KEYS[chain]}", "Content-Type": "application/json"},
        )
        urllib.request.urlopen(req, timeout=5).read()
    case.body = sent


# Standard Webhooks: the spec's header names, and Svix's for the same values.
STANDARD_HEADERS = {"webhook-id": "svix-id", "webhook-timestamp": "svix-timestamp", "webhook-signature": "svix-signature"}


def _standard(case) -> None:
    if RNG.random() >= REAL:
        return
    # The development settings configure the source `demo` (else: 401).
    case.path_parameters["source"] = "demo"
    raw = case.body if isinstance(case.body, bytes) else _bytes(case.body)
    if raw is None:
        return
    got = sign("standard-webhooks", raw, {"source": "demo"})
    if got is None:
        return
    signed, headers, _ = got
    svix = RNG.random() < 0.3
    for n in (*STANDARD_HEADERS, *STANDARD_HEADERS.values()):
        _set_header(case, n, None)
    for name, value in headers:
        _set_header(case, STANDARD_HEADERS.get(name, name) if svix else name, value)
    case.body = signed


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
    "/webhooks/standard/{source}": _standard,
    "/callbacks/koywe/validate-user": _validate,
}


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.method.upper() != "POST":
        return
    fix = BY_PATH.get(case.operation.path)
    if fix is not None:
        fix(case)
