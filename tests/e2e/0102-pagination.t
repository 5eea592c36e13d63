#!/usr/bin/python3
"""Every pagination style of icx.paginate against the simulator: each walk
returns exactly the simulator's records (no gaps, no repeats) in the number
of requests the page size implies, and sends the cursor where the style
puts it (query string, search body, page number or next URL, scroll_param)."""
import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import icxtest  # noqa: E402
import tap as t  # noqa: E402
from simctl import Sim  # noqa: E402

ALL = '{"query":{"field":"updated_at","operator":">","value":1}}'

with Sim(contacts=40, companies=30, conversations=25, tickets=12, articles=12,
         scroll_size=7, seed=7) as sim, icxtest.Case("0102-pagination", sim) as case:

    def walk(name, asset, pages, *args, keep=None):
        """Walks, compares ids with the sim's truth (the records keep()
        accepts), counts requests."""
        path = args[args.index("--path") + 1] if "--path" in args else None
        before = sim.stats()["by_path"].get(path, 0)
        r = case.lua("walk.lua", *args)
        rep = r.json()
        t.ok(rep["ok"], "%s: walk succeeds %s" % (name, rep.get("error", "")))
        want = sorted(str(x["id"]) for x in sim.dump(asset) if not keep or keep(x)) if asset else None
        got = rep.get("ids") or []
        t.is_(len(got), len(set(got)), "%s: no record twice" % name)
        if want is not None:
            t.is_(sorted(got), want, "%s: exactly the simulator's records" % name)
        used = sim.stats()["by_path"].get(path, 0) - before
        t.is_(used, pages, "%s: %d requests" % (name, pages))
        t.is_(rep["stats"]["requests"], pages, "%s: stats count the requests" % name)
        return rep

    rep = walk("cursor", "contacts", 3, "--style", "cursor", "--path", "/contacts", "--per-page", "15")
    t.is_(rep["total_count"], 40, "cursor: total_count from the page")
    t.is_(rep.get("connections"), 1, "cursor: one connection, kept alive for all three pages")
    log = icxtest.requests_to(sim, "/contacts")
    t.ok("starting_after" not in log[0]["query"] and "starting_after" in log[1]["query"],
         "cursor: starting_after in the query string from the second page on")
    t.is_(log[0]["query"].get("per_page"), ["15"], "cursor: per_page in the query string")

    walk("search", "contacts", 3, "--style", "search", "--path", "/contacts/search",
         "--per-page", "15", "--body", ALL)
    log = icxtest.requests_to(sim, "/contacts/search", "POST")
    t.is_(log[0]["body"].get("pagination"), {"per_page": 15}, "search: pagination in the body")
    t.ok(isinstance(log[1]["body"]["pagination"].get("starting_after"), str),
         "search: starting_after in the next body")
    t.is_(log[1]["body"]["query"], log[0]["body"]["query"], "search: the query is kept")
    t.is_(log[0]["headers"].get("Content-Type"), "application/json", "search: Content-Type on the body")
    t.ok(not log[1]["query"], "search: nothing in the query string")
    walk("search conversations", "conversations", 3, "--style", "search", "--path",
         "/conversations/search", "--list-key", "conversations", "--per-page", "10", "--body", ALL)
    walk("search tickets", "tickets", 3, "--style", "search", "--path", "/tickets/search",
         "--list-key", "tickets", "--per-page", "5", "--body", ALL)

    walk("page (GET, next URL)", "articles", 3, "--style", "page", "--path", "/articles", "--per-page", "5")
    log = icxtest.requests_to(sim, "/articles")
    t.is_([x["query"].get("page") for x in log], [["1"], ["2"], ["3"]], "page: page numbers 1..3")
    # The list leaves out companies without users (the scroll below has them).
    with_users = sum(1 for x in sim.dump("companies") if x["user_count"] > 0)
    walk("page (POST)", "companies", math.ceil(with_users / 10), "--style", "page", "--path",
         "/companies/list", "--method", "POST", "--per-page", "10", keep=lambda x: x["user_count"] > 0)
    log = icxtest.requests_to(sim, "/companies/list")
    t.ok(all(x["method"] == "POST" for x in log), "page: POST kept when following next URLs")
    t.is_(log[-1]["query"].get("per_page"), ["10"], "page: per_page in the query string of a POST")

    rep = walk("scroll", "companies", math.ceil(30 / 7) + 1, "--style", "scroll", "--path", "/companies/scroll")
    log = icxtest.requests_to(sim, "/companies/scroll")
    params = {x["query"].get("scroll_param", [None])[0] for x in log}
    t.ok(None in params and len(params) == 2, "scroll: first call bare, then one scroll_param")
    t.is_(rep["pages"], 6, "scroll: the empty last page ends the walk")

    walk("single teams", "teams", 1, "--style", "single", "--path", "/teams", "--list-key", "teams")
    walk("single admins", "admins", 1, "--style", "single", "--path", "/admins", "--list-key", "admins")
    walk("single segments", "segments", 1, "--style", "single", "--path", "/segments", "--list-key", "segments")
    walk("single tags", "tags", 1, "--style", "single", "--path", "/tags")

    walk("custom", "articles", 3, "--custom", "--path", "/articles", "--per-page", "5")

    rep = case.lua("walk.lua", "--style", "cursor", "--path", "/contacts", "--per-page", "10",
                   "--break-after", "2").json()
    t.is_((rep["ok"], rep["pages"]), (True, 2), "break ends the walk after 2 pages")

t.done_testing()
