-- Intercom's embedded reference lists: what a record carries of the things
-- it points at ({type = "list", data, has_more, total_count, url}), such as
-- a contact's tags and companies. A contact embeds at most ten items;
-- has_more, or a total_count past the items, says the rest must be fetched.
-- The one home of that rule (icx.expansion, icx.tagwalk).
--
--   reflist.items(ref [, key]) -> items | nil, total
--     key: the member holding the items ("data"; a ticket's ticket_parts
--     list names it "ticket_parts")
--     items: the embedded items when the list is complete ({} for a list,
--     or its items, that is absent or null), nil when it leaves items out;
--     total: how many items the list has in all (at least those embedded)
local M = {}

function M.items(ref, key)
  if type(ref) ~= "table" then return {}, 0 end
  local data = ref[key or "data"]
  if type(data) ~= "table" then data = {} end -- absent, or json.null
  local total = math.type(ref.total_count) == "integer" and ref.total_count or #data
  if ref.has_more == true or total > #data then return nil, math.max(total, #data) end
  return data, #data
end

return M
