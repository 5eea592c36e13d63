"""The simulator's control API under /_sim/ (not Intercom's): no auth, never
rate-limited or faulted, not counted in stats.

  POST /_sim/mutate        {"asset", "count", "same_day", "ids"}
  POST /_sim/create        {"asset", "count"}
  POST /_sim/delete        {"asset", "id"}  (a deleted conversation is then
                            listed by GET /conversations/deleted)
  POST /_sim/merge_contact {"id"}
  POST /_sim/contact_lists {"id", "add_tags", "remove_tags", "add_companies",
                            "remove_companies", "touch"}  (ids; touch=false
                            keeps updated_at)
  POST /_sim/company_lists {"id", "add_tags", "remove_tags", "touch"}
  POST /_sim/conversation_lists {"id", "add_tags", "remove_tags",
                            "add_contacts", "remove_contacts", "add_teammates",
                            "remove_teammates", "touch"}
  POST /_sim/company_segments {"id", "add", "remove"} or {"count"}: segment
                            membership moves; the companies' updated_at stays
  POST /_sim/ticket_parts  {"id", "count"}  replies now; updated_at moves
  POST /_sim/activity_logs {"count"}  new logs, all at this second
  POST /_sim/skip          {"asset", "id"}  walks pass over it; GET finds it
  POST /_sim/drop          {"asset", "ids", "times"}  search pages (and
                            GET /articles pages) leave them
                            out, total_count still counts them; each is
                            dropped from its next `times` search pages
                            (null: from every one, unreachable)
  POST /_sim/drop_parts    {"ids", "count", "times"}  GET /conversations/{id}
                            of those leaves out `count` parts (the oldest
                            shown) from its next `times` answers (null:
                            every one); statistics.count_conversation_parts
                            and total_count still count them; count 0 ends it
  POST /_sim/stale_scroll  {"expires_in"}
  POST /_sim/fault         {"path", "status", "count", "retry_after",
                            "reset_in", "kind", "delay_ms", "method",
                            "after", "code", "message"}  (code and message:
                            the error body's, else the status's own)
  POST /_sim/clear_faults
  POST /_sim/rate          {"limit"}
  GET  /_sim/stats         POST /_sim/reset_stats
  GET  /_sim/dump/<what>   JSON lines: an asset, contact_tags,
                            contact_companies, conversation_parts, ticket_parts
                            (all, with ticket_id), company_segments,
                            company_tags, conversation_tags,
                            conversation_contacts, conversation_teammates,
                            team_admins, activity_logs (newest first),
                            deleted_conversations, or a small list (tags,
                            segments, teams, admins, collections,
                            subscription_types, ticket_types, ticket_states,
                            help_centers, data_attributes)
  GET  /_sim/info          port, seed, start time, timezone, counts
"""

import json
import time

from sim_store import ASSETS


class ControlError(Exception):
    """A bad control request (answered 400 {"error": ...})."""


