"""Hand-made requests that schemathesis cannot generate, each checked against
openapi.yaml with schemathesis's own conformance checks (status code
documented, content type, headers, body schema, no 5xx).

    probes.py OPENAPI_YAML BASE_URL DEV_SECRETS_ENV PAYHOOK_BIN DATA_DIR

Signed probes are signed by `payhook sign` (PAYHOOK_BIN, with the server's
DATA_DIR): payhook's own signer, not a re-implementation.

Prints one line per probe and exits 1 if any response breaks the document
(or a probe's expected status, where the document leaves no choice).
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import requests
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def secrets(path: str) -> dict[str, str]:
    out = {}
    for line in open(path, encoding="utf-8"):
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            k, v = line.split("=", 1)
            out[k] = v
    return out


def main() -> int:
    spec, base, env = sys.argv[1], sys.argv[2].rstrip("/"), secrets(sys.argv[3])
    payhook, data = sys.argv[4], sys.argv[5]
    schema = schemathesis.openapi.from_path(spec)
    token = env["PAYHOOK_ONEBUY_TOKENS"].split(",")[0]
    bearer = env["PAYHOOK_VALIDATION_AUTH"].split(":", 1)[1].split(",")[0]

    def sign(provider: str, body: bytes, at: str) -> tuple[bytes, dict[str, str]]:
        out = subprocess.run(
            [payhook, "--data-dir", data, "sign", "--provider", provider, "--at", at, "-"],
            input=body, capture_output=True, check=True, timeout=30,
        )
        signed = json.loads(out.stdout)
        return base64.b64decode(signed["body"]), dict(signed["headers"])

    def koywe_body(ts: datetime) -> bytes:
        legacy = b'{"eventName":"payment_created","orderId":"probe-1","timeStamp":"","signature":""}'
        return sign("koywe", legacy, ts.isoformat())[0]

    def thirdweb_headers(ts: str, body: bytes) -> dict[str, str]:
        return sign("thirdweb", body, ts)[1]

    big = b'{"pad":"' + b"x" * (300 * 1024) + b'"}'
    deep = b"[" * 100 + b"]" * 100
    now = datetime.now(timezone.utc)
    tw_body = b'{"version":2,"type":"pay.onramp-transaction","data":{"id":"probe-tw","status":"PENDING"}}'
    tw_old = str(int(time.time()) - 3600)
    tw_now = str(int(time.time()))
    tw_empty = b'{"version":2,"type":"pay.onchain-transaction","data":{}}'

    WP = "/webhooks/onebuy/wallet-pay/{token}"
    CK = "/webhooks/onebuy/checkout/{token}"
    KO = "/webhooks/koywe"
    EP = "/webhooks/8pay/{chain}"
    TW = "/webhooks/thirdweb"
    VU = "/callbacks/koywe/validate-user"
    auth = {"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"}
    js = {"Content-Type": "application/json"}

    # (name, operation path, method sent, url path, headers, body, expected status or None)
    probes = [
        ("1buy token that is not UTF-8", WP, "POST", "/webhooks/onebuy/wallet-pay/%FF", js, b"{}", 401),
        ("1buy checkout token that is not UTF-8", CK, "POST", "/webhooks/onebuy/checkout/%C3%28", js, b"{}", 401),
        ("8Pay chain that is not UTF-8", EP, "POST", "/webhooks/8pay/%FF", js, b"{}", 401),
        ("1buy body over 256 KiB", WP, "POST", f"/webhooks/onebuy/wallet-pay/{token}", js, big, 413),
        ("Koywe body over 256 KiB", KO, "POST", KO, js, big, 413),
        ("validation body over 16 KiB", VU, "POST", VU, auth, b'{"email":"' + b"a" * 17000 + b'@example.com"}', 413),
        # Authentic means kept: the URL token is 1buy's proof (no api_key
        # check in the development settings), so a body that cannot be read
        # is still authentic: 200, kept as `unknown` / `unparsed`.
        ("1buy body repeats a key", WP, "POST", f"/webhooks/onebuy/wallet-pay/{token}", js, b'{"order_id":"a","order_id":"b"}', 200),
        ("1buy body nested 100 deep", CK, "POST", f"/webhooks/onebuy/checkout/{token}", js, deep, 200),
        ("1buy body not UTF-8", WP, "POST", f"/webhooks/onebuy/wallet-pay/{token}", js, b'{"order_id":"\xff"}', 200),
        ("1buy empty body", CK, "POST", f"/webhooks/onebuy/checkout/{token}", js, b"", 200),
        ("Koywe legacy body not JSON (its proof is inside the body)", KO, "POST", KO, js, b"{not json", 400),
        ("thirdweb signed bytes that are not JSON", TW, "POST", TW,
         thirdweb_headers(tw_now, b"not json"), b"not json", 200),
        ("thirdweb signed v2 body without ids", TW, "POST", TW, thirdweb_headers(tw_now, tw_empty), tw_empty, 200),
        ("Koywe signed, stale timeStamp", KO, "POST", KO, js, koywe_body(now - timedelta(days=3)), 401),
        ("Koywe signed, future timeStamp", KO, "POST", KO, js, koywe_body(now + timedelta(hours=1)), 401),
        ("Koywe signed, fresh", KO, "POST", KO, js, koywe_body(now), 200),
        ("thirdweb signed, stale timestamp", TW, "POST", TW, thirdweb_headers(tw_old, tw_body), tw_body, 401),
        ("thirdweb repeated signature header", TW, "POST", TW, {"x-pay-signature": "a,b", "x-pay-timestamp": tw_old, **js}, tw_body, 401),
        ("validation: allowed user", VU, "POST", VU, auth, b'{"email":"Allowed@Example.com"}', 200),
        ("validation: blocked user", VU, "POST", VU, auth, b'{"email":"blocked@example.com"}', 200),
        ("validation: basic instead of bearer", VU, "POST", VU, {"Authorization": "Basic dTpw", **js}, b'{"email":"a@b.c"}', 401),
        ("validation: body is an array", VU, "POST", VU, auth, b"[]", 400),
    ]
    for method in ("GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"):
        probes.append((f"{method} on a webhook route", KO, method, KO, {}, None, 405))
        probes.append((f"{method} on the validation route", VU, method, VU, {}, None, 405))

    failed = 0
    for name, op_path, method, url_path, headers, body, want in probes:
        op = schema[op_path]["POST"]
        resp = requests.request(method, base + url_path, headers=headers, data=body, timeout=10)
        problems = []
        if want is not None and resp.status_code != want:
            problems.append(f"expected {want}")
        params = {n: "x" for n in ("token", "chain") if "{" + n + "}" in op_path}
        case = op.Case(method="POST", path_parameters=params, headers=headers)
        if method != "HEAD":
            try:
                case.validate_response(resp, checks=CHECKS)
            except (Exception, BaseExceptionGroup) as e:  # a FailureGroup lists every broken check
                problems.append(" ".join(str(e).split("Reproduce with")[0].split())[:600])
        elif resp.headers.get("allow") != "POST":
            problems.append("no `Allow: POST`")
        verdict = "ok  " if not problems else "FAIL"
        ctype = resp.headers.get("content-type", "-")
        print(f"{verdict} {name}: {method} {url_path[:60]} -> {resp.status_code} {ctype} {resp.text[:80]!r}")
        for p in problems:
            print(f"       {p}")
        failed += bool(problems)
    print(f"probes: {len(probes) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
