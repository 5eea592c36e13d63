-- The environment asset scripts run in. A script is untrusted code run
-- next to the token, so what it can reach is chosen, not subtracted:
--
--   * `require` serves icx, icx.intercom, icx.json, cjson and cjson.safe,
--     and every table the engine hands a script (those modules, the
--     `string` library, sources, ctx's fields) is a read-only view: a script
--     cannot replace icx.json.encode, a source's parts() or a class method
--     for the engine or for the scripts after it. Values the script hands
--     back are unwrapped again, and its functions are wrapped so that the
--     engine always calls them under a budget (below).
--   * each call gets the asset's own ctx: what a script stores in it stays
--     there, and the engine's ctx is never changed.
--   * no os.getenv of a variable that may hold a secret (see env_allowed),
--     no string metatable (getmetatable("") is nil, so string.sub cannot be
--     replaced under the log redaction), no __gc finalizers (they run with
--     hooks off), no rawset on a view, no yield out of icx's own tasks.
--   * text-only loading, strict globals, so a typo like `primary_kye = ...`
--     fails loudly at its line instead of silently being nil.
--
-- Every call of a script function (M.call) runs under icx.budget:
-- instructions, seconds of running and heap, each ending in an error that
-- names the script's line and that `pcall` cannot swallow.
local errors = require "icx.errors"
local budget = require "icx.budget"

-- Lua's matcher can run for ages inside one C call (a backtracking
-- pattern), where the hook cannot stop it: the string library's find,
-- match, gmatch and gsub become icx.pattern's copy of it, which charges its
-- steps to the running budget. The string metatable serves methods from
-- this table, so `("x"):find(p)` is counted too; icx's own code runs under
-- no budget, and for it nothing changes.
for k, f in pairs(require("icx.pattern").lib) do rawset(string, k, f) end

local M = {}

-- Everything an asset script may require; anything else is refused when
-- the script is loaded.
M.MODULES = { "icx", "icx.intercom", "icx.json", "cjson", "cjson.safe" }
local ALLOWED = {}
for _, m in ipairs(M.MODULES) do ALLOWED[m] = true end

