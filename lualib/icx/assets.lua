-- Asset scripts by name or by path. The shipped scripts (scripts/*.lua) are
-- compiled into the binary (icx.builtin), so `icx run contacts companies`
-- works wherever icx is installed; a path still runs that file. Both load
-- through the same sandbox (icx.sandbox).
--
-- An argument is a path when it has a "/", ends in ".lua", or names an
-- existing file; anything else is a built-in asset's name.
--
--   assets.is_path(arg) -> boolean
--   assets.load(arg) -> spec, shown        shown: the path, or "contacts (built in)"
--   assets.names() -> {name, ...}          the built-in assets, sorted
--   assets.describe(spec) -> {name=, tables=, mode=, endpoint=, cost=}   (icx list)
local builtin = require "icx.builtin"
local errors = require "icx.errors"
local sandbox = require "icx.sandbox"

local M = {}

function M.is_path(arg)
  if arg:find("/", 1, true) or arg:match("%.lua$") then return true end
  local f = io.open(arg, "rb")
  if f then f:close() end
  return f ~= nil
end

function M.names()
  local names = builtin.names()
  table.sort(names)
  return names
end

function M.load(arg)
  if M.is_path(arg) then return sandbox.run_file(arg), arg end
  local text = builtin.script(arg)
  if not text then
    errors.raise("script", ("no asset named '%s'%s; `icx list` shows the built-in assets, and a script"
      .. " file is given by its path (e.g. ./%s.lua)"):format(arg, errors.did_you_mean(arg, M.names()), arg))
  end
  local shown = arg .. " (built in)"
  return sandbox.run_text(text, shown), shown
end

-- The line `icx list` shows for one asset: tables, mode, endpoint and what
-- a run costs in requests, asked of the asset's source and of what it
-- expands into (not from a comment that could drift from them).
function M.describe(spec)
  local tables = { spec.table }
  for _, c in ipairs(spec.children or {}) do tables[#tables + 1] = c.table end
  local src = type(spec.pages) == "table" and spec.pages or nil
  local ep, cost = "(computed by the script)", "depends on the script"
  if src then
    local d = src:describe()
    ep, cost = d.endpoint, d.cost
  end
  if src and src.expansion then
    local d = src.expansion:describe()
    if d.endpoint then ep = ep .. " + " .. d.endpoint end
    cost = cost:gsub("records", d.records)
    if d.cost then cost = cost .. " + " .. d.cost end
    for _, t in ipairs(d.tables) do tables[#tables + 1] = t end
  end
  -- A child says what it costs ("": nothing, its list is embedded whole);
  -- a script's own child may send requests of its own.
  for _, c in ipairs(spec.children or {}) do
    local more = c.cost or ("what %s's rows fetch"):format(c.table)
    if more ~= "" and not cost:find(more, 1, true) then cost = cost .. " + " .. more end
  end
  local mode = spec.mode
  if spec.incremental then mode = mode .. ", incremental (" .. spec.incremental.key .. ")" end
  return { name = spec.name, tables = table.concat(tables, ", "), mode = mode, endpoint = ep, cost = cost }
end

return M
