#!/usr/bin/python3
"""The custom assets in examples/ against the simulator: an AND search
replaced whole, a custom-attribute search kept incrementally, and a small
endpoint through a script's filter and transform."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from workspace import Workspace, ROOT  # noqa: E402
from simctl import Sim  # noqa: E402
import landed  # noqa: E402
import tap as t  # noqa: E402

EX = os.path.join(ROOT, "examples")

with Sim(contacts=300, conversations=120, seed=21) as sim, Workspace(sim) as ws:
    convs = sim.dump("conversations")
    teams = [c["team_assignee_id"] for c in convs if c["open"] and c["team_assignee_id"] is not None]
    team = max(set(teams), key=teams.count)
    r = ws.run(os.path.join(EX, "team_open_conversations.lua"), env={"ICX_TEAM_ID": str(team)})
    t.is_(r.rc, 0, "team_open_conversations exits 0")
    want = [c for c in convs if c["open"] is True and c["team_assignee_id"] == team]
    t.ok(len(want) > 0, "the team has open conversations (%d)" % len(want))
    landed.compare(t, ws.db, "team_open_conversations", want)

    contacts = sim.dump("contacts")
    plans = [c["custom_attributes"].get("plan") for c in contacts]
    plan = max(set(p for p in plans if isinstance(p, str)), key=plans.count)
    r = ws.run(os.path.join(EX, "pro_contacts.lua"), env={"ICX_PLAN": plan})
    t.is_(r.rc, 0, "pro_contacts exits 0")
    want = [c for c in contacts if c["custom_attributes"].get("plan") == plan]
    landed.compare(t, ws.db, "pro_contacts", want, name="contacts with plan '%s'" % plan)

    r = ws.run(os.path.join(EX, "staffed_teams.lua"))
    t.is_(r.rc, 0, "staffed_teams exits 0")
    teams = sim.dump("teams")
    want = [dict(x, admin_count=len(x["admin_ids"])) for x in teams if x["admin_ids"]]
    t.ok(0 < len(want), "some teams have admins (%d of %d)" % (len(want), len(teams)))
    landed.compare(t, ws.db, "staffed_teams", want)

t.done_testing()
