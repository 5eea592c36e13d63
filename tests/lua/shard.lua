-- Several workspaces: --shard I/N parsing, the shards' split of the
-- connections (every connection in exactly one shard, sizes within one,
-- the same split whatever order the file lists them in) and {connection}
-- in a destination.
local t = dofile "tests/lib/tap.lua"
local config = require "icx.config"

local i, n = config.parse_shard("2/5")
t.is(i, 2, "2/5: index 2")
t.is(n, 5, "2/5: count 5")
for _, bad in ipairs({ "5/5", "1/0", "-1/3", "a/b", "1", "1/2/3", "" }) do
  local bi, msg = config.parse_shard(bad)
  t.ok(bi == nil and msg:find("INDEX/COUNT", 1, true) ~= nil, ("'%s' is refused"):format(bad))
end

local function conns(names)
  local out = {}
  for k, name in ipairs(names) do out[k] = { name = name } end
  return out
end
local names = {}
for k = 1, 23 do names[k] = ("ws%02d"):format((k * 7) % 23) end
local reversed = {}
for k = #names, 1, -1 do reversed[#reversed + 1] = names[k] end

for _, count in ipairs({ 1, 2, 3, 4, 23, 30 }) do
  local seen, sizes, same = {}, {}, true
  for index = 0, count - 1 do
    local share = config.shard(conns(names), index, count)
    local other = config.shard(conns(reversed), index, count)
    sizes[#sizes + 1] = #share
    for k, c in ipairs(share) do
      seen[c.name] = (seen[c.name] or 0) + 1
      if not other[k] or other[k].name ~= c.name then same = false end
    end
    if #other ~= #share then same = false end
  end
  local once = true
  for _, name in ipairs(names) do if seen[name] ~= 1 then once = false end end
  t.ok(once, ("%d shards take each of %d connections exactly once"):format(count, #names))
  t.ok(math.max(table.unpack(sizes)) - math.min(table.unpack(sizes)) <= 1,
    ("%d shards: sizes differ by at most one"):format(count))
  t.ok(same, ("%d shards: the same split whatever the file's order"):format(count))
end

t.is(config.dest_for("/srv/{connection}.db", { name = "acme" }), "/srv/acme.db", "{connection} is the name")
t.is(config.dest_for("postgresql://h/db?schema=i_{connection}", { name = "a.b-c_d" }),
  "postgresql://h/db?schema=i_a.b-c_d", "in a PostgreSQL URI")
t.is(config.dest_for("icx.db", { name = "a/b" }), "icx.db", "no placeholder: unchanged")
for _, bad in ipairs({ "a/b", "../x", "a b", ".hidden", "x%y", "" }) do
  local ok, e = pcall(config.dest_for, "{connection}.db", { name = bad })
  t.ok(not ok and tostring(e):find("cannot fill {connection}", 1, true) ~= nil,
    ("name '%s' cannot fill {connection}"):format(bad))
end

local all = conns({ "a", "b", "c" })
t.is(#config.select_many(all, {}, true, "f"), 3, "select_many: all")
t.is(config.select_many(all, { "c", "a" }, false, "f")[1].name, "c", "select_many: named, in the order given")
t.ok(not pcall(config.select_many, all, {}, false, "f"), "select_many: none named of several is refused")
t.ok(not pcall(config.select_many, all, { "z" }, false, "f"), "select_many: an unknown name is refused")

os.exit(t.done())