-- Lua instructions one script callback (a transform for one record, a
-- script's top level) may run before it is taken for an endless loop: about
-- a second of pure Lua, a thousand times what a heavy transform needs.
M.BUDGET = 200000000
-- Seconds one callback may run without waiting on a request: what
-- instructions cannot measure (a slow C call in a loop); the watchdog ends
-- icx 2 s past it when the script is stuck inside one C call.
M.SECONDS = 5
-- Heap one callback may add (a table of every record of a walk is fine,
-- a runaway string builder is not); --max-memory, when lower, wins.
M.MEMORY = 1024 * 1024 * 1024

local raw = { pcall = pcall, xpcall = xpcall, error = error, getmetatable = getmetatable,
  setmetatable = setmetatable, rawset = rawset, type = type, select = select, next = next,
  create = coroutine.create, resume = coroutine.resume, yield = coroutine.yield,
  running = coroutine.running, status = coroutine.status, close = coroutine.close,
  isyieldable = coroutine.isyieldable }
local pack, unpack = table.pack, table.unpack

local function weak(mode) return setmetatable({}, { __mode = mode }) end

-- The membrane between engine and script values.
local view_of = weak "k"       -- engine table -> its read-only view
local real_of = weak "k"       -- view (or a ctx of a script) -> engine table
local wrapper_of = weak "k"    -- engine function -> what the script calls
local wrapped = weak "k"       -- that wrapper -> the engine function
local guard_of = weak "k"      -- script function -> what the engine calls
local guarded = weak "k"       -- that guard -> the script function
local ctx_of = weak "k"        -- engine ctx -> the script's own ctx
local script_mt = weak "k"     -- metatable in force -> the script's own
local in_force = weak "k"      -- the script's metatable -> the one in force
local owned = weak "k"         -- tables the script handed the engine

local json_tags
local function is_data(mt)
  if not json_tags then
    local json = require "icx.json"
    json_tags = { [json.array_mt] = true, [json.object_mt] = true }
  end
  return json_tags[mt] == true
end

local to_script, to_engine, guard

-- An error the script's pcall caught may not hide a spent budget.
local function check_spent()
  local msg = budget.spent()
  if msg then raw.error(msg, 0) end
end

-- Calls f(...) under a budget unless one is running already; results as
-- a packed table.
local function budgeted(f, ...)
  if budget.armed() then return pack(f(...)) end
  return pack(M.call(f, ...))
end

local function map_args(conv, ...)
  local n = raw.select("#", ...)
  local out = { ... }
  for i = 1, n do out[i] = conv(out[i]) end
  return out, n
end

-- A script function as the engine calls it: its arguments seen through
-- the membrane, run under a budget, its results unwrapped.
function guard(f)
  local g = guard_of[f]
  if g then return g end
  g = function(...)
    local args, n = map_args(to_script, ...)
    local r = budgeted(f, unpack(args, 1, n))
    for i = 1, r.n do r[i] = to_engine(r[i]) end
    return unpack(r, 1, r.n)
  end
  guard_of[f], guarded[g] = g, f
  return g
end

-- Decoders whose results are the script's own data, returned as they are
-- (cjson's tables carry no tag the membrane could tell data by).
local fresh_data
local function returns_data(f)
  if not fresh_data then
    fresh_data = { [require("icx.json").decode] = true, [require("cjson").decode] = true,
      [require("cjson.safe").decode] = true }
  end
  return fresh_data[f] == true
end

-- An engine function as the script calls it.
local function wrap_fn(f)
  local w = wrapper_of[f]
  if w then return w end
  local as_data = returns_data(f)
  w = function(...)
    local args, n = map_args(to_engine, ...)
    local r = pack(f(unpack(args, 1, n)))
    if not as_data then
      for i = 1, r.n do r[i] = to_script(r[i]) end
    end
    return unpack(r, 1, r.n)
  end
  wrapper_of[f], wrapped[w] = w, f
  return w
end

local function read_only(what)
  return function(_, k)
    raw.error(("%s is read-only (cannot set '%s')"):format(what, tostring(k)), 2)
  end
end

-- The read-only view of an engine table.
local function view(t)
  local v = view_of[t]
  if v then return v end
  v = raw.setmetatable({}, {
    __index = function(_, k) return to_script(t[k]) end,
    __newindex = read_only("this table of icx's"),
    __pairs = function()
      local k
      return function()
        local val
        k, val = raw.next(t, k)
        if k == nil then return nil end
        return to_script(k), to_script(val)
      end
    end,
    __len = function() return #t end,
    __tostring = function() return tostring(t) end,
    __metatable = false,
  })
  view_of[t], real_of[v] = v, t
  return v
end

-- ctx as a script sees it: its own table, reading through to the engine's
-- fields, so what it stores stays its own. Its functions (ctx.map, ctx.seen)
-- are the engine's work, waits on other tasks or on the destination, not
-- the script's running: its budget's clock and the watchdog pause meanwhile.
local function paused(f)
  return function(...)
    budget.pause()
    local r = pack(raw.pcall(f, ...))
    budget.resume()
    if not r[1] then raw.error(r[2], 0) end
    return unpack(r, 2, r.n)
  end
end

local function script_ctx(ctx)
  local c = ctx_of[ctx]
  if c then return c end
  local fns = {}
  c = raw.setmetatable({}, {
    __index = function(_, k)
      local v = ctx[k]
      if raw.type(v) ~= "function" then return to_script(v) end
      fns[k] = fns[k] or paused(wrap_fn(v))
      return fns[k]
    end,
    __metatable = false,
  })
  ctx_of[ctx], real_of[c] = c, ctx
  return c
end

-- The engine never hands a script an object that holds a secret: the
-- client becomes the client scripts get, and a connection (anything with an
-- access_token or a password) nothing.
local script_client = weak "k"
local function secret_free(v)
  local client = require "icx.client"
  if client.is_client(v) then
    script_client[v] = script_client[v] or v:for_scripts()
    return script_client[v]
  end
  if rawget(v, "access_token") ~= nil or rawget(v, "token") ~= nil or rawget(v, "password") ~= nil then
    return nil
  end
  return v
end

-- What a script may see of an engine value.
function to_script(v)
  local tv = raw.type(v)
  if tv == "function" then
    return guarded[v] or wrap_fn(v)
  elseif tv == "table" then
    if real_of[v] or owned[v] then return v end
    local mt = raw.getmetatable(v)
    if mt ~= nil and (is_data(mt) or script_mt[mt]) then return v end
    local safe = secret_free(v)
    if safe ~= v then return safe end
    if mt == nil and rawget(v, "asset") ~= nil and rawget(v, "client") ~= nil then return script_ctx(v) end
    return view(v)
  end
  return v
end

-- What the engine gets of a script value: views and wrappers unwrapped,
-- functions guarded; a table is copied only when something in it changes,
-- so a record passes as is.
local function engine_of(v, seen)
  local tv = raw.type(v)
  if tv == "function" then
    return wrapped[v] or guard(v)
  elseif tv ~= "table" then
    return v
  end
  if real_of[v] then return real_of[v] end
  -- A record (icx.json's tag) is data the engine only encodes: nothing in
  -- it is called, so it is not walked (the transform path stays cheap).
  if is_data(raw.getmetatable(v)) then return v end
  if seen[v] ~= nil then return seen[v] end
  seen[v] = v
  owned[v] = true
  local copy
  for k, x in raw.next, v do
    local y = engine_of(x, seen)
    if y ~= x then
      if not copy then
        copy = {}
        for k2, x2 in raw.next, v do copy[k2] = x2 end
        raw.setmetatable(copy, raw.getmetatable(v))
        seen[v], owned[copy] = copy, true
      end
      copy[k] = y
    end
  end
  return copy or v
end
function to_engine(v)
  local tv = raw.type(v)
  if tv ~= "table" and tv ~= "function" then return v end
  if tv == "table" and is_data(raw.getmetatable(v)) then return v end
  return engine_of(v, {})
end

-- to_script, to_engine over n values, without a table per call.
local function each(conv, n, v, ...)
  if n <= 0 then return end
  if n == 1 then return conv(v) end
  return conv(v), each(conv, n - 1, ...)
end
local function results(...) return each(to_engine, raw.select("#", ...), ...) end
local function run(f, ...) return results(f(each(to_script, raw.select("#", ...), ...))) end

-- The metatable in force for a script's mt: a copy whose functions run
-- under a budget wherever the engine triggers them (json.encode reading a
-- field, tostring in a log line). Taken when first set, so later changes
-- to mt's metamethods do not apply (a table __index stays live).
local function enforce(mt)
  local p = in_force[mt]
  if p then return p end
  if rawget(mt, "__gc") ~= nil then
    raw.error("setmetatable: __gc finalizers are not available to asset scripts", 3)
  end
  p = {}
  for k, f in raw.next, mt do
    p[k] = raw.type(f) == "function" and guard(f) or f
  end
  in_force[mt], script_mt[p] = p, mt
  return p
end

local function sandbox_setmetatable(t, mt)
  if raw.type(mt) == "table" then
    if real_of[mt] then mt = real_of[mt]
    elseif not is_data(mt) then mt = enforce(mt) end
  end
  if real_of[t] then raw.error("setmetatable: this table of icx's is read-only", 2) end
  return raw.setmetatable(t, mt)
end

local function sandbox_getmetatable(v)
  if raw.type(v) == "string" then return nil end
  local mt = raw.getmetatable(v)
  if raw.type(mt) ~= "table" then return mt end
  return script_mt[mt] or to_script(mt)
end

local function sandbox_rawset(t, k, v)
  if real_of[t] then raw.error("rawset: this table of icx's is read-only", 2) end
  return raw.rawset(t, k, v)
end

local function sandbox_pcall(f, ...)
  local r = pack(raw.pcall(f, ...))
  check_spent()
  return unpack(r, 1, r.n)
end

local function sandbox_xpcall(f, h, ...)
  local r = pack(raw.xpcall(f, h, ...))
  check_spent()
  return unpack(r, 1, r.n)
end

-- Coroutines a script makes are its own to yield; each shares the budget
-- of the call that made it. A yield anywhere else would suspend icx's own
-- task, which the scheduler cannot resume: it is the script's error.
local own = weak "k"
local function co_create(f)
  local co = raw.create(f)
  own[co] = true
  if budget.armed() then budget.adopt(co) end
  return co
end
local function co_resume(co, ...)
  local r = pack(raw.resume(co, ...))
  check_spent()
  return unpack(r, 1, r.n)
end
local function co_yield(...)
  if not own[raw.running()] then
    -- At the script's line, as error(msg, 2) puts it (levels: error, pcall,
    -- this function, its caller); an icx error, so the run fails as the
    -- script's (exit 2) wherever the script runs.
    local _, where = raw.pcall(raw.error, "", 3)
    errors.raise("script", where .. "coroutine.yield() outside a coroutine the script created (a script "
      .. "function cannot suspend icx)", { located = true })
  end
  return raw.yield(...)
end
local function co_wrap(f)
  local co = co_create(f)
  return function(...)
    local r = pack(raw.resume(co, ...))
    check_spent()
    if not r[1] then raw.error(r[2], 0) end
    return unpack(r, 2, r.n)
  end
end
local function co_isyieldable() return own[raw.running()] == true end

-- Environment variables a script may read: none whose name says it holds a
-- credential or a connection string, and none whose value holds a secret
-- icx masks (the token, a password), whatever its name: the README passes
-- the token by environment variable.
local SECRET_NAME = { "TOKEN", "SECRET", "PASSW", "PASSPHRASE", "CREDENTIAL", "AUTH", "COOKIE", "SESSION",
  "PRIVATE", "KEY", "DSN", "DATABASE_URL" }
function M.env_allowed(name)
  if raw.type(name) ~= "string" then return false end
  local up = name:upper()
  if up:match("^PG") or up == "ICX_DEST" or up == "ICX_CONFIG" then return false end
  for _, w in ipairs(SECRET_NAME) do
    if up:find(w, 1, true) then return false end
  end
  return true
end
local function sandbox_getenv(name)
  if not M.env_allowed(name) then return nil end
  local v = os.getenv(name)
  if v and require("icx.log").redact(v) ~= v then return nil end
  return v
end

local SAFE_BASE = { "assert", "error", "ipairs", "select", "tonumber", "tostring", "type", "rawequal",
  "rawget", "rawlen" }

-- A fresh environment per script, so scripts cannot leak state to each other.
function M.env()
  local env = {}
  for _, k in ipairs(SAFE_BASE) do env[k] = _G[k] end
  -- next and pairs see through views (pairs honours __pairs; next is raw,
  -- so over a view it sees nothing, never the engine table).
  env.next, env.pairs = next, pairs
  env.pcall, env.xpcall = sandbox_pcall, sandbox_xpcall
  env.getmetatable, env.setmetatable, env.rawset = sandbox_getmetatable, sandbox_setmetatable, sandbox_rawset
  env.string = view(string)
  for _, k in ipairs({ "table", "math", "utf8" }) do
    local copy = {}
    for fk, fv in pairs(_G[k]) do copy[fk] = fv end
    env[k] = copy
  end
  env.coroutine = { create = co_create, resume = co_resume, yield = co_yield, wrap = co_wrap,
    running = raw.running, status = raw.status, close = raw.close, isyieldable = co_isyieldable }
  env.os = { time = os.time, date = os.date, clock = os.clock, difftime = os.difftime, getenv = sandbox_getenv }
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
    return to_script(require(name))
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

-- A budget spent is the script's error (exit 2, as at load), its message
-- already naming the script's line.
local function over_budget(msg) return errors.new("script", msg, { located = true }) end

-- The error of a failed call as a string or an icx error, made while the
-- budget still runs: an error object's __tostring is script code too.
local function settle(e)
  if errors.is(e) then return e end
  local spent = budget.spent()
  if spent then return over_budget(spent) end
  if raw.type(e) == "string" then
    if e:find("not enough memory", 1, true) and budget.over_memory() then
      return over_budget(("the script used more than %d MB of memory (a runaway table or string?)")
        :format(M.MEMORY // (1024 * 1024)))
    end
    return e
  end
  local ok, s = raw.pcall(tostring, e)
  spent = budget.spent()
  if spent then return over_budget(spent) end
  if ok and raw.type(s) == "string" then return s end
  return ("(error object is a %s value)"):format(raw.type(e))
end

-- The traceback of the last error a script raised, taken where it was
-- raised (for -v); memory errors skip handlers and have none.
local last_traceback
local function note_traceback(e)
  if raw.type(e) == "string" then last_traceback = require("icx.sys").traceback(nil, 2) end
  return e
end

local function finish(ok, ...)
  if not ok then
    local raised = ...
    local e = settle(raised)
    local spent = budget.spent()
    budget.disarm()
    -- The script's own code failed (a typo, a nil indexed): its error
    -- (file:line) is the script's, exit 2, not a failed request. The
    -- process's --max-memory is not the script's: that error goes up as
    -- it came, for the command to name the limit.
    if raw.type(e) == "string" and e == raised and not spent and not e:find("not enough memory", 1, true) then
      e = errors.new("script", e, { located = true, traceback = last_traceback })
    end
    last_traceback = nil
    error(e, 0)
  end
  budget.disarm()
  return ...
end

-- Calls a script function under its budget (instructions, seconds, heap);
-- its arguments are seen through the membrane, its first results
-- unwrapped. Waits on requests (ctx.client) cost nothing. Within a call
-- that already runs under a budget it is a plain call.
function M.call(f, ...)
  if budget.armed() then return f(...) end
  budget.arm(M.BUDGET, M.SECONDS, M.MEMORY, guarded[f] or f)
  return finish(raw.xpcall(run, note_traceback, f, ...))
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
