#!/usr/bin/python3
# Search query language on /contacts/search, /conversations/search and
# /tickets/search: operators = != IN NIN < > <= >= ~ !~ ^ $, AND/OR groups
# at most 2 levels deep with at most 15 filters each (else 400), results and
# total_count checked against the dump; sort; default sort last_request_at
# (a contact's last_seen_at) descending.
import os
import sys
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "lib")]
import tap                      # noqa: E402
from simctl import Sim          # noqa: E402


def walk(sim, path, body, key):
    """Every record of a search, following pages.next."""
    out, total, body = [], None, dict(body)
    body["pagination"] = {"per_page": 150}
    while True:
        r = sim.api("POST", path, body)
        assert r.status == 200, r.body
        j = r.json()
        out += j[key]
        total = j["total_count"]
        nxt = j["pages"].get("next")
        if not nxt:
            return out, total
        body["pagination"] = {"per_page": 150, "starting_after": nxt["starting_after"]}


def f(field, op, value):
    return {"field": field, "operator": op, "value": value}


with Sim(contacts=400, conversations=60, tickets=40, seed=3) as sim:
    contacts = sim.dump("contacts")
    convs = sim.dump("conversations")
    tickets = sim.dump("tickets")
    tags = {r["tag_id"] for r in sim.dump("contact_tags")}
    a_tag = sorted(tags)[0]
    tagged = {r["contact_id"] for r in sim.dump("contact_tags") if r["tag_id"] == a_tag}
    c0 = contacts[7]
    cases = [
        ("role = user", f("role", "=", "user"), lambda c: c["role"] == "user"),
        ("role != user", f("role", "!=", "user"), lambda c: c["role"] != "user"),
        ("id IN", f("id", "IN", [c0["id"], contacts[9]["id"]]),
         lambda c: c["id"] in (c0["id"], contacts[9]["id"])),
        ("role NIN", f("role", "NIN", ["lead"]), lambda c: c["role"] != "lead"),
        ("email ~", f("email", "~", "brien"), lambda c: "brien" in c["email"].lower()),
        ("email !~", f("email", "!~", "brien"), lambda c: "brien" not in c["email"].lower()),
        ("email ^", f("email", "^", "user1"), lambda c: c["email"].lower().startswith("user1")),
        ("email $", f("email", "$", ".org"), lambda c: c["email"].endswith(".org")),
        ("owner_id > ", f("owner_id", ">", 991267001),
         lambda c: c["owner_id"] is not None and c["owner_id"] > 991267001),
        ("owner_id <=", f("owner_id", "<=", 991267001),
         lambda c: c["owner_id"] is not None and c["owner_id"] <= 991267001),
        ("custom_attributes.plan =", f("custom_attributes.plan", "=", "pro"),
         lambda c: c["custom_attributes"]["plan"] == "pro"),
        ("location.country =", f("location.country", "=", "JP"),
         lambda c: c["location"]["country"] == "JP"),
        ("tag_id =", f("tag_id", "=", a_tag), lambda c: c["id"] in tagged),
        ("tag_id !=", f("tag_id", "!=", a_tag), lambda c: c["id"] not in tagged),
        ("(role=user AND (email$.org OR email$.io))",
         {"operator": "AND", "value": [
             f("role", "=", "user"),
             {"operator": "OR", "value": [f("email", "$", ".org"), f("email", "$", ".io")]}]},
         lambda c: c["role"] == "user" and c["email"].endswith((".org", ".io"))),
    ]
    for name, q, pred in cases:
        got, total = walk(sim, "/contacts/search", {"query": q}, "data")
        want = sorted(c["id"] for c in contacts if pred(c))
        tap.is_(sorted(x["id"] for x in got), want, "contacts %s" % name)
        tap.is_(total, len(want), "contacts %s total_count" % name)

    # Default sort: last_request_at (last_seen_at) descending, nulls last.
    r = sim.api("POST", "/contacts/search",
                {"query": f("role", "IN", ["user", "lead"]), "pagination": {"per_page": 150}})
    seen = [c["last_seen_at"] for c in r.json()["data"]]
    nn = [s for s in seen if s is not None]
    tap.ok(nn == sorted(nn, reverse=True) and seen[:len(nn)] == nn,
           "default sort is last_request_at (last_seen_at) descending")
    r = sim.api("POST", "/contacts/search",
                {"query": f("role", "=", "user"), "sort": {"field": "created_at", "order": "ascending"},
                 "pagination": {"per_page": 150}})
    cr = [c["created_at"] for c in r.json()["data"]]
    tap.ok(cr == sorted(cr), "sort created_at ascending")

    # Nesting and group-size limits.
    lvl2 = {"operator": "AND", "value": [{"operator": "OR", "value": [f("role", "=", "user")]}]}
    lvl3 = {"operator": "AND", "value": [{"operator": "OR", "value": [
        {"operator": "AND", "value": [f("role", "=", "user")]}]}]}
    tap.is_(sim.api("POST", "/contacts/search", {"query": lvl2}).status, 200,
            "2 levels of nesting is fine")
    r = sim.api("POST", "/contacts/search", {"query": lvl3})
    tap.is_(r.status, 400, "3 levels of nesting -> 400")
    tap.is_(r.json()["type"], "error.list", "nesting error is an error.list")
    g15 = {"operator": "OR", "value": [f("role", "=", "user")] * 15}
    g16 = {"operator": "OR", "value": [f("role", "=", "user")] * 16}
    tap.is_(sim.api("POST", "/contacts/search", {"query": g15}).status, 200,
            "15 filters in a group is fine")
    tap.is_(sim.api("POST", "/conversations/search", {"query": g16}).status, 400,
            "16 filters in a group -> 400 (conversations)")
    tap.is_(sim.api("POST", "/tickets/search", {"query": g16}).status, 400,
            "16 filters in a group -> 400 (tickets)")
    tap.is_(sim.api("POST", "/contacts/search", {"query": f("role", "IN", "user")}).status,
            400, "IN needs an array")
    tap.is_(sim.api("POST", "/contacts/search", {"query": f("tag_id", "IN", [a_tag])}).status,
            400, "tag_id supports only = and !=")

    # Conversations and tickets.
    cid = convs[3]["contacts"]["contacts"][0]["id"]
    got, total = walk(sim, "/conversations/search",
                      {"query": {"operator": "AND", "value": [
                          f("contact_ids", "=", cid), f("state", "IN", ["open", "closed", "snoozed"])]}},
                      "conversations")
    want = sorted(c["id"] for c in convs if c["contacts"]["contacts"][0]["id"] == cid)
    tap.is_(sorted(c["id"] for c in got), want, "conversations contact_ids =")
    tap.ok(all("conversation_parts" not in c for c in got),
           "search results carry no conversation_parts")
    got, _ = walk(sim, "/conversations/search", {"query": f("open", "=", True)}, "conversations")
    tap.is_(sorted(c["id"] for c in got), sorted(c["id"] for c in convs if c["open"]),
            "conversations open = true")
    got, total = walk(sim, "/tickets/search", {"query": f("category", "=", "request")}, "tickets")
    tap.is_(sorted(t["id"] for t in got),
            sorted(t["id"] for t in tickets if t["category"] == "Customer"),
            "tickets category=request means Customer")
    r = sim.api("POST", "/tickets/search", {"query": f("state", "=", "resolved")})
    tap.is_(r.json()["type"], "ticket.list", "tickets list type")
    tap.is_(r.json()["total_count"],
            sum(1 for t in tickets if t["ticket_state"]["category"] == "resolved"),
            "tickets state = resolved total_count")
tap.done_testing()
