-- The object store on S3 and S3-compatible services (MinIO, GCS in
-- interoperability mode, R2): what `--dest s3://BUCKET/PREFIX` writes
-- through. Requests go through icx.http's multi via icx.sched, so an upload
-- parks only the task that sent it; libcurl signs each one (AWS Signature
-- V4, CURLOPT_AWS_SIGV4), so no secret is handled here past handing it over.
--
--   s3.open(uri, [opts]) -> Store            uri = "s3://BUCKET[/PREFIX]"
--     opts (each falls back to its environment variable):
--       access_key_id      AWS_ACCESS_KEY_ID
--       secret_access_key  AWS_SECRET_ACCESS_KEY
--       session_token      AWS_SESSION_TOKEN (sent as x-amz-security-token)
--       region             AWS_REGION, AWS_DEFAULT_REGION, else us-east-1
--       endpoint_url       AWS_ENDPOINT_URL: an S3-compatible service,
--                          addressed path-style (ENDPOINT/BUCKET/KEY);
--                          without it, https://BUCKET.s3.REGION.amazonaws.com
--       part_size=16 MiB   multipart part size (>= 5 MiB, S3's minimum);
--                          files up to one part are one PUT
--       parallel=4         parts in flight at once (inside a task)
--       max_keys=1000      keys per ListObjectsV2 page
--       attempts, retry_base, retry_cap   icx.retry's policy by default
--       timeout=600, connect_timeout=10, ca_file
--   Store:put_file(key, path [, cond]) -> etag   the object appears whole at
--                               key or not at all: one PUT, or a multipart
--                               upload (aborted on failure)
--   Store:put(key, bytes [, cond]) -> etag   a small object
--     cond: {if_none_match = "*"} (only if no object is there) or
--     {if_match = ETAG} (only over that version): S3's conditional writes
--     (AWS since 2024, MinIO, R2, moto); nil instead of the etag when the
--     condition fails (412, or 409 for a concurrent conditional write)
--   Store:get(key [, etag]) -> bytes, etag | nil   nil when the key does not
--                               exist; with etag, false, etag when unchanged
--   Store:list(prefix) -> {key, ...}   sorted, every page of ListObjectsV2
--   Store:delete(key [, cond]) -> true | nil   cond: {if_match = ETAG}
--   Store:shown() -> "s3://bucket/prefix (at http://host:port)"; never a secret
-- Keys are relative to PREFIX. Failures raise errors.new("dest", ...) with
-- code = S3's error code (NoSuchBucket, AccessDenied, ...) or http_NNN, or
-- icx.http's code; the message names the bucket and the reason.
local errors = require "icx.errors"
local keys = require "icx.keys"
local log = require "icx.log"
local retry = require "icx.retry"
local sched = require "icx.sched"
local urls = require "icx.url"

local M = {}

local MiB = 1024 * 1024
-- S3's limits: parts of at least 5 MiB except the last, at most 10,000.
M.MIN_PART = 5 * MiB
local MAX_PARTS = 10000

local OPTS = { "access_key_id", "secret_access_key", "session_token", "region", "endpoint_url",
  "part_size", "parallel", "max_keys", "attempts", "retry_base", "retry_cap", "timeout", "connect_timeout", "ca_file" }

-- Transport failures worth another attempt: the request never completed.
-- A name that does not resolve is not among them (retry.LASTING, as for
-- the Intercom client): a typo in the endpoint, said at once.
local RETRY_CODE = { transport = true, timeout = true, connect = true }

-- What S3's error codes mean for the user, after "bucket 'B': ".
local REASON = {
  NoSuchBucket = "the bucket does not exist",
  AccessDenied = "access denied: the credentials lack the permission (s3:PutObject, s3:GetObject, "
    .. "s3:ListBucket, s3:DeleteObject, s3:AbortMultipartUpload)",
  SignatureDoesNotMatch = "the signature does not match: check the secret access key "
    .. "(AWS_SECRET_ACCESS_KEY) and the region (AWS_REGION)",
  InvalidAccessKeyId = "the access key id (AWS_ACCESS_KEY_ID) is unknown to the server",
  ExpiredToken = "the session token (AWS_SESSION_TOKEN) has expired",
  InvalidToken = "the session token (AWS_SESSION_TOKEN) is not valid",
  AuthorizationHeaderMalformed = "the request was signed for the wrong region: set AWS_REGION",
  PermanentRedirect = "the bucket is in another region or needs another endpoint: set AWS_REGION "
    .. "or AWS_ENDPOINT_URL",
}

local Store = {}
Store.__index = Store
Store.__name = "icx.objstore.s3.Store"

function Store:__tostring() return "icx.objstore.s3.Store " .. self:shown() end

-- XML text content with its five entities and numeric references undone.
local function unxml(s)
  s = s:gsub("&#x(%x+);", function(h) return utf8.char(tonumber(h, 16)) end)
  s = s:gsub("&#(%d+);", function(d) return utf8.char(tonumber(d)) end)
  return (s:gsub("&(%a+);", { lt = "<", gt = ">", quot = '"', apos = "'", amp = "&" }))
end

-- The text of the first <tag> element in xml, or nil.
local function tag(xml, name)
  local v = xml:match("<" .. name .. ">(.-)</" .. name .. ">")
  return v and unxml(v)
end

-- Text with the five XML specials escaped.
local function xml_escape(s)
  return (s:gsub("[&<>\"']", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;",
    ["'"] = "&apos;" }))
