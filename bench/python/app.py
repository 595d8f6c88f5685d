"""The Koywe webhook receiver a user would write with FastAPI on uvicorn.

Same work as bench/node/server.js: parse the JSON body, HMAC-SHA256 over
the body without ``signature`` serialized as JavaScript's JSON.stringify
would (compact separators, no ASCII escaping; numbers may still print
differently from JavaScript -- Koywe's bodies carry none), constant-time
compare, dedupe in an in-process dict, answer. Benchmark baseline only.

    KOYWE_SECRET=... uvicorn app:app --host 127.0.0.1 --port 8082
"""

import hashlib
import hmac
import json
import os
from datetime import datetime, timezone

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

SECRET = os.environ["KOYWE_SECRET"].encode()
seen: dict[str, dict] = {}

app = FastAPI()


@app.post("/webhooks/koywe")
async def koywe(request: Request):
    body = await request.json()
    if not isinstance(body, dict):
        return JSONResponse({"status": "rejected", "error": "bad shape"}, status_code=400)
    payload = dict(body)
    signature = payload.pop("signature", None)
    if not isinstance(signature, str):
        return JSONResponse({"status": "rejected", "error": "missing signature"}, status_code=401)
    signed = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    expected = hmac.new(SECRET, signed.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(signature, expected):
        return JSONResponse({"status": "rejected", "error": "bad signature"}, status_code=401)
    event_name = payload.get("eventName")
    order_id = payload.get("orderId")
    time_stamp = payload.get("timeStamp")
    if not event_name or not order_id or not time_stamp:
        return JSONResponse({"status": "rejected", "error": "missing field"}, status_code=400)
    key = f"{order_id}:{event_name}"
    if key in seen:
        return {"status": "duplicate"}
    seen[key] = {
        "eventName": event_name,
        "orderId": order_id,
        "timeStamp": time_stamp,
        "receivedAt": datetime.now(timezone.utc).isoformat(),
    }
    return {"status": "accepted"}
