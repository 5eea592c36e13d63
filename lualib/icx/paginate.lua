-- The walk over one page source (icx.source): requests one page after the
-- other, each page an icx.json.Page. What a style knows stays in its class:
-- the next request (after, which sees the response headers), whether it
-- repeats the last (a loop, which stops the walk), what a status the class
-- accepts means (trouble), an end before the last page
-- (abandon). The walk keeps the state those questions share (page number,
-- restarts, walk.trouble while the source waits out a status).
--
--   for page, info in paginate.pages(client, source, ctx) do ... end
--   paginate.page_of(resp, list_key [, method]) -> Page   or raises a json error
--     source: an icx.source.Source, or a plain table source.from accepts
--     page: icx.json.Page (count, raw, get, meta, record, body)
--     info: {number=, total_count=, url=, request=, status=, restarted=,
--            reused= (the page came over a kept-alive connection)}
--
-- The generic for's fourth value closes the walk, so `break` (or an error)
-- ends it cleanly.
local errors = require "icx.errors"
local json = require "icx.json"
local source = require "icx.source"

local M = {}

-- A decoded JSON value, with null as nil.
local function val(v)
  if v == nil or v == json.null then return nil end
  return v
end

local Walk = {}
Walk.__index = Walk
Walk.__name = "icx.paginate.Walk"

-- Ends the walk (generic-for close value, or explicit); the source hears
-- of an end before its last page (walk.req is dropped at the natural end).
function Walk:close()
  if self.done then return end
  self.done = true
  if self.req then self.source:abandon(self) end
end
Walk.__close = Walk.close

-- "icx.paginate.Walk cursor /contacts (page 3)"
function Walk:__tostring()
  return ("icx.paginate.Walk %s (page %d%s)"):format(tostring(self.source):gsub("^icx%.source ", ""),
    self.number, self.done and ", done" or "")
end

-- Sends one request of the walk; a status the source accepts (its
-- trouble answers it) comes back instead of raising. A request carrying
-- its answer (a page a survey fetched) is answered without sending.
function Walk:send(req)
  local answer = req.answer
  if answer then
    req.answer = nil
    return answer
  end
  return self.client:request {
    method = req.method, path = req.path, query = req.query, body = req.body,
    stats = self.ctx.stats, accept = self.source.accept,
  }
end

-- One step of the generic for: the next page and its info, or nil.
local function step(walk)
  if walk.done then return nil end
  local req = walk.pending
  if not req then
    walk.req = nil -- the natural end: nothing was abandoned
    walk:close()
    return nil
  end
  local resp
  while true do
    resp = walk:send(req)
    if resp.status >= 200 and resp.status < 300 then break end
    req = walk.source:trouble(walk, req, resp)
  end
  walk.trouble = nil
  local page = M.page_of(resp, walk.list_key, req.method)
  walk.number = walk.number + 1
  walk.req, walk.url = req, resp.url
  local total = val(page:meta("total_count"))
  local info = { number = walk.number, total_count = math.type(total) == "integer" and total or nil,
    url = resp.url, request = req, status = resp.status, restarted = walk.restarted or nil,
    reused = resp.reused }
  walk.restarted = nil
  local nxt = walk.source:after(req, page, walk, resp.headers)
  -- A server that hands back the cursor it was given would loop forever.
  if nxt and walk.source:repeats(req, nxt) then
    errors.raise("http", ("%s returned the same next page as the one requested; stopping"
      .. " to avoid a loop"):format(resp.url), { code = "pagination_loop", url = resp.url })
  end
  walk.pending = nxt
  return page, info
end

-- A response's page, or a json error: "malformed" only when the body is
-- not JSON; valid JSON without the list names the members it does have,
-- since a wrong list_key is the likely cause.
function M.page_of(resp, list_key, method)
  local page, err = json.page(resp.body, list_key)
  if page then return page end
  local fields = { code = "json", url = resp.url, status = resp.status, request_id = resp.request_id }
  local v = list_key and require("cjson.safe").decode(resp.body)
  if type(v) == "table" and v[list_key] == nil and next(v) ~= nil and #v == 0 then
    local members = {}
    for k in pairs(v) do members[#members + 1] = tostring(k) end
    table.sort(members)
    errors.raise("json", ("%s %s: the response has no list '%s'; its members are: %s; set list_key%s")
      :format(method or "GET", resp.url, list_key, table.concat(members, ", "),
        errors.did_you_mean(list_key, members)), fields)
  end
  errors.raise("json", ("malformed JSON from %s %s: %s"):format(method or "GET", resp.url, tostring(err)), fields)
end

-- Starts a walk: returns the generic-for triple and the walk as the value
-- the for statement closes.
function M.pages(client, src, ctx)
  src = source.from(src)
  ctx = ctx or {}
  local walk = setmetatable({
    client = client, source = src, ctx = ctx, number = 0, restarts = 0, done = false,
    list_key = src.list_key or "data",
  }, Walk)
  walk.pending = src:first(ctx)
  return step, walk, nil, walk
end

return M
