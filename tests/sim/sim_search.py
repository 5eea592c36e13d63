"""The search endpoints' query language, sort and stateless cursors.

POST /contacts/search, /conversations/search and /tickets/search share it:
  query      a filter {field, operator, value} or a group {operator: AND|OR,
             value: [...]}; at most 2 levels of groups, 15 items per group
  sort       {field, order: ascending|descending}; default last_request_at
             descending (for contacts that is last_seen_at, Intercom's old
             name for it; conversations and tickets have no such field and
             default to created_at descending)
  pagination {per_page <= 150, starting_after: cursor}

Cursors are base64 of [rank, sort value, id, page]: stateless, so a record
updated between two page requests moves in the order and a walk can skip or
repeat it, as in Intercom. Contact search compares date fields by whole day
in the workspace timezone; conversations and tickets to the second.
GET /contacts (cursor in the query string) reuses the same machinery.
"""

import bisect
import math
import re

from sim_util import ApiError, decode_cursor, encode_cursor, dumps

OPS = {"=", "!=", "IN", "NIN", "<", ">", "<=", ">=", "~", "!~", "^", "$"}
MAX_DEPTH = 2
MAX_GROUP = 15

CONTACT_DATES = {"created_at", "signed_up_at", "updated_at", "last_seen_at",
                 "last_contacted_at", "last_replied_at", "last_email_opened_at",
                 "last_email_clicked_at", "ios_last_seen_at",
                 "android_last_seen_at", "custom_attributes.trial_ends_at",
                 "last_request_at"}
CONV_DATES = {"created_at", "updated_at", "waiting_since", "snoozed_until"}
TICKET_DATES = {"created_at", "updated_at", "snoozed_until"}

LIST_KEY = {"contacts": ("list", "data"),
            "conversations": ("conversation.list", "conversations"),
            "tickets": ("ticket.list", "tickets")}
DEFAULT_PER_PAGE = {"contacts": 50, "conversations": 20, "tickets": 20}
TICKET_CATEGORY = {"request": "Customer", "task": "Back-office",
                   "tracker": "Tracker"}
_INT_RE = re.compile(r"^-?[0-9]+$")


def _bad(msg, code="parameter_invalid"):
    """A 400 for a malformed search request."""
    return ApiError(400, code, msg)


def _is_num(v):
    """True for int/float but not bool."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _walk(doc, path):
    """Follow a dotted path through dicts; None when absent."""
    cur = doc
    for p in path:
        if isinstance(cur, dict):
            cur = cur.get(p)
        else:
            return None
    return cur


class Fields:
    """How one asset resolves a search field name on a record."""

    def __init__(self, world, asset):
        self.w = world
        self.asset = asset
        if asset == "contacts":
            self.dates = CONTACT_DATES
        elif asset == "conversations":
            self.dates = CONV_DATES | {"statistics." + k for k in (
                "first_contact_reply_at", "last_contact_reply_at",
                "last_close_at", "first_close_at", "last_admin_reply_at")}
        else:
            self.dates = TICKET_DATES

    def is_date(self, name):
        """True when name is a date (Unix timestamp) field."""
        return name in self.dates

    def getter(self, name):
        """A function rec -> value (a list for multi-valued fields)."""
        w, a = self.w, self.asset
        if a == "contacts":
            if name == "last_request_at":
                name = "last_seen_at"
            if name in ("created_at", "updated_at", "last_seen_at", "signed_up_at"):
                return lambda r, n=name: getattr(r, n)
            if name == "id":
                return lambda r: r.id
            if name == "tag_id":
                return lambda r: list(r.tags)
            if name == "segment_id":
                segs = w.small["segments"]
                return lambda r: [segs[s]["id"] for s in r.segments]
            if name == "company_id":
                return lambda r: list(r.companies)
            path = name.split(".")
            return lambda r: _walk(w.contact_doc(r), path)
        if a == "conversations":
            special = {
                "contact_ids": lambda d: [c["id"] for c in d["contacts"]["contacts"]],
                "teammate_ids": lambda d: [t["id"] for t in
                                           (d.get("teammates") or {}).get("teammates", [])],
                "tag_ids": lambda d: [t["id"] for t in d["tags"]["tags"]],
            }
        else:
            special = {
                "contact_ids": lambda d: [c["id"] for c in d["contacts"]["contacts"]],
                "teammate_ids": lambda d: [x for x in (d.get("admin_assignee_id"),)
                                           if x and x != "0"],
                "title": lambda d: d["ticket_attributes"].get("_default_title_"),
                "description": lambda d: d["ticket_attributes"].get(
                    "_default_description_"),
                "state": lambda d: d["ticket_state"]["category"],
                "ticket_type_id": lambda d: d["ticket_type"]["id"],
            }
            if name.startswith("ticket_attribute."):
                key = name.split(".", 1)[1]
                return lambda r: r.doc["ticket_attributes"].get(key)
        if name in special:
            f = special[name]
            return lambda r: f(r.doc)
        path = name.split(".")
        return lambda r: _walk(r.doc, path)


def _as_int(v, field):
    """A date/integer query value (int or digit string) as int, else 400."""
    if isinstance(v, bool):
        raise _bad("%s must be a timestamp, got %s" % (field, dumps(v)))
    if isinstance(v, int):
        return v
    if isinstance(v, str) and _INT_RE.match(v):
        return int(v)
    raise _bad("The value for %s is invalid: %s is not a valid timestamp"
               % (field, dumps(v)))


def _coerce(fv, qv):
    """Bring a query value to the field value's type where Intercom would."""
    if _is_num(fv) and isinstance(qv, str):
        try:
            return float(qv) if "." in qv or "e" in qv.lower() else int(qv)
        except ValueError:
            return qv
    if isinstance(fv, str) and _is_num(qv):
        return str(qv)
    if isinstance(fv, bool) and isinstance(qv, str):
        return {"true": True, "false": False}.get(qv.lower(), qv)
    return qv


