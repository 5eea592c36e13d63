-- icx.reconcile's delete feed (GET /conversations/deleted, API 2.16)
-- against a fake client: every page asked for with Intercom-Version 2.16
-- (Client:request's version; e2e 0801 checks what the simulator receives); a workspace that does not serve it (404, or 400
-- intercom_version_invalid) gives nil, not an error; any other 400 raises.
local t = dofile "tests/lib/tap.lua"
local json = require "icx.json"
local reconcile = require "icx.reconcile"

local spec = { name = "conversations", reconcile = { deleted = "/conversations/deleted" } }

-- answers: list of {status, body table}, one per request in turn.
local function fake(answers)
  local c = { sent = {} }
  function c.request(_, req)
    c.sent[#c.sent + 1] = { path = req.path, page = req.query and req.query.page,
      version = "Intercom-Version: " .. tostring(req.version) }
    local a = table.remove(answers, 1)
    return { status = a[1], body = json.encode(a[2]), url = req.path }
  end
  return c
end

local function page(ids, n, total)
  local list = {}
  for i, id in ipairs(ids) do list[i] = { id = id, deleted_at = 100 + i, object = "conversation" } end
  return { type = "conversations.list", conversations = setmetatable(list, json.array_mt),
    pages = { type = "pages", page = n, total_pages = total } }
end

local c = fake { { 200, page({ "1", "2" }, 1, 2) }, { 200, page({ "3" }, 2, 2) } }
t.is(table.concat(reconcile.feed_ids(c, spec, {}), ","), "1,2,3", "every page of the feed")
t.is(#c.sent, 2, "two requests for two pages")
t.is(c.sent[1].version .. "|" .. c.sent[2].version, "Intercom-Version: 2.16|Intercom-Version: 2.16",
  "each sent with Intercom-Version: 2.16")

t.is(reconcile.feed_ids(fake { { 404, { type = "error.list" } } }, spec, {}), nil, "404: not served, nil")
local v400 = { type = "error.list", errors = { { code = "intercom_version_invalid",
  message = "Requested resource is not available in current API version." } } }
t.is(reconcile.feed_ids(fake { { 400, v400 } }, spec, {}), nil, "400 intercom_version_invalid: not served, nil")
local bad = { type = "error.list", errors = { { code = "parameter_invalid", message = "per_page must be >= 1" } } }
local ok, err = pcall(reconcile.feed_ids, fake { { 400, bad } }, spec, {})
t.ok(not ok and tostring(err):find("400 parameter_invalid", 1, true), "any other 400 raises, naming its code")
ok = pcall(reconcile.feed_ids, fake { { 200, { type = "list" } } }, spec, {})
t.ok(not ok, "an answer with no conversations list raises")

os.exit(t.done())
