-- icx.log: redaction of whole secrets and of fragments (a server echoing
-- part of the token), the JSON line form of events and messages, and
-- listeners.
local t = dofile "tests/lib/tap.lua"
local log = require "icx.log"

local secret = "tok_live_4f8a9b2c1d3e5f6a7b8c9d0e1f2a3b4c"
log.add_secret(secret)
t.is(log.redact("Bearer " .. secret), "Bearer ****3b4c", "a whole secret is masked to its last four")
local tail16 = secret:sub(-16)
t.ok(not log.redact("server said ..." .. tail16):find(tail16:sub(1, 12), 1, true),
  "its last 16 characters echoed alone are masked")
local head20 = secret:sub(1, 20)
t.ok(not log.redact("token=" .. head20 .. "... (truncated)"):find(secret:sub(1, 12), 1, true),
  "a prefix of it is masked")
local middle = secret:sub(9, 25)
local got = log.redact("x" .. middle .. "y")
t.ok(not got:find(middle:sub(1, 12), 1, true) and not got:find(middle:sub(-12), 1, true), "a middle piece is masked")
t.is(log.redact("contacts: 150 rows"), "contacts: 150 rows", "ordinary text is left alone")
t.is(log.redact(secret:sub(1, 11)), secret:sub(1, 11), "fewer than 12 characters of it are not masked")

-- JSON lines: every stderr line one object with ts, level, event.
local lines = {}
local real = io.stderr
io.stderr = { write = function(_, ...) for _, s in ipairs({ ... }) do lines[#lines + 1] = s end end }
log.format = "json"
log.event("page", { asset = "contacts", rows = 3, requests = 2 })
log.error("boom %s", secret)
log.format = "text"
log.timestamps = true
log.info("plain")
log.timestamps = false
io.stderr = real
local cjson = require "cjson"
local e1 = cjson.decode(lines[1])
t.is(e1.event, "page", "an event is a JSON line")
t.ok(e1.ts:match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$") ~= nil, "with an ISO 8601 UTC ts")
t.is(e1.level, "info", "and a level")
t.is(e1.rows, 3, "and its fields")
local e2 = cjson.decode(lines[3])
t.is(e2.event, "log", "a message is event log")
t.is(e2.level, "error", "with its level")
t.ok(not lines[3]:find(secret:sub(1, 12), 1, true) and e2.message:find("****", 1, true),
  "and redacted: " .. e2.message)
t.ok(lines[5]:match("^%d%d%d%d%-%d%d%-%d%dT[%d:.]+Z plain$") ~= nil, "text lines off a terminal carry a timestamp")

-- Listeners see every event.
local seen = {}
local remove = log.listen(function(name, fields) seen[#seen + 1] = name .. ":" .. tostring(fields.asset) end)
log.format = "json"
io.stderr = { write = function() end }
log.event("asset_end", { asset = "tags" })
remove()
log.event("asset_end", { asset = "after" })
io.stderr = real
log.format = "text"
t.is(table.concat(seen, ","), "asset_end:tags", "a listener sees events until removed")

-- Issue 22: masking is C. Listeners (the live display) see masked lines
-- and fields, and no Lua string function sees a secret on its way out.
local heard = {}
remove = log.listen(function(_, fields, _, text) heard[#heard + 1] = tostring(text) .. " " .. tostring(fields.url) end)
io.stderr = { write = function() end }
log.info("a line with %s", secret)
log.event("retry", { url = "https://x/?t=" .. secret }, "info", "retry " .. secret)
io.stderr = real
remove()
t.ok(#heard == 2 and not table.concat(heard):find(secret:sub(1, 12), 1, true),
  "listeners see masked text and fields: " .. table.concat(heard, " / "))
local strmt = getmetatable("").__index
local saw = {}
local sub, find, gsub = strmt.sub, strmt.find, strmt.gsub
strmt.sub = function(x, ...) saw[#saw + 1] = x return sub(x, ...) end
strmt.find = function(x, ...) saw[#saw + 1] = x return find(x, ...) end
strmt.gsub = function(x, ...) saw[#saw + 1] = x return gsub(x, ...) end
local out = log.redact("echo " .. secret)
local m = log.mask(secret)
strmt.sub, strmt.find, strmt.gsub = sub, find, gsub
t.is(out, "echo ****3b4c", "redaction still masks")
t.is(m, "****3b4c", "and mask too")
local leaked = false
for _, x in ipairs(saw) do if x:find(secret:sub(1, 12), 1, true) then leaked = true end end
t.ok(not leaked, "with no secret passing through a replaced string.sub, find or gsub")
lines = {}
io.stderr = { write = function(_, ...) for _, x in ipairs({ ... }) do lines[#lines + 1] = x end end }
log.format = "json"
log.add_secret('pa"ss\\word-0123456789')
log.event("x", { v = 'say pa"ss\\word-0123456789' })
log.format = "text"
io.stderr = real
t.ok(not table.concat(lines):find("word-0123456789", 1, true), "a secret JSON escapes is masked too: " .. lines[1])

os.exit(t.done())