def _eq(fv, qv):
    """Intercom '=' (any element for multi-valued fields)."""
    if isinstance(fv, list):
        return any(_eq(x, qv) for x in fv)
    if fv is None or qv is None:
        return fv is None and qv is None
    q = _coerce(fv, qv)
    if isinstance(fv, bool) != isinstance(q, bool):
        return False
    return fv == q


def _cmp(fv, qv, op):
    """Numeric < > <= >= ; False when either side is not a number."""
    if isinstance(fv, list):
        return any(_cmp(x, qv, op) for x in fv)
    if not _is_num(fv):
        return False
    q = _coerce(fv, qv)
    if not _is_num(q):
        return False
    if op == "<":
        return fv < q
    if op == ">":
        return fv > q
    if op == "<=":
        return fv <= q
    return fv >= q


def _text(fv, qv, op):
    """String operators ~ !~ ^ $ (case-insensitive)."""
    if isinstance(fv, list):
        hit = any(_text(x, qv, "~" if op == "!~" else op) for x in fv)
        return not hit if op == "!~" else hit
    if fv is None:
        return op == "!~"
    s = str(fv).lower()
    q = str(qv).lower()
    if op == "~":
        return q in s
    if op == "!~":
        return q not in s
    if op == "^":
        return s.startswith(q)
    return s.endswith(q)


