-- What an asset's walk will land in all, and what its writes changed: the
-- figures the page event, the live display and the summary report.
--
-- The progress: a count done of a total, in the unit the walk counts.
-- A walk may be several sources (the time slices of a first run walked at
-- once, the sources of intercom.each, a tag walk's searches), each
-- reporting its own total_count on its pages; the total is their sum.
--   Records landed as rows (contacts, tickets: their child tables are not
--   counted): rows of the main table done of rows in all. Each source's
--   total_count is scaled by the rows its pages landed per record listed
--   (a since filter or a script's filter drops some): exact for plain
--   records, and for every source once its walk has ended. A source that
--   reports no total_count (scroll) counts what it landed; with no report
--   at all the total is unknown (nil).
--   An expansion (conversation_parts, contact_tags, company_segments): the
--   rows are a parent's sub-list, whose number no answer gives ahead, and
--   a parent re-read unchanged lands none. So the progress is parents:
--   walked of the parents' total_count, with the rows landed beside it.
-- Either figure only grows, and done never passes the total: an estimate
-- that falls (a filter dropping more than it did) keeps the higher one,
-- which the end of the walk makes exact.
--
-- The changes. A merge rewrites every record it reads, so "rows written"
-- counts repeats (the re-read lookback, the day edges where slices
-- overlap). As a page is written, the writer reads back the stored key
-- (updated_at) of each record before its upsert, in the same transaction
-- (Table:changes, SQLite): a record absent is new, one stored with another
-- key is changed, one stored with the same key was re-read unchanged.
-- Destinations whose Table:changes answers nil (JSONL, PostgreSQL) count
-- rows written only.
--
--   totals.new() -> Totals
--   Totals:page(src, total_count, listed, landed)   one committed page
--   Totals:total() -> integer | nil      rows in all (nil for an expansion)
--   Totals:progress(rows) -> fields, text   what a page event says:
--     {total =} (rows), or {parents =, parents_total =, parent =} for an
--     expansion; text: " of about N", or " (P of about Q conversations)"
--   totals.changes(tbl, counts)          counts.new/changed/unchanged += the last write's
local M = {}

local Totals = {}
Totals.__index = Totals

function M.new()
  return setmetatable({ by = {}, order = {}, high = {} }, Totals)
end

function Totals:page(src, total_count, listed, landed)
  local s = self.by[src]
  if not s then
    s = { listed = 0, landed = 0 }
    self.by[src] = s
    self.order[#self.order + 1] = s
  end
  local e = type(src) == "table" and src.expansion
  -- A plan's own expansion (a tag walk's) names no parent: its records.
  if e and not self.parent then self.parent = type(e.parent) == "string" and e.parent or "record" end
  if math.type(total_count) == "integer" then s.total = total_count end
  s.listed = s.listed + listed
  s.landed = s.landed + landed
end

-- The sum over the sources of done (a source's `field`) and of what each
-- will have done at its end (scaled by per(s) where it reports a total).
local function sum(self, field, per)
  local total, known = 0, false
  for _, s in ipairs(self.order) do
    if s.total then
      known = true
      total = total + math.max(s[field], math.floor(s.total * per(s) + 0.5))
    else
      total = total + s[field]
    end
  end
  return known and total or nil
end

-- The highest of what was shown, the estimate and done: never backwards,
-- never below done.
local function held(self, name, estimate, done)
  if estimate == nil and self.high[name] == nil then return nil end
  local v = math.max(self.high[name] or 0, estimate or 0, done)
  self.high[name] = v
  return v
end

function Totals:total()
  if self.parent then return nil end
  local rows = 0
  for _, s in ipairs(self.order) do rows = rows + s.landed end
  return held(self, "rows", sum(self, "landed", function(s) return s.listed > 0 and s.landed / s.listed or 1 end),
    rows)
end

-- "conversation" -> "conversations", "company" -> "companies".
local function plural(noun)
  if noun:match("[^aeiou]y$") then return noun:sub(1, -2) .. "ies" end
  return noun .. "s"
end

function Totals:progress(rows)
  if not self.parent then
    local total = self:total()
    if total then total = math.max(total, rows) end
    return { total = total }, total and (" of about " .. total) or ""
  end
  local parents = 0
  for _, s in ipairs(self.order) do parents = parents + s.listed end
  local of = held(self, "parents", sum(self, "listed", function() return 1 end), parents)
  local noun = plural(self.parent)
  return { parents = parents, parents_total = of, parent = noun },
    of and (" (%d of about %d %s)"):format(parents, of, noun) or (" (%d %s)"):format(parents, noun)
end

-- Adds what the page just written to `tbl` did (see the header); call it
-- inside the page's transaction, after the write.
function M.changes(tbl, counts)
  local new, changed, same
  if tbl.changes then new, changed, same = tbl:changes() end
  if not new then return end
  counts.new = (counts.new or 0) + new
  counts.changed = (counts.changed or 0) + changed
  counts.unchanged = (counts.unchanged or 0) + same
end

return M
