-- The environment asset scripts run in: a subset of the standard library,
-- `require` limited to the modules a script needs (sandbox by subtraction:
-- icx.sys could touch files, icx.budget lift the script's own instruction
-- budget, icx.client hand out the token), text-only loading, and strict
-- globals, so a typo like `primary_kye = ...` at top level or a read of an
-- undefined name fails loudly at its line instead of silently being nil.
local errors = require "icx.errors"

local M = {}

local SAFE_BASE = {
  "assert", "error", "ipairs", "next", "pairs", "pcall", "select", "tonumber",
  "tostring", "type", "xpcall", "setmetatable", "getmetatable", "rawequal",
  "rawget", "rawset", "rawlen",
}
local SAFE_LIBS = { "string", "table", "math", "utf8", "coroutine" }

-- Everything an asset script may require; anything else is refused when
-- the script is loaded.
M.MODULES = { "icx", "icx.intercom", "icx.json", "cjson", "cjson.safe" }
local ALLOWED = {}
for _, m in ipairs(M.MODULES) do ALLOWED[m] = true end

-- A fresh environment per script, so scripts cannot leak state to each other.
function M.env()
  local env = {}
  for _, k in ipairs(SAFE_BASE) do env[k] = _G[k] end
  for _, k in ipairs(SAFE_LIBS) do
    local copy = {}
    for fk, fv in pairs(_G[k]) do copy[fk] = fv end
    env[k] = copy
  end
  env.os = { time = os.time, date = os.date, clock = os.clock, getenv = os.getenv }
  env.print = function(...)
    local parts = {}
    for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
    require("icx.log").info("%s", table.concat(parts, "\t"))
  end
  env.require = function(name)
    if type(name) ~= "string" or not ALLOWED[name] then
      error(("module '%s' is not available to asset scripts (they may require %s)")
        :format(tostring(name), table.concat(M.MODULES, ", ")), 2)
    end
    return require(name)
  end
  env._G = env
  return setmetatable(env, {
    __index = function(_, k)
      error(("undeclared global '%s' (declare it with local)"):format(tostring(k)), 2)
    end,
    __newindex = function(_, k)
      error(("assignment to undeclared global '%s' (declare it with local)"):format(tostring(k)), 2)
    end,
  })
end

-- The line of `field = ` in a script's text (the first, outside of nothing
-- cleverer than a pattern), else the line of `icx.asset`, else 1.
function M.line_of(text, field)
  local function line_at(pos) return select(2, text:sub(1, pos):gsub("\n", "")) + 1 end
  if type(field) == "string" then
    local pos = text:find("[^%w_]" .. field:gsub("%p", "%%%0") .. "%s*=[^=]")
    if pos then return line_at(pos + 1) end
  end
  local pos = text:find("icx%.asset")
  return pos and line_at(pos) or 1
end

-- Lua instructions one script callback (a transform for one record, a
-- script's top level) may run before it is taken for an endless loop: about
-- a second of pure Lua, a thousand times what a heavy transform needs.
M.BUDGET = 200000000

-- Calls a script function under the instruction budget; it may still wait
-- on requests (ctx.client), which cost nothing while they wait.
local budget = require "icx.budget"
local function finish(ok, ...)
  budget.disarm()
  if not ok then error((...), 0) end
  return ...
end
function M.call(f, ...)
  budget.arm(M.BUDGET)
  return finish(pcall(f, ...))
end

-- Loads a script as text and runs it in a fresh sandbox; returns what it
-- returned. Errors are raised as script errors naming path:line.
function M.run_file(path)
  local f, err = io.open(path, "rb")
  if not f then errors.raise("script", ("%s: cannot read the script (%s)"):format(path, err:gsub("^[^:]*: ", ""))) end
  local text, rerr = f:read("a")
  f:close()
  if not text then
    -- Linux opens a directory for reading; only the read fails.
    local dir = tostring(rerr):find("directory", 1, true)
    errors.raise("script", ("%s: %s"):format(path, dir
      and ("is a directory, not a script; give its scripts (e.g. %s/*.lua) or an asset name (icx list)")
        :format((path:gsub("/+$", "")))
      or ("cannot read the script (%s)"):format(tostring(rerr):gsub("^[^:]*: ", ""))))
  end
  return M.run_text(text, path)
end

-- Runs a script's text in a fresh sandbox; `path` names it in messages
-- (a file's path, or "contacts (built in)").
function M.run_text(text, path)
  if text:sub(1, 4) == "\27Lua" then
    errors.raise("script", path .. ": precompiled bytecode is not accepted; give the .lua source")
  end
  local chunk, lerr = load(text, "@" .. path, "t", M.env())
  if not chunk then errors.raise("script", lerr) end
  local ok, res = xpcall(M.call, function(e)
    if errors.is(e) and e.kind == "script" and not e.located then
      e.message = ("%s:%d: %s"):format(path, M.line_of(text, e.field), e.message)
      e.located = true
    end
    if errors.is(e) then return e end
    return errors.new("script", tostring(e), { traceback = require("icx.sys").traceback(nil, 2) })
  end, chunk)
  if not ok then error(res, 0) end
  return res
end

return M
