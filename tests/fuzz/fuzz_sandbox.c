/* tests/fuzz/fuzz_sandbox.c: libFuzzer harness for asset scripts in the
 * sandbox (lualib/icx/sandbox.lua, engine/lbudget.c): the input is a
 * script's text, loaded as icx loads one (icx.sandbox.run_text), and a
 * function it returns is called as a transform is (icx.sandbox.call) with a
 * decoded record and a ctx whose client holds a token.
 *
 * Budgets are small (a million instructions, 2 s, 32 MB of heap per call),
 * so a looping script ends in milliseconds.
 *
 * A bug is: a load or call that takes more than 6 s of CPU (a budget
 * escaped: the 2 s plus slack for ASan; CPU, not wall time, since the
 * budget counts CPU and a loaded machine stretches the wall clock), or
 * more than 30 s of wall time; an
 * error raised from icx's own code rather than the script's (a bare Lua
 * error in lualib/icx/, or one icx reports as internal); the token, or 12
 * characters of it, in any line icx logged (print, errors) or anywhere in
 * what the script returned; icx.json.encode, icx.intercom.search or the
 * string library changed for the next script; the engine's ctx changed.
 *
 * Patterns run in the sandbox's step-counted matcher (engine/lpattern.c):
 * a backtracking one ends within the budget like a loop, so the watchdog's
 * exit (which libFuzzer takes for a crash) is a bug here too. */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_lua.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char src[] =
    "local sandbox = require 'icx.sandbox'\n"
    "local errors = require 'icx.errors'\n"
    "local json = require 'icx.json'\n"
    "local log = require 'icx.log'\n"
    "local sys = require 'icx.sys'\n"
    "local function bug(fmt, ...) error('BUG: ' .. fmt:format(...), 0) end\n"
    "local TOKEN = 'tok_FUZZsandboxSecret0123456789abcdef'\n"
    "log.add_secret(TOKEN)\n"
    "local lines = {}\n"
    "log.sink = function(line) lines[#lines + 1] = line end\n"
    "sandbox.BUDGET, sandbox.SECONDS, sandbox.MEMORY = 1000000, 2, 32 * 1024 * 1024\n"
    "local client = require('icx.client').new({ name = 'fuzz', access_token = TOKEN,\n"
    "  base_url = 'https://fuzz.invalid' })\n"
    "local encode, search, sub = json.encode, require('icx.intercom').search, string.sub\n"
    "local find, gsub = string.find, string.gsub\n"
    "assert(find == require('icx.pattern').lib.find, 'string.find is not the counted matcher')\n"
    "local function leaked(v, seen)\n"
    "  local t = type(v)\n"
    "  if t == 'string' then return v:find(TOKEN:sub(1, 12), 1, true) or v:find(TOKEN:sub(-12), 1, true) end\n"
    "  if t ~= 'table' or seen[v] then return false end\n"
    "  seen[v] = true\n"
    "  for k, x in next, v do if leaked(k, seen) or leaked(x, seen) then return true end end\n"
    "  return false\n"
    "end\n"
    "local function ours(e)\n"
    "  if errors.is(e) then return e.kind == 'internal' end\n"
    "  return type(e) == 'string' and e:find('^lualib/icx/') ~= nil\n"
    "end\n"
    "local function timed(what, f, ...)\n"
    "  local t0, c0 = sys.now(), os.clock()\n"
    "  local r = table.pack(pcall(f, ...))\n"
    "  local cpu, wall = os.clock() - c0, sys.now() - t0\n"
    "  if cpu > 6 or wall > 30 then\n"
    "    bug('%s ran %.1f s (%.1f s of CPU): a budget was escaped', what, wall, cpu)\n"
    "  end\n"
    "  if not r[1] and ours(r[2]) then bug('%s: an error of icx itself: %s', what, tostring(r[2])) end\n"
    "  return r\n"
    "end\n"
    "return function(input)\n"
    "  lines = {}\n"
    "  local r = timed('load', sandbox.run_text, input, 'fuzz.lua')\n"
    "  if r[1] and type(r[2]) == 'function' then\n"
    "    local ctx = { asset = 'fuzz', connection = 'fuzz', client = client:for_scripts(), stats = {} }\n"
    "    local rec = json.decode('{\"id\":\"1\",\"name\":\"x\",\"tags\":[],\"n\":12345678901234}')\n"
    "    local c = timed('call', sandbox.call, r[2], rec, ctx)\n"
    "    if leaked(c, {}) then bug('the call returned the token') end\n"
    "    if ctx.asset ~= 'fuzz' or ctx.stats == nil or next(ctx, nil) == nil then bug('the engine ctx changed') end\n"
    "  elseif r[1] and leaked(r, {}) then\n"
    "    bug('the script returned the token')\n"
    "  end\n"
    "  for _, l in ipairs(lines) do\n"
    "    if leaked(l, {}) then bug('a logged line holds the token: %s', l) end\n"
    "  end\n"
    "  if json.encode ~= encode or require('icx.intercom').search ~= search or string.sub ~= sub\n"
    "      or string.find ~= find or string.gsub ~= gsub\n"
    "      or getmetatable('').__index ~= string then\n"
    "    bug('the script changed what the next script calls')\n"
    "  end\n"
    "end\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_lua_run("fuzz_sandbox", src, data, size);
  return 0;
}
