local co = coroutine.wrap(function() while true do coroutine.yield(1) end end)
while true do
  pcall(function() while true do co() end end)
  xpcall(error, function(e) return setmetatable({}, { __tostring = function() while true do end end }) end)
end
