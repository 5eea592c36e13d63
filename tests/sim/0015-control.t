#!/usr/bin/python3
# The control API: mutate (now, or same day with a changed field), create,
# delete, dumps of every kind, stats (total, by_path, by_status,
# max_in_flight, versions, user_agents) and reset_stats, the request log
# (time, method, path, query, body, status, headers of interest).
import datetime
import os
import sys
import threading
import time
import zoneinfo
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "lib")]
import tap                      # noqa: E402
from simctl import Sim          # noqa: E402

TZ = "Asia/Tokyo"
tz = zoneinfo.ZoneInfo(TZ)


def day(ts):
    return datetime.datetime.fromtimestamp(ts, tz).date()


with Sim(contacts=50, companies=20, conversations=10, tickets=10, articles=10,
         seed=6, timezone=TZ) as sim:
    before = {c["id"]: c for c in sim.dump("contacts")}
    m = sim.control("POST", "/_sim/mutate", {"asset": "contacts", "count": 5, "same_day": True})
    tap.is_(len(set(m["ids"])), 5, "mutate count=5 changes 5 distinct contacts")
    after = {c["id"]: c for c in sim.dump("contacts")}
    ok_day = all(day(after[i]["updated_at"]) == day(before[i]["updated_at"]) and
                 after[i]["updated_at"] != before[i]["updated_at"] and
                 abs(after[i]["updated_at"] - before[i]["updated_at"]) <= 5 for i in m["ids"])
    tap.ok(ok_day, "same_day keeps updated_at in the same local day, a few seconds off")
    tap.ok(all(after[i]["custom_attributes"] != before[i]["custom_attributes"] for i in m["ids"]),
           "mutate changes a field value")
    tap.is_({i: after[i]["updated_at"] for i in m["ids"]}, m["updated_at"],
            "mutate reports the new updated_at")
    untouched = [i for i in before if i not in m["ids"]]
    tap.ok(all(after[i] == before[i] for i in untouched), "other contacts are untouched")
    t = int(time.time())
    for asset in ("contacts", "companies", "conversations", "tickets", "articles"):
        one = sim.dump(asset)[0]["id"]
        m = sim.control("POST", "/_sim/mutate", {"asset": asset, "ids": [one]})
        rec = [x for x in sim.dump(asset) if x["id"] == one][0]
        tap.ok(abs(rec["updated_at"] - t) <= 2 and m["ids"] == [one],
               "mutate %s by id bumps updated_at to now" % asset)
        c = sim.control("POST", "/_sim/create", {"asset": asset, "count": 2})
        ids = {x["id"] for x in sim.dump(asset)}
        tap.ok(len(c["ids"]) == 2 and set(c["ids"]) <= ids, "create %s" % asset)
        sim.control("POST", "/_sim/delete", {"asset": asset, "id": c["ids"][0]})
        tap.ok(c["ids"][0] not in {x["id"] for x in sim.dump(asset)}, "delete %s" % asset)
    r = sim.raw("POST", "/_sim/delete", {"asset": "contacts", "id": "nope"})
    tap.is_(r.status, 400, "delete of a missing record -> 400")
    r = sim.raw("POST", "/_sim/mutate", {"asset": "widgets"})
    tap.is_(r.status, 400, "unknown asset -> 400")
    for what in ("contacts", "companies", "conversations", "tickets", "articles",
                 "contact_tags", "contact_companies", "conversation_parts", "tags",
                 "segments", "teams", "admins", "data_attributes"):
        tap.ok(len(sim.dump(what)) > 0, "dump %s" % what)
    tap.ok(all("conversation_id" in p for p in sim.dump("conversation_parts")),
           "conversation_parts dump has conversation_id")

    sim.reset_stats()
    sim.api("GET", "/tags", headers={"User-Agent": "icx/0.1"})
    sim.api("POST", "/contacts/search?x=1",
            {"query": {"field": "role", "operator": "=", "value": "user"}},
            headers={"User-Agent": "icx/0.1", "Accept-Encoding": "gzip"})
    sim.api("GET", "/conversations/" + sim.dump("conversations")[0]["id"], version=None)
    st = sim.stats()
    tap.is_(st["total"], 3, "stats total after reset")
    tap.is_(st["by_path"]["/contacts/search"], 1, "by_path")
    tap.is_(st["by_route"].get("/conversations/{id}"), 1, "by_route groups ids")
    tap.is_(st["by_status"], {"200": 3}, "by_status")
    tap.is_(st["versions"], {"2.14": 2, "missing": 1}, "versions")
    tap.is_(st["user_agents"].get("icx/0.1"), 2, "user_agents")
    log = sim.request_log()[-3:]
    e = log[1]
    tap.is_((e["method"], e["path"], e["query"], e["status"]),
            ("POST", "/contacts/search", {"x": ["1"]}, 200), "log: method, path, query, status")
    tap.is_(e["body"], {"query": {"field": "role", "operator": "=", "value": "user"}},
            "log: body parsed as JSON")
    tap.is_(e["headers"], {"Intercom-Version": "2.14", "User-Agent": "icx/0.1",
                           "Accept": "application/json", "Content-Type": "application/json",
                           "Accept-Encoding": "gzip"}, "log: headers of interest")
    tap.ok(isinstance(e["time"], float) and abs(e["time"] - time.time()) < 60, "log: time")

    sim.reset_stats()
    sim.fault(path="/tags", kind="delay", delay_ms=400, count=4)
    ths = [threading.Thread(target=sim.api, args=("GET", "/tags")) for _ in range(4)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    tap.ok(sim.stats()["max_in_flight"] >= 3, "max_in_flight sees concurrent requests")
    info = sim.control("GET", "/_sim/info")
    tap.is_((info["port"], info["seed"], info["timezone"]), (sim.port, 6, TZ), "/_sim/info")

    # skip: walks pass over the record, GET by id still finds it.
    victim = {a: sim.dump(a)[0]["id"] for a in ("contacts", "companies", "tickets", "articles")}
    for a, rid in victim.items():
        sim.control("POST", "/_sim/skip", {"asset": a, "id": rid})
    ALLQ = {"query": {"field": "updated_at", "operator": ">", "value": 0}, "pagination": {"per_page": 150}}
    listed = {
        "contacts": [c["id"] for c in sim.api("POST", "/contacts/search", ALLQ).json()["data"]]
                    + [c["id"] for c in sim.api("GET", "/contacts?per_page=150").json()["data"]],
        "tickets": [x["id"] for x in sim.api("POST", "/tickets/search", ALLQ).json()["tickets"]],
        "articles": [x["id"] for x in sim.api("GET", "/articles?per_page=150").json()["data"]],
        "companies": [x["id"] for x in sim.api("GET", "/companies/scroll").json()["data"]],
    }
    for a, rid in victim.items():
        tap.ok(listed[a] and rid not in listed[a], "skip: %s %s missing from its walks" % (a, rid))
        tap.is_(sim.api("GET", "/%s/%s" % (a, rid)).status, 200, "skip: GET /%s/{id} still finds it" % a)
    tap.is_(sim.raw("POST", "/_sim/skip", {"asset": "contacts", "id": "nope"}).status, 400,
            "skip: an unknown id is a 400")
tap.done_testing()
