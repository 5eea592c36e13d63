-- icx.objstore.s3 against a real S3-compatible server (moto, started by
-- tests/lib/s3server.py): objects in and out, listing across pages, a
-- multipart upload, retries through a proxy that answers 503 or resets,
-- the errors a user sees for a missing bucket and wrong credentials (with
-- signatures checked by the server), and the secret in no output. No S3
-- server is a failure, not a skip.
local t = dofile "tests/lib/tap.lua"
local s3 = require "icx.objstore.s3"

-- Starts tests/lib/s3server.py; returns {port, proxy, pid, key, secret, pipe}.
local function server(args)
  local p = io.popen("exec /usr/bin/python3 tests/lib/s3server.py " .. args)
  local line = p:read("l")
  local port, proxy, pid, key, secret = (line or ""):match("^(%d+) (%d+) (%d+) (%S+) (%S+)$")
  if not port then
    print("Bail out! tests/lib/s3server.py did not start (is moto_server installed? see its header)")
    os.exit(1)
  end
  return { port = port, proxy = proxy, pid = pid, key = key, secret = secret, pipe = p }
end

local function stop(srv)
  os.execute("kill " .. srv.pid)
  srv.pipe:close()
end

local plain = server("--bucket bkt")
local authed = server("--auth --bucket bkt")
local SECRET = "s3cr3t-Never-Shown-0123456789abcdef"
local TOKEN = "t0ken-Never-Shown-FEDCBA9876543210"

local function open(uri, port, extra)
  local opts = { endpoint_url = "http://127.0.0.1:" .. port, access_key_id = "AKIDTEST",
    secret_access_key = SECRET, region = "eu-west-1", retry_base = 0.01, retry_cap = 0.05 }
  for k, v in pairs(extra or {}) do opts[k] = v end
  return s3.open(uri, opts)
end

local function fetch(url, method)
  local c = require("icx.sched").request(require("icx.sched").multi(), { url = url, method = method or "GET" })
  return c.body
end

local function proxy_fail(n, mode, after)
  fetch(("http://127.0.0.1:%s/__icx/fail?n=%d&mode=%s&after=%d"):format(plain.proxy, n, mode, after or 0), "POST")
end

local function proxy_failed()
  return tonumber(fetch("http://127.0.0.1:" .. plain.proxy .. "/__icx/count"):match("^(%d+)"))
end

-- Uploads moto still holds for the bucket: none after success or abort.
local function open_uploads()
  local body = fetch("http://127.0.0.1:" .. plain.port .. "/bkt?uploads")
  local n = 0
  for _ in body:gmatch("<Upload>") do n = n + 1 end
  return n
end

