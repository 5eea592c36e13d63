-- Subscription types (GET /subscription_types), an endpoint none of the ten
-- assets covers: one response, replaced whole on each run.
local icx = require "icx"
local intercom = require "icx.intercom"

return icx.asset {
  name = "subscription_types",
  primary_key = "id",
  mode = "replace",
  pages = intercom.get "/subscription_types",
}
