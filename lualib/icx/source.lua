-- icx.source: a page source. One class per pagination style, each with the
-- same small interface, so the walk (icx.paginate), the runner, `icx plan`
-- and --reconcile ask a source instead of reading its flags:
--
--   src:first(ctx) -> request            the first request (icx plan shows it)
--   src:after(request, page, walk) -> request | nil   the next, nil at the end
--   src:keep(key_value, ctx) -> boolean  whether a record is written: a source
--                                        the server cannot filter drops what
--                                        is older than ctx.since
--   src:filters(ctx) -> boolean          whether keep can drop anything
--   src:past(oldest, ctx) -> boolean     whether the walk may stop after a page
--                                        whose oldest key is `oldest`
--   src:landed(page_max, best) -> key | nil   where the cursor may move once a
--                                        page committed (nil: not before the end)
--   src:done()                           the walk reached its natural end
--   src:parts(client, ctx) -> {source...}, together | nil   walk these instead
--   src:lists_all() -> boolean           whether the walk reads every record
--
-- Data fields: style, method, path, query, list_key, per_page, key (the
-- field the cursor follows), body (search: table or function(ctx)), next
-- (custom), sources (each), and the walk's knobs scroll_wait, scroll_poll,
-- max_restarts. Sources are built by icx.intercom for scripts; a script may
-- also give a plain table {style = ..., ...}, which source.from checks.
--
--   source.new(style, fields) -> Source     (fields becomes the object)
--   source.from(v) -> Source                a Source, or a checked plain table
--   source.is(v) -> boolean
--   source.STYLES
local errors = require "icx.errors"
local json = require "icx.json"
local keys = require "icx.keys"

local M = {}

M.STYLES = { "cursor", "search", "page", "scroll", "single", "custom", "each" }

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

local Source = {}
Source.__index = Source
Source.__name = "icx.source.Source"

function Source:__tostring()
  return ("icx.source %s %s"):format(self.style, tostring(self.path or ""))
end

function Source:keep(v, ctx)
  return not (self.since_filter and ctx.since and math.type(v) == "integer" and v < ctx.since)
end

function Source:filters(ctx) return (self.since_filter and ctx.since) and true or false end

function Source:past(oldest, ctx)
  return (self.newest_first and ctx.since and oldest and oldest < ctx.since) and true or false
end

-- Ascending walks may move the cursor with every page; slices of one walk
-- to the watermark; any other order only when the walk is complete.
function Source:landed(page_max, best)
  if self.watermark then
    self.watermark:page(self.slice, page_max)
    return self.watermark:value()
  end
  if self.ascending then return best end
  return nil
end

function Source:done()
  if self.watermark then self.watermark:finish(self.slice) end
end

function Source:parts() return nil end

-- A walk sees every record when nothing filters on the server and nothing
-- stops it early.
function Source:lists_all() return (self.since_filter and not self.newest_first) and true or false end

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
Cursor.guard_loop = true
function Cursor:first()
  local q = copy(self.query)
  q.per_page = self.per_page or 150
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
local Search = class "search"
Search.guard_loop = true
function Search:first(ctx)
  local body = self.body
  if type(body) == "function" then body = body(ctx) end
  body = copy(body)
  body.pagination = { per_page = self.per_page or 150 }
  return { method = self.method or "POST", path = self.path, query = copy(self.query), body = body }
end
function Search:after(req, page)
  local sa = next_cursor(page)
  if not sa then return nil end
  local body = copy(req.body)
  body.pagination = { per_page = req.body.pagination.per_page, starting_after = sa }
  return { method = req.method, path = req.path, query = req.query, body = body }
end
-- A long range is walked as time slices at once (not a slice again).
function Search:parts(client, ctx)
  if self.slice then return nil end
  local plan = require("icx.slices").plan(client, self, ctx)
  return plan, true
end

-- Page numbers: pages.next as a URL (followed as is), an object or a number;
-- stop on null, an empty page or page >= total_pages.
local Page = class "page"
Page.guard_loop = true
function Page:first()
  local q = copy(self.query)
  q.page = 1
  q.per_page = self.per_page or 150
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
-- The walk handles the scroll's own errors (one scroll per app, restarts).
local Scroll = class "scroll"
Scroll.accept = { 400, 404, 500 }
function Scroll:first()
  return { method = self.method or "GET", path = self.path, query = copy(self.query) }
end
function Scroll:after(_, page)
  if page:count() == 0 then return nil end
  local param = val(page:meta("scroll_param"))
  if type(param) ~= "string" or param == "" then return nil end
  local q = copy(self.query)
  q.scroll_param = param
  return { method = self.method or "GET", path = self.path, query = q }
end

-- One response, no next page.
local Single = class "single"
function Single:first()
  return { method = self.method or "GET", path = self.path, query = copy(self.query), body = self.body }
end
function Single:after() return nil end

-- The escape hatch: the script's next(prev, ctx) decides every request;
-- prev is nil for the first, else {page=, request=, number=, url=}.
local Custom = class "custom"
function Custom:first(ctx) return self.next(nil, ctx) end
function Custom:after(req, page, walk)
  return self.next({ page = page, request = req, number = walk.number, url = walk.url }, walk.ctx)
end

-- Several sources walked one after the other into one table.
local Each = class "each"
function Each:first(ctx) return self.sources[1]:first(ctx) end
function Each:after() return nil end
function Each:parts() return self.sources, false end
function Each:lists_all() return false end

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
  if style == "search" and type(fields.body) ~= "table" and type(fields.body) ~= "function" then
    error("icx.source: a search source needs body = table or function(ctx)", 2)
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
  "sources", "scroll_wait", "scroll_poll", "max_restarts" }

-- A Source as is, or a plain table checked and copied into one.
function M.from(v)
  if M.is(v) then return v end
  if type(v) ~= "table" then error("icx.source: a source must be a table", 2) end
  local k, hint = keys.unknown(v, PLAIN_KEYS)
  if k then error(("icx.source: unknown source field '%s'%s"):format(k, hint), 2) end
  local fields = copy(v)
  return M.new(v.style, fields)
end

return M
