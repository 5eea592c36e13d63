#!/usr/bin/python3
# Every endpoint's responses validate against the Intercom 2.14 OpenAPI
# response schemas (jsonschema; strict objects): every page of each
# paginated walk, every conversation, sub-resources, the small lists, and
# error bodies (401, 404, 400, 429, injected 500, scroll_exists). The few
# documented deviations are listed in sim_openapi.py.
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


def search_walk(sim, path, q, schema_path):
    sch = V.response_schema("post", schema_path)
    after, n = None, 0
    while True:
        pag = {"per_page": 40}
        if after:
            pag["starting_after"] = after
        j = check(sim.api("POST", path, {"query": q, "pagination": pag,
                                         "sort": {"field": "updated_at", "order": "ascending"}}),
                  sch, "%s page %d" % (path, n + 1))
        n += 1
        if not j or not j["pages"].get("next"):
            return n
        after = j["pages"]["next"]["starting_after"]


with Sim(contacts=150, companies=70, conversations=30, tickets=25, articles=30,
         big_conversations=1, seed=12, rate=100000) as sim:
    Q = {"field": "updated_at", "operator": ">", "value": 0}
    check(sim.api("GET", "/me"), V.response_schema("get", "/me"), "GET /me")
    search_walk(sim, "/contacts/search", Q, "/contacts/search")
    search_walk(sim, "/conversations/search", Q, "/conversations/search")
    search_walk(sim, "/tickets/search", Q, "/tickets/search")
    check(sim.api("POST", "/contacts/search", {"query": {"field": "name", "operator": "=",
                                                         "value": "nobody at all"}}),
          V.response_schema("post", "/contacts/search"), "empty contacts search")
    sch = V.response_schema("get", "/contacts")
    url, n = "/contacts?per_page=60", 0
    while url:
        n += 1
        j = check(sim.api("GET", url), sch, "GET /contacts page %d" % n)
        nxt = j and j["pages"].get("next")
        url = "/contacts?per_page=60&starting_after=" + nxt["starting_after"] if nxt else None
    sch = V.response_schema("get", "/conversations")
    check(sim.api("GET", "/conversations?per_page=50"), sch, "GET /conversations")

    sch = V.response_schema("get", "/companies/scroll")
    j = check(sim.api("GET", "/companies/scroll"), sch, "scroll page 1")
    n = 1
    while j and j["data"]:
        n += 1
        j = check(sim.api("GET", "/companies/scroll?scroll_param=" + j["scroll_param"]),
                  sch, "scroll page %d%s" % (n, "" if j["data"] else " (end)"))
    sch = V.response_schema("post", "/companies/list")
    url, n = "/companies/list?per_page=30", 0
    while url:
        n += 1
        j = check(sim.api("POST", url), sch, "POST /companies/list page %d" % n)
        url = rel(j["pages"]["next"]) if j and j["pages"]["next"] else None
    sch = V.response_schema("get", "/articles")
    url, n = "/articles?per_page=12", 0
    while url:
        n += 1
        j = check(sim.api("GET", url), sch, "GET /articles page %d" % n)
        url = rel(j["pages"]["next"]) if j and j["pages"]["next"] else None

    sch = V.response_schema("get", "/conversations/{conversation_id}")
    bad = []
    for c in sim.dump("conversations"):
        r = sim.api("GET", "/conversations/" + c["id"])
        errs = V.errors(sch, r.json())
        if r.status != 200 or errs:
            bad.append((c["id"], r.status, errs[:3]))
    tap.is_(bad, [], "GET /conversations/{id} for all 30 conversations")

    for asset, path in (("companies", "/companies/{company_id}"), ("tickets", "/tickets/{ticket_id}"),
                        ("articles", "/articles/{article_id}")):
        sch = V.response_schema("get", path)
        for rec in sim.dump(asset)[:5]:
            check(sim.api("GET", "/%s/%s" % (asset, rec["id"])), sch, "GET " + path)
        check(sim.api("GET", "/%s/404404404" % asset), ERR, "GET %s for a missing id: 404 body" % path, 404)

    contacts = sim.dump("contacts")
    many = [c for c in contacts if c["companies"]["total_count"] > 10][:2] + contacts[:3]
    for c in many:
        check(sim.api("GET", "/contacts/" + c["id"]),
              V.response_schema("get", "/contacts/{contact_id}"), "GET /contacts/{id}")
        check(sim.api("GET", "/contacts/%s/tags" % c["id"]),
              V.response_schema("get", "/contacts/{contact_id}/tags"), "GET /contacts/{id}/tags")
        sch = V.response_schema("get", "/contacts/{contact_id}/companies")
        url = "/contacts/%s/companies?per_page=5" % c["id"]
        while url:
            j = check(sim.api("GET", url), sch, "GET /contacts/{id}/companies")
            url = rel(j["pages"]["next"]) if j and j["pages"]["next"] else None

    for path in ("/tags", "/segments", "/segments?include_count=true", "/teams",
                 "/admins", "/data_attributes", "/data_attributes?model=contact",
                 "/data_attributes?model=company",
                 "/data_attributes?model=conversation&include_archived=true",
                 "/help_center/collections", "/subscription_types"):
        check(sim.api("GET", path), V.response_schema("get", path.split("?")[0]), "GET " + path)

    check(sim.api("GET", "/tags", auth=False), ERR, "401 body", 401)
    check(sim.api("GET", "/conversations/1"), ERR, "404 body", 404)
    check(sim.api("POST", "/contacts/search", {"query": {"field": "updated_at", "operator": ">=",
                                                         "value": 1}}), ERR, "400 body", 400)
    check(sim.api("GET", "/companies/scroll"), sch if False else V.response_schema(
        "get", "/companies/scroll"), "scroll start")
    check(sim.api("GET", "/companies/scroll"), ERR, "scroll_exists body", 400)
    check(sim.api("POST", "/companies/list?page=500&per_page=60"), ERR, "10k cap body", 400)
    sim.fault(path="/tags", status=500)
    check(sim.api("GET", "/tags"), ERR, "injected 500 body", 500)
    sim.control("POST", "/_sim/rate", {"limit": 0})
    check(sim.api("GET", "/tags"), ERR, "429 body", 429)
tap.done_testing()
