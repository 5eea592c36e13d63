-- The live display of `icx run` on a terminal: one line per asset, redrawn
-- in place from the run's events (icx.log), fitted to the terminal's width.
-- A running asset shows rows landed of the true total with a bar (an
-- expansion: its parents walked of their total, and its rows), its
-- requests per second, retries and 429s, elapsed time and an estimate of
-- what is left; a waiting one says so; a finished one collapses into its
-- summary. The first line is the run's: elapsed, requests per second
-- against the connection's budget, assets done.
--
-- Every other line written while it is up (warnings, -v request lines, the
-- final report) goes through log.sink: the block is cleared, the line
-- printed, the block redrawn, so nothing is garbled. The block is drawn
-- in one write per frame, the cursor hidden only within that write, so a
-- kill at any moment leaves a usable terminal; stop() (run_end, or the CLI
-- on any way out) clears the block.
--
--   display.wanted(fd) -> boolean     a terminal, text logs, not -q, not TERM=dumb
--   display.start{budget=, fd=, many=} -> Display   budget: requests per 10 s
--                                     (many: the sum of several workspaces')
--
-- With several workspaces in one run (many), a line is a workspace's asset
-- ("WORKSPACE/ASSET", from the events' connection), each workspace's
-- run_end leaves the block up (the CLI stops it), and a retry or rate wait,
-- whose event names no workspace, counts on the run's line.
--   Display:stop()                    idempotent
local log = require "icx.log"
local sys = require "icx.sys"

local M = {}

local ESC = "\27["
-- Frames at most this often; starts, ends and lines from log always draw.
local FRAME = 0.1

local Display = {}
Display.__index = Display

function M.wanted(fd)
  fd = fd or 2
  local term = os.getenv("TERM")
  return sys.isatty(fd) and log.format ~= "json" and log.level >= 1 and term ~= nil and term ~= "dumb"
end

-- "0:07", "12:30", "1:02:03"
local function clock(s)
  s = math.max(0, math.floor(s + 0.5))
  if s >= 3600 then return ("%d:%02d:%02d"):format(s // 3600, s % 3600 // 60, s % 60) end
  return ("%d:%02d"):format(s // 60, s % 60)
end

-- At most `width` columns of s (UTF-8 aware; the display's own text is
-- ASCII, messages may not be).
local function fit(s, width)
  if width < 1 then return "" end
  local n = utf8.len(s)
  if not n then s = s:gsub("[\128-\255]", "?") n = #s end
  if n <= width then return s end
  return s:sub(1, (utf8.offset(s, width) or (#s + 1)) - 1)
end

-- Requests per second over the last WINDOW seconds (Intercom's budget is
-- per 10 s), from samples {t, requests}; nil until a second has passed.
local WINDOW = 10
local function sample(list, t, n)
  list[#list + 1] = { t, n }
  while #list > 2 and list[2][1] <= t - WINDOW do table.remove(list, 1) end
end
local function rate(list, now)
  local first, last = list[1], list[#list]
  if not first or now - first[1] < 1 then return nil end
  return (last[2] - first[2]) / (now - first[1])
end

local function bar(frac, width)
  local full = math.floor(math.min(1, math.max(0, frac)) * width + 0.5)
  return "[" .. ("#"):rep(full) .. ("-"):rep(width - full) .. "]"
end

function M.start(opts)
  opts = opts or {}
  local d = setmetatable({ fd = opts.fd or 2, budget = opts.budget, many = opts.many, retries = 0, assets = {},
    order = {}, drawn = 0, samples = {},
    last = 0, started = sys.now() }, Display)
  d.remove = log.listen(function(name, f, level, text) return d:event(name, f or {}, level, text) end)
  d.prev_sink = log.sink
  log.sink = function(line) d:line(line) end
  return d
end

-- The asset's record, created in run order.
function Display:asset(name)
  local a = self.assets[name]
  if not a then
    a = { name = name, state = "waiting", rows = 0, requests = 0, retries = 0, limited = 0, samples = {} }
    self.assets[name] = a
    self.order[#self.order + 1] = a
  end
  return a
end

-- Handles one event; returns true for those it shows itself (page,
-- rate_wait), so their text lines are not printed.
function Display:event(name, f)
  if self.stopped then return nil end
  local now = sys.now()
  if self.many then
    if (name == "retry" or name == "rate_wait") and not f.connection then
      if name == "retry" then self.retries = self.retries + 1 end
      self:draw(false)
      return name == "rate_wait" or nil
    end
    if name == "run_end" then return nil end
    if f.connection and f.asset then f = setmetatable({ asset = f.connection .. "/" .. f.asset }, { __index = f }) end
  end
  if name == "run_start" then
    if not self.many then self.started = now end
    for _, n in ipairs(f.assets or {}) do self:asset(self.many and (f.connection .. "/" .. n) or n) end
  elseif name == "asset_start" and f.asset then
    local a = self:asset(f.asset)
    a.state, a.started, a.note = "running", now, nil
    sample(a.samples, now, 0)
    self:draw(true)
  elseif name == "page" and f.asset then
    local a = self:asset(f.asset)
    a.rows, a.total, a.requests, a.note = f.rows or a.rows, f.total, f.requests or a.requests, nil
    a.parents, a.parents_total, a.parent = f.parents, f.parents_total, f.parent
    sample(a.samples, now, a.requests)
    self:draw(false)
    return true
  elseif name == "retry" and f.asset then
    local a = self:asset(f.asset)
    a.retries = a.retries + 1
    if tostring(f.reason):match("^429") then a.limited = a.limited + 1 end
    a.note = ("retrying: %s"):format(tostring(f.reason))
    self:draw(false)
  elseif name == "rate_wait" and f.asset then
    self:asset(f.asset).note = ("waiting %.0f s for the rate budget"):format(f.seconds or 0)
    self:draw(true)
    return true
  elseif name == "asset_end" and f.asset then
    local a = self:asset(f.asset)
    a.state, a.status, a.rows, a.requests = "done", f.status, f.rows or a.rows, f.requests or a.requests
    a.seconds, a.new, a.changed, a.unchanged = f.seconds, f.new, f.changed, f.unchanged
    a.error = type(f.error) == "table" and f.error.message or nil
    self:draw(true)
  elseif name == "run_end" then
    self:stop()
  end
  return nil
end

-- One asset's line.
function Display:asset_line(a, now, width)
  local name = ("%-" .. self.name_width .. "s  "):format(a.name)
  if a.state == "waiting" then return name .. "waiting" end
  if a.state == "done" then
    if a.status ~= "ok" then return name .. (a.status or "failed") .. (a.error and (": " .. a.error) or "") end
    local changes = a.new and (" (%d new, %d changed, %d unchanged)"):format(a.new, a.changed, a.unchanged) or ""
    return name .. ("done  %d rows%s, %d requests in %s"):format(a.rows, changes, a.requests, clock(a.seconds or 0))
  end
  local elapsed = now - (a.started or now)
  local parts = {}
  -- What the bar and the estimate count: rows of the asset's table, or an
  -- expansion's parents walked, with its rows beside (icx.totals).
  local done, total, unit = a.rows, a.total, "rows"
  if a.parent then done, total, unit = a.parents or 0, a.parents_total, a.parent end
  local count = total and ("%d/%d %s"):format(done, math.max(total, done), unit) or ("%d %s"):format(done, unit)
  local room = width - #name - #count - 50
  if total and total > 0 and room >= 8 then
    parts[#parts + 1] = bar(done / total, math.min(24, room))
  end
  parts[#parts + 1] = count
  if a.parent then parts[#parts + 1] = ("%d rows"):format(a.rows) end
  local r = rate(a.samples, now)
  if r then parts[#parts + 1] = ("%.1f req/s"):format(r) end
  if a.retries > 0 then parts[#parts + 1] = ("%d retries"):format(a.retries) end
  if a.limited > 0 then parts[#parts + 1] = ("%d x 429"):format(a.limited) end
  parts[#parts + 1] = clock(elapsed)
  if total and done > 0 and total > done and elapsed > 0 then
    parts[#parts + 1] = "ETA " .. clock((total - done) / (done / elapsed))
  end
  if a.note then parts[#parts + 1] = a.note end
  return name .. table.concat(parts, "  ")
end

-- The block's lines: the run's, then one per asset (or, on a short
-- terminal, the running ones and a count of the rest).
function Display:lines(width, height)
  local now = sys.now()
  local elapsed = now - self.started
  local requests, done, waiting = 0, 0, 0
  self.name_width = 4
  for _, a in ipairs(self.order) do
    requests = requests + a.requests
    self.name_width = math.max(self.name_width, #a.name)
    if a.state == "done" then done = done + 1 elseif a.state == "waiting" then waiting = waiting + 1 end
  end
  sample(self.samples, now, requests)
  local r = rate(self.samples, now)
  local out = { ("icx run  %s  %d requests%s (budget %.1f/s)  %d of %d assets done%s"):format(clock(elapsed),
    requests, r and (", %.1f/s"):format(r) or "", (self.budget or 166) / 10, done, #self.order,
    self.retries > 0 and ("  %d retries"):format(self.retries) or "") }
  local compact = #self.order + 1 > math.max(2, height - 1)
  for _, a in ipairs(self.order) do
    if not compact or a.state == "running" then out[#out + 1] = self:asset_line(a, now, width) end
  end
  if compact then out[#out + 1] = ("%d done, %d waiting"):format(done, waiting) end
  for i, l in ipairs(out) do out[i] = fit(l, width) end
  return out
end

-- Moves to the block's first line and clears from there down.
function Display:clear_seq()
  if self.drawn == 0 then return "\r" .. ESC .. "J" end
  return "\r" .. ESC .. self.drawn .. "A" .. ESC .. "J"
end

-- The frame: hide the cursor, clear the old block, write `before` (lines
-- from log) and the new block, show the cursor; one write.
function Display:frame(before)
  local cols, rows = sys.term_size(self.fd)
  cols, rows = cols or 80, rows or 24
  local lines = self:lines(cols - 1, rows)
  local buf = { ESC .. "?25l", self:clear_seq(), before or "" }
  for _, l in ipairs(lines) do buf[#buf + 1] = l .. "\n" end
  buf[#buf + 1] = ESC .. "?25h"
  io.stderr:write(table.concat(buf))
  self.drawn = #lines
  self.last = sys.now()
end

function Display:draw(force)
  if self.stopped then return end
  if not force and sys.now() - self.last < FRAME then return end
  self:frame()
end

-- A line from log while the block is up: above the block.
function Display:line(line)
  if self.stopped then
    io.stderr:write(line, "\n")
    return
  end
  self:frame(line .. "\n")
end

function Display:stop()
  if self.stopped then return end
  self.stopped = true
  self.remove()
  log.sink = self.prev_sink
  io.stderr:write(self:clear_seq() .. ESC .. "?25h")
  self.drawn = 0
end

return M
