"""Write events/standard-webhooks/: API Gateway (HTTP API 2.0) events for
`POST /webhooks/standard/{source}` and cases.json, every signature made by
the Standard Webhooks reference library (PyPI `standardwebhooks`, through
sw.py) with the test secrets of `payhook::providers::standard_webhooks`
(DESCRIPTOR.test_settings), at the fixed time 1750000000 (the handler
tests' clock) unless a case says otherwise.

    "$(scripts/standardwebhooks.sh | tail -n 1)" scripts/standardwebhooks/fixtures.py

Bodies marked verbatim in events/standard-webhooks/README.md are copied
byte for byte from their sources; the rest are invented for the tests.
"""

import base64
import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import sw  # noqa: E402

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
OUT = os.path.join(ROOT, "events", "standard-webhooks")
T0 = 1750000000

# DESCRIPTOR.test_settings (newest first per source).
SECRETS = {
    "demo": ["whsec_rl/nOh5+KGghBGVaDs6S9tQBfvWxBqcs", "whsec_M2zT22CoZj0cjE8/XGC3Xq8BoCbB+USa"],
    "spec": ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
    "polar": ["TestSecret"],
}
RAW = {"polar"}
ROUTE = "/webhooks/standard/{source}"


def sign(source: str, msg_id: str, ts: int, body: str, secret_index: int = 0) -> str:
    secret = SECRETS[source][secret_index]
    return sw.run(
        {"op": "sign", "secrets": [secret], "raw": source in RAW, "id": msg_id, "timestamp": ts, "body": body}
    )["signature"]


def event(source: str, body: str, headers: dict, method: str = "POST", b64: bool = False) -> dict:
    path = ROUTE.replace("{source}", source)
    h = {
        "accept": "*/*",
        "content-length": str(len(body.encode())),
        "content-type": "application/json",
        "host": "abc123def4.execute-api.eu-central-1.amazonaws.com",
        "user-agent": "Svix-Webhooks/1.56.0",
        "x-amzn-trace-id": "Root=1-684ee0c0-3f2a1b0c9d8e7f6a5b4c3d2e",
        "x-forwarded-for": "203.0.113.24",
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
    }
    h.update(headers)
    return {
        "version": "2.0",
        "routeKey": f"{method} {ROUTE}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": h,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123def4",
            "domainName": "abc123def4.execute-api.eu-central-1.amazonaws.com",
            "domainPrefix": "abc123def4",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.24",
                "userAgent": "Svix-Webhooks/1.56.0",
            },
            "requestId": "Mx1aBcDeFgHiJkA=",
            "routeKey": f"{method} {ROUTE}",
            "stage": "$default",
            "time": "15/Jun/2025:15:06:40 +0000",
            "timeEpoch": T0 * 1000,
        },
        "pathParameters": {"source": source},
        "isBase64Encoded": b64,
        "body": base64.b64encode(body.encode()).decode() if b64 else body,
    }


def signed(source, body, msg_id, ts=T0, names=("webhook-id", "webhook-timestamp", "webhook-signature"), **kw):
    sig = sign(source, msg_id, ts, body, kw.pop("secret_index", 0))
    return event(source, body, {names[0]: msg_id, names[1]: str(ts), names[2]: sig}, **kw)


def demo_body(t: str, extra: str = "") -> str:
    return (
        '{"type":"' + t + '","timestamp":"2025-06-15T15:06:30.000Z","data":{"id":"pay_01JXH8Q4M2ZS7V3K","amount":"25.00",'
        '"currency":"USD","reference":"order-1001"' + extra + "}}"
    )


