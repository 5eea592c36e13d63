#!/usr/bin/python3
"""Conversation parts proven complete against statistics.count_conversation_
parts, on SQLite and PostgreSQL: a conversation whose GET silently comes back
short of parts (the simulator's /_sim/drop_parts: both counts still count
them) is fetched again and healed in the same run (the rows then equal the
simulator's, value by value), on a first load and on an incremental run; one
whose GET is always short exits 5 naming the asset, the conversation and the
count; a clean run while conversations change during the walk reports
complete and exits 0; icx verify conversations finds a part row deleted by
hand and heals it. Each check is a row of _icx_completeness."""
import json
import os
import re
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, "lib"), os.path.join(HERE, "..", "lib")]
from workspace import Workspace, ICX  # noqa: E402
from icxtest import Case  # noqa: E402
from simctl import Sim  # noqa: E402
import dest_drivers  # noqa: E402
import landed  # noqa: E402
import pgserver  # noqa: E402
import tap as t  # noqa: E402

ASSET = "conversation_parts"


def q(dest, sql, *args):
    """One statement on the destination; its rows (none for a change)."""
    if isinstance(dest, dest_drivers.Postgres):
        dest.cur.execute(sql.replace("?", "%s"), args)
        return dest.cur.fetchall() if dest.cur.description else []
    con = dest._con()
    try:
        rows = con.execute(sql, args).fetchall()
        con.commit()
        return rows
    finally:
        con.close()


def icx(ws, dest, *args):
    return Case.run(ws, [ICX, args[0], "--config", ws.config, "--dest", dest.uri] + list(args[1:]))


def events(r):
    evs = [json.loads(x) for x in r.err.splitlines() if x.startswith("{")]
    comp = [e for e in evs if e.get("event") == "completeness" and e.get("asset") == ASSET]
    return (comp[0] if comp else {}), [e for e in evs if e.get("event") == "incomplete"]


def moving(sim, stop):
    """Conversations change (a new part each) and are created until stop."""
    while not stop.is_set():
        sim.control("POST", "/_sim/mutate", {"asset": "conversations", "count": 2})
        sim.control("POST", "/_sim/create", {"asset": "conversations", "count": 1})
        time.sleep(0.03)


def oldest_part(sim, cid):
    return sim.api("GET", "/conversations/" + cid).json()["conversation_parts"]["conversation_parts"][0]["id"]


