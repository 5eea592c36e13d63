#!/usr/bin/python3
# The routes beyond the ten seed assets validate against the Intercom 2.14
# OpenAPI response schemas (strict objects, as 0018): tickets with their
# ticket_parts (one over the cap), /ticket_types, /ticket_states,
# /companies/{id}/segments, every page of /admins/activity_logs and
# /help_center/collections, /help_center/help_centers, /subscription_types,
# and /conversations/deleted (2.16) against the 2.16 shape; their error
# bodies (400, 401, 404, 429, injected 5xx) validate as error.list.
import os
import sys
import urllib.parse
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "lib")]
import tap                      # noqa: E402
from simctl import Sim          # noqa: E402

if not os.path.exists(__import__("sim_openapi").spec_path()):
    tap.skip("OpenAPI file not found (set ICX_SHARED)")
    tap.done_testing()
from sim_openapi import Validator  # noqa: E402

V = Validator()
ERR = V.named("error")


def check(r, schema, name, status=200):
    """One response: status and schema."""
    good = r.status == status
    errs = V.errors(schema, r.json()) if good else ["status %d: %s" % (r.status, r.body[:200])]
    if not tap.ok(not errs, name):
        for e in errs:
            tap.diag(e)
    return r.json() if good else None


def rel(url):
    u = urllib.parse.urlsplit(url)
    return u.path + "?" + u.query


def walk(sim, url, schema, name, version="2.14"):
    """Follow pages.next URLs; returns the number of pages."""
    n = 0
    while url:
        n += 1
        j = check(sim.api("GET", url, version=version), schema, "%s page %d" % (name, n))
        url = rel(j["pages"]["next"]) if j and j["pages"]["next"] else None
    return n


with Sim(tickets=30, companies=25, contacts=60, conversations=12, seed=14, rate=100000,
         activity_logs=70, collections=33) as sim:
    sch = V.response_schema("post", "/tickets/search")
    j = check(sim.api("POST", "/tickets/search", {
        "query": {"field": "updated_at", "operator": ">", "value": 0},
        "pagination": {"per_page": 150}}), sch, "tickets search with ticket_parts")
    big = [t for t in j["tickets"] if t["ticket_parts"]["total_count"] > 500]
    tap.is_(len(big), 1, "one ticket is over the part cap")
    check(sim.api("GET", "/tickets/" + big[0]["id"]), V.response_schema("get", "/tickets/{ticket_id}"),
          "GET /tickets/{id} of the capped ticket")
    for path in ("/ticket_types", "/ticket_states", "/help_center/help_centers",
                 "/subscription_types"):
        check(sim.api("GET", path), V.response_schema("get", path), "GET " + path)
    sch = V.response_schema("get", "/companies/{company_id}/segments")
    comps = sim.dump("companies")
    bad = [c["id"] for c in comps if V.errors(sch, sim.api("GET", "/companies/%s/segments" % c["id"]).json())]
    tap.is_(bad, [], "GET /companies/{id}/segments for all 25 companies")
    check(sim.api("GET", "/companies/nope/segments"), ERR, "unknown company: 404 body", 404)

    sch = V.response_schema("get", "/admins/activity_logs")
    tap.is_(walk(sim, "/admins/activity_logs?created_at_after=0", sch, "activity logs"), 4,
            "70 activity logs: 4 pages of 20")
    sim.control("POST", "/_sim/activity_logs", {"count": 3})
    walk(sim, "/admins/activity_logs?created_at_after=0&created_at_before=9999999999", sch,
         "activity logs with both bounds, after new ones")
    check(sim.api("GET", "/admins/activity_logs"), ERR, "no created_at_after: 400 body", 400)
    check(sim.api("GET", "/admins/activity_logs?created_at_after=yesterday"), ERR,
          "a bad created_at_after: 400 body", 400)

    sch = V.response_schema("get", "/help_center/collections")
    tap.is_(walk(sim, "/help_center/collections", sch, "collections"), 3,
            "33 collections: 3 pages of 15 by default")
    walk(sim, "/help_center/collections?per_page=7&page=2", sch, "collections per_page=7 from page 2")

    sim.control("POST", "/_sim/delete", {"asset": "conversations", "id": sim.dump("conversations")[0]["id"]})
    sch = V.named("deleted_conversation_list")
    tap.is_(walk(sim, "/conversations/deleted?per_page=2", sch, "deleted conversations", "2.16"), 2,
            "4 deleted conversations: 2 pages of 2")
    check(sim.api("GET", "/conversations/deleted"), ERR, "/conversations/deleted on 2.14: 404 body", 404)

    for path in ("/ticket_types", "/admins/activity_logs?created_at_after=0",
                 "/companies/%s/segments" % comps[0]["id"], "/help_center/help_centers"):
        check(sim.api("GET", path, auth=False), ERR, "401 body: " + path, 401)
    sim.fault(path="/ticket_states", status=503)
    check(sim.api("GET", "/ticket_states"), ERR, "injected 503 body", 503)
    sim.control("POST", "/_sim/rate", {"limit": 0})
    check(sim.api("GET", "/help_center/collections"), ERR, "429 body", 429)
tap.done_testing()
