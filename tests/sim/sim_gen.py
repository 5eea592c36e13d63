"""Deterministic fake Intercom data: one function per kind of record.

Every function takes a random.Random (seeded by the caller) and plain
context, and returns a dict shaped like the Intercom 2.14 OpenAPI schema of
that record. Values deliberately include what breaks careless extractors:
integers above 2^53, int64 extremes, tiny and huge floats, empty arrays and
objects, nulls, emoji, CJK, quotes, backslashes, newlines and control
characters.
"""

WORKSPACE = "ecahpwf5"
DAYS = 400                       # generated timestamps spread over this span
REAL_YEARS = 2                   # the real shape's older records span this

# Values that break careless JSON handling. Contacts and companies get any of
# them; conversations only strings and integers (the 2.14 schema of
# conversation custom_attributes allows string | integer | datetime).
NASTY_INTS = [9007199254740993, 9223372036854775807, -9223372036854775808,
              -42, 0, 1, 2 ** 53 + 1]
NASTY_FLOATS = [0.1, 1e-07, 1.5e300, -2.5, 3.14159]
NASTY_STRINGS = ["😀 party 🎉", "中文テキスト한국어", 'say "hi"', "back\\slash",
                 "line1\nline2", "ctrl\u0001char", "tab\tsep", "", "plain",
                 "</script><b>x</b>", "null", "e\u0301 combining"]
NAMES = ["Ada Lovelace", "Grace Hopper", "José Ñúñez", "李小龍", "Zoë 😀",
         'Dwayne "The Rock"', "O'Brien", "back\\slash", None, "Ünïcødé",
         "Linus", "Margaret", "Ken", "Barbara", "Dennis", "Frances"]
DOMAINS = ["example.com", "example.org", "test.io", "exämple.de", "corp.jp"]
CITIES = [("US", "California", "San Francisco"), ("IE", "Dublin", "Dublin"),
          ("JP", "Tokyo", "東京"), ("DE", "Berlin", "Berlin"),
          (None, None, None), ("BR", "São Paulo", "São Paulo")]
PLANS = ["free", "pro", "enterprise", "trial"]
TAG_NAMES = ["vip", "churn-risk", "beta 🚀", "日本", 'quote"tag', "back\\tag",
             "newsletter", "enterprise", "lead", "partner", "a,b", "Z",
             "spaces  in  name", "emoji 😀", "trial"]


def hex_id(rng, used):
    """A 24-hex-digit id like Intercom's contact/company ids, unique in used."""
    while True:
        v = "6%023x" % rng.getrandbits(92)
        if v not in used:
            used.add(v)
            return v


def spread_times(rng, n, now, clock, tie_rate=0.08, day_rate=0.25):
    """n updated_at values over DAYS before now, with deliberate ties.

    tie_rate of them repeat an earlier value to the second, day_rate land on
    the same local day as an earlier value (a different second)."""
    out = []
    for i in range(n):
        r = rng.random()
        if i and r < tie_rate:
            out.append(out[rng.randrange(max(0, i - 50), i)])
        elif i and r < tie_rate + day_rate:
            prev = out[rng.randrange(max(0, i - 50), i)]
            start = clock.day_start(prev)
            t = start + rng.randrange(86400)
            out.append(min(t, now - 1))
        else:
            out.append(now - rng.randrange(60, DAYS * 86400))
    return out


def real_times(rng, n, now, share, recent_days):
    """n updated_at values shaped like a real workspace: `share` of them in
    the last recent_days, the rest spread over two years (their records
    were created near then: see created_near). Equal spans of time then
    hold very unequal numbers of records, which is what slicing must meet."""
    recent = int(recent_days * 86400)
    out = []
    for _ in range(n):
        if rng.random() < share:
            out.append(now - rng.randrange(60, max(61, recent)))
        else:
            out.append(now - rng.randrange(recent, max(recent + 1,
                                                       REAL_YEARS * 365 * 86400)))
    return out


def created_near(rng, updated, now, recent_days):
    """A created_at for real_times' updated: a recently updated record was
    created any time in the two years; an older one within a month of its
    last update."""
    if updated >= now - recent_days * 86400:
        return updated - rng.randrange(REAL_YEARS * 365 * 86400)
    return updated - rng.randrange(30 * 86400)


