-- The lualib require graph has no circle: each module requires only
-- modules below it (a circle hides which module owns a policy and breaks
-- as soon as one side requires the other at load time). Every require,
-- also a lazy one inside a function, counts as an edge.
local t = dofile "tests/lib/tap.lua"

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
