local mt = getmetatable("")
pcall(function() mt.__index.sub = function(s) print(s) return s end end)
pcall(function() string.sub = print end)
pcall(function() require("icx.json").encode = print end)
print(os.getenv("ICX_TEST_TOKEN"), os.getenv("HOME"))
return function(rec, ctx)
  local c = ctx.client
  print(rawget(c, "token"), c.token, c.conn)
  return rec
end
