-- The lualib require graph keeps docs/ARCHITECTURE.md's layers: each module
-- requires only modules below it, and so there is no circle (a circle hides
-- which module owns a policy and breaks as soon as one side requires the
-- other at load time). Every require, also a lazy one inside a function,
-- counts as an edge.
local t = dofile "tests/lib/tap.lua"

-- docs/ARCHITECTURE.md's table, top to bottom: one row per line of the
-- table (modules of a row are peers and may not require each other). A
-- module missing here fails the test: a new module takes its place in the
-- doc and here.
local LAYERS = {
  { layer = "commands", rows = { { "icx.cli" }, { "icx.display", "icx.init_cmd" }, { "icx.metrics" }, { "icx.status" } } },
  { layer = "run", rows = { { "icx.runner" }, { "icx.completeness" }, { "icx.partcheck" }, { "icx.reconcile" }, { "icx.walk" }, { "icx.shape" },
    { "icx.totals" }, { "icx.backfill" }, { "icx.cursor" } } },
  { layer = "scripts", rows = { { "icx.assets" }, { "icx" }, { "icx.sandbox" } } },
  { layer = "sources", rows = { { "icx.intercom" }, { "icx.associations" }, { "icx.tagwalk" },
    { "icx.expansion" }, { "icx.reflist" }, { "icx.paginate" }, { "icx.source" }, { "icx.slices" },
    { "icx.watermark" } } },
  { layer = "client", rows = { { "icx.client" } } },
  -- The drivers: every icx.dest.* not named on another row.
  { layer = "destinations", rows = { { "icx.dest" }, { "icx.dest.s3" }, { "icx.dest.*" },
    { "icx.dest.parquetstore", "icx.dest.bucketstate" },
    { "icx.dest.duckstore" }, { "icx.dest.filestore", "icx.dest.pgstore" }, { "icx.dest.base" }, { "icx.state" },
    { "icx.objstore" }, { "icx.objstore.local", "icx.objstore.s3" } } },
  { layer = "base", rows = { { "icx.sched", "icx.retry" }, { "icx.config" }, { "icx.tablespec" }, { "icx.keys" },
    { "icx.log" }, { "icx.url" }, { "icx.permissions" }, { "icx.errors", "icx.duration", "icx.tz", "icx.lineage", "icx.exitcodes" }, { "icx.text" } } },
}

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

-- Module name -> file, for the modules lualib ships.
local function file_of(name)
  local rel = name:gsub("%.", "/")
  for _, p in ipairs({ "lualib/" .. rel .. ".lua", "lualib/" .. rel .. "/init.lua" }) do
    local f = io.open(p, "rb")
    if f then
      f:close()
      return p
    end
  end
  return nil
end

-- The icx modules a file requires (string literal arguments only).
local function requires_of(text)
  local out, seen = {}, {}
  for q, name in text:gmatch("require%s*%(?%s*([\"'])([%w_.]+)%1") do
    local _ = q
    if (name == "icx" or name:match("^icx%.")) and file_of(name) and not seen[name] then
      seen[name] = true
      out[#out + 1] = name
    end
  end
  return out
end

local graph, names = {}, {}
local listing = io.popen("cd lualib && find icx -name '*.lua' | sort")
for p in listing:lines() do
  local name = p:gsub("%.lua$", ""):gsub("/init$", ""):gsub("/", ".")
  names[#names + 1] = name
  graph[name] = requires_of(read("lualib/" .. p))
end
listing:close()
t.ok(#names >= 20, ("the graph covers lualib (%d modules)"):format(#names))
t.ok(#graph["icx.runner"] >= 5, "requires are found (icx.runner requires " .. #graph["icx.runner"] .. ")")

-- Module -> {rank =, layer =}: a lower row has a higher rank.
local function ranks_of(layers)
  local out, rank = {}, 0
  for _, l in ipairs(layers) do
    for _, row in ipairs(l.rows) do
      rank = rank + 1
      for _, m in ipairs(row) do out[m] = { rank = rank, layer = l.layer } end
    end
  end
  return out
end

-- The edges that do not go down: "a (run) -> b (commands)", sorted.
local function upward(g, ranks)
  local out = {}
  for a, targets in pairs(g) do
    for _, b in ipairs(targets) do
      local ra, rb = ranks[a], ranks[b]
      if ra and rb and rb.rank <= ra.rank then
        out[#out + 1] = ("%s (%s) -> %s (%s)"):format(a, ra.layer, b, rb.layer)
      end
    end
  end
  table.sort(out)
  return out
end

local ranks = ranks_of(LAYERS)
local unplaced = {}
for _, n in ipairs(names) do
  local parent = n:match("^(.*)%.[%w_]+$")
  ranks[n] = ranks[n] or (parent and ranks[parent .. ".*"])
  if not ranks[n] then unplaced[#unplaced + 1] = n end
end
t.is(table.concat(unplaced, ", "), "", "every lualib module has its place in the layer table")
t.is(table.concat(upward(graph, ranks), "; "), "", "no require goes up a layer or across a row")

-- The check itself finds an upward edge when there is one.
local planted = { ["icx.source"] = { "icx.errors", "icx.runner" }, ["icx.runner"] = { "icx.source" },
  ["icx.dest.sqlite"] = { "icx.dest.postgres" } }
ranks["icx.dest.sqlite"] = ranks["icx.dest.*"]
ranks["icx.dest.postgres"] = ranks["icx.dest.*"]
t.is(table.concat(upward(planted, ranks), "; "), "icx.dest.sqlite (destinations) -> icx.dest.postgres "
  .. "(destinations); icx.source (sources) -> icx.runner (run)", "a planted upward edge (and one across a row) is found")

-- Depth-first search; a grey node reached again closes a circle.
local state, circle = {}, nil
local function visit(n, path)
  if circle then return end
  if state[n] == "grey" then
    local from
    for i, p in ipairs(path) do if p == n then from = i end end
    circle = table.concat(path, " -> ", from) .. " -> " .. n
    return
  end
  if state[n] == "black" then return end
  state[n] = "grey"
  path[#path + 1] = n
  for _, m in ipairs(graph[n] or {}) do visit(m, path) end
  path[#path] = nil
  state[n] = "black"
end
for _, n in ipairs(names) do visit(n, {}) end
t.is(circle, nil, "no require circle in lualib")

-- The check itself finds a circle when there is one.
graph, state, circle = { a = { "b" }, b = { "c" }, c = { "a" } }, {}, nil
visit("a", {})
t.is(circle, "a -> b -> c -> a", "a planted circle is found")

os.exit(t.done())
