-- Option tables of the C modules (engine/opts.c): every module reads its
-- options through one set of readers, so a wrong type is refused with the same
-- wording everywhere (module, option name, what it must be), never coerced.
local t = dofile "tests/lib/tap.lua"
local sqlite = require "icx.sqlite"
local http = require "icx.http"
local ratelimit = require "icx.ratelimit"

local dir = t.tmpdir()
local db_path = dir .. "/o.db"

t.raises(function() sqlite.open(db_path, { wal = "no" }) end,
  "icx.sqlite: option 'wal' must be true or false", "boolean option refuses a string (no truthiness)")
t.raises(function() sqlite.open(db_path, { readonly = 1 }) end,
  "icx.sqlite: option 'readonly' must be true or false", "boolean option refuses a number")
t.raises(function() sqlite.open(db_path, { busy_timeout = -1 }) end,
  "icx.sqlite: option 'busy_timeout' must be an integer from 0 to 2147483647", "integer option: below range")
t.raises(function() sqlite.open(db_path, { busy_timeout = 1.5 }) end,
  "option 'busy_timeout' must be an integer from 0", "integer option: a fraction")
t.raises(function() sqlite.open(db_path, { busy_timeout = "100" }) end,
  "icx.sqlite: option 'busy_timeout' must be an integer", "integer option: a numeric string is not coerced")
t.raises(function() sqlite.open(db_path, { bogus = true }) end,
  "unknown option 'bogus' in open{}", "unknown keys are named")

local db = assert(sqlite.open(db_path, { busy_timeout = 1e3, wal = false }))
t.is(db:query("PRAGMA busy_timeout")[1].timeout, 1000, "an integral float counts as an integer")
t.is(db:query("PRAGMA journal_mode")[1].journal_mode, "delete", "wal = false is honoured")
db:close()

local m = http.multi()
t.raises(function() m:start { url = "http://127.0.0.1:1/", max_bytes = 0 } end,
  "icx.http: option 'max_bytes' must be an integer >= 1", "http: max_bytes range")
t.raises(function() m:start { url = 5 } end, "icx.http: option 'url' must be a string", "http: string option")
t.raises(function() m:start { url = "http://127.0.0.1:1/", method = "POST", body = {} } end,
  "icx.http: option 'body' must be a string", "http: body must be a string")
t.raises(function() m:start { url = "http://127.0.0.1:1/", timeout = 1 / 0 } end,
  "icx.http: option 'timeout' must be a finite number", "http: inf timeout")
t.raises(function() http.multi { max_host_connections = -1 } end,
  "icx.http: option 'max_host_connections' must be an integer from 0", "http: multi option range")
t.is(m:pending(), 0, "no refused request was started")
m:close()

t.raises(function() ratelimit.bucket { now = "soon" } end,
  "icx.ratelimit: option 'now' must be a number", "ratelimit: now must be a number")
local b = ratelimit.bucket { limit = 2, window = 1, now = 100 }
t.is(b:take(100), 0, "ratelimit: options are read")

os.execute("rm -rf '" .. dir .. "'")
return t.done()
