/* icx.yaml: YAML (libyaml) to a node tree that keeps source positions.
**
**   icx.yaml.parse(text) -> node | nil, message, "yaml"
**
** node = {kind = "scalar", value = string, quoted = boolean, line, col}
**      | {kind = "seq", line, col, [1..n] = node}
**      | {kind = "map", line, col, [1..n] = {k = node, v = node}}
** An empty document gives a map with no entries. Lines and columns are 1-based.
**
** Validation is Lua's job (lualib/icx/config.lua): it needs every position to
** write "connections.yml:12:5: ..." messages, so the tree keeps them all and
** typing of scalars is left to the schema.
*/

#include <stdio.h>

#include <lauxlib.h>
#include <yaml.h>
#include <lua.h>

#include "modules.h"

#define YAML_MAX_DEPTH 64

/* Parser state for one parse call; lives on the C stack. */
typedef struct {
  yaml_parser_t parser; /* owns libyaml buffers: deleted before any raise */
  char err[256];        /* first error, "LINE:COL: problem" */
} YDoc;

/* Records an error at a mark. Returns -1 for chaining. */
static int ydoc_fail(YDoc *d, const yaml_mark_t *m, const char *what) {
  snprintf(d->err, sizeof d->err, "%lu:%lu: %s", (unsigned long)m->line + 1,
           (unsigned long)m->column + 1, what);
  return -1;
}

/* Pulls the next event; on failure records the parser's own problem. */
static int ydoc_next(YDoc *d, yaml_event_t *ev) {
  if (yaml_parser_parse(&d->parser, ev))
    return 0;
  const yaml_mark_t *m = &d->parser.problem_mark;
  char what[200];
  snprintf(what, sizeof what, "%s%s%s",
           d->parser.problem ? d->parser.problem : "invalid YAML",
           d->parser.context ? " " : "",
           d->parser.context ? d->parser.context : "");
  return ydoc_fail(d, m, what);
}

/* Pushes a node table with kind and position.  [-0, +1, m] */
static void push_node(lua_State *L, const char *kind, const yaml_mark_t *m) {
  lua_createtable(L, 0, 4);
  lua_pushstring(L, kind);
  lua_setfield(L, -2, "kind");
  lua_pushinteger(L, (lua_Integer)m->line + 1);
  lua_setfield(L, -2, "line");
  lua_pushinteger(L, (lua_Integer)m->column + 1);
  lua_setfield(L, -2, "col");
}

static int build(lua_State *L, YDoc *d, yaml_event_t *ev, int depth);

/* Builds the children of a sequence or mapping up to its end event.
** [-0, +0, m] on the container at the top. */
static int build_children(lua_State *L, YDoc *d, int is_map, int depth) {
  lua_Integer n = 0;
  for (;;) {
    yaml_event_t ev;
    if (ydoc_next(d, &ev))
      return -1;
    if (ev.type == YAML_SEQUENCE_END_EVENT ||
        ev.type == YAML_MAPPING_END_EVENT) {
      yaml_event_delete(&ev);
      return 0;
    }
    if (is_map) {
      lua_createtable(L, 0, 2);
      if (build(L, d, &ev, depth + 1))
        return -1;
      lua_setfield(L, -2, "k");
      yaml_event_t vev;
      if (ydoc_next(d, &vev))
        return -1;
      if (build(L, d, &vev, depth + 1))
        return -1;
      lua_setfield(L, -2, "v");
    } else if (build(L, d, &ev, depth + 1)) {
      return -1;
    }
    lua_rawseti(L, -2, ++n);
  }
}

