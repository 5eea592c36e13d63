-- Intercom data attributes: one GET /data_attributes per model. `name`
-- repeats across models and between standard and custom attributes, so the
-- key is (model, full_name). Archived attributes are included: old data may
-- still hold them. Replaced whole each run.
local icx = require "icx"
local intercom = require "icx.intercom"

local function model(m)
  return intercom.get("/data_attributes", { query = { model = m, include_archived = "true" } })
end

return icx.asset {
  name = "data_attributes",
  primary_key = { "model", "full_name" },
  mode = "replace",
  pages = intercom.each { model "contact", model "company", model "conversation" },
}
