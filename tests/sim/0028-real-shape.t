#!/usr/bin/python3
# The real shape (--recent-share): that share of records updated in the last
# --recent-days, the rest over two years and created within a month of their
# last update; off by default, so the even 400-day spread is unchanged.
import os
import sys
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "lib")]
import tap                      # noqa: E402
from simctl import Sim          # noqa: E402

NOW = 1790000000
DAY = 86400

with Sim(contacts=3000, conversations=200, seed=4, now=NOW,
         recent_share=0.6, recent_days=3) as sim:
    cs = sim.dump("contacts")
    recent = [c for c in cs if c["updated_at"] >= NOW - 3 * DAY]
    share = len(recent) / len(cs)
    tap.ok(0.55 <= share <= 0.65, "%.3f of contacts updated in the last 3 days" % share)
    oldest = min(c["updated_at"] for c in cs)
    tap.ok(600 * DAY <= NOW - oldest <= 730 * DAY,
           "the rest reach back two years (%d days)" % ((NOW - oldest) // DAY))
    tap.ok(all(c["created_at"] <= c["updated_at"] for c in cs), "created at or before updated")
    older = [c for c in cs if c["updated_at"] < NOW - 3 * DAY]
    tap.ok(all(c["updated_at"] - c["created_at"] < 30 * DAY for c in older),
           "older records were updated within a month of their creation")
    tap.ok(any(c["updated_at"] - c["created_at"] > 300 * DAY for c in recent),
           "recent updates come from records created long ago too")
    convs = sim.dump("conversations")
    tap.ok(sum(1 for c in convs if c["updated_at"] >= NOW - 3 * DAY) > 80,
           "every asset takes the shape")

with Sim(contacts=3000, seed=4, now=NOW) as sim:
    cs = sim.dump("contacts")
    share = sum(1 for c in cs if c["updated_at"] >= NOW - 3 * DAY) / len(cs)
    tap.ok(share < 0.05, "off by default: %.3f in the last 3 days" % share)
    tap.ok(NOW - min(c["updated_at"] for c in cs) <= 400 * DAY, "the even spread keeps to 400 days")

tap.done_testing()
