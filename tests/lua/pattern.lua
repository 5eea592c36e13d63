-- icx.pattern: the step-counted copy of Lua's matcher gives what Lua's
-- string library gives (results, captures, positions, gsub counts and the
-- errors of malformed patterns), and a backtracking pattern under a script
-- budget ends in an error instead of running for ages.
local t = dofile "tests/lib/tap.lua"
local icx_pattern = require "icx.pattern"
local pattern = icx_pattern.lib
local budget = require "icx.budget"

-- Lua's own: this test does not load the sandbox, which puts icx.pattern's
-- functions in the string library.
local lua = {}
for _, k in ipairs({ "find", "match", "gmatch", "gsub" }) do lua[k] = string[k] end
t.ok(lua.find ~= pattern.find, "the comparison is against Lua's own string.find")

local function pack_pcall(f, ...)
  local r = table.pack(pcall(f, ...))
  if not r[1] then r[2] = tostring(r[2]):gsub("^[^:]*:%d+: ", "") end
  return r
end

local function same(a, b)
  if a.n ~= b.n then return false end
  for i = 1, a.n do
    if a[i] ~= b[i] and not (a[i] ~= a[i] and b[i] ~= b[i]) then return false end
  end
  return true
end

local function show(r)
  local parts = {}
  for i = 1, r.n do parts[i] = type(r[i]) == "string" and ("%q"):format(r[i]) or tostring(r[i]) end
  return "(" .. table.concat(parts, ", ") .. ")"
end

