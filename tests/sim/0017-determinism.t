#!/usr/bin/python3
# Data is generated deterministically from --seed (and --now): the same seed
# gives byte-identical dumps; another seed gives other data; counts follow
# the flags.
import os
import sys
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "lib")]
import tap                      # noqa: E402
from simctl import Sim          # noqa: E402

KINDS = ("contacts", "companies", "conversations", "tickets", "articles", "contact_tags",
         "contact_companies", "conversation_parts", "tags", "segments", "teams", "admins",
         "data_attributes", "ticket_parts", "ticket_types", "ticket_states", "company_segments",
         "company_tags", "conversation_tags", "conversation_contacts", "conversation_teammates",
         "team_admins", "activity_logs", "help_centers", "collections", "subscription_types",
         "deleted_conversations")
FLAGS = dict(contacts=120, companies=30, conversations=12, tickets=7, articles=9, tags=14,
             segments=3, teams=2, admins=3, now=1760000000)


def dumps(seed):
    with Sim(seed=seed, **FLAGS) as sim:
        return {k: sim.raw("GET", "/_sim/dump/" + k).body for k in KINDS}, sim.dump


a, _ = dumps(7)
b, _ = dumps(7)
c, _ = dumps(8)
for k in KINDS:
    tap.ok(a[k] == b[k], "same seed -> identical %s" % k)
tap.ok(a["contacts"] != c["contacts"] and a["conversations"] != c["conversations"],
       "another seed -> other data")
tap.ok(a["activity_logs"] != c["activity_logs"] and a["company_segments"] != c["company_segments"]
       and a["ticket_parts"] != c["ticket_parts"], "another seed -> other newer data")
for k, n in (("contacts", 120), ("companies", 30), ("conversations", 12), ("tickets", 7),
             ("articles", 9), ("tags", 14), ("segments", 3), ("teams", 2), ("admins", 3)):
    tap.is_(len(a[k].splitlines()), n, "--%s %d" % (k, n))
with Sim(seed=1) as sim:
    info = sim.control("GET", "/_sim/info")["counts"]
    tap.is_(info, {"contacts": 200, "companies": 50, "conversations": 30, "tickets": 20,
                   "articles": 25}, "default counts")
    tap.is_((len(sim.dump("tags")), len(sim.dump("segments")), len(sim.dump("teams")),
             len(sim.dump("admins"))), (15, 5, 3, 4), "default small counts")
tap.done_testing()
