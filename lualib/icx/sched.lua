-- Coroutine scheduler over icx.http, in the manner of OpenResty's cosockets:
-- a task is a coroutine; sched.request starts a transfer on a Multi and
-- yields until it completes, sched.sleep yields until a timer fires, and
-- sched.run waits on the Multi (bounded by the nearest timer) and resumes
-- whichever task can go on. One thread, so nothing is shared unsafely.
--
--   sched.spawn(fn, ...) -> task          runs at the next (or current) run
--   sched.run() -> {{ok=, result=|error=}, ...}   per task, in spawn order
--   sched.request(multi, req) -> completion       (see icx.http)
--   sched.sleep(seconds), sched.now() -> seconds (monotonic)
--   sched.multi() -> Multi                the process's shared Multi
--   sched.semaphore(n) -> Sem             Sem:acquire(), Sem:release(),
--                                         Sem:wrap(fn) -> fn under the cap
--   sched.limit(n) -> wrap                same: wrap(fn) runs fn capped at n
--   sched.map(items, fn [, n]) -> results fn(item, i) for all items, at most
--                                         n at once, results in item order
--   sched.current() -> task | nil
--
-- Outside a task, request and sleep block the caller (a private loop drives
-- the Multi), so `icx check` and one-off tools need no scheduler.
local sys = require "icx.sys"

local M = {}

-- What a task yields to the scheduler, so a stray coroutine.yield from user
-- code is recognised instead of being mistaken for a wait.
local WAIT = setmetatable({}, { __name = "icx.sched.wait" })

local Task = {}
Task.__index = Task
Task.__name = "icx.sched.Task"

-- "icx.sched.Task 3 (waiting)"
function Task:__tostring() return ("icx.sched.Task %d (%s)"):format(self.n, self.status) end

-- Scheduler state for the whole process: tasks not yet finished, the ready
-- queue, timers, and which task waits on which transfer of which Multi.
local S = {
  seq = 0,          -- tasks spawned so far (task.n)
  spawned = {},     -- tasks of the next/current run, in spawn order
  by_co = setmetatable({}, { __mode = "k" }), -- coroutine -> task
  ready = {},       -- {task, value} to resume, FIFO
  timers = {},      -- {at = seconds, task = task}
  waiting = {},     -- multi -> {id -> task}
  stash = {},       -- multi -> {id -> completion} seen by a private loop
  running = false,  -- inside sched.run
  shared = nil,     -- the shared Multi
}

-- The task whose coroutine is running, or nil on the main thread and in
-- coroutines the scheduler does not own.
function M.current()
  local co = coroutine.running()
  return S.by_co[co]
end

M.now = sys.now

-- The process's Multi: one connection pool and TLS session cache for every
-- client that does not bring its own.
function M.multi()
  if not S.shared then S.shared = require("icx.http").multi() end
  return S.shared
end

-- Error handler for tasks: keeps error objects (adding a traceback) and
-- turns anything else into a message with one.
local function on_error(e)
  if type(e) == "table" then
    if e.traceback == nil then pcall(function() e.traceback = sys.traceback(nil, 2) end) end
    return e
  end
  return sys.traceback(tostring(e), 2)
end

