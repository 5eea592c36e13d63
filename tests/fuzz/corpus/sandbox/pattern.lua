local s = ("a"):rep(40)
local ok = pcall(string.find, s, ("a*"):rep(40) .. "b")
local m = s:match(("(a-)"):rep(20) .. "$")
for w in s:gmatch(("a?"):rep(30) .. "b") do m = w end
return function(rec)
  rec.name = (rec.name .. s):gsub(("a*"):rep(40) .. "x", "%0%0")
  return rec, ok, m
end
