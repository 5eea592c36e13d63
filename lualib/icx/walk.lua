-- The walk of an asset's source as a whole: a source may stand for several
-- (intercom.each walks its sources one after the other; a long search is
-- walked as time slices at once), each walked page by page by
-- icx.paginate. on_page(page, info, src) gets the source the page came from,
-- so cursor questions go to the right slice; it returns "stop" to end the
-- walk early (newest-first listings past the cursor).
--
--   walk.run(client, source, ctx, on_page) -> "stop" | nil
local log = require "icx.log"
local paginate = require "icx.paginate"

local M = {}

function M.run(client, src, ctx, on_page)
  local parts, together = src:parts(client, ctx)
  if parts and together then
    log.verbose("%s: walking %d time slices at once", ctx.asset or src.path, #parts)
    ctx.map(parts, function(part) M.run(client, part, ctx, on_page) end, #parts)
    return nil
  elseif parts then
    for _, part in ipairs(parts) do
      if M.run(client, part, ctx, on_page) == "stop" then return "stop" end
    end
    return nil
  end
  for page, info in paginate.pages(client, src, ctx) do
    if on_page(page, info, src) == "stop" then return "stop" end
  end
  src:done()
  return nil
end

return M