-- Creates a task; it starts at the next run, or at once in the current one.
function M.spawn(fn, ...)
  assert(type(fn) == "function", "sched.spawn: fn must be a function")
  local args = table.pack(...)
  S.seq = S.seq + 1
  local task = setmetatable({ n = S.seq, status = "ready" }, Task)
  task.co = coroutine.create(function()
    return xpcall(fn, on_error, table.unpack(args, 1, args.n))
  end)
  S.by_co[task.co] = task
  S.spawned[#S.spawned + 1] = task
  S.ready[#S.ready + 1] = { task }
  return task
end

-- What the scheduler resumes parked tasks with once a signal is caught.
local STOP = setmetatable({}, { __name = "icx.sched.stop" })

-- Raises the graceful-stop error when SIGINT or SIGTERM has arrived.
local function check_signal()
  local name, num = sys.caught_signal()
  if name then
    require("icx.errors").raise("interrupted", "interrupted by " .. name, { signal = name, exit = 128 + num })
  end
end

-- Suspends the current task until the scheduler resumes it with a value.
-- After a signal no task waits again: every wait raises instead, so each
-- task unwinds from its next request or sleep (never from inside a page's
-- transaction, which does not wait), and pcall-ed retries cannot outlive it.
local function park()
  check_signal()
  local v = coroutine.yield(WAIT)
  if v == STOP then check_signal() end
  return v
end

-- Resumes one task and records how it stopped: waiting, done or failed.
local function step(task, value)
  local co = task.co
  local ok, a, b = coroutine.resume(co, value)
  if not ok then
    -- The wrapper itself failed (out of memory in xpcall, ...).
    task.status, task.ok, task.error = "dead", false, a
  elseif coroutine.status(co) == "dead" then
    task.status, task.ok = "dead", a
    if a then task.result = b else task.error = b end
  elseif a ~= WAIT then
    task.status, task.ok = "dead", false
    task.error = "icx.sched: a task yielded outside icx.sched (use sched.request or sched.sleep)"
  else
    return
  end
  S.by_co[co] = nil
  for _, w in ipairs(task.joiners or {}) do S.ready[#S.ready + 1] = { w } end
  task.joiners = nil
end

-- Completions for one Multi: delivered to their tasks, or stashed when no
-- task waits for them (a private loop's request, or a cancelled one).
local function deliver(m, list)
  local w = S.waiting[m]
  for _, c in ipairs(list) do
    local task = w and w[c.id]
    if task then
      w[c.id] = nil
      S.ready[#S.ready + 1] = { task, c }
    else
      S.stash[m] = S.stash[m] or {}
      S.stash[m][c.id] = c
    end
  end
end

-- Multis with transfers some task waits for.
local function busy_multis()
  local out = {}
  for m, w in pairs(S.waiting) do
    if next(w) then out[#out + 1] = m else S.waiting[m] = nil end
  end
  return out
end

-- The earliest timer, or nil.
local function next_timer()
  local best
  for _, t in ipairs(S.timers) do
    if not best or t.at < best.at then best = t end
  end
  return best
end

-- Moves timers that are due to the ready queue.
local function fire_timers(now)
  local keep = {}
  for _, t in ipairs(S.timers) do
    if t.at <= now then S.ready[#S.ready + 1] = { t.task } else keep[#keep + 1] = t end
  end
  S.timers = keep
end

-- Blocks until something can run: a transfer finishes or a timer is due.
-- Returns false when nothing can ever wake a task (all wait on each other).
local function wait_for_events()
  local now = sys.now()
  local timer = next_timer()
  local timeout = timer and math.max(0, timer.at - now) or nil
  local multis = busy_multis()
  if #multis == 1 then
    deliver(multis[1], multis[1]:wait(timeout or 3600))
  elseif #multis > 1 then
    -- Several pools: poll each briefly in turn (rare: one Multi is shared).
    local slice = math.min(timeout or 0.01, 0.01)
    for _, m in ipairs(multis) do deliver(m, m:wait(slice / #multis)) end
  elseif timer then
    if timeout > 0 then sys.sleep(timeout) end
  else
    return false
  end
  fire_timers(sys.now())
  return true
end

-- After a signal: wakes every parked task (on a transfer, a timer, a
-- semaphore or a join) so each raises from its wait.
local function stop_all()
  S.timers, S.waiting = {}, {}
  for _, t in ipairs(S.spawned) do
    if t.status == "waiting" then S.ready[#S.ready + 1] = { t, STOP } end
  end
end

-- Runs every spawned task to completion; returns one result per task in
-- spawn order: {ok = true, result = v} or {ok = false, error = e}.
function M.run()
  if S.running then error("icx.sched: sched.run called inside a running scheduler", 2) end
  S.running = true
  local ok, err = pcall(function()
    while true do
      while #S.ready > 0 do
        local item = table.remove(S.ready, 1)
        local task = item[1]
        if task.status ~= "dead" then
          task.status = "running"
          step(task, item[2])
          if task.status == "running" then task.status = "waiting" end
        end
      end
      local live = false
      for _, t in ipairs(S.spawned) do if t.status ~= "dead" then live = true break end end
      if not live then break end
      local woke = wait_for_events()
      if sys.caught_signal() then
        stop_all()
      elseif not woke then
        for _, t in ipairs(S.spawned) do
          if t.status ~= "dead" then
            t.status, t.ok, t.error = "dead", false, "icx.sched: deadlock: the task waits for something no task will do"
            S.by_co[t.co] = nil
          end
        end
        break
      end
    end
  end)
  S.running = false
  local tasks = S.spawned
  S.spawned, S.ready, S.timers = {}, {}, {}
  if not ok then error(err, 0) end
  local results = {}
  for i, t in ipairs(tasks) do
    results[i] = t.ok and { ok = true, result = t.result } or { ok = false, error = t.error }
  end
  return results
end

-- Waits for a task spawned in the same run; returns ok, result|error.
function M.join(task)
  local me = M.current()
  assert(me, "sched.join: only inside a task")
  if task.status ~= "dead" then
    task.joiners = task.joiners or {}
    task.joiners[#task.joiners + 1] = me
    repeat park() until task.status == "dead"
  end
  if task.ok then return true, task.result end
  return false, task.error
end

-- Sends one request and waits for its completion. Inside a task only that
-- task waits; elsewhere this blocks, driving the Multi privately (other
-- tasks' completions seen meanwhile are kept for them).
function M.request(multi, req)
  local id = multi:start(req)
  local me = M.current()
  if me then
    S.waiting[multi] = S.waiting[multi] or {}
    S.waiting[multi][id] = me
    return park()
  end
  while true do
    local stash = S.stash[multi]
    local c = stash and stash[id]
    if c then
      stash[id] = nil
      return c
    end
    deliver(multi, multi:wait(3600))
  end
end

-- Pauses the current task (or the whole process outside a task).
function M.sleep(seconds)
  local me = M.current()
  if not me then
    if seconds > 0 then sys.sleep(seconds) end
    return
  end
  S.timers[#S.timers + 1] = { at = sys.now() + math.max(0, seconds), task = me }
  park()
end

-- Counting semaphore for tasks: at most n holders at once.
local Sem = {}
Sem.__index = Sem
Sem.__name = "icx.sched.Semaphore"

-- A semaphore with n free slots.
function M.semaphore(n)
  assert(math.type(n) == "integer" and n >= 1, "sched.semaphore: n must be an integer >= 1")
  return setmetatable({ free = n, queue = {} }, Sem)
end

-- Takes a slot, waiting (inside a task) until one is free.
function Sem:acquire()
  if self.free > 0 then
    self.free = self.free - 1
    return
  end
  local me = M.current()
  assert(me, "icx.sched: Semaphore:acquire would block outside a task")
  self.queue[#self.queue + 1] = me
  park() -- release hands the slot over directly
end

-- Gives a slot back, handing it to the longest waiter.
function Sem:release()
  local w = table.remove(self.queue, 1)
  if w then
    S.ready[#S.ready + 1] = { w }
  else
    self.free = self.free + 1
  end
end

-- fn wrapped to hold a slot while it runs (released on error too).
function Sem:wrap(fn)
  return function(...)
    self:acquire()
    local r = table.pack(pcall(fn, ...))
    self:release()
    if not r[1] then error(r[2], 0) end
    return table.unpack(r, 2, r.n)
  end
end

-- A wrapper that caps how many calls run at once: sched.limit(8)(fn).
function M.limit(n)
  local sem = M.semaphore(n)
  return function(fn) return sem:wrap(fn) end
end

-- Calls fn(item, i) for every item, at most n at once (default: all),
-- and returns the results in item order; the first error is raised after
-- every call has finished. Outside a task it runs its own scheduler.
function M.map(items, fn, n)
  if #items == 0 then return {} end
  n = math.min(n or #items, #items)
  local results, first_err = {}, nil
  local next_i = 0
  local function worker()
    while next_i < #items do
      next_i = next_i + 1
      local i = next_i
      local ok, v = pcall(fn, items[i], i)
      if ok then results[i] = v elseif not first_err then first_err = v end
    end
  end
  if not M.current() then
    if S.running then error("icx.sched: sched.map outside a task while the scheduler runs", 2) end
    for _ = 1, n do M.spawn(worker) end
    M.run()
  else
    local tasks = {}
    for k = 1, n do tasks[k] = M.spawn(worker) end
    for _, t in ipairs(tasks) do M.join(t) end
    -- The workers belong to this run's result list too; drop them there so
    -- the caller's results keep their own tasks only.
    for _, t in ipairs(tasks) do
      for i = #S.spawned, 1, -1 do if S.spawned[i] == t then table.remove(S.spawned, i) end end
    end
  end
  if first_err then error(first_err, 0) end
  return results
end

return M
