-- Help and the man page agree with the option parser: every command's help
-- lists exactly the options its parser takes (one table drives both), the
-- parser refuses the others, man/icx.1 renders without warnings and names
-- every command and option, and README.md lists the same commands and
-- options.
local t = dofile "tests/lib/tap.lua"
local cli = require "icx.cli"
local ICX = t.sh("realpath " .. (os.getenv("ICX") or "./icx")):match("[^\n]+")

-- The options a help text lists: "  -j, --jobs N" / "      --dest DEST".
local function listed(text)
  local set = {}
  for line in text:gmatch("[^\n]+") do
    local flags = line:match("^%s+(%-.-)%s%s") or line:match("^%s+(%-%S+)$")
    if flags then
      for f in flags:gmatch("%-%-?[%w-]+") do set[f] = true end
    end
  end
  return set
end

local function names(list)
  local out = {}
  for _, o in ipairs(list) do
    out[#out + 1] = o.long
    if o.short then out[#out + 1] = o.short end
  end
  table.sort(out)
  return table.concat(out, " ")
end

local function set_names(set)
  local out = {}
  for k in pairs(set) do out[#out + 1] = k end
  table.sort(out)
  return table.concat(out, " ")
end

for _, c in ipairs(cli.COMMANDS) do
  local out, rc = t.sh(ICX .. " help " .. c.name)
  t.is(rc, 0, "icx help " .. c.name .. " exits 0")
  t.is(set_names(listed(out)), names(cli.options_of(c.name)), "icx help " .. c.name .. " lists its parser's options")
  local out2 = t.sh(ICX .. " " .. c.name .. " --help")
  t.is(out2, out, "icx " .. c.name .. " --help is the same text")
  for _, o in ipairs(cli.OPTIONS) do
    if not o.takes["*"] and not o.takes[c.name] and c.name ~= "lua" then
      local args = { "", c.name, o.long }
      if o.value then args[#args + 1] = "x" end
      local msg, code = t.sh(ICX .. table.concat(args, " "))
      if code ~= 2 or not msg:find("does not take " .. o.long, 1, true) then
        t.ok(false, ("icx %s refuses %s"):format(c.name, o.long))
        print("# " .. msg)
      end
    end
  end
end
t.ok(true, "every command refuses the options it does not take")

local main = t.sh(ICX .. " help")
t.is(set_names(listed(main)), names(cli.options_of(nil)), "icx help lists the options taken without a command")
for _, c in ipairs(cli.COMMANDS) do
  t.like(main, "\n  " .. c.name .. "[ \n]", "icx help lists command " .. c.name)
end

-- The man page.
local warn, wrc = t.sh("groff -ww -z -man man/icx.1")
t.is(wrc, 0, "groff -ww -z -man: no error")
t.is(warn, "", "groff -ww: no warnings")
local page, mrc = t.sh("MANWIDTH=80 man --warnings -l man/icx.1 2>&1")
t.is(mrc, 0, "man -l man/icx.1 renders")
t.ok(not page:find("warning", 1, true), "man --warnings: no warnings")
page = page:gsub("[\226\128\144\226\128\145]", "-"):gsub("%-\n%s*", "-")
for _, o in ipairs(cli.OPTIONS) do
  t.ok(page:find(o.long, 1, true), "the man page documents " .. o.long)
  if o.short then t.ok(page:find(o.short .. ",", 1, true) or page:find(o.short .. " ", 1, true),
    "the man page documents " .. o.short) end
end
for _, c in ipairs(cli.COMMANDS) do
  t.ok(page:find("icx " .. c.name, 1, true), "the man page documents icx " .. c.name)
end
for _, code in ipairs { "0", "1", "2", "3", "4", "5", "130, 143" } do
  t.ok(page:find("\n       " .. code .. "%s"), "the man page documents exit code " .. code)
end
for _, key in ipairs { "name", "access_token", "region", "base_url", "rate_limit", "ca_file", "connect_timeout",
    "timeout", "max_attempts", "retry_base", "retry_cap" } do
  t.ok(page:find("\n       " .. key .. "[%s,]") or page:find(", " .. key .. "\n", 1, true),
    "the man page documents key " .. key)
end

-- The README's command line: the command list is `icx help`'s, line for
-- line, and the options table names every option of the parser.
local readme = assert(io.open("README.md")):read("a")
local block = readme:match("\n## Command line\n+```\n(.-)```")
t.ok(block ~= nil, "README.md has a command list under \"Command line\"")
local listed_cmds = main:match("\ncommands:\n(.-)\n\n")
local want = {}
for line in (listed_cmds or ""):gmatch("[^\n]+") do want[#want + 1] = (line:gsub("^%s+", "")) end
t.is(block, table.concat(want, "\n") .. "\n", "README.md's command list is icx help's")
local options = readme:match("\n| option | meaning |\n(.-)\n\n") or ""
for _, o in ipairs(cli.OPTIONS) do
  local cell = "`" .. (o.short and (o.short .. (o.value and " " .. o.value or "") .. "`, `") or "") .. o.long ..
    (o.value and " " .. o.value or "") .. "`"
  t.ok(options:find("\n| " .. cell .. " |", 1, true) or options:find("^| " .. cell .. " |"),
    "README.md's options table has " .. cell)
end

os.exit(t.done())
