"""What surrounds every Intercom request in the simulator: statistics, the
10-second rate-limit window, injected and random faults, the request log.
Each class has its own lock; none touches the World."""

import json
import random
import re
import threading
import time

from sim_util import dumps

LOG_HEADERS = ("Intercom-Version", "User-Agent", "Accept", "Content-Type",
               "Accept-Encoding", "Content-Encoding")
_ROUTES = [(re.compile(r"^/contacts/[^/]+/tags$"), "/contacts/{id}/tags"),
           (re.compile(r"^/contacts/[^/]+/companies$"), "/contacts/{id}/companies"),
           (re.compile(r"^/contacts/(?!search$)[^/]+$"), "/contacts/{id}"),
           (re.compile(r"^/companies/[^/]+/segments$"), "/companies/{id}/segments"),
           (re.compile(r"^/conversations/(?!search$|deleted$)[^/]+$"),
            "/conversations/{id}")]


def route_of(path):
    """The path with ids replaced by {id} (for by_route statistics)."""
    for rx, name in _ROUTES:
        if rx.match(path):
            return name
    return path


class Stats:
    """Request counters reported by GET /_sim/stats."""

    def __init__(self):
        self.lock = threading.Lock()
        self.in_flight = 0
        self.reset()

    def reset(self):
        """Zero every counter (in_flight keeps counting live requests)."""
        with self.lock:
            self.total = 0
            self.by_path = {}
            self.by_route = {}
            self.by_status = {}
            self.rate_limited = 0
            self.max_in_flight = self.in_flight
            self.versions = {}
            self.user_agents = {}
            self.faults = 0

    def begin(self, path, version, agent):
        """Count a request that starts now."""
        with self.lock:
            self.total += 1
            self.by_path[path] = self.by_path.get(path, 0) + 1
            r = route_of(path)
            self.by_route[r] = self.by_route.get(r, 0) + 1
            v = version if version is not None else "missing"
            self.versions[v] = self.versions.get(v, 0) + 1
            a = agent if agent is not None else "missing"
            self.user_agents[a] = self.user_agents.get(a, 0) + 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def end(self, status, rate_limited=False, fault=False):
        """Count a request that finished with status."""
        with self.lock:
            self.in_flight -= 1
            k = str(status)
            self.by_status[k] = self.by_status.get(k, 0) + 1
            if rate_limited:
                self.rate_limited += 1
            if fault:
                self.faults += 1

    def snapshot(self):
        """All counters as a dict."""
        with self.lock:
            return {"total": self.total, "by_path": dict(self.by_path),
                    "by_route": dict(self.by_route),
                    "by_status": dict(self.by_status),
                    "rate_limited": self.rate_limited,
                    "max_in_flight": self.max_in_flight,
                    "in_flight": self.in_flight,
                    "versions": dict(self.versions),
                    "user_agents": dict(self.user_agents),
                    "faults": self.faults}


