-- `icx list`: every built-in asset's tables, endpoint and cost as printed,
-- asked of its source and of what the source expands into (icx.expansion),
-- so an asset with an expansion is not described as another's.
local t = dofile "tests/lib/tap.lua"

local WANT = {
  -- The lower bound goes in the query string (since_param): said, not hidden.
  activity_logs = { "activity_logs",
    "GET /admins/activity_logs?created_at_after=<cursor - lookback - 1 s; 0 on a first run>",
    "1 request per 20 records" },
  admins = { "admins", "GET /admins", "1 request" },
  articles = { "articles", "GET /articles", "1 request per 150 records" },
  collections = { "collections", "GET /help_center/collections", "1 request per 150 records" },
  companies = { "companies, company_tags", "GET /companies/scroll", "1 request per scroll page" },
  company_segments = { "company_segments", "GET /companies/scroll + GET /companies/{id}/segments",
    "1 request per scroll page + 1 per company" },
  contact_companies = { "contact_companies", "POST /contacts/search + GET /contacts/{id}/companies",
    "1 request per 150 contacts + 1 per 50 companies of each changed contact with over 10 companies" },
  contact_tags = { "contact_tags", "POST /contacts/search + GET /contacts/{id}/tags, GET /tags (first load)",
    "1 request per 150 contacts + 1 per changed contact with over 10 tags" },
  contacts = { "contacts", "POST /contacts/search", "1 request per 150 records" },
  conversation_parts = { "conversation_parts, conversation_part_counts",
    "POST /conversations/search + GET /conversations/{id}",
    "1 request per 150 conversations + 1 per changed conversation" },
  conversations = { "conversations, conversation_tags, conversation_contacts, conversation_teammates",
    "POST /conversations/search", "1 request per 150 records" },
  data_attributes = { "data_attributes", "GET /data_attributes x3", "3 requests" },
  help_centers = { "help_centers", "GET /help_center/help_centers", "1 request" },
  segments = { "segments", "GET /segments", "1 request" },
  subscription_types = { "subscription_types", "GET /subscription_types", "1 request" },
  tags = { "tags", "GET /tags", "1 request" },
  teams = { "teams, team_admins", "GET /teams", "1 request" },
  ticket_states = { "ticket_states", "GET /ticket_states", "1 request" },
  ticket_types = { "ticket_types", "GET /ticket_types", "1 request" },
  tickets = { "tickets, ticket_parts, ticket_part_counts", "POST /tickets/search", "1 request per 150 records" },
}

-- The columns of `icx list` are separated by two spaces or more.
local function cells(line)
  local out = {}
  for cell in (line .. "  "):gmatch("(.-)%s%s+") do
    if cell ~= "" then out[#out + 1] = cell end
  end
  return out
end

local p = assert(io.popen("./icx list 2>&1"))
local got, header = {}, nil
for line in p:lines() do
  local c = cells(line)
  if not header then header = c else got[c[1]] = c end
end
local ok = p:close()
t.ok(ok, "icx list exits 0")
t.is(table.concat(header or {}, "|"), "ASSET|TABLES|MODE|ENDPOINT|COST", "the header names the columns")

local names = {}
for name in pairs(WANT) do names[#names + 1] = name end
table.sort(names)
for _, name in ipairs(names) do
  local row, want = got[name] or {}, WANT[name]
  t.is(row[2], want[1], name .. ": tables")
  t.is(row[4], want[2], name .. ": endpoint")
  t.is(row[5], want[3], name .. ": cost")
  got[name] = nil
end
t.is(next(got), nil, "every asset listed is checked here")

os.exit(t.done())