def nasty_any(rng):
    """Any JSON value that is hard to carry losslessly."""
    r = rng.randrange(8)
    if r == 0:
        return rng.choice(NASTY_INTS)
    if r == 1:
        return rng.choice(NASTY_FLOATS)
    if r == 2:
        return rng.choice(NASTY_STRINGS)
    if r == 3:
        return rng.choice([[], {}, None])
    if r == 4:
        return rng.choice([True, False])
    if r == 5:
        return ["x", 1, None, {"k": "v"}]
    if r == 6:
        return {"nested": {"deep": [1, 2.5, "三"]}, "empty": {}}
    return rng.randrange(-1000, 1000)


def contact_custom(rng, i, now):
    """custom_attributes of a contact: fixed keys, varied nasty values.

    'account_ref' is an integer on some records and a string on others;
    'plan' and 'seats' repeat a company attribute name (data_attributes)."""
    ref = 100000 + i
    return {
        "plan": rng.choice(PLANS + [None]),
        "seats": rng.choice([rng.randrange(1, 500), -7, 0, None]),
        "big_number": rng.choice(NASTY_INTS),
        "ratio": rng.choice(NASTY_FLOATS),
        "account_ref": ref if i % 2 else str(ref),
        "labels": rng.choice([[], ["a", "b"], ["😀"]]),
        "meta": rng.choice([{}, {"k": "v", "n": None}]),
        "nickname": rng.choice(NASTY_STRINGS),
        "is_vip": rng.choice([True, False, None]),
        "trial_ends_at": rng.choice([None, now + rng.randrange(-90, 90) * 86400]),
        "anything": nasty_any(rng),
    }


def ref_list(kind, ids, url, limit=10):
    """A contact's truncated reference list: first 10 + url/total/has_more."""
    plural = {"company": "companies"}.get(kind, kind + "s")
    data = [{"type": kind, "id": x, "url": "/%s/%s" % (plural, x)}
            for x in ids[:limit]]
    return {"type": "list", "data": data, "url": url,
            "total_count": len(ids), "has_more": len(ids) > limit}


def contact(rng, i, cid, created, updated, admins, now):
    """One contact document (tags/companies/notes filled by the caller)."""
    role = "lead" if rng.random() < 0.2 else "user"
    name = rng.choice(NAMES)
    dom = rng.choice(DOMAINS)
    local = rng.choice(["user%d" % i, "o'brien+%d" % i, "First.Last%d" % i,
                        "ütf%d" % i])
    seen = None
    if role == "user" or rng.random() < 0.5:
        seen = max(created, updated - rng.randrange(0, 5 * 86400))
    country, region, city = rng.choice(CITIES)
    ext = None
    if role == "user":
        ext = str(5000 + i) if i % 3 else "ext-%08x" % rng.getrandbits(32)
    owner = int(rng.choice(admins)) if admins and rng.random() < 0.6 else None
    opened = rng.choice([None, max(created, updated - rng.randrange(86400 * 30))])
    return {
        "type": "contact", "id": cid, "workspace_id": WORKSPACE,
        "external_id": ext, "role": role,
        "email": "%s@%s" % (local, dom), "email_domain": dom,
        "phone": rng.choice([None, "+1555%07d" % i]),
        "name": name, "owner_id": owner,
        "has_hard_bounced": rng.random() < 0.05,
        "marked_email_as_spam": False,
        "unsubscribed_from_emails": rng.random() < 0.1,
        "created_at": created, "updated_at": updated,
        "signed_up_at": created if role == "user" else None,
        "last_seen_at": seen,
        "last_replied_at": rng.choice([None, seen]),
        "last_contacted_at": rng.choice([None, opened]),
        "last_email_opened_at": opened, "last_email_clicked_at": None,
        "language_override": rng.choice([None, "fr", "ja"]),
        "browser": rng.choice([None, "chrome", "firefox", "safari"]),
        "browser_version": rng.choice([None, "120.0.1"]),
        "browser_language": rng.choice([None, "en", "zh-CN"]),
        "os": rng.choice([None, "Linux", "OS X 14.1", "Windows 11"]),
        "android_app_name": None, "android_app_version": None,
        "android_device": None, "android_os_version": None,
        "android_sdk_version": None, "android_last_seen_at": None,
        "ios_app_name": None, "ios_app_version": None, "ios_device": None,
        "ios_os_version": None, "ios_sdk_version": None,
        "ios_last_seen_at": None,
        "custom_attributes": contact_custom(rng, i, now),
        "avatar": {"type": "avatar", "image_url": None},
        "tags": None, "notes": None, "companies": None,
        "location": {"type": "location", "country": country,
                     "region": region, "city": city},
        "social_profiles": {"type": "list", "data": []},
    }


