-- get.lua — GET the caller's profile, one user per request in turn.
-- Without BENCH_TOKENS (or with BENCH_NOAUTH=1) the requests carry no
-- credentials at all (the ceiling, /healthz and the 401 case).
package.path = os.getenv("BENCH_LIB") .. "/?.lua;" .. package.path
local common = require("common")

common.install(function()
  local tokens = common.read_tokens()
  local noauth = os.getenv("BENCH_NOAUTH") == "1" or #tokens == 0
  local reqs = {}
  if noauth then
    reqs[1] = wrk.format("GET", common.path, {})
  else
    -- Small requests: build them all once, look them up per request.
    for i, t in ipairs(tokens) do reqs[i] = wrk.format("GET", common.path, common.api_headers(t)) end
  end
  return function(i) return reqs[i] end, #reqs
end)