def case(dest, name):
    with Sim(conversations=60, contacts=30, seed=53, latency_ms=10) as sim, \
            Workspace(sim, name="1105-" + name) as ws:
        n = dest.name
        truth, counts = landed.conversation_parts_truth(sim)
        per = {}
        for p in truth:
            per.setdefault(p["conversation_id"], []).append(p)
        many = sorted(c for c, ps in per.items() if 4 <= len(ps) < 500)
        a, b, c, e = many[0], many[1], many[2], many[3]
        lost = oldest_part(sim, b)

        # A first load: a's GET is 2 parts short once (reachable), b's one
        # part short every time.
        sim.control("POST", "/_sim/drop_parts", {"ids": [a], "count": 2, "times": 1})
        sim.control("POST", "/_sim/drop_parts", {"ids": [b], "count": 1, "times": None})
        r = ws.run("conversations", ASSET, "--log-format", "json", "--summary-json", "-", dest=dest.uri)
        comp, inc = events(r)
        t.is_(r.rc, 5, "%s: first load: exit 5 when a part cannot be found" % n)
        t.is_((comp.get("complete"), comp.get("healed"), comp.get("missing")), (False, 2, 1),
              "%s: the check healed a's 2 parts and misses b's 1 (%s)" % (n, comp))
        t.is_((comp.get("conversations"), comp.get("expected")), (len(counts), len(truth)),
              "%s: every conversation checked, every part counted" % n)
        t.is_(comp.get("requests"), 2, "%s: the check cost one GET per short conversation" % n)
        t.is_([(x["asset"], x["conversations"], x["missing"]) for x in inc], [(ASSET, [b], 1)],
              "%s: an incomplete event names the asset, the conversation and the count" % n)
        summary = json.loads(r.out)
        t.is_((summary["exit_code"], summary["status"]), (5, "incomplete"), "%s: the summary says so" % n)
        dest.compare(t, ASSET, [p for p in truth if p["id"] != lost], name="%s: every part but b's lost one" % n)
        rows = q(dest, "SELECT \"window\", expected, landed, healed FROM _icx_completeness WHERE asset = ?", ASSET)
        t.is_(rows, [("parts of %d conversations" % len(counts), len(truth), len(truth) - 1, 2)],
              "%s: _icx_completeness: one row for the check" % n)

        st = icx(ws, dest, "status")
        line = [x for x in st.out.splitlines() if " conversation_parts " in x]
        t.ok(line and "INCOMPLETE: 1 missing" in line[0], "%s: icx status shows the parts check" % n)

        # icx verify conversations: b is still short and still unreachable.
        r = icx(ws, dest, "verify", "conversations")
        t.is_(r.rc, 5, "%s: verify conversations: b's part still missing, exit 5" % n)
        t.ok(re.search(r"conversation_parts: INCOMPLETE: 1 part missing from 1 conversation: %s \(Intercom counts "
                       r"%d, %d landed\)" % (b, len(per[b]), len(per[b]) - 1), r.err),
             "%s: a line names the asset, the conversation and the count" % n)
        t.ok(re.search(r"conversation_parts: INCOMPLETE: 1 part missing from 1 of %d conversations; the check cost "
                       r"\d+ requests" % len(counts), r.err), "%s: and the check's cost" % n)
        t.ok(re.search(r"\bconversations: complete: ", r.err), "%s: and checks the conversations too" % n)

        # Reachable again: verify heals it.
        sim.control("POST", "/_sim/drop_parts", {"ids": [b], "count": 0})
        r = icx(ws, dest, "verify", "conversations")
        t.is_(r.rc, 0, "%s: verify heals b once its GET is whole: exit 0" % n)
        capped = sum(1 for x in counts if x["truncated"])
        t.ok(capped > 0, "%s: some conversation is past the 500-part cap (%d)" % (n, capped))
        t.ok(re.search(r"conversation_parts: complete: parts of %d conversations, Intercom counts %d parts there "
                       r"\(%d conversations? past Intercom's 500-part cap: only the newest expected\) and all "
                       r"landed; 1 missing part was found by fetching 1 conversation again" % (
                           len(counts), len(truth), capped), r.err),
             "%s: a line says 1 part healed, the capped conversations no alarm" % n)
        dest.compare(t, ASSET, truth, name="%s: after verify" % n)

        # A part row deleted by hand is found and healed.
        q(dest, "DELETE FROM conversation_parts WHERE id = ?", oldest_part(sim, e))
        r = icx(ws, dest, "verify", "conversations")
        m = re.search(r"conversation_parts: complete: .*1 missing part was found.*the check cost (\d+) requests?",
                      r.err)
        t.ok(r.rc == 0 and m, "%s: verify finds the deleted part and heals it" % n)
        t.ok(m and int(m.group(1)) <= 3, "%s: at the cost of the search pages and one GET (%s)" % (
            n, m and m.group(1)))
        dest.compare(t, ASSET, truth, name="%s: the deleted part is back" % n)
        landed_rows = q(dest, "SELECT healed FROM _icx_completeness WHERE asset = ? ORDER BY id", ASSET)
        t.is_([h for (h,) in landed_rows], [2, 0, 1, 1], "%s: a row per check, each with what it healed" % n)

        # An incremental run: c changed (a new part), its oldest part is gone
        # from the destination and its GET leaves that part out once.
        q(dest, "DELETE FROM conversation_parts WHERE id = ?", oldest_part(sim, c))
        sim.control("POST", "/_sim/mutate", {"asset": "conversations", "ids": [c]})
        time.sleep(1)
        truth2, _ = landed.conversation_parts_truth(sim)
        sim.control("POST", "/_sim/drop_parts", {"ids": [c], "count": 1, "times": 1})
        r = ws.run(ASSET, "--log-format", "json", dest=dest.uri)
        comp, inc = events(r)
        t.is_((r.rc, comp.get("healed"), comp.get("missing"), comp.get("requests"), inc), (0, 1, 0, 1, []),
              "%s: incremental: c's part healed by one GET, exit 0 (%s)" % (n, comp))
        dest.compare(t, ASSET, truth2, name="%s: incremental: rows equal the simulator's" % n)

        # No false alarm: conversations change and appear during the walk.
        stop = threading.Event()
        th = threading.Thread(target=moving, args=(sim, stop))
        th.start()
        try:
            time.sleep(0.3)
            r = ws.run(ASSET, "--log-format", "json", dest=dest.uri)
        finally:
            stop.set()
            th.join()
        comp, inc = events(r)
        t.is_((r.rc, comp.get("complete"), comp.get("healed"), comp.get("requests"), inc), (0, True, 0, 0, []),
              "%s: a moving workspace: complete, nothing fetched again, exit 0 (%s)" % (n, comp))
        t.ok(comp.get("conversations", 0) > 0, "%s: and it checked the conversations that changed" % n)


def main():
    with tempfile.TemporaryDirectory(prefix="icx-1105-") as work:
        case(dest_drivers.Sqlite(work), "sqlite")
    if not pgserver.available():
        t.ok(False, "PostgreSQL server binaries or psycopg2 missing: the postgresql case is untested")
        return
    with pgserver.PgServer() as server:
        pg = dest_drivers.Postgres(server)
        try:
            case(pg, "pg")
        finally:
            pg.close()


main()
t.done_testing()
