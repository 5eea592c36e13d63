-- Intercom company segments, (company_id, segment_id): GET
-- /companies/{id}/segments for every company of the companies scroll,
-- replaced whole each run. Membership moves when a segment's rules change
-- and the company's updated_at does not, so fetching only changed companies
-- would go stale; the `segments` list companies embed is not documented as
-- complete. One request per company, every run.
local icx = require "icx"
local intercom = require "icx.intercom"

return icx.asset {
  name = "company_segments",
  primary_key = { "company_id", "segment_id" },
  mode = "replace",
  pages = intercom.company_segments(),
}
