-- docs/SCRIPTING.md documents every option the icx.intercom helpers take
-- and every field of a plain-table source, no more and no fewer: its
-- "Helper options" table against intercom.OPTIONS (what the helpers check
-- options against), its "Plain-table sources" table against source.FIELDS.
local t = dofile "tests/lib/tap.lua"
local intercom = require "icx.intercom"
local source = require "icx.source"

local f = assert(io.open("docs/SCRIPTING.md", "rb"))
local doc = f:read("a")
f:close()

-- The rows of the table under a heading: {cells...} each.
local function rows(heading)
  local at = doc:find("\n### " .. heading .. "\n", 1, true)
  t.ok(at, "docs/SCRIPTING.md has the section " .. heading)
  if not at then return {} end
  local text = doc:sub(at + 1):match("^.-\n(.-)\n#") or doc:sub(at + 1)
  local out = {}
  for line in text:gmatch("[^\n]+") do
    if line:match("^| `") then
      local cells = {}
      for c in line:gmatch("|%s*([^|]-)%s*%f[|]") do cells[#cells + 1] = c end
      out[#out + 1] = cells
    end
  end
  return out
end

local function sorted(set)
  local out = {}
  for k in pairs(set) do out[#out + 1] = k end
  table.sort(out)
  return table.concat(out, ", ")
end

-- helper -> {option = true}, from the docs and from the code.
local documented, examples = {}, {}
for _, r in ipairs(rows("Helper options")) do
  local opt = r[1]:match("^`([%w_]+)`$")
  t.ok(opt, "an option row names one option: " .. r[1])
  for helper in (r[2] or ""):gmatch("[%w_]+") do
    documented[helper] = documented[helper] or {}
    documented[helper][opt or "?"] = true
  end
  if opt then examples[opt] = (examples[opt] or false) or ((r[4] or ""):find(opt, 1, true) ~= nil) end
end
for fn, list in pairs(intercom.OPTIONS) do
  local want = {}
  for _, o in ipairs(list) do want[o] = true end
  t.is(sorted(documented[fn] or {}), sorted(want), "intercom." .. fn .. ": the documented options are the code's")
  for _, o in ipairs(list) do t.ok(examples[o], ("option '%s' has an example using it"):format(o)) end
end
for fn in pairs(documented) do
  t.ok(intercom.OPTIONS[fn], "a documented helper exists: " .. fn)
end

local fields = {}
for _, r in ipairs(rows("Plain-table sources")) do
  for name in r[1]:gmatch("`([%w_]+)`") do fields[name] = true end
end
local want = {}
for _, k in ipairs(source.FIELDS) do want[k] = true end
t.is(sorted(fields), sorted(want), "the documented plain-table source fields are source.FIELDS")

t.done()
