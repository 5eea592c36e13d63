-- icx.intercom: what asset scripts use to say what to read from Intercom.
-- Each function returns a page source (icx.source) with the paging style,
-- list key and cursor rule the endpoint needs; the engine does the rest.
-- This is the whole script API of this module:
--
--   intercom.search(path [, opts])   POST .../search, ascending on the key;
--       opts: query (a filter ANDed with the key bound), key="updated_at",
--             granularity ("day" for contacts, else "second"), per_page=150,
--             list_key, sort, slices=4 (time slices on a long first run)
--   intercom.scroll(path [, opts])   GET .../scroll; opts: key, list_key
--   intercom.list(path [, opts])     page numbers; opts: query, per_page,
--             list_key, key, method, newest_first (stop past the cursor),
--             since_param, since_default, since_exclusive (below)
--   intercom.cursor(path [, opts])   starting_after in the query string;
--             opts: query, per_page, list_key, key, since_param,
--             since_default, since_exclusive
--     since_param names the query parameter the run's lower bound goes in
--     (cursor - lookback, or --since), as Unix seconds; since_default is
--     its value on a first run (none: the parameter is left out);
--     since_exclusive sends one second less, for a server whose bound is
--     `>` (created_at_after). A query parameter the script gives is sent
--     as given: icx adds per_page and page only where the script gave none.
-- intercom.OPTIONS lists every option each helper takes (docs/SCRIPTING.md
-- documents the same list; tests/lua/scripting_doc.lua compares them).
--   intercom.get(path [, opts])      one response; opts: query, list_key
--   intercom.each{source, ...}       several sources into one table
--   intercom.custom(next [, opts])   next(prev, ctx) -> request | nil;
--             opts: list_key
--   intercom.contact_tag_pairs([opts]), intercom.contact_company_pairs([opts])
--             contact search expanded into (contact_id, tag_id | company_id)
--             rows: the sources of scripts/contact_tags.lua and
--             contact_companies.lua (opts as intercom.search, and for tags
--             first_load: "auto", "tag walk" or "per contact", icx.tagwalk)
--   intercom.contact_tags(), intercom.contact_companies()   child tables
--             of contacts (costlier: fetched inside the contacts walk)
--   intercom.conversation_parts([opts])   a source of parts (see
--             icx.associations)
--   intercom.company_segments()   the companies scroll expanded into
--             (company_id, segment_id): one GET per company, every run
--   intercom.child(table)   a child table of a list its parent embeds whole,
--             0 requests: "ticket_parts", "ticket_part_counts" (tickets),
--             "company_tags" (companies), "conversation_tags",
--             "conversation_contacts", "conversation_teammates" (conversations)
--   intercom.expand(source, sublist)   source, its pages expanded into each
--             record's sub-list (icx.expansion.sublist's declaration, data
--             only): the rows the asset lands instead of the records
--
-- The HTTP client itself is icx.client; scripts reach it as ctx.client.
local associations = require "icx.associations"
local expansion = require "icx.expansion"
local keys = require "icx.keys"
local source = require "icx.source"

local M = {}

local function copy(t)
  local out = {}
  for k, v in pairs(t or {}) do out[k] = v end
  return out
end

-- Every option of each helper: the one list check() and the docs test read.
local SEARCH = { "query", "granularity", "key", "per_page", "list_key", "sort", "slices" }
local SINCE = { "since_param", "since_default", "since_exclusive" }
M.OPTIONS = {
  search = SEARCH,
  scroll = { "key", "list_key" },
  list = { "query", "per_page", "list_key", "key", "method", "newest_first", table.unpack(SINCE) },
  cursor = { "query", "per_page", "list_key", "key", table.unpack(SINCE) },
  get = { "query", "list_key" },
  custom = { "list_key" },
  contact_tag_pairs = { "first_load", table.unpack(SEARCH) },
  contact_company_pairs = SEARCH,
  conversation_parts = SEARCH,
}

local function check(fn, opts)
  if opts ~= nil and type(opts) ~= "table" then error(("intercom.%s: options must be a table"):format(fn), 3) end
  keys.check(opts or {}, M.OPTIONS[fn], "intercom." .. fn, 3)
  return opts or {}
end

-- The paging fields of a list or cursor source from its options: a
-- per_page the script put in query is the one sent (and counted), and the
-- lower bound's parameter is checked here, where the script's line is.
local function paged(fn, opts)
  local query = copy(opts.query)
  if opts.per_page ~= nil and query.per_page ~= nil and tostring(opts.per_page) ~= tostring(query.per_page) then
    error(("intercom.%s: per_page = %s and query.per_page = %s disagree: give one"):format(fn,
      tostring(opts.per_page), tostring(query.per_page)), 3)
  end
  local p = opts.since_param
  if p ~= nil and (type(p) ~= "string" or not p:match("^[%w_%.%[%]-]+$")) then
    error(("intercom.%s: since_param must be a query parameter's name"):format(fn), 3)
  end
  if p ~= nil and query[p] ~= nil then
    error(("intercom.%s: query.%s is also since_param: the run's lower bound fills it; give since_default"
      .. " for a first run's value"):format(fn, p), 3)
  end
  local d = opts.since_default
  if d ~= nil and (p == nil or (math.type(d) ~= "integer" and type(d) ~= "string")) then
    error(("intercom.%s: since_default needs since_param and must be Unix seconds (an integer) or a string")
      :format(fn), 3)
  end
  if opts.since_exclusive ~= nil and (p == nil or type(opts.since_exclusive) ~= "boolean") then
    error(("intercom.%s: since_exclusive needs since_param and must be true or false"):format(fn), 3)
  end
  local given = query.per_page ~= nil and math.tointeger(tonumber(query.per_page)) or nil
  return { query = query, per_page = opts.per_page or given or 150,
    since_param = p, since_default = d, since_exclusive = opts.since_exclusive or nil }
