-- Every (contact_id, company_id) pair, complete past the ten companies a
-- contact embeds. Walks POST /contacts/search on updated_at like contacts;
-- a contact whose embedded list is complete costs nothing more, a truncated
-- one GET /contacts/{id}/companies per 50 companies, and only when it
-- changed since its pairs landed (_icx_seen). A changed contact's pairs are
-- replaced, so a company it left leaves.
local icx = require "icx"
local intercom = require "icx.intercom"

return icx.asset {
  name = "contact_companies",
  primary_key = { "contact_id", "company_id" },
  mode = "merge",
  incremental = { key = "updated_at", lookback = "1 hour" },
  pages = intercom.contact_company_pairs(),
  -- --reconcile: pairs of contacts deleted or merged away (listed by id).
  reconcile = { list = intercom.search "/contacts/search", get = "/contacts/{id}", key = "contact_id" },
}
