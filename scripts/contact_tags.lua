-- Every (contact_id, tag_id) pair, complete past the ten tags a contact
-- embeds. Walks POST /contacts/search on updated_at like contacts (one
-- request per 150 contacts); a contact whose embedded list is complete
-- costs nothing more, a truncated one one GET /contacts/{id}/tags, and only
-- when it changed since its pairs landed (_icx_seen): a contact re-read
-- unchanged costs no request. A changed contact's pairs are replaced, so a
-- removed tag leaves.
local icx = require "icx"
local intercom = require "icx.intercom"

return icx.asset {
  name = "contact_tags",
  primary_key = { "contact_id", "tag_id" },
  mode = "merge",
  incremental = { key = "updated_at", lookback = "1 hour" },
  pages = intercom.contact_tag_pairs(),
  -- --reconcile: pairs of contacts deleted or merged away (listed by id).
  reconcile = { list = intercom.search "/contacts/search", get = "/contacts/{id}", key = "contact_id" },
}
