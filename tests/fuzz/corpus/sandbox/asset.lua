local icx = require "icx"
local intercom = require "icx.intercom"
return icx.asset {
  name = "x", primary_key = "id", pages = intercom.get "/tags",
  transform = function(rec) rec.name = rec.name:upper() return rec end,
}
