-- One wrk script for every scenario of bench/harness.py, configured through the
-- environment (wrk runs LuaJIT with the standard libraries, so os.getenv works):
--
--   BENCH_MODE      get | login | register
--   BENCH_PATH      request path (with its query string)
--   BENCH_TOKEN     bearer token sent with every request (optional)
--   BENCH_DELAY_MS  pause before each request of a connection: a paced probe (optional)
--   BENCH_THREADS   the -t given to wrk (login: stride over the accounts)
--   BENCH_ACCOUNTS  login: how many seeded accounts to rotate over
--   BENCH_EMAIL_FMT login: string.format pattern of a seeded e-mail, from its index
--   BENCH_PASSWORD  login / register: the password
--   BENCH_RUN       register: a tag unique to this run, so every e-mail is new
--   BENCH_OUT       where done() writes the JSON summary (required)
--
-- done() writes {requests, duration_us, bytes, errors{...}, latency_us{mean, p50, ...}}.
-- wrk counts a response with status >= 400 in errors.status, so "0 errors" in
-- register means every request answered 201.

local mode = os.getenv("BENCH_MODE") or "get"
local path = os.getenv("BENCH_PATH") or "/health"
local token = os.getenv("BENCH_TOKEN")
local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "0") or 0
local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1") or 1
local accounts = tonumber(os.getenv("BENCH_ACCOUNTS") or "0") or 0
local email_fmt = os.getenv("BENCH_EMAIL_FMT") or "u%d@bench.test"
local password = os.getenv("BENCH_PASSWORD") or ""
local run = os.getenv("BENCH_RUN") or "run"
local out = os.getenv("BENCH_OUT")

-- Main state: number the threads.
local next_tid = 0
function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
end

-- Thread states.
local n = 0
local fixed = nil

function init(args)
  if token and token ~= "" then
    wrk.headers["Authorization"] = "Bearer " .. token
  end
  if mode == "get" then
    fixed = wrk.format("GET", path)
  else
    wrk.headers["Content-Type"] = "application/json"
  end
end

if delay_ms > 0 then
  function delay()
    return delay_ms
  end
end

function request()
  if fixed then
    return fixed
  end
  local me = tid or 0
  local body
  if mode == "login" then
    local idx = (me + n * nthreads) % accounts
    body = string.format('{"email":"%s","password":"%s"}', string.format(email_fmt, idx), password)
  else -- register
    body = string.format(
      '{"email":"reg-%s-%d-%d@bench.test","username":"Reg %d %d","password":"%s"}',
      run, me, n, me, n, password)
  end
  n = n + 1
  return wrk.format("POST", path, nil, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  local p = function(q) return latency:percentile(q) end
  local text = string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"mean":%.1f,"stdev":%.1f,"min":%d,"max":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.stdev, latency.min, latency.max,
    p(50), p(90), p(99), p(99.9))
  if out then
    local f = assert(io.open(out, "w"))
    f:write(text)
    f:close()
  else
    io.write(text)
  end
end