# The spec's examples (spec/standard-webhooks.md): the minified payload of
# "Signature scheme", the "Full payload" and the known answer of
# libraries/javascript/src/webhook.test.ts.
SPEC_MINIFIED = '{"type":"contact.created","timestamp":"2022-11-03T20:26:10.344522Z","data":{"id":"1f81eb52-5198-4599-803e-771906343485"}}'
SPEC_FULL = """{
  "type": "contact.created",
  "timestamp": "2022-11-03T20:26:10.344522Z",
  "data": {
    "id": "1f81eb52-5198-4599-803e-771906343485",
    "type": "contact",
    "fullName": "John Smith",
    "address": "800 W NASA Pkwy, Webster, TX 77598, USA",
    "phoneNumber": "(281) 332-2575",
    "birthday": "1980-04-19",
    "occupation": "Engineer, ACME"
  }
}"""
KAT_BODY = '{"test": 2432232314}'
KAT_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
KAT_TS = 1614265330


def polar_order(t: str, status: str, paid: bool, refunded: int = 0) -> str:
    # Shaped as Polar's `Order` schema (its OpenAPI / SDK models), values
    # invented; amounts in cents.
    return (
        '{"type":"' + t + '","timestamp":"2025-06-15T15:06:35.123456Z","data":{'
        '"id":"3b7e5a2c-8f4d-4c1a-9e6b-2d5f8a1c7e90","created_at":"2025-06-15T15:05:58.000000Z",'
        '"modified_at":"2025-06-15T15:06:35.000000Z","status":"' + status + '","paid":' + ("true" if paid else "false") + ","
        '"subtotal_amount":1999,"discount_amount":0,"net_amount":1999,"tax_amount":0,"total_amount":1999,'
        '"refunded_amount":' + str(refunded) + ',"refunded_tax_amount":0,"currency":"usd","billing_reason":"purchase",'
        '"customer_id":"9a1d2c3b-4e5f-4a6b-8c7d-0e1f2a3b4c5d","product_id":"5c6d7e8f-9a0b-4c1d-8e2f-3a4b5c6d7e8f",'
        '"checkout_id":"7e8f9a0b-1c2d-4e3f-8a4b-5c6d7e8f9a0b","metadata":{},"customer":{'
        '"id":"9a1d2c3b-4e5f-4a6b-8c7d-0e1f2a3b4c5d","external_id":"usr_1337","email":"customer@example.com",'
        '"name":"John Doe"}}}'
    )


