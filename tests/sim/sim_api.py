"""Intercom 2.14 endpoints of the simulator.

  GET  /me, /tags, /segments[?include_count], /teams, /admins,
       /data_attributes[?model=&include_archived=], /subscription_types
  GET  /contacts (cursor), /contacts/{id}, /contacts/{id}/tags,
       /contacts/{id}/companies (page-number)
  POST /contacts/search, /conversations/search, /tickets/search (cursor;
       tickets carry ticket_parts, at most --max-ticket-parts newest)
  GET  /companies/scroll, POST /companies/list (page-number, 10,000 cap),
       GET /companies/{id}, /tickets/{id}, /articles/{id}
  GET  /conversations (cursor), /conversations/{id} (500 newest parts),
       /articles (page-number), /help_center/collections (page-number)
  and the routes of sim_api_more (ticket types and states, company
  segments, activity logs, help centers, 2.16 deleted conversations).

Api.handle(req) takes a parsed request and returns (status, body bytes).
Errors are raised as sim_util.ApiError and rendered by the HTTP layer.
Auth, rate limits and faults are decided before this module is reached.
"""

import json
import math
import re
import threading
import time
import uuid

from sim_api_more import ApiMore, page_envelope
from sim_search import Searcher
from sim_util import ApiError, dumpb, dumps

SCROLL_500 = ("Request failed due to an internal network error. "
              "Please restart the scroll operation.")
COMPANY_LIST_CAP = 10000


def _int_param(query, name, default, lo=1):
    """An integer query parameter, or 400 parameter_invalid."""
    vals = query.get(name)
    if not vals:
        return default
    try:
        v = int(vals[-1])
    except ValueError:
        raise ApiError(400, "parameter_invalid", "%s must be an integer" % name)
    if v < lo:
        raise ApiError(400, "parameter_invalid", "%s must be >= %d" % (name, lo))
    return v


def _not_found(msg="Resource Not Found", code="not_found"):
    """A 404 error."""
    return ApiError(404, code, msg)


class Request:
    """What an endpoint sees: method, path, query dict of lists, body."""

    def __init__(self, method, path, query, body, base_url, headers):
        self.method = method
        self.path = path
        self.query = query
        self.body = body
        self.base_url = base_url
        self.headers = headers
        self.now = time.time()

    def json(self):
        """The body as JSON (400 parameter_invalid when it is not)."""
        if not self.body:
            return {}
        try:
            return json.loads(self.body)
        except ValueError:
            raise ApiError(400, "parameter_invalid",
                           "There was a problem in the JSON you submitted")


class Scrolls:
    """The one open companies scroll of the app (Intercom allows one)."""

    def __init__(self, expiry):
        self.lock = threading.Lock()
        self.expiry = expiry
        self.open = None

    def _alive(self, now):
        """The open scroll, dropping it first if it idled out."""
        s = self.open
        if s and now - s["last"] > s["expires_in"]:
            self.open = None
        return self.open

    def start(self, ids, now, expires_in=None):
        """Open a scroll over ids; 400 scroll_exists when one is open."""
        with self.lock:
            if self._alive(now):
                raise ApiError(400, "scroll_exists",
                               "scroll already exists for this workspace. "
                               "Please ensure to use the scroll parameter.")
            self.open = {"param": str(uuid.uuid4()), "ids": ids, "pos": 0,
                         "last": now,
                         "expires_in": self.expiry if expires_in is None
                         else expires_in}
            return self.open

    def get(self, param, now):
        """The open scroll with this param, or 404 (expired or unknown)."""
        with self.lock:
            s = self._alive(now)
            if not s or s["param"] != param:
                raise _not_found("scroll parameter not found")
            s["last"] = now
            return s

    def drop(self):
        """Forget the open scroll (after an error that means restart)."""
        with self.lock:
            self.open = None