def company(rng, i, cid, created, updated, tags):
    """One company document (user_count set later by the caller).

    custom_attributes hold any JSON type: the 2.14 schema says strings only,
    Intercom sends booleans and numbers too (INTERCOM-API.md section 6)."""
    plan = rng.choice([None, "pro", "enterprise"])
    tag_ids = rng.sample(tags, min(len(tags), rng.randrange(3))) if tags else []
    return {
        "type": "company", "id": cid, "name": rng.choice(
            ["Acme %d" % i, "Ünïcørn %d" % i, "株式会社 %d" % i,
             'Quote "Co" %d' % i]),
        "app_id": WORKSPACE,
        "plan": ({"type": "plan", "id": str(2000 + PLANS.index(plan)),
                  "name": plan} if plan else {}),
        "company_id": str(9000 + i) if i % 4 else "co-%d" % i,
        "remote_created_at": created - rng.randrange(86400 * 30),
        "created_at": created, "updated_at": updated,
        "last_request_at": max(created, updated - rng.randrange(86400 * 20)),
        "size": rng.randrange(1, 5000), "website": "https://c%d.example.com" % i,
        "industry": rng.choice(["Software", "Retail", "教育"]),
        "monthly_spend": rng.randrange(0, 100000), "session_count": rng.randrange(500),
        "user_count": 0,
        "custom_attributes": {
            "seats": rng.choice([rng.randrange(1, 900), None]),
            "big_number": rng.choice(NASTY_INTS),
            "ratio": rng.choice(NASTY_FLOATS),
            "motto": rng.choice(NASTY_STRINGS),
            "paid_subscriber": rng.choice([True, False]),
            "extra": rng.choice([[], {}, None, "x"]),
        },
        "tags": {"type": "tag.list",
                 "tags": [{"type": "tag", "id": t["id"], "name": t["name"]}
                          for t in tag_ids]},
        "segments": {"type": "segment.list", "segments": []},
    }


def conversation(rng, i, cid, created, updated, contact_ref, admins, teams,
                 tags):
    """One conversation list item (no conversation_parts; statistics later)."""
    state = rng.choice(["open", "closed", "snoozed"])
    admin = int(rng.choice(admins)) if admins and rng.random() < 0.7 else None
    team = int(rng.choice(teams)) if teams and rng.random() < 0.5 else None
    ctags = rng.sample(tags, min(len(tags), rng.randrange(3))) if tags else []
    author = {"type": "user", "id": contact_ref["id"],
              "name": contact_ref.get("name"),
              "email": contact_ref.get("email") or "anon@example.com"}
    return {
        "type": "conversation", "id": cid,
        "title": rng.choice([None, "Help with 😀", "請幫忙", 'About "X"']),
        "created_at": created, "updated_at": updated,
        "waiting_since": updated if state == "open" else None,
        "snoozed_until": updated + 86400 if state == "snoozed" else None,
        "open": state != "closed", "state": state, "read": rng.random() < 0.5,
        "priority": rng.choice(["priority", "not_priority"]),
        "admin_assignee_id": admin, "team_assignee_id": team,
        "tags": {"type": "tag.list", "tags": [
            {"type": "tag", "id": t["id"], "name": t["name"],
             "applied_at": created, "applied_by": {"type": "admin",
                                                   "id": admins[0] if admins else None}}
            for t in ctags]},
        "conversation_rating": None,
        "source": {"type": "conversation", "id": str(400000000 + i),
                   "delivered_as": "customer_initiated", "subject": "",
                   "body": "<p>%s</p>" % rng.choice(NASTY_STRINGS),
                   "author": author, "attachments": [], "url": None,
                   "redacted": False},
        "contacts": {"type": "contact.list", "contacts": [
            {"type": "contact", "id": contact_ref["id"],
             "external_id": contact_ref.get("external_id")}]},
        "teammates": {"type": "admin.list", "teammates": (
            [{"type": "admin", "id": str(admin)}] if admin else [])},
        "custom_attributes": {
            "priority": rng.choice(["high", "low", "中"]),
            "order_number": rng.choice([9007199254740993, -5, 0,
                                        9223372036854775807]),
            "order_ref": 7000 + i if i % 2 else str(7000 + i),
            "note": rng.choice(NASTY_STRINGS),
        },
        "first_contact_reply": {"created_at": created, "type": "conversation",
                                "url": None},
        "sla_applied": None,
        "statistics": None,
        "linked_objects": {"type": "list", "total_count": 0, "has_more": False,
                           "data": []},
        "ai_agent_participated": False,
    }


