#!/usr/bin/env node
// Koywe signs `JSON.stringify(payload)` with HMAC-SHA256 and sends
// `JSON.stringify({...payload, signature})`. payhook re-parses the body and
// re-prints it with its own JSON.stringify (shared/src/canonical.rs). This
// script produces the agreement vectors: bodies exactly as Node.js writes
// them, with the signature Node.js computes, covering the places where a
// re-serializer can differ from JavaScript (numbers, string escapes,
// non-ASCII text, key order, nesting).
//
//   node scripts/koywe-vectors.js [output.json]
//
// Default output: shared/tests/fixtures/koywe_stringify_vectors.json.
// shared/tests/koywe_stringify.rs verifies every vector with payhook and
// re-runs this script to check the committed file is current. The output is
// deterministic: no clock, no randomness.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const out = process.argv[2] ||
  path.join(__dirname, '..', 'shared', 'tests', 'fixtures', 'koywe_stringify_vectors.json');

// Every vector uses this time stamp; the Rust test verifies with a clock
// just after it.
const TIME_STAMP = '2022-10-26T22:36:41.658Z';
const SECRETS = [
  'test-koywe-secret',
  'clé-secrète-🔑',
  // Longer than SHA-256's 64-byte block: HMAC hashes the key first.
  'k'.repeat(100),
];

const hmac = (secret, text) => crypto.createHmac('sha256', secret).update(text, 'utf8').digest('hex');

const base = (orderId, eventName = 'payment_received') => ({ eventName, orderId, timeStamp: TIME_STAMP });

// Payload objects, signed and sent the way Koywe's code does it.
const payloads = [
  ['documented-shape', { eventName: 'crypto_delivered', orderId: '5a3288ea-0bd4-44d2-af11-aae1f88bbd61', timeStamp: TIME_STAMP }],
  ['unicode', {
    ...base('vec-unicode'),
    latin: 'café, niño, Zürich, São Paulo',
    emoji: '😀🚀 👩‍👩‍👧 🇨🇱',
    separators: 'line\u2028separator paragraph\u2029separator',
    cjk: '日本語 中文 한국어',
    combining: 'e\u0301 a\u030a',
    bom: '\ufeff',
    c1: '\u007f\u0080\u009f\u00a0',
    nonBmp: '\u{10348}\u{1F4A9}',
  }],
  ['escapes', {
    ...base('vec-escapes'),
    quotes: 'say "hi" \'there\'',
    backslash: 'C:\\path\\to\\file \\n not a newline',
    named: '\b\f\n\r\t',
    controls: Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)).join(''),
    slash: 'a/b </script> http://x.y/z',
    html: '<a href="x">&amp;</a>',
  }],
  ['numbers', {
    ...base('vec-numbers'),
    hundred: 100.0,
    big: 1e21,
    bigger: 1.5e300,
    small: 1e-7,
    smaller: 1.5e-10,
    tenth: 0.1,
    sum: 0.1 + 0.2,
    negZero: -0,
    rounded: 123456789012345680000,
    minDenormal: 5e-324,
    max: 1.7976931348623157e308,
    maxSafe: 9007199254740991,
    pastSafe: 9007199254740993,
    micro: 0.000001,
    negative: -42.5,
    amounts: [0, 1, -1, 10.5, 1e6, 2.5e-5, 1234.5678],
  }],
  // Doubles whose shortest form has 16-17 significant digits or a far
  // exponent: reading them back needs correctly rounded parsing (serde_json's
  // `float_roundtrip`), or the re-printed text differs in the last digit.
  ['doubles', {
    ...base('vec-doubles', 'fiat_delivered'),
    values: [
      -6.700644361199593e+41, 1.0777307398016243e+236, -1.3108594219715233e-73,
      -4.733207993203345e-127, -2.444206268247548e-73, 2.2250738585072014e-308,
      4.9406564584124654e-324, 0.1 + 0.7, 1 / 3, 2 / 3, 299792.458, 1e23, 9.007199254740993e15,
    ],
  }],
  ['nested', {
    ...base('vec-nested', 'payment_received_modified_order_amount'),
    order: { amount: { fiat: 10000, crypto: '0.00731274', currency: 'CLP' }, tags: ['a', 'b', []], meta: {} },
    matrix: [[1, 2], [3, [4, [5, { deep: [null, true, false] }]]]],
    empties: { o: {}, a: [], s: '' },
    nothing: null,
    flags: [true, false, null],
  }],
  ['keys', {
    ...base('vec-keys', 'unknown_future_event'),
    'key with spaces': 1,
    'clé': 2,
    'quote"key': 3,
    'back\\slash': 4,
    '': 5,
    // JavaScript prints integer-like keys first, ascending; the body Koywe
    // sends is already in that order and payhook keeps it.
    10: 'ten',
    2: 'two',
    z: 'last letter',
  }],
];

