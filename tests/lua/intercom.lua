-- icx.intercom's helpers: the first request each builds from a script's
-- options. A query parameter the script gives is sent as given; the run's
-- lower bound goes in since_param (since_default on a first run, a second
-- less with since_exclusive); misuse names the helper and the option.
local t = dofile "tests/lib/tap.lua"
local intercom = require "icx.intercom"
local source = require "icx.source"

-- A script's query.per_page is the one sent, and the cost counts with it.
for _, fn in ipairs { "list", "cursor" } do
  local src = intercom[fn]("/things", { query = { per_page = 50, state = "open" } })
  local q = src:first({}).query
  t.is(q.per_page, 50, fn .. ": query.per_page given by the script is sent as given")
  t.is(q.state, "open", fn .. ": the script's other parameters too")
  t.is(src:describe().cost, "1 request per 50 records", fn .. ": the cost counts the script's per_page")
  t.is(intercom[fn]("/things", { per_page = 30 }):first({}).query.per_page, 30, fn .. ": per_page option")
  t.is(intercom[fn]("/things"):first({}).query.per_page, 150, fn .. ": 150 by default")
  t.raises(function() intercom[fn]("/things", { per_page = 20, query = { per_page = 50 } }) end,
    "per_page = 20 and query.per_page = 50 disagree", fn .. ": per_page twice, differently, is refused")
end
t.is(intercom.list("/things", { query = { page = 3 } }):first({}).query.page, 3,
  "list: a script's query.page is where the walk starts")
t.is(source.from { style = "page", path = "/p", query = { per_page = 7 } }:first({}).query.per_page, 7,
  "a plain-table source's query.per_page is kept too")

-- The cursor as a query parameter.
local logs = intercom.list("/admins/activity_logs", { since_param = "created_at_after", since_default = 0,
  since_exclusive = true, key = "created_at", list_key = "activity_logs" })
t.is(logs:first({}).query.created_at_after, "0", "a first run sends since_default")
t.is(logs:first({ since = 1700000000 }).query.created_at_after, "1699999999",
  "a later run sends the lower bound, a second early (since_exclusive)")
t.is(logs:first({ since = 0 }).query.created_at_after, "0", "never below 0")
local inclusive = intercom.cursor("/events", { since_param = "since" })
t.is(inclusive:first({}).query.since, nil, "no since_default: a first run leaves the parameter out")
t.is(inclusive:first({ since = 1700000000 }).query.since, "1700000000", "without since_exclusive: the bound itself")
t.is(intercom.cursor("/events", { since_param = "from", since_default = "2024-01-01" }):first({}).query.from,
  "2024-01-01", "since_default may be a string")
local plain = source.from { style = "cursor", path = "/e", since_param = "after", since_default = 5 }
t.is(plain:first({}).query.after, "5", "a plain-table source takes since_param and since_default")
t.like(logs:describe().endpoint, "created_at_after=<cursor %- lookback %- 1 s; 0 on a first run>",
  "icx list says what the parameter holds")

-- Later pages keep the bound: page numbers copy the query, cursors too.
local req = logs:first({ since = 100 })
local page = require("icx.json").page('{"activity_logs":[{"id":"1"}],"pages":{"page":1,"total_pages":2,'
  .. '"next":{"page":2}}}', "activity_logs")
local nxt = logs:after(req, page)
t.is(nxt and nxt.query.created_at_after, "99", "the next page keeps created_at_after")
page:close()

t.raises(function() intercom.list("/x", { since_param = "a", query = { a = 1 } }) end,
  "query.a is also since_param", "a parameter given both ways is refused")
t.raises(function() intercom.list("/x", { since_default = 0 }) end, "since_default needs since_param",
  "since_default alone is refused")
t.raises(function() intercom.list("/x", { since_param = "a", since_exclusive = "yes" }) end,
  "since_exclusive needs since_param and must be true or false", "since_exclusive must be a boolean")
t.raises(function() intercom.cursor("/x", { since_param = "a b" }) end, "since_param must be a query parameter's name",
  "since_param must be a name")
t.raises(function() intercom.get("/x", { since_param = "a" }) end, "unknown", "get takes no since_param")

-- Every helper's options are listed in intercom.OPTIONS, and only those pass.
for fn, list in pairs(intercom.OPTIONS) do
  t.ok(type(intercom[fn]) == "function" and #list > 0, "intercom.OPTIONS names a helper: " .. fn)
end

t.done()
