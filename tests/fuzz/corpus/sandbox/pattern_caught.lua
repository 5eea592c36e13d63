return function(rec)
  local n = 0
  while true do
    pcall(string.gsub, ("ab"):rep(30), ("(a?b?)*"):rep(8) .. "c", function() n = n + 1 end)
    pcall(string.find, rec.name:rep(40), ("%w*"):rep(40) .. "!")
  end
end
