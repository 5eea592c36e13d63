#!/usr/bin/python3
"""A custom asset with filter and transform: records pass through Lua as
tables (icx.json's lossless decode and encode), so values a float-only JSON
round trip would break (integers past 2^53, 1e-07, [] and {}) land intact."""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from workspace import Workspace  # noqa: E402
from simctl import Sim  # noqa: E402
import landed  # noqa: E402
import tap as t  # noqa: E402

SCRIPT = r'''
-- Leads only, with the custom attributes lifted to a column and a marker.
local icx = require "icx"
local intercom = require "icx.intercom"

return icx.asset {
  name = "leads",
  primary_key = "id",
  mode = "merge",
  incremental = { key = "updated_at" },
  pages = intercom.search "/contacts/search",
  filter = function(c) return c.role == "lead" end,
  transform = function(c)
    c.attrs = c.custom_attributes
    c.custom_attributes = nil
    c.seen_by = "icx"
    return c
  end,
}
'''

with Sim(contacts=400, seed=29) as sim, Workspace(sim) as ws:
    path = os.path.join(ws.dir, "leads.lua")
    with open(path, "w") as f:
        f.write(SCRIPT)
    r = ws.run(path, "-j", "1")
    t.is_(r.rc, 0, "the custom asset runs")
    want = []
    for c in sim.dump("contacts"):
        if c["role"] != "lead":
            continue
        c = dict(c)
        c["attrs"] = c.pop("custom_attributes")
        c["seen_by"] = "icx"
        want.append(c)
    t.ok(len(want) > 0, "%d leads in the workspace" % len(want))
    t.ok(any(isinstance(v, int) and v > 2 ** 53 for c in want for v in c["attrs"].values()),
         "some lead carries an integer past 2^53")
    landed.compare(t, ws.db, "leads", want, name="leads after filter and transform")

# A transform stuck in a loop fails its asset at the looping line (the
# instruction budget), instead of hanging the run; other assets land.
ENDLESS = r'''
local icx = require "icx"
return icx.asset {
  name = "stuck",
  primary_key = "id",
  pages = require("icx.intercom").get("/tags", { list_key = "data" }),
  transform = function(tag)
    local n = 0
    while tag do
      n = n + 1
    end
    return tag
  end,
}
'''
with Sim(seed=30) as sim, Workspace(sim) as ws:
    path = os.path.join(ws.dir, "stuck.lua")
    with open(path, "w") as f:
        f.write(ENDLESS)
    r = ws.run(path, "teams", timeout=120)
    t.is_(r.rc, 2, "a looping transform fails the run as a script error (exit 2) instead of hanging")
    t.ok(re.search(r"stuck\.lua: failed: .*stuck\.lua:(9|10|11): the script ran more than \d+ Lua "
                   r"instructions", r.err), "the error names the script and the looping line")
    landed.compare(t, ws.db, "teams", sim.dump("teams"), name="teams landed regardless")

t.done_testing()
