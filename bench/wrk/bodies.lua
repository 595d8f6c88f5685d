-- wrk script: POST a different pre-signed body on every request.
--
--   BODIES=file.txt wrk -s bench/wrk/bodies.lua http://127.0.0.1:PORT/webhooks/koywe
--
-- BODIES holds one JSON body per line. Thread k of T sends lines k, k+T,
-- k+2T, ... so no two requests of a run carry the same body until the file
-- is exhausted; past that a thread starts over (those are duplicates) and
-- done() reports how many requests wrapped. done() prints one JSON line
-- (prefixed "WRK_JSON ") with the figures scripts/bench.sh reads.

local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  nthreads = counter
  local path = os.getenv("BODIES")
  local mine = {}
  local i = 0
  -- `id` is set by setup() before init() runs in the thread's state.
  for line in io.lines(path) do
    if line ~= "" then
      if i % (tonumber(os.getenv("WRK_THREADS") or "1")) == id then
        mine[#mine + 1] = line
      end
      i = i + 1
    end
  end
  bodies = mine
  nbodies = #mine
  pos = 0
  sent = 0
  wrapped = 0
  non200 = 0
  headers = { ["Content-Type"] = "application/json" }
end

function request()
  pos = pos + 1
  if pos > nbodies then
    pos = 1
  end
  sent = sent + 1
  if sent > nbodies then
    wrapped = wrapped + 1
  end
  return wrk.format("POST", nil, headers, bodies[pos])
end

function response(status, hdrs, body)
  if status ~= 200 then
    non200 = non200 + 1
  end
end

function done(summary, latency, requests)
  local w, n, s = 0, 0, 0
  for _, t in ipairs(threads) do
    w = w + (t:get("wrapped") or 0)
    n = n + (t:get("non200") or 0)
    s = s + (t:get("sent") or 0)
  end
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"rps":%.1f,"errors":%d,"non200":%d,"wrapped":%d,"sent":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout,
    n, w, s,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