end

-- A key's path, each segment percent-encoded: the canonical URI SigV4 signs.
local function key_path(key)
  return (key:gsub("[^/]+", urls.encode))
end

local function env(name)
  local v = os.getenv(name)
  if v ~= nil and v ~= "" then return v end
  return nil
end

-- Opens the store for "s3://BUCKET/PREFIX"; raises a config error when the
-- URI, the options or the credentials are unusable.
function M.open(uri, opts)
  opts = opts or {}
  keys.check(opts, OPTS, "icx.objstore.s3: options", 2)
  local bucket, prefix = tostring(uri):match("^s3://([^/]+)/?(.*)$")
  if not bucket or not bucket:match("^[%w][%w._-]*[%w]$") then
    errors.raise("config", ("'%s' is not an S3 location: expected s3://BUCKET/PREFIX"):format(tostring(uri)))
  end
  prefix = prefix:gsub("/+$", "")
  local function opt(k, var, var2) return opts[k] or env(var) or (var2 and env(var2)) end
  local key_id = opt("access_key_id", "AWS_ACCESS_KEY_ID")
  local secret = opt("secret_access_key", "AWS_SECRET_ACCESS_KEY")
  local token = opt("session_token", "AWS_SESSION_TOKEN")
  -- Masked in every line icx writes from now on, whatever carries them.
  for _, s in ipairs({ secret, token }) do log.add_secret(s) end
  if not key_id or not secret then
    errors.raise("config", ("s3://%s: no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
      .. "(and AWS_SESSION_TOKEN for temporary ones), or the destination's access_key_id and "
      .. "secret_access_key"):format(bucket), { code = "no_credentials" })
  end
  if key_id:find(":", 1, true) then
    errors.raise("config", ("s3://%s: the access key id must not contain ':'"):format(bucket))
  end
  local region = opt("region", "AWS_REGION", "AWS_DEFAULT_REGION") or "us-east-1"
  if not region:match("^[%w-]+$") then
    errors.raise("config", ("s3://%s: region '%s' is not a region name"):format(bucket, region))
  end
  local endpoint = opt("endpoint_url", "AWS_ENDPOINT_URL")
  local base
  if endpoint then
    endpoint = endpoint:gsub("/+$", "")
    if not endpoint:match("^https?://[^/]+") then
      errors.raise("config", ("s3://%s: endpoint '%s' must start with https:// or http://")
        :format(bucket, urls.masked(endpoint)))
    end
    -- Path-style: S3-compatible services rarely resolve BUCKET.host names.
    base = endpoint .. "/" .. urls.encode(bucket)
  elseif bucket:find(".", 1, true) then
    -- A dotted bucket name breaks the TLS wildcard of virtual-hosted names.
    base = ("https://s3.%s.amazonaws.com/%s"):format(region, bucket)
  else
    base = ("https://%s.s3.%s.amazonaws.com"):format(bucket, region)
  end
  local part_size = opts.part_size or 16 * MiB
  if math.type(part_size) ~= "integer" or part_size < M.MIN_PART then
    errors.raise("config", ("s3://%s: part_size must be an integer of at least %d (5 MiB)")
      :format(bucket, M.MIN_PART))
  end
  -- Every header given here is signed. UNSIGNED-PAYLOAD: curl 7.88 sends
  -- no payload hash of its own, and S3 requires one (hashing a file part
  -- would read it twice). No User-Agent: a signed one fails the check of
  -- S3-compatible servers that see it rewritten (moto).
  local headers = { "x-amz-content-sha256: UNSIGNED-PAYLOAD", "Accept-Encoding: identity" }
  if token then headers[#headers + 1] = "x-amz-security-token: " .. token end
  return setmetatable({
    bucket = bucket,
    prefix = prefix,
    base = base,
    endpoint = endpoint and urls.masked(endpoint),
    -- Handed to curl in each request table and nowhere else.
    userpwd = key_id .. ":" .. secret,
    sigv4 = "aws:amz:" .. region .. ":s3",
    headers = headers,
    part_size = part_size,
    parallel = opts.parallel or 4,
    max_keys = opts.max_keys,
    attempts = opts.attempts or retry.DEFAULTS.attempts,
    retry_base = opts.retry_base or retry.DEFAULTS.base,
    retry_cap = opts.retry_cap or retry.DEFAULTS.cap,
    timeout = opts.timeout or 600,
    connect_timeout = opts.connect_timeout or 10,
    ca_file = opts.ca_file,
    multi = sched.multi(),
  }, Store)
end

function Store:shown()
  local s = "s3://" .. self.bucket .. (self.prefix ~= "" and ("/" .. self.prefix) or "")
  if self.endpoint then s = s .. " (at " .. self.endpoint .. ")" end
  return s
end

-- The full object key of a store-relative key.
function Store:full(key)
  if type(key) ~= "string" or key == "" then error("icx.objstore.s3: a key must be a non-empty string", 3) end
  -- curl would squash "." and ".." segments of the URL: another key.
  for seg in ("/" .. key .. "/"):gmatch("/([^/]*)") do
    if seg == "." or seg == ".." then error(("icx.objstore.s3: key '%s' has a '.' or '..' segment"):format(key), 3) end
  end
  return self.prefix ~= "" and (self.prefix .. "/" .. key) or key
end

-- The error for a refused request: the bucket, the request, S3's code
-- and message, and what to do about it.
function Store:status_error(c, method, key, code)
  local body = c.body or ""
  code = code or tag(body, "Code")
  local msg = tag(body, "Message")
  local what = ("S3 bucket '%s'%s: %s %s: HTTP %d"):format(self.bucket,
    self.endpoint and (" at " .. self.endpoint) or "", method, key, c.status)
  if code then what = what .. " " .. code end
  if REASON[code] then
    what = what .. ": " .. REASON[code]
  elseif c.status == 403 then
    what = what .. ": access denied" .. (msg and (" (" .. msg .. ")") or "")
  elseif c.status == 404 then
    what = what .. ": not found" .. (msg and (" (" .. msg .. ")") or "")
  elseif msg then
    what = what .. ": " .. msg
  end
  return errors.new("dest", what, { code = code or ("http_" .. c.status), status = c.status, bucket = self.bucket })
end

-- Sends one request with retries. r: method, key (full, or nil for the
-- bucket), query, body, upload = {path, offset, size}, content_type,
-- missing_ok (a 404 NoSuchKey returns nil), error_in_200 (S3 may answer a
-- CompleteMultipartUpload with 200 and an <Error> body), extra (more
-- headers), accept (statuses returned as they are: 304, 412 ...).
function Store:request(r)
  local url = self.base .. (r.key and ("/" .. key_path(r.key)) or "/")
  local qs = urls.query(r.query)
  if qs ~= "" then url = url .. "?" .. qs end
  local shown = r.key or "/"
  local headers = self.headers
  if r.content_type or r.extra then
    headers = { table.unpack(self.headers) }
    if r.content_type then headers[#headers + 1] = "Content-Type: " .. r.content_type end
    for _, h in ipairs(r.extra or {}) do headers[#headers + 1] = h end
  end
  local creq = { method = r.method, url = url, headers = headers, body = r.body, userpwd = self.userpwd,
    aws_sigv4 = self.sigv4, timeout = self.timeout, connect_timeout = self.connect_timeout, ca_file = self.ca_file }
  if r.upload then
    creq.upload_file, creq.upload_offset, creq.upload_size = r.upload[1], r.upload[2], r.upload[3]
  end
  local attempt = 0
  while true do
    attempt = attempt + 1
    local c = sched.request(self.multi, creq)
    log.verbose("s3 %s s3://%s/%s -> %s, %d bytes, %d ms%s", r.method, self.bucket, shown,
      c.code or tostring(c.status), c.bytes, math.floor(c.ms + 0.5),
      attempt > 1 and (", retry " .. (attempt - 1)) or "")
    local why, failure
    local in200 = r.error_in_200 and c.status == 200 and not c.code and c.body:find("<Error>", 1, true)
    if c.code then
      local msg = ("S3 bucket '%s': %s %s: %s"):format(self.bucket, r.method, shown, c.err)
      if c.code == "resolve" or c.code == "connect" then
        msg = msg .. (" (check the endpoint%s: AWS_ENDPOINT_URL or the destination's endpoint_url)")
          :format(self.endpoint and (" " .. self.endpoint) or "")
      end
      if retry.LASTING[c.code] or not RETRY_CODE[c.code] then
        errors.raise("dest", msg, { code = c.code, bucket = self.bucket })
      end
      -- Said at once, not after a minute of retries shown only with -v.
      if c.code == "connect" and not self.unreachable_said then
        self.unreachable_said = true
        log.warn("%s; retrying", msg)
      end
      why = c.err
      failure = errors.new("dest", msg .. (" (after %d attempts)"):format(attempt),
        { code = c.code, bucket = self.bucket })
    elseif in200 then
      local code = tag(c.body, "Code")
      failure = self:status_error(c, r.method, shown, code)
      if code ~= "InternalError" and code ~= "SlowDown" then error(failure, 0) end
      why = "200 with " .. tostring(code)
    elseif (c.status >= 200 and c.status < 300) or (r.accept and r.accept[c.status]) then
      return c
    elseif c.status == 404 and r.missing_ok and tag(c.body, "Code") ~= "NoSuchBucket" then
      return nil
    elseif retry.STATUS[c.status] then
      why = "HTTP " .. c.status
      failure = self:status_error(c, r.method, shown)
      failure.message = failure.message .. (" (after %d attempts)"):format(attempt)
    else
      error(self:status_error(c, r.method, shown), 0)
    end
    if attempt >= self.attempts then error(failure, 0) end
    local wait = retry.backoff(attempt, self.retry_base, self.retry_cap)
    local line = ("s3 %s s3://%s/%s: %s; retry %d of %d in %.2f s"):format(r.method, self.bucket, shown, why,
      attempt, self.attempts - 1, wait)
    log.event("retry", { method = r.method, url = "s3://" .. self.bucket .. "/" .. shown, reason = why,
      attempt = attempt, wait = wait }, "info", log.level >= 2 and line or nil)
    sched.sleep(wait)
  end
end

-- The size of a local file, or raises naming it.
local function file_size(path)
  local f, err = io.open(path, "rb")
  if not f then errors.raise("dest", ("cannot read '%s' to upload: %s"):format(path, err)) end
  local size = f:seek("end")
  f:close()
  return size
end

-- A conditional write's headers, and the statuses that say it failed.
local FAILED = { [412] = true, [409] = true }
local function conditions(cond)
  if not cond then return nil, nil end
  local extra = {}
  if cond.if_none_match then extra[#extra + 1] = "If-None-Match: " .. cond.if_none_match end
  if cond.if_match then extra[#extra + 1] = "If-Match: " .. cond.if_match end
  return extra, FAILED
end

-- The etag of a write's answer, or nil when its condition failed.
local function written(c)
  if FAILED[c.status] then return nil end
  return c.headers.etag or ""
end

function Store:put_file(key, path, cond)
  local full = self:full(key)
  local size = file_size(path)
  local extra, accept = conditions(cond)
  if size <= self.part_size then
    return written(self:request { method = "PUT", key = full, upload = { path, 0, size },
      content_type = "application/octet-stream", extra = extra, accept = accept })
  end
  -- Past 10,000 parts of part_size, the parts grow instead.
  local part = math.max(self.part_size, (size + MAX_PARTS - 1) // MAX_PARTS)
  local c = self:request { method = "POST", key = full, query = { uploads = "" },
    content_type = "application/octet-stream" }
  local id = tag(c.body, "UploadId")
  if not id then
    errors.raise("dest", ("S3 bucket '%s': POST %s?uploads: no UploadId in the answer"):format(self.bucket, full))
  end
  local parts = {}
  for n = 1, (size + part - 1) // part do
    local offset = (n - 1) * part
    parts[n] = { n = n, offset = offset, size = math.min(part, size - offset) }
  end
  local function upload(p)
    local r = self:request { method = "PUT", key = full, query = { partNumber = p.n, uploadId = id },
      upload = { path, p.offset, p.size } }
    local etag = r.headers.etag
    if not etag then
      errors.raise("dest", ("S3 bucket '%s': part %d of %s: no ETag in the answer"):format(self.bucket, p.n, full))
    end
    return etag
  end
  local done
  local ok, err = pcall(function()
    local etags = {}
    if sched.current() then
      etags = sched.map(parts, upload, self.parallel)
    else
      for i, p in ipairs(parts) do etags[i] = upload(p) end
    end
    local xml = { "<CompleteMultipartUpload>" }
    for i, etag in ipairs(etags) do
      xml[#xml + 1] = ("<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>"):format(i, xml_escape(etag))
    end
    xml[#xml + 1] = "</CompleteMultipartUpload>"
    done = self:request { method = "POST", key = full, query = { uploadId = id }, body = table.concat(xml),
      content_type = "application/xml", error_in_200 = true, extra = extra, accept = accept }
    if FAILED[done.status] then error(done, 0) end
  end)
  if not ok and type(err) == "table" and err.status and FAILED[err.status] then
    pcall(self.request, self, { method = "DELETE", key = full, query = { uploadId = id } })
    return nil
  end
  if not ok then
    -- Parts of an unfinished upload are stored (and billed) until aborted;
    -- the object itself never appeared. The first failure is the one said.
    pcall(self.request, self, { method = "DELETE", key = full, query = { uploadId = id } })
    error(err, 0)
  end
  return tag(done.body, "ETag") or done.headers.etag or ""
end

function Store:put(key, bytes, cond)
  assert(type(bytes) == "string", "icx.objstore.s3: put needs a string")
  local extra, accept = conditions(cond)
  return written(self:request { method = "PUT", key = self:full(key), body = bytes,
    content_type = "application/octet-stream", extra = extra, accept = accept })
end

function Store:get(key, etag)
  local c = self:request { method = "GET", key = self:full(key), missing_ok = true,
    extra = etag and { "If-None-Match: " .. etag }, accept = etag and { [304] = true } }
  if not c then return nil end
  if c.status == 304 then return false, etag end
  return c.body, c.headers.etag
end

function Store:list(prefix)
  local base = self.prefix ~= "" and (self.prefix .. "/") or ""
  local out, token = {}, nil
  repeat
    local c = self:request { method = "GET", query = { ["list-type"] = "2", prefix = base .. (prefix or ""),
      ["continuation-token"] = token, ["max-keys"] = self.max_keys } }
    for item in c.body:gmatch("<Contents>(.-)</Contents>") do
      local k = tag(item, "Key")
      if k and k:sub(1, #base) == base then out[#out + 1] = k:sub(#base + 1) end
    end
    token = tag(c.body, "IsTruncated") == "true" and tag(c.body, "NextContinuationToken") or nil
  until not token
  table.sort(out)
  return out
end

function Store:delete(key, cond)
  local extra, accept = conditions(cond)
  local c = self:request { method = "DELETE", key = self:full(key), extra = extra, accept = accept }
  return not FAILED[c.status] or nil
end

return M