local function file_of(path, size)
  local f = assert(io.open(path, "wb"))
  local chunk = {}
  for i = 0, 255 do chunk[#chunk + 1] = string.char(i) end
  chunk = table.concat(chunk):rep(4096) -- 1 MiB of every byte value
  local left = size
  while left > 0 do
    local n = math.min(left, #chunk)
    f:write(chunk:sub(1, n))
    left = left - n
  end
  f:close()
  local r = assert(io.open(path, "rb"))
  local all = r:read("a")
  r:close()
  return all
end

local dir = t.tmpdir()

---------------------------------------------------------------- objects
local st = open("s3://bkt/pre/fix/", plain.port)
t.is(st:shown(), "s3://bkt/pre/fix (at http://127.0.0.1:" .. plain.port .. ")", "shown: bucket, prefix, endpoint")
st:put("a/one.json", '{"n":1}')
t.is(st:get("a/one.json"), '{"n":1}', "put then get")
local bin = ""
for i = 255, 0, -1 do bin = bin .. string.char(i) end
st:put("a/bin", bin)
t.is(st:get("a/bin"), bin, "bytes 0..255 round-trip unchanged")
st:put("a/empty", "")
t.is(st:get("a/empty"), "", "an empty object")
t.is(st:get("a/missing"), nil, "a missing key is nil")
st:put("b c/ü+&=.txt", "odd")
t.is(st:get("b c/ü+&=.txt"), "odd", "a key with spaces, UTF-8 and +&= is encoded")
t.is(table.concat(st:list(""), ","), "a/bin,a/empty,a/one.json,b c/ü+&=.txt", "list: sorted, relative to the prefix")
t.is(table.concat(st:list("a/"), ","), "a/bin,a/empty,a/one.json", "list under a sub-prefix")
t.is(#open("s3://bkt", plain.port):list("pre/fix/a/"), 3, "a store without prefix sees the full keys")

local paged = open("s3://bkt/pre/fix", plain.port, { max_keys = 2 })
t.is(table.concat(paged:list(""), ","), "a/bin,a/empty,a/one.json,b c/ü+&=.txt",
  "list follows continuation tokens (2 keys a page)")

st:delete("a/bin")
t.is(st:get("a/bin"), nil, "delete: the object is gone")
t.is(table.concat(st:list("a/"), ","), "a/empty,a/one.json", "delete: list no longer has it")
st:delete("a/bin")
t.ok(true, "deleting a missing key is not an error")

-- Conditional writes (icx.dest.bucketstate's state and locks).
local e1 = st:put("c/x", "one", { if_none_match = "*" })
t.ok(type(e1) == "string" and e1 ~= "", "a conditional create returns the etag")
t.is(st:put("c/x", "two", { if_none_match = "*" }), nil, "a second create fails its condition: nil")
local body, etag = st:get("c/x")
t.ok(body == "one" and etag == e1, "get returns the bytes and the etag of the write")
t.is(st:get("c/x", e1), false, "a get with the current etag: unchanged (304)")
local e2 = st:put("c/x", "two", { if_match = e1 })
t.ok(e2 and e2 ~= e1 and st:get("c/x") == "two", "a write over the etag it read lands")
t.is(st:put("c/x", "three", { if_match = e1 }), nil, "a write over an older etag fails its condition")
t.is(st:get("c/x"), "two", "and changes nothing")
t.is(select(1, st:get("c/x", e1)), "two", "a get with an older etag returns the new bytes")
t.is(st:delete("c/x", { if_match = e1 }), nil, "a delete over an older etag fails its condition")
t.is(st:delete("c/x", { if_match = e2 }), true, "a delete over the current etag deletes")
t.is(st:get("c/x"), nil, "and the object is gone")

---------------------------------------------------------------- files
local small = file_of(dir .. "/small", 1000)
st:put_file("f/small", dir .. "/small")
t.is(st:get("f/small"), small, "put_file of a small file: one PUT")
local big = file_of(dir .. "/big", 11 * 1024 * 1024 + 123)
local mp = open("s3://bkt/pre/fix", plain.port, { part_size = s3.MIN_PART })
mp:put_file("f/big", dir .. "/big")
local got = mp:get("f/big")
t.ok(got == big, ("multipart: 3 parts of 5 MiB make the same %d bytes (got %d)"):format(#big, #(got or "")))
t.is(open_uploads(), 0, "multipart: no upload left open")
t.raises(function() open("s3://bkt", plain.port, { part_size = 1024 }) end, "part_size must be an integer of at least",
  "a part size under S3's 5 MiB minimum is refused")
t.raises(function() st:put_file("f/none", dir .. "/none") end, "cannot read '" .. dir .. "/none'",
  "a missing local file names it")

---------------------------------------------------------------- icx.http uploads
local http = require "icx.http"
local m = http.multi()
local function upload(req)
  m:start(req)
  return m:wait(30)[1] or {}
end
local base_url = "http://127.0.0.1:" .. plain.port .. "/bkt/raw"
local c = upload { method = "PUT", url = base_url, upload_file = dir .. "/none" }
t.is(c.code, "file", "upload_file missing: code 'file'")
t.like(c.err, "cannot open '" .. dir .. "/none'", "upload_file missing: the message names it")
c = upload { method = "PUT", url = base_url, upload_file = dir .. "/small", upload_offset = 900, upload_size = 200 }
t.is(c.code, "file", "a slice past the end of the file: code 'file'")
t.like(c.err, "has 1000 bytes, fewer than offset 900 %+ size 200", "a slice past the end: said so")
c = upload { method = "PUT", url = base_url, upload_file = dir .. "/small", upload_offset = 10, upload_size = 20 }
t.is(c.status, 200, "a slice of a file is uploaded")
t.raises(function() st:get("../raw") end, "key '../raw' has a '.' or '..' segment",
  "keys stay under the store's prefix (curl would squash '..')")
t.is(open("s3://bkt", plain.port):get("raw"), small:sub(11, 30), "the slice's bytes, exactly")
-- The size is taken at start; the bytes are read while waiting.
t.write(dir .. "/shrinks", ("s"):rep(5000))
m:start { method = "PUT", url = base_url, upload_file = dir .. "/shrinks" }
t.write(dir .. "/shrinks", ("s"):rep(100))
c = m:wait(30)[1] or {}
t.is(c.code, "file", "a file that shrinks during its upload: code 'file'")
t.like(c.err, "ended or failed 4900 bytes before the end of its slice", "a file that shrinks: said so")
t.raises(function() m:start { url = base_url, upload_file = dir .. "/small" } end,
  "upload_file needs method 'PUT' and no 'body'", "upload_file with GET is misuse")
t.raises(function() m:start { method = "PUT", url = base_url, body = "x", upload_size = 1 } end,
  "upload_offset and upload_size need 'upload_file'", "upload_size alone is misuse")
m:close()

---------------------------------------------------------------- other tasks go on
-- Inside tasks, the parts go up together and another task keeps running
-- meanwhile: an upload parks only its own task.
local sched = require "icx.sched"
local ticks, uploading = 0, true
sched.spawn(function()
  open("s3://bkt/pre/fix", plain.port, { part_size = s3.MIN_PART }):put_file("f/tasked", dir .. "/big")
  uploading = false
end)
sched.spawn(function()
  while uploading do
    ticks = ticks + 1
    sched.sleep(0.005)
  end
end)
local results = sched.run()
t.ok(results[1].ok and results[2].ok, "both tasks finished: " .. tostring(results[1].error))
t.ok(ticks >= 5, ("another task ran %d times during the upload"):format(ticks))
t.ok(st:get("f/tasked") == big, "the upload made inside a task is whole")

---------------------------------------------------------------- retries
local px = open("s3://bkt/pre/fix", plain.proxy)
local before = proxy_failed()
proxy_fail(2, "503")
px:put("r/one", "after 503s")
t.is(proxy_failed() - before, 2, "two 503 SlowDown answers were served")
t.is(st:get("r/one"), "after 503s", "a PUT is retried after 503 and lands")
proxy_fail(2, "reset")
t.is(px:get("r/one"), "after 503s", "a GET is retried after connection resets")
t.is(proxy_failed() - before, 4, "two resets were served")

proxy_fail(100, "503")
local err = t.raises(function() open("s3://bkt/pre/fix", plain.proxy, { attempts = 3 }):put("r/two", "x") end,
  "S3 bucket 'bkt'", "a lasting 503: the error names the bucket")
t.like(err, "HTTP 503 SlowDown.*after 3 attempts", "a lasting 503: code and attempts")
proxy_fail(0, "503")

-- The part after CreateMultipartUpload fails for good: the upload is
-- aborted and the object never appears.
proxy_fail(1, "503", 1)
err = t.raises(function()
  open("s3://bkt/pre/fix", plain.proxy, { part_size = s3.MIN_PART, attempts = 1, parallel = 1 })
    :put_file("f/aborted", dir .. "/big")
end, "S3 bucket 'bkt'", "a failed part fails put_file")
t.like(err, "PUT pre/fix/f/aborted: HTTP 503", "the failed part's request is named")
t.is(st:get("f/aborted"), nil, "a failed multipart upload leaves no object")
t.is(open_uploads(), 0, "a failed multipart upload is aborted")

---------------------------------------------------------------- errors
local ok, e = pcall(function() open("s3://nobkt/p", plain.port):put("k", "v") end)
t.ok(not ok and e.code == "NoSuchBucket", "missing bucket: code NoSuchBucket")
t.like(e.message, "S3 bucket 'nobkt' at http://127%.0%.0%.1:%d+: PUT p/k: HTTP 404 NoSuchBucket: the bucket does not "
  .. "exist", "missing bucket: the message names the bucket and the reason")
t.raises(function() open("s3://nobkt/p", plain.port):get("k") end, "NoSuchBucket",
  "missing bucket: get raises, not nil")
t.raises(function() open("s3://nobkt/p", plain.port):list("") end, "NoSuchBucket", "missing bucket: list raises")
t.raises(function() s3.open("s3://bkt", { endpoint_url = "http://127.0.0.1:1" , access_key_id = "a" }) end,
  "no credentials", "no secret: a config error before any request")
t.raises(function() s3.open("gs://bkt", {}) end, "is not an S3 location", "not an s3:// URI")
-- An endpoint nobody listens on: said at once (a warning naming the
-- endpoint), retried, then the error with the hint; a name that does not
-- resolve is not retried at all (retry.LASTING, as the Intercom client).
do
  local log = require "icx.log"
  local said = {}
  local unlisten = log.listen(function(_, f, level) if level == "warn" then said[#said + 1] = f.message end end)
  local fast = { access_key_id = "a", secret_access_key = "b", attempts = 3, retry_base = 0.01, retry_cap = 0.02 }
  local function at(url) fast.endpoint_url = url return s3.open("s3://bkt/p", fast) end
  local ok1, e1 = pcall(function() return at("http://127.0.0.1:1"):get("k") end)
  t.ok(not ok1 and e1.code == "connect", "refused: code connect")
  t.like(e1.message, "check the endpoint http://127%.0%.0%.1:1: AWS_ENDPOINT_URL or the destination's endpoint_url%) "
    .. "%(after 3 attempts%)$", "refused: the endpoint, the fix, the attempts")
  t.is(#said, 1, "refused: one warning, at the first failure")
  t.like(said[1] or "", "127%.0%.0%.1:1.*; retrying$", "refused: the warning names the endpoint")
  local ok2, e2 = pcall(function() return at("http://no-such-host.invalid:9000"):get("k") end)
  t.ok(not ok2 and e2.code == "resolve", "unresolvable: code resolve")
  t.like(e2.message, "no%-such%-host%.invalid:9000: AWS_ENDPOINT_URL or the destination's endpoint_url%)$",
    "unresolvable: said at once with the fix, no attempts counted")
  unlisten()
end

t.raises(function() s3.open("s3://bkt", { endpoint = "x" }) end, "unknown option 'endpoint'", "unknown option")

---------------------------------------------------------------- signatures
local good = open("s3://bkt/signed", authed.port, { access_key_id = authed.key, secret_access_key = authed.secret,
  part_size = s3.MIN_PART, region = "us-east-1" })
good:put("x/one", "signed")
t.is(good:get("x/one"), "signed", "signed put/get accepted by a server that checks signatures")
good:put_file("x/big", dir .. "/big")
t.ok(good:get("x/big") == big, "signed multipart upload accepted")
good:delete("x/one")
t.is(good:get("x/one"), nil, "signed delete accepted")
local ce = good:put("x/cond", "c", { if_none_match = "*" })
t.ok(ce and good:put("x/cond", "d", { if_match = ce }) and good:get("x/cond", ce) ~= false,
  "signed conditional writes and reads accepted")

ok, e = pcall(function()
  open("s3://bkt/signed", authed.port, { access_key_id = authed.key, region = "us-east-1" }):get("x/big")
end)
t.ok(not ok and e.code == "SignatureDoesNotMatch", "wrong secret: SignatureDoesNotMatch")
t.like(e.message, "S3 bucket 'bkt'.*HTTP 403 SignatureDoesNotMatch: the signature does not match: check the secret "
  .. "access key", "wrong secret: the message names the bucket and what to check")
t.ok(not tostring(e.message):find(SECRET, 1, true), "wrong secret: the secret is not in the message")
ok, e = pcall(function() open("s3://bkt/signed", authed.port, { region = "us-east-1" }):put("k", "v") end)
t.ok(not ok and e.code == "InvalidAccessKeyId", "unknown key id: InvalidAccessKeyId")
t.like(e.message, "S3 bucket 'bkt'.*HTTP 403 InvalidAccessKeyId: the access key id", "unknown key id: said so")

---------------------------------------------------------------- environment
-- A child icx configured by the AWS_* variables, at -v, printing errors
-- raw as well as through the log: the secret and the token appear nowhere.
local script = dir .. "/child.lua"
t.write(script, [[
local s3 = require "icx.objstore.s3"
local function try(what, fn)
  local ok, e = pcall(fn)
  print(what .. ": " .. (ok and tostring(e) or ("raw: " .. tostring(e.message))))
  if not ok then require("icx.log").error("%s", e.message) end
end
local st = s3.open("s3://bkt/env")
try("put", function() st:put("k", "from env") return "done" end)
try("get", function() return st:get("k") end)
try("wrong", function() return s3.open("s3://bkt/env", { secret_access_key = os.getenv("WRONG") }):get("k") end)
]])
local function child(token)
  return t.sh(("AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s AWS_SESSION_TOKEN=%s AWS_REGION=us-east-1 "
    .. "AWS_ENDPOINT_URL=http://127.0.0.1:%s WRONG=%s %s lua -v %s"):format(authed.key, authed.secret, token,
    authed.port, SECRET, os.getenv("ICX") or "./icx", script))
end
local out, rc = child("")
t.is(rc, 0, "env: the child ran")
t.like(out, "put: done\n.-get: from env\n", "env: credentials, region and endpoint from AWS_* variables")
t.like(out, "s3 PUT s3://bkt/env/k %-> 200", "env: -v shows each request")
t.like(out, "wrong: raw: S3 bucket 'bkt'.*SignatureDoesNotMatch", "env: a wrong secret names the bucket")
t.ok(not out:find(SECRET, 1, true) and not out:find(authed.secret, 1, true), "env: no secret in any output")
-- moto knows no session token: its refusal shows the token was sent.
out = child(TOKEN)
t.like(out, "put: raw: S3 bucket 'bkt'.*HTTP 400 InvalidToken: the session token %(AWS_SESSION_TOKEN%)",
  "env: AWS_SESSION_TOKEN is sent as x-amz-security-token")
t.ok(not out:find(TOKEN, 1, true) and not out:find(authed.secret, 1, true), "env: the token in no output")

stop(plain)
stop(authed)
os.execute("rm -rf " .. dir)
return t.done()
