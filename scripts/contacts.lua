-- Intercom contacts: POST /contacts/search sorted ascending on updated_at,
-- merged on id. Contact search matches dates by whole day in the workspace's
-- timezone and indexes new contacts minutes late, so each run re-reads the
-- cursor's whole day after a one-hour lookback; the merge absorbs repeats.
-- One request per 150 contacts: the embedded tags and companies lists land
-- as Intercom sent them (at most ten items, with has_more and total_count);
-- scripts/contact_tags.lua and contact_companies.lua give the complete pairs.
local icx = require "icx"
local intercom = require "icx.intercom"

return icx.asset {
  name = "contacts",
  primary_key = "id",
  mode = "merge",
  incremental = { key = "updated_at", lookback = "1 hour" },
  pages = intercom.search "/contacts/search",
  -- --reconcile: merged-away and deleted contacts. A search with no lower
  -- bound lists every id, walked as time slices at once; a contact it skips
  -- is only read back by id.
  reconcile = { list = intercom.search "/contacts/search", get = "/contacts/{id}" },
}
