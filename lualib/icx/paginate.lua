-- Walks Intercom's paginated endpoints. A source is data naming one of the
-- styles below (with a Lua function as the escape hatch); a walk turns it
-- into requests, one page after the other, each page an icx.json.Page.
--
--   for page, info in paginate.pages(client, source, ctx) do ... end
--     page: icx.json.Page (count, raw, get, meta, record, body)
--     info: {number=, total_count=, url=, request=, status=, restarted=,
--            reused= (the page came over a kept-alive connection)}
--   paginate.first_request(source, ctx) -> request   (no network: icx plan)
--
-- source = {style=, method=, path=, query={}, list_key="data", per_page=150,
--           body=table|function(ctx) (search), next=function (custom)}
-- Other fields (the runner's cursor rules) are left alone.
--
--   cursor  GET ?per_page=&starting_after= from pages.next.starting_after
--   search  POST, {"pagination": {"per_page", "starting_after"}} in the body
--   page    ?page=&per_page=; pages.next is a URL, an object or null; stops
--           at total_pages
--   scroll  ?scroll_param= from the last page; stops on empty data. Waits
--           (visibly, up to scroll_wait=70 s) while another scroll is open,
--           and restarts from the beginning when Intercom says so (500) or
--           the scroll expired (404), at most max_restarts=3 times
--   single  one response
--   custom  source.next(prev, ctx) -> request | nil, where prev is nil for
--           the first request, else {page=, request=, number=, url=}
--
-- The generic for's fourth value closes the walk, so `break` (or an error)
-- ends it cleanly.
local errors = require "icx.errors"
local json = require "icx.json"
local log = require "icx.log"
local sched = require "icx.sched"

local M = {}

local STYLES = { "cursor", "search", "page", "scroll", "single", "custom" }

-- A shallow copy (nil gives {}), so requests never share query tables.
local function copy(t)
  local out = {}
  for k, v in pairs(t or {}) do out[k] = v end
  return out
end

-- A decoded JSON value, with null as nil.
local function val(v)
  if v == nil or v == json.null then return nil end
  return v
end

-- The cursor in pages.next ({starting_after=...}), or nil at the end.
local function next_cursor(page)
  local pages = val(page:meta("pages"))
  local nxt = type(pages) == "table" and val(pages.next) or nil
  local sa = type(nxt) == "table" and val(nxt.starting_after) or nil
  return type(sa) == "string" and sa ~= "" and sa or nil
end

-- Request builders per style: first(src, ctx) -> req and
-- after(src, req, page, walk) -> next req or nil.
local STRATEGY = {}

-- GET /contacts: per_page, then starting_after in the query string.
STRATEGY.cursor = {
  first = function(src)
    local q = copy(src.query)
    q.per_page = src.per_page or 150
    return { method = src.method or "GET", path = src.path, query = q }
  end,
  after = function(_, req, page)
    local sa = next_cursor(page)
    if not sa then return nil end
    local q = copy(req.query)
    q.starting_after = sa
    return { method = req.method, path = req.path, query = q }
  end,
}

-- POST .../search: the body once, with pagination{per_page, starting_after}.
STRATEGY.search = {
  first = function(src, ctx)
    local body = src.body
    if type(body) == "function" then body = body(ctx) end
    body = copy(body)
    body.pagination = { per_page = src.per_page or 150 }
    return { method = src.method or "POST", path = src.path, query = copy(src.query), body = body }
  end,
  after = function(_, req, page)
    local sa = next_cursor(page)
    if not sa then return nil end
    local body = copy(req.body)
    body.pagination = { per_page = req.body.pagination.per_page, starting_after = sa }
    return { method = req.method, path = req.path, query = req.query, body = body }
  end,
}

-- Page numbers: pages.next as a URL (followed as is), an object or a number;
-- stop on null, an empty page or page >= total_pages.
STRATEGY.page = {
  first = function(src)
    local q = copy(src.query)
    q.page = 1
    q.per_page = src.per_page or 150
    return { method = src.method or "GET", path = src.path, query = q }
  end,
  after = function(_, req, page)
    if page:count() == 0 then return nil end
    local pages = val(page:meta("pages"))
    if type(pages) ~= "table" then return nil end
    local cur, total = val(pages.page), val(pages.total_pages)
    if math.type(cur) == "integer" and math.type(total) == "integer" and cur >= total then return nil end
    local nxt = val(pages.next)
    if type(nxt) == "string" and nxt ~= "" then
      -- A ready-made URL: follow it as given (Client:url checks the host).
      return { method = req.method, path = nxt }
    end
    local q = copy(req.query)
    if type(nxt) == "table" and math.type(val(nxt.page)) == "integer" then
      q.page = nxt.page
    elseif type(nxt) == "table" and type(val(nxt.starting_after)) == "string" then
      q.starting_after = nxt.starting_after
    elseif math.type(nxt) == "integer" then
      q.page = nxt
    else
      return nil
    end
    return { method = req.method, path = req.path, query = q }
  end,
}

-- GET /companies/scroll: bare first, then scroll_param until data is empty.
-- The error rules (scroll_exists, restart) are in Walk:scroll_trouble.
STRATEGY.scroll = {
  first = function(src)
    return { method = src.method or "GET", path = src.path, query = copy(src.query) }
  end,
  after = function(src, _, page)
    if page:count() == 0 then return nil end
    local param = val(page:meta("scroll_param"))
    if type(param) ~= "string" or param == "" then return nil end
    local q = copy(src.query)
    q.scroll_param = param
    return { method = src.method or "GET", path = src.path, query = q }
  end,
}

-- One response, no next page.
STRATEGY.single = {
  first = function(src)
    return { method = src.method or "GET", path = src.path, query = copy(src.query), body = src.body }
  end,
  after = function() return nil end,
}

-- The escape hatch: source.next decides every request.
STRATEGY.custom = {
  first = function(src, ctx) return src.next(nil, ctx) end,
  after = function(src, req, page, walk)
    return src.next({ page = page, request = req, number = walk.number, url = walk.url }, walk.ctx)
  end,
}

-- Checks a source before any request.
local function check_source(source)
  if type(source) ~= "table" then error("icx.paginate: source must be a table", 3) end
  if not STRATEGY[source.style] then
    error(("icx.paginate: unknown style '%s' (one of %s)%s"):format(tostring(source.style),
      table.concat(STYLES, ", "), errors.did_you_mean(tostring(source.style), STYLES)), 3)
  end
  if source.style == "custom" then
    if type(source.next) ~= "function" then error("icx.paginate: a custom source needs next = function(prev, ctx)", 3) end
  elseif type(source.path) ~= "string" then
    error("icx.paginate: source needs a path", 3)
  end
  if source.style == "search" and type(source.body) ~= "table" and type(source.body) ~= "function" then
    error("icx.paginate: a search source needs body = table or function(ctx)", 3)
  end
end

-- The first request of a walk, without sending it (icx plan).
function M.first_request(source, ctx)
  check_source(source)
  return STRATEGY[source.style].first(source, ctx or {})
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
    stats = self.ctx.stats, accept = self.source.style == "scroll" and { 400, 404, 500 } or nil,
  }