const vectors = [];
payloads.forEach(([name, payload], i) => {
  const secret = SECRETS[i % SECRETS.length];
  const signature = hmac(secret, JSON.stringify(payload));
  vectors.push({ name, kind: 'stringify', secret, body: JSON.stringify({ ...payload, signature }), signature });
});

// Bodies whose text is not what JSON.stringify writes (`100.0`, `1E21`,
// `\u00e9`, `\/`): Koywe itself never sends these, but they show what payhook
// re-reads. The signature is over JSON.stringify of what JavaScript parses,
// i.e. over the canonical form, which is what payhook recomputes.
const templates = [
  ['template-numbers',
    `{"eventName":"payment_received","orderId":"tmpl-numbers","timeStamp":"${TIME_STAMP}",` +
    '"hundred":100.0,"big":1E21,"bigPlus":1e+21,"small":1E-7,"negZero":-0.0,"exp":1.50e2,' +
    '"trailing":2.50000,"leadingZeroExp":1e007,"long":0.30000000000000004,"tiny":1.0000000000000001}'],
  ['template-escapes',
    `{"eventName":"payment_received","orderId":"tmpl-escapes","timeStamp":"${TIME_STAMP}",` +
    '"escaped":"caf\\u00e9 \\u2028 \\ud83d\\ude00","slash":"a\\/b","ctl":"\\u0001\\u001F\\u007f",' +
    '"named":"\\u0008\\u000c\\u000a\\u000d\\u0009","upperHex":"\\u00C9"}'],
  ['template-whitespace',
    `{ "eventName" : "crypto_delivered" ,\n  "orderId":"tmpl-space",\t"timeStamp":"${TIME_STAMP}",\r\n` +
    '  "list" : [ 1 , 2.0 , { "a" : [ ] } ] }'],
];
templates.forEach(([name, text], i) => {
  const secret = SECRETS[i % SECRETS.length];
  const signature = hmac(secret, JSON.stringify(JSON.parse(text)));
  const at = text.lastIndexOf('}');
  const body = `${text.slice(0, at)},"signature":"${signature}"${text.slice(at)}`;
  vectors.push({ name, kind: 'template', secret, body, signature });
});

// Koywe's current API signs the raw body bytes and sends the hex digest in
// the `Koywe-Signature` header (docs.koywe.com: advanced/webhooks, whose
// example is `createHmac('sha256', secret).update(req.body)` on the raw
// Buffer). These bodies are invented envelopes (the POSTed envelope is not
// documented); payhook must verify the bytes as sent, whitespace, escapes
// and non-ASCII text included, never a re-serialization.
const current = [
  ['header-compact', JSON.stringify({
    id: 'evt_vec_compact', type: 'order.completed', occurredAt: TIME_STAMP,
    data: { id: 'vec-order-1', externalId: 'pedido-ñ-1', amountIn: '25000', amountOut: 26.5,
      originCurrencySymbol: 'CLP', destinationCurrencySymbol: 'USDC' },
  })],
  ['header-pretty', JSON.stringify({
    id: 'evt_vec_pretty', type: 'order.paid', occurredAt: TIME_STAMP,
    payload: { id: 'vec-order-2', note: 'café 😀 \u2028' },
  }, null, 2) + '\n'],
  ['header-escapes',
    `{"id":"evt_vec_escapes","type":"order.failed","data":{"id":"vec-order-3",` +
    '"reason":"caf\\u00e9 \\/ \\ud83d\\ude00","amountIn":1E21}}'],
];
current.forEach(([name, body], i) => {
  const secret = SECRETS[i % SECRETS.length];
  const signature = crypto.createHmac('sha256', secret).update(Buffer.from(body, 'utf8')).digest('hex');
  vectors.push({ name, kind: 'header', secret, body, signature });
});

fs.writeFileSync(out, JSON.stringify(vectors, null, 2) + '\n');
