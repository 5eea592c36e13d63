local t = {}
for k, v in ("a=1, b=2, c=3"):gmatch("(%w+)=(%w+)") do t[k] = v end
local s, n = ("f(a(b)c)d [x] THE end"):gsub("%b()", "<%0>")
local a, b = ("2026-12-07T10:00:00Z"):find("^(%d+)%-(%d+)")
return function(rec)
  rec.name = ("%s %d %s"):format(s, n, tostring(a and b))
  rec.tags = { ("  trim  "):match("^%s*(.-)%s*$"), ("x"):rep(3):gsub(".", t) }
  for w in ("one two"):gmatch("%f[%a]%a+") do rec[w] = #w end
  return rec
end
