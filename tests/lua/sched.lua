-- icx.sched: tasks, requests, timers, semaphores, map, errors, deadlock.
-- Requests go to a fake Multi that finishes transfers in the order a test
-- chooses, so nothing depends on timing except the sleep ordering checks,
-- which use gaps far above scheduler overhead.
local t = dofile "tests/lib/tap.lua"
local sched = require "icx.sched"

-- A stand-in for icx.http's Multi: start() queues the request; wait()
-- finishes the queued request with the smallest req.order (FIFO on ties)
-- and reports it, or returns {} when nothing is in flight.
local function fake_multi()
  local m = { next_id = 0, queue = {}, started = 0, max_in_flight = 0, waits = 0 }
  function m:start(req)
    self.next_id = self.next_id + 1
    self.queue[#self.queue + 1] = { id = self.next_id, req = req }
    self.started = self.started + 1
    self.max_in_flight = math.max(self.max_in_flight, #self.queue)
    return self.next_id
  end
  function m:wait()
    self.waits = self.waits + 1
    if #self.queue == 0 then return {} end
    local best = 1
    for i, q in ipairs(self.queue) do
      if (q.req.order or 0) < (self.queue[best].req.order or 0) then best = i end
    end
    local q = table.remove(self.queue, best)
    return { { id = q.id, status = 200, body = q.req.url, headers = {} } }
  end
  function m:pending() return #self.queue end
  return m
end

-- Tasks run, get their own completions, and results come in spawn order
-- even when they finish in another order.
do
  local m = fake_multi()
  local finished = {}
  for k = 1, 3 do
    sched.spawn(function(name, order)
      local c = sched.request(m, { url = name, order = order })
      finished[#finished + 1] = name
      return c.body
    end, "task" .. k, 4 - k)
  end
  local res = sched.run()
  t.is(#res, 3, "run: one result per task")
  t.ok(res[1].ok and res[2].ok and res[3].ok, "run: all ok")
  t.is(res[1].result .. res[2].result .. res[3].result, "task1task2task3", "run: results in spawn order")
  t.is(table.concat(finished, ","), "task3,task2,task1", "run: completions went to the task that waited")
  t.is(m.max_in_flight, 3, "run: all three requests were in flight at once")
end

-- A task can make several requests in a row and spawn more tasks.
do
  local m = fake_multi()
  local seen = {}
  sched.spawn(function()
    for k = 1, 3 do seen[#seen + 1] = sched.request(m, { url = "a" .. k }).body end
    sched.spawn(function() seen[#seen + 1] = sched.request(m, { url = "child" }).body end)
  end)
  local res = sched.run()
  t.is(table.concat(seen, ","), "a1,a2,a3,child", "sequential requests, then a child task")
  t.is(#res, 2, "a task spawned during the run is in the results")
end

-- Errors stay inside their task; error objects keep their fields.
do
  local m = fake_multi()
  sched.spawn(function() error({ kind = "http", message = "boom" }) end)
  sched.spawn(function() return sched.request(m, { url = "fine" }).body end)
  sched.spawn(function() error("plain") end)
  local res = sched.run()
  t.is(res[1].ok, false, "error: the failing task reports failure")
  t.is(type(res[1].error) == "table" and res[1].error.message, "boom", "error: error objects pass through")
  t.ok(type(res[1].error) == "table" and type(res[1].error.traceback) == "string", "error: a traceback is attached")
  t.is(res[2].result, "fine", "error: other tasks finish")
  t.like(res[3].error, "plain", "error: string errors are kept")
end

-- Timers: the shorter sleep wakes first; sleeping does not block requests.
do
  local m = fake_multi()
  local order = {}
  sched.spawn(function() sched.sleep(0.2) order[#order + 1] = "slow" end)
  sched.spawn(function() sched.sleep(0.01) order[#order + 1] = "fast" end)
  sched.spawn(function() sched.request(m, { url = "x" }) order[#order + 1] = "request" end)
  local t0 = sched.now()
  sched.run()
  t.is(table.concat(order, ","), "request,fast,slow", "sleep: wake order follows the timers")
  t.ok(sched.now() - t0 >= 0.2, "sleep: the run lasts as long as the longest sleep")
end

-- A semaphore caps how many tasks hold it at once.
do
  local m = fake_multi()
  local sem = sched.semaphore(2)
  local holders, max_holders = 0, 0
  for k = 1, 6 do
    sched.spawn(sem:wrap(function()
      holders = holders + 1
      max_holders = math.max(max_holders, holders)
      sched.request(m, { url = "s" .. k })
      holders = holders - 1
    end))
  end
  local res = sched.run()
  t.is(max_holders, 2, "semaphore: at most 2 at once")
  t.is(m.max_in_flight, 2, "semaphore: at most 2 requests in flight")
  t.is(#res, 6, "semaphore: every task ran")
  local wrap = sched.limit(3)
  local n, top = 0, 0
  for _ = 1, 7 do
    sched.spawn(wrap(function() n = n + 1 top = math.max(top, n) sched.sleep(0.001) n = n - 1 end))
  end
  sched.run()
  t.is(top, 3, "limit: wrap caps at 3")
end

-- An error inside wrap releases the slot.
do
  local sem = sched.semaphore(1)
  local f = sem:wrap(function() error("inside") end)
  sched.spawn(f)
  sched.spawn(sem:wrap(function() return "after" end))
  local res = sched.run()
  t.is(res[1].ok, false, "wrap: the error is raised")
  t.is(res[2].result, "after", "wrap: the slot was released")
end

-- map: results in item order, the cap respected, inside and outside tasks.
do
  local m = fake_multi()
  local res = sched.map({ 3, 1, 2 }, function(v) return sched.request(m, { url = "m" .. v, order = v }).body end, 2)
  t.is(table.concat(res, ","), "m3,m1,m2", "map (outside a task): results in item order")
  t.is(m.max_in_flight, 2, "map: at most n in flight")
  local inner
  sched.spawn(function()
    inner = sched.map({ "a", "b", "c", "d" }, function(v) return sched.request(m, { url = v }).body end)
    return "outer"
  end)
  local out = sched.run()
  t.is(table.concat(inner, ""), "abcd", "map (inside a task): all results")
  t.is(#out, 1, "map: its workers do not show up in the caller's results")
  t.is(out[1].result, "outer", "map: the caller's task result")
  t.raises(function() sched.map({ 1, 2 }, function(v) if v == 2 then error("bad item") end return v end) end,
    "bad item", "map: an item's error is raised")
end

-- join waits for another task.
do
  local m = fake_multi()
  local got
  sched.spawn(function()
    local child = sched.spawn(function() return sched.request(m, { url = "child" }).body end)
    local ok, v = sched.join(child)
    got = tostring(ok) .. ":" .. v
  end)
  sched.run()
  t.is(got, "true:child", "join: returns the child's result")
end

-- Outside a task, request blocks on a private loop.
do
  local m = fake_multi()
  local c = sched.request(m, { url = "alone" })
  t.is(c.body, "alone", "request outside a task returns the completion")
  t.is(#sched.run(), 0, "run with no tasks returns an empty list")
end

-- Misuse is reported, not hung.
do
  sched.spawn(function() coroutine.yield("stray") end)
  local res = sched.run()
  t.like(res[1].error, "yielded outside icx.sched", "a stray yield fails the task")

  local sem = sched.semaphore(1)
  sched.spawn(function() sem:acquire() end) -- never releases
  sched.spawn(function() sem:acquire() return "unreachable" end)
  res = sched.run()
  t.is(res[1].ok, true, "deadlock: the holder finished")
  t.like(res[2].error, "deadlock", "deadlock: the waiter fails instead of hanging")

  sched.spawn(function() return sched.run() end)
  res = sched.run()
  t.like(res[1].error, "inside a running scheduler", "run inside a task is an error")
end

-- The shared Multi is a real icx.http.Multi, created once.
t.is(sched.multi(), sched.multi(), "sched.multi is shared")
t.like(tostring(sched.multi()), "^icx%.http%.Multi", "sched.multi is an icx.http.Multi")

-- SIGTERM (sent to ourselves last, once signals are trapped) wakes every
-- waiting task, which raises "interrupted" from its wait; a pcall that
-- catches it cannot wait again. Everything in the file above must run
-- before this, since the signal stays caught for the process.
do
  local sys = require "icx.sys"
  sys.trap_signals()
  local sem = sched.semaphore(1)
  local holder, t0 = nil, sys.now()
  holder = sched.spawn(function() sem:acquire() sched.sleep(30) end)
  sched.spawn(function() sem:acquire() end)
  sched.spawn(function() return sched.join(holder) end)
  sched.spawn(function()
    local caught = select(2, pcall(sched.sleep, 30))
    sched.sleep(30) -- must raise again, not wait
    return caught
  end)
  sched.spawn(function()
    sched.sleep(0.05)
    os.execute("kill -TERM " .. sys.pid())
    sched.sleep(30)
  end)
  local res = sched.run()
  t.ok(sys.now() - t0 < 20, "a signal ends 30 s waits at once")
  for i, r in ipairs(res) do
    t.ok(not r.ok and type(r.error) == "table" and r.error.kind == "interrupted"
      and r.error.exit == 143, "task " .. i .. " raised interrupted (exit 143)")
  end
  t.is(select(1, sys.caught_signal()), "SIGTERM", "caught_signal names the signal")
  t.is(require("icx.errors").exit_code(res[1].error), 143, "the CLI exit code is 128 + 15")
end

return t.done()
