-- The Intercom permission each endpoint icx reads needs: one table, read by
-- icx.client when Intercom answers 403 (the message names the permission
-- to grant) and by tests/lua/permissions.lua, which holds README's
-- permissions table and every endpoint the shipped assets call to it.
--
--   M.ROUTES                  {method=, route=, permission=, documented=} in
--                             README's order; route has {id} for an id segment
--   M.of(method, path) -> entry | nil   the entry for a request (path may carry
--                             a query string; an exact route wins over {id})
--   M.PLAN_RESTRICTED         Intercom's code for an endpoint the workspace's
--                             plan lacks (403, "Active subscription needed.")
--
-- Names are the Developer Hub's (Authentication settings), which are also
-- the OAuth scopes a public app asks for. `documented` is true where
-- Intercom's OAuth scopes page or the API reference ties the permission to
-- the endpoint; false where icx inferred it from the data the endpoint
-- returns (README says from what, row by row).
local M = {}

M.PLAN_RESTRICTED = "api_plan_restricted"

local USERS = "Read and list users and companies"

local function r(method, route, permission, documented)
  return { method = method, route = route, permission = permission, documented = documented }
end

M.ROUTES = {
  r("GET", "/me", "Read one admin", false),
  r("POST", "/contacts/search", USERS, true),
  r("GET", "/contacts/{id}", USERS, true),
  r("GET", "/contacts/{id}/tags", USERS, false),
  r("GET", "/contacts/{id}/companies", USERS, true),
  r("GET", "/companies/scroll", USERS, true),
  r("GET", "/companies/{id}", USERS, true),
  r("GET", "/companies/{id}/segments", USERS, true),
  r("GET", "/segments", USERS, true),
  r("GET", "/data_attributes", USERS, false),
  r("GET", "/subscription_types", USERS, false),
  r("GET", "/tags", "Read tags", true),
  r("POST", "/conversations/search", "Read conversations", true),
  r("GET", "/conversations/{id}", "Read conversations", true),
  r("GET", "/conversations/deleted", "Read conversations", false),
  r("POST", "/tickets/search", "Read tickets", true),
  r("GET", "/tickets/{id}", "Read tickets", true),
  r("GET", "/ticket_types", "Read tickets", false),
  r("GET", "/ticket_states", "Read tickets", false),
  r("GET", "/articles", "Read and list articles", true),
  r("GET", "/articles/{id}", "Read and list articles", true),
  r("GET", "/help_center/help_centers", "Read and list articles", false),
  r("GET", "/help_center/collections", "Read and list articles", false),
  r("GET", "/admins", "Read admins", true),
  r("GET", "/teams", "Read admins", false),
  r("GET", "/admins/activity_logs", "Read admin activity logs", true),
}

-- "/contacts/{id}/tags" -> "^/contacts/[^/]+/tags$"
local function pattern_of(route)
  local escaped = route:gsub("[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0")
  return "^" .. escaped:gsub("{id}", "[^/]+") .. "$"
end

function M.of(method, path)
  path = (path or ""):gsub("[?#].*$", "")
  local by_id
  for _, e in ipairs(M.ROUTES) do
    if e.method == method then
      if e.route == path then return e end
      if not by_id and e.route:find("{id}", 1, true) and path:match(pattern_of(e.route)) then by_id = e end
    end
  end
  return by_id
end

return M
