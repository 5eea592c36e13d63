#!/usr/bin/python3
# Every error uses Intercom's body {"type":"error.list","request_id",
# "errors":[{"code","message"}]}: unknown paths, bad JSON, bad parameters,
# missing records, a not-acceptable Accept header.
import os
import sys
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "lib")]
import tap                      # noqa: E402
from simctl import Sim          # noqa: E402

CASES = [
    ("GET", "/nope", None, {}, 404, "not_found"),
    ("DELETE", "/contacts", None, {}, 404, "not_found"),
    ("POST", "/contacts/search", b"{not json", {}, 400, "parameter_invalid"),
    ("POST", "/contacts/search", {}, {}, 400, "parameter_not_found"),
    ("POST", "/contacts/search", {"query": {"field": "name", "operator": "LIKE",
                                            "value": "x"}}, {}, 400,
     "parameter_invalid"),
    ("POST", "/contacts/search", {"query": {"field": "name", "operator": "=",
                                            "value": "x"},
                                  "pagination": {"starting_after": "garbage!"}},
     {}, 400, "parameter_invalid"),
    ("POST", "/contacts/search", {"query": {"field": "name", "operator": "=",
                                            "value": "x"},
                                  "sort": {"field": "name", "order": "up"}},
     {}, 400, "invalid_sort_order"),
    ("GET", "/contacts/000000000000000000000000", None, {}, 404, "not_found"),
    ("GET", "/contacts/000000000000000000000000/tags", None, {}, 404, "not_found"),
    ("GET", "/conversations/1", None, {}, 404, "not_found"),
    ("GET", "/articles?page=0", None, {}, 400, "parameter_invalid"),
    ("GET", "/data_attributes?model=ticket", None, {}, 400, "parameter_invalid"),
    ("GET", "/companies/scroll?scroll_param=nope", None, {}, 404, "not_found"),
    ("GET", "/tags", None, {"Accept": "text/html"}, 406, "not_acceptable"),
]

with Sim(contacts=20) as sim:
    for method, path, body, hdrs, status, code in CASES:
        r = sim.api(method, path, body, headers=hdrs)
        name = "%s %s" % (method, path)
        tap.is_(r.status, status, name + " -> %d" % status)
        try:
            b = r.json()
        except ValueError:
            tap.ok(False, name + " body is JSON")
            continue
        tap.ok(set(b) == {"type", "request_id", "errors"} and
               b["type"] == "error.list" and len(b["errors"]) == 1 and
               isinstance(b["errors"][0].get("message"), str),
               name + " -> error.list body")
        tap.is_(b["errors"][0]["code"], code, name + " -> code " + code)
        tap.is_(r.headers.get("x-request-id"), b["request_id"],
                name + " -> X-Request-Id matches request_id")
tap.done_testing()
