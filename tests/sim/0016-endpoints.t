#!/usr/bin/python3
# The small endpoints (/me, /tags, /segments?include_count, /teams, /admins,
# /data_attributes?model=, /help_center/collections, /subscription_types),
# HTTP/1.1 keep-alive (many requests on one connection, always
# Content-Length) and gzip when the request accepts it.
import gzip
import http.client
import json
import os
import sys
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "lib")]
import tap                      # noqa: E402
from simctl import Sim          # noqa: E402

with Sim(contacts=60, tags=12, segments=4, teams=2, admins=5, timezone="Europe/Dublin") as sim:
    j = sim.api("GET", "/me").json()
    tap.is_((j["type"], j["app"]["timezone"]), ("admin", "Europe/Dublin"), "/me")
    j = sim.api("GET", "/tags").json()
    tap.is_((j["type"], len(j["data"])), ("list", 12), "/tags: list of 12 under data")
    tap.ok(all(t["type"] == "tag" and isinstance(t["id"], str) for t in j["data"]), "tag shape")
    j = sim.api("GET", "/segments").json()
    tap.is_((j["type"], len(j["segments"])), ("segment.list", 4), "/segments")
    tap.ok(all("count" not in s for s in j["segments"]), "no count without include_count")
    j = sim.api("GET", "/segments?include_count=true").json()
    tap.ok(all(isinstance(s["count"], int) for s in j["segments"]), "include_count=true adds count")
    tap.ok(sum(s["count"] for s in j["segments"]) > 0, "segments have members")
    seg = j["segments"][0]
    r = sim.api("POST", "/contacts/search", {"query": {"field": "segment_id", "operator": "=",
                                                       "value": seg["id"]}})
    tap.is_(r.json()["total_count"], seg["count"], "segment_id search matches the count")
    j = sim.api("GET", "/teams").json()
    tap.is_((j["type"], len(j["teams"])), ("team.list", 2), "/teams")
    j = sim.api("GET", "/admins").json()
    tap.is_((j["type"], len(j["admins"])), ("admin.list", 5), "/admins")
    names = {}
    for model in ("contact", "company", "conversation"):
        j = sim.api("GET", "/data_attributes?model=" + model).json()
        tap.ok(j["type"] == "list" and j["data"] and all(d["model"] == model for d in j["data"]),
               "/data_attributes?model=%s" % model)
        names[model] = [d["name"] for d in j["data"]]
        tap.ok(not any(d["archived"] for d in j["data"]), "%s: no archived by default" % model)
    tap.ok(set(names["contact"]) & set(names["company"]) & {"name", "seats"},
           "names repeat across models")
    tap.ok(names["conversation"].count("priority") == 2,
           "a custom and a standard attribute share a name")
    j = sim.api("GET", "/data_attributes?model=contact&include_archived=true").json()
    tap.ok(any(d["archived"] for d in j["data"]), "include_archived=true adds archived ones")
    j = sim.api("GET", "/data_attributes").json()
    tap.is_({d["model"] for d in j["data"]}, {"contact", "company", "conversation"},
            "no model: all models")
    j = sim.api("GET", "/help_center/collections").json()
    tap.ok(j["type"] == "list" and j["data"] and "pages" in j, "/help_center/collections")
    j = sim.api("GET", "/subscription_types").json()
    tap.ok(j["type"] == "list" and j["data"], "/subscription_types")

    conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=10)
    hdr = {"Authorization": "Bearer test-token", "Accept": "application/json"}
    socks = set()
    for path in ("/tags", "/teams", "/nope", "/admins"):
        conn.request("GET", path, headers=hdr)
        resp = conn.getresponse()
        tap.ok(resp.getheader("Content-Length") is not None, "%s has Content-Length" % path)
        resp.read()
        socks.add(id(conn.sock))
        tap.is_(resp.version, 11, "%s answered in HTTP/1.1" % path)
    body = json.dumps({"query": {"field": "role", "operator": "=", "value": "user"}})
    conn.request("POST", "/contacts/search", body=body,
                 headers=dict(hdr, **{"Content-Type": "application/json"}))
    resp = conn.getresponse()
    resp.read()
    socks.add(id(conn.sock))
    tap.is_(len(socks), 1, "five requests reused one keep-alive connection")
    conn.request("GET", "/tags", headers=dict(hdr, **{"Accept-Encoding": "gzip"}))
    resp = conn.getresponse()
    z = resp.read()
    tap.is_(resp.getheader("Content-Encoding"), "gzip", "gzip when accepted")
    tap.is_(int(resp.getheader("Content-Length")), len(z), "Content-Length of the gzip body")
    tap.is_(json.loads(gzip.decompress(z))["type"], "list", "gzip body decodes")
    conn.request("GET", "/tags", headers=hdr)
    resp = conn.getresponse()
    tap.ok(resp.getheader("Content-Encoding") is None and json.loads(resp.read()),
           "identity when gzip is not accepted")
    conn.close()
tap.done_testing()
