-- Intercom contacts: POST /contacts/search sorted ascending on updated_at,
-- merged on id. Contact search matches dates by whole day in the workspace's
-- timezone and indexes new contacts minutes late, so each run re-reads the
-- cursor's whole day after a one-hour lookback; the merge absorbs repeats.
-- Tags and companies beyond the ten a contact embeds are fetched, so
-- contact_tags and contact_companies are complete.
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
  children = {
    intercom.contact_tags(),
    intercom.contact_companies(),
  },
}
