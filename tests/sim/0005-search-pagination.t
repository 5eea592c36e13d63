#!/usr/bin/python3
# Search pagination: per_page (max 150, default 50/20/20) and starting_after
# in the body, opaque cursors, pages.next absent on the last page,
# total_count; stateless cursors (a record updated between two pages moves:
# it repeats or is skipped); a starting_after in the URL is ignored;
# GET /contacts cursor paging (default 10 per page).
import base64
import os
import sys
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "lib")]
import tap                      # noqa: E402
from simctl import Sim          # noqa: E402

Q = {"field": "updated_at", "operator": ">", "value": 0}


def walk(sim, sort_order, per_page, between=None):
    """All ids of a contacts search walk; between(page_no, ids_so_far)."""
    ids, pages, after = [], [], None
    while True:
        pag = {"per_page": per_page}
        if after:
            pag["starting_after"] = after
        r = sim.api("POST", "/contacts/search",
                    {"query": Q, "pagination": pag,
                     "sort": {"field": "updated_at", "order": sort_order}})
        j = r.json()
        ids += [c["id"] for c in j["data"]]
        pages.append(j["pages"])
        if between:
            between(len(pages), ids)
        if "next" not in j["pages"]:
            return ids, pages, j
        after = j["pages"]["next"]["starting_after"]


with Sim(contacts=230, seed=5) as sim:
    truth = sim.dump("contacts")
    ids, pages, last = walk(sim, "ascending", 50)
    tap.is_(sorted(ids), sorted(c["id"] for c in truth), "walk returns every contact")
    tap.is_(len(ids), len(set(ids)), "no duplicates without changes")
    tap.is_([p["page"] for p in pages], [1, 2, 3, 4, 5], "pages.page counts up")
    tap.ok(all(p["total_pages"] == 5 and p["per_page"] == 50 for p in pages),
           "total_pages and per_page")
    tap.ok("next" not in pages[-1] and all("next" in p for p in pages[:-1]),
           "no pages.next on the last page only")
    tap.is_(last["total_count"], 230, "total_count")
    nxt = pages[0]["next"]
    tap.ok(isinstance(nxt["starting_after"], str) and nxt["page"] == 2,
           "pages.next = {page, starting_after}")
    tap.ok(base64.b64decode(nxt["starting_after"]).startswith(b"["),
           "cursor is opaque base64 (Intercom's look like 'Wz...')")
    ups = [c["updated_at"] for c in truth]
    order = sorted(truth, key=lambda c: (c["updated_at"], c["id"]))
    tap.is_(ids, [c["id"] for c in order], "ascending updated_at, ties by id")
    tap.ok(len(ups) > len(set(ups)), "some contacts share the same second")

    r = sim.api("POST", "/contacts/search", {"query": Q, "pagination": {"per_page": 500}})
    j = r.json()
    tap.is_((len(j["data"]), j["pages"]["per_page"]), (150, 150), "per_page is capped at 150")
    r = sim.api("POST", "/contacts/search", {"query": Q})
    tap.is_(len(r.json()["data"]), 50, "contacts search default per_page 50")
    r1 = sim.api("POST", "/contacts/search?starting_after=" + nxt["starting_after"],
                 {"query": Q, "sort": {"field": "updated_at", "order": "ascending"},
                  "pagination": {"per_page": 50}})
    tap.is_([c["id"] for c in r1.json()["data"]], ids[:50],
            "starting_after in the URL is ignored (page 1 again)")

    # Stateless cursor: a contact already returned and then updated comes again.
    def bump_seen(page, got):
        if page == 1:
            sim.control("POST", "/_sim/mutate", {"asset": "contacts", "ids": [got[0]]})
    ids2, _, _ = walk(sim, "ascending", 50, bump_seen)
    tap.is_(len(ids2), 231, "an updated record moves: the walk repeats it")
    tap.is_(ids2.count(ids[0]), 2, "the repeated record is the updated one")

    # Descending: a contact not yet returned and then updated is skipped.
    skipped = []

    def bump_unseen(page, got):
        if page == 1:
            later = [c["id"] for c in sorted(sim.dump("contacts"),
                                             key=lambda c: (c["updated_at"], c["id"]))][:1]
            skipped.extend(later)
            sim.control("POST", "/_sim/mutate", {"asset": "contacts", "ids": later})
    ids3, _, _ = walk(sim, "descending", 50, bump_unseen)
    tap.ok(skipped[0] not in ids3 and len(ids3) == 229,
           "an updated record moves behind the cursor: the walk skips it")

    # GET /contacts
    seen, after, n = [], None, 0
    while True:
        r = sim.api("GET", "/contacts" + ("?starting_after=" + after if after else ""))
        j = r.json()
        n += 1
        if n == 1:
            tap.is_(len(j["data"]), 10, "GET /contacts default per_page 10")
        seen += [c["id"] for c in j["data"]]
        if not j["pages"].get("next"):
            break
        after = j["pages"]["next"]["starting_after"]
    tap.is_(sorted(seen), sorted(c["id"] for c in sim.dump("contacts")),
            "GET /contacts walk returns every contact")
    r = sim.api("GET", "/contacts?per_page=150")
    tap.is_(len(r.json()["data"]), 150, "GET /contacts per_page=150")
    r = sim.api("POST", "/conversations/search", {"query": Q})
    tap.is_(r.json()["pages"]["per_page"], 20, "conversations search default per_page 20")
    r = sim.api("POST", "/tickets/search", {"query": Q})
    tap.is_(r.json()["pages"]["per_page"], 20, "tickets search default per_page 20")
tap.done_testing()
