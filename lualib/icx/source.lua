-- icx.source: a page source. One class per pagination style, each with the
-- same small interface, so the walk (icx.paginate), the runner, `icx plan`,
-- `icx list` and --reconcile ask a source instead of reading its flags:
--
--   src:first(ctx) -> request            the first request (icx plan shows it)
--   src:after(request, page, walk, headers) -> request | nil   the next, nil at
--                                        the end; headers: the response's
--   src:repeats(request, next) -> boolean   the next asks for the page just
--                                        read (a server looping: the walk stops)
--   src:trouble(walk, request, response) -> request   a status the class
--                                        accepts (src.accept) other than 2xx:
--                                        what to send next, or raises
--   src:abandon(walk)                    the walk ends before its last page
--   src:keep(key_value, ctx) -> boolean  whether a record is written: a source
--                                        the server cannot filter drops what
--                                        is older than ctx.since or at or past
--                                        ctx.before (a backfill's end)
--   src:filters(ctx) -> boolean          whether keep can drop anything
--   src:past(oldest, ctx) -> boolean     whether the walk may stop after a page
--                                        whose oldest key is `oldest`
--   src:landed(page_max, best) -> key | nil   where the cursor may move once a
--                                        page committed (nil: not before the
--                                        end); asks only: the runner counts
--                                        the page in a slice's watermark first
--   src:done()                           the walk reached its natural end
--   src:parts(client, ctx) -> {source...}, together | nil   walk these instead
--   src:lists_all() -> boolean           whether the walk reads every record
--   src:describe() -> {endpoint =, cost =}   what `icx list` says of it
--   src:expand(page, ctx) -> page, side, extra   src.expansion's rows
-- A search (the class of intercom.search) also has:
--   src:body_of(ctx) -> body             the search body, bounded below by
--                                        ctx.since and above by ctx.before
--                                        (or the slice's range)
--   src:sliceable() -> boolean; src:slice_of(i, watermark, lo, hi) -> Source
--   src:upper(before) -> key             the `<` bound that reads every record
--                                        below before (a backfill's end)
--   src:edge(t) -> key                   the cut nearest t that slices meet
--                                        at exactly (icx.slices)
--   src:newest_first_of(ctx) -> Source | nil   a day-granular incremental
--                                        run's walk, newest first
--   src:probe(client, body, stats) -> total, first key | nil, ms   one
--                                        per_page=1 search of that body
--   src:count(client, lo, hi, stats) -> n   how many records Intercom holds
--                                        with lo <= key < hi (one request
--                                        for one record: total_count); on
--                                        day-granular search lo and hi are
--                                        the workspace's midnights
--
-- Data fields: style, method, path, query, list_key, per_page, key (the
-- field the cursor follows), since_param, since_default, since_exclusive
-- (the run's lower bound as a query parameter: query_of), body (search:
-- table or function(ctx); without it a search is bounded on key, see
-- Search), next (custom), sources (each), expansion (an icx.expansion:
-- what each page of records expands into), and the walk's knobs
-- scroll_wait, scroll_poll, max_restarts. Sources are built by
-- icx.intercom for scripts; a script may also give a plain table
-- {style = ..., ...}, which source.from checks.
--
--   source.new(style, fields) -> Source     (fields becomes the object)
--   source.from(v) -> Source                a Source, or a checked plain table
--   source.is(v) -> boolean
--   source.STYLES, source.FIELDS            the styles; a plain table's fields
local errors = require "icx.errors"
local json = require "icx.json"
local keys = require "icx.keys"
local log = require "icx.log"
local sched = require "icx.sched"
local slices = require "icx.slices"

local M = {}

M.STYLES = { "cursor", "search", "page", "scroll", "single", "custom", "each" }

-- A shallow copy (nil gives {}), so requests never share query tables.
local function copy(t)
  local out = {}
  for k, v in pairs(t or {}) do out[k] = v end
  return out
end

-- The first request's query: the script's parameters as it gave them
-- (icx adds what it pages by only where the script gave none), and the
-- run's lower bound in since_param: ctx.since (less a second where the
-- server's bound is exclusive), since_default on a first run.
local function query_of(self, ctx)
  local q = copy(self.query)
  local since = ctx and ctx.since
  if since and self.since_exclusive then since = math.max(since - 1, 0) end
  if since == nil then since = self.since_default end
  if self.since_param and since ~= nil then q[self.since_param] = tostring(since) end
  return q
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

local Source = {}
Source.__index = Source
Source.__name = "icx.source.Source"

function Source:__tostring()
  return ("icx.source %s %s"):format(self.style, tostring(self.path or ""))
end

-- A source the server does not bound keeps the run's window itself: from
-- ctx.since, and below ctx.before (a backfill's --until).
function Source:keep(v, ctx)
  if not self.since_filter or math.type(v) ~= "integer" then return true end
  return not ((ctx.since and v < ctx.since) or (ctx.before and v >= ctx.before))
end

function Source:filters(ctx) return (self.since_filter and (ctx.since or ctx.before)) and true or false end

function Source:past(oldest, ctx)
  return (self.newest_first and ctx.since and oldest and oldest < ctx.since) and true or false
end

-- Ascending walks may move the cursor with every page; slices of one walk
-- to the watermark (which the runner has counted the page in); any other
-- order only when the walk is complete.
function Source:landed(_, best)
  if self.watermark then return self.watermark:value() end
  if self.ascending then return best end
  return nil
end

-- No page of a walk is read twice, unless a class says how it could be.
function Source:repeats() return false end

-- A class that accepts no status of its own: a refused request is an error.
function Source:trouble(walk, req, resp)
  error(walk.client:status_error(resp, req.method or "GET", walk.client:shown(resp.url)), 0)
end

function Source:abandon() end

-- What one request reads.
function Source:describe()
  local bound = self.since_param and ("?%s=<cursor - lookback%s%s>"):format(self.since_param,
    self.since_exclusive and " - 1 s" or "",
    self.since_default ~= nil and ("; " .. tostring(self.since_default) .. " on a first run") or "")
  return { endpoint = (self.method or "GET") .. " " .. tostring(self.path) .. (bound or ""),
    cost = ("1 request per %d records"):format(self.per_page or 150) }
end

function Source:done()
  if self.watermark then self.watermark:finish(self.slice) end
end

function Source:parts() return nil end

-- The rows a page of records expands into (src.expansion, icx.expansion).
function Source:expand(page, ctx) return self.expansion:expand(page, ctx) end

-- A walk sees every record when nothing filters on the server and nothing
-- stops it early.
function Source:lists_all() return (self.since_filter and not self.newest_first) and true or false end

-- Whether next asks for the page req did: the same path with the same
-- starting_after (query or search body) and page number. A scroll keeps
-- one scroll_param throughout, so it never asks this.
local function same_page(_, req, nxt)
  local a, b = nxt.query or {}, req.query or {}
  local ca = nxt.body and nxt.body.pagination and nxt.body.pagination.starting_after
  local cb = req.body and req.body.pagination and req.body.pagination.starting_after
  return nxt.path == req.path and a.starting_after == b.starting_after and a.page == b.page and ca == cb
end

-- Each style is a class inheriting Source.
local CLASSES = {}
local function class(style)
  local c = setmetatable({ style = style }, { __index = Source })
  c.__index = c
  c.__name = "icx.source." .. style:sub(1, 1):upper() .. style:sub(2)
  c.__tostring = Source.__tostring
  CLASSES[style] = c
  return c
end

-- GET /contacts: per_page, then starting_after in the query string.
local Cursor = class "cursor"
Cursor.repeats = same_page
function Cursor:first(ctx)
  local q = query_of(self, ctx)
  if q.per_page == nil then q.per_page = self.per_page or 150 end
  return { method = self.method or "GET", path = self.path, query = q }
end
function Cursor:after(req, page)
  local sa = next_cursor(page)
  if not sa then return nil end
  local q = copy(req.query)
  q.starting_after = sa
  return { method = req.method, path = req.path, query = q }
end

-- POST .../search: the body once, with pagination{per_page, starting_after}.
-- Unless a script gives the body, it is bounded on `key` from data: below
-- by ctx.since (or the slice's lo), above by a slice's hi, ANDed with the
-- script's filter `where`, sorted by `sort`.
local Search = class "search"
Search.repeats = same_page

-- One day plus an hour: a `>` bound this far before `since` lands on an
-- earlier calendar day than `since` in every timezone, DST included, so the
-- whole day of the cursor is re-read (contact search matches dates by day).
local DAY_MARGIN = 86400 + 3600

-- The `>` bound on the key that reads everything from `since` on:
-- granularity "day" (contacts) re-reads since's whole day; "second"
-- (conversations, tickets) uses `> since - 1`, i.e. since inclusive.
function Search:bound(since)
  if not since then return 0 end
  if self.granularity == "day" then return since - DAY_MARGIN end
  return since - 1
end

-- The `<` bound that reads every record below `before` (a backfill's
-- end): on day-granular search `<` ends before its value's whole day, so
-- the bound moves to a day after before's last second (DAY_MARGIN, as in
-- bound), reading the rest of that day too; the cursor's ceiling keeps
-- the cursor below `before`.
function Search:upper(before)
  if self.granularity == "day" then return before - 1 + DAY_MARGIN end
  return before
end

function Search:body_of(ctx)
  local body = self.body
  if body ~= nil then
    if type(body) == "function" then body = body(ctx) end
    return copy(body)
  end
  local key = self.key
  local parts = { { field = key, operator = ">", value = self:bound(self.lo or (ctx and ctx.since)) } }
  -- `<` excludes the whole day of hi on day-granular search; the next
  -- slice's lower bound re-reads that day, so slices overlap, never gap.
  -- The last slice (and an unsliced walk) ends where the run's window does.
  local hi = self.hi or (ctx and ctx.before and self:upper(ctx.before))
  if hi then parts[#parts + 1] = { field = key, operator = "<", value = hi } end
  if self.where then parts[#parts + 1] = self.where end
  return { query = #parts == 1 and parts[1] or { operator = "AND", value = parts }, sort = self.sort }
end

-- A slice whose first page the survey already fetched (answer) hands it to
-- the walk once instead of asking again.
function Search:first(ctx)
  local body = self:body_of(ctx)
  body.pagination = { per_page = self.per_page or 150 }
  local answer = self.answer
  self.answer = nil
  return { method = self.method or "POST", path = self.path, query = copy(self.query), body = body, answer = answer }
end
function Search:after(req, page)
  local sa = next_cursor(page)
  if not sa then return nil end
  local body = copy(req.body)
  body.pagination = { per_page = req.body.pagination.per_page, starting_after = sa }
  return { method = req.method, path = req.path, query = req.query, body = body }
end

-- A search bounded on its key from data can be cut into ranges of it.
function Search:sliceable() return self.body == nil and self.key ~= nil end

-- Where slices may be cut near t so that a slice's `>` bound starts where
-- the previous slice's `<` bound ends. Second-granular search: anywhere (`>
-- t - 1` and `< t`). Day-granular: noon UTC, since `< t` ends before t's
-- day and `> t - DAY_MARGIN` starts at the day after t - 25 h's day, which
-- is t's day wherever the workspace's local time at noon UTC is between
-- 01:00 and 24:00 (UTC-11 to UTC+11, DST included); further out the two
-- share one day, read twice, never missed.
function Search:edge(t)
  if self.granularity == "day" then return t // 86400 * 86400 + 43200 end
  return t
end

-- Slice i of a walk cut into slices: a copy reading keys in (lo, hi), its
-- progress kept in the walk's shared watermark.
function Search:slice_of(i, watermark, lo, hi)
  local sub = copy(self)
  sub.slice, sub.watermark, sub.lo, sub.hi = i, watermark, lo, hi
  return setmetatable(sub, getmetatable(self))
end

-- An incremental run of a day-granular search walked ascending reads the
-- cursor's whole day again (the search cannot start within a day), and on
-- a real workspace that day holds thousands of records. Walked newest
-- first it stops at the first page that reaches below the run's bound
-- (past), so it costs the pages of what changed and one more. The cursor
-- then moves only when the walk completes, to the best key seen: a record
-- updated during the walk jumps above the walk's start and past that key,
-- so the next run reads it.
function Search:newest_first_of(ctx)
  -- A backfill window is walked ascending, its end bound on the server.
  if self.slice or not self.ascending or self.granularity ~= "day" or self.body ~= nil
    or ctx.cursor == nil or ctx.since == nil or ctx.resume_slices or ctx.backfill or ctx.before then
    return nil
  end
  local sub = copy(self)
  sub.sort = { field = self.key, order = "descending" }
  sub.ascending, sub.newest_first, sub.slices, sub.planned = false, true, 1, true
  return setmetatable(sub, getmetatable(self))
end

-- The search matching exactly lo <= key < hi: `> lo - 1` is `>= lo` to
-- the second, and on day-granular search `>` a second before a midnight
-- starts at that midnight, `<` a midnight ends before it.
function Search:window_body(lo, hi)
  local key = self.key
  local parts = { { field = key, operator = ">", value = lo > 0 and lo - 1 or 0 },
    { field = key, operator = "<", value = hi } }
  if self.where then parts[#parts + 1] = self.where end
  return { query = { operator = "AND", value = parts }, pagination = { per_page = 1 } }
end

-- One per_page=1 search with this body: how many records match
-- (total_count), the first one's key, and how long the answer took. The
-- one way icx counts (the slice survey, the completeness check). per_page
-- (default 1) other than 1 makes the answer (the 4th value) a first page.
function Search:probe(client, body, stats, per_page)
  body.pagination = { per_page = per_page or 1 }
  local method = self.method or "POST"
  local resp = client:request { method = method, path = self.path, body = body, stats = stats }
  local page, err = json.page(resp.body, self.list_key)
  if not page then
    errors.raise("json", ("malformed JSON from %s %s: %s"):format(method, resp.url or self.path, err))
  end
  local n = val(page:meta("total_count"))
  local first = page:count() > 0 and page:get(1, self.key) or nil
  page:close()
  if math.type(n) ~= "integer" then
    errors.raise("json", ("%s %s: no total_count in the answer to a count"):format(method, resp.url or self.path))
  end
  return n, math.type(first) == "integer" and first or nil, resp.ms or 0, resp
end

function Search:count(client, lo, hi, stats)
  return (self:probe(client, self:window_body(lo, hi), stats))
end

-- What to walk instead: a first load the expansion plans its own way (a
-- tag walk), else a range holding many records as time slices at once,
-- else a day-granular incremental run newest first. None for a slice, nor
-- for a source such a plan made (planned).
function Search:parts(client, ctx)
  if self.slice then return nil end
  local exp = self.expansion
  if exp and exp.parts and not self.planned then
    local parts, together = exp:parts(client, self, ctx)
    if parts then return parts, together end
  end
  local plan = slices.plan(client, self, ctx)
  if plan then return plan, true end
  local newest = self:newest_first_of(ctx)
  if newest then return { newest }, false end
  return nil
end

-- Page numbers: pages.next as a URL (followed as is), an object or a number;
-- stop on null, an empty page or page >= total_pages.
local Page = class "page"
Page.repeats = same_page
function Page:first(ctx)
  local q = query_of(self, ctx)
  if q.page == nil then q.page = 1 end
  if q.per_page == nil then q.per_page = self.per_page or 150 end
  return { method = self.method or "GET", path = self.path, query = q }
end
function Page:after(req, page)
  if page:count() == 0 then return nil end
  local pages = val(page:meta("pages"))
  if type(pages) ~= "table" then return nil end
  local cur, total = val(pages.page), val(pages.total_pages)
  if math.type(cur) == "integer" and math.type(total) == "integer" and cur >= total then return nil end
  local nxt = val(pages.next)
  if type(nxt) == "string" and nxt ~= "" then
    -- A ready-made URL: follow it as given (the client checks the host).
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
end

-- GET /companies/scroll: bare first, then scroll_param until data is empty.
-- One scroll per app: while another is open (400 scroll_exists) the walk
-- waits visibly, up to scroll_wait=70 s; when Intercom says so (500) or the
-- scroll expired (404) it restarts from the beginning, at most
-- max_restarts=3 times.
local Scroll = class "scroll"
Scroll.accept = { 400, 404, 500 }
function Scroll:first(ctx)
  return { method = self.method or "GET", path = self.path, query = query_of(self, ctx) }
end
function Scroll:after(req, page)
  if page:count() == 0 then return nil end
  local param = val(page:meta("scroll_param"))
  if type(param) ~= "string" or param == "" then return nil end
  local q = copy(req.query)
  q.scroll_param = param
  return { method = self.method or "GET", path = self.path, query = q }
end

-- The scroll rules for a non-2xx response; walk.trouble (dropped by the
-- walk on the next success) holds when this wait started.
function Scroll:trouble(walk, req, resp)
  -- Any JSON may come back (a number, a string): only an object has errors.
  local body = require("cjson.safe").decode(resp.body)
  if type(body) ~= "table" then body = {} end
  local first = type(body.errors) == "table" and body.errors[1] or {}
  local code = type(first) == "table" and first.code or nil
  if resp.status == 400 and code == "scroll_exists" then
    local limit = self.scroll_wait or 70
    local now = sched.now()
    local wait = walk.trouble or { started = now }
    walk.trouble = wait
    local waited = now - wait.started
    if waited >= limit then
      errors.raise("http", ("%s: another scroll is still open after waiting %d s; Intercom allows one"
        .. " per app: stop the other client, or wait a minute and run again"):format(self.path, math.floor(waited)),
        { code = "scroll_exists", status = 400, url = resp.url, request_id = body.request_id })
    end
    if not wait.announced then
      wait.announced = true
      log.info("%s: another scroll is open (Intercom allows one per app); waiting up to %d s for it to expire",
        self.path, limit)
    end
    sched.sleep(math.min(self.scroll_poll or 2, limit - waited))
    return req
  end
  if resp.status == 500 or resp.status == 404 then
    walk.restarts = walk.restarts + 1
    local max = self.max_restarts or 3
    local why = resp.status == 500 and "Intercom asked to restart it (HTTP 500)" or "it expired (HTTP 404)"
    if walk.restarts > max then
      errors.raise("http", ("%s: the scroll failed %d times (%s); giving up"):format(self.path,
        walk.restarts, why), { code = resp.status == 500 and "scroll_restart" or "scroll_expired",
        status = resp.status, url = resp.url, request_id = body.request_id })
    end
    log.warn("%s: restarting the scroll from the beginning after page %d: %s", self.path, walk.number, why)
    walk.restarted = true
    return self:first(walk.ctx)
  end
  -- Any other 400: not a scroll rule; report it like any refused request.
  return Source.trouble(self, walk, req, resp)
end

-- Intercom has no call to drop a scroll; an abandoned one expires a minute
-- after its last page.
function Scroll:abandon(walk)
  local q = walk.req and walk.req.query
  if q and q.scroll_param then
    log.verbose("%s: scroll abandoned after page %d (Intercom expires it within a minute)", self.path, walk.number)
  end
end

function Scroll:describe()
  return { endpoint = Source.describe(self).endpoint, cost = "1 request per scroll page" }
end

-- One response, no next page.
local Single = class "single"
function Single:first(ctx)
  return { method = self.method or "GET", path = self.path, query = query_of(self, ctx), body = self.body }
end
function Single:after() return nil end
function Single:describe() return { endpoint = Source.describe(self).endpoint, cost = "1 request" } end

-- The escape hatch: the script's next(prev, ctx) decides every request;
-- prev is nil for the first, else {page=, request=, number=, url=, headers=}.
local Custom = class "custom"
function Custom:first(ctx) return self.next(nil, ctx) end
function Custom:after(req, page, walk, headers)
  return self.next({ page = page, request = req, number = walk.number, url = walk.url, headers = headers },
    walk.ctx)
end
function Custom:describe()
  return { endpoint = "(computed by the script)", cost = "1 request per page (custom)" }
end

-- Several sources walked one after the other into one table.
local Each = class "each"
function Each:first(ctx) return self.sources[1]:first(ctx) end
function Each:after() return nil end
function Each:parts() return self.sources, false end
function Each:lists_all() return false end
-- Each endpoint once, with how many sources share it.
function Each:describe()
  local eps, seen = {}, {}
  for _, src in ipairs(self.sources) do
    local e = src:describe().endpoint
    if not seen[e] then eps[#eps + 1], seen[e] = e, true end
  end
  return { endpoint = table.concat(eps, ", ") .. (#eps < #self.sources and (" x" .. #self.sources) or ""),
    cost = ("%d requests"):format(#self.sources) }
end

-- Checks fields for a style and makes them a Source of that class.
function M.new(style, fields)
  local c = CLASSES[style]
  if not c then
    error(("icx.source: unknown style '%s' (one of %s)%s"):format(tostring(style),
      table.concat(M.STYLES, ", "), errors.did_you_mean(tostring(style), M.STYLES)), 2)
  end
  if style == "custom" then
    if type(fields.next) ~= "function" then error("icx.source: a custom source needs next = function(prev, ctx)", 2) end
  elseif style == "each" then
    if type(fields.sources) ~= "table" or #fields.sources == 0 then
      error("icx.source: an each source needs a list of sources", 2)
    end
    for i, s in ipairs(fields.sources) do fields.sources[i] = M.from(s) end
  elseif type(fields.path) ~= "string" then
    error("icx.source: a " .. style .. " source needs a path", 2)
  end
  if style == "search" and type(fields.body) ~= "table" and type(fields.body) ~= "function"
    and (fields.body ~= nil or type(fields.key) ~= "string") then
    error("icx.source: a search source needs body = table or function(ctx), or a key to bound it on", 2)
  end
  fields.style = nil
  return setmetatable(fields, c)
end

function M.is(v)
  local mt = getmetatable(v)
  return mt ~= nil and CLASSES[mt.style] == mt
end

-- The fields a plain-table source may have.
local PLAIN_KEYS = { "style", "method", "path", "query", "list_key", "per_page", "key", "body", "next",
  "sources", "scroll_wait", "scroll_poll", "max_restarts", "since_param", "since_default", "since_exclusive" }
M.FIELDS = PLAIN_KEYS

-- A Source as is, or a plain table checked and copied into one.
function M.from(v)
  if M.is(v) then return v end
  if type(v) ~= "table" then error("icx.source: a source must be a table", 2) end
  local k, hint = keys.unknown(v, PLAIN_KEYS)
  if k then error(("icx.source: unknown source field '%s'%s"):format(k, hint), 2) end
  if v.style == "search" and type(v.body) ~= "table" and type(v.body) ~= "function" then
    error("icx.source: a search source needs body = table or function(ctx)", 2)
  end
  local fields = copy(v)
  return M.new(v.style, fields)
end

return M