class Control:
    """Dispatches /_sim/ requests against the App."""

    def __init__(self, app):
        self.app = app

    def handle(self, method, path, query, body):
        """(status, dict or JSON-lines bytes)."""
        name = path[len("/_sim/"):]
        try:
            data = json.loads(body) if body else {}
            if not isinstance(data, dict):
                raise ControlError("body must be a JSON object")
            if method == "GET" and name.startswith("dump/"):
                return 200, self.dump(name[len("dump/"):])
            fn = getattr(self, "%s_%s" % (method.lower(), name), None)
            if fn is None:
                return 404, {"error": "no control endpoint %s %s" % (method, path)}
            return 200, fn(data)
        except (ControlError, ValueError, KeyError, TypeError) as e:
            return 400, {"error": str(e)}

    @staticmethod
    def _asset(data):
        """The 'asset' of a request, checked."""
        a = data.get("asset")
        if a not in ASSETS:
            raise ControlError("asset must be one of %s" % ", ".join(ASSETS))
        return a

    def dump(self, what):
        """Full truth of one asset as JSON lines."""
        w = self.app.world
        with w.lock:
            try:
                lines = w.dump_lines(what)
            except KeyError as e:
                raise ControlError(str(e))
        return b"".join(x + b"\n" for x in lines)

    def post_mutate(self, data):
        """Bump updated_at (now, or same day) and change a field."""
        w = self.app.world
        ids = data.get("ids")
        if ids is not None and not isinstance(ids, list):
            raise ControlError("ids must be a list")
        with w.lock:
            return w.mutate(self._asset(data), int(data.get("count", 1)),
                            bool(data.get("same_day")), ids, int(time.time()))

    def post_create(self, data):
        """New records created now (contacts hidden from search for
        --index-lag seconds)."""
        w = self.app.world
        with w.lock:
            return w.create(self._asset(data), int(data.get("count", 1)),
                            int(time.time()), self.app.opts.index_lag)

    def post_delete(self, data):
        """Delete one record."""
        w = self.app.world
        with w.lock:
            ok = w.delete(self._asset(data), str(data.get("id")), int(time.time()))
        if not ok:
            raise ControlError("no such record")
        return {"deleted": data.get("id")}

    def post_skip(self, data):
        """Every list, scroll and search walk from now on misses one record
        (as one that moves mid-walk can be missed); GET by id returns it."""
        w = self.app.world
        asset = self._asset(data)
        with w.lock:
            if str(data.get("id")) not in w.stores[asset]:
                raise ControlError("no such record")
            w.skipped[asset].add(str(data.get("id")))
        return {"skipped": data.get("id")}

    def post_drop(self, data):
        """Search pages silently come back short: the records named are
        left out of the next `times` pages they would be on (null: every
        page), while total_count still counts them."""
        w = self.app.world
        asset = self._asset(data)
        ids = data.get("ids")
        times = data.get("times", 1)
        if not isinstance(ids, list) or not ids:
            raise ControlError("ids must be a non-empty list")
        if times is not None and (not isinstance(times, int) or times < 1):
            raise ControlError("times must be a positive integer or null")
        with w.lock:
            for i in ids:
                if str(i) not in w.stores[asset]:
                    raise ControlError("no such record %s" % i)
            for i in ids:
                w.dropped[asset][str(i)] = times
        return {"dropped": [str(i) for i in ids], "times": times}

    def post_drop_parts(self, data):
        """A conversation's GET silently comes back short of parts: `count`
        of them left out of its next `times` answers (null: every one),
        while its counts still count them."""
        w = self.app.world
        ids, count = data.get("ids"), data.get("count", 1)
        times = data.get("times", 1)
        if not isinstance(ids, list) or not ids:
            raise ControlError("ids must be a non-empty list")
        if not isinstance(count, int) or count < 0:
            raise ControlError("count must be a non-negative integer")
        if times is not None and (not isinstance(times, int) or times < 1):
            raise ControlError("times must be a positive integer or null")
        with w.lock:
            for i in ids:
                if str(i) not in w.stores["conversations"]:
                    raise ControlError("no such conversation %s" % i)
            for i in ids:
                if count == 0:
                    w.dropped_parts.pop(str(i), None)
                else:
                    w.dropped_parts[str(i)] = [count, times]
        return {"dropped": [str(i) for i in ids], "count": count, "times": times}

    def post_contact_lists(self, data):
        """Tag/untag a contact, attach/detach companies; updated_at moves
        to now unless touch is false."""
        w = self.app.world
        lists = {}
        for k in ("add_tags", "remove_tags", "add_companies", "remove_companies"):
            v = data.get(k, [])
            if not isinstance(v, list):
                raise ControlError("%s must be a list of ids" % k)
            lists[k] = [str(x) for x in v]
        with w.lock:
            return w.contact_lists(str(data.get("id")), int(time.time()),
                                   touch=bool(data.get("touch", True)), **lists)

    @staticmethod
    def _ids(data, *keys):
        """The id lists of a request, as strings (ControlError otherwise)."""
        out = {}
        for k in keys:
            v = data.get(k, [])
            if not isinstance(v, list):
                raise ControlError("%s must be a list of ids" % k)
            out[k] = [str(x) for x in v]
        return out

    def post_company_lists(self, data):
        """Tag/untag a company; updated_at moves unless touch is false."""
        w = self.app.world
        lists = self._ids(data, "add_tags", "remove_tags")
        with w.lock:
            return w.company_lists(str(data.get("id")), int(time.time()),
                                   touch=bool(data.get("touch", True)), **lists)

    def post_conversation_lists(self, data):
        """Tag/untag a conversation, change its contacts and teammates;
        updated_at moves unless touch is false."""
        w = self.app.world
        lists = self._ids(data, "add_tags", "remove_tags", "add_contacts",
                          "remove_contacts", "add_teammates", "remove_teammates")
        with w.lock:
            return w.conversation_lists(str(data.get("id")), int(time.time()),
                                        touch=bool(data.get("touch", True)), **lists)

    def post_company_segments(self, data):
        """Segment membership moves (by id, or count random moves) while
        the companies' updated_at stays."""
        w = self.app.world
        lists = self._ids(data, "add", "remove")
        cid = data.get("id")
        with w.lock:
            return w.company_segments(None if cid is None else str(cid),
                                      count=int(data.get("count", 0)), **lists)

    def post_ticket_parts(self, data):
        """count new parts on a ticket (a random one without id), now."""
        w = self.app.world
        tid = data.get("id")
        with w.lock:
            return w.add_ticket_parts(None if tid is None else str(tid),
                                      int(data.get("count", 1)), int(time.time()))

    def post_activity_logs(self, data):
        """count new admin activity logs at this second."""
        w = self.app.world
        with w.lock:
            return w.add_activity_logs(int(data.get("count", 1)), int(time.time()))

    def post_merge_contact(self, data):
        """A contact merged away: gone from list, search and GET."""
        w = self.app.world
        with w.lock:
            if not w.delete("contacts", str(data.get("id"))):
                raise ControlError("no such contact")
        return {"merged": data.get("id")}

    def post_stale_scroll(self, data):
        """Open a companies scroll nobody continues."""
        exp = data.get("expires_in")
        param = self.app.api.stale_scroll(time.time(),
                                          None if exp is None else float(exp))
        return {"scroll_param": param}

    def post_fault(self, data):
        """Queue a fault for the next N matching requests."""
        return {"queued": self.app.faults.add(data)}

    def post_clear_faults(self, data):
        """Drop queued faults."""
        self.app.faults.clear()
        return {"cleared": True}

    def post_rate(self, data):
        """Change the per-10-second limit now."""
        n = int(data["limit"])
        self.app.rate.set_limit(n)
        return {"limit": n}

    def get_stats(self, data):
        """Request statistics."""
        return self.app.stats.snapshot()

    def post_reset_stats(self, data):
        """Zero the statistics."""
        self.app.stats.reset()
        return {"reset": True}

    def get_info(self, data):
        """What this simulator is serving."""
        w = self.app.world
        with w.lock:
            counts = {a: len(w.stores[a]) for a in ASSETS}
        o = self.app.opts
        return {"port": self.app.port, "seed": o.seed, "now": w.now0,
                "timezone": o.timezone, "counts": counts,
                "index_lag": o.index_lag, "scroll_expiry": o.scroll_expiry,
                "rate": self.app.rate.limit}
