-- The destination seam (icx.dest.base): every registered driver declares
-- what the registry needs and fills every Store and Writer entry point; a
-- driver that leaves one out is refused when a destination opens, with an
-- internal error naming the driver and the entry point; nothing outside
-- the drivers asks which driver it holds.
local t = dofile "tests/lib/tap.lua"
local base = require "icx.dest.base"
local dest = require "icx.dest"
local errors = require "icx.errors"

local function err_of(f, ...)
  local ok, e = pcall(f, ...)
  if ok then return nil end
  return e
end

t.ok(#base.STORE >= 20 and #base.WRITER >= 7, ("the lists: %d Store and %d Writer entry points")
  :format(#base.STORE, #base.WRITER))
for _, want in ipairs({ "cursor_get", "run_start", "lock", "holder", "close_stale", "seen_get", "deleted_add",
    "meta_get", "status", "reset", "completeness_add", "completeness_last" }) do
  local found = false
  for _, n in ipairs(base.STORE) do found = found or n == want end
  t.ok(found, "Store lists " .. want)
end
for _, want in ipairs({ "open", "write", "delete_where", "keys", "changes", "finish", "abandon" }) do
  local found = false
  for _, n in ipairs(base.WRITER) do found = found or n == want end
  t.ok(found, "Writer lists " .. want)
end

-- Every driver of the registry, by its declared classes.
local drivers = dest.drivers()
t.ok(#drivers >= 3, ("the registry lists %d drivers"):format(#drivers))
local names, schemes, paths = {}, {}, 0
for _, drv in ipairs(drivers) do
  t.ok(pcall(base.check_driver, drv), drv.name .. ": declares " .. #drv.schemes .. " scheme(s), form " .. drv.form)
  t.ok(not names[drv.name], drv.name .. ": one driver of that name")
  names[drv.name] = true
  for _, s in ipairs(drv.schemes) do
    t.ok(not schemes[s], ("%s: scheme '%s' taken by no other driver"):format(drv.name, s))
    schemes[s] = drv.name
  end
  if drv.paths then paths = paths + 1 end
  for what, list in pairs({ Store = base.STORE, Writer = base.WRITER }) do
    local class = drv[what]
    local gone = {}
    for _, ep in ipairs(list) do
      if type(class) ~= "table" or type(class[ep]) ~= "function" then gone[#gone + 1] = ep end
    end
    t.is(table.concat(gone, ", "), "", ("%s: its %s fills every entry point"):format(drv.name, what))
  end
end
t.is(paths, 1, "exactly one driver takes plain paths")

-- A driver missing an entry point is refused at open.
local function stub_of(list, leave_out)
  local o = {}
  for _, ep in ipairs(list) do
    if ep ~= leave_out then o[ep] = function() end end
  end
  return o
end
local fake = { name = "fake" }
local e = err_of(base.new, fake, stub_of(base.STORE, "seen_set"), stub_of(base.WRITER))
t.ok(errors.is(e) and e.kind == "internal", "a Store missing seen_set: an internal error")
t.like(tostring(e), "driver 'fake' leaves Store entry point 'seen_set' empty", "naming the driver and the entry point")
e = err_of(base.new, fake, stub_of(base.STORE), stub_of(base.WRITER, "abandon"))
t.like(tostring(e), "driver 'fake' leaves Writer entry point 'abandon' empty", "a Writer missing abandon")
e = err_of(base.new, fake, stub_of(base.STORE), nil)
t.like(tostring(e), "driver 'fake' gives no Writer", "no Writer at all")
t.ok(base.new(fake, stub_of(base.STORE), stub_of(base.WRITER)) ~= nil, "a driver filling both lists opens")

-- Through a real driver's open: its Writer class with one entry point
-- taken away is refused before anything is written.
local sqlite_driver = require "icx.dest.sqlite"
local dir = t.tmpdir()
local saved = sqlite_driver.Writer.keys
sqlite_driver.Writer.keys = nil
e = err_of(dest.open, dir .. "/x.db")
sqlite_driver.Writer.keys = saved
t.ok(errors.is(e) and e.kind == "internal", "dest.open of a driver missing an entry point: internal error")
t.like(tostring(e), "driver 'sqlite' leaves Writer entry point 'keys' empty", "naming it: " .. tostring(e))
local d = dest.open(dir .. "/x.db")
t.is(d.kind, "sqlite", "with the entry point back, it opens")
d:close()

-- A driver module missing a declaration is refused by the registry check.
for _, field in ipairs({ "target", "schemes", "state", "form" }) do
  local drv = {}
  for k, v in pairs(sqlite_driver) do drv[k] = v end
  drv[field] = nil
  e = err_of(base.check_driver, drv)
  t.like(tostring(e), "driver 'sqlite' declares no '" .. field .. "'", "a driver without '" .. field .. "' refused")
end

-- No kind branch outside the drivers: lualib asks a destination what it
-- does, never which driver it is.
local p = io.popen("grep -rnE \"kind ?[=~]= ?['\\\"](sqlite|jsonl|postgresql)|dest/(sqlite|jsonl|postgres)\" "
  .. "lualib/icx --include=*.lua")
local hits = p:read("a")
p:close()
t.is(hits, "", "no `kind ==` branch on a destination in lualib")

os.execute("rm -rf '" .. dir .. "'")
os.exit(t.done())
