#!/usr/bin/python3
# Values that break careless extractors reach the wire exactly: integers
# above 2^53 and int64 extremes, negatives, 0.1, 1e-07, 1.5e300, empty arrays
# and objects, nulls, booleans, emoji, CJK, quotes, backslashes, newlines,
# control characters as \u0001. Ids are strings (24-hex contacts/companies,
# digit strings for conversations); timestamps integer Unix seconds; some
# fields vary between integer and string across records.
import datetime
import os
import re
import sys
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "lib")]
import tap                      # noqa: E402
from simctl import Sim          # noqa: E402

with Sim(contacts=300, companies=60, conversations=40, tickets=20, seed=1) as sim:
    raw = b""
    after = None
    while True:
        pag = {"per_page": 150}
        if after:
            pag["starting_after"] = after
        r = sim.api("POST", "/contacts/search",
                    {"query": {"field": "updated_at", "operator": ">", "value": 0},
                     "pagination": pag})
        raw += r.body
        j = r.json()
        if not j["pages"].get("next"):
            break
        after = j["pages"]["next"]["starting_after"]
    for lit in (b"9007199254740993", b"9223372036854775807", b"-9223372036854775808",
                b":0.1", b":1e-07", b":1.5e+300", b":-42", b"[]", b"{}", b":null",
                b":true", b":false", b"\\u0001", b"\\\\", b'\\"', b"\\n",
                "😀".encode(), "中文".encode(), "東京".encode()):
        tap.ok(lit in raw, "contacts carry %s on the wire" % lit.decode())
    tap.ok(b"\x01" not in raw and b"\n" not in raw,
           "control characters are escaped, never raw")
    contacts = sim.dump("contacts")
    ca = [c["custom_attributes"] for c in contacts]
    big = {x["big_number"] for x in ca}
    tap.ok({9007199254740993, 9223372036854775807, -9223372036854775808} <= big,
           "big integers parse exactly")
    tap.ok({type(x["account_ref"]) for x in ca} == {int, str},
           "custom_attributes.account_ref is an int on some contacts, a string on others")
    tap.ok(all(re.fullmatch(r"[0-9a-f]{24}", c["id"]) for c in contacts),
           "contact ids are 24-hex strings")
    ts_fields = ("created_at", "updated_at", "signed_up_at", "last_seen_at")
    tap.ok(all(type(c[f]) is int for c in contacts for f in ts_fields if c[f] is not None),
           "contact timestamps are integers")
    now = sim.control("GET", "/_sim/info")["now"]
    ups = [c["updated_at"] for c in contacts]
    tap.ok(min(ups) >= now - 401 * 86400 and max(ups) < now,
           "updated_at spread over the ~400 days before the start")
    days = [datetime.datetime.utcfromtimestamp(u).date() for u in ups]
    tap.ok(len(set(days)) < len(days) and len(set(ups)) < len(ups),
           "distinct contacts share a day, and some the same second")
    convs = sim.dump("conversations")
    tap.ok(all(re.fullmatch(r"[0-9]+", c["id"]) for c in convs),
           "conversation ids are digit strings")
    tap.ok(all(isinstance(v, (str, int)) and not isinstance(v, bool)
               for c in convs for v in c["custom_attributes"].values()),
           "conversation custom attributes are strings or integers (2.14 schema)")
    tap.ok({type(c["custom_attributes"]["order_ref"]) for c in convs} == {int, str},
           "conversation order_ref varies between int and string")
    tap.ok(any(type(c["admin_assignee_id"]) is int for c in convs) and
           all(type(t["admin_assignee_id"]) is str for t in sim.dump("tickets")),
           "admin_assignee_id: integer on conversations, string on tickets")
    comps = sim.dump("companies")
    tap.ok(all(isinstance(c["id"], str) and isinstance(c["company_id"], str) for c in comps),
           "company ids are strings")
    tap.ok({type(c["custom_attributes"]["paid_subscriber"]) for c in comps} == {bool},
           "company custom attributes include booleans")
    tap.ok(any(isinstance(c["custom_attributes"]["ratio"], float) for c in comps),
           "company custom attributes include floats")
    tap.ok(any(c["owner_id"] is not None for c in contacts) and
           all(isinstance(c["owner_id"], int) for c in contacts if c["owner_id"] is not None),
           "owner_id is an integer (admin ids are strings)")
tap.done_testing()
