-- Intercom help centers: one GET /help_center/help_centers, no paging
-- documented and no filter, so replaced whole each run; collections' and
-- articles' help_center_id decode through it.
local icx = require "icx"
local intercom = require "icx.intercom"

return icx.asset {
  name = "help_centers",
  primary_key = "id",
  mode = "replace",
  pages = intercom.get("/help_center/help_centers", { list_key = "data" }),
}
