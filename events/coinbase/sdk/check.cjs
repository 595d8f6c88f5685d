// Verifies every committed events/coinbase fixture with Coinbase's own
// Commerce SDK (npm `coinbase-commerce-node` 1.0.4, `Webhook.verifySigHeader`
// and `Webhook.verifyEventBody`) and Hook0's own client (npm `hook0-client`
// 1.1.0, `verifyWebhookSignatureWithCurrentTime`, the clock at the fixtures'
// 1750000000, tolerance 300 s), with the test secrets of
// shared/src/providers/coinbase.rs, and writes RESULT.json beside this file.
// The unit test `sdk_agreement` (shared/src/providers/coinbase/tests.rs)
// holds payhook to the same verdicts.
//
//   npm install --prefix /tmp/cb-sdk coinbase-commerce-node@1.0.4 hook0-client@1.1.0
//   NODE_PATH=/tmp/cb-sdk/node_modules node events/coinbase/sdk/check.cjs

"use strict";

const fs = require("fs");
const path = require("path");
const { Webhook } = require("coinbase-commerce-node");
const hook0 = require("hook0-client");

const HOOK0_SECRETS = ["test-coinbase-secret", "test-coinbase-secret-old"];
const COMMERCE_SECRETS = ["test-coinbase-commerce-secret", "30291a20-0bd1-4267-9b0f-e6e7b123c0bf"];
const NOW = new Date(1750000000 * 1000);
const dir = path.join(__dirname, "..");

function version(name) {
  const main = require.resolve(name);
  let d = path.dirname(main);
  while (!fs.existsSync(path.join(d, "package.json"))) d = path.dirname(d);
  return `${name}@${JSON.parse(fs.readFileSync(path.join(d, "package.json"), "utf8")).version}`;
}

function body(ev) {
  return ev.isBase64Encoded ? Buffer.from(ev.body, "base64").toString("utf8") : ev.body;
}

const results = [];
for (const file of fs.readdirSync(dir).filter((f) => f.endsWith(".json") && f !== "cases.json").sort()) {
  const ev = JSON.parse(fs.readFileSync(path.join(dir, file), "utf8"));
  if (ev.requestContext.http.method !== "POST") continue;
  if (ev.isBase64Encoded && !/^[A-Za-z0-9+/=]*$/.test(ev.body)) continue;
  const payload = body(ev);
  const h = ev.headers;
  const r = { file };
  if (h["x-hook0-signature"] !== undefined) {
    r.scheme = "hook0";
    const headers = new Map(Object.entries(h));
    const errors = [];
    r.accepted = HOOK0_SECRETS.some((secret) => {
      try {
        return hook0.verifyWebhookSignatureWithCurrentTime(h["x-hook0-signature"], payload, headers, secret, 300, NOW);
      } catch (e) {
        errors.push(String(e.message || e));
        return false;
      }
    });
    if (!r.accepted) r.error = errors[0];
  } else if (h["x-cc-webhook-signature"] !== undefined) {
    r.scheme = "commerce";
    const sig = h["x-cc-webhook-signature"];
    r.accepted = COMMERCE_SECRETS.some((secret) => {
      try {
        return Webhook.verifySigHeader(payload, sig, secret);
      } catch (e) {
        return false;
      }
    });
    // What the SDK makes of an authentic body (it refuses some).
    if (r.accepted) {
      const secret = COMMERCE_SECRETS.find((s) => {
        try {
          return Webhook.verifySigHeader(payload, sig, s);
        } catch (e) {
          return false;
        }
      });
      try {
        const event = Webhook.verifyEventBody(payload, sig, secret);
        r.event_id = event.id;
        r.type = event.type;
      } catch (e) {
        r.event_error = String(e.message || e);
      }
    }
  } else {
    r.scheme = "none";
    r.accepted = false;
  }
  results.push(r);
}

const out = { sdks: [version("coinbase-commerce-node"), version("hook0-client")], results };
fs.writeFileSync(path.join(__dirname, "RESULT.json"), JSON.stringify(out, null, 2) + "\n");
console.log(`${results.length} fixtures: ${results.filter((r) => r.accepted).length} accepted`);
