#!/usr/bin/python3
# The link lists embedded in records: companies' tags, conversations' tags,
# contacts and teammates, teams' admin_ids. The dumps company_tags,
# conversation_tags, conversation_contacts, conversation_teammates and
# team_admins say the same as the API. POST /_sim/company_lists and
# /_sim/conversation_lists move them (updated_at moves unless touch is
# false); unknown ids are a 400.
import os
import sys
import time
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "lib")]
import tap                      # noqa: E402
from simctl import Sim          # noqa: E402

ALL = {"query": {"field": "updated_at", "operator": ">", "value": 0}, "pagination": {"per_page": 150}}


def pairs(rows, a, b):
    return sorted((r[a], r[b]) for r in rows)


def conv_pairs(convs, field, key):
    return sorted((c["id"], x["id"]) for c in convs for x in c[field][key])


with Sim(companies=40, contacts=60, conversations=25, tags=10, teams=3, admins=6, seed=23) as sim:
    comps = sim.api("GET", "/companies/scroll").json()["data"]
    tap.is_(sorted((c["id"], t["id"]) for c in comps for t in c["tags"]["tags"]),
            pairs(sim.dump("company_tags"), "company_id", "tag_id"), "company_tags dump = companies' tags")
    tags = {t["id"]: t for t in sim.api("GET", "/tags").json()["data"]}
    tap.ok(all(t["id"] in tags and t["name"] == tags[t["id"]]["name"] for c in comps
               for t in c["tags"]["tags"]), "companies' tags are /tags tags")
    convs = sim.api("POST", "/conversations/search", ALL).json()["conversations"]
    for field, key, dump, col in (("tags", "tags", "conversation_tags", "tag_id"),
                                  ("contacts", "contacts", "conversation_contacts", "contact_id"),
                                  ("teammates", "teammates", "conversation_teammates", "admin_id")):
        tap.is_(conv_pairs(convs, field, key), pairs(sim.dump(dump), "conversation_id", col),
                "%s dump = conversations' %s" % (dump, field))
    tap.ok(any(len(c["tags"]["tags"]) > 1 for c in convs), "some conversations have several tags")
    teams = sim.api("GET", "/teams").json()["teams"]
    tap.is_(sorted((t["id"], str(a)) for t in teams for a in t["admin_ids"]),
            pairs(sim.dump("team_admins"), "team_id", "admin_id"), "team_admins dump = teams' admin_ids")
    tap.ok(all(isinstance(a, int) for t in teams for a in t["admin_ids"]), "admin_ids are integers")

    c = comps[0]
    have = [t["id"] for t in c["tags"]["tags"]]
    new = [t for t in tags if t not in have][:2]
    r = sim.control("POST", "/_sim/company_lists", {"id": c["id"], "add_tags": new, "remove_tags": have[:1]})
    want = have[1:] + new
    tap.is_(r["tags"], want, "company_lists: tags moved")
    got = sim.api("GET", "/companies/" + c["id"]).json()
    tap.is_([t["id"] for t in got["tags"]["tags"]], want, "GET /companies/{id} shows them")
    tap.ok(got["tags"]["tags"][-1] == {"type": "tag", "id": new[-1], "name": tags[new[-1]]["name"]},
           "an added tag is a full tag reference")
    tap.ok(abs(got["updated_at"] - time.time()) < 3, "updated_at moved to now")
    r = sim.control("POST", "/_sim/company_lists", {"id": c["id"], "remove_tags": new, "touch": False})
    tap.is_(sim.api("GET", "/companies/" + c["id"]).json()["updated_at"], got["updated_at"],
            "touch=false keeps updated_at")
    tap.is_(pairs([x for x in sim.dump("company_tags") if x["company_id"] == c["id"]],
                  "company_id", "tag_id"), sorted((c["id"], t) for t in have[1:]), "the dump follows")

    v = convs[0]
    contacts = [x["id"] for x in sim.dump("contacts")]
    admins = [a["id"] for a in sim.api("GET", "/admins").json()["admins"]]
    add_c = [x for x in contacts if x not in {y["id"] for y in v["contacts"]["contacts"]}][:2]
    add_a = [a for a in admins if a not in {y["id"] for y in v["teammates"]["teammates"]}][:2]
    add_t = [t for t in tags if t not in {y["id"] for y in v["tags"]["tags"]}][:3]
    r = sim.control("POST", "/_sim/conversation_lists",
                    {"id": v["id"], "add_tags": add_t, "add_contacts": add_c, "add_teammates": add_a})
    g = sim.api("GET", "/conversations/" + v["id"]).json()
    tap.is_([x["id"] for x in g["contacts"]["contacts"]],
            [x["id"] for x in v["contacts"]["contacts"]] + add_c, "contacts added")
    tap.is_([x["id"] for x in g["teammates"]["teammates"]],
            [x["id"] for x in v["teammates"]["teammates"]] + add_a, "teammates added")
    tap.is_([x["id"] for x in g["tags"]["tags"]], [x["id"] for x in v["tags"]["tags"]] + add_t,
            "tags added")
    t_new = g["tags"]["tags"][-1]
    tap.ok(abs(t_new["applied_at"] - time.time()) < 3 and t_new["applied_by"]["type"] == "admin",
           "an added tag has applied_at now and applied_by")
    tap.ok(all(x["type"] == "contact" and "external_id" in x for x in g["contacts"]["contacts"]),
           "contact references have type, id, external_id")
    tap.ok(abs(g["updated_at"] - time.time()) < 3, "updated_at moved")
    found = sim.api("POST", "/conversations/search", {"query": {
        "field": "updated_at", "operator": ">", "value": g["updated_at"] - 1}}).json()["conversations"]
    tap.ok(v["id"] in [x["id"] for x in found], "an incremental search finds it")
    r = sim.control("POST", "/_sim/conversation_lists",
                    {"id": v["id"], "remove_tags": add_t, "remove_contacts": add_c[:1],
                     "remove_teammates": add_a, "touch": False})
    g2 = sim.api("GET", "/conversations/" + v["id"]).json()
    tap.is_((g2["updated_at"], [x["id"] for x in g2["contacts"]["contacts"]]),
            (g["updated_at"], [x["id"] for x in v["contacts"]["contacts"]] + add_c[1:]),
            "removed without touching updated_at")
    convs2 = sim.api("POST", "/conversations/search", ALL).json()["conversations"]
    for field, key, dump, col in (("tags", "tags", "conversation_tags", "tag_id"),
                                  ("contacts", "contacts", "conversation_contacts", "contact_id"),
                                  ("teammates", "teammates", "conversation_teammates", "admin_id")):
        tap.is_(conv_pairs(convs2, field, key), pairs(sim.dump(dump), "conversation_id", col),
                "after the moves: %s dump = the API" % dump)
    for body in ({"id": v["id"], "add_tags": ["nope"]}, {"id": v["id"], "add_contacts": ["nope"]},
                 {"id": v["id"], "add_teammates": ["nope"]}, {"id": "nope"},
                 {"id": v["id"], "add_tags": "x"}):
        tap.is_(sim.raw("POST", "/_sim/conversation_lists", body).status, 400, "400: %s" % body)
    tap.is_(sim.raw("POST", "/_sim/company_lists", {"id": c["id"], "add_tags": ["nope"]}).status, 400,
            "company_lists: an unknown tag is a 400")
tap.done_testing()
