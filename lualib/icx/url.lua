-- URL pieces every module that builds a request shares: RFC 3986
-- percent-encoding, query strings with sorted keys (stable in logs and
-- tests), and the origin a token may be sent to.
--
--   url.encode(s) -> string          unreserved characters pass
--   url.query(t) -> "a=1&b=2" | ""   booleans as true/false
--   url.origin(u) -> "https://host:port" | nil
--   url.masked(u) -> u with a password (user:PASSWORD@, ?password=) as ****
local M = {}

function M.encode(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c) return ("%%%02X"):format(c:byte()) end))
end

function M.query(query)
  if not query or next(query) == nil then return "" end
  local keys = {}
  for k in pairs(query) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do
    local v = query[k]
    if type(v) == "boolean" then v = v and "true" or "false" end
    parts[#parts + 1] = M.encode(k) .. "=" .. M.encode(v)
  end
  return table.concat(parts, "&")
end

function M.origin(u)
  return u:match("^(https?://[^/?#]+)")
end

-- A URI as messages may show it: a password never appears, whether in the
-- userinfo or as a password= query parameter (libpq takes both).
function M.masked(uri)
  local scheme, rest = uri:match("^([%a][%w+.-]*://)(.*)$")
  if not scheme then return uri end
  local authority, tail = rest:match("^([^/?#]*)(.*)$")
  local at = authority:find("@[^@]*$")
  if at then
    local user = authority:sub(1, at - 1):match("^([^:]*):")
    if user then authority = user .. ":****" .. authority:sub(at) end
  end
  tail = tail:gsub("([?&]password=)[^&#]*", "%1****")
  return scheme .. authority .. tail
end

return M
