-- The walk over one page source (icx.source): requests one page after the
-- other, each page an icx.json.Page, and keeps what only a walk can know:
-- a server that hands back the cursor it was given (a loop), and the scroll
-- rules (one scroll per app: wait visibly, up to scroll_wait=70 s, while
-- another is open; restart from the beginning when Intercom says so (500)
-- or the scroll expired (404), at most max_restarts=3 times).
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
local log = require "icx.log"
local sched = require "icx.sched"
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

-- Ends the walk (generic-for close value, or explicit). Intercom has no call
-- to drop a scroll; an abandoned one expires a minute after its last page.
function Walk:close()
  if self.done then return end
  self.done = true
  if self.source.style == "scroll" and self.req and self.req.query and self.req.query.scroll_param then
    log.verbose("%s: scroll abandoned after page %d (Intercom expires it within a minute)",
      self.source.path, self.number)
  end
end
Walk.__close = Walk.close

-- "icx.paginate.Walk cursor /contacts (page 3)"
function Walk:__tostring()
  return ("icx.paginate.Walk %s %s (page %d%s)"):format(self.source.style, tostring(self.source.path),
    self.number, self.done and ", done" or "")
end

-- Sends one request of the walk; for scroll, returns the response of a
-- status the scroll rules handle (400, 404, 500) instead of raising.
function Walk:send(req)
  return self.client:request {
    method = req.method, path = req.path, query = req.query, body = req.body,
    stats = self.ctx.stats, accept = self.source.accept,
  }
end

-- Applies the scroll rules to a non-200 response: returns the request to
-- send next (after waiting, or from the start), or raises.
function Walk:scroll_trouble(req, resp)
  local src = self.source
  -- Any JSON may come back (a number, a string): only an object has errors.
  local body = require("cjson.safe").decode(resp.body)
  if type(body) ~= "table" then body = {} end
  local first = type(body.errors) == "table" and body.errors[1] or {}
  local code = type(first) == "table" and first.code or nil
  if resp.status == 400 and code == "scroll_exists" then
    local limit = src.scroll_wait or 70
    local now = sched.now()
    self.wait_started = self.wait_started or now
    local waited = now - self.wait_started
    if waited >= limit then
      errors.raise("http", ("%s: another scroll is still open after waiting %d s; Intercom allows one"
        .. " per app: stop the other client, or wait a minute and run again"):format(src.path, math.floor(waited)),
        { code = "scroll_exists", status = 400, url = resp.url, request_id = body.request_id })
    end
    if not self.announced then
      self.announced = true
      log.info("%s: another scroll is open (Intercom allows one per app); waiting up to %d s for it to expire",
        src.path, limit)
    end
    sched.sleep(math.min(src.scroll_poll or 2, limit - waited))
    return req
  end
  if resp.status == 500 or resp.status == 404 then
    self.restarts = self.restarts + 1
    local max = src.max_restarts or 3
    local why = resp.status == 500 and "Intercom asked to restart it (HTTP 500)" or "it expired (HTTP 404)"
    if self.restarts > max then
      errors.raise("http", ("%s: the scroll failed %d times (%s); giving up"):format(src.path,
        self.restarts, why), { code = resp.status == 500 and "scroll_restart" or "scroll_expired",
        status = resp.status, url = resp.url, request_id = body.request_id })
    end
    log.warn("%s: restarting the scroll from the beginning after page %d: %s", src.path, self.number, why)
    self.restarted = true
    return src:first(self.ctx)
  end
  -- Any other 400: not a scroll rule; report it like any refused request.
  error(self.client:status_error(resp, req.method or "GET", self.client:shown(resp.url)), 0)
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
    req = walk:scroll_trouble(req, resp)
  end
  walk.wait_started, walk.announced = nil, nil
  local page = M.page_of(resp, walk.list_key, req.method)
  walk.number = walk.number + 1
  walk.req, walk.url = req, resp.url
  local total = val(page:meta("total_count"))
  local info = { number = walk.number, total_count = math.type(total) == "integer" and total or nil,
    url = resp.url, request = req, status = resp.status, restarted = walk.restarted or nil,
    reused = resp.reused }
  walk.restarted = nil
  local nxt = walk.source:after(req, page, walk)
  if nxt and walk.source.guard_loop then
    -- A server that hands back the cursor it was given would loop forever.
    -- (A scroll keeps one scroll_param throughout: not a loop.)
    local a, b = nxt.query or {}, req.query or {}
    local ca = nxt.body and nxt.body.pagination and nxt.body.pagination.starting_after
    local cb = req.body and req.body.pagination and req.body.pagination.starting_after
    if nxt.path == req.path and a.starting_after == b.starting_after and a.page == b.page
      and ca == cb then
      errors.raise("http", ("%s returned the same next page as the one requested; stopping"
        .. " to avoid a loop"):format(resp.url), { code = "pagination_loop", url = resp.url })
    end
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
