-- The record path, response body -> SQLite rows, two ways:
--   icx    icx.json.page(body, "data") + the C writer (w:write(page)): values
--          bound straight from the body's bytes, losslessly
--   naive  cjson.decode(body) + one st:bind(i, v) per field from Lua (nested
--          values re-encoded with cjson): what a Lua extractor would write,
--          and lossy (2^53+1 rounds, [] becomes {})
-- Each writes the same contacts-like pages (150 records, ~2.3 KB each) into
-- a fresh table of a WAL database, one transaction per page.
--
--   icx lua bench/record_path.lua [--records N] [--db FILE]
--                                 [--path icx|naive|both|page|none]
-- Prints records/s per path. --path none does all the setup and no writing,
-- --path page only icx.json.page: bench/record_path.sh counts instructions
-- of each and subtracts the setup.
local json = require "icx.json"
local sqlite = require "icx.sqlite"
local cjson = require "cjson"

local opts = { records = 15000, path = "both", db = os.tmpname() }
local args = { ... }
for i = 1, #args, 2 do
  local k = args[i]:match("^%-%-(%w+)$")
  if not k or opts[k] == nil or args[i + 1] == nil then error("usage: see the header of bench/record_path.lua") end
  opts[k] = k == "records" and math.tointeger(tonumber(args[i + 1])) or args[i + 1]
end

local PER_PAGE = 150

local function record(i)
  return {
    type = "contact", id = ("6%023x"):format(i), workspace_id = "ecahpwf5",
    external_id = tostring(5000 + i), role = "user", email = ("user%d@example.com"):format(i),
    phone = json.null, name = "Zoë 😀 " .. i, avatar = json.null, owner_id = 7000000 + i,
    social_profiles = { type = "list", data = setmetatable({}, json.array_mt) },
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
      labels = setmetatable({}, json.array_mt), meta = setmetatable({}, json.object_mt),
      nickname = 'say "hi" back\\slash\nline2', anything = { nested = { deep = { 1, 2.5, "三" } } },
    },
    tags = { type = "list", data = { { type = "tag", id = tostring(i % 15), url = "/tags/" .. i % 15 } },
             url = "/contacts/" .. i .. "/tags", total_count = 1, has_more = false },
    notes = { type = "list", data = setmetatable({}, json.array_mt), url = "/contacts/" .. i .. "/notes",
              total_count = 0, has_more = false },
    companies = { type = "list", data = setmetatable({}, json.array_mt), url = "/contacts/" .. i .. "/companies",
                  total_count = 0, has_more = false },
    opted_out_subscription_types = { type = "list", data = setmetatable({}, json.array_mt),
                                     url = "/contacts/" .. i .. "/subscriptions", total_count = 0, has_more = false },
    opted_in_subscription_types = { type = "list", data = setmetatable({}, json.array_mt),
                                    url = "/contacts/" .. i .. "/subscriptions", total_count = 0, has_more = false },
    utm_campaign = json.null, utm_content = json.null, utm_medium = json.null, utm_source = "bench",
    utm_term = json.null, referrer = "https://example.com/pricing?ref=bench&x=" .. ("y"):rep(900),
    sms_consent = false, email_domain = "example.com",
  }
end

-- Pages with distinct ids, so every write is an INSERT in both paths.
local bodies, nrec = {}, 0
while nrec < opts.records do
  local recs = setmetatable({}, json.array_mt)
  for j = 1, math.min(PER_PAGE, opts.records - nrec) do recs[j] = record(nrec + j) end
  nrec = nrec + #recs
  bodies[#bodies + 1] = json.encode { type = "list", data = recs, total_count = opts.records,
    pages = { type = "pages", page = #bodies + 1, per_page = PER_PAGE } }
end
local bytes = 0
for _, b in ipairs(bodies) do bytes = bytes + #b end

os.remove(opts.db)
local db = assert(sqlite.open(opts.db))

-- icx: validate + index the body once, bind from the slices in C.
local function run_icx(tbl)
  local w = db:writer(tbl, { primary_key = "id" })
  for _, body in ipairs(bodies) do
    local page = assert(json.page(body, "data"))
    assert(db:begin())
    assert(w:write(page))
    assert(db:commit())
  end
  w:close()
end

-- naive: cjson.decode, then one bind per field from Lua.
local function is_id(k) return k == "id" or k:sub(-3) == "_id" end
local function run_naive(tbl)
  local cols = {}
  for k in pairs(cjson.decode(bodies[1]).data[1]) do cols[#cols + 1] = k end
  table.sort(cols)
  local q, defs, params, sets = sqlite.quote, {}, {}, {}
  for i, c in ipairs(cols) do
    defs[i] = q(c) .. (is_id(c) and " TEXT" or "")
    params[i] = "?"
    if c ~= "id" then sets[#sets + 1] = q(c) .. "=excluded." .. q(c) end
  end
  assert(db:exec(("CREATE TABLE %s (%s, PRIMARY KEY (id))"):format(q(tbl), table.concat(defs, ","))))
  local st = assert(db:prepare(("INSERT INTO %s VALUES (%s) ON CONFLICT (id) DO UPDATE SET %s")
    :format(q(tbl), table.concat(params, ","), table.concat(sets, ","))))
  local null = cjson.null
  for _, body in ipairs(bodies) do
    local data = cjson.decode(body).data
    assert(db:begin())
    for _, rec in ipairs(data) do
      for i, c in ipairs(cols) do
        local v = rec[c]
        local tv = type(v)
        if v == null then v = nil
        elseif tv == "table" then v = cjson.encode(v)
        elseif tv == "boolean" then v = v and 1 or 0
        elseif tv == "number" and is_id(c) then v = ("%.17g"):format(v)
        end
        st:bind(i, v)
      end
      assert(st:step() == false)
      st:reset()
    end
    assert(db:commit())
  end
  st:close()
end

local function timed(name, f, tbl)
  local t0 = os.clock()
  f(tbl)
  local dt = os.clock() - t0
  print(("%-6s %9.0f records/s  %7.1f MB/s  (%d records in %.3f s CPU)"):format(name, nrec / dt,
    bytes / dt / 1e6, nrec, dt))
  return dt
end

print(("pages: %d x %d records, %.0f bytes/record"):format(#bodies, PER_PAGE, bytes / nrec))
local ti, tn
if opts.path == "page" then
  timed("page", function() for _, body in ipairs(bodies) do assert(json.page(body, "data")) end end)
end
if opts.path == "icx" or opts.path == "both" then ti = timed("icx", run_icx, "icx_contacts") end
if opts.path == "naive" or opts.path == "both" then tn = timed("naive", run_naive, "naive_contacts") end
if ti and tn then print(("icx is %.1fx the naive path's throughput"):format(tn / ti)) end
if opts.path == "both" then
  local r = assert(db:query("SELECT i.custom_attributes AS a, n.custom_attributes AS b FROM icx_contacts i "
    .. "JOIN naive_contacts n USING (id) LIMIT 1"))[1]
  print("lossless check, one custom_attributes cell:")
  print("  icx:   " .. r.a:sub(1, 120))
  print("  naive: " .. r.b:sub(1, 120))
end
db:close()
os.remove(opts.db)
os.remove(opts.db .. "-wal")
os.remove(opts.db .. "-shm")