/* Turns one node event (and its children) into a table; consumes ev.
** [-0, +1, m] on success, [-0, +0] on failure. */
static int build(lua_State *L, YDoc *d, yaml_event_t *ev, int depth) {
  int rc = 0;
  /* Each level holds a map entry and its node on the stack: without room
  ** checked, deep nesting would write past the Lua stack. */
  if (depth > YAML_MAX_DEPTH || !lua_checkstack(L, 4)) {
    rc = ydoc_fail(d, &ev->start_mark, "nesting too deep");
  } else if (ev->type == YAML_SCALAR_EVENT) {
    push_node(L, "scalar", &ev->start_mark);
    lua_pushlstring(L, (const char *)ev->data.scalar.value,
                    ev->data.scalar.length);
    lua_setfield(L, -2, "value");
    lua_pushboolean(L, ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE);
    lua_setfield(L, -2, "quoted");
  } else if (ev->type == YAML_SEQUENCE_START_EVENT ||
             ev->type == YAML_MAPPING_START_EVENT) {
    int is_map = ev->type == YAML_MAPPING_START_EVENT;
    push_node(L, is_map ? "map" : "seq", &ev->start_mark);
    if (build_children(L, d, is_map, depth)) {
      lua_pop(L, 1);
      rc = -1;
    }
  } else if (ev->type == YAML_ALIAS_EVENT) {
    rc = ydoc_fail(d, &ev->start_mark,
                   "anchors and aliases are not supported here");
  } else {
    rc = ydoc_fail(d, &ev->start_mark, "unexpected YAML event");
  }
  yaml_event_delete(ev);
  return rc;
}

/*
** After the root node: the end of its document, then the end of the stream.
** A second document is refused: a file of several would have the others
** silently ignored.
*/
static int parse_tail(YDoc *d) {
  yaml_event_t ev;
  for (;;) {
    if (ydoc_next(d, &ev))
      return -1;
    yaml_event_type_t t = ev.type;
    if (t == YAML_STREAM_END_EVENT) {
      yaml_event_delete(&ev);
      return 0;
    }
    if (t == YAML_DOCUMENT_END_EVENT) {
      yaml_event_delete(&ev);
      continue;
    }
    int rc = ydoc_fail(d, &ev.start_mark,
                       "a second YAML document ('---'): the file must hold "
                       "exactly one");
    yaml_event_delete(&ev);
    return rc;
  }
}

/* Walks stream/document framing around the root node.  [-0, +1, m] */
static int parse_stream(lua_State *L, YDoc *d) {
  yaml_event_t ev;
  for (;;) {
    if (ydoc_next(d, &ev))
      return -1;
    yaml_event_type_t t = ev.type;
    if (t == YAML_STREAM_START_EVENT || t == YAML_DOCUMENT_START_EVENT) {
      yaml_event_delete(&ev);
      continue;
    }
    if (t == YAML_STREAM_END_EVENT || t == YAML_DOCUMENT_END_EVENT) {
      push_node(L, "map", &ev.start_mark);
      yaml_event_delete(&ev);
      return 0;
    }
    if (build(L, d, &ev, 0))
      return -1;
    return parse_tail(d);
  }
}

/* icx.yaml.parse(text) -> node | nil, message, "yaml" */
static int yaml_parse(lua_State *L) {
  size_t len;
  const char *text = luaL_checklstring(L, 1, &len);
  YDoc d;
  d.err[0] = '\0';
  if (!yaml_parser_initialize(&d.parser))
    return luaL_error(L, "icx.yaml: out of memory");
  yaml_parser_set_input_string(&d.parser, (const unsigned char *)text, len);
  int top = lua_gettop(L);
  /* A Lua memory error while building would longjmp past the parser; the
  ** tree is small (a config file) so that only happens at --max-memory, and
  ** then the process is about to exit anyway. */
  int rc = parse_stream(L, &d);
  yaml_parser_delete(&d.parser);
  if (rc) {
    lua_settop(L, top);
    lua_pushnil(L);
    lua_pushstring(L, d.err);
    lua_pushliteral(L, "yaml");
    return 3;
  }
  return 1;
}

static const luaL_Reg yaml_funcs[] = {{"parse", yaml_parse}, {NULL, NULL}};

/* require "icx.yaml": the module table. */
int luaopen_icx_yaml(lua_State *L) {
  luaL_newlib(L, yaml_funcs);
  return 1;
}