local function gmatch_all(gm, s, p, init)
  local out = {}
  local it = gm(s, p, init)
  for _ = 1, 1000 do
    local r = table.pack(it())
    if r[1] == nil then break end
    out[#out + 1] = show(r)
  end
  return table.concat(out, " ")
end

-- subject, pattern, init (and plain for find)
local CASES = {
  { "hello world", "o w" }, { "hello world", "o", 6 }, { "hello world", "l+" }, { "hello", "" },
  { "", "" }, { "", "a*" }, { "hello", "", 10 }, { "hello", "l", -2 }, { "hello", "l", -100 },
  { "hello", "h", 0 }, { "a.b", ".", 1, true }, { "a+b", "+", 1, true }, { "a+b", "a+b", 1, true },
  { "hello world from Lua", "(%w+) (%w+)" }, { "key = value", "(%w+)%s*=%s*(%w+)" },
  { "  trim  ", "^%s*(.-)%s*$" }, { "abc", "()b()" }, { "abc", "()" }, { "THE (quick) fox", "%((%a+)%)" },
  { "f(a(b)c)d", "%b()" }, { "[[x]]", "%b[]" }, { "THE (quick) fox", "%f[%a]%a+" }, { "hello", "%f[%l]" },
  { "aaa", "a-b" }, { "aaab", "a-b" }, { "aaab", "a*b" }, { "ab", "a?b" }, { "b", "a?b" }, { "aaa", "^a" },
  { "baaa", "^a" }, { "abc", "c$" }, { "abc$", "c%$" }, { "a$b", "a$b" }, { "x = 'hi' y = \"yo\"", "([\"'])(.-)%1" },
  { "2026-12-07T15:30:00Z", "^(%d%d%d%d)%-(%d%d)%-(%d%d)T(%d+):(%d+):(%d+)Z$" }, { "abc123def", "%d+" },
  { "abc123def", "[%a]+" }, { "abc123def", "[^%a]+" }, { "a-b-c", "[a-c]+" }, { "a]b", "[]]" }, { "a^b", "[%^]" },
  { "a-b", "[a%-]+" }, { "\0a\0b", "%z" }, { "a\0b", "\0" }, { "a\0b", "a%z?b" }, { "x%y", "%%" },
  { "Hello", "%u%l+" }, { "tab\there", "%c" }, { "x,y;z", "%p" }, { "0x1F", "%x+" }, { "é", "." },
  { "aaaaaaaaaaaaaaaaaaaab", ("a*"):rep(6) .. "b" }, { ("x"):rep(300), "x*y" }, { "abcabc", "(a)(b)(c)%1%2%3" },
  { "hello", "(h)(e)(l)(l)(o)" }, { "ab", "(a)(%1)" },
  -- malformed: each raises Lua's message
  { "abc", "%" }, { "abc", "[a" }, { "abc", "[^" }, { "abc", "(a" }, { "abc", "a)" }, { "abc", "%b" },
  { "abc", "%ba" }, { "abc", "%f" }, { "abc", "%fa" }, { "abc", "%1" }, { "abc", "(a%1)" }, { "abc", "%g[" },
  { "abc", ("(a)"):rep(33) }, { "abc", ("a?"):rep(300) }, { ("a"):rep(300), ("(a?)"):rep(20) },
}

local diffs = 0
for i, c in ipairs(CASES) do
  local s, p, init, plain = c[1], c[2], c[3], c[4]
  for _, k in ipairs({ "find", "match" }) do
    local want = pack_pcall(lua[k], s, p, init, plain)
    local got = pack_pcall(pattern[k], s, p, init, plain)
    if not same(want, got) then
      diffs = diffs + 1
      t.ok(false, ("case %d: %s(%q, %q): Lua %s, icx %s"):format(i, k, s, p, show(want), show(got)))
    end
  end
  local want = pack_pcall(gmatch_all, lua.gmatch, s, p, init)
  local got = pack_pcall(gmatch_all, pattern.gmatch, s, p, init)
  if not same(want, got) then
    diffs = diffs + 1
    t.ok(false, ("case %d: gmatch(%q, %q): Lua %s, icx %s"):format(i, s, p, show(want), show(got)))
  end
  local repls = { "<%0>", "%1", "%%", "x%2y", "%", "%a", function(a, b) return b or a end,
    function() return false end, { hello = "HI", a = 1 }, 7, setmetatable({}, { __index = function() return {} end }) }
  for j, r in ipairs(repls) do
    for _, n in ipairs({ false, 1, 0, -1 }) do
      local nn = n or nil
      want = pack_pcall(lua.gsub, s, p, r, nn)
      got = pack_pcall(pattern.gsub, s, p, r, nn)
      if not same(want, got) then
        diffs = diffs + 1
        t.ok(false, ("case %d: gsub(%q, %q, repl %d, %s): Lua %s, icx %s"):format(i, s, p, j, tostring(nn),
          show(want), show(got)))
      end
    end
  end
end
t.is(diffs, 0, ("%d cases through find, match, gmatch and gsub: the same results and errors as Lua's"):format(#CASES))

-- Argument errors are Lua's too (the function's name aside).
for _, args in ipairs({ { nil, "a" }, { "a", nil }, { "a", "a", "x" }, { {}, "a" } }) do
  local a = pack_pcall(lua.find, args[1], args[2], args[3])
  local b = pack_pcall(pattern.find, args[1], args[2], args[3])
  t.is(b[1], false, "a bad argument raises")
  t.is((b[2]:gsub("'[^']+'", "'f'")), (a[2]:gsub("'[^']+'", "'f'")), "with Lua's message: " .. tostring(b[2]))
end
local a = pack_pcall(lua.gsub, "a", "a", true)
local b = pack_pcall(pattern.gsub, "a", "a", true)
t.is((b[2]:gsub("'[^']+'", "'f'")), (a[2]:gsub("'[^']+'", "'f'")), "gsub's replacement type is checked as Lua checks it")

-- Without a script budget (icx's own code) nothing is limited: a slow
-- pattern runs to its end, as in Lua.
t.is(pattern.find(("a"):rep(18), ("a*"):rep(6) .. "b"), nil, "an unbudgeted slow pattern runs to its end")

-- Under a budget, a backtracking pattern raises within the budget's steps:
-- at once, naming this file's line, and spending the budget.
local BAD_S, BAD_P = ("a"):rep(40), ("a*"):rep(40) .. "b"
local function under_budget(n, f)
  budget.arm(n, 5, 0, f)
  local r = table.pack(pcall(f))
  local spent = budget.spent()
  budget.disarm()
  return r, spent
end
for _, k in ipairs({ "find", "match", "gsub", "gmatch" }) do
  local started = os.clock()
  local r, spent = under_budget(1000000, function()
    if k == "gmatch" then
      for _ in pattern.gmatch(BAD_S, BAD_P) do end
    elseif k == "gsub" then
      return pattern.gsub(BAD_S, BAD_P, "")
    else
      return pattern[k](BAD_S, BAD_P)
    end
  end)
  t.ok(not r[1] and tostring(r[2]):find("^tests/lua/pattern%.lua:%d+: the pattern of string%." .. k
    .. " took the script past 1000000 Lua instructions and matching steps %(a backtracking pattern%?%)$"),
    k .. ": past the budget, an error at the script's line: " .. tostring(r[2]))
  t.is(spent, r[2], k .. ": the budget is spent, so pcall cannot go on")
  t.ok(os.clock() - started < 1, k .. ": at once")
end

-- The limit of one call, below the budget.
local old = icx_pattern.limit(200000)
t.is(old, 100000000, "one call's limit is 100 million steps by default")
local r = under_budget(100000000, function() return pattern.find(BAD_S, BAD_P) end)
t.like(tostring(r[2]), "^tests/lua/pattern%.lua:%d+: the pattern of string%.find took more than 200000 matching steps "
  .. "in one call %(a backtracking pattern%?%)$", "past the limit of one call: its error")
r = under_budget(100000000, function()
  local n = 0
  for _ = 1, 20 do n = n + select(2, pattern.gsub(("ab"):rep(5000), "(a)(b)", "%2%1")) end
  return n
end)
t.is(r[2], 20 * 5000, "fair patterns over long strings stay within it (the limit is per call)")
t.raises(function() icx_pattern.limit(0) end, "must be > 0", "the limit is positive")
icx_pattern.limit(old)

-- A spent budget raises in the next pattern the script runs.
r = under_budget(1000000, function()
  pcall(pattern.find, BAD_S, BAD_P)
  return pattern.find(("x"):rep(10000), "y$")
end)
t.like(tostring(r[2]), "took the script past", "a pcall around it does not reset the budget")

-- The sandbox puts the matchers in the string library, for every caller
-- (the string metatable serves methods from it); errors then name them as
-- Lua does.
require "icx.sandbox"
for _, k in ipairs({ "find", "match", "gmatch", "gsub" }) do
  t.is(string[k], pattern[k], "the sandbox's string." .. k .. " is icx.pattern's")
end
t.is(("abc"):find("b"), 2, "a method call reaches it too")
t.is(select(2, pcall(string.find, nil, "a")), "bad argument #1 to 'string.find' (string expected, got nil)",
  "and an argument error names string.find, as Lua's does")

-- Through the sandbox, however the script calls it: a function of the
-- string view, a method, inside its pcall (the error cannot be caught),
-- in a coroutine of its own. Each stops within the budget's steps.
local sandbox = require "icx.sandbox"
local saved = sandbox.BUDGET
sandbox.BUDGET = 1000000
for i, body in ipairs({
  "local x = string.find(s, p)",
  "local x = s:match(p)",
  "local ok = pcall(string.gsub, s, p, '')\nlocal x = ok",
  "local ok = pcall(function() for _ in s:gmatch(p) do end end)\nlocal x = ok",
  "local x = coroutine.wrap(function() return s:find(p) end)()",
}) do
  local started = os.clock()
  local ok, e = pcall(sandbox.run_text, "local s, p = ('a'):rep(40), ('a*'):rep(40) .. 'b'\n" .. body
    .. "\nreturn x", "bad" .. i .. ".lua")
  t.ok(not ok and tostring(e):find("^bad" .. i .. "%.lua:%d: the pattern of string%.%a+ took the script past "
    .. "1000000 Lua instructions"), ("script %d: stopped at its line: %s"):format(i, tostring(e)))
  t.is(type(e) == "table" and e.kind, "script", ("script %d: a script error"):format(i))
  t.ok(os.clock() - started < 2, ("script %d: at once (%.2f s)"):format(i, os.clock() - started))
end
sandbox.BUDGET = saved

os.exit(t.done())
