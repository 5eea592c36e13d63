local C = {}
C.__index = C
function C.new(n) return setmetatable({ n = n }, C) end
function C:twice() return self.n * 2 end
local ok = pcall(setmetatable, {}, { __gc = function() end })
return function(rec)
  rec.twice = C.new(21):twice()
  rec.ok = ok
  rec.bad = setmetatable({}, { __index = function() while true do end end })
  return rec
end
