// The Koywe webhook as an AWS user would deploy it on Node.js 20 with
// Powertools for AWS Lambda (TypeScript): API Gateway HTTP API in front,
// the signature checked as in the provider's docs (HMAC-SHA256 over
// JSON.stringify of the body without `signature`, timingSafeEqual), the
// event recorded once with Powertools idempotency on DynamoDB (key: the
// event's identity, orderId + eventName, as bench/node/server.js dedupes),
// and published to SQS. A repeated delivery gets the stored answer back
// without a second message.
//
// Environment: KOYWE_SECRET, IDEMPOTENCY_TABLE, QUEUE_URL (and the usual
// AWS_REGION, credentials, AWS_ENDPOINT_URL for a stand-in).
'use strict';
const crypto = require('node:crypto');
const { SQSClient, SendMessageCommand } = require('@aws-sdk/client-sqs');
const { IdempotencyConfig, makeIdempotent } = require('@aws-lambda-powertools/idempotency');
const { DynamoDBPersistenceLayer } = require('@aws-lambda-powertools/idempotency/dynamodb');

const secret = process.env.KOYWE_SECRET;
const queueUrl = process.env.QUEUE_URL;
if (!secret || !queueUrl || !process.env.IDEMPOTENCY_TABLE) {
  throw new Error('KOYWE_SECRET, QUEUE_URL and IDEMPOTENCY_TABLE are required');
}

// Clients are built once per execution environment, outside the handler.
const sqs = new SQSClient({});
const persistenceStore = new DynamoDBPersistenceLayer({
  tableName: process.env.IDEMPOTENCY_TABLE,
});
const idempotencyConfig = new IdempotencyConfig({
  eventKeyJmesPath: '[orderId, eventName]',
});

// Runs once per Koywe event; a retry of the same event returns what the
// first run returned.
const recordEvent = makeIdempotent(
  async (payload) => {
    const sent = await sqs.send(
      new SendMessageCommand({
        QueueUrl: queueUrl,
        MessageBody: JSON.stringify({ provider: 'koywe', ...payload }),
      }),
    );
    return { status: 'accepted', messageId: sent.MessageId };
  },
  { persistenceStore, config: idempotencyConfig },
);

const answer = (statusCode, body) => ({
  statusCode,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

exports.handler = async (event, context) => {
  // makeIdempotent on a function other than the handler needs the Lambda
  // context to know how long the invocation may still run.
  idempotencyConfig.registerLambdaContext(context);

  let body;
  try {
    const raw = event.isBase64Encoded
      ? Buffer.from(event.body || '', 'base64').toString('utf8')
      : event.body || '';
    body = JSON.parse(raw);
  } catch {
    return answer(400, { status: 'rejected', error: 'body is not JSON' });
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    return answer(400, { status: 'rejected', error: 'bad shape' });
  }
  const { signature, ...payload } = body;
  if (typeof signature !== 'string') {
    return answer(401, { status: 'rejected', error: 'missing signature' });
  }
  const expected = crypto
    .createHmac('sha256', secret)
    .update(JSON.stringify(payload))
    .digest('hex');
  const given = Buffer.from(signature, 'utf8');
  const wanted = Buffer.from(expected, 'utf8');
  if (given.length !== wanted.length || !crypto.timingSafeEqual(given, wanted)) {
    return answer(401, { status: 'rejected', error: 'bad signature' });
  }
  const { eventName, orderId, timeStamp } = payload;
  if (!eventName || !orderId || !timeStamp) {
    return answer(400, { status: 'rejected', error: 'missing field' });
  }
  const result = await recordEvent(payload);
  return answer(200, result);
};
