-- icx.status's times and staleness, icx.metrics' text format (label
-- escaping, several workspaces, a summary with no asset) and icx.lineage's
-- run id and added columns, without a run.
local t = dofile "tests/lib/tap.lua"
local status = require "icx.status"
local metrics = require "icx.metrics"
local lineage = require "icx.lineage"

-- Times as the three Stores write them.
t.is(status.seconds("1970-01-01T00:00:00.000Z"), 0, "the epoch")
t.is(status.seconds("2026-12-07T15:24:21Z"), 1796657061, "a time without milliseconds")
t.ok(math.abs(status.seconds("2024-02-29T23:59:59.250Z") - 1709251199.25) < 1e-6, "a leap day, milliseconds kept")
t.is(status.seconds("2026-12-07"), nil, "a date alone is not a run time")
t.is(status.seconds(nil), nil, "nothing is no time")

local rows = {
  { connection = "a", asset = "fresh", last_success_at = "2026-12-07T10:00:00.000Z" },
  { connection = "a", asset = "old", last_success_at = "2026-12-06T10:00:00.000Z" },
  { connection = "a", asset = "never" },
}
local now = status.seconds("2026-12-07T11:00:00.000Z")
local stale = status.stale(rows, 6 * 3600, now)
t.is(#stale, 2, "two stale of three")
t.is(stale[1].row.asset .. "," .. stale[1].age, "old,90000", "the old one, with its age")
t.is(stale[2].row.asset .. "," .. tostring(stale[2].age), "never,nil", "the one that never succeeded, no age")
t.is(#status.stale(rows, 25 * 3600 + 1, now), 1, "a wider limit leaves only the one that never succeeded")

-- The text format: HELP and TYPE before each family's samples, labels
-- escaped, one series per label set.
local text = metrics.render({ exit_code = 1, seconds = 2.5, requests = 7,
  workspaces = { { connection = "w1", exit_code = 0, seconds = 2.5, requests = 4 },
    { connection = 'w"2\\', exit_code = 1, seconds = 1.25, requests = 3 } },
  assets = { { connection = "w1", asset = "tags", status = "ok", rows = 3, requests = 1, retries = 0,
    rate_limited = 0, seconds = 0.5, last_success_at = "2026-12-07T10:00:00.000Z" },
    { connection = 'w"2\\', asset = "new\nline", status = "failed", rows = 0, requests = 3, retries = 2,
      rate_limited = 1, seconds = 1.25 } } })
t.ok(text:sub(-1) == "\n", "the text ends with a newline")
t.like(text, '\nicx_asset_rows{connection="w1",asset="tags"} 3\n', "a sample with its labels")
t.like(text, 'icx_asset_retries{connection="w\\"2\\\\",asset="new\\nline"} 2\n', "quotes, backslashes and newlines escaped")
t.like(text, '\nicx_run_exit_code{connection="w1"} 0\nicx_run_exit_code{connection="w\\"2\\\\"} 1\n',
  "one exit code per workspace")
t.like(text, '\nicx_asset_last_success_timestamp_seconds{connection="w1",asset="tags"} 1796637600\n',
  "the last success as Unix seconds")
t.ok(not text:find('icx_asset_last_success_timestamp_seconds{connection="w\\"2', 1, true),
  "no sample for an asset that never succeeded")
t.ok(not text:find("icx_run_last_success_timestamp_seconds{connection=\"w\\\"2", 1, true),
  "nor for its workspace")
local families, order_ok, current, seen = {}, true, nil, {}
for line in text:gmatch("([^\n]*)\n") do
  local kind, name = line:match("^# (%u+) (%S+)")
  if kind == "TYPE" then
    families[name] = true
  elseif not kind then
    local n = line:match("^([%w_:]+)[{ ]")
    if not families[n] or (n ~= current and seen[n]) then order_ok = false end
    seen[n], current = true, n
  end
end
t.ok(order_ok, "every sample after its family's TYPE, each family's samples together")
t.like(text, "# HELP icx_asset_rate_limited [^\n]+\n# TYPE icx_asset_rate_limited gauge\n", "HELP then TYPE gauge")

local failed = metrics.render({ status = "error", exit_code = 2, seconds = 0.1, requests = 0, assets = {} }, "prod")
t.like(failed, 'icx_run_exit_code{connection="prod"} 2\n', "a run that failed before any asset: its exit code")
t.ok(not failed:find("icx_asset_", 1, true), "and no asset series")

-- Lineage.
local id = lineage.run_id()
t.like(id, "^%d%d%d%d%d%d%d%dT%d%d%d%d%d%dZ%-%x%x%x%x%x%x%x%x$", "a run id: UTC time and a random suffix")
t.is(lineage.run_id(), id, "one per process")
t.is(lineage.version(), require("icx.http").version, "the version is the binary's")
local added = lineage.added({ t1 = { a = true }, t3 = { x = true } },
  { t1 = { a = true, c = true, b = true }, t2 = { z = true }, t3 = { x = true } }, { "t1", "t2", "t3" })
t.is(table.concat(added.t1 or {}, ","), "b,c", "new columns of an existing table, sorted")
t.is(added.t2, nil, "a new table's columns are not listed")
t.is(added.t3, nil, "nor a table that gained none")

os.exit(t.done())
