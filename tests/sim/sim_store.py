"""The simulator's truth: every asset's records, generated from the seed, and
the changes the control API makes to them (mutate, create, delete, merge).

Contacts are the big asset (100,000 must fit well under 1 GiB), so a contact
is kept as its rendered JSON bytes plus a few hot integer columns used for
search and sort; every other asset keeps its document as a dict. All methods
expect the caller to hold World.lock.
"""

import json
import random
import threading

import sim_gen as gen
from sim_store_more import MoreWorld
from sim_util import DayClock, dumpb

ASSETS = ("contacts", "companies", "conversations", "tickets", "articles")
SMALL = ("tags", "segments", "teams", "admins", "collections",
         "subscription_types", "ticket_types", "ticket_states", "help_centers")
CONTACT_HOT = ("created_at", "updated_at", "last_seen_at", "signed_up_at")


class Rec:
    """One record. doc is the dict (None for contacts, which keep raw JSON).

    tags/companies/segments/notes are a contact's full association lists;
    parts is a conversation's compact part tuples; visible_at is when a new
    contact becomes searchable (--index-lag)."""
    __slots__ = ("id", "created_at", "updated_at", "last_seen_at",
                 "signed_up_at", "doc", "raw", "tags", "companies",
                 "segments", "notes", "parts", "visible_at", "idx")

    def __init__(self, rid, idx):
        self.id = rid
        self.idx = idx
        self.doc = self.raw = None
        self.tags = self.companies = self.segments = ()
        self.notes = 0
        self.parts = None
        self.visible_at = 0
        self.created_at = self.updated_at = 0
        self.last_seen_at = self.signed_up_at = None


