-- Contacts whose custom attribute `plan` is "pro" (ICX_PLAN to change it),
-- kept incrementally like scripts/contacts.lua: a search on
-- custom_attributes.plan ANDed with the updated_at bound.
local icx = require "icx"
local intercom = require "icx.intercom"

return icx.asset {
  name = "pro_contacts",
  primary_key = "id",
  mode = "merge",
  incremental = { key = "updated_at", lookback = "1 hour" },
  pages = intercom.search("/contacts/search", {
    query = { field = "custom_attributes.plan", operator = "=", value = os.getenv("ICX_PLAN") or "pro" },
  }),
}
