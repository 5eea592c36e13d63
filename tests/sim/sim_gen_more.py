"""Deterministic fake data for the routes beyond the ten seed assets:
ticket types and states, extra ticket parts, help centers, collections,
activity logs and deleted conversations.

Like sim_gen, every function takes a random.Random seeded by the caller and
returns dicts shaped like the Intercom 2.14 OpenAPI schemas (the deleted
conversations like the 2.16 description). Callers draw from their own
labelled Random so nothing here moves the data of the older routes.
"""

import uuid

import sim_gen as gen

TICKET_TYPE_CREATED = 1700000000
# (id, name, category, archived, icon); 1295 is the type every generated
# ticket embeds (sim_gen.ticket_type), the others are what a workspace
# also has: other categories and an archived form no ticket uses.
TICKET_TYPES = [("1295", "Bug report", "Customer", False, "🐞"),
                ("1296", "Billing question", "Back-office", False, "💳"),
                ("1297", "Feature request 🚀", "Tracker", False, "🧭"),
                ("1298", 'Legacy "v1" form', "Customer", True, "📦")]
# (name, data_type, input_options): the keys tickets carry in
# ticket_attributes, in the order the form shows them.
TICKET_TYPE_ATTRS = [("_default_title_", "string", {"multiline": False}),
                     ("_default_description_", "string", {"multiline": True}),
                     ("severity", "integer", {}), ("reproducible", "boolean", {}),
                     ("ratio", "decimal", {}), ("links", "files", {}),
                     ("note", "string", {"multiline": True})]
# A workspace's own state beside the four built-in ones: no ticket is in it.
EXTRA_STATE = ("7004", "in_progress", "Escalated 🔥", "Looking into it")

ACTIVITY_TYPES = ["admin_login_success", "admin_away_mode_change",
                  "app_team_membership_modification", "admin_permission_change",
                  "app_name_change", "admin_conversation_assignment_limit_change",
                  "office_hours_change", "admin_logout", "macro_creation",
                  "app_timezone_change"]


def ticket_state_ref(category):
    """A built-in state as tickets embed it (sim_gen.ticket)."""
    k = gen.TICKET_STATES.index(category)
    label = category.replace("_", " ")
    return {"type": "ticket_state", "id": str(7000 + k), "category": category,
            "internal_label": label, "external_label": label}


def ticket_state_list():
    """The four built-in states (ids and labels as tickets embed them) and
    one custom state."""
    out = [ticket_state_ref(c) for c in gen.TICKET_STATES]
    sid, cat, internal, external = EXTRA_STATE
    out.append({"type": "ticket_state", "id": sid, "category": cat,
                "internal_label": internal, "external_label": external})
    return out


def ticket_type_brief(t):
    """A ticket type as a ticket state lists it (the 2.14 example's fields)."""
    return {"type": "ticket_type", "id": t["id"], "name": t["name"],
            "description": t["description"], "icon": t["icon"],
            "archived": t["archived"], "category": t["category"]}


def ticket_types(now):
    """GET /ticket_types data: type 1295 as tickets embed it plus its
    attributes and states, and the other types."""
    states = ticket_state_list()
    out = []
    for n, (tid, name, cat, archived, icon) in enumerate(TICKET_TYPES):
        t = gen.ticket_type() if tid == "1295" else {
            "type": "ticket_type", "id": tid, "category": cat, "name": name,
            "description": "%s tickets" % name, "icon": icon,
            "workspace_id": gen.WORKSPACE,
            "ticket_type_attributes": None, "archived": archived,
            "created_at": TICKET_TYPE_CREATED + n * 86400,
            "updated_at": now - 30 * 86400 + n * 3600}
        attrs = TICKET_TYPE_ATTRS if tid == "1295" else TICKET_TYPE_ATTRS[:2]
        t["ticket_type_attributes"] = {"type": "list", "ticket_type_attributes": [
            {"type": "ticket_type_attribute", "id": str(int(tid) * 100 + k),
             "workspace_id": gen.WORKSPACE, "name": a, "description": "",
             "data_type": dt, "input_options": opts, "order": k,
             "required_to_create": False, "required_to_create_for_contacts": False,
             "visible_on_create": True, "visible_to_contacts": k < 2,
             "default": a.startswith("_default_"), "ticket_type_id": int(tid),
             "archived": False, "created_at": t["created_at"],
             "updated_at": t["updated_at"]}
            for k, (a, dt, opts) in enumerate(attrs)]}
        t["ticket_states"] = {"type": "list", "data": [
            {k: s[k] for k in ("type", "id", "category", "internal_label",
                               "external_label")}
            for s in states if not (archived and s["id"] == EXTRA_STATE[0])]}
        out.append(t)
    return out


def ticket_states_detailed(types):
    """GET /ticket_states data: each state with the types that use it."""
    out = []
    for s in ticket_state_list():
        d = dict(s)
        d["ticket_types"] = {"type": "list", "data": [
            ticket_type_brief(t) for t in types
            if any(x["id"] == s["id"] for x in t["ticket_states"]["data"])]}
        d["archived"] = False
        out.append(d)
    return out