class World(MoreWorld):
    """All assets of one simulated workspace."""

    def __init__(self, opts, now, tz):
        self.opts = opts
        self.now0 = now
        self.tz = tz
        self.clock = DayClock(tz)
        self.lock = threading.RLock()
        self.seed = opts.seed
        self.stores = {a: {} for a in ASSETS}
        self.small = {}
        self.version = {a: 0 for a in ASSETS}
        self.used_ids = set()
        self.next_idx = {a: 0 for a in ASSETS}
        self.rng_ctl = random.Random("%s:control" % self.seed)
        self.lag_until = 0           # latest visible_at of a created contact
        # asset -> ids every list, scroll and search walk passes over, as
        # walks do with records that move under them; GET by id still works.
        self.skipped = {a: set() for a in ASSETS}
        # asset -> {id: searches left that drop it (None: every one)}: search
        # pages leave these records out while total_count still counts
        # them, as Intercom's pages can come back silently short.
        self.dropped = {a: {} for a in ASSETS}
        # conversation id -> [parts to leave out, GETs left (None: every
        # one)]: its GET comes back short while both counts still count them.
        self.dropped_parts = {}
        self._generate()
        self._generate_more()

    def _rng(self, what):
        """A Random seeded from --seed and a label, so assets are independent."""
        return random.Random("%s:%s" % (self.seed, what))

    # ---- generation -------------------------------------------------------

    def _generate(self):
        """Build every asset from the seed and the counts."""
        o = self.opts
        now = self.now0
        self.small["admins"] = [
            {"type": "admin", "id": str(991267000 + k), "name": n,
             "email": "admin%d@example.com" % (991267000 + k),
             "job_title": "Support", "away_mode_enabled": k == 1,
             "away_mode_reassign": False, "away_status_reason_id": None,
             "has_inbox_seat": True, "team_ids": [],
             "avatar": None, "team_priority_level": None}
            for k, n in zip(range(o.admins),
                            (["Ada Admin", "Bo 😀", "管理者", 'Q "Admin"'] * 50))]
        admin_ids = [a["id"] for a in self.small["admins"]]
        self.small["teams"] = []
        for k in range(o.teams):
            members = [int(a) for j, a in enumerate(admin_ids) if j % max(1, o.teams) == k]
            self.small["teams"].append(
                {"type": "team", "id": str(814000 + k), "name": "Team %d" % k,
                 "admin_ids": members, "admin_priority_level": None,
                 "assignment_limit": None, "distribution_method": "round_robin"})
            for a in self.small["admins"]:
                if int(a["id"]) in members:
                    a["team_ids"].append(814000 + k)
        team_ids = [t["id"] for t in self.small["teams"]]
        self.small["tags"] = [
            {"type": "tag", "id": str(5123000 + k),
             "name": gen.TAG_NAMES[k % len(gen.TAG_NAMES)] +
             ("" if k < len(gen.TAG_NAMES) else " %d" % k)}
            for k in range(o.tags)]
        tags = self.small["tags"]
        rs = self._rng("segments")
        self.small["segments"] = [
            {"type": "segment", "id": gen.hex_id(rs, self.used_ids),
             "name": ["Active", "Leads", "VIP 😀", "日本", "All"][k % 5] +
             ("" if k < 5 else " %d" % k),
             "created_at": now - 300 * 86400 + k * 3600,
             "updated_at": now - 30 * 86400 + k * 3600,
             "person_type": "user" if k % 2 == 0 else "contact", "count": 0}
            for k in range(o.segments)]
        self.small["collections"] = [
            {"id": str(1600000 + k), "workspace_id": gen.WORKSPACE,
             "name": ["Getting started", "FAQ 😀", "よくある質問"][k % 3],
             "description": None, "created_at": now - 200 * 86400,
             "updated_at": now - 20 * 86400 + k,
             "url": "https://help.example.com/collections/%d" % k,
             "icon": "book-bookmark", "order": k + 1, "default_locale": "en",
             "translated_content": None, "parent_id": None,
             "help_center_id": 71}
            for k in range(3)]
        self.small["subscription_types"] = [
            {"type": "subscription", "id": str(37800 + k), "state": "live",
             "default_translation": {"name": n, "description": n + " news",
                                     "locale": "en"},
             "translations": [{"name": n, "description": n + " news",
                               "locale": "en"}],
             "consent_type": "opt_out" if k else "opt_in",
             "content_types": ["email"]}
            for k, n in enumerate(["Newsletter", "Product updates 😀"])]

        rc = self._rng("companies")
        times = self._times(rc, o.companies, now, self.clock)
        for i in range(o.companies):
            self._add_company(rc, times[i])

        r = self._rng("contacts")
        times = self._times(r, o.contacts, now, self.clock)
        for i in range(o.contacts):
            self._add_contact(r, times[i])
        for c in self.stores["companies"].values():
            c.doc["user_count"] = 0
        for rec in self.stores["contacts"].values():
            for cid in rec.companies:
                self.stores["companies"][cid].doc["user_count"] += 1
            for s in rec.segments:
                self.small["segments"][s]["count"] += 1

        rv = self._rng("conversations")
        times = self._times(rv, o.conversations, now, self.clock)
        big = set(rv.sample(range(o.conversations),
                            min(o.big_conversations, o.conversations)))
        for i in range(o.conversations):
            self._add_conversation(rv, times[i], i in big)

        rt = self._rng("tickets")
        times = self._times(rt, o.tickets, now, self.clock)
        for i in range(o.tickets):
            self._add_ticket(rt, times[i])

        ra = self._rng("articles")
        times = self._times(ra, o.articles, now, self.clock)
        for i in range(o.articles):
            self._add_article(ra, times[i])

    def _times(self, rng, n, now, clock):
        """n generated updated_at values: the real shape when
        --recent-share is set, else the even spread with ties."""
        o = self.opts
        if getattr(o, "recent_share", 0):
            return gen.real_times(rng, n, now, o.recent_share, o.recent_days)
        return gen.spread_times(rng, n, now, clock)

    def _created_before(self, rng, updated):
        """A created_at at or before updated."""
        o = self.opts
        if getattr(o, "recent_share", 0):
            return gen.created_near(rng, updated, self.now0, o.recent_days)
        return updated - rng.choice([0, rng.randrange(200 * 86400)])

    def _next(self, asset):
        """Next generation index of asset."""
        i = self.next_idx[asset]
        self.next_idx[asset] = i + 1
        return i

    def _add_company(self, rng, updated, created=None):
        """Generate and store one company."""
        i = self._next("companies")
        cid = gen.hex_id(rng, self.used_ids)
        created = self._created_before(rng, updated) if created is None else created
        rec = Rec(cid, i)
        rec.doc = gen.company(rng, i, cid, created, updated, self.small["tags"])
        rec.created_at, rec.updated_at = created, updated
        self.stores["companies"][cid] = rec
        return rec

    def _add_contact(self, rng, updated, created=None):
        """Generate and store one contact (raw JSON + hot columns)."""
        i = self._next("contacts")
        cid = gen.hex_id(rng, self.used_ids)
        created = self._created_before(rng, updated) if created is None else created
        admins = [a["id"] for a in self.small["admins"]]
        doc = gen.contact(rng, i, cid, created, updated, admins, self.now0)
        rec = Rec(cid, i)
        ntags = len(self.small["tags"])
        if ntags:
            k = rng.randrange(11, min(ntags, 14) + 1) if (i % 37 == 5 and ntags > 10) \
                else rng.choice([0, 0, 1, 2, 3])
            rec.tags = tuple(self.small["tags"][j]["id"]
                             for j in sorted(rng.sample(range(ntags), min(k, ntags))))
        comps = list(self.stores["companies"])
        if comps:
            k = rng.randrange(11, min(len(comps), 13) + 1) \
                if (i % 41 == 7 and len(comps) > 10) else rng.choice([0, 1, 1, 2])
            rec.companies = tuple(rng.sample(comps, min(k, len(comps))))
        nseg = len(self.small["segments"])
        rec.segments = tuple(s for s in range(nseg) if (i + s) % (s + 2) == 0)
        rec.notes = 12 if i % 53 == 3 else (1 if i % 5 == 0 else 0)
        rec.doc = doc
        self._seal_contact(rec)
        self.stores["contacts"][cid] = rec
        return rec

    def _seal_contact(self, rec):
        """Fill embedded lists, render rec.doc to rec.raw, drop the dict."""
        doc = rec.doc
        cid = rec.id
        doc["tags"] = gen.ref_list("tag", rec.tags, "/contacts/%s/tags" % cid)
        doc["notes"] = gen.ref_list(
            "note", [str(70000000 + rec.idx * 20 + k) for k in range(rec.notes)],
            "/contacts/%s/notes" % cid)
        doc["companies"] = gen.ref_list("company", rec.companies,
                                        "/contacts/%s/companies" % cid)
        for k in CONTACT_HOT:
            setattr(rec, k, doc[k])
        rec.raw = dumpb(doc)
        rec.doc = None

    def contact_doc(self, rec):
        """A contact's document as a fresh dict."""
        return json.loads(rec.raw)

    def _contact_ref(self, rng):
        """A random existing contact as {id, external_id, name, email}."""
        store = self.stores["contacts"]
        if not store:
            return {"id": "6" + "0" * 23, "external_id": None,
                    "name": None, "email": None}
        keys = self._contact_keys()
        rec = store[keys[rng.randrange(len(keys))]]
        d = json.loads(rec.raw)
        return {k: d[k] for k in ("id", "external_id", "name", "email")}

    def _contact_keys(self):
        """Contact ids as a list, cached per contacts version."""
        v = self.version["contacts"]
        if getattr(self, "_ck", (None, None))[0] != (v, len(self.stores["contacts"])):
            self._ck = ((v, len(self.stores["contacts"])),
                        list(self.stores["contacts"]))
        return self._ck[1]

    def _add_conversation(self, rng, updated, big=False, created=None):
        """Generate and store one conversation with its parts."""
        i = self._next("conversations")
        cid = str(215468000000 + i * 17 + 3)
        created = self._created_before(rng, updated) if created is None else created
        admins = [a["id"] for a in self.small["admins"]]
        teams = [t["id"] for t in self.small["teams"]]
        ref = self._contact_ref(rng)
        rec = Rec(cid, i)
        rec.doc = gen.conversation(rng, i, cid, created, updated, ref, admins,
                                   teams, self.small["tags"])
        rec.doc["_contact"] = ref
        n = 501 + rng.randrange(150) if big else rng.randrange(1, 13)
        rec.parts = gen.parts_for(rng, 30000000000 + i * 1000000, n, created,
                                  updated)
        self._restat(rec)
        rec.created_at, rec.updated_at = created, updated
        self.stores["conversations"][cid] = rec
        return rec

    def _restat(self, rec):
        """Recompute a conversation's statistics from its parts."""
        closed = rec.doc["updated_at"] if rec.doc["state"] == "closed" else None
        rec.doc["statistics"] = gen.statistics(rec.doc["created_at"],
                                               rec.parts, closed)

    def _add_ticket(self, rng, updated, created=None):
        """Generate and store one ticket."""
        i = self._next("tickets")
        tid = str(880000 + i * 3 + 1)
        created = self._created_before(rng, updated) if created is None else created
        admins = [a["id"] for a in self.small["admins"]]
        teams = [t["id"] for t in self.small["teams"]]
        rec = Rec(tid, i)
        rec.doc = gen.ticket(rng, i, tid, created, updated, self._contact_ref(rng),
                             admins, teams)
        rec.created_at, rec.updated_at = created, updated
        self.stores["tickets"][tid] = rec
        return rec

    def _add_article(self, rng, updated, created=None):
        """Generate and store one article."""
        i = self._next("articles")
        aid = str(9100000 + i * 11 + 5)
        created = self._created_before(rng, updated) if created is None else created
        admins = [a["id"] for a in self.small["admins"]]
        cols = [c["id"] for c in self.small["collections"]]
        rec = Rec(aid, i)
        rec.doc = gen.article(rng, i, aid, created, updated, admins, cols,
                              self.small["tags"])
        rec.created_at, rec.updated_at = created, updated
        self.stores["articles"][aid] = rec
        return rec

    # ---- rendering --------------------------------------------------------

    def render(self, asset, rec):
        """A record as the list/search endpoints render it, as JSON bytes."""
        if asset == "contacts":
            return rec.raw
        return dumpb(self.public(asset, rec))

    def public(self, asset, rec):
        """A record as a dict, as list/search render it."""
        if asset == "contacts":
            return json.loads(rec.raw)
        if asset == "conversations":
            return {k: v for k, v in rec.doc.items() if k != "_contact"}
        if asset == "tickets":
            return self.ticket_public(rec)
        return rec.doc

    def conversation_full(self, rec):
        """GET /conversations/{id}: the item plus its 500 (--max-parts) most
        recent parts (/_sim/drop_parts: fewer); total_count stays the true
        count."""
        d = self.public("conversations", rec)
        admins = [a["id"] for a in self.small["admins"]]
        ref = rec.doc["_contact"]
        cap = self.opts.max_parts
        shown = rec.parts[-cap:] if cap > 0 else []
        drop = self.dropped_parts.get(rec.id)
        if drop and (drop[1] is None or drop[1] > 0):
            shown = shown[drop[0]:]
            if drop[1] is not None:
                drop[1] -= 1
        d["conversation_parts"] = {
            "type": "conversation_part.list",
            "conversation_parts": [gen.part(p, rec.id, admins, ref) for p in shown],
            "total_count": len(rec.parts)}
        return d

    def all_parts(self, rec):
        """Every part of a conversation (for the dump), with conversation_id."""
        admins = [a["id"] for a in self.small["admins"]]
        out = []
        for p in rec.parts:
            d = gen.part(p, rec.id, admins, rec.doc["_contact"])
            d["conversation_id"] = rec.id
            out.append(d)
        return out

    def field(self, asset, rec, name):
        """Top-level field of a record (fast for contact hot columns)."""
        if asset == "contacts":
            if name in CONTACT_HOT:
                return getattr(rec, name)
            return json.loads(rec.raw).get(name)
        return rec.doc.get(name)

    # ---- control-API changes ---------------------------------------------

    def _bump(self, asset):
        """Note that asset changed (search caches key on this)."""
        self.version[asset] += 1

    def _new_time(self, old, now, same_day):
        """The updated_at a mutation sets."""
        if not same_day:
            return now if now != old else now + 1
        k = 1 + self.rng_ctl.randrange(5)
        t = old + k
        if t > now or self.clock.day_start(t) != self.clock.day_start(old):
            t = old - k
        return t

    def mutate(self, asset, count, same_day, ids, now):
        """Bump updated_at of count (or the given) records and change a field."""
        store = self._store(asset)
        if ids:
            chosen = [x for x in ids if x in store]
        else:
            keys = list(store)
            chosen = self.rng_ctl.sample(keys, min(count, len(keys)))
        out = {}
        for rid in chosen:
            rec = store[rid]
            t = self._new_time(rec.updated_at, now, same_day)
            if asset == "contacts":
                d = json.loads(rec.raw)
                ca = d["custom_attributes"]
                ca["seats"] = (ca["seats"] + 1) if isinstance(ca.get("seats"), int) \
                    and not isinstance(ca.get("seats"), bool) else 1
                d["updated_at"] = t
                rec.doc = d
                self._seal_contact(rec)
            else:
                d = rec.doc
                d["updated_at"] = t
                if asset == "companies":
                    d["monthly_spend"] += 1
                elif asset == "conversations":
                    d["read"] = not d["read"]
                    base = 30000000000 + rec.idx * 1000000
                    rec.parts.append((str(base + len(rec.parts)), "comment", t,
                                      True, len(rec.parts)))
                    self._restat(rec)
                elif asset == "tickets":
                    d["ticket_attributes"]["_default_description_"] = "edited at %d" % t
                elif asset == "articles":
                    d["title"] = d["title"] + " (edited)"
                    if d.get("translated_content"):
                        d["translated_content"]["en"]["updated_at"] = t
            rec.updated_at = t
            out[rid] = t
        self._bump(asset)
        return {"ids": list(out), "updated_at": out}

    def contact_lists(self, cid, now, add_tags=(), remove_tags=(),
                      add_companies=(), remove_companies=(), touch=True):
        """Tag/untag a contact and attach/detach companies (ids); the
        contact's updated_at moves to now unless touch is False."""
        rec = self.stores["contacts"].get(cid)
        if rec is None:
            raise KeyError("no such contact %r" % cid)
        known_tags = {t["id"] for t in self.small["tags"]}
        for t in list(add_tags) + list(remove_tags):
            if t not in known_tags:
                raise KeyError("no such tag %r" % t)
        for c in list(add_companies) + list(remove_companies):
            if c not in self.stores["companies"]:
                raise KeyError("no such company %r" % c)
        tags = [t for t in rec.tags if t not in set(remove_tags)]
        tags += [t for t in add_tags if t not in tags]
        comps = [c for c in rec.companies if c not in set(remove_companies)]
        comps += [c for c in add_companies if c not in comps]
        for c in set(rec.companies) - set(comps):
            self.stores["companies"][c].doc["user_count"] -= 1
        for c in set(comps) - set(rec.companies):
            self.stores["companies"][c].doc["user_count"] += 1
        rec.tags, rec.companies = tuple(tags), tuple(comps)
        d = json.loads(rec.raw)
        if touch:
            d["updated_at"] = now if now != rec.updated_at else now + 1
        rec.doc = d
        self._seal_contact(rec)
        self._bump("contacts")
        return {"id": cid, "tags": list(rec.tags), "companies": list(rec.companies),
                "updated_at": rec.updated_at}

    def create(self, asset, count, now, index_lag):
        """Add count new records created now; contacts respect index_lag."""
        store = self._store(asset)
        rng = random.Random("%s:create:%s:%d" % (self.seed, asset,
                                                 self.next_idx[asset]))
        ids = []
        for _ in range(count):
            if asset == "contacts":
                rec = self._add_contact(rng, now, created=now)
                rec.visible_at = now + index_lag
                self.lag_until = max(self.lag_until, rec.visible_at)
            elif asset == "companies":
                rec = self._add_company(rng, now, created=now)
            elif asset == "conversations":
                rec = self._add_conversation(rng, now, created=now)
            elif asset == "tickets":
                rec = self._add_ticket(rng, now, created=now)
            else:
                rec = self._add_article(rng, now, created=now)
            ids.append(rec.id)
        assert all(i in store for i in ids)
        self._bump(asset)
        return {"ids": ids}

    def delete(self, asset, rid, now=None):
        """Remove one record; False when it does not exist. A deleted
        conversation is listed by GET /conversations/deleted from now."""
        store = self._store(asset)
        rec = store.pop(rid, None)
        if rec is None:
            return False
        if asset == "contacts":
            for cid in rec.companies:
                c = self.stores["companies"].get(cid)
                if c:
                    c.doc["user_count"] -= 1
            for s in rec.segments:
                self.small["segments"][s]["count"] -= 1
        if asset == "conversations" and now is not None:
            self.note_deleted_conversation(rid, now)
        self._bump(asset)
        return True

    def _store(self, asset):
        """The store of asset or KeyError with a clear message."""
        if asset not in self.stores:
            raise KeyError("unknown asset %r (one of %s)" % (asset, ", ".join(ASSETS)))
        return self.stores[asset]

    # ---- dumps ------------------------------------------------------------

    def dump_lines(self, what):
        """The full truth of one asset as a list of JSON-line bytes."""
        if what in self.stores:
            return [self.render(what, r) for r in self.stores[what].values()]
        if what == "contact_tags":
            return [dumpb({"contact_id": r.id, "tag_id": t})
                    for r in self.stores["contacts"].values() for t in r.tags]
        if what == "contact_companies":
            return [dumpb({"contact_id": r.id, "company_id": c})
                    for r in self.stores["contacts"].values() for c in r.companies]
        if what == "conversation_parts":
            return [dumpb(p) for r in self.stores["conversations"].values()
                    for p in self.all_parts(r)]
        if what == "data_attributes":
            return [dumpb(d) for d in self.data_attributes(None, True)]
        more = self.dump_more(what)
        if more is not None:
            return more
        if what in self.small:
            return [dumpb(d) for d in self.small[what]]
        raise KeyError("unknown dump %r" % what)

    def data_attributes(self, model, include_archived):
        """The data_attributes list for one model (or all when model is None).

        Names repeat across models (name, plan, seats, created_at) and
        between standard and custom attributes (conversation custom
        'priority' beside the standard conversation 'priority')."""
        t = self.now0 - 100 * 86400
        std = {
            "contact": [("id", "string"), ("name", "string"), ("email", "string"),
                        ("external_id", "string"), ("role", "string"),
                        ("created_at", "date"), ("updated_at", "date"),
                        ("last_seen_at", "date"), ("owner_id", "integer"),
                        ("location.city", "string")],
            "company": [("id", "string"), ("name", "string"), ("company_id", "string"),
                        ("plan.name", "string"), ("monthly_spend", "float"),
                        ("size", "integer"), ("created_at", "date"),
                        ("updated_at", "date"), ("last_request_at", "date")],
            "conversation": [("id", "string"), ("priority", "string"),
                             ("state", "string"), ("created_at", "date"),
                             ("updated_at", "date")],
        }
        cust = {
            "contact": [("plan", "string"), ("seats", "integer"),
                        ("big_number", "integer"), ("ratio", "float"),
                        ("account_ref", "string"), ("nickname", "string"),
                        ("is_vip", "boolean"), ("trial_ends_at", "date"),
                        ("labels", "string"), ("meta", "string"),
                        ("anything", "string")],
            "company": [("seats", "integer"), ("big_number", "integer"),
                        ("ratio", "float"), ("motto", "string"),
                        ("paid_subscriber", "boolean"), ("extra", "string")],
            "conversation": [("priority", "string"), ("order_number", "integer"),
                             ("order_ref", "string"), ("note", "string")],
        }
        out = []
        aid = 100
        for m in ("contact", "company", "conversation"):
            for name, dt in std[m]:
                if model in (None, m):
                    out.append({"type": "data_attribute", "name": name.split(".")[-1]
                                if "." not in name else name, "full_name": name,
                                "label": name.replace("_", " ").title(),
                                "description": "Standard %s attribute" % m,
                                "data_type": dt, "api_writable": name != "id",
                                "ui_writable": False, "messenger_writable": False,
                                "custom": False, "archived": False, "model": m})
            for name, dt in cust[m] + [("old_" + m, "string")]:
                aid += 1
                archived = name.startswith("old_")
                if model in (None, m) and (include_archived or not archived):
                    out.append({"id": aid, "type": "data_attribute", "name": name,
                                "full_name": "custom_attributes." + name,
                                "label": name, "description": "Custom 😀 " + name,
                                "data_type": dt, "options": [],
                                "api_writable": True, "ui_writable": True,
                                "messenger_writable": False, "custom": True,
                                "archived": archived,
                                "admin_id": self.small["admins"][0]["id"]
                                if self.small["admins"] else "0",
                                "created_at": t + aid, "updated_at": t + aid * 2,
                                "model": m})
        return out
