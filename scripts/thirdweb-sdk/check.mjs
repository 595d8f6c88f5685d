// Runs thirdweb's own webhook parser, `Bridge.Webhook.parse(body, headers,
// secret, tolerance)` of npm `thirdweb` 5.121.6, over every v2 fixture in
// events/thirdweb/ (every fixture whose body is JSON with a `version` other
// than the legacy Pay shape, plus the authentic non-JSON one), and prints
// per file whether the SDK accepted it and what it parsed.
//
// Headers are passed lowercase (the SDK looks them up case-sensitively),
// with the fixture's own committed signature and timestamp (1750000000);
// the SDK's clock check is `|now - ts| > tolerance`, so the tolerance is set
// to cover the time since then. Nothing is re-signed.
//
// Install once outside the repository and point NODE_PATH-free resolution
// at it by running from that directory, e.g.
//   cp package.json check.mjs /tmp/tw-sdk/ && cd /tmp/tw-sdk &&
//   npm install --ignore-scripts && node check.mjs /work/main/events/thirdweb
//
// Output: RESULT.md (Markdown, to stdout) and, with `--json <file>`, the
// machine-readable result the Rust test `sdk_agreement` reads.
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { Bridge } from "thirdweb";

const SECRET = "test-thirdweb-secret";
const args = process.argv.slice(2);
const jsonAt = args.indexOf("--json");
const jsonOut = jsonAt >= 0 ? args[jsonAt + 1] : undefined;
const dir = resolve(args.find((a, i) => !a.startsWith("--") && i !== jsonAt + 1) ?? "events/thirdweb");

const require = createRequire(import.meta.url);
const sdkVersion = require("thirdweb/package.json").version;

function isV2Candidate(body) {
  let v;
  try {
    v = JSON.parse(body);
  } catch {
    return true; // authentic bytes that are not JSON: what does the SDK say?
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) return true;
  // The legacy Pay v1 bodies (no `version`, data.buyWith*Status) are not
  // what Bridge.Webhook.parse is for.
  return "version" in v || "type" in v;
}

const rows = [];
for (const file of readdirSync(dir).filter((f) => f.endsWith(".json") && f !== "cases.json").sort()) {
  const ev = JSON.parse(readFileSync(join(dir, file), "utf8"));
  if (typeof ev.body !== "string" || ev.isBase64Encoded) continue;
  if (ev.requestContext?.http?.method !== "POST") continue;
  const headers = {};
  for (const [k, v] of Object.entries(ev.headers ?? {})) headers[k.toLowerCase()] = v;
  const signed = headers["x-payload-signature"] || headers["x-pay-signature"];
  if (!signed || !isV2Candidate(ev.body)) continue;
  const ts = Number.parseInt(headers["x-timestamp"] || headers["x-pay-timestamp"], 10);
  const tolerance = Math.abs(Math.floor(Date.now() / 1000) - ts) + 60;
  const row = { file, accepted: false };
  try {
    const p = await Bridge.Webhook.parse(ev.body, headers, SECRET, tolerance);
    row.accepted = true;
    row.type = p.type;
    row.id = p.type === "pay.onchain-transaction" ? p.data.paymentId : p.data.id;
    row.status = p.data.status;
  } catch (e) {
    if (e?.name === "$ZodError" && Array.isArray(e.issues)) {
      row.error = `ZodError: ${e.issues
        .slice(0, 3)
        .map((i) => `${(i.path ?? []).join(".") || "(root)"}: ${i.message}`)
        .join("; ")}${e.issues.length > 3 ? "; …" : ""}`;
    } else {
      row.error = String(e?.message ?? e);
    }
  }
  rows.push(row);
}

const esc = (s) => String(s).replaceAll("|", "\\|").replaceAll("\n", " ");
const out = [
  "# thirdweb SDK agreement",
  "",
  `Run ${new Date().toISOString().slice(0, 10)} with npm \`thirdweb\` ${sdkVersion} (\`Bridge.Webhook.parse\`, \`src/bridge/Webhook.ts\`), Node ${process.version}, by \`scripts/thirdweb-sdk/check.mjs\` over \`events/thirdweb/\` (v2-shaped and non-JSON fixtures; legacy Pay v1 bodies are not what the SDK parses).`,
  "Headers lowercase, each fixture's committed signature and timestamp (1750000000), tolerance widened to the time since then; secret `test-thirdweb-secret`.",
  "",
  "| file | SDK | type | paymentId / id | status | SDK error |",
  "|---|---|---|---|---|---|",
  ...rows.map(
    (r) =>
      `| \`${r.file}\` | ${r.accepted ? "accepted" : "refused"} | ${r.type ?? ""} | ${r.id ? `\`${r.id}\`` : ""} | ${r.status ?? ""} | ${esc(r.error ?? "")} |`,
  ),
  "",
];
process.stdout.write(out.join("\n"));
if (jsonOut) {
  writeFileSync(jsonOut, `${JSON.stringify({ sdk: `thirdweb@${sdkVersion}`, results: rows }, null, 2)}\n`);
}
