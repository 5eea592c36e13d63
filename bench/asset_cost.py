#!/usr/bin/python3
"""The request cost of each shipped asset against the simulator (a medium
workspace, no latency, no rate limit), next to its floor: the least
requests any client could return the same data with, from the simulator's
truth and Intercom's page sizes.

Each asset runs alone (its requests are the request log's lines between
its run's start and end, less the GET /me every run starts with), first on
an empty database, then again after mutations: contacts, companies,
conversations, tickets and articles changed, parts added to tickets,
company segment membership moved, new activity logs.

Floors, per run (ceil = rounded up; a page walk that may return nothing
still costs one request):
  search assets       ceil(records to return / 150); incremental: the
                      changed records (at least 1)
  contact_tags        the contact search, plus one GET per contact with a
                      truncated tag list, or the tag walk (contact search
                      per tag, ceil(contacts of the tag / 150) each) when
                      fewer; incremental: the search plus one GET per
                      changed truncated contact
  contact_companies   the contact search plus ceil(companies / 150) per
                      contact with a truncated company list
  companies scroll    ceil(companies / 50) + 1 (the scroll ends on an empty
                      page; it has no server filter, so every run is whole)
  company_segments    the scroll plus one GET per company (membership moves
                      without updated_at: every run is whole)
  conversation_parts  the search plus one GET per (changed) conversation
  link tables, ticket parts, team_admins: 0 extra (embedded in the parent)
  articles            ceil(articles / 150) newest first; incremental: the
                      changed (at least 1)
  collections         ceil(collections / 150)
  activity_logs       ceil(logs / 20) (the route's fixed page)
  single lists        1 each; data_attributes 3 (one per model)

ASSET_COST_CONTACTS scales the workspace (default 3000 contacts).
"""
import json
import math
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "sim"))
from simctl import Sim  # noqa: E402

ICX = os.path.abspath(os.environ.get("ICX", os.path.join(ROOT, "icx")))
N = int(os.environ.get("ASSET_COST_CONTACTS", "3000"))
SEARCH, SCROLL, LIST, LOGS, EMBED = 150, 50, 150, 20, 10
ASSETS = sorted(f[:-4] for f in os.listdir(os.path.join(ROOT, "scripts")) if f.endswith(".lua"))
SINGLE = {"tags": 1, "segments": 1, "teams": 1, "admins": 1, "ticket_types": 1, "ticket_states": 1,
          "help_centers": 1, "subscription_types": 1, "data_attributes": 3}


def ceil(n, per):
    return int(math.ceil(n / float(per)))


def walk(n, per):
    """A page walk's requests: at least one, even for nothing."""
    return max(1, ceil(n, per))


def truncated(c, kind):
    ref = c[kind]
    return bool(ref.get("has_more")) or ref.get("total_count", 0) > len(ref["data"])


def changed(before, after):
    """The records of after that are new or differ from before."""
    old = {r["id"]: r for r in before}
    return [r for r in after if old.get(r["id"]) != r]


def floors(sim, since=None):
    """asset -> (floor, basis) from the simulator's truth; since: the dumps
    before the mutations (an incremental run), or None (a first load)."""
    d = {a: sim.dump(a) for a in ("contacts", "companies", "conversations", "tickets", "articles",
                                  "collections", "activity_logs")}
    first = since is None
    ch = {a: d[a] if first else changed(since[a], d[a]) for a in d}
    contacts = ch["contacts"]
    search = walk(len(contacts), SEARCH)
    cut_tags = sum(1 for c in contacts if truncated(c, "tags"))
    out = {"contacts": (search, "%d contacts / %d" % (len(contacts), SEARCH))}
    tag_walk = None
    if first:
        per_tag = {}
        for p in sim.dump("contact_tags"):
            per_tag[p["tag_id"]] = per_tag.get(p["tag_id"], 0) + 1
        tag_walk = sum(ceil(n, SEARCH) for n in per_tag.values())
    per_contact = search + cut_tags
    if tag_walk is not None and tag_walk < per_contact:
        out["contact_tags"] = (tag_walk, "tag walk: contacts of each tag / %d (per contact: search %d + %d "
                               "truncated tag lists)" % (SEARCH, search, cut_tags))
    else:
        out["contact_tags"] = (per_contact, "search %d + %d truncated tag lists" % (search, cut_tags))
    cut_co = [c for c in contacts if truncated(c, "companies")]
    co_gets = sum(ceil(c["companies"].get("total_count", EMBED + 1), LIST) for c in cut_co)
    out["contact_companies"] = (search + co_gets, "search %d + %d truncated company lists"
                                % (search, len(cut_co)))
    ncomp = len(d["companies"])
    scroll = ceil(ncomp, SCROLL) + 1
    out["companies"] = (scroll, "whole scroll: %d / %d + 1" % (ncomp, SCROLL))
    out["company_segments"] = (scroll + ncomp, "whole scroll + %d companies" % ncomp)
    conv = ch["conversations"]
    out["conversations"] = (walk(len(conv), SEARCH), "%d conversations / %d; link tables 0" % (len(conv), SEARCH))
    out["conversation_parts"] = (walk(len(conv), SEARCH) + len(conv), "search + %d conversations" % len(conv))
    tk = ch["tickets"]
    out["tickets"] = (walk(len(tk), SEARCH), "%d tickets / %d; ticket parts 0" % (len(tk), SEARCH))
    ar = ch["articles"]
    out["articles"] = (walk(len(ar), LIST), "%d articles / %d" % (len(ar), LIST))
    out["collections"] = (walk(len(d["collections"]), LIST), "%d collections / %d" % (len(d["collections"]), LIST))
    logs = ch["activity_logs"]
    out["activity_logs"] = (walk(len(logs), LOGS), "%d logs / %d" % (len(logs), LOGS))
    for a, n in SINGLE.items():
        out[a] = (n, "one list" if n == 1 else "one per model")
    out["teams"] = (1, "one list; team_admins 0")
    return out, {a: d[a] for a in d}


