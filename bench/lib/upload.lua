-- upload.lua — POST a multipart/form-data body with the picture in
-- `profile_picture` (BENCH_PHOTO, a JPEG), one user per request in turn.
-- The body is built once per thread; only the headers change per request.
package.path = os.getenv("BENCH_LIB") .. "/?.lua;" .. package.path
local common = require("common")

common.install(function()
  local tokens = common.read_tokens()
  local photo = common.read_file(os.getenv("BENCH_PHOTO"))
  local boundary = "----talentdbench7MA4YWxkTrZu0gW"
  local body = table.concat({
    "--", boundary, "\r\n",
    'Content-Disposition: form-data; name="profile_picture"; filename="photo.jpg"\r\n',
    "Content-Type: image/jpeg\r\n\r\n",
    photo, "\r\n",
    "--", boundary, "--\r\n",
  })
  local ctype = "multipart/form-data; boundary=" .. boundary
  -- A request is head .. body; the heads are small and made once.
  local heads = {}
  for i, t in ipairs(tokens) do
    local h = common.api_headers(t)
    h["Content-Type"] = ctype
    -- wrk.format sets Content-Length from its body argument only: format
    -- the head alone and add the length by hand.
    local head = wrk.format("POST", common.path, h)
    heads[i] = head:sub(1, -3) .. "Content-Length: " .. #body .. "\r\n\r\n"
  end
  return function(i) return heads[i] .. body end, #heads
end)
