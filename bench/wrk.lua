-- wrk script of `make bench` (bench/run.py), configured by the environment:
--   BENCH_MODE=me     GET /api/auth/me, the Cookie header rotating over the lines of BENCH_COOKIES
--   BENCH_MODE=login  POST /api/auth/login with valid credentials, rotating over the lines of BENCH_LOGINS
--                     ("email<TAB>password"); the session cookies it is given back are written to
--                     BENCH_SET_COOKIES (one per line) so that run.py can delete exactly those sessions.
-- done() prints one line "BENCH_JSON {...}" that run.py parses (latencies in microseconds).

local mode = os.getenv("BENCH_MODE") or "me"
local prepared = {}
local count, index = 0, 0
local threads = {}
issued = {}

local function read_lines(path)
  local lines = {}
  for line in io.lines(path) do
    if #line > 0 then lines[#lines + 1] = line end
  end
  return lines
end

function setup(thread)
  threads[#threads + 1] = thread
end

function init(args)
  if mode == "login" then
    for _, line in ipairs(read_lines(os.getenv("BENCH_LOGINS"))) do
      local email, password = line:match("^([^\t]+)\t(.+)$")
      local body = string.format('{"email":"%s","password":"%s"}', email, password)
      count = count + 1
      prepared[count] = wrk.format("POST", "/api/auth/login", { ["Content-Type"] = "application/json" }, body)
    end
  else
    for _, cookie in ipairs(read_lines(os.getenv("BENCH_COOKIES"))) do
      count = count + 1
      prepared[count] = wrk.format("GET", "/api/auth/me", { Cookie = cookie })
    end
  end
  -- Threads start at different places in the rotation.
  index = math.random(count) - 1
end

function request()
  index = index % count + 1
  return prepared[index]
end

if mode == "login" then
  function response(status, headers, body)
    local cookie = headers["Set-Cookie"] or headers["set-cookie"]
    if cookie then issued[#issued + 1] = cookie:match("^[^;]+") end
  end
end

function done(summary, latency, requests)
  local out = os.getenv("BENCH_SET_COOKIES")
  if mode == "login" and out then
    local file = assert(io.open(out, "w"))
    for _, thread in ipairs(threads) do
      for _, cookie in ipairs(thread:get("issued") or {}) do file:write(cookie, "\n") end
    end
    file:close()
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"socket_errors":%d,"non_2xx":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
