"""The Standard Webhooks reference library (PyPI `standardwebhooks`, pinned
in scripts/standardwebhooks.sh) as a JSON tool, for payhook's interop test
(tests/tests/it/standard_webhooks.rs) and for signing fixtures.

Reads one JSON array of operations on stdin, prints one JSON array of
results (same order):

  {"op": "sign", "secrets": [S, ...], "raw": false, "id": ID,
   "timestamp": UNIX_SECONDS, "body": TEXT}
      -> {"signature": "v1,... v1,..."}   one entry per secret, in order
         (a sender rotating its secret signs with each)
  {"op": "verify", "secrets": [S, ...], "raw": false, "body": TEXT,
   "headers": {NAME: VALUE}}
      -> {"ok": true} or {"ok": false, "error": "..."}: the library's
         Webhook(secret).verify(body, headers), tried with each secret (a
         consumer holding several secrets while rotating), at the real time
  {"op": "version"} -> {"version": "1.1.0"}

`raw: true` keys the HMAC with each secret's UTF-8 the way Polar's SDK does
(`Webhook(base64(secret))`). Any exception inside the library's verify is a
refusal (the library raises ValueError, not only WebhookVerificationError,
on some malformed headers). Only the library signs and verifies here.
"""

import base64
import json
import sys
from datetime import datetime, timezone

import standardwebhooks
from standardwebhooks.webhooks import Webhook


def webhook(secret: str, raw: bool) -> Webhook:
    if raw:
        return Webhook(base64.b64encode(secret.encode()).decode())
    return Webhook(secret)


def run(op: dict) -> dict:
    kind = op.get("op")
    if kind == "version":
        return {"version": standardwebhooks.__version__}
    raw = bool(op.get("raw", False))
    secrets = op["secrets"]
    if kind == "sign":
        at = datetime.fromtimestamp(int(op["timestamp"]), tz=timezone.utc)
        sigs = [webhook(s, raw).sign(msg_id=op["id"], timestamp=at, data=op["body"]) for s in secrets]
        return {"signature": " ".join(sigs)}
    if kind == "verify":
        errors = []
        for s in secrets:
            try:
                webhook(s, raw).verify(op["body"], op["headers"], json_parse=False)
                return {"ok": True}
            except Exception as e:  # noqa: BLE001 - any refusal counts
                errors.append(f"{type(e).__name__}: {e}")
        return {"ok": False, "error": "; ".join(errors)}
    raise SystemExit(f"unknown op {kind!r}")


def main() -> None:
    ops = json.load(sys.stdin)
    json.dump([run(op) for op in ops], sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
