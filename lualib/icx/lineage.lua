-- Lineage: which invocation of icx wrote what. A run id names one
-- invocation (every asset and workspace of one `icx run`); with icx's
-- version it is in every JSON event (icx.log's stamp), the summary and each
-- _icx_runs row, so a row, a log line and a scheduler's record of the job
-- join on it. The columns a run added to a table are found by comparing
-- the destination's registry of icx's columns (_icx_columns) before and
-- after the asset.
--
--   lineage.run_id() -> "20261207T152421Z-3f9a0c1e"   one per process
--   lineage.version() -> "0.9.0"                      the VERSION file, compiled in
--   lineage.columns(d) -> {[table] = {[column] = true}}
--   lineage.added(before, after, tables) -> {[table] = {column, ...}}
--       the columns of tables in after and not in before; a table before
--       knows nothing of is new (created by this run), not listed
local M = {}

local id

-- Random hex from the kernel; pid and clock where there is none, so two
-- processes started in the same second still differ.
local function nonce()
  local f = io.open("/dev/urandom", "rb")
  local bytes = f and f:read(4)
  if f then f:close() end
  if bytes and #bytes == 4 then
    return (bytes:gsub(".", function(c) return ("%02x"):format(c:byte()) end))
  end
  local sys = require "icx.sys"
  return ("%08x"):format((sys.pid() * 7919 + math.floor(sys.now() * 1e6)) & 0xffffffff)
end

-- Sortable by time, unique by the nonce.
function M.run_id()
  id = id or (os.date("!%Y%m%dT%H%M%SZ", math.floor(require("icx.sys").time())) .. "-" .. nonce())
  return id
end

function M.version() return require("icx.http").version end

function M.columns(d)
  local out = {}
  for _, r in ipairs(d:columns()) do
    out[r.tbl] = out[r.tbl] or {}
    out[r.tbl][r.col] = true
  end
  return out
end

function M.added(before, after, tables)
  local out = {}
  for _, name in ipairs(tables) do
    local was, now = before[name], after[name]
    if was and now then
      local cols = {}
      for c in pairs(now) do if not was[c] then cols[#cols + 1] = c end end
      if #cols > 0 then
        table.sort(cols)
        out[name] = cols
      end
    end
  end
  return out
end

return M
