#!/usr/bin/env node
// NOWPayments signs its IPN bodies with HMAC-SHA512 over the body's JSON
// re-printed with sorted keys, and its docs give two JavaScript ways of
// printing it (API docs, "Instant Payments Notifications"):
//
//   * the current Node.js sample: a recursive `sortObject` (every nested
//     value that is an object or an array is rebuilt as an object with
//     sorted keys), then `JSON.stringify(sortObject(params))`;
//   * the text (and the older sample): `JSON.stringify(params,
//     Object.keys(params).sort())`, whose replacer array is an allow-list
//     applied at every depth.
//
// payhook re-reads the body and re-prints both forms itself
// (shared/src/providers/nowpayments.rs). This script produces the agreement
// vectors: for each body, the two texts as Node.js prints them and their
// HMAC-SHA512 as Node.js computes it, over bodies chosen where a
// re-serializer can differ from JavaScript (numbers, string escapes,
// non-ASCII keys and their UTF-16 order, integer-like keys, arrays, nested
// objects, `__proto__`, whitespace). Bodies whose reading JavaScript rounds
// (integers beyond 2^53) are marked `"refused"`: payhook must answer 400
// even with the signature Node.js computes.
//
//   node scripts/nowpayments-vectors.js [output.json]
//
// Default output: events/nowpayments/vectors/signatures.json (a folder of
// its own: fuzz/seed.sh reads every events/<id>/*.json as an API Gateway event). The unit test
// `agrees_with_nodejs_on_every_vector` in nowpayments.rs checks every vector
// with payhook and re-runs this script to check the committed file is
// current. The output is deterministic: no clock, no randomness.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const out = process.argv[2] ||
  path.join(__dirname, '..', 'events', 'nowpayments', 'vectors', 'signatures.json');

const SECRETS = [
  'test-nowpayments-secret',
  'clé-secrète-🔑',
  // Longer than SHA-512's 128-byte block: HMAC hashes the key first.
  'k'.repeat(200),
];

// NOWPayments' current Node.js sample, as its docs print it.
function sortObject(obj) {
  return Object.keys(obj).sort().reduce(
    (result, key) => {
      result[key] = (obj[key] && typeof obj[key] === 'object') ? sortObject(obj[key]) : obj[key]
      return result
    },
    {}
  )
}
const recursive = (params) => JSON.stringify(sortObject(params));
// The docs' text: `JSON.stringify(params, Object.keys(params).sort())`.
const topLevel = (params) => JSON.stringify(params, Object.keys(params).sort());
const hmac = (secret, text) => crypto.createHmac('sha512', secret).update(text).digest('hex');

// A realistic IPN (fields of the docs' webhook example and of real IPNs).
const ipn = (extra) => ({
  payment_id: 5077125051,
  parent_payment_id: null,
  invoice_id: 4522625843,
  payment_status: 'finished',
  pay_address: 'TNDFkiSmBQorNFacb3735q8MnT29sn8BLn',
  payin_extra_id: null,
  price_amount: 170,
  price_currency: 'usd',
  pay_amount: 155.38559757,
  actually_paid: 155.38559757,
  actually_paid_at_fiat: 0,
  pay_currency: 'trx',
  order_id: 'RGDBP-21314',
  order_description: 'Apple Macbook Pro 2019 x 1',
  purchase_id: '6084744717',
  outcome_amount: 1131.7812095,
  outcome_currency: 'trx',
  payment_extra_ids: null,
  fee: { currency: 'trx', depositFee: 0.09853637216235617, withdrawalFee: 0, serviceFee: 0 },
  updated_at: 1750000000123,
  ...extra,
});

