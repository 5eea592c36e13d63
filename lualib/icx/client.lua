-- The Intercom HTTP client: base URL and headers, the shared rate budget,
-- which failures are retried and how long to wait, Intercom's error bodies
-- turned into error objects with hints, and `-v` request lines. Everything
-- about talking to Intercom that is policy rather than plumbing (icx.http)
-- and not what to ask for (icx.source, icx.intercom).
--
--   client.new(conn [, opts]) -> Client     one per connection and process
--     opts: attempts=8, retry_base=1, retry_cap=60 (seconds, full jitter),
--           max_bytes, timeout, connect_timeout, multi, bucket, verbose,
--           max_in_flight=16 (requests on the wire at once, all walks together),
--           fail_fast (an unreachable host fails at once: icx check; an unresolvable
--           one always does, retry.LASTING);
--           the connection's max_attempts, retry_base, retry_cap, timeout
--           and connect_timeout are the defaults
--   Client:request{method=, path=, query={k=v}, body=table|string,
--                  stats=, allow_404=, accept={status...}, retry=true,
--                  timeout=, max_bytes=, version=}
--     version: this request's Intercom-Version, for a route newer than the
--     version icx speaks (GET /conversations/deleted is 2.16)
--     -> {status=, headers=, body=, url=, bytes=, ms=, request_id=, reused=}
--     raises errors.new("http", message, {code=, status=, url=, request_id=})
--   client.decoded(resp, method) -> value   a response body decoded losslessly
--     (icx.json), or raises a "json" error naming the request
--   Client:me() -> decoded GET /me          (icx check, the token preflight)
--   Client:for_scripts() -> {request=}      what an asset script's ctx.client is:
--                                           requests only, no token, no internals
--   M.is_client(v) -> bool                  whether v is a Client (holds the token)
local errors = require "icx.errors"
local log = require "icx.log"
local sched = require "icx.sched"
local sys = require "icx.sys"
local keys = require "icx.keys"
local retry = require "icx.retry"
local urls = require "icx.url"
local permissions = require "icx.permissions"

local M = {}

local API_VERSION = "2.14"

-- Statuses Intercom documents as momentary: retried with backoff.
local RETRY_STATUS = retry.STATUS

local DEFAULTS = {
  attempts = retry.DEFAULTS.attempts, retry_base = retry.DEFAULTS.base, retry_cap = retry.DEFAULTS.cap,
  max_bytes = 64 * 1024 * 1024, timeout = 120, connect_timeout = 10,
  max_in_flight = 16,
}
local CLIENT_OPTS = { "attempts", "retry_base", "retry_cap", "max_bytes", "timeout",
  "connect_timeout", "multi", "bucket", "verbose", "max_in_flight", "fail_fast" }
local REQUEST_OPTS = { "method", "path", "query", "body", "stats", "allow_404", "accept",
  "retry", "timeout", "max_bytes", "version" }

-- A request body as JSON text: icx.json keeps integers exact and knows
-- icx.json.null; cjson serves when the lossless module is not built in.
local function encode_body(body)
  local ok, json = pcall(require, "icx.json")
  if ok and json.encode then return json.encode(body) end
  return require("cjson").encode(body)
end

-- The error list of an Intercom error body: code, message, request_id (any
-- may be nil; the body may not be JSON at all, e.g. from a proxy).
local function parse_error_body(body)
  local v = require("cjson.safe").decode(body or "")
  if type(v) ~= "table" then return {} end
  local first = type(v.errors) == "table" and type(v.errors[1]) == "table" and v.errors[1] or {}
  local function str(x) return type(x) == "string" and x ~= "" and x or nil end
  return { code = str(first.code), message = str(first.message), request_id = str(v.request_id) }
end

