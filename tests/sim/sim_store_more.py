"""The World's data beyond the ten seed assets, and the control-API changes
to it: ticket parts (one ticket over the cap), ticket types and states,
company segment membership, help centers and collections, admin activity
logs, deleted conversations, and the link lists embedded in companies and
conversations (tags, contacts, teammates).

Companies keep embedding an empty `segments` list, as before: the 2.14
description does not say the embedded list is complete, so membership is
only served by GET /companies/{id}/segments, and it moves (control API)
without the company's updated_at moving.

A mixin of sim_store.World. Generation draws only from its own labelled
Random objects, after the older assets are built, so every older route
serves the same data for the same seed. All methods expect the caller to
hold World.lock.
"""

import random

import sim_gen_more as more
from sim_util import dumpb

TICKET_PART_BASE = 6000000000        # + ticket idx * 100000 + sequence
DELETED_CONVERSATIONS = 3            # deleted before the simulator started


class MoreWorld:
    """Generation, mutation and dumps of the newer data (mixed into World)."""

    def _generate_more(self):
        """Build the newer data from the seed; run after _generate."""
        o = self.opts
        now = self.now0
        # The newer controls draw from their own Random, so a delete or a
        # move leaves the older controls' (rng_ctl) choices as they were.
        self.rng_more = random.Random("%s:control_more" % self.seed)
        types = more.ticket_types(now)
        self.small["ticket_types"] = types
        self.small["ticket_states"] = more.ticket_states_detailed(types)
        self.small["help_centers"] = more.help_centers(now)
        rc = self._rng("collections_more")
        base = [c["id"] for c in self.small["collections"]]
        for k in range(max(0, o.collections - len(base))):
            self.small["collections"].append(
                more.collection(rc, k + len(base), str(1600000 + len(base) + k),
                                now, base))

        rs = self._rng("company_segments")
        seg_ids = [s["id"] for s in self.small["segments"]]
        for rec in self.stores["companies"].values():
            rec.segments = tuple(s for s in seg_ids if rs.random() < 0.3)

        rb = self._rng("big_tickets")
        tickets = list(self.stores["tickets"].values())
        for rec in rb.sample(tickets, min(o.big_tickets, len(tickets))):
            n = o.max_ticket_parts + 1 + rb.randrange(40)
            self._more_ticket_parts(rb, rec, n, spread=True)

        ra = self._rng("activity_logs")
        admins, teams = self.small["admins"], self.small["teams"]
        times = sorted(now - ra.randrange(60, 90 * 86400)
                       for _ in range(o.activity_logs))
        for k in range(1, len(times), 7):
            times[k] = times[k - 1]          # entries that share a second
        self.activity_logs = [more.activity_log(ra, t, admins, teams)
                              for t in sorted(times)]

        rd = self._rng("deleted_conversations")
        self.deleted_conversations = []
        if o.conversations:
            for j in range(DELETED_CONVERSATIONS):
                # ids of conversations that never were in the store
                cid = str(215468000000 + j * 17 + 5)
                self.deleted_conversations.append(more.deleted_conversation(
                    rd, cid, now - rd.randrange(86400, 300 * 86400)))

    # ---- ticket parts -----------------------------------------------------

    def ticket_parts_all(self, rec):
        """Every part of a ticket, oldest first (its doc holds them all)."""
        return rec.doc["ticket_parts"]["ticket_parts"]

    def ticket_public(self, rec):
        """A ticket as search and GET render it: at most --max-ticket-parts
        of its newest parts; total_count stays the true count."""
        tp = rec.doc["ticket_parts"]
        cap = self.opts.max_ticket_parts
        if len(tp["ticket_parts"]) <= cap:
            return rec.doc
        d = dict(rec.doc)
        d["ticket_parts"] = dict(tp, ticket_parts=tp["ticket_parts"][-cap:]
                                 if cap > 0 else [])
        return d

    def _more_ticket_parts(self, rng, rec, n, spread=False, now=None):
        """Add n parts to a ticket: spread over its life (generation) or
        at now (a reply that moves updated_at)."""
        parts = self.ticket_parts_all(rec)
        admins = [a["id"] for a in self.small["admins"]]
        ref = {"id": rec.doc["contacts"]["contacts"][0]["id"], "name": None,
               "email": None}
        if parts and parts[0]["author"]["type"] == "user":
            ref = parts[0]["author"]
        state = rec.doc["ticket_state"]["category"]
        created, updated = rec.doc["created_at"], rec.doc["updated_at"]
        new = []
        for k in range(n):
            seq = len(parts) + k
            ts = (created + (max(1, updated - created) * (k + 1)) // (n + 1)
                  if spread else now)
            pid = str(TICKET_PART_BASE + rec.idx * 100000 + seq)
            new.append(more.ticket_part(rng, pid, ts, state, state, ref, admins))
        parts.extend(new)
        parts.sort(key=lambda p: (p["created_at"], int(p["id"])))
        rec.doc["ticket_parts"]["total_count"] = len(parts)
        return new

    def add_ticket_parts(self, tid, count, now):
        """Replies on a ticket now: count new parts, updated_at moves."""
        store = self.stores["tickets"]
        if tid is None:
            tid = self.rng_more.choice(list(store))
        rec = store.get(tid)
        if rec is None:
            raise KeyError("no such ticket %r" % tid)
        t = now if now != rec.updated_at else now + 1
        rec.doc["updated_at"] = rec.updated_at = t
        new = self._more_ticket_parts(self.rng_more, rec, count, now=t)
        self._bump("tickets")
        return {"id": tid, "part_ids": [p["id"] for p in new], "updated_at": t,
                "total_count": rec.doc["ticket_parts"]["total_count"]}

    # ---- link lists -------------------------------------------------------

    def _check_ids(self, kind, ids, known):
        """KeyError unless every id is known."""
        for x in ids:
            if x not in known:
                raise KeyError("no such %s %r" % (kind, x))

    @staticmethod
    def _edit(items, add, remove, make):
        """items minus remove, plus a new entry for each id of add not there."""
        out = [x for x in items if x["id"] not in set(remove)]
        have = {x["id"] for x in out}
        out += [make(x) for x in add if x not in have]
        return out

    def _touch(self, rec, now):
        """updated_at to now (a second on if it already is now)."""
        t = now if now != rec.updated_at else now + 1
        rec.doc["updated_at"] = rec.updated_at = t

    def company_lists(self, cid, now, add_tags=(), remove_tags=(), touch=True):
        """Tag/untag a company (its embedded tags list)."""
        rec = self.stores["companies"].get(cid)
        if rec is None:
            raise KeyError("no such company %r" % cid)
        tags = {t["id"]: t for t in self.small["tags"]}
        self._check_ids("tag", list(add_tags) + list(remove_tags), tags)
        lst = rec.doc["tags"]
        lst["tags"] = self._edit(lst["tags"], add_tags, remove_tags, lambda t: {
            "type": "tag", "id": t, "name": tags[t]["name"]})
        if touch:
            self._touch(rec, now)
        self._bump("companies")
        return {"id": cid, "tags": [t["id"] for t in lst["tags"]],
                "updated_at": rec.updated_at}

    def conversation_lists(self, cid, now, add_tags=(), remove_tags=(),
                           add_contacts=(), remove_contacts=(), add_teammates=(),
                           remove_teammates=(), touch=True):
        """Tag/untag a conversation, add/remove participants and teammates."""
        rec = self.stores["conversations"].get(cid)
        if rec is None:
            raise KeyError("no such conversation %r" % cid)
        tags = {t["id"]: t for t in self.small["tags"]}
        admins = {a["id"] for a in self.small["admins"]}
        self._check_ids("tag", list(add_tags) + list(remove_tags), tags)
        self._check_ids("contact", add_contacts, self.stores["contacts"])
        self._check_ids("admin", list(add_teammates) + list(remove_teammates), admins)
        d = rec.doc
        by = self.small["admins"][0]["id"] if admins else None
        d["tags"]["tags"] = self._edit(d["tags"]["tags"], add_tags, remove_tags,
                                       lambda t: {"type": "tag", "id": t,
                                                  "name": tags[t]["name"],
                                                  "applied_at": now,
                                                  "applied_by": {"type": "admin",
                                                                 "id": by}})

        def contact_ref(c):
            doc = self.contact_doc(self.stores["contacts"][c])
            return {"type": "contact", "id": c, "external_id": doc["external_id"]}
        d["contacts"]["contacts"] = self._edit(d["contacts"]["contacts"], add_contacts,
                                               remove_contacts, contact_ref)
        d["teammates"]["teammates"] = self._edit(
            d["teammates"]["teammates"], add_teammates, remove_teammates,
            lambda a: {"type": "admin", "id": a})
        if touch:
            self._touch(rec, now)
        self._bump("conversations")
        return {"id": cid, "tags": [t["id"] for t in d["tags"]["tags"]],
                "contacts": [c["id"] for c in d["contacts"]["contacts"]],
                "teammates": [a["id"] for a in d["teammates"]["teammates"]],
                "updated_at": rec.updated_at}

    # ---- company segments -------------------------------------------------

    def segments_of(self, rec):
        """A company's segments as GET /companies/{id}/segments lists them."""
        by_id = {s["id"]: s for s in self.small["segments"]}
        return [{k: v for k, v in by_id[s].items() if k != "count"}
                for s in rec.segments if s in by_id]

    def company_segments(self, cid, add=(), remove=(), count=0):
        """Move companies in or out of segments (a segment's rules changed):
        the companies' updated_at stays. By id, or count random moves."""
        store = self.stores["companies"]
        seg_ids = [s["id"] for s in self.small["segments"]]
        self._check_ids("segment", list(add) + list(remove), set(seg_ids))
        moves = []
        if cid is not None:
            if cid not in store:
                raise KeyError("no such company %r" % cid)
            moves = [(cid, s, True) for s in add] + [(cid, s, False) for s in remove]
        elif seg_ids and store:
            keys = list(store)
            for _ in range(count):
                c = self.rng_more.choice(keys)
                s = self.rng_more.choice(seg_ids)
                moves.append((c, s, None))       # None: toggle
        changed = []
        for c, s, into in moves:
            rec = store[c]
            have = s in rec.segments
            if into is None:
                into = not have
            if into and not have:
                rec.segments = tuple(x for x in seg_ids
                                     if x in rec.segments or x == s)
            elif not into and have:
                rec.segments = tuple(x for x in rec.segments if x != s)
            else:
                continue
            changed.append({"company_id": c, "segment_id": s,
                            "member": into})
        return {"changed": changed}

    # ---- activity logs, deleted conversations ----------------------------

    def add_activity_logs(self, count, now):
        """count new activity logs, all at now (one second, ties included)."""
        rng = self.rng_more
        new = [more.activity_log(rng, now, self.small["admins"], self.small["teams"])
               for _ in range(count)]
        self.activity_logs.extend(new)
        return {"ids": [x["id"] for x in new], "created_at": now}

    def activity_logs_between(self, after, before):
        """Logs with after < created_at < before, newest first."""
        rows = [x for x in self.activity_logs if x["created_at"] > after and
                (before is None or x["created_at"] < before)]
        rows.sort(key=lambda x: (x["created_at"], x["id"]), reverse=True)
        return rows

    def note_deleted_conversation(self, cid, now):
        """Record a conversation delete for GET /conversations/deleted."""
        self.deleted_conversations.append(
            more.deleted_conversation(self.rng_more, cid, now))

    # ---- dumps ------------------------------------------------------------

    def dump_more(self, what):
        """The newer dumps as JSON-line bytes, or None for another name."""
        st = self.stores
        if what == "ticket_parts":
            return [dumpb(dict(p, ticket_id=r.id)) for r in st["tickets"].values()
                    for p in self.ticket_parts_all(r)]
        if what == "company_segments":
            return [dumpb({"company_id": r.id, "segment_id": s})
                    for r in st["companies"].values() for s in r.segments]
        if what == "company_tags":
            return [dumpb({"company_id": r.id, "tag_id": t["id"]})
                    for r in st["companies"].values() for t in r.doc["tags"]["tags"]]
        links = {"conversation_tags": ("tags", "tags", "tag_id"),
                 "conversation_contacts": ("contacts", "contacts", "contact_id"),
                 "conversation_teammates": ("teammates", "teammates", "admin_id")}
        if what in links:
            field, key, col = links[what]
            return [dumpb({"conversation_id": r.id, col: x["id"]})
                    for r in st["conversations"].values()
                    for x in r.doc[field][key]]
        if what == "team_admins":
            return [dumpb({"team_id": t["id"], "admin_id": str(a)})
                    for t in self.small["teams"] for a in t["admin_ids"]]
        if what == "activity_logs":
            return [dumpb(x) for x in self.activity_logs_between(-1, None)]
        if what == "deleted_conversations":
            return [dumpb(x) for x in self.deleted_conversations]
        return None

