-- icx.text: help text laid out for a terminal.
--
--   text.hang(head, body [, width]) -> lines   body's words after head,
--       wrapped at width (79) columns, continued lines indented to
--       where the body began (a list of lines, no newlines)
local M = {}

function M.hang(head, body, width)
  width = width or 79
  local out, line = {}, head
  local indent = #head
  for word in body:gmatch("%S+") do
    if #line + #word + 1 > width and #line > indent then
      out[#out + 1] = line
      line = (" "):rep(indent) .. word
    else
      line = line .. (#line > indent and " " or "") .. word
    end
  end
  out[#out + 1] = line
  return out
end

return M