class Compiler:
    """Validates a query and turns it into a predicate rec -> bool."""

    def __init__(self, world, asset):
        self.w = world
        self.asset = asset
        self.fields = Fields(world, asset)

    def compile(self, q, depth=0):
        """Predicate for query node q (a filter or a group)."""
        if not isinstance(q, dict):
            raise _bad("query must be an object")
        op = q.get("operator")
        if op in ("AND", "OR"):
            if depth >= MAX_DEPTH:
                raise _bad("A maximum of %d nested filters is allowed"
                           % MAX_DEPTH, "bad_request")
            items = q.get("value")
            if not isinstance(items, list) or not items:
                raise _bad("%s requires a non-empty array of filters" % op)
            if len(items) > MAX_GROUP:
                raise _bad("A maximum of %d filters is allowed per %s group"
                           % (MAX_GROUP, op), "bad_request")
            preds = [self.compile(x, depth + 1) for x in items]
            if op == "AND":
                return lambda r: all(p(r) for p in preds)
            return lambda r: any(p(r) for p in preds)
        return self._filter(q)

    def _filter(self, q):
        """Predicate for one {field, operator, value} filter."""
        field = q.get("field")
        op = q.get("operator")
        if not isinstance(field, str) or not field:
            raise _bad("filter is missing 'field'", "parameter_not_found")
        if op not in OPS:
            raise _bad("operator %s is not supported" % dumps(op))
        if "value" not in q:
            raise _bad("filter on %s is missing 'value'" % field,
                       "parameter_not_found")
        qv = q["value"]
        if op in ("IN", "NIN"):
            if not isinstance(qv, list):
                raise _bad("%s requires an array value" % op)
        elif isinstance(qv, (list, dict)):
            raise _bad("operator %s takes a single value" % op)
        if self.asset == "contacts" and field == "tag_id" and op not in ("=", "!="):
            raise _bad("tag_id supports only = and !=")
        get = self.fields.getter(field)
        if self.asset == "tickets" and field == "category":
            qv = [TICKET_CATEGORY.get(x, x) for x in qv] if isinstance(qv, list) \
                else TICKET_CATEGORY.get(qv, qv)
        if self.fields.is_date(field):
            return self._date(field, op, qv, get)
        if op in ("<", ">", "<=", ">="):
            if not (_is_num(qv) or (isinstance(qv, str) and _INT_RE.match(qv))):
                raise _bad("operator %s needs a number for %s" % (op, field))
            return lambda r: _cmp(get(r), qv, op)
        if op == "=":
            return lambda r: _eq(get(r), qv)
        if op == "!=":
            return lambda r: not _eq(get(r), qv)
        if op == "IN":
            return lambda r: any(_eq(get(r), x) for x in qv)
        if op == "NIN":
            return lambda r: not any(_eq(get(r), x) for x in qv)
        return lambda r: _text(get(r), qv, op)

    def _date(self, field, op, qv, get):
        """Date filters: whole days for contacts, seconds elsewhere."""
        if op in ("~", "!~", "^", "$"):
            raise _bad("operator %s is not supported on date field %s" % (op, field))
        if self.asset == "contacts":
            if op not in ("=", ">", "<"):
                raise _bad("operator %s is not supported on date field %s; "
                           "use =, > or <" % (op, field))
            t = _as_int(qv, field)
            lo = self.w.clock.day_start(t)
            hi = self.w.clock.next_day_start(t)
            if op == "=":
                return lambda r: (lambda v: v is not None and lo <= v < hi)(get(r))
            if op == ">":
                return lambda r: (lambda v: v is not None and v >= hi)(get(r))
            return lambda r: (lambda v: v is not None and v < lo)(get(r))
        if op in ("IN", "NIN"):
            ts = {_as_int(x, field) for x in qv}
            if op == "IN":
                return lambda r: get(r) in ts
            return lambda r: get(r) not in ts
        t = _as_int(qv, field)
        fn = {"=": lambda v: v == t, "!=": lambda v: v != t,
              "<": lambda v: v is not None and v < t,
              ">": lambda v: v is not None and v > t,
              "<=": lambda v: v is not None and v <= t,
              ">=": lambda v: v is not None and v >= t}[op]
        return lambda r: fn(get(r))


def sort_key(v):
    """Total order over JSON scalars: (rank, value)."""
    if v is None or isinstance(v, (list, dict)):
        return (0, 0)
    if isinstance(v, bool):
        return (1, int(v))
    if _is_num(v):
        return (2, v)
    return (3, str(v))


