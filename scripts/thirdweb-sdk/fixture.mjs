// Writes an API Gateway HTTP API (payload 2.0) proxy event for
// POST /webhooks/thirdweb into events/thirdweb/, signed as the committed
// fixtures are: secret `test-thirdweb-secret`, timestamp 1750000000,
// lowercase hex HMAC-SHA256 of `${ts}.${body}`. A body whose JSON says
// `"version": 2` gets x-payload-signature / x-timestamp, any other body
// x-pay-signature / x-pay-timestamp (the names Thirdweb::sign uses).
//
//   node fixture.mjs <out.json> <body-file>   # body bytes taken as they are
//   node fixture.mjs --resign <file.json>...  # re-sign an existing fixture
//
// Node built-ins only; the template is events/thirdweb/v2-sample.json.
import { createHmac } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const SECRET = "test-thirdweb-secret";
const TS = "1750000000";
const dir = resolve(dirname(fileURLToPath(import.meta.url)), "../../events/thirdweb");
const SIG_NAMES = ["x-payload-signature", "x-timestamp", "x-pay-signature", "x-pay-timestamp"];

function isV2(body) {
  try {
    return JSON.parse(body)?.version === 2;
  } catch {
    return false;
  }
}

function withBody(event, body) {
  const [sigH, tsH] = isV2(body)
    ? ["x-payload-signature", "x-timestamp"]
    : ["x-pay-signature", "x-pay-timestamp"];
  const sig = createHmac("sha256", SECRET).update(`${TS}.${body}`).digest("hex");
  const headers = {};
  for (const [k, v] of Object.entries(event.headers)) {
    if (!SIG_NAMES.includes(k)) headers[k] = v;
  }
  headers["content-length"] = String(Buffer.byteLength(body, "utf8"));
  headers[sigH] = sig;
  headers[tsH] = TS;
  // Keep the header order of the template: signature headers last.
  return { ...event, headers, isBase64Encoded: false, body };
}

function write(path, event) {
  writeFileSync(path, `${JSON.stringify(event, null, 2)}\n`);
  console.log(`wrote ${path}`);
}

const args = process.argv.slice(2);
if (args[0] === "--resign") {
  for (const f of args.slice(1)) {
    const path = resolve(dir, f);
    const ev = JSON.parse(readFileSync(path, "utf8"));
    write(path, withBody(ev, ev.body));
  }
} else if (args.length === 2) {
  const template = JSON.parse(readFileSync(join(dir, "v2-sample.json"), "utf8"));
  const body = readFileSync(args[1], "utf8");
  write(resolve(dir, args[0]), withBody(template, body));
} else {
  console.error("usage: node fixture.mjs <out.json> <body-file> | --resign <file.json>...");
  process.exit(2);
}
