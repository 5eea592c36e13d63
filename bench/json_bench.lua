-- icx.json from Lua on a 150-record contacts-like page, next to lua-cjson.
-- Run by bench/json_bench.sh as `./icx lua bench/json_bench.lua`.
local json = require "icx.json"
local ok, cjson = pcall(require, "cjson")

local function record(i)
  return {
    type = "contact", id = ("6%023x"):format(i), external_id = tostring(5000 + i),
    email = ("user%d@example.com"):format(i), name = "Zoë 😀 " .. i,
    owner_id = 7000000 + i, created_at = 1690000000 + i,
    updated_at = 1700000000 + i, phone = json.null, unsubscribed = false,
    location = { type = "location", country = "Japan", city = "東京" },
    custom_attributes = {
      plan = "pro", seats = i % 500, big_number = 9007199254740993,
      ratio = 1e-07, labels = setmetatable({}, json.array_mt),
      meta = setmetatable({}, json.object_mt),
      nickname = 'say "hi" back\\slash\nline2',
      anything = { nested = { deep = { 1, 2.5, "三" } } },
    },
    tags = { type = "list", data = { { type = "tag", id = tostring(i % 15) } },
             total_count = 1, has_more = false },
    referrer = "https://example.com/pricing?ref=bench&x=" .. ("y"):rep(900),
  }
end

local recs = setmetatable({}, json.array_mt)
for i = 1, 150 do recs[i] = record(i) end
local body = json.encode { type = "list", data = recs, total_count = 90000,
  pages = { type = "pages", page = 1, per_page = 150, total_pages = 600 } }

local function bench(name, n, f)
  f()
  local t0 = os.clock()
  for _ = 1, n do f() end
  local dt = (os.clock() - t0) / n
  print(("%-34s %8.1f us/page %8.1f MB/s"):format(name, dt * 1e6, #body / dt / 1e6))
end

print(("page: 150 records, %d bytes"):format(#body))
local N = 200
bench("icx.json.page (validate+index)", N, function() json.page(body, "data") end)
local p = json.page(body, "data")
bench("page:get(i, field) x 150 x 5", N, function()
  for i = 1, 150 do
    p:get(i, "id"); p:get(i, "updated_at"); p:get(i, "name")
    p:get(i, "custom_attributes"); p:get(i, "unsubscribed")
  end
end)
bench("page:raw(i) x 150", N, function() for i = 1, 150 do p:raw(i) end end)
bench("page:record(i) x 150", N, function() for i = 1, 150 do p:record(i) end end)
bench("icx.json.decode (whole body)", N, function() json.decode(body) end)
local v = json.decode(body)
bench("icx.json.encode (whole body)", N, function() json.encode(v) end)
if ok then
  bench("cjson.decode (lossy, for scale)", N, function() cjson.decode(body) end)
  local cv = cjson.decode(body)
  bench("cjson.encode (lossy, for scale)", N, function() cjson.encode(cv) end)
end