def ticket_part(rng, pid, ts, state, prev, contact_ref, admins, kind=None):
    """One ticket part (a comment, note, assignment or state change)."""
    kind = kind or rng.choice(["comment", "comment", "note", "assignment",
                               "ticket_state_updated_by_admin"])
    by_admin = kind != "comment" or rng.random() < 0.5
    if by_admin and admins:
        aid = rng.choice(admins)
        author = {"type": "admin", "id": aid, "name": "Admin %s" % aid,
                  "email": "admin%s@example.com" % aid}
    else:
        author = {"type": "user", "id": contact_ref["id"],
                  "name": contact_ref.get("name"),
                  "email": contact_ref.get("email") or "a@example.com"}
    d = {"type": "ticket_part", "id": pid, "part_type": kind,
         "body": None if kind in ("assignment", "ticket_state_updated_by_admin")
         else "<p>%s %s</p>" % (kind, rng.choice(gen.NASTY_STRINGS)),
         "previous_ticket_state": prev, "ticket_state": state,
         "created_at": ts, "updated_at": ts, "author": author,
         "attachments": [], "external_id": None, "redacted": False}
    if kind == "assignment" and admins:
        d["assigned_to"] = {"type": "admin", "id": rng.choice(admins)}
    return d


def help_centers(now):
    """Two help centers: 71 (the one collections point at) and a second."""
    return [{"id": str(hid), "workspace_id": gen.WORKSPACE,
             "created_at": now - (400 - k * 100) * 86400,
             "updated_at": now - (30 - k * 10) * 86400,
             "identifier": ident, "website_turned_on": k == 0,
             "display_name": name,
             "url": "https://help.example.com/%s" % ident,
             "custom_domain": "help.example.com" if k == 0 else None}
            for k, (hid, ident, name) in enumerate(
                [(71, "main", "Help 😀"), (72, "internal-kb", "内部ヘルプ")])]


def collection(rng, k, cid, now, parents):
    """One more collection or section (k counts from the first generated)."""
    parent = rng.choice(parents) if parents and rng.random() < 0.6 else None
    name = rng.choice(["Billing", "Security 🔒", "API", "請求", 'The "basics"',
                       "Integrations"]) + " %d" % k
    created = now - rng.randrange(100, 300) * 86400
    return {"id": cid, "workspace_id": gen.WORKSPACE, "name": name,
            "description": rng.choice([None, "", "Articles about " + name]),
            "created_at": created,
            "updated_at": created + rng.randrange(0, 90) * 86400,
            "url": "https://help.example.com/collections/%s" % cid,
            "icon": rng.choice(["book-bookmark", "chat-bubble", None]),
            "order": k + 1, "default_locale": "en",
            "translated_content": rng.choice([None, {
                "type": "group_translated_content",
                "en": {"type": "group_content", "name": name,
                       "description": ""}}]),
            "parent_id": parent, "help_center_id": rng.choice([71, 72])}


def activity_log(rng, ts, admins, teams):
    """One admin activity log entry; metadata as the 2.14 schema types it."""
    kind = rng.choice(ACTIVITY_TYPES)
    a = rng.choice(admins) if admins else {"id": "0", "name": "Nobody",
                                           "email": "nobody@example.com"}
    meta = {
        "admin_login_success": {"sign_in_method": "email_password"},
        "admin_away_mode_change": {"away_mode": rng.random() < 0.5,
                                   "away_status_reason": rng.choice(
                                       [None, "On a break ☕", "休憩"]),
                                   "reassign_conversations": False},
        "admin_permission_change": {"changes": {"can_export_data": {
            "before": False, "after": True}}},
        "app_name_change": {"before": {"name": "Old 😀"},
                            "after": {"name": 'New "name"'}},
        "admin_conversation_assignment_limit_change": {
            "conversation_assignment_limit": rng.randrange(1, 30),
            "update_by": int(a["id"]), "update_by_name": a["name"]},
        "office_hours_change": {"before": {"mon": "9-17"},
                                "after": {"mon": "8-18"}},
        "admin_logout": None, "macro_creation": {},
    }.get(kind)
    if kind == "app_team_membership_modification" and teams:
        t = rng.choice(teams)
        meta = {"team": {"id": int(t["id"]), "name": t["name"]}}
    elif kind == "app_timezone_change":
        meta = {"before": {"timezone": "UTC"}, "after": {"timezone": "Asia/Tokyo"}}
    elif kind == "app_team_membership_modification":
        meta = {}
    return {"id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "performed_by": {"type": "admin", "id": a["id"], "email": a["email"],
                             "ip": "10.0.%d.%d" % (rng.randrange(256),
                                                   rng.randrange(256))},
            "metadata": meta, "created_at": ts, "activity_type": kind,
            "activity_description": "%s: %s" % (a["name"], kind.replace("_", " "))}


def deleted_conversation(rng, cid, deleted_at):
    """One entry of GET /conversations/deleted (2.16)."""
    return {"type": "conversation", "id": cid,
            "metrics_retained": rng.random() < 0.5, "deleted_at": deleted_at}
