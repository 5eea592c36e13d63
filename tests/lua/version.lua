-- The version has one home, the VERSION file: the binary (icx.http, `icx
-- version`, the User-Agent) says what it says, the man page carries only the
-- placeholder make fills in from it, and engine/lhttp.c does not build
-- without it, so no build can fall back to a made-up number.
local t = dofile "tests/lib/tap.lua"
local http = require "icx.http"
local ICX = os.getenv("ICX") or "./icx"

local f = assert(io.open("VERSION"))
local want = f:read("a"):match("^%s*(.-)%s*$")
f:close()
t.like(want, "^%d+%.%d+%.%d+$", "VERSION holds a version: " .. want)

t.is(http.version, want, "icx.http.version is VERSION")
t.is(http.user_agent, "icx/" .. want, "the User-Agent carries VERSION")
local out, rc = t.sh(ICX .. " version")
t.is(rc, 0, "icx version exits 0")
t.is(out:match("^icx (%S+) "), want, "icx version prints VERSION")

-- The man page's source holds @VERSION@ where the version goes; the
-- installed page is checked by tests/e2e/0323-install.t.
local man = assert(io.open("man/icx.1")):read("a")
local th = man:match("\n(%.TH [^\n]*)")
t.like(th or "", '"icx @VERSION@"', "man/icx.1's .TH line has the placeholder, not a number")
t.ok(not man:find("%d+%.%d+%.%d+"), "man/icx.1 names no version number anywhere")

-- Without the Makefile's -DICX_VERSION, lhttp.c stops at #error.
local cflags = t.sh("pkg-config --cflags lua5.4 libcurl"):gsub("%s+$", "")
local msg, crc = t.sh("cc -fsyntax-only -std=c11 -D_POSIX_C_SOURCE=200809L -Iengine " .. cflags ..
  " engine/lhttp.c")
t.ok(crc ~= 0 and msg:find("ICX_VERSION", 1, true) ~= nil, "engine/lhttp.c does not build without ICX_VERSION")
local _, okrc = t.sh("cc -fsyntax-only -std=c11 -D_POSIX_C_SOURCE=200809L -Iengine " .. cflags ..
  " '-DICX_VERSION=\"" .. want .. "\"' engine/lhttp.c")
t.is(okrc, 0, "and builds with it")

os.exit(t.done())