class RateLimiter:
    """Fixed 10-second windows aligned to Unix time, as Intercom's."""

    WINDOW = 10

    def __init__(self, limit):
        self.lock = threading.Lock()
        self.limit = limit
        self.window = None
        self.used = 0

    def set_limit(self, n):
        """Change the per-window limit now (takes effect immediately)."""
        with self.lock:
            self.limit = n

    def take(self, now):
        """Count one request: (allowed, limit, remaining, reset)."""
        with self.lock:
            w = int(now // self.WINDOW)
            if w != self.window:
                self.window, self.used = w, 0
            reset = (w + 1) * self.WINDOW
            if self.used >= self.limit:
                return False, self.limit, 0, reset
            self.used += 1
            return True, self.limit, max(0, self.limit - self.used), reset


class Faults:
    """Injected faults (POST /_sim/fault) and seeded random ones (flags)."""

    KINDS = ("status", "reset", "truncate", "bad_json", "bad_gzip", "delay")

    def __init__(self, opts):
        self.lock = threading.Lock()
        self.queue = []
        self.rng = random.Random("%s:faults" % opts.seed)
        self.rates = (opts.fail_rate, opts.reset_rate, opts.truncate_rate,
                      opts.bad_json_rate)

    def add(self, spec):
        """Queue a fault; returns the normalized spec. Raises ValueError."""
        kind = spec.get("kind", "status")
        if kind not in self.KINDS:
            raise ValueError("kind must be one of %s" % ", ".join(self.KINDS))
        f = {"path": spec.get("path", "*"), "kind": kind,
             "status": int(spec.get("status", 500)),
             "count": int(spec.get("count", 1)),
             "retry_after": spec.get("retry_after"),
             "reset_in": spec.get("reset_in"),
             "delay_ms": int(spec.get("delay_ms", 0)),
             "method": spec.get("method"),
             # Let this many matching requests through first, so a test can
             # fail a walk in its middle (after some pages committed).
             "after": int(spec.get("after", 0)),
             # An error body's own code and message (a 403 for a missing
             # permission rather than the plan's api_plan_restricted).
             "code": spec.get("code"), "message": spec.get("message")}
        if not isinstance(f["path"], str):
            raise ValueError("path must be a string")
        for k in ("code", "message"):
            if f[k] is not None and not isinstance(f[k], str):
                raise ValueError("%s must be a string" % k)
        with self.lock:
            self.queue.append(f)
        return f

    def clear(self):
        """Drop every queued fault."""
        with self.lock:
            self.queue = []

    @staticmethod
    def _matches(pattern, path):
        """'*' any path, 'prefix*' a prefix, else the exact path."""
        if pattern == "*":
            return True
        if pattern.endswith("*"):
            return path.startswith(pattern[:-1])
        return path == pattern

    def next_for(self, method, path):
        """The fault this request gets, or None (draws the seeded rng)."""
        with self.lock:
            for f in self.queue:
                if self._matches(f["path"], path) and \
                        f["method"] in (None, method):
                    if f["after"] > 0:
                        f["after"] -= 1
                        return None
                    f["count"] -= 1
                    if f["count"] <= 0:
                        self.queue.remove(f)
                    return dict(f)
            fail, reset, trunc, bad = self.rates
            if not (fail or reset or trunc or bad):
                return None
            r = self.rng.random()
            status = self.rng.choice([500, 502, 503])
        base = {"path": path, "retry_after": None, "reset_in": None,
                "delay_ms": 0, "status": status}
        if r < fail:
            return dict(base, kind="status")
        r -= fail
        if r < reset:
            return dict(base, kind="reset")
        r -= reset
        if r < trunc:
            return dict(base, kind="truncate")
        r -= trunc
        if r < bad:
            return dict(base, kind="bad_json")
        return None


class RequestLog:
    """JSON lines, one per Intercom request; never the Authorization value."""

    def __init__(self, path):
        self.lock = threading.Lock()
        self.fh = open(path, "a", encoding="utf-8") if path else None
        self.seq = 0

    def next_seq(self):
        """The number of a request as it arrives (1, 2, ...)."""
        with self.lock:
            self.seq += 1
            return self.seq

    def write(self, method, path, query, body, status, headers, auth, fault, seq=None):
        """Append one line."""
        if not self.fh:
            return
        parsed = None
        if body:
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = body.decode("utf-8", "replace")
        rec = {"time": round(time.time(), 3), "method": method, "path": path,
               "query": query, "body": parsed, "status": status,
               "headers": {h: headers.get(h) for h in LOG_HEADERS
                           if headers.get(h) is not None},
               "auth": auth, "seq": seq}
        if fault:
            rec["fault"] = fault
        line = dumps(rec) + "\n"
        with self.lock:
            self.fh.write(line)
            self.fh.flush()

    def close(self):
        """Close the file."""
        if self.fh:
            self.fh.close()
            self.fh = None