def main() -> None:
    os.makedirs(OUT, exist_ok=True)
    files: dict[str, dict] = {}
    cases: list[dict] = []

    def case(file, ev, **c):
        files[file] = ev
        cases.append({"file": file, **c})

    accepted = {"sign": "fresh", "expect": 200, "outcome": "accepted"}
    unparsed = {**accepted, "status": "unknown", "flags": ["unparsed"]}
    order = "pay_01JXH8Q4M2ZS7V3K"

    # demo: the generic payment vocabulary, every mapped type.
    statuses = {
        "payment.succeeded": "completed",
        "payment.created": "created",
        "payment.pending": "pending",
        "payment.processing": "processing",
        "payment.failed": "failed",
        "payment.canceled": "canceled",
        "payment.expired": "expired",
        "payment.refunded": "refunded",
    }
    for i, (t, s) in enumerate(statuses.items()):
        name = "demo-sample.json" if i == 0 else f"demo-{t.replace('.', '-')}.json"
        extra = ',"failure_reason":"card_declined"' if s == "failed" else ""
        c = {**accepted, "status": s, "provider_event": t, "order_id": order}
        if i == 0:
            c = {"file": name, "base": True, **c}
            files[name] = signed("demo", demo_body(t), f"msg_2yZ1demo{i}QpXk7Fw3")
            cases.append(c)
        else:
            case(name, signed("demo", demo_body(t, extra), f"msg_2yZ1demo{i}QpXk7Fw3"), **c)
    case(
        "demo-unknown-type.json",
        signed("demo", demo_body("payment.disputed"), "msg_2yZ1demo9QpXk7Fw3"),
        **accepted,
        status="unknown",
        provider_event="payment.disputed",
        order_id=order,
    )
    # Signed with the rotated-out (second) demo secret: committed, verified
    # at its time by the module's unit tests (a fresh signature would use
    # the newest secret).
    files["rotated-secret.json"] = signed(
        "demo", demo_body("payment.succeeded"), "msg_2yZ1rotatedQpXk7Fw3", secret_index=1
    )
    # Svix's header names: committed likewise (sign() uses the spec's).
    files["svix-headers.json"] = signed(
        "demo",
        demo_body("payment.succeeded"),
        "msg_2yZ1svixQpXk7Fw3",
        names=("svix-id", "svix-timestamp", "svix-signature"),
    )
    # A sender rotating its own secret: one entry per secret.
    body = demo_body("payment.succeeded")
    both = sign("demo", "msg_2yZ1twosigQpXk7Fw3", T0, body, 1) + " " + sign("demo", "msg_2yZ1twosigQpXk7Fw3", T0, body, 0)
    files["two-signatures.json"] = event(
        "demo", body, {"webhook-id": "msg_2yZ1twosigQpXk7Fw3", "webhook-timestamp": str(T0), "webhook-signature": both}
    )

    # Not authentic, or refused before.
    case(
        "tampered.json",
        signed("demo", demo_body("payment.succeeded"), "msg_2yZ1tamperQpXk7Fw3"),
        sign="tamper",
        expect=401,
        tamper={"from": '"amount":"25.00"', "to": '"amount":"2500.00"'},
    )
    case("timestamp-stale.json", signed("demo", demo_body("payment.succeeded"), "msg_2yZ1staleQpXk7Fw3"), sign="stale", expect=401)
    case(
        "timestamp-inside.json",
        signed("demo", demo_body("payment.succeeded"), "msg_2yZ1insideQpXk7Fw3"),
        sign="inside",
        expect=200,
        outcome="accepted",
        status="completed",
        order_id=order,
    )
    case("timestamp-future.json", signed("demo", demo_body("payment.succeeded"), "msg_2yZ1futureQpXk7Fw3"), sign="future", expect=401)
    case("wrong-secret.json", signed("demo", demo_body("payment.succeeded"), "msg_2yZ1wrongQpXk7Fw3"), sign="wrong_secret", expect=401)
    other = "whsec_PWNzRh9a3wqsvZQuaoP4HbGfkV0qgfls"  # the wrong settings' demo secret
    body = demo_body("payment.succeeded")
    sig = sw.run({"op": "sign", "secrets": [other], "id": "msg_2yZ1wrongcQpXk7Fw3", "timestamp": T0, "body": body})["signature"]
    case(
        "wrong-secret-committed.json",
        event("demo", body, {"webhook-id": "msg_2yZ1wrongcQpXk7Fw3", "webhook-timestamp": str(T0), "webhook-signature": sig}),
        sign="none",
        expect=401,
    )
    case("missing-signature.json", event("demo", demo_body("payment.succeeded"), {}), sign="none", expect=401)
    ev = signed("demo", demo_body("payment.succeeded"), "msg_2yZ1mixQpXk7Fw3")
    h = ev["headers"]
    h["svix-timestamp"] = h.pop("webhook-timestamp")
    h["svix-signature"] = h.pop("webhook-signature")
    case("mixed-header-sets.json", ev, sign="none", expect=401)
    ev = signed("demo", demo_body("payment.succeeded"), "msg_2yZ1repQpXk7Fw3")
    ev["headers"]["webhook-signature"] += "," + ev["headers"]["webhook-signature"]
    case("repeated-signature-header.json", ev, sign="none", expect=401)
    ev = signed("demo", demo_body("payment.succeeded"), "msg_2yZ1badtsQpXk7Fw3")
    ev["headers"]["webhook-timestamp"] = "1750000000.0"
    case("malformed-timestamp.json", ev, sign="none", expect=401)
    ev = signed("demo", demo_body("payment.succeeded"), "msg.2yZ1dotQpXk7Fw3")
    case("malformed-message-id.json", ev, sign="none", expect=401)
    # An authentic demo delivery sent to a source that is not configured.
    ev = signed("demo", demo_body("payment.succeeded"), "msg_2yZ1unknownQpXk7Fw3")
    for k, v in (("rawPath", "/webhooks/standard/acme"),):
        ev[k] = v
    ev["requestContext"]["http"]["path"] = "/webhooks/standard/acme"
    ev["pathParameters"] = {"source": "acme"}
    case("unknown-source.json", ev, sign="none", expect=401)
    # Authentic, whatever the body holds: kept.
    case(
        "malformed-json.json",
        signed("demo", '{"type":"payment.succeeded","data":{"id":', "msg_2yZ1badjsonQpXk7Fw3"),
        **unparsed,
    )
    case("authentic-not-json.json", signed("demo", "payment succeeded", "msg_2yZ1textQpXk7Fw3"), **unparsed)
    case("authentic-not-an-object.json", signed("demo", '["payment.succeeded"]', "msg_2yZ1arrayQpXk7Fw3"), **unparsed)
    case(
        "authentic-unmappable.json",
        signed("demo", '{"type":"payment.succeeded","data":{}}', "msg_2yZ1noidQpXk7Fw3"),
        **unparsed,
    )
    case(
        "base64-body.json",
        signed("demo", demo_body("payment.succeeded"), "msg_2yZ1b64QpXk7Fw3", b64=True),
        **accepted,
        status="completed",
        order_id=order,
    )
    ev = signed("demo", demo_body("payment.succeeded"), "msg_2yZ1badb64QpXk7Fw3")
    ev["isBase64Encoded"] = True
    ev["body"] = "eyJ0eXBlIjoicGF5bWVudC5zdWNjZWVkZWQi!!=="
    case("invalid-base64.json", ev, sign="none", expect=400)
    case(
        "wrong-method.json",
        signed("demo", demo_body("payment.succeeded"), "msg_2yZ1getQpXk7Fw3", method="GET"),
        sign="none",
        expect=405,
    )

    # spec: the defaults (type `/type`, order `/data/id`), no status table.
    files["spec-known-answer.json"] = event(
        "spec", KAT_BODY, {"webhook-id": KAT_ID, "webhook-timestamp": str(KAT_TS), "webhook-signature": sign("spec", KAT_ID, KAT_TS, KAT_BODY)}
    )
    case("spec-known-answer.json", files["spec-known-answer.json"], sign="none", expect=401)
    case("spec-known-answer-fresh.json", signed("spec", KAT_BODY, KAT_ID), **{**unparsed})
    spec_order = "1f81eb52-5198-4599-803e-771906343485"
    case(
        "spec-example-minified.json",
        signed("spec", SPEC_MINIFIED, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"),
        **accepted,
        status="unknown",
        provider_event="contact.created",
        order_id=spec_order,
    )
    case(
        "spec-example-full.json",
        signed("spec", SPEC_FULL, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4X"),
        **accepted,
        status="unknown",
        provider_event="contact.created",
        order_id=spec_order,
    )

    # polar: raw secret, cents.
    polar = "3b7e5a2c-8f4d-4c1a-9e6b-2d5f8a1c7e90"
    for t, status, paid, refunded, want in [
        ("order.created", "pending", False, 0, "pending"),
        ("order.paid", "paid", True, 0, "completed"),
        ("order.refunded", "refunded", True, 1999, "refunded"),
        ("order.updated", "paid", True, 0, "unknown"),
    ]:
        case(
            f"polar-{t.replace('.', '-')}.json",
            signed("polar", polar_order(t, status, paid, refunded), f"msg_polar_{t.replace('.', '_')}"),
            **accepted,
            status=want,
            provider_event=t,
            order_id=polar,
        )

    for name, ev in files.items():
        with open(os.path.join(OUT, name), "w", encoding="utf-8") as f:
            json.dump(ev, f, indent=2, ensure_ascii=False)
            f.write("\n")
    with open(os.path.join(OUT, "cases.json"), "w", encoding="utf-8") as f:
        json.dump(cases, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {len(files)} events, {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