class Api(ApiMore):
    """Routes Intercom requests to handlers over one World."""

    def __init__(self, world, opts):
        self.w = world
        self.opts = opts
        self.searcher = Searcher(world)
        self.scrolls = Scrolls(opts.scroll_expiry)
        self.routes = self.more_routes() + [
            ("GET", re.compile(r"^/me$"), self.me),
            ("GET", re.compile(r"^/contacts$"), self.contacts_list),
            ("POST", re.compile(r"^/contacts/search$"), self.search),
            ("POST", re.compile(r"^/conversations/search$"), self.search),
            ("POST", re.compile(r"^/tickets/search$"), self.search),
            ("GET", re.compile(r"^/contacts/([^/]+)/tags$"), self.contact_tags),
            ("GET", re.compile(r"^/contacts/([^/]+)/companies$"),
             self.contact_companies),
            ("GET", re.compile(r"^/contacts/([^/]+)$"), self.contact_one),
            ("GET", re.compile(r"^/companies/scroll$"), self.companies_scroll),
            ("POST", re.compile(r"^/companies/list$"), self.companies_list),
            ("GET", re.compile(r"^/companies/([^/]+)$"), self.one("companies")),
            ("GET", re.compile(r"^/tickets/([^/]+)$"), self.one("tickets")),
            ("GET", re.compile(r"^/articles/([^/]+)$"), self.one("articles")),
            ("GET", re.compile(r"^/conversations$"), self.conversations_list),
            ("GET", re.compile(r"^/conversations/([^/]+)$"), self.conversation),
            ("GET", re.compile(r"^/articles$"), self.articles),
            ("GET", re.compile(r"^/tags$"), self.tags),
            ("GET", re.compile(r"^/segments$"), self.segments),
            ("GET", re.compile(r"^/teams$"), self.teams),
            ("GET", re.compile(r"^/admins$"), self.admins),
            ("GET", re.compile(r"^/data_attributes$"), self.data_attributes),
            ("GET", re.compile(r"^/help_center/collections$"), self.collections),
            ("GET", re.compile(r"^/subscription_types$"), self.subscription_types),
        ]

    def handle(self, req):
        """Dispatch one request: (status, body bytes)."""
        for method, rx, fn in self.routes:
            m = rx.match(req.path)
            if m and method == req.method:
                with self.w.lock:
                    return 200, fn(req, *m.groups())
        raise _not_found()

    # ---- single objects and small lists ---------------------------------

    def me(self, req):
        """GET /me: the token's admin with its app (timezone = --timezone)."""
        a = dict(self.w.small["admins"][0]) if self.w.small["admins"] else {
            "id": "0", "name": "Nobody", "email": "nobody@example.com"}
        return dumpb({
            "type": "admin", "id": a["id"], "name": a["name"], "email": a["email"],
            "job_title": "Support", "away_mode_enabled": False,
            "away_mode_reassign": False, "has_inbox_seat": True,
            "team_ids": a.get("team_ids", []),
            "avatar": {"type": "avatar", "image_url": None},
            "email_verified": True,
            "app": {"type": "app", "id_code": self.opts.workspace_id,
                    "name": "icx sim " + self.opts.workspace_id,
                    "region": "US", "timezone": self.opts.timezone,
                    "created_at": self.w.now0 - 500 * 86400,
                    "identity_verification": False}})

    def tags(self, req):
        """GET /tags."""
        return dumpb({"type": "list", "data": self.w.small["tags"]})

    def segments(self, req):
        """GET /segments[?include_count=true]: count only when asked."""
        inc = (req.query.get("include_count") or ["false"])[-1].lower() == "true"
        segs = []
        for s in self.w.small["segments"]:
            d = dict(s)
            if not inc:
                d.pop("count")
            segs.append(d)
        return dumpb({"type": "segment.list", "segments": segs, "pages": {}})

    def teams(self, req):
        """GET /teams."""
        return dumpb({"type": "team.list", "teams": self.w.small["teams"]})

    def admins(self, req):
        """GET /admins."""
        return dumpb({"type": "admin.list", "admins": self.w.small["admins"]})

    def data_attributes(self, req):
        """GET /data_attributes?model=contact|company|conversation."""
        model = (req.query.get("model") or [None])[-1]
        if model not in (None, "contact", "company", "conversation"):
            raise ApiError(400, "parameter_invalid",
                           "model must be one of contact, company, conversation")
        arch = (req.query.get("include_archived") or ["false"])[-1].lower() == "true"
        return dumpb({"type": "list",
                      "data": self.w.data_attributes(model, arch)})

    def collections(self, req):
        """GET /help_center/collections?page=&per_page=: newest updated_at
        first, 15 a page by default (Intercom's SDK overrides), pages.next a
        URL."""
        page = _int_param(req.query, "page", 1)
        per = min(_int_param(req.query, "per_page", 15), 150)
        cols = sorted(self.w.small["collections"],
                      key=lambda c: (c["updated_at"], int(c["id"])), reverse=True)
        nxt = None
        if page * per < len(cols):
            nxt = "%s/help_center/collections?page=%d&per_page=%d" % (
                req.base_url, page + 1, per)
        return dumpb({"type": "list", "data": cols[(page - 1) * per: page * per],
                      "total_count": len(cols),
                      "pages": page_envelope(page, per, len(cols), nxt)})

    def subscription_types(self, req):
        """GET /subscription_types."""
        return dumpb({"type": "list", "data": self.w.small["subscription_types"]})

    # ---- contacts ---------------------------------------------------------

    def _contact(self, cid):
        """A live contact or 404 (merged/deleted contacts are gone)."""
        rec = self.w.stores["contacts"].get(cid)
        if rec is None:
            raise _not_found("User Not Found")
        return rec

    def one(self, asset):
        """GET /<asset>/{id}: the record as list and search render it, or
        404 once it is gone (deleted, merged)."""
        def handler(req, rid):
            rec = self.w.stores[asset].get(rid)
            if rec is None:
                raise _not_found()
            return self.w.render(asset, rec)
        return handler

    def contact_one(self, req, cid):
        """GET /contacts/{id}."""
        return self._contact(cid).raw

    def contact_tags(self, req, cid):
        """GET /contacts/{id}/tags: every tag, no truncation."""
        rec = self._contact(cid)
        by_id = {t["id"]: t for t in self.w.small["tags"]}
        return dumpb({"type": "list", "data": [by_id[t] for t in rec.tags
                                              if t in by_id]})

    def contact_companies(self, req, cid):
        """GET /contacts/{id}/companies: page-number paging, key 'companies'
        as in the 2.14 schema (contact_attached_companies)."""
        rec = self._contact(cid)
        page = _int_param(req.query, "page", 1)
        per = min(_int_param(req.query, "per_page", 50), 150)
        comps = [self.w.stores["companies"][c] for c in rec.companies
                 if c in self.w.stores["companies"]]
        chunk = comps[(page - 1) * per: page * per]
        total_pages = int(math.ceil(len(comps) / per))
        nxt = None
        if page < total_pages:
            nxt = "%s/contacts/%s/companies?page=%d&per_page=%d" % (
                req.base_url, cid, page + 1, per)
        return b"".join([
            b'{"type":"list","companies":[',
            b",".join(self.w.render("companies", c) for c in chunk),
            b'],"total_count":', str(len(comps)).encode(), b',"pages":',
            dumpb({"type": "pages", "page": page, "per_page": per,
                   "total_pages": total_pages, "next": nxt}), b"}"])

    def contacts_list(self, req):
        """GET /contacts?per_page=&starting_after= (default 10 per page,
        newest created first; not subject to --index-lag)."""
        per = min(_int_param(req.query, "per_page", 10), 150)
        after = (req.query.get("starting_after") or [None])[-1]
        s = self.searcher
        out, total, page_no, nxt = s.page("contacts", None, None, "created_at",
                                          True, per, after, req.now, False)
        return s.envelope("contacts", out, total, page_no, per, nxt)

    def search(self, req):
        """POST /contacts|conversations|tickets/search."""
        asset = req.path.split("/")[1]
        return self.searcher.search(asset, req.json(), req.now, True)

    # ---- companies --------------------------------------------------------

    def companies_scroll(self, req):
        """GET /companies/scroll[?scroll_param=]: one scroll per app."""
        param = (req.query.get("scroll_param") or [None])[-1]
        if param:
            s = self.scrolls.get(param, req.now)
        else:
            s = self.scrolls.start([i for i in self.w.stores["companies"]
                                    if i not in self.w.skipped["companies"]], req.now)
        size = self.opts.scroll_size
        ids = s["ids"][s["pos"]:s["pos"] + size]
        s["pos"] += size
        if not ids:
            self.scrolls.drop()      # the end: empty data, the param expires
        store = self.w.stores["companies"]
        chunk = [i for i in ids if i in store]
        return b"".join([
            b'{"type":"list","data":[',
            b",".join(self.w.render("companies", store[i]) for i in chunk),
            b'],"pages":null,"total_count":null,"scroll_param":',
            dumps(s["param"]).encode(), b"}"])

    def stale_scroll(self, now, expires_in):
        """Open a scroll nobody will continue (control API)."""
        with self.w.lock:
            s = self.scrolls.start(list(self.w.stores["companies"]), now,
                                   expires_in)
        return s["param"]

    def companies_list(self, req):
        """POST /companies/list?page=&per_page=&order=: per_page capped at 60,
        only the first 10,000 companies reachable, pages.next a URL, and
        companies without users left out (Intercom's note on the endpoint;
        the scroll returns them)."""
        page = _int_param(req.query, "page", 1)
        per = min(_int_param(req.query, "per_page", 15), 60)
        order = (req.query.get("order") or ["desc"])[-1]
        if order not in ("asc", "desc"):
            raise ApiError(400, "parameter_invalid", "order must be asc or desc")
        if page * per > COMPANY_LIST_CAP:
            raise ApiError(400, "bad_request",
                           "page limit reached, please use scroll API")
        recs = sorted((r for r in self.w.stores["companies"].values()
                       if r.doc["user_count"] > 0 and r.id not in self.w.skipped["companies"]),
                      key=lambda r: (r.doc["last_request_at"], r.id),
                      reverse=order == "desc")
        chunk = recs[(page - 1) * per: page * per]
        total_pages = int(math.ceil(len(recs) / per))
        nxt = None
        if page < total_pages:
            nxt = "%s/companies/list?page=%d&per_page=%d" % (
                req.base_url, page + 1, per)
            if req.query.get("order"):
                nxt += "&order=" + order
        return b"".join([
            b'{"type":"list","data":[',
            b",".join(self.w.render("companies", r) for r in chunk),
            b'],"total_count":', str(len(recs)).encode(), b',"pages":',
            dumpb({"type": "pages", "page": page, "per_page": per,
                   "total_pages": total_pages, "next": nxt}), b"}"])

    # ---- conversations, articles -----------------------------------------

    def conversations_list(self, req):
        """GET /conversations (cursor paging, newest updated first;
        the order is UNCONFIRMED for 2.14)."""
        per = min(_int_param(req.query, "per_page", 20), 150)
        after = (req.query.get("starting_after") or [None])[-1]
        s = self.searcher
        out, total, page_no, nxt = s.page("conversations", None, None,
                                          "updated_at", True, per, after,
                                          req.now, False)
        return s.envelope("conversations", out, total, page_no, per, nxt)

    def conversation(self, req, cid):
        """GET /conversations/{id}: with at most the 500 newest parts."""
        rec = self.w.stores["conversations"].get(cid)
        if rec is None:
            raise _not_found()
        return dumpb(self.w.conversation_full(rec))

    def articles(self, req):
        """GET /articles?page=&per_page=: newest updated_at first."""
        page = _int_param(req.query, "page", 1)
        per = min(_int_param(req.query, "per_page", 25), 150)
        recs = sorted((r for r in self.w.stores["articles"].values()
                       if r.id not in self.w.skipped["articles"]),
                      key=lambda r: (r.doc["updated_at"], r.id), reverse=True)
        # /_sim/drop: the page comes back short, total_count unchanged.
        chunk = self.searcher.drop_from("articles", recs[(page - 1) * per: page * per])
        total_pages = int(math.ceil(len(recs) / per))
        nxt = None
        if page < total_pages:
            nxt = "%s/articles?page=%d&per_page=%d" % (req.base_url, page + 1, per)
        return b"".join([
            b'{"type":"list","data":[',
            b",".join(self.w.render("articles", r) for r in chunk),
            b'],"total_count":', str(len(recs)).encode(), b',"pages":',
            dumpb({"type": "pages", "page": page, "per_page": per,
                   "total_pages": total_pages, "next": nxt}), b"}"])