def statistics(created, parts, closed):
    """conversation.statistics; count_conversation_parts is the true count."""
    return {"type": "conversation_statistics", "time_to_assignment": 0,
            "time_to_admin_reply": 60, "time_to_first_close": 3600,
            "time_to_last_close": 3600, "median_time_to_reply": 60,
            "first_contact_reply_at": created,
            "last_contact_reply_at": parts[-1][2] if parts else created,
            "last_close_at": closed or created, "count_reopens": 0,
            "count_assignments": 1, "count_conversation_parts": len(parts),
            "assigned_team_first_response_time": [],
            "assigned_team_first_response_time_in_office_hours": [],
            "handling_time": 120, "adjusted_handling_time": None}


def part(p, conv_id, admins, contact_ref):
    """Render a conversation part from its compact tuple.

    p = (part_id, part_type, created_at, author_is_admin, body_index)."""
    pid, ptype, ts, by_admin, bi = p
    if by_admin and admins:
        aid = admins[bi % len(admins)]
        author = {"type": "admin", "id": aid, "name": "Admin %s" % aid,
                  "email": "admin%s@example.com" % aid}
    else:
        author = {"type": "user", "id": contact_ref["id"],
                  "name": contact_ref.get("name"),
                  "email": contact_ref.get("email") or "anon@example.com"}
    d = {"type": "conversation_part", "id": pid, "part_type": ptype,
         "body": None if ptype in ("close", "open") else
         "<p>part %s %s</p>" % (pid, NASTY_STRINGS[bi % len(NASTY_STRINGS)]),
         "created_at": ts, "updated_at": ts, "notified_at": ts,
         "author": author, "attachments": [], "external_id": None,
         "redacted": False, "tags": [], "state": "open",
         "app_package_code": None}
    if ptype == "assignment" and admins:
        d["assigned_to"] = {"type": "admin", "id": admins[bi % len(admins)]}
    return d


def parts_for(rng, base_id, n, created, updated):
    """n compact part tuples with created_at climbing to updated."""
    out = []
    span = max(1, updated - created)
    for k in range(n):
        ts = created + (span * (k + 1)) // n if n else created
        ptype = "comment" if k % 7 else rng.choice(["note", "assignment",
                                                    "comment", "close"])
        out.append((str(base_id + k), ptype, ts, k % 2 == 1, rng.randrange(97)))
    return out


TICKET_STATES = ["submitted", "in_progress", "waiting_on_customer",
                 "resolved"]


def ticket_type():
    """The one ticket type every generated ticket uses."""
    return {"type": "ticket_type", "id": "1295", "category": "Customer",
            "name": "Bug report", "description": "Bug reports 🐛",
            "icon": "🐞", "workspace_id": WORKSPACE,
            "ticket_type_attributes": {"type": "list",
                                       "ticket_type_attributes": []},
            "archived": False, "created_at": 1700000000,
            "updated_at": 1700000000}


