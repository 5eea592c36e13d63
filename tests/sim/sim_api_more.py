"""Intercom endpoints beyond the ten seed assets (a mixin of sim_api.Api):

  GET /ticket_types, GET /ticket_states            one list, no paging
  GET /companies/{id}/segments                     the company's segments
  GET /admins/activity_logs?created_at_after=U[&created_at_before=U][&page=N]
      created_at_after required; both bounds exclusive; newest first;
      20 a page whatever per_page says (the 2.14 description has no
      per_page), pages.next a URL
  GET /help_center/help_centers                    one list
  GET /conversations/deleted?page=&per_page=(<=60)&order=desc|asc
      API 2.16 and later only (Intercom-Version); earlier versions get what
      GET /conversations/deleted always got: 404 (or, with
      --old-version-deleted 400, Intercom's 400 intercom_version_invalid)

Each handler runs under World.lock, after auth, rate limit and faults.
"""

import math
import re

from sim_util import ApiError, dumpb

ACTIVITY_PAGE = 20
DELETED_MAX_PAGE = 60


def _unix_param(query, name, required):
    """A UNIX-seconds query parameter (a string of digits), or 400."""
    vals = query.get(name)
    if not vals or vals[-1] == "":
        if required:
            raise ApiError(400, "parameter_not_found",
                           "%s is a required parameter" % name)
        return None
    try:
        return int(vals[-1])
    except ValueError:
        raise ApiError(400, "parameter_invalid",
                       "%s must be a UNIX timestamp" % name)


def api_version(headers):
    """The request's Intercom-Version as a comparable tuple; the app's
    version (2.14 here) when absent; 'Unstable' sorts after every number."""
    v = (headers.get("Intercom-Version") or "2.14").strip()
    if v.lower() == "unstable":
        return (99, 0)
    m = re.match(r"^(\d+)\.(\d+)$", v)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def page_envelope(page, per, total, next_url):
    """The pages object of a page-number list."""
    return {"type": "pages", "page": page, "per_page": per,
            "total_pages": int(math.ceil(total / per)) if per else 0,
            "next": next_url}


class ApiMore:
    """Handlers for the newer routes; needs self.w (World) and self.opts."""

    def more_routes(self):
        """(method, regex, handler) of the newer routes, matched before the
        older ones (so /conversations/deleted is not taken for an id)."""
        return [
            ("GET", re.compile(r"^/ticket_types$"), self.ticket_types),
            ("GET", re.compile(r"^/ticket_states$"), self.ticket_states),
            ("GET", re.compile(r"^/companies/([^/]+)/segments$"),
             self.company_segments),
            ("GET", re.compile(r"^/admins/activity_logs$"), self.activity_logs),
            ("GET", re.compile(r"^/help_center/help_centers$"), self.help_centers),
            ("GET", re.compile(r"^/conversations/deleted$"),
             self.deleted_conversations),
        ]

    def ticket_types(self, req):
        """GET /ticket_types."""
        return dumpb({"type": "list", "data": self.w.small["ticket_types"]})

    def ticket_states(self, req):
        """GET /ticket_states."""
        return dumpb({"type": "list", "data": self.w.small["ticket_states"]})

    def help_centers(self, req):
        """GET /help_center/help_centers."""
        return dumpb({"type": "list", "data": self.w.small["help_centers"]})

    def company_segments(self, req, cid):
        """GET /companies/{id}/segments: the company's segments now, which
        move with segment rules while the company's updated_at stays."""
        rec = self.w.stores["companies"].get(cid)
        if rec is None:
            raise ApiError(404, "company_not_found", "Company Not Found")
        return dumpb({"type": "list", "data": self.w.segments_of(rec)})

    def activity_logs(self, req):
        """GET /admins/activity_logs: page-number paging, newest first."""
        after = _unix_param(req.query, "created_at_after", True)
        before = _unix_param(req.query, "created_at_before", False)
        page = self._page(req.query)
        rows = self.w.activity_logs_between(after, before)
        per = ACTIVITY_PAGE
        nxt = None
        if page * per < len(rows):
            nxt = "%s/admins/activity_logs?created_at_after=%d" % (req.base_url, after)
            if before is not None:
                nxt += "&created_at_before=%d" % before
            nxt += "&page=%d" % (page + 1)
        return dumpb({"type": "activity_log.list",
                      "pages": page_envelope(page, per, len(rows), nxt),
                      "activity_logs": rows[(page - 1) * per: page * per]})

    def deleted_conversations(self, req):
        """GET /conversations/deleted (2.16): deleted conversation ids."""
        if api_version(req.headers) < (2, 16):
            if self.opts.old_version_deleted == 400:
                raise ApiError(400, "intercom_version_invalid",
                               "Requested resource is not available in "
                               "current API version.")
            return self.conversation(req, "deleted")
        page = self._page(req.query)
        vals = req.query.get("per_page")
        try:
            per = int(vals[-1]) if vals else 20
        except ValueError:
            raise ApiError(400, "parameter_invalid", "per_page must be an integer")
        if per < 1:
            raise ApiError(400, "parameter_invalid", "per_page must be >= 1")
        per = min(per, DELETED_MAX_PAGE)
        order = (req.query.get("order") or ["desc"])[-1]
        if order not in ("asc", "desc"):
            raise ApiError(400, "parameter_invalid", "order must be asc or desc")
        rows = sorted(self.w.deleted_conversations,
                      key=lambda x: (x["deleted_at"], int(x["id"])),
                      reverse=order == "desc")
        nxt = None
        if page * per < len(rows):
            nxt = "%s/conversations/deleted?per_page=%d&order=%s&page=%d" % (
                req.base_url, per, order, page + 1)
        return dumpb({"type": "conversations.list", "total_count": len(rows),
                      "pages": page_envelope(page, per, len(rows), nxt),
                      "conversations": rows[(page - 1) * per: page * per]})

    @staticmethod
    def _page(query):
        """The page query parameter (1 when absent), or 400."""
        vals = query.get("page")
        if not vals:
            return 1
        try:
            v = int(vals[-1])
        except ValueError:
            raise ApiError(400, "parameter_invalid", "page must be an integer")
        if v < 1:
            raise ApiError(400, "parameter_invalid", "page must be >= 1")
        return v
