-- --metrics-file PATH: a run's figures in the Prometheus text exposition
-- format (version 0.0.4), for node_exporter's textfile collector and the
-- like: a batch job leaves its last run's figures in a file that is
-- scraped. Every figure is a gauge of the last run (a counter would reset
-- with every run), labelled with the workspace (connection) and, per
-- asset, the asset. The file is written beside its final name and renamed
-- over it, so a scrape never reads half a file; the temporary name does
-- not end in .prom, which the collector would read.
--
--   metrics.render(summary [, connection]) -> text
--       summary: the run's (icx.runner, or several workspaces' from the
--       CLI, or the summary of a run that failed before any asset);
--       connection: the label when the summary names none
--   metrics.write(path, summary [, connection])   raises a usage error
--       when the file cannot be written
local errors = require "icx.errors"
local status = require "icx.status"

local M = {}

-- name, help, per ("asset" or "run"), value(item) -> number | nil (nil: no sample)
local function num(k) return function(x) return tonumber(x[k]) end end
local SERIES = {
  { "icx_asset_rows", "Rows the last run landed in the asset's table.", "asset", num("rows") },
  { "icx_asset_requests", "HTTP requests the last run of the asset sent.", "asset", num("requests") },
  { "icx_asset_retries", "Requests of the asset's last run that were retried.", "asset", num("retries") },
  { "icx_asset_rate_limited", "HTTP 429 answers in the asset's last run.", "asset", num("rate_limited") },
  { "icx_asset_duration_seconds", "How long the asset's last run took.", "asset", num("seconds") },
  { "icx_asset_success", "1 when the asset's last run landed, 0 when it failed, was interrupted or skipped.",
    "asset", function(a) return a.status == "ok" and 1 or 0 end },
  { "icx_asset_skipped", "1 when the asset was skipped because another run held it.", "asset",
    function(a) return a.status == "skipped" and 1 or 0 end },
  { "icx_asset_last_success_timestamp_seconds", "When the asset last landed (this run or an earlier one).",
    "asset", function(a) return status.seconds(a.last_success_at) end },
  { "icx_run_exit_code", "The exit code of the last run (see icx help).", "run", num("exit_code") },
  { "icx_run_duration_seconds", "How long the last run took.", "run", num("seconds") },
  { "icx_run_requests", "HTTP requests the last run sent.", "run", num("requests") },
  { "icx_run_success", "1 when the last run exited 0.", "run", function(w) return w.exit_code == 0 and 1 or 0 end },
  { "icx_run_last_run_timestamp_seconds", "When the last run ended.", "run", num("ended") },
  { "icx_run_last_success_timestamp_seconds",
    "The oldest of the run's assets' last successes: every asset landed at least once since.", "run",
    num("last_success") },
}

-- A label value escaped as the format wants: backslash, quote, newline.
local function label(v)
  return (tostring(v):gsub("[\\\"\n]", { ["\\"] = "\\\\", ['"'] = '\\"', ["\n"] = "\\n" }))
end

-- Integers as integers; others to the microsecond (seconds and times:
-- anything finer is noise of the float, not a figure).
local function value(v)
  if math.type(v) == "integer" or (v == math.floor(v) and math.abs(v) < 2 ^ 53) then
    return ("%d"):format(math.tointeger(v))
  end
  return (("%.6f"):format(v):gsub("0+$", ""))
end

-- The workspaces of a summary: {connection, exit_code, seconds, requests,
-- assets = {...}} each.
local function workspaces(summary, connection, ended)
  local out, by = {}, {}
  local list = summary.workspaces or { { connection = summary.connection or connection or "",
    exit_code = summary.exit_code, seconds = summary.seconds, requests = summary.requests } }
  for _, w in ipairs(list) do
    local item = { connection = w.connection, exit_code = w.exit_code, seconds = w.seconds, requests = w.requests,
      ended = ended, assets = {} }
    out[#out + 1] = item
    by[w.connection] = item
  end
  for _, a in ipairs(summary.assets or {}) do
    local w = by[a.connection] or out[1]
    w.assets[#w.assets + 1] = a
  end
  for _, w in ipairs(out) do
    local oldest
    for _, a in ipairs(w.assets) do
      local at = status.seconds(a.last_success_at)
      if not at then
        oldest = nil
        break
      end
      oldest = math.min(oldest or at, at)
    end
    w.last_success = oldest
  end
  return out
end

function M.render(summary, connection)
  local ws = workspaces(summary, connection, require("icx.sys").time())
  local lines = {}
  for _, s in ipairs(SERIES) do
    local name, help, per, get = s[1], s[2], s[3], s[4]
    local samples = {}
    for _, w in ipairs(ws) do
      if per == "run" then
        local v = get(w)
        if v then samples[#samples + 1] = ('%s{connection="%s"} %s'):format(name, label(w.connection), value(v)) end
      else
        for _, a in ipairs(w.assets) do
          local v = get(a)
          if v then
            samples[#samples + 1] = ('%s{connection="%s",asset="%s"} %s'):format(name, label(w.connection),
              label(a.asset), value(v))
          end
        end
      end
    end
    if #samples > 0 then
      lines[#lines + 1] = "# HELP " .. name .. " " .. help
      lines[#lines + 1] = "# TYPE " .. name .. " gauge"
      table.move(samples, 1, #samples, #lines + 1, lines)
    end
  end
  return table.concat(lines, "\n") .. "\n"
end

function M.write(path, summary, connection)
  local sys = require "icx.sys"
  local text = M.render(summary, connection)
  local tmp = ("%s.%d.tmp"):format(path, sys.pid())
  local f, err = io.open(tmp, "wb")
  local ok, werr = f ~= nil, err
  if f then
    ok, werr = f:write(text)
    ok = ok and f:close()
  end
  if ok then ok, werr = sys.rename(tmp, path) end
  if not ok then
    sys.remove(tmp)
    errors.raise("usage", ("--metrics-file: cannot write '%s': %s"):format(path, tostring(werr)))
  end
end

return M