def ticket(rng, i, tid, created, updated, contact_ref, admins, teams):
    """One ticket with its (small) ticket_parts list."""
    st = rng.choice(TICKET_STATES)
    cat = rng.choice(["Customer", "Back-office", "Tracker"])
    admin = rng.choice(admins) if admins and rng.random() < 0.7 else None
    team = rng.choice(teams) if teams and rng.random() < 0.5 else None
    nparts = rng.randrange(1, 4)
    parts = []
    for k in range(nparts):
        ts = created + (max(1, updated - created) * (k + 1)) // nparts
        parts.append({"type": "ticket_part", "id": str(600000000 + i * 10 + k),
                      "part_type": "comment", "body": "<p>ticket %d/%d</p>" % (i, k),
                      "previous_ticket_state": "submitted", "ticket_state": st,
                      "created_at": ts, "updated_at": ts,
                      "author": {"type": "user", "id": contact_ref["id"],
                                 "name": contact_ref.get("name"),
                                 "email": contact_ref.get("email") or "a@example.com"},
                      "attachments": [], "external_id": None, "redacted": False})
    tattrs = {"_default_title_": rng.choice(["Broken 😀", "壊れた", 'Says "no"']),
              "_default_description_": rng.choice(NASTY_STRINGS),
              "severity": rng.choice([1, 2, 3, 9007199254740993]),
              "reproducible": rng.choice([True, False]),
              "ratio": rng.choice(NASTY_FLOATS), "links": [],
              "note": None}
    t = {
        "type": "ticket", "id": tid, "ticket_id": str(1000 + i),
        "category": cat, "ticket_attributes": tattrs,
        "ticket_state": {"type": "ticket_state",
                         "id": str(7000 + TICKET_STATES.index(st)),
                         "category": st, "internal_label": st.replace("_", " "),
                         "external_label": st.replace("_", " ")},
        "ticket_type": ticket_type(),
        "contacts": {"type": "contact.list", "contacts": [
            {"type": "contact", "id": contact_ref["id"],
             "external_id": contact_ref.get("external_id")}]},
        "admin_assignee_id": admin or "0", "team_assignee_id": team or "0",
        "created_at": created, "updated_at": updated,
        "open": st != "resolved",
        "linked_objects": {"type": "list", "total_count": 0, "has_more": False,
                           "data": []},
        "ticket_parts": {"type": "ticket_part.list", "ticket_parts": parts,
                         "total_count": len(parts)},
        "is_shared": False,
    }
    if st == "waiting_on_customer":
        # The 2.14 schema types snoozed_until as a (non-null) integer, so
        # tickets that are not snoozed leave it out.
        t["snoozed_until"] = updated + 3 * 86400
    return t


def article(rng, i, aid, created, updated, admins, collections, tags):
    """One article list item."""
    state = rng.choice(["published", "draft"])
    author = int(rng.choice(admins)) if admins else 1
    parent = int(rng.choice(collections)) if collections and i % 3 else None
    title = rng.choice(["How to %d" % i, "使い方 %d" % i, 'The "%d" guide' % i,
                        "Emoji 😀 %d" % i])
    body = "<p>%s</p>" % rng.choice(NASTY_STRINGS)
    url = "https://help.example.com/articles/%s" % aid if state == "published" else None
    atags = rng.sample(tags, min(len(tags), rng.randrange(2))) if tags else []
    return {
        "type": "article", "id": aid, "workspace_id": WORKSPACE, "title": title,
        "description": rng.choice([None, "desc", "説明"]), "body": body,
        "author_id": author, "state": state, "created_at": created,
        "updated_at": updated, "url": url, "parent_id": parent,
        "parent_ids": [parent] if parent else [],
        "parent_type": "collection" if parent else None, "default_locale": "en",
        "translated_content": {
            "type": "article_translated_content",
            "en": {"type": "article_content", "title": title,
                   "description": "", "body": body, "author_id": author,
                   "state": state, "created_at": created, "updated_at": updated,
                   "url": url or ""}},
        "tags": {"type": "tag.list", "tags": [
            {"type": "tag", "id": t["id"], "name": t["name"]} for t in atags]},
    }
