// The Koywe webhook receiver a user would write with Express, following the
// provider's docs: express.json(), HMAC-SHA256 over JSON.stringify(body
// without signature), a timing-safe compare, dedupe in memory, answer.
// Benchmark baseline only: the dedupe Map lives in the process (nothing is
// durable), as in the docs' examples.
//
//   KOYWE_SECRET=... PORT=8081 node bench/node/server.js
'use strict';
const crypto = require('node:crypto');
const express = require('express');

const secret = process.env.KOYWE_SECRET;
if (!secret) {
  console.error('KOYWE_SECRET is required');
  process.exit(2);
}
const port = Number(process.env.PORT || 8081);
const seen = new Map();

const app = express();
app.post('/webhooks/koywe', express.json(), (req, res) => {
  const { signature, ...payload } = req.body || {};
  if (typeof signature !== 'string') {
    return res.status(401).json({ status: 'rejected', error: 'missing signature' });
  }
  const expected = crypto
    .createHmac('sha256', secret)
    .update(JSON.stringify(payload))
    .digest('hex');
  const a = Buffer.from(signature, 'utf8');
  const b = Buffer.from(expected, 'utf8');
  if (a.length !== b.length || !crypto.timingSafeEqual(a, b)) {
    return res.status(401).json({ status: 'rejected', error: 'bad signature' });
  }
  const { eventName, orderId, timeStamp } = payload;
  if (!eventName || !orderId || !timeStamp) {
    return res.status(400).json({ status: 'rejected', error: 'missing field' });
  }
  const key = `${orderId}:${eventName}`;
  if (seen.has(key)) {
    return res.json({ status: 'duplicate' });
  }
  seen.set(key, { eventName, orderId, timeStamp, receivedAt: new Date().toISOString() });
  return res.json({ status: 'accepted' });
});

app.listen(port, '127.0.0.1', () => {
  console.log(`express koywe receiver on http://127.0.0.1:${port}`);
});
