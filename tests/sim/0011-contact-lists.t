#!/usr/bin/python3
# A contact embeds at most 10 tags, companies and notes with has_more,
# total_count and url; GET /contacts/{id}/tags and /companies give the full
# lists, equal to the dumps contact_tags and contact_companies.
import os
import sys
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "lib")]
import tap                      # noqa: E402
from simctl import Sim          # noqa: E402

with Sim(contacts=300, companies=40, tags=15, seed=1) as sim:
    contacts = sim.dump("contacts")
    ctags, ccomps = {}, {}
    for r in sim.dump("contact_tags"):
        ctags.setdefault(r["contact_id"], []).append(r["tag_id"])
    for r in sim.dump("contact_companies"):
        ccomps.setdefault(r["contact_id"], []).append(r["company_id"])
    many_t = [c for c in contacts if c["tags"]["total_count"] > 10]
    many_c = [c for c in contacts if c["companies"]["total_count"] > 10]
    many_n = [c for c in contacts if c["notes"]["total_count"] > 10]
    tap.ok(len(many_t) >= 2, "some contacts have more than 10 tags (%d)" % len(many_t))
    tap.ok(len(many_c) >= 2, "some contacts have more than 10 companies (%d)" % len(many_c))
    tap.ok(len(many_n) >= 2, "some contacts have more than 10 notes (%d)" % len(many_n))
    bad = []
    for c in contacts:
        for k, full in (("tags", ctags.get(c["id"], [])),
                        ("companies", ccomps.get(c["id"], []))):
            e = c[k]
            if not (len(e["data"]) == min(10, len(full)) and e["total_count"] == len(full)
                    and e["has_more"] == (len(full) > 10)
                    and e["url"] == "/contacts/%s/%s" % (c["id"], k)
                    and [x["id"] for x in e["data"]] == full[:10]):
                bad.append((c["id"], k))
        n = c["notes"]
        if len(n["data"]) > 10 or n["has_more"] != (n["total_count"] > 10):
            bad.append((c["id"], "notes"))
    tap.is_(bad, [], "embedded lists: at most 10, total_count, has_more, url")
    for c in many_t[:2] + many_c[:2] + contacts[:3]:
        r = sim.api("GET", c["tags"]["url"])
        j = r.json()
        tap.is_((j["type"], sorted(t["id"] for t in j["data"])),
                ("list", sorted(ctags.get(c["id"], []))),
                "GET /contacts/{id}/tags is the full list")
        tap.ok(all(set(t) >= {"type", "id", "name"} for t in j["data"]),
               "tags have type, id, name")
        j = sim.api("GET", c["companies"]["url"] + "?per_page=5").json()
        ids = [x["id"] for x in j["companies"]]
        page = 1
        while j["pages"]["next"]:
            page += 1
            j = sim.api("GET", c["companies"]["url"] + "?per_page=5&page=%d" % page).json()
            ids += [x["id"] for x in j["companies"]]
        tap.is_(sorted(ids), sorted(ccomps.get(c["id"], [])),
                "GET /contacts/{id}/companies (paged) is the full list")
        tap.is_(j["total_count"], len(ccomps.get(c["id"], [])), "companies total_count")
tap.done_testing()
