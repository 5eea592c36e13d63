-- TAP for Lua tests run by `icx lua`: local t = dofile "tests/lib/tap.lua"
local T = { n = 0, failed = 0 }

local function show(v)
  if type(v) == "string" then return ("%q"):format(v) end
  return tostring(v)
end

function T.ok(cond, name)
  T.n = T.n + 1
  if not cond then T.failed = T.failed + 1 end
  print(("%sok %d - %s"):format(cond and "" or "not ", T.n, name))
  return cond
end

function T.is(got, want, name)
  if not T.ok(got == want, name) then
    print("#   got:  " .. show(got))
    print("#   want: " .. show(want))
  end
end

function T.like(got, pattern, name)
  if not T.ok(type(got) == "string" and got:find(pattern) ~= nil, name) then
    print("#   got:  " .. show(got))
    print("#   want match: " .. pattern)
  end
end

-- Calls f expecting an error; returns the error as a string.
function T.raises(f, pattern, name)
  local ok, err = pcall(f)
  local s = tostring(err)
  if not T.ok(not ok and s:find(pattern, 1, true) ~= nil, name) then
    print("#   ok: " .. tostring(ok) .. ", error: " .. show(s))
    print("#   want substring: " .. pattern)
  end
  return s
end

-- Runs a shell command; returns combined output and exit code.
function T.sh(cmd)
  local p = io.popen(cmd .. " 2>&1; echo \"__rc=$?\"")
  local out = p:read("a")
  p:close()
  local rc = tonumber(out:match("__rc=(%d+)%s*$"))
  return out:gsub("__rc=%d+%s*$", ""), rc
end

function T.tmpdir()
  local p = io.popen("mktemp -d")
  local d = p:read("l")
  p:close()
  return d
end

function T.write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

function T.done()
  print("1.." .. T.n)
  return T.failed == 0 and 0 or 1
end

return T
