"""Load Intercom's 2.14 OpenAPI description and validate responses against
its schemas with jsonschema (Debian's python3-jsonschema and python3-yaml).

The YAML (878 KB) is converted once to JSON under <repo>/build/sim/ and
reused while its size and mtime are unchanged. OpenAPI 3.0 schemas become
JSON Schema: `nullable: true` admits null, and objects are made strict
(additionalProperties: false where the file declares properties and says
nothing else) so a misspelt or invented field fails. Strictness is dropped
inside allOf, where the parts must admit each other's properties.

Deviations from the file, each because Intercom's real responses are wider
(INTERCOM-API.md section 6) or because strictness is ours, not the file's:
  company.custom_attributes       any JSON value, not only strings
  company_list.pages, article_list.pages, collection_list.pages,
  activity_log_list.pages         page-number lists: pages.next is a URL
                                  string or null (Fern's offset_pages; for
                                  activity logs PostHog's source, §1.3)
  data_attribute.model            also 'conversation'
  starting_after_paging           may carry 'page' (live next = {page,
                                  starting_after})
  contact_tags / contact_notes / contact_companies / contact_social_profiles
                                  carry "type": "list" (the file's examples)
  deleted_conversation_list       not in 2.14: GET /conversations/deleted is
                                  API 2.16; written here from the 2.16
                                  description's example and field table
  format (uri, email, uuid, date-time) is not checked: the file puts
  format: uri on relative links and on 'type' words.
"""

import copy
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def spec_path():
    """Where the 2.14 description is: $ICX_SHARED or <repo>/../shared."""
    shared = os.environ.get("ICX_SHARED") or os.path.join(REPO, "..", "shared")
    return os.path.join(shared, "intercom-openapi", "api.intercom.io.yaml")


def load_spec():
    """The OpenAPI document as a dict (cached as JSON under build/)."""
    src = spec_path()
    st = os.stat(src)
    cache_dir = os.path.join(REPO, "build", "sim")
    cache = os.path.join(cache_dir, "openapi-2.14.json")
    stamp = "%d:%d" % (st.st_size, int(st.st_mtime))
    try:
        with open(cache, encoding="utf-8") as f:
            doc = json.load(f)
        if doc.get("_stamp") == stamp:
            return doc["spec"]
    except (OSError, ValueError):
        pass
    import yaml
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(src, encoding="utf-8") as f:
        spec = yaml.load(f, Loader=loader)
    try:
        os.makedirs(cache_dir, exist_ok=True)
        tmp = cache + ".tmp%d" % os.getpid()
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"_stamp": stamp, "spec": spec}, f)
        os.replace(tmp, cache)
    except OSError:
        pass
    return spec


OFFSET_PAGES = {"type": "object", "nullable": True, "properties": {
    "type": {"type": "string", "enum": ["pages"]},
    "page": {"type": "integer"},
    "next": {"type": "string", "nullable": True},
    "per_page": {"type": "integer"},
    "total_pages": {"type": "integer"}}}


# GET /conversations/deleted, API 2.16 (listDeletedConversationIds).
DELETED_CONVERSATION_LIST = {"type": "object", "properties": {
    "type": {"type": "string", "enum": ["conversations.list"]},
    "total_count": {"type": "integer"},
    "pages": OFFSET_PAGES,
    "conversations": {"type": "array", "items": {
        "type": "object",
        "required": ["type", "id", "deleted_at", "metrics_retained"],
        "properties": {
            "type": {"type": "string", "enum": ["conversation"]},
            "id": {"type": "string"},
            "metrics_retained": {"type": "boolean"},
            "deleted_at": {"type": "integer"}}}}}}


def _patch(schemas):
    """Apply the documented deviations to the raw component schemas."""
    s = copy.deepcopy(schemas)
    s["company"]["properties"]["custom_attributes"] = {"type": "object"}
    for name in ("company_list", "article_list", "collection_list",
                 "activity_log_list"):
        s[name]["properties"]["pages"] = OFFSET_PAGES
    s["deleted_conversation_list"] = DELETED_CONVERSATION_LIST
    s["data_attribute"]["properties"]["model"]["enum"].append("conversation")
    s["starting_after_paging"]["properties"]["page"] = {"type": "integer"}
    for name in ("contact_tags", "contact_notes", "contact_companies",
                 "contact_social_profiles"):
        s[name]["properties"]["type"] = {"type": "string", "enum": ["list"]}
    return s


def _conv(node, strict):
    """OpenAPI 3.0 schema node -> JSON Schema node."""
    if isinstance(node, list):
        return [_conv(x, strict) for x in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        name = node["$ref"].split("/")[-1]
        out = {"$ref": "#/%s/%s" % ("strict" if strict else "loose", name)}
        if node.get("nullable"):
            out = {"anyOf": [out, {"type": "null"}]}
        return out
    out = {}
    for k, v in node.items():
        if k in ("nullable", "example", "examples", "description",
                 "discriminator", "format", "x-fern-sdk-group-name",
                 "readOnly", "writeOnly", "title", "deprecated"):
            continue
        if k == "properties":
            out[k] = {p: _conv(x, True) for p, x in v.items()}
        elif k == "allOf":
            out[k] = [_conv(x, False) for x in v]
        elif k in ("anyOf", "oneOf", "items", "additionalProperties", "not"):
            out[k] = _conv(v, True)
        else:
            out[k] = v
    if strict and "properties" in node and "additionalProperties" not in node \
            and "allOf" not in node:
        out["additionalProperties"] = False
    if node.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
            if "enum" in out and None not in out["enum"]:
                out["enum"] = out["enum"] + [None]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


class Validator:
    """Validates instances against the 2.14 response schemas."""

    def __init__(self):
        import jsonschema
        self.jsonschema = jsonschema
        self.spec = load_spec()
        raw = _patch(self.spec["components"]["schemas"])
        self.root = {"strict": {k: _conv(v, True) for k, v in raw.items()},
                     "loose": {k: _conv(v, False) for k, v in raw.items()}}
        self._cache = {}

    def response_schema(self, method, path, status="200"):
        """The converted schema the file gives for one response."""
        op = self.spec["paths"][path][method.lower()]
        sch = op["responses"][str(status)]["content"]["application/json"]["schema"]
        return _conv(sch, True)

    def named(self, name):
        """The converted component schema `name`."""
        return {"$ref": "#/strict/%s" % name}

    def errors(self, schema, instance):
        """A list of readable validation errors (empty when valid)."""
        key = json.dumps(schema, sort_keys=True)
        v = self._cache.get(key)
        if v is None:
            doc = dict(self.root)
            doc.update(schema)
            cls = self.jsonschema.validators.validator_for(
                {"$schema": "http://json-schema.org/draft-07/schema#"})
            v = cls(doc)
            self._cache[key] = v
        out = []
        for e in v.iter_errors(instance):
            where = "/".join(str(p) for p in e.absolute_path)
            out.append("%s: %s" % (where or "(root)", e.message[:300]))
            if len(out) >= 10:
                break
        return out