-- What a 403 means, said so the user knows whom to ask: the plan (no
-- permission grants an endpoint the workspace's plan lacks) or the token's
-- permission, named from icx.permissions where icx knows the endpoint.
local function forbidden_hint(code, method, shown)
  if code == permissions.PLAN_RESTRICTED then
    return ("; the workspace's Intercom plan does not include %s %s: no token permission grants it, "
      .. "only a plan that has it"):format(method, (shown:gsub("%?.*$", "")))
  end
  local e = permissions.of(method, shown)
  if not e then return "; this token lacks a permission this endpoint needs (README: Token permissions)" end
  return ("; this token lacks Intercom's \"%s\" permission, which %s %s needs: grant it to the app in "
    .. "Intercom's Developer Hub (Authentication) and use the token it regenerates"):format(e.permission,
    e.method, e.route)
end

local Client = {}
Client.__index = Client
Client.__name = "icx.client.Client"

-- "icx.client.Client 'my_intercom' (https://api.intercom.io)"
function Client:__tostring()
  return ("icx.client.Client '%s' (%s)"):format(self.conn.name, self.base_url)
end

local clients = {}

-- The client for a connection: created once per process and connection, so
-- every asset shares its connection pool and its rate budget. `opts` apply
-- when the client is created.
function M.new(conn, opts)
  assert(type(conn) == "table" and conn.access_token and conn.base_url,
    "icx.client: conn must be a connection from icx.config")
  opts = opts or {}
  keys.check(opts, CLIENT_OPTS, "icx.client: client{}", 2)
  local key = (conn.name or "") .. "\0" .. conn.base_url
  if clients[key] and clients[key].token == conn.access_token then return clients[key] end
  local base = conn.base_url:gsub("/+$", "")
  local function opt(k, default) if opts[k] ~= nil then return opts[k] end return default end
  local c = setmetatable({
    conn = conn,
    token = conn.access_token,
    base_url = base,
    origin = urls.origin(base),
    multi = opts.multi or sched.multi(),
    bucket = opts.bucket or require("icx.ratelimit").bucket { limit = conn.rate_limit or 166, window = 10 },
    slots = sched.semaphore(opts.max_in_flight or DEFAULTS.max_in_flight),
    attempts = opt("attempts", conn.max_attempts or DEFAULTS.attempts),
    retry_base = opt("retry_base", conn.retry_base or DEFAULTS.retry_base),
    retry_cap = opt("retry_cap", conn.retry_cap or DEFAULTS.retry_cap),
    max_bytes = opt("max_bytes", DEFAULTS.max_bytes),
    timeout = opt("timeout", conn.timeout or DEFAULTS.timeout),
    connect_timeout = opt("connect_timeout", conn.connect_timeout or DEFAULTS.connect_timeout),
    ca_file = conn.ca_file,
    fail_fast = opts.fail_fast,
  }, Client)
  local ua = require("icx.http").user_agent
  -- The token lives only in this list, handed to curl; nothing formats it.
  c.headers = { "Authorization: Bearer " .. conn.access_token, "Intercom-Version: " .. API_VERSION,
    "Accept: application/json", "User-Agent: " .. ua }
  c.headers_body = { table.unpack(c.headers) }
  c.headers_body[#c.headers_body + 1] = "Content-Type: application/json"
  clients[key] = c
  return c
end

-- The absolute URL for a path (or for a next-page URL Intercom returned,
-- which must point at the same host: the token goes with it).
function Client:url(path, query)
  local url
  if path:match("^https?://") then
    local o = urls.origin(path)
    if o ~= self.origin then
      errors.raise("http", ("refusing to send the access token of connection '%s' to %s (not %s)")
        :format(self.conn.name, o or path, self.origin), { code = "foreign_url", url = path })
    end
    url = path
  else
    url = self.base_url .. (path:sub(1, 1) == "/" and "" or "/") .. path
  end
  local qs = urls.query(query)
  if qs ~= "" then url = url .. (url:find("?", 1, true) and "&" or "?") .. qs end
  return url
end

-- The URL as shown in logs and messages: path and query, without the base.
function Client:shown(url)
  if url:sub(1, #self.origin) == self.origin then return url:sub(#self.origin + 1) end
  return url
end

-- The prefix of a human line about a request: its asset, and its workspace
-- when this process pulls several (each has a client), so lines that read
-- alike can be told apart.
function Client:who(stats)
  local asset = stats and stats.asset
  if next(clients, next(clients)) then
    return asset and ("%s/%s: "):format(self.conn.name, asset) or (self.conn.name .. ": ")
  end
  return asset and (asset .. ": ") or ""
end

-- Waits (yielding inside a task) until the shared bucket grants a request;
-- returns the grant's ticket for observe().
function Client:throttle(stats)
  local said = false
  while true do
    local wait, ticket = self.bucket:take()
    if wait <= 0 then
      self.last_ticket = math.max(self.last_ticket or 0, ticket)
      return ticket
    end
    wait = math.min(wait, M.MAX_WAIT)
    -- A long wait is said once, at the default verbosity: silence would
    -- look like a hang. Once per asset too: the requests of one asset that
    -- wait together (slices, expansions) would each say the same line.
    local who = stats and stats.asset or ""
    self.rate_said = self.rate_said or {}
    if wait >= M.LONG_WAIT and not said and (self.rate_said[who] or -1) < sched.now() then
      self.rate_said[who] = sched.now() + wait
      said = true
      log.event("rate_wait", { connection = self.conn.name, asset = stats and stats.asset, seconds = wait,
        reason = "rate budget" }, "info",
        ("%swaiting %.0f s for the rate budget (%d requests per 10 s)"):format(
          self:who(stats), wait, self.conn.rate_limit or 166))
    end
    sched.sleep(wait)
  end
end

-- The longest any single wait may be, whatever a server says: Intercom's
-- windows are 10 s, so a Retry-After of hours is a broken or hostile
-- server, not a rate limit to honour.
M.MAX_WAIT = 120
-- Waits at least this long are said at the default verbosity.
M.LONG_WAIT = 5
-- Attempts of one request that may end in a timeout (the total timeout or
-- curl's low-speed cut): past this many the request fails.
M.MAX_TIMEOUTS = 2

-- X-RateLimit-Reset (epoch seconds), capped to MAX_WAIT from now.
local function reset_of(h)
  local reset = tonumber(h["x-ratelimit-reset"])
  if not reset or reset ~= reset then return nil end
  return math.min(reset, sys.time() + M.MAX_WAIT)
end

-- Seconds of a Retry-After header (delta-seconds), or nil.
local function retry_after(h)
  local ra = tonumber(h["retry-after"])
  if ra and ra == ra then return math.max(0, ra) end
  return nil
end

-- Feeds X-RateLimit-* of a response to the bucket. A 429 that says
-- Retry-After gives its limit only: its Remaining 0 and the window's reset
-- would hold every request until the window ends, when the server asked
-- for a pause of Retry-After (Client:request holds the bucket that long).
--
-- The server's count is as old as the request that carried it, and it
-- counted requests in its own order, not in the order they were granted:
-- of the others granted so far, only those still in flight may be missing
-- from it (an answered one was counted before its answer). So the bucket
-- is told the grants less those in flight; counting every later grant as
-- missing, answered or not, ratcheted the window's count down until the
-- budget looked spent at two thirds (issue 21, benchmark 2).
function Client:observe(h, ticket, status)
  if ticket and self.last_ticket then ticket = self.last_ticket - (self.in_flight or 0) end
  local limit = tonumber(h["x-ratelimit-limit"])
  if status == 429 and retry_after(h) then
    if limit then self.bucket:sync(limit, nil, nil, sys.time(), sys.now(), ticket) end
    return
  end
  local remaining = tonumber(h["x-ratelimit-remaining"])
  local reset = reset_of(h)
  if limit or remaining or reset then
    self.bucket:sync(limit, remaining, reset, sys.time(), sys.now(), ticket)
  end
end

-- Full-jitter exponential backoff for attempt n (1 = the first retry).
function Client:backoff(n)
  return retry.backoff(n, self.retry_base, self.retry_cap)
end

-- Seconds a 429 asks for: Retry-After, else X-RateLimit-Reset, else nil.
local function rate_limit_wait(h)
  local ra = retry_after(h)
  if ra then return ra, "Retry-After" end
  local reset = reset_of(h)
  if reset then return math.max(0, reset - sys.time()), "X-RateLimit-Reset" end
  return nil
end

-- The error object for a response Intercom refused, with the hint that
-- tells the user what to do.
function Client:status_error(c, method, shown)
  local e = parse_error_body(c.body)
  local rid = e.request_id or c.headers["x-request-id"]
  local msg = ("%s %s: HTTP %d"):format(method, shown, c.status)
  if e.code then msg = msg .. " " .. e.code end
  if e.message then msg = msg .. ": " .. e.message end
  if c.status == 401 then
    msg = msg .. ("; the access token was rejected: check connection '%s'"):format(self.conn.name)
  elseif c.status == 403 then
    msg = msg .. forbidden_hint(e.code, method, shown)
  end
  return errors.new("http", msg, { code = e.code or ("http_" .. c.status),
    status = c.status, url = c.url ~= "" and c.url or nil, request_id = rid, intercom_message = e.message })
end

-- A header list with another Intercom-Version; the token line is copied,
-- never formatted.
local function at_version(headers, version)
  assert(type(version) == "string" and version:match("^[%w.]+$"), "icx.client: version must be like 2.16")
  local out = {}
  for i, line in ipairs(headers) do
    out[i] = line:match("^Intercom%-Version:") and ("Intercom-Version: " .. version) or line
  end
  return out
end

-- Sends one Intercom request with retries; see the header for the shape.
function Client:request(req)
  keys.check(req, REQUEST_OPTS, "icx.client: request{}", 2)
  local method = req.method or "GET"
  assert(type(req.path) == "string", "intercom: request needs a path")
  local url = self:url(req.path, req.query)
  local shown = self:shown(url)
  local body = req.body
  if type(body) == "table" then body = encode_body(body) end
  local accept = {}
  for _, s in ipairs(req.accept or {}) do accept[s] = true end
  if req.allow_404 then accept[404] = true end
  local stats = req.stats
  local attempts = req.retry == false and 1 or self.attempts
  local headers = body and self.headers_body or self.headers
  if req.version then headers = at_version(headers, req.version) end
  local creq = { method = method, url = url, headers = headers,
    body = body, timeout = req.timeout or self.timeout, connect_timeout = self.connect_timeout,
    max_bytes = req.max_bytes or self.max_bytes, ca_file = self.ca_file }
  local attempt, timeouts = 0, 0
  while true do
    attempt = attempt + 1
    -- A slot first: slices, fan-outs and assets together could otherwise
    -- open dozens of connections at the start of a window.
    self.slots:acquire()
    local sent, c = pcall(function()
      local ticket = self:throttle(stats)
      if stats then
        stats.requests = (stats.requests or 0) + 1
        if attempt > 1 then stats.retries = (stats.retries or 0) + 1 end
      end
      self.in_flight = (self.in_flight or 0) + 1
      local ok, done = pcall(sched.request, self.multi, creq)
      self.in_flight = self.in_flight - 1
      if not ok then error(done, 0) end
      done.ticket = ticket
      return done
    end)
    self.slots:release()
    if not sent then error(c, 0) end
    local ticket = c.ticket
    self:observe(c.headers, ticket, c.status)
    local retry_tag = attempt > 1 and (", retry " .. (attempt - 1)) or ""
    log.verbose("%s %s -> %s, %d bytes, %d ms%s", method, shown,
      c.code or tostring(c.status), c.bytes, math.floor(c.ms + 0.5), retry_tag)

    local wait, why, failure
    if c.code == "too_large" then
      errors.raise("http", ("%s %s: %s"):format(method, shown, c.err),
        { code = "too_large", status = c.status ~= 0 and c.status or nil, url = url })
    elseif c.code == "tls" then
      local name = self.conn.name or "?"
      local hint = c.err:lower():find("match", 1, true)
        and ("the certificate is for another host: check base_url of connection '%s'"):format(name)
        or ("if a private CA or a TLS-inspecting proxy signs this host's certificate, give its PEM file "
          .. "as ca_file of connection '%s'; verification cannot be turned off"):format(name)
      errors.raise("http", ("%s %s: TLS verification failed: %s (%s)"):format(method, shown, c.err, hint),
        { code = "tls", url = url })
    elseif c.code == "resolve" or c.code == "connect" then
      -- Said at once, not after minutes of silent retries; a name that
      -- does not resolve (retry.LASTING) and `icx check` (fail_fast) are
      -- not retried at all.
      local host = url:match("^https?://([^/?#]+)") or url
      local msg = ("cannot reach %s: %s"):format(host, c.err)
      if self.fail_fast or retry.LASTING[c.code] then
        errors.raise("http", ("%s %s: %s (check base_url/region of connection '%s', DNS and proxy settings)")
          :format(method, shown, msg, self.conn.name or "?"), { code = c.code, url = url })
      end
      if not self.unreachable_said then
        self.unreachable_said = true
        log.warn("%s; retrying", msg)
      end
      why = c.err
      failure = function()
        return errors.new("http", ("%s %s: %s (after %d attempts)"):format(method, shown, msg, attempt),
          { code = c.code, url = url })
      end
    elseif c.code == "setup" and c.status ~= 0 then
      -- A response had begun (its status line parsed) when curl gave up:
      -- its headers passed curl's cap, which curl calls "Out of memory".
      errors.raise("http", ("%s %s: the response's headers are larger than curl takes (about 100 KB; curl says "
        .. "'%s'): a broken or hostile server or proxy, not Intercom; check base_url of connection '%s'")
        :format(method, shown, c.err, self.conn.name or "?"), { code = "too_large", url = url })
    elseif c.code == "transport" and c.status == 0 and (c.err:find("HTTP/0.9", 1, true)
        or c.err:find("Weird server reply", 1, true) or c.err:find("Unsupported HTTP", 1, true)) then
      -- Something answered that does not speak HTTP (another service on
      -- the port, TLS spoken to as http://): asking again will not change it.
      errors.raise("http", ("%s %s: the server did not answer in HTTP (%s); check base_url of connection '%s' "
        .. "(its scheme and port)"):format(method, shown, c.err, self.conn.name or "?"),
        { code = "not_http", url = url })
    elseif c.code == "setup" then
      -- The transfer could not even start (a header curl refuses): the
      -- same request would fail the same way.
      errors.raise("http", ("%s %s: %s"):format(method, shown, c.err), { code = "setup", url = url })
    elseif c.code then
      -- Timeouts, resets and truncated bodies: the request never completed.
      why = c.code == "timeout" and "timed out" or c.err
      if c.code == "timeout" then timeouts = timeouts + 1 end
      failure = function()
        return errors.new("http", ("%s %s: %s (after %d attempts)"):format(method, shown, c.err,
          attempt), { code = c.code, url = url })
      end
      -- A server that stalls twice will stall again: a hung request may
      -- cost MAX_TIMEOUTS timeouts, not max_attempts of them.
      if timeouts >= M.MAX_TIMEOUTS then error(failure(), 0) end
    elseif (c.status >= 200 and c.status < 300) or accept[c.status] then
      return { status = c.status, headers = c.headers, body = c.body, url = url, bytes = c.bytes, ms = c.ms,
        request_id = c.headers["x-request-id"], reused = c.reused }
    elseif c.status == 429 then
      if stats then stats.rate_limited = (stats.rate_limited or 0) + 1 end
      -- Everyone sharing the budget waits, not just this request, for
      -- what the server says: Retry-After's pause (the window's count left
      -- alone), else until X-RateLimit-Reset, else the window is spent.
      local w, source = rate_limit_wait(c.headers)
      if source == "Retry-After" then
        self.bucket:hold(math.min(w, M.MAX_WAIT))
      else
        self.bucket:sync(nil, 0, reset_of(c.headers), sys.time(), sys.now(), ticket)
      end
      if w and w > M.MAX_WAIT then
        -- Hours or years: a broken or hostile server, not a rate window
        -- (Intercom's are 10 s). Waiting would look like a hang.
        local e = self:status_error(c, method, shown)
        e.code = "rate_limited"
        e.message = e.message .. ("; it asks to wait %.0f s (%s), more than the %d s icx waits"):format(w, source,
          M.MAX_WAIT)
        error(e, 0)
      end
      if w then wait, why = w + math.random() * 0.1, "429, " .. source end
      why = why or "429"
      failure = function()
        local e = self:status_error(c, method, shown)
        e.code = "rate_limited"
        e.message = e.message .. (" (after %d attempts)"):format(attempt)
        return e
      end
    elseif RETRY_STATUS[c.status] then
      why = "HTTP " .. c.status
      failure = function()
        local e = self:status_error(c, method, shown)
        e.message = e.message .. (" (after %d attempts)"):format(attempt)
        return e
      end
    else
      error(self:status_error(c, method, shown), 0)
    end
    if attempt >= attempts then error(failure(), 0) end
    wait = wait or self:backoff(attempt)
    local line = ("%s%s %s: %s; retry %d of %d in %.2f s"):format(self:who(stats), method, shown, why, attempt,
      attempts - 1, wait)
    -- Retries are routine at -v; one after a timeout or before a long
    -- wait is said at the default verbosity, since it can cost minutes.
    local loud = wait >= M.LONG_WAIT or c.code == "timeout"
    log.event("retry", { connection = self.conn.name, asset = stats and stats.asset, method = method, url = shown,
      reason = why,
      attempt = attempt, wait = wait }, loud and "warn" or "info", (loud or log.level >= 2) and line or nil)
    sched.sleep(wait)
  end
end


function M.decoded(resp, method)
  local v, err = require("icx.json").decode(resp.body)
  if v == nil then
    errors.raise("json", ("malformed JSON from %s %s: %s"):format(method, tostring(resp.url), err),
      { code = "json", url = resp.url })
  end
  return v
end

-- GET /me decoded: the admin and the workspace (app) the token belongs to.
function Client:me(stats)
  local resp = self:request { method = "GET", path = "/me", stats = stats }
  -- icx.json is strict (UTF-8 included), so a broken answer is said here
  -- rather than printed as garbage by icx check.
  local me, err = require("icx.json").decode(resp.body)
  if type(me) ~= "table" then
    errors.raise("json", ("malformed JSON from GET %s: %s"):format(self:shown(resp.url),
      err or "not an object"), { code = "json", url = resp.url })
  end
  return me
end

-- What asset scripts get as ctx.client: a request method and nothing else,
-- so a script can neither read the token nor reach the bucket or pool.
-- Whether v is a Client: it holds the token, so icx.sandbox hands a
-- script its for_scripts() instead.
function M.is_client(v) return getmetatable(v) == Client end

-- The wait for a response is not the script's running time: its budget
-- (icx.budget) pauses meanwhile, as other tasks run.
function Client:for_scripts()
  local c = self
  local budget = require "icx.budget"
  local function request(_, req)
    budget.pause()
    local ok, resp = pcall(c.request, c, req)
    budget.resume()
    if not ok then error(resp, 0) end
    return resp
  end
  return setmetatable({}, {
    __name = "icx.client.ScriptClient",
    __index = { request = request },
    __newindex = function() error("ctx.client is read-only", 2) end,
    __metatable = false,
  })
end

return M
