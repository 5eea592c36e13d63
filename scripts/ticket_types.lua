-- Intercom ticket types: one GET /ticket_types, no paging and no timestamps
-- to filter on, so replaced whole each run. Each type embeds its
-- ticket_type_attributes list, landed as JSON; tickets' ticket_type_id
-- decodes through this table.
local icx = require "icx"
local intercom = require "icx.intercom"

return icx.asset {
  name = "ticket_types",
  primary_key = "id",
  mode = "replace",
  pages = intercom.get("/ticket_types", { list_key = "data" }),
}
