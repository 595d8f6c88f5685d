"""The Koywe webhook as an AWS user would deploy it on Python with Powertools
for AWS Lambda (Python): API Gateway HTTP API in front, the signature checked
as bench/python/app.py does (HMAC-SHA256 over the body without ``signature``
serialized like JavaScript's JSON.stringify, constant-time compare), the event
recorded once with Powertools idempotency on DynamoDB (key: the event's
identity, orderId + eventName, as the Express and FastAPI peers dedupe), and
published to SQS with boto3. A repeated delivery gets the stored answer back
without a second message.

Environment: KOYWE_SECRET, IDEMPOTENCY_TABLE, QUEUE_URL (and the usual
AWS_REGION, credentials, AWS_ENDPOINT_URL for a stand-in). Handler:
``app.handler``.
"""

import base64
import hashlib
import hmac
import json
import os

import boto3
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

SECRET = os.environ["KOYWE_SECRET"].encode()
QUEUE_URL = os.environ["QUEUE_URL"]

# Clients are built once per execution environment, outside the handler.
sqs = boto3.client("sqs")
persistence_store = DynamoDBPersistenceLayer(table_name=os.environ["IDEMPOTENCY_TABLE"])
idempotency_config = IdempotencyConfig(event_key_jmespath="[orderId, eventName]")


def _js_json(value) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@idempotent_function(
    data_keyword_argument="payload",
    persistence_store=persistence_store,
    config=idempotency_config,
)
def record_event(payload: dict) -> dict:
    """Runs once per Koywe event; a retry returns what the first run returned."""
    sent = sqs.send_message(QueueUrl=QUEUE_URL, MessageBody=_js_json({"provider": "koywe", **payload}))
    return {"status": "accepted", "messageId": sent["MessageId"]}


def _answer(status: int, body: dict) -> dict:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(body),
    }


def handler(event, context):
    # idempotent_function (not on the handler itself) needs the Lambda
    # context to know how long the invocation may still run.
    idempotency_config.register_lambda_context(context)

    raw = event.get("body") or ""
    try:
        if event.get("isBase64Encoded"):
            raw = base64.b64decode(raw).decode()
        body = json.loads(raw)
    except ValueError:
        return _answer(400, {"status": "rejected", "error": "body is not JSON"})
    if not isinstance(body, dict):
        return _answer(400, {"status": "rejected", "error": "bad shape"})
    payload = dict(body)
    signature = payload.pop("signature", None)
    if not isinstance(signature, str):
        return _answer(401, {"status": "rejected", "error": "missing signature"})
    expected = hmac.new(SECRET, _js_json(payload).encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(signature, expected):
        return _answer(401, {"status": "rejected", "error": "bad signature"})
    if not payload.get("eventName") or not payload.get("orderId") or not payload.get("timeStamp"):
        return _answer(400, {"status": "rejected", "error": "missing field"})
    return _answer(200, record_event(payload=payload))
