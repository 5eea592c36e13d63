-- The record path into PostgreSQL next to SQLite: the same contacts-like
-- pages (150 records, ~2.3 KB each, as bench/record_path.lua) written
-- through icx.dest, one transaction per page holding the page and its
-- cursor, as icx run does: SQLite's bound upserts, PostgreSQL's COPY into
-- a staging table + INSERT ... ON CONFLICT. Wall-clock records/s (the
-- PostgreSQL server works in its own process), first as inserts, then the
-- same pages again as updates (merge).
--
--   icx lua bench/pg_record_path.lua --uri postgresql://... [--records N] [--db FILE]
--                                    [--dest both|postgresql|sqlite|none]
-- --dest none builds the pages and writes nothing: bench/pg_record_path.sh
-- counts the instructions of a --dest postgresql run and of that one, and
-- subtracts the setup.
local json = require "icx.json"
local dest = require "icx.dest"
local sys = require "icx.sys"

local opts = { records = 30000, db = os.tmpname(), uri = nil, dest = "both" }
local args = { ... }
for i = 1, #args, 2 do
  local k = args[i]:match("^%-%-(%w+)$")
  if not k or args[i + 1] == nil then error("usage: see the header of bench/pg_record_path.lua") end
  opts[k] = k == "records" and math.tointeger(tonumber(args[i + 1])) or args[i + 1]
end
assert(opts.uri, "--uri postgresql://... is required")

local PER_PAGE = 150
local empty = function() return setmetatable({}, json.array_mt) end

local function record(i)
  return {
    type = "contact", id = ("6%023x"):format(i), workspace_id = "ecahpwf5",
    external_id = tostring(5000 + i), role = "user", email = ("user%d@example.com"):format(i),
    phone = json.null, name = "Zoë 😀 " .. i, avatar = json.null, owner_id = 7000000 + i,
    social_profiles = { type = "list", data = empty() },
    has_hard_bounced = false, marked_email_as_spam = false, unsubscribed_from_emails = false,
    created_at = 1690000000 + i, updated_at = 1700000000 + i, signed_up_at = 1690000000 + i,
    last_seen_at = 1700000000 + i, last_replied_at = json.null, last_contacted_at = json.null,
    last_email_opened_at = json.null, last_email_clicked_at = json.null,
    language_override = json.null, browser = "chrome", browser_version = "120.0.1",
    browser_language = "en", os = "macOS", android_app_name = json.null,
    ios_app_name = json.null, ios_sdk_version = json.null,
    location = { type = "location", country = "Japan", region = "Tokyo", city = "東京",
                 country_code = "JPN", continent_code = "AS" },
    custom_attributes = {
      plan = "pro", seats = i % 500, big_number = 9007199254740993, ratio = 1e-07,
      labels = empty(), meta = setmetatable({}, json.object_mt),
      nickname = 'say "hi" back\\slash\nline2', anything = { nested = { deep = { 1, 2.5, "三" } } },
    },
    tags = { type = "list", data = { { type = "tag", id = tostring(i % 15), url = "/tags/" .. i % 15 } },
             url = "/contacts/" .. i .. "/tags", total_count = 1, has_more = false },
    notes = { type = "list", data = empty(), url = "/contacts/" .. i .. "/notes", total_count = 0, has_more = false },
    companies = { type = "list", data = empty(), url = "/contacts/" .. i .. "/companies", total_count = 0,
                  has_more = false },
    utm_campaign = json.null, utm_content = json.null, utm_medium = json.null, utm_source = "bench",
    utm_term = json.null, referrer = "https://example.com/pricing?ref=bench&x=" .. ("y"):rep(900),
    sms_consent = false, email_domain = "example.com",
  }
end

local bodies, nrec = {}, 0
while nrec < opts.records do
  local recs = setmetatable({}, json.array_mt)
  for j = 1, math.min(PER_PAGE, opts.records - nrec) do recs[j] = record(nrec + j) end
  nrec = nrec + #recs
  bodies[#bodies + 1] = json.encode { type = "list", data = recs, total_count = opts.records }
end
local bytes = 0
for _, b in ipairs(bodies) do bytes = bytes + #b end

-- CPU seconds used so far by process pid (user + system), from /proc; nil
-- without /proc. The server works in its own process (the backend): CPU
-- time of both is a figure the other jobs on a shared machine disturb less
-- than wall time.
local TICK = 100
local function cpu_of(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  local fields = {}
  for x in s:match("%) (.*)$"):gmatch("%S+") do fields[#fields + 1] = x end
  return (tonumber(fields[12]) + tonumber(fields[13])) / TICK
end

-- One pass over every page into table tbl of d; returns wall seconds and
-- CPU seconds (icx + the PostgreSQL backend).
local function pass(d, tbl)
  local t = d:table { name = tbl, primary_key = "id" }
  local backend = d.kind == "postgresql" and d.conn:pid()
  local c0, b0, t0 = os.clock(), backend and cpu_of(backend) or 0, sys.now()
  for i, body in ipairs(bodies) do
    local page = assert(json.page(body, "data"))
    d:begin()
    t:write(page)
    d:cursor_set("bench", tbl, "page", i)
    d:commit()
  end
  local wall = sys.now() - t0
  return wall, os.clock() - c0 + ((backend and cpu_of(backend) or 0) - b0)
end

os.remove(opts.db)
local results = {}
for _, target in ipairs { { "sqlite", opts.db }, { "postgresql", opts.uri } } do
  if opts.dest ~= "both" and opts.dest ~= target[1] then goto next end
  local d = dest.open(target[2])
  if target[1] == "postgresql" then
    assert(d.conn:exec("DROP TABLE IF EXISTS bench_contacts; DELETE FROM _icx_columns WHERE tbl = 'bench_contacts'"))
  end
  local ins, ins_cpu = pass(d, "bench_contacts")
  local upd, upd_cpu = pass(d, "bench_contacts")
  results[#results + 1] = { target[1], nrec / ins, nrec / upd, nrec / ins_cpu, nrec / upd_cpu }
  d:close()
  ::next::
end
os.remove(opts.db)
os.remove(opts.db .. "-wal")
os.remove(opts.db .. "-shm")

print(("pages: %d x %d records, %.0f bytes/record; one transaction per page with its cursor")
  :format(#bodies, PER_PAGE, bytes / nrec))
print("records/s by wall clock, and per CPU second (icx + the PostgreSQL backend):")
print(("%-12s %14s %14s %14s %14s"):format("destination", "insert wall", "merge wall", "insert CPU", "merge CPU"))
for _, r in ipairs(results) do
  print(("%-12s %14.0f %14.0f %14.0f %14.0f"):format(r[1], r[2], r[3], r[4], r[5]))
end
if #results == 2 then
  print(("postgresql/sqlite (wall): %.2fx (insert), %.2fx (merge)"):format(results[2][2] / results[1][2],
    results[2][3] / results[1][3]))
end