class Searcher:
    """Runs searches and list walks; caches sorted matches per data version."""

    def __init__(self, world):
        self.w = world
        self.cache = {}

    def _matches(self, asset, query, field, desc, pred, now, hide_lagged):
        """Sorted (ascending) keys and records matching pred, cached."""
        w = self.w
        store = w.stores[asset]
        hidden = 0
        hide_lagged = hide_lagged and now < w.lag_until
        if hide_lagged:
            hidden = sum(1 for r in store.values() if r.visible_at > now)
        skipped = w.skipped[asset]
        ck = (asset, dumps(query), field, w.version[asset], hidden, len(store), len(skipped))
        hit = self.cache.get(ck)
        if hit:
            return hit
        get = Fields(w, asset).getter(field) if field != "id" else (lambda r: r.id)
        rows = []
        for r in store.values():
            if hide_lagged and r.visible_at > now or r.id in skipped:
                continue
            if pred is None or pred(r):
                rows.append((sort_key(get(r)) + (r.id,), r))
        rows.sort(key=lambda x: x[0])
        keys = [x[0] for x in rows]
        recs = [x[1] for x in rows]
        if len(self.cache) > 16:
            self.cache.clear()
        self.cache[ck] = (keys, recs)
        return keys, recs

    def page(self, asset, query, pred, field, desc, per_page, after, now,
             hide_lagged):
        """One page: (records, total_count, page_no, next_cursor or None)."""
        keys, recs = self._matches(asset, query, field, desc, pred, now,
                                   hide_lagged)
        page_no = 1
        if after:
            c = decode_cursor(after)
            if len(c) != 4 or not isinstance(c[2], str):
                raise ApiError(400, "parameter_invalid",
                               "Invalid starting_after param %r" % after)
            ck = (c[0], c[1], c[2])
            page_no = int(c[3])
            pos = bisect.bisect_left(keys, ck) if desc \
                else bisect.bisect_right(keys, ck)
        else:
            pos = len(recs) if desc else 0
        if desc:
            start = max(0, pos - per_page)
            out = recs[start:pos][::-1]
            more, last = start > 0, start
        else:
            out = recs[pos:pos + per_page]
            more, last = pos + per_page < len(recs), pos + len(out) - 1
        nxt = None
        if more and out:
            k = keys[last]
            nxt = encode_cursor([k[0], k[1], k[2], page_no + 1])
        return out, len(recs), page_no, nxt

    def search(self, asset, body, now, index_lag_applies):
        """POST /<asset>/search: the full response body as bytes."""
        if not isinstance(body, dict):
            raise _bad("request body must be a JSON object")
        if "query" not in body:
            raise _bad("query is required", "parameter_not_found")
        query = body["query"]
        pred = Compiler(self.w, asset).compile(query)
        pag = body.get("pagination") or {}
        if not isinstance(pag, dict):
            raise _bad("pagination must be an object")
        per_page = pag.get("per_page", DEFAULT_PER_PAGE[asset])
        if isinstance(per_page, str) and per_page.isdigit():
            per_page = int(per_page)
        if not isinstance(per_page, int) or isinstance(per_page, bool) or per_page < 1:
            raise _bad("per_page must be a positive integer")
        per_page = min(per_page, 150)
        after = pag.get("starting_after")
        if after is not None and not isinstance(after, str):
            raise _bad("starting_after must be a string")
        sort = body.get("sort")
        field, desc = self._sort(asset, sort)
        Fields(self.w, asset).getter(field)
        out, total, page_no, nxt = self.page(
            asset, query, pred, field, desc, per_page, after, now,
            asset == "contacts" and index_lag_applies)
        out = self.drop_from(asset, out)
        return self.envelope(asset, out, total, page_no, per_page, nxt)

    def drop_from(self, asset, out):
        """The page without the records /_sim/drop names (total_count and
        the cursor unchanged: the page just comes back short)."""
        drop = self.w.dropped[asset]
        if not drop:
            return out
        kept = []
        for r in out:
            if r.id in drop and (drop[r.id] is None or drop[r.id] > 0):
                if drop[r.id] is not None:
                    drop[r.id] -= 1
                continue
            kept.append(r)
        return kept

    @staticmethod
    def _sort(asset, sort):
        """(field, descending?) from the request's sort object."""
        if sort is None:
            return ("last_request_at" if asset == "contacts" else "created_at"), True
        if not isinstance(sort, dict) or not isinstance(sort.get("field"), str):
            raise _bad("sort must be an object with a field")
        order = sort.get("order", "descending")
        if order not in ("ascending", "descending"):
            raise _bad("sort order must be ascending or descending",
                       "invalid_sort_order")
        return sort["field"], order == "descending"

    def envelope(self, asset, out, total, page_no, per_page, nxt):
        """Serialize a cursor-paged list: records are rendered as bytes."""
        typ, key = LIST_KEY[asset]
        pages = {"type": "pages", "page": page_no, "per_page": per_page,
                 "total_pages": int(math.ceil(total / per_page)) if per_page else 0}
        if nxt:
            pages["next"] = {"page": page_no + 1, "starting_after": nxt}
        body = b"".join([
            b'{"type":', dumps(typ).encode(), b',"', key.encode(), b'":[',
            b",".join(self.w.render(asset, r) for r in out),
            b'],"total_count":', str(total).encode(), b',"pages":',
            dumps(pages).encode("utf-8"), b"}"])
        return body