def run_one(sim, conf, db, asset):
    """Runs one asset alone: (exit code, requests less GET /me)."""
    before = len(sim.request_log())
    rc = subprocess.call([ICX, "run", "-q", "--config", conf, "--dest", db,
                          os.path.join(ROOT, "scripts", asset + ".lua")])
    log = sim.request_log()[before:]
    return rc, sum(1 for x in log if x["path"] != "/me")


def mutate(sim):
    """Moves the workspace between the two runs."""
    c = sim.control
    c("POST", "/_sim/mutate", {"asset": "contacts", "count": max(1, N // 100)})
    c("POST", "/_sim/mutate", {"asset": "companies", "count": 10})
    c("POST", "/_sim/mutate", {"asset": "conversations", "count": 20})
    c("POST", "/_sim/mutate", {"asset": "tickets", "count": 8})
    c("POST", "/_sim/mutate", {"asset": "articles", "count": 5})
    for _ in range(4):
        c("POST", "/_sim/ticket_parts", {"count": 2})
    c("POST", "/_sim/company_segments", {"count": 20})
    c("POST", "/_sim/activity_logs", {"count": 30})


def main():
    with Sim(contacts=N, companies=N // 8, conversations=N // 8, tickets=N // 15, articles=120,
             collections=40, activity_logs=150, seed=12, rate=10 ** 7, ready_timeout=600) as sim, \
            tempfile.TemporaryDirectory() as d:
        conf = os.path.join(d, "c.yml")
        with open(conf, "w") as f:
            f.write("connections:\n  intercom:\n    - name: bench\n      access_token: %s\n      base_url: %s\n"
                    % (sim.token, sim.url))
        db = os.path.join(d, "cost.db")
        floor1, truth = floors(sim)
        first = {a: run_one(sim, conf, db, a) for a in ASSETS}
        # Mutations land a second after the first load's cursors, as any
        # later change would.
        time.sleep(1.1)
        mutate(sim)
        floor2, _ = floors(sim, since=truth)
        second = {a: run_one(sim, conf, db, a) for a in ASSETS}
    print("== asset cost: %d contacts, %d companies, %d conversations, %d tickets (requests; GET /me "
          "of each run not counted)" % (N, N // 8, N // 8, N // 15))
    print("%-20s %7s %7s %6s   %7s %7s %6s   %s" % ("asset", "first", "floor", "x", "incr", "floor", "x",
                                                    "floor basis (first load; incremental)"))
    rows = []
    for a in ASSETS:
        (rc1, r1), (rc2, r2) = first[a], second[a]
        f1, why1 = floor1[a]
        f2, why2 = floor2[a]
        bad = "" if rc1 == 0 and rc2 == 0 else "  (exit %d, %d)" % (rc1, rc2)
        why = why1 if why1 == why2 else "%s; %s" % (why1, why2)
        print("%-20s %7d %7d %6.2f   %7d %7d %6.2f   %s%s"
              % (a, r1, f1, r1 / float(f1), r2, f2, r2 / float(f2), why, bad))
        rows.append({"asset": a, "first": r1, "first_floor": f1, "incremental": r2, "incremental_floor": f2,
                     "exit": [rc1, rc2]})
    tot = [sum(r[k] for r in rows) for k in ("first", "first_floor", "incremental", "incremental_floor")]
    print("%-20s %7d %7d %6.2f   %7d %7d %6.2f" % ("all", tot[0], tot[1], tot[0] / float(tot[1]), tot[2], tot[3],
                                                   tot[2] / float(tot[3])))
    if os.environ.get("ASSET_COST_JSON"):
        with open(os.environ["ASSET_COST_JSON"], "w") as f:
            json.dump(rows, f, indent=1)
    failed = [r["asset"] for r in rows if r["exit"] != [0, 0]]
    print("asset_cost: %d assets, %s" % (len(rows), "every run exit 0" if not failed else
                                         "FAILED: " + ", ".join(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
