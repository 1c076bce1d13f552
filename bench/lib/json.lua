-- json.lua — POST application/json with seven writable fields, one user per
-- request in turn.  Field values vary with the request so that every update
-- really changes the row.
package.path = os.getenv("BENCH_LIB") .. "/?.lua;" .. package.path
local common = require("common")

local genders = { "Male", "Female", "Other", "Prefer not to say" }

common.install(function()
  local tokens = common.read_tokens()
  local reqs = {}
  -- Two variants per user (alternating values): the body differs from what
  -- is stored on every other visit, so updates are never no-ops.
  for v = 0, 1 do
    for i, t in ipairs(tokens) do
      local body = string.format(
        '{"first_name": "Bench%d", "last_name": "User%d", ' ..
        '"aboutyou": "Load test profile %d, variant %d: actor, dancer and singer based in the city.", ' ..
        '"city": "%s", "country": "%s", "gender": "%s", "phone": "+1 555 01%02d %03d"}',
        i, v, i, v, v == 0 and "New York" or "Berlin", v == 0 and "USA" or "Germany",
        genders[(i + v) % 4 + 1], i % 100, 100 + v)
      local h = common.api_headers(t)
      h["Content-Type"] = "application/json"
      reqs[v * #tokens + i] = wrk.format("POST", common.path, h, body)
    end
  end
  return function(i) return reqs[i] end, #reqs
end)
