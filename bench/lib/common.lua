-- common.lua — shared by the benchmark's wrk scripts (bench/lib/*.lua).
--
-- Configuration comes from the environment (bench/run sets it):
--   BENCH_TOKENS         file with one access token a line (one user each)
--   BENCH_PATH           request path (with query), e.g. /api/profile/talent/?partial=true
--   BENCH_EXPECT_STATUS  the only status that counts as a good answer (default 200)
--   BENCH_EXPECT_BODY    a plain substring every good answer's body must contain ("" = none)
--   BENCH_CASE           the case's name, echoed in the result line
--
-- Every response goes through response(): one whose status is not the
-- expected one, or whose body lacks the expected substring, is counted as
-- bad (per status), so a fast wrong answer cannot pass for throughput.
-- done() prints one line, "BENCH_RESULT {json}", that bench/report.py reads.
local M = {}

M.path = os.getenv("BENCH_PATH") or "/"
M.expect_status = tonumber(os.getenv("BENCH_EXPECT_STATUS") or "200")
M.expect_body = os.getenv("BENCH_EXPECT_BODY") or ""
M.case = os.getenv("BENCH_CASE") or "?"

function M.read_file(path)
  local f = assert(io.open(path, "rb"), "cannot open " .. tostring(path))
  local data = f:read("*a")
  f:close()
  return data
end

function M.read_tokens()
  local path = os.getenv("BENCH_TOKENS")
  local tokens = {}
  if not path or path == "" then return tokens end
  for line in io.lines(path) do
    if line ~= "" then tokens[#tokens + 1] = line end
  end
  assert(#tokens > 0, "no tokens in " .. path)
  return tokens
end

-- Install the setup/response/done globals.  `make_request(i)` returns the
-- raw request for rotation index i (1-based, cycling through the tokens);
-- `count` is how many distinct indexes there are (#tokens, or 1).
local threads = {}

function M.install(build)
  function setup(thread)
    threads[#threads + 1] = thread
    thread:set("thread_no", #threads)
  end

  function init(args)
    good, bad, bad_body, non2xx = 0, 0, 0, 0
    bad_status = {}
    local make, count = build()
    -- Threads start at different users so that they do not move in step.
    local i = ((thread_no or 1) - 1) * 37 % count
    request = function()
      i = i % count + 1
      return make(i)
    end
  end

  local expect_status, expect_body = M.expect_status, M.expect_body
  local check_body = expect_body ~= ""
  function response(status, headers, body)
    if status < 200 or status > 299 then non2xx = non2xx + 1 end
    if status ~= expect_status then
      bad = bad + 1
      bad_status[status] = (bad_status[status] or 0) + 1
    elseif check_body and not (body and body:find(expect_body, 1, true)) then
      bad = bad + 1
      bad_body = bad_body + 1
    else
      good = good + 1
    end
  end

  function done(summary, latency, requests)
    local g, b, bb, n2, statuses = 0, 0, 0, 0, {}
    for _, t in ipairs(threads) do
      g = g + (t:get("good") or 0)
      b = b + (t:get("bad") or 0)
      bb = bb + (t:get("bad_body") or 0)
      n2 = n2 + (t:get("non2xx") or 0)
      local s = t:get("bad_status") or {}
      for k, v in pairs(s) do statuses[tostring(k)] = (statuses[tostring(k)] or 0) + v end
    end
    local parts = {}
    for k, v in pairs(statuses) do parts[#parts + 1] = string.format('"%s": %d', k, v) end
    local e = summary.errors
    local p = function(q) return latency:percentile(q) / 1000.0 end
    io.write(string.format(
      'BENCH_RESULT {"case": "%s", "duration_s": %.3f, "requests": %d, "good": %d, "bad": %d, ' ..
      '"bad_body": %d, "non2xx": %d, "bad_status": {%s}, "bytes": %d, ' ..
      '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
      '"latency_ms": {"p50": %.3f, "p90": %.3f, "p99": %.3f, "p999": %.3f, "max": %.3f, "mean": %.3f}, ' ..
      '"threads": %d}\n',
      M.case, summary.duration / 1e6, summary.requests, g, b, bb, n2, table.concat(parts, ", "), summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      p(50), p(90), p(99), p(99.9), latency.max / 1000.0, latency.mean / 1000.0, #threads))
  end
end

-- Headers every API request carries; the token is added per request.
function M.api_headers(token)
  return { ["Authorization"] = "Bearer " .. token, ["is-talent"] = "true" }
end

return M