// [name, body text as sent]. Bodies built from objects are sent as
// `JSON.stringify` writes them; templates are hand-written text.
const bodies = [
  // The docs' "Webhooks Examples: Payments" body with the comma it lacks
  // after `"payment_extra_ids":null` (as printed it is not JSON).
  ['docs-webhook-example', '{\n"payment_id":123456789,\n"parent_payment_id":987654321,\n"invoice_id":null,\n"payment_status":"finished",\n"pay_address":"address",\n"payin_extra_id":null,\n"price_amount":1,\n"price_currency":"usd",\n"pay_amount":15,\n"actually_paid":15,\n"actually_paid_at_fiat":0,\n"pay_currency":"trx",\n"order_id":null,\n"order_description":null,\n"purchase_id":"123456789",\n"outcome_amount":14.8106,\n"outcome_currency":"trx",\n"payment_extra_ids":null,\n"fee": {\n"currency":"btc",\n"depositFee":0.09853637216235617,\n"withdrawalFee":0,\n"serviceFee":0\n}\n}'],
  ['ipn-nested-fee', JSON.stringify(ipn({}))],
  ['numbers', JSON.stringify(ipn({
    payment_status: 'partially_paid',
    actually_paid: 0.000083,
    pay_amount: 0.00021,
    fee: { currency: 'btc', depositFee: 0.000083, withdrawalFee: 1e-7, serviceFee: 2.5e-5 },
    big: 1e21,
    bigger: 1.5e300,
    thirty_digits: 123456789012345678901234567890,
    max_safe: 9007199254740991,
    neg_zero: -0,
    sum: 0.1 + 0.2,
    tiny: 5e-324,
    list: [0, -1, 10.5, 1e6, 1234.5678, 1 / 3],
  }))],
  ['unicode', JSON.stringify(ipn({
    payment_status: 'waiting',
    order_id: 'pedido-ñ-1',
    order_description: 'Café au lait × 2 😀 \u2028 \u2029 日本語',
    'clé': 1,
    '😀': 'emoji key',
    '\uffff': 'last BMP code point: after the emoji in UTF-16 order',
    'Zürich': 'capital Z sorts before lower case',
    a: 'a',
  }))],
  ['escapes', JSON.stringify(ipn({
    payment_status: 'confirming',
    order_description: 'say "hi" \\ back\\slash </script> a/b \b\f\n\r\t',
    controls: Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)).join(''),
    'quote"key': 1,
    'back\\slash': 2,
    '': 'empty key',
  }))],
  ['arrays-and-empties', JSON.stringify(ipn({
    payment_status: 'sending',
    payment_extra_ids: [5077125052, 5077125053],
    nested_list: [{ z: 1, a: [2, { y: null, b: true }] }, [], {}, null, 'x', [[1, 2], [3]]],
    eleven: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
    empty_object: {},
    empty_array: [],
    empty_string: '',
    zero: 0,
    no: false,
  }))],
  ['integer-like-keys', JSON.stringify(ipn({
    payment_status: 'confirmed',
    10: 'ten', 2: 'two', '01': 'not an index', 4294967294: 'largest index', 4294967295: 'not an index',
    nested: { 10: 'ten', 2: 'two', b: 'b', a: 'a', 0: 'zero' },
  }))],
  // A nested object whose members share names with top-level keys: the
  // top-level allow-list keeps exactly those.
  ['allow-list-depth', JSON.stringify({
    payment_id: 5077125054, payment_status: 'failed', currency: 'usd', amount: 3,
    fee: { currency: 'btc', depositFee: 1, amount: 2, payment_status: 'inner' },
    list: [{ currency: 'eth', other: 1 }, 5],
  })],
  // `__proto__` from JSON.parse is an own member; `sortObject`'s assignment
  // runs Object.prototype's setter instead, and the replacer resolves it
  // through Object.prototype in nested objects that lack it.
  ['proto-key', '{"payment_id":5077125055,"payment_status":"expired","__proto__":{"x":1},"fee":{"currency":"btc"},"obj":{"__proto__":null,"k":1}}'],
  ['deep', JSON.stringify(ipn({
    payment_status: 'refunded',
    deep: { l1: { l2: { l3: { l4: { l5: { l6: { l7: { l8: [{ z: 0, a: 1 }] } } } } } } } },
  }))],
  // Text that is not what JSON.stringify writes: whitespace, `1E21`,
  // `100.0`, `-0.0`, escapes. The signature is over what JavaScript reads.
  ['template-text', '{ "payment_status" : "finished" ,\n  "payment_id":5077125056,\t"price_amount":100.0, "big":1E21,\r\n' +
    '  "neg":-0.0, "exp":1.50e2, "s":"caf\\u00e9 \\/ \\ud83d\\ude00", "fee" : { "depositFee" : 2.50000 , "currency":"btc" } }'],
  ['order-id-number', JSON.stringify(ipn({ order_id: 42, payment_id: '5077125057', updated_at: '2021-04-12T14:23:06.244Z' }))],
];

// Integers JavaScript cannot hold exactly: Node rounds them before
// signing, so two spellings share one signature; payhook refuses them.
const refused = [
  ['past-2^53', '{"payment_id":9007199254740993,"payment_status":"finished"}'],
  ['u64-max', '{"payment_id":5077125058,"payment_status":"finished","fee":{"depositFee":18446744073709551615}}'],
];

const vectors = [];
bodies.forEach(([name, body], i) => {
  const secret = SECRETS[i % SECRETS.length];
  const params = JSON.parse(body);
  const r = recursive(params);
  const t = topLevel(params);
  vectors.push({ name, secret, body, recursive: r, top_level: t, sig_recursive: hmac(secret, r), sig_top_level: hmac(secret, t) });
});
refused.forEach(([name, body], i) => {
  const secret = SECRETS[i % SECRETS.length];
  const params = JSON.parse(body);
  const r = recursive(params);
  const t = topLevel(params);
  vectors.push({ name, secret, body, refused: true, recursive: r, top_level: t, sig_recursive: hmac(secret, r), sig_top_level: hmac(secret, t) });
});

fs.writeFileSync(out, JSON.stringify(vectors, null, 2) + '\n');
