-- Intercom companies: GET /companies/scroll, because POST /companies/list
-- stops at 10,000. The API has no updated_at filter, so every run scrolls the
-- whole workspace and writes only companies changed since the cursor; the
-- cursor moves only once a scroll has completed (scroll order is arbitrary).
-- A company changed mid-scroll behind the walk's position can be older than
-- the newest one seen, so the next run also takes the hour before the cursor.
-- company_tags (company_id, tag_id) comes from the tags each company embeds,
-- replaced with the company's row; tagging a company moves its updated_at.
local icx = require "icx"
local intercom = require "icx.intercom"

return icx.asset {
  name = "companies",
  primary_key = "id",
  mode = "merge",
  incremental = { key = "updated_at", lookback = "1 hour" },
  pages = intercom.scroll "/companies/scroll",
  children = { intercom.child "company_tags" },
  -- --reconcile: the scroll already lists every company.
  reconcile = { get = "/companies/{id}" },
}
