-- What an asset's walk will land in all, and what its writes changed: the
-- figures the page event, the live display and the summary report.
--
-- The total. A walk may be several sources (the time slices of a first
-- run walked at once, the sources of intercom.each), each reporting its own
-- total_count on its pages; the asset's total is their sum, re-estimated as
-- each reports. A page of listed records may land as another number of rows
-- (conversations expand into their parts; a since filter or a script's
-- filter drops some), so each source's total_count is scaled by the rows
-- its pages landed per record listed so far: exact for plain records,
-- measured from the conversations' parts for conversation_parts, and exact
-- for every source once its walk has ended. A source that reports no
-- total_count (scroll) counts what it landed; with no report at all the
-- total is nil (unknown).
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
--   Totals:total() -> integer | nil
--   totals.changes(tbl, counts)          counts.new/changed/unchanged += the last write's
local M = {}

local Totals = {}
Totals.__index = Totals

function M.new()
  return setmetatable({ by = {}, order = {} }, Totals)
end

function Totals:page(src, total_count, listed, landed)
  local s = self.by[src]
  if not s then
    s = { listed = 0, landed = 0 }
    self.by[src] = s
    self.order[#self.order + 1] = s
  end
  if math.type(total_count) == "integer" then s.total = total_count end
  s.listed = s.listed + listed
  s.landed = s.landed + landed
end

function Totals:total()
  local sum, known = 0, false
  for _, s in ipairs(self.order) do
    if s.total then
      known = true
      local per = s.listed > 0 and s.landed / s.listed or 1
      sum = sum + math.max(s.landed, math.floor(s.total * per + 0.5))
    else
      sum = sum + s.landed
    end
  end
  return known and sum or nil
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
