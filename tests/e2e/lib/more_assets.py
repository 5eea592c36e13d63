"""Issue 19's standalone assets: their names, and what the simulator says
the activity_logs walk must read (the tests 07NN-*).

    NEW_ASSETS       every one, in run order
    REPLACED         those replaced whole each run (one request each here)
    logs_from(sim, t)      the logs with created_at >= t, as the dump has them
    log_requests(sim)      the query of every GET /admins/activity_logs so far
"""
import math

REPLACED = ["ticket_types", "ticket_states", "help_centers", "collections", "subscription_types"]
NEW_ASSETS = REPLACED + ["activity_logs"]
LOOKBACK = 3600          # scripts/activity_logs.lua's lookback
LOGS_PAGE = 20           # Intercom's page of activity logs


def logs_from(sim, since):
    return [x for x in sim.dump("activity_logs") if x["created_at"] >= since]


def log_requests(sim):
    return [r["query"] for r in sim.request_log() if r["path"] == "/admins/activity_logs"]


def pages_for(n):
    """Requests a walk of n logs takes (an empty walk still reads page 1)."""
    return max(1, int(math.ceil(n / LOGS_PAGE)))
