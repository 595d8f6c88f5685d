// Write N distinct Koywe webhook bodies, signed as Koywe signs them
// (hex HMAC-SHA256 of JSON.stringify(payload without signature)), one per
// line, time-stamped now (payhook refuses time stamps older than 24 h).
//
//   node bench/gen_koywe_bodies.js SECRET N OUT [PREFIX]
//
// NAMES (environment, comma-separated) replaces the event names cycled through.
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');

const [secret, nArg, out, prefix = 'b'] = process.argv.slice(2);
if (!secret || !nArg || !out) {
  console.error('usage: gen_koywe_bodies.js SECRET N OUT [PREFIX]');
  process.exit(2);
}
const n = Number(nArg);
const names = process.env.NAMES
  ? process.env.NAMES.split(',')
  : ['payment_created', 'payment_received', 'crypto_tx_sent', 'crypto_delivered'];
const timeStamp = new Date().toISOString();
const lines = [];
for (let i = 0; i < n; i++) {
  // A UUID-shaped order id, distinct per body (prefix keeps runs apart).
  const h = crypto.createHash('sha256').update(`${prefix}:${i}`).digest('hex');
  const orderId = `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
  const payload = { eventName: names[i % names.length], orderId, timeStamp };
  const signature = crypto.createHmac('sha256', secret).update(JSON.stringify(payload)).digest('hex');
  lines.push(JSON.stringify({ ...payload, signature }));
}
fs.writeFileSync(out, lines.join('\n') + '\n');