end

-- The list key Intercom uses for a search endpoint's results.
local function search_list_key(path)
  local what = path:match("^/(%w+)/search$")
  if what == "tickets" or what == "conversations" then return what end
  return "data"
end

-- The body is the search class's (icx.source): bounded on key from the
-- run's lower bound, by whole days on contacts (granularity "day").
function M.search(path, opts)
  opts = check("search", opts)
  local key = opts.key or "updated_at"
  local sort = opts.sort or { field = key, order = "ascending" }
  local ascending = sort.field == key and sort.order == "ascending"
  return source.new("search", {
    method = "POST", path = path, list_key = opts.list_key or search_list_key(path),
    per_page = opts.per_page or 150, key = key, where = opts.query, sort = sort,
    granularity = opts.granularity or (path:match("^/contacts") and "day" or "second"),
    -- A sort of the user's that is not ascending on the key says nothing
    -- about what has landed until the walk ends, and cannot be sliced.
    ascending = ascending, slices = ascending and (opts.slices or 4) or 1,
  })
end

-- Scroll (companies): the only way past 10,000 companies. No order and no
-- server filter, so records older than the cursor are dropped client-side
-- and the cursor moves only when the scroll has completed.
function M.scroll(path, opts)
  opts = check("scroll", opts)
  return source.new("scroll", { method = "GET", path = path, list_key = opts.list_key or "data",
    key = opts.key or "updated_at", since_filter = true })
end

-- Page-number listing. With `newest_first` (articles) the walk stops once a
-- whole page is older than the cursor.
function M.list(path, opts)
  opts = check("list", opts)
  local p = paged("list", opts)
  return source.new("page", { method = opts.method or "GET", path = path, query = p.query,
    list_key = opts.list_key or "data", per_page = p.per_page, since_param = p.since_param,
    since_default = p.since_default, since_exclusive = p.since_exclusive,
    key = opts.key or "updated_at", since_filter = true, newest_first = opts.newest_first and true or nil })
end

-- Cursor in the query string (GET /contacts, GET /conversations).
function M.cursor(path, opts)
  opts = check("cursor", opts)
  local p = paged("cursor", opts)
  return source.new("cursor", { method = "GET", path = path, query = p.query,
    list_key = opts.list_key or "data", per_page = p.per_page, since_param = p.since_param,
    since_default = p.since_default, since_exclusive = p.since_exclusive,
    key = opts.key or "updated_at", since_filter = true })
end

-- A single response (tags, segments, teams, admins, data_attributes).
function M.get(path, opts)
  opts = check("get", opts)
  return source.new("single", { method = "GET", path = path, query = copy(opts.query),
    list_key = opts.list_key or "data" })
end

-- Several sources walked one after the other into one table
-- (data_attributes: one GET per model).
function M.each(list)
  if type(list) ~= "table" or #list == 0 then error("intercom.each expects a list of sources", 2) end
  return source.new("each", { sources = copy(list) })
end

-- The escape hatch: next(prev, ctx) returns each request.
function M.custom(next_fn, opts)
  opts = check("custom", opts)
  if type(next_fn) ~= "function" then error("intercom.custom expects next = function(prev, ctx)", 2) end
  return source.new("custom", { next = next_fn, list_key = opts.list_key or "data" })
end

M.contact_tags = associations.contact_tags
M.contact_companies = associations.contact_companies
-- opts.first_load: "auto" (the default: icx.tagwalk surveys the workspace
-- and takes the cheaper way), "tag walk" or "per contact".
local FIRST_LOAD = { auto = true, ["tag walk"] = true, ["per contact"] = true }
function M.contact_tag_pairs(opts)
  local how
  if type(opts) == "table" and opts.first_load ~= nil then
    how = opts.first_load
    if not FIRST_LOAD[how] then
      error(("intercom.contact_tag_pairs: first_load must be \"auto\", \"tag walk\" or \"per contact\", not %s")
        :format(type(how) == "string" and ("%q"):format(how) or tostring(how)), 2)
    end
    opts = copy(opts)
    opts.first_load = nil
  end
  return associations.contact_pairs("tags", M.search("/contacts/search", opts), how)
end
function M.contact_company_pairs(opts)
  return associations.contact_pairs("companies", M.search("/contacts/search", opts))
end
function M.conversation_parts(opts)
  return associations.conversation_parts(M.search("/conversations/search", opts))
end

function M.company_segments()
  return associations.company_segments(M.scroll "/companies/scroll")
end
M.child = associations.child

-- A script's own sub-list (ticket parts: embedded = {member =
-- "ticket_parts", items = "ticket_parts"}, counts = {...}); first_load
-- plans are icx's own, not a script's.
function M.expand(src, decl)
  if not source.is(src) then error("intercom.expand: the first argument must be a source", 2) end
  if type(decl) ~= "table" or decl.first_load ~= nil then
    error("intercom.expand: the second argument must be a sub-list declaration (see icx.expansion)", 2)
  end
  local ok, e = pcall(expansion.sublist, decl)
  if not ok then error(tostring(e):gsub("^[^:]*:%d+: ", ""), 2) end
  src.expansion = e
  return src
end

return M
