#!/usr/bin/python3
# Contact search matches date fields by whole day in the workspace timezone
# (--timezone): '=' T is T's day, '>' T starts at the next day, '<' T ends
# before T's day; >=, <=, !=, IN, NIN on dates are 400. Conversation and
# ticket search compare dates to the second (and accept >=, <=).
import datetime
import os
import sys
import zoneinfo
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "lib")]
import tap                      # noqa: E402
from simctl import Sim          # noqa: E402

TZ = "America/New_York"
NOW = 1767225600 + 12345        # fixed so the test is reproducible


def day_bounds(ts, tz):
    d = datetime.datetime.fromtimestamp(ts, tz).date()
    lo = datetime.datetime(d.year, d.month, d.day, tzinfo=tz)
    hi = lo + datetime.timedelta(days=1)
    return int(lo.timestamp()), int(datetime.datetime(hi.year, hi.month, hi.day, tzinfo=tz).timestamp())


def ids(sim, path, q, key):
    out, after = [], None
    while True:
        pag = {"per_page": 150}
        if after:
            pag["starting_after"] = after
        r = sim.api("POST", path, {"query": q, "pagination": pag})
        assert r.status == 200, (q, r.body)
        j = r.json()
        out += [x["id"] for x in j[key]]
        if not j["pages"].get("next"):
            return sorted(out)
        after = j["pages"]["next"]["starting_after"]


tz = zoneinfo.ZoneInfo(TZ)
with Sim(contacts=300, conversations=50, tickets=40, seed=11, timezone=TZ, now=NOW) as sim:
    contacts = sim.dump("contacts")
    tap.is_(sim.api("GET", "/me").json()["app"]["timezone"], TZ, "/me reports the timezone")
    # A T late in its local day, with contacts earlier on the same local day.
    ts = sorted(c["updated_at"] for c in contacts)
    pick = None
    for t in ts:
        lo, hi = day_bounds(t, tz)
        same_day = [x for x in ts if lo <= x < hi]
        if len(same_day) >= 2 and t == max(same_day) and t - lo > 3600:
            pick = t
            break
    tap.ok(pick is not None, "found a day with several updates")
    lo, hi = day_bounds(pick, tz)
    for field in ("updated_at", "created_at"):
        for op, pred in (("=", lambda v: lo <= v < hi), (">", lambda v: v >= hi),
                         ("<", lambda v: v < lo)):
            lo, hi = day_bounds(pick, tz)
            want = sorted(c["id"] for c in contacts if pred(c[field]))
            got = ids(sim, "/contacts/search", {"field": field, "operator": op,
                                                "value": pick}, "data")
            tap.is_(got, want, "contacts %s %s T matches by local day" % (field, op))
    got = ids(sim, "/contacts/search", {"field": "updated_at", "operator": "=",
                                        "value": str(lo + 5)}, "data")
    tap.ok(len(got) >= 2 and pick in [c["updated_at"] for c in contacts if c["id"] in got],
           "'=' any second of the day (as a string) matches the whole day")
    utc_lo = int(datetime.datetime.fromtimestamp(pick, datetime.timezone.utc)
                 .replace(hour=0, minute=0, second=0).timestamp())
    tap.ok(utc_lo != lo, "the day boundary is the workspace's midnight, not UTC's")
    seen = [c for c in contacts if c["last_seen_at"] is not None]
    t2 = seen[0]["last_seen_at"]
    l2, h2 = day_bounds(t2, tz)
    tap.is_(ids(sim, "/contacts/search", {"field": "last_seen_at", "operator": ">", "value": t2}, "data"),
            sorted(c["id"] for c in seen if c["last_seen_at"] >= h2),
            "nullable date last_seen_at > T by day; nulls never match")
    for field in ("updated_at", "created_at", "custom_attributes.trial_ends_at"):
        for op, v in ((">=", pick), ("<=", pick), ("!=", pick), ("IN", [pick]), ("NIN", [pick])):
            r = sim.api("POST", "/contacts/search", {"query": {"field": field, "operator": op, "value": v}})
            tap.ok(r.status == 400 and r.json()["type"] == "error.list",
                   "contacts %s %s -> 400" % (field, op))
    r = sim.api("POST", "/contacts/search", {"query": {"field": "updated_at", "operator": ">", "value": "foobar"}})
    tap.is_(r.status, 400, "a date field rejects 'foobar'")

    for path, key, asset in (("/conversations/search", "conversations", "conversations"),
                             ("/tickets/search", "tickets", "tickets")):
        recs = sim.dump(asset)
        t = sorted(x["updated_at"] for x in recs)[len(recs) // 2]
        for op, pred in ((">", lambda v: v > t), ("<", lambda v: v < t), ("=", lambda v: v == t),
                         (">=", lambda v: v >= t), ("<=", lambda v: v <= t), ("!=", lambda v: v != t)):
            tap.is_(ids(sim, path, {"field": "updated_at", "operator": op, "value": t}, key),
                    sorted(x["id"] for x in recs if pred(x["updated_at"])),
                    "%s updated_at %s T compares to the second" % (asset, op))
tap.done_testing()