end

-- Applies the scroll rules to a non-200 response: returns the request to
-- send next (after waiting, or from the start), or raises.
function Walk:scroll_trouble(req, resp)
  local src = self.source
  local body = require("cjson.safe").decode(resp.body) or {}
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
    return STRATEGY.scroll.first(src, self.ctx)
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
  local page, err = json.page(resp.body, walk.list_key)
  if not page then
    errors.raise("json", ("malformed JSON from %s %s: %s"):format(req.method or "GET", resp.url,
      tostring(err)), { code = "json", url = resp.url, status = resp.status, request_id = resp.request_id })
  end
  walk.number = walk.number + 1
  walk.req, walk.url = req, resp.url
  local total = val(page:meta("total_count"))
  local info = { number = walk.number, total_count = math.type(total) == "integer" and total or nil,
    url = resp.url, request = req, status = resp.status, restarted = walk.restarted or nil,
    reused = resp.reused }
  walk.restarted = nil
  local nxt = walk.strategy.after(walk.source, req, page, walk)
  local style = walk.source.style
  if nxt and (style == "cursor" or style == "search" or style == "page") then
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

-- Starts a walk: returns the generic-for triple and the walk as the value
-- the for statement closes.
function M.pages(client, source, ctx)
  check_source(source)
  ctx = ctx or {}
  local walk = setmetatable({
    client = client, source = source, ctx = ctx, number = 0, restarts = 0, done = false,
    strategy = STRATEGY[source.style], list_key = source.list_key or "data",
  }, Walk)
  walk.pending = walk.strategy.first(source, ctx)
  return step, walk, nil, walk
end

return M
