-- Page sources for Intercom endpoints, with the cursor rules each endpoint
-- needs. A source is data that icx.paginate walks (style, method, path,
-- query, body, list_key, per_page) plus three fields the runner reads:
--   cursor        "page": pages come in ascending key order, so the cursor may
--                 advance with every committed page; "end": order says nothing,
--                 so it advances only when the walk completes.
--   since_filter  drop records whose key is older than ctx.since (endpoints
--                 with no server-side filter), saving writes, not requests.
--   stop_past_since  newest-first endpoints: stop paging once a whole page
--                 is older than ctx.since.
local errors = require "icx.errors"

local M = {}

-- One day plus an hour: a `>` bound this far before `since` lands on an
-- earlier calendar day than `since` in every timezone, DST included, so the
-- whole day of the cursor is re-read (contact search matches dates by day).
local DAY_MARGIN = 86400 + 3600

local function copy(t)
  local out = {}
  for k, v in pairs(t or {}) do out[k] = v end
  return out
end

local OPTION_NAMES = { "query", "granularity", "key", "per_page", "list_key", "sort", "slices" }

local function check_options(fn, opts, allowed)
  for k in pairs(opts) do
    local ok = false
    for _, a in ipairs(allowed) do if a == k then ok = true end end
    if not ok then
      error(("%s: unknown option '%s'%s"):format(fn, tostring(k), errors.did_you_mean(tostring(k), allowed)), 3)
    end
  end
end

-- The lower bound filter on the incremental key for a search body.
-- granularity "day" (contacts) re-reads the cursor's whole day; "second"
-- (conversations, tickets) uses `> since - 1`, i.e. since inclusive.
function M.since_filter(key, since, granularity)
  local bound
  if not since then
    bound = 0
  elseif granularity == "day" then
    bound = since - DAY_MARGIN
  else
    bound = since - 1
  end
  return { field = key, operator = ">", value = bound }
end

-- Search endpoint (contacts, conversations, tickets): sorted ascending on
-- the key, so the cursor advances page by page; `query` adds the user's own
-- filter, ANDed with the key bound. A long range (a first run, a full
-- refresh) is walked as `slices` time slices at once (see icx.runner):
-- slice_body(ctx, lo, hi) asks for key in [lo, hi), lo nil meaning the
-- run's own lower bound and hi nil no upper bound.
function M.search(path, opts)
  opts = opts or {}
  check_options("intercom.search", opts, OPTION_NAMES)
  local key = opts.key or "updated_at"
  local granularity = opts.granularity or (path:match("^/contacts") and "day" or "second")
  local extra = opts.query
  local sort = opts.sort or { field = key, order = "ascending" }
  local ascending = sort.field == key and sort.order == "ascending"
  local function body(lower, hi)
    local parts = { lower }
    -- `<` excludes the whole day of hi on day-granular search; the next
    -- slice's lower bound re-reads that day, so slices overlap, never gap.
    if hi then parts[#parts + 1] = { field = key, operator = "<", value = hi } end
    if extra then parts[#parts + 1] = extra end
    return { query = #parts == 1 and parts[1] or { operator = "AND", value = parts }, sort = sort }
  end
  return {
    style = "search", method = "POST", path = path,
    list_key = opts.list_key or (path:match("^/(%w+)/search$") == "tickets" and "tickets")
      or (path:match("^/(%w+)/search$") == "conversations" and "conversations") or "data",
    per_page = opts.per_page or 150,
    -- A sort of the user's that is not ascending on the key says nothing
    -- about what has landed until the walk ends.
    cursor = ascending and "page" or "end", key = key, granularity = granularity,
    slices = ascending and (opts.slices or 4) or 1,
    body = function(ctx) return body(M.since_filter(key, ctx and ctx.since, granularity)) end,
    slice_body = function(ctx, lo, hi)
      return body(M.since_filter(key, lo or (ctx and ctx.since), granularity), hi)
    end,
  }
end

-- Scroll (companies): the only way past 10,000 companies. No order and no
-- server filter, so records older than the cursor are dropped client-side
-- and the cursor moves only when the scroll has completed.
function M.scroll(path, opts)
  opts = opts or {}
  check_options("intercom.scroll", opts, { "key", "list_key" })
  return { style = "scroll", method = "GET", path = path, list_key = opts.list_key or "data",
    cursor = "end", key = opts.key or "updated_at", since_filter = true }
end

-- Page-number listing. With `newest_first` (articles) the walk stops once a
-- whole page is older than the cursor.
function M.list(path, opts)
  opts = opts or {}
  local newest_first = opts.newest_first
  opts.newest_first = nil
  check_options("intercom.list", opts, { "query", "per_page", "list_key", "key", "method" })
  local method = opts.method or "GET"
  local incremental_key = opts.key or "updated_at"
  return { style = "page", method = method, path = path, query = copy(opts.query),
    list_key = opts.list_key or "data", per_page = opts.per_page or 150,
    cursor = "end", key = incremental_key, since_filter = true, stop_past_since = newest_first or nil }
end

-- Cursor in the query string (GET /contacts, GET /conversations).
function M.cursor(path, opts)
  opts = opts or {}
  check_options("intercom.cursor", opts, { "query", "per_page", "list_key", "key" })
  return { style = "cursor", method = "GET", path = path, query = copy(opts.query),
    list_key = opts.list_key or "data", per_page = opts.per_page or 150,
    cursor = "end", key = opts.key or "updated_at", since_filter = true }
end

-- A single response (tags, segments, teams, admins, data_attributes).
function M.get(path, opts)
  opts = opts or {}
  check_options("intercom.get", opts, { "query", "list_key" })
  return { style = "single", method = "GET", path = path, query = copy(opts.query),
    list_key = opts.list_key or "data" }
end

-- Several sources walked one after the other into one table
-- (data_attributes: one GET per model).
function M.each(list)
  if type(list) ~= "table" or #list == 0 then error("intercom.each expects a list of sources", 2) end
  return { style = "each", sources = list, cursor = "end" }
end

-- The first request a source would send, for `icx plan` (no network).
function M.first_request(source, ctx)
  if source.style == "each" then return M.first_request(source.sources[1], ctx) end
  local req = { method = source.method or "GET", path = source.path, query = copy(source.query) }
  if source.style == "search" then
    req.body = source.body(ctx)
    req.body.pagination = { per_page = source.per_page }
  elseif source.style == "page" or source.style == "cursor" then
    req.query.per_page = source.per_page
    if source.style == "page" then req.query.page = 1 end
  end
  return req
end

return M
