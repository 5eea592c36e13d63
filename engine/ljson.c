/*
** ljson.c: icx.json, lossless JSON for the record path (over jscan.c).
**
**   icx.json.page(body [, list_key]) -> Page | nil, message, "json"
**   icx.json.decode(text) -> value | nil, message, "json"
**   icx.json.encode(value) -> text
**   icx.json.bignum(literal) -> Bignum
**   icx.json.null        light userdata NULL (the same value as cjson.null)
**   icx.json.array_mt    metatable of decoded arrays; set it on a table to
**                        encode it as an array, [] when empty
**   icx.json.object_mt   metatable of decoded objects; set it on a table to
**                        encode it as an object, {} when empty
**   icx.json.bignum_mt   metatable of Bignum values
**
**   page:count() -> n                 also #page
**   page:raw(i) -> text               record i (1-based), minified JSON
**   page:get(i, field) -> value       top-level member of record i: scalars
**                                     decoded, objects/arrays as minified text
**   page:meta(key) -> value           top-level member of the body, decoded
**   page:record(i) -> table           record i decoded
**   page:body() -> text               the body string the page was made from
**   page:tally(id, key, tally) -> tally
**                                     records in an icx.tally.Tally each
**                                     record whose key member is an integer
**                                     and whose id is present, under a 64-bit
**                                     hash of tostring(id)
**   page:close()                      drop the index and the body (idempotent)
**
** "Decoded" means lossless: an integer literal that fits int64 becomes a Lua
** integer, any other number a Lua float (strtod of the literal, so it
** round-trips), a number no Lua number holds exactly (beyond int64, or a float
** literal that overflows or underflows a double) a Bignum carrying the
** literal; strings are unescaped UTF-8; null is icx.json.null; arrays and
** objects are tables tagged with array_mt / object_mt so [] and {} survive.
** With duplicate keys the first member wins everywhere (get, meta, decode),
** as in js_find. "-0" decodes to the integer 0.
**
** encode is the inverse: integers print exactly, floats with the shortest of
** %.15g/%.16g/%.17g that reads back to the same double (always with a '.' or
** an exponent, so 1.0 stays a float), Bignums as their literal, strings as
** UTF-8 with only '"', '\\' and control bytes escaped; object keys are sorted
** bytewise so equal values encode to equal text. A table is an array if it
** has array_mt or its keys are exactly 1..n (n >= 1), an object if it has
** object_mt or only string keys, and {} if it is empty and untagged. Mixed
** keys, holes, cycles, inf/nan, invalid UTF-8 and non-JSON types raise with
** the path to the offending value.
*/
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "buf.h"
#include "class.h"
#include "jscan.h"
#include "ljson.h"
#include "ltally.h"

#define PAGE_MT "icx.json.Page"
#define ARRAY_MT "icx.json.array"
#define OBJECT_MT "icx.json.object"
#define BIGNUM_MT "icx.json.bignum"
#define ENCODER_MT "icx.json.encoder"

/*
** Every function of the module and every method shares these upvalues, so
** tagging a decoded table is an upvalue read, not a registry lookup by name.
*/
#define UV_ARRAY_MT lua_upvalueindex(1)
#define UV_OBJECT_MT lua_upvalueindex(2)
#define UV_BIGNUM_MT lua_upvalueindex(3)
#define NUPVALUES 3

/*
** A validated body and the slices of its records. The body string is pinned
** as the userdata's first user value, which keeps every slice valid. Created
** closed (body.p NULL, recs NULL), so a failure half-way leaks nothing: __gc
** frees whatever was allocated.
*/
typedef struct {
  js_val body;      /* the whole validated body; body.p NULL when closed */
  js_info info;     /* the array of records in body (p NULL when none), and
                       whether the body is minified already */
  js_val *recs;     /* owned: record slices, from the state's allocator */
  size_t count;     /* records in recs */
  size_t cap;       /* slots allocated in recs */
  lua_Alloc allocf; /* the state's allocator, so memory is counted */
  void *allocud;
  int oom; /* set when growing recs failed during the parse */
  /* The records' members as the parse met them (js_members), so writers
  ** take them from here instead of scanning each record again. */
  js_val *kv;      /* owned: key, value, key, value ... */
  size_t nkv;      /* slots of kv in use (two per member) */
  size_t capkv;    /* slots allocated in kv */
  size_t *first;   /* owned: the first member of each record, and one more */
  size_t capfirst; /* slots allocated in first, less the extra one */
  int indexed;     /* kv and first describe recs (not for a lone record) */
} Page;

/*
** How large the last page's index grew, per byte of its body: the next
** page's index is sized from it at once. A page of 150 contacts holds about
** 6,000 members; grown by doubling from 256 its index was reallocated and
** copied five times, about 2% of a load's instructions. Kept in the
** registry (one per state), under the address of page_hint_key.
*/
typedef struct {
  size_t len;   /* body bytes of the last page that had records */
  size_t nkv;   /* its member slots (kv) */
  size_t count; /* its records */
} PageHint;

static const char page_hint_key = 'h';

/* Pages of fewer records (a count's per_page=1 probe between two pages of a
** walk) leave the hint as it was. */
#define HINT_MIN_RECORDS 10

/*
** Scratch memory of one encode call, inside a userdata so an error raised
** half-way (cycle, inf, bad key) frees it through __gc.
*/
typedef struct {
  struct buf out; /* owned: the JSON text being built */
  struct keyref {
    const char *s; /* borrowed from a key of the table being encoded */
    size_t n;
  } * keys;       /* owned: a stack of object keys, sorted per object */
  size_t nkeys;   /* keys in use */
  size_t capkeys; /* keys allocated */
} Encoder;

/* One level of the value being encoded, for cycle checks and error paths. */
typedef struct {
  const void *table; /* the table at this level */
  const char *key;   /* borrowed: the key being encoded, or NULL */
  size_t keylen;
  lua_Integer index; /* the array index being encoded when key is NULL */
} EncLevel;

/* State of one encode call; lives on the C stack. */
typedef struct {
  lua_State *L;
  Encoder *enc; /* in the userdata at stack index box */
  int depth;    /* tables open */
  EncLevel path[JS_MAX_DEPTH];
} EncState;

/* ------------------------------------------------------------ decoding */

/*
** Return nil, "icx.json: <reason> at byte N (line L, column C)", "json" for a
** parse error in s.  [-0, +3, m]
*/
static int push_parse_error(lua_State *L, const char *s, const js_err *err) {
  size_t i, line = 1, col = 1;
  for (i = 0; i < err->offset; i++) {
    if (s[i] == '\n') {
      line++;
      col = 1;
    } else {
      col++;
    }
  }
  lua_pushnil(L);
  lua_pushfstring(L, "icx.json: %s at byte %I (line %I, column %I)", err->msg,
                  (lua_Integer)err->offset, (lua_Integer)line,
                  (lua_Integer)col);
  lua_pushliteral(L, "json");
  return 3;
}

/* Push a Bignum carrying the literal v. Needs the module upvalues.
** [-0, +1, m] */
static void push_bignum(lua_State *L, const char *p, size_t n) {
  lua_newuserdatauv(L, 0, 1);
  lua_pushlstring(L, p, n);
  lua_setiuservalue(L, -2, 1);
  lua_pushvalue(L, UV_BIGNUM_MT);
  lua_setmetatable(L, -2);
}

/* Push the unescaped contents of JS_STRING v. Strings without a backslash,
** nearly all of them, are pushed straight from the body.  [-0, +1, m] */
static void push_string(lua_State *L, const js_val *v) {
  luaL_Buffer b;
  char *dst;
  if (memchr(v->p + 1, '\\', v->n - 2) == NULL) {
    lua_pushlstring(L, v->p + 1, v->n - 2);
    return;
  }
  dst = luaL_buffinitsize(L, &b, v->n - 2);
  luaL_pushresultsize(&b, js_unescape_to(v, dst));
}

/* Push v minified as a string.  [-0, +1, m] */
static void push_minified(lua_State *L, const js_val *v) {
  luaL_Buffer b;
  char *dst = luaL_buffinitsize(L, &b, v->n);
  luaL_pushresultsize(&b, js_minify_to(v, dst));
}

/* Push a number literal as a Lua integer, a Lua float, or a Bignum when
** neither holds it exactly.  [-0, +1, m] */
static void push_number(lua_State *L, const js_val *v) {
  int64_t i;
  double d;
  if (v->type == JS_INT && js_int64(v, &i) == 0)
    lua_pushinteger(L, (lua_Integer)i);
  else if (v->type == JS_FLOAT && js_double_checked(v, &d) == 0)
    lua_pushnumber(L, (lua_Number)d);
  else
    push_bignum(L, v->p, v->n);
}

/*
** Push validated value v decoded losslessly. With deep 0 objects and arrays
** become their minified text (page:get); otherwise tagged tables. Needs the
** module upvalues. Recursion is bounded by JS_MAX_DEPTH.  [-0, +1, m]
*/
static void push_value(lua_State *L, const js_val *v, int deep) {
  js_iter it;
  js_val k, e;
  lua_Integer i = 0;
  switch (v->type) {
  case JS_NULL:
    lua_pushlightuserdata(L, NULL);
    break;
  case JS_FALSE:
  case JS_TRUE:
    lua_pushboolean(L, v->type == JS_TRUE);
    break;
  case JS_INT:
  case JS_FLOAT:
    push_number(L, v);
    break;
  case JS_STRING:
    push_string(L, v);
    break;
  case JS_ARRAY:
    if (!deep) {
      push_minified(L, v);
      break;
    }
    luaL_checkstack(L, 3, "icx.json: nesting too deep");
    lua_newtable(L);
    lua_pushvalue(L, UV_ARRAY_MT);
    lua_setmetatable(L, -2);
    js_iter_init(&it, v);
    while (js_next_elem(&it, &e)) {
      push_value(L, &e, 1);
      lua_rawseti(L, -2, ++i);
    }
    break;
  case JS_OBJECT:
    if (!deep) {
      push_minified(L, v);
      break;
    }
    luaL_checkstack(L, 4, "icx.json: nesting too deep");
    lua_newtable(L);
    lua_pushvalue(L, UV_OBJECT_MT);
    lua_setmetatable(L, -2);
    js_iter_init(&it, v);
    while (js_next_member(&it, &k, &e)) {
      push_string(L, &k);
      lua_pushvalue(L, -1);
      if (lua_rawget(L, -3) != LUA_TNIL) { /* a duplicate: first wins */
        lua_pop(L, 2);
        continue;
      }
      lua_pop(L, 1);
      push_value(L, &e, 1);
      lua_rawset(L, -3);
    }
    break;
  }
}

/* ---------------------------------------------------------------- pages */

/* Release the record index and mark the page closed (idempotent). */
static void page_release(Page *pg) {
  if (pg->recs != NULL)
    pg->allocf(pg->allocud, pg->recs, pg->cap * sizeof *pg->recs, 0);
  if (pg->first != NULL)
    pg->allocf(pg->allocud, pg->first, (pg->capfirst + 1) * sizeof *pg->first,
               0);
  if (pg->kv != NULL)
    pg->allocf(pg->allocud, pg->kv, pg->capkv * sizeof *pg->kv, 0);
  pg->kv = NULL;
  pg->first = NULL;
  pg->nkv = pg->capkv = pg->capfirst = 0;
  pg->indexed = 0;
  pg->recs = NULL;
  pg->count = pg->cap = 0;
  pg->body.p = NULL;
  pg->body.n = 0;
  memset(&pg->info, 0, sizeof pg->info);
}

/* Grow the block *p of *cap elements of size sz to at least want, doubling
** from min, with the state's allocator. 0, or -1 (p unchanged). */
static int page_grow(Page *pg, void **p, size_t *cap, size_t sz, size_t want,
                     size_t min, size_t extra) {
  size_t n = *cap ? *cap : min;
  void *q;
  while (n < want)
    n *= 2;
  if (n > (size_t)-1 / sz - extra ||
      (q = pg->allocf(pg->allocud, *p, (*cap ? *cap + extra : 0) * sz,
                      (n + extra) * sz)) == NULL)
    return -1;
  *p = q;
  *cap = n;
  return 0;
}

/* The state's PageHint, made on first use. [-0, +0, m] */
static PageHint *page_hint(lua_State *L) {
  PageHint *h;
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &page_hint_key) == LUA_TUSERDATA) {
    h = lua_touserdata(L, -1);
  } else {
    lua_pop(L, 1);
    h = lua_newuserdatauv(L, sizeof *h, 0);
    memset(h, 0, sizeof *h);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &page_hint_key);
  }
  lua_pop(L, 1);
  return h;
}

/* n scaled from the hint's body to one of len bytes, with an eighth more;
** 0 without a hint, or for a body not within half to twice the hint's (a
** page of another kind, whose members may be far larger or smaller). */
static size_t hint_scale(const PageHint *h, size_t n, size_t len) {
  if (!h->len || !n || len < h->len / 2 || len / 2 > h->len ||
      len > ((size_t)-1 >> 2) / n)
    return 0;
  size_t want = len * n / h->len;
  return want + want / 8;
}

/* Sizes pg's index for a body of len bytes from the last page's: one
** allocation each instead of a doubling series. Leaves the doubling to
** grow from there when the guess is short (or fails). */
static void page_presize(Page *pg, const PageHint *h, size_t len) {
  size_t nrec = hint_scale(h, h->count, len), nkv = hint_scale(h, h->nkv, len);
  void *p;
  if (nrec > 64) {
    p = NULL;
    if (page_grow(pg, &p, &pg->cap, sizeof *pg->recs, nrec, nrec, 0) == 0)
      pg->recs = p;
    p = NULL;
    if (page_grow(pg, &p, &pg->capfirst, sizeof *pg->first, nrec, nrec, 1) == 0)
      pg->first = p;
  }
  if (nkv > 256) {
    p = NULL;
    if (page_grow(pg, &p, &pg->capkv, sizeof *pg->kv, nkv, nkv, 0) == 0)
      pg->kv = p;
  }
}

/* js_elem_fn for js_parse_records: append one record slice (and where its
** members start), growing the index with the state's allocator. Returns 1
** (stop the parse) out of memory. */
static int page_add(void *ud, const js_val *elem) {
  Page *pg = ud;
  void *p;
  if (pg->count == pg->cap) {
    p = pg->recs;
    if (page_grow(pg, &p, &pg->cap, sizeof *pg->recs, pg->count + 1, 64, 0)) {
      pg->oom = 1;
      return 1;
    }
    pg->recs = p;
  }
  if (pg->count == pg->capfirst) {
    p = pg->first;
    if (page_grow(pg, &p, &pg->capfirst, sizeof *pg->first, pg->count + 1, 64,
                  1)) {
      pg->oom = 1;
      return 1;
    }
    pg->first = p;
  }
  if (pg->count == 0)
    pg->first[0] = 0;
  pg->recs[pg->count++] = *elem;
  pg->first[pg->count] = pg->nkv / 2;
  return 0;
}

/* js_member_fn for js_parse_records: append one member of a record. */
static int page_member(void *ud, const js_val *key, const js_val *val) {
  Page *pg = ud;
  if (pg->nkv + 2 > pg->capkv) {
    void *kv = pg->kv;
    if (page_grow(pg, &kv, &pg->capkv, sizeof *pg->kv, pg->nkv + 2, 256, 0)) {
      pg->oom = 1;
      return 1;
    }
    pg->kv = kv;
  }
  pg->kv[pg->nkv++] = *key;
  pg->kv[pg->nkv++] = *val;
  return 0;
}

/* The open Page at arg; raises if it is not a Page or is closed.
** [-0, +0, v] */
static Page *check_page(lua_State *L, int arg) {
  Page *pg = luaL_checkudata(L, arg, PAGE_MT);
  if (pg->body.p == NULL)
    luaL_error(L, "icx.json: attempt to use a closed page");
  return pg;
}

/* The record slice for the 1-based index at arg; raises when out of range.
** [-0, +0, v] */
static const js_val *check_record(lua_State *L, Page *pg, int arg) {
  lua_Integer i = luaL_checkinteger(L, arg);
  if (i < 1 || (lua_Unsigned)i > (lua_Unsigned)pg->count)
    luaL_argerror(L, arg,
                  lua_pushfstring(L, "record %I out of range (page has %I)", i,
                                  (lua_Integer)pg->count));
  return &pg->recs[i - 1];
}

/* js_find on record rec of pg, through the member index when the page has
** one: keys compared one after the other, no value skipped over. */
static int record_find(const Page *pg, const js_val *rec, const char *key,
                       size_t keylen, js_val *out) {
  if (!pg->indexed)
    return js_find(rec, key, keylen, out);
  size_t i = (size_t)(rec - pg->recs);
  for (size_t m = pg->first[i]; m < pg->first[i + 1]; m++)
    if (js_key_eq(&pg->kv[2 * m], key, keylen)) {
      *out = pg->kv[2 * m + 1];
      return 1;
    }
  return 0;
}

/* Return nil, "icx.json: <message>", "json" after releasing pg; msg is a
** format with one %s (the list key or a type name).  [-0, +3, m] */
static int page_fail(lua_State *L, Page *pg, const char *fmt, const char *arg) {
  page_release(pg);
  lua_pushnil(L);
  lua_pushfstring(L, fmt, arg);
  lua_pushliteral(L, "json");
  return 3;
}

/* icx.json.page(body [, list_key]) -> Page | nil, message, "json" */
static int json_page(lua_State *L) {
  size_t len, keylen = 0, i;
  const char *s = luaL_checklstring(L, 1, &len);
  const char *key = NULL;
  js_val top, member;
  js_err err;
  Page *pg;
  if (!lua_isnoneornil(L, 2) && !(lua_isboolean(L, 2) && !lua_toboolean(L, 2)))
    key = luaL_checklstring(L, 2, &keylen);
  lua_settop(L, 2);
  pg = lua_newuserdatauv(L, sizeof *pg, 1);
  memset(pg, 0, sizeof *pg);
  pg->allocf = lua_getallocf(L, &pg->allocud);
  luaL_setmetatable(L, PAGE_MT);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, 3, 1); /* pin the body: the slices point into it */

  pg->indexed = 1;
  PageHint *hint = page_hint(L);
  page_presize(pg, hint, len);
  if (js_parse_records(s, len, key, keylen, page_add, page_member, pg, &top,
                       &pg->info, &err) != 0) {
    page_release(pg);
    if (pg->oom)
      return luaL_error(L, "icx.json: not enough memory to index the page");
    return push_parse_error(L, s, &err);
  }
  if (key != NULL) {
    if (top.type != JS_OBJECT)
      return page_fail(L, pg, "icx.json: body is %s, not an object",
                       js_type_name(top.type));
    /* The parse found the list when the first member named key is an
    ** array; otherwise say what is there instead. */
    if (pg->info.list.p == NULL && !js_find(&top, key, keylen, &member))
      return page_fail(L, pg, "icx.json: body has no member '%s'", key);
    if (pg->info.list.p == NULL) {
      lua_pushfstring(L, "icx.json: member '%s' is %s, not an array", key,
                      js_type_name(member.type));
      return page_fail(L, pg, "%s", lua_tostring(L, -1));
    }
  } else if (top.type == JS_OBJECT) {
    pg->indexed = 0; /* a lone record: its members were not reported */
    if (page_add(pg, &top) != 0) {
      page_release(pg);
      return luaL_error(L, "icx.json: not enough memory to index the page");
    }
  } else if (top.type != JS_ARRAY) {
    return page_fail(L, pg,
                     "icx.json: body is %s, not an object or an array of "
                     "records",
                     js_type_name(top.type));
  }
  for (i = 0; i < pg->count; i++) {
    if (pg->recs[i].type != JS_OBJECT) {
      lua_pushfstring(L, "icx.json: record %I is %s, not an object",
                      (lua_Integer)i + 1, js_type_name(pg->recs[i].type));
      return page_fail(L, pg, "%s", lua_tostring(L, -1));
    }
  }
  if (pg->count >= HINT_MIN_RECORDS && pg->nkv) {
    hint->len = len;
    hint->nkv = pg->nkv;
    hint->count = pg->count;
  }
  pg->body = top;
  return 1;
}

/* page:count() -> number of records */
static int page_count(lua_State *L) {
  Page *pg = check_page(L, 1);
  lua_pushinteger(L, (lua_Integer)pg->count);
  return 1;
}

/* page:raw(i) -> record i as minified JSON text */
static int page_raw(lua_State *L) {
  Page *pg = check_page(L, 1);
  const js_val *rec = check_record(L, pg, 2);
  if (pg->info.minified)
    lua_pushlstring(L, rec->p, rec->n);
  else
    push_minified(L, rec);
  return 1;
}

/* page:get(i, field) -> the field decoded (containers as minified text), or
** nil when absent or null */
static int page_get(lua_State *L) {
  Page *pg = check_page(L, 1);
  const js_val *rec = check_record(L, pg, 2);
  size_t n;
  const char *field = luaL_checklstring(L, 3, &n);
  js_val v;
  if (record_find(pg, rec, field, n, &v) && v.type != JS_NULL)
    push_value(L, &v, 0);
  else
    lua_pushnil(L);
  return 1;
}

/* page:meta(key) -> top-level member of the body decoded, or nil if absent
** (icx.json.null if present and null) */
static int page_meta(lua_State *L) {
  Page *pg = check_page(L, 1);
  size_t n;
  const char *key = luaL_checklstring(L, 2, &n);
  js_val v;
  if (js_find_past(&pg->body, key, n, &pg->info.list, &v))
    push_value(L, &v, 1);
  else
    lua_pushnil(L);
  return 1;
}

/* page:record(i) -> record i decoded to a table */
static int page_record(lua_State *L) {
  Page *pg = check_page(L, 1);
  push_value(L, check_record(L, pg, 2), 1);
  return 1;
}

/* FNV-1a, 64 bits. */
static uint64_t fnv1a(const char *p, size_t n) {
  uint64_t h = 14695981039346656037u;
  for (size_t i = 0; i < n; i++)
    h = (h ^ (unsigned char)p[i]) * 1099511628211u;
  return h;
}

/* page:tally(id, key, tally) -> tally: records in the icx.tally.Tally each
** record whose key member is an integer and whose id member is present and
** not null, under a hash of the id as tostring would spell it, so 7 and "7"
** are one id, and an escaped string hashes as its text. icx.completeness
** keeps one tally across a load: 16 bytes a slot in C instead of a Lua
** table entry and a sorted copy of the keys, and no Lua call per member.
** [-0, +1, m] */
static int page_tally(lua_State *L) {
  Page *pg = check_page(L, 1);
  size_t idn, keyn;
  const char *id = luaL_checklstring(L, 2, &idn);
  const char *key = luaL_checklstring(L, 3, &keyn);
  struct icx_tally *tl = icx_tally_check(L, 4);
  for (size_t i = 0; i < pg->count; i++) {
    js_val iv, kv;
    if (!record_find(pg, &pg->recs[i], key, keyn, &kv) ||
        !record_find(pg, &pg->recs[i], id, idn, &iv) || iv.type == JS_NULL)
      continue;
    push_value(L, &kv, 0);
    if (!lua_isinteger(L, -1)) {
      lua_pop(L, 1);
      continue;
    }
    int64_t k = (int64_t)lua_tointeger(L, -1);
    lua_pop(L, 1);
    uint64_t h;
    if (iv.type == JS_STRING && memchr(iv.p, '\\', iv.n) == NULL) {
      h = fnv1a(iv.p + 1, iv.n - 2);
    } else {
      size_t n;
      push_value(L, &iv, 0);
      const char *text = luaL_tolstring(L, -1, &n);
      h = fnv1a(text, n);
      lua_pop(L, 2);
    }
    if (icx_tally_put(tl, h, k) != 0)
      return luaL_error(L, "icx.json: not enough memory to tally the page");
  }
  lua_settop(L, 4);
  return 1;
}

/* page:body() -> the body string */
static int page_body(lua_State *L) {
  check_page(L, 1);
  lua_getiuservalue(L, 1, 1);
  return 1;
}

/* page:close(), also __gc and __close: free the index, unpin the body. */
static int page_close(lua_State *L) {
  Page *pg = luaL_checkudata(L, 1, PAGE_MT);
  page_release(pg);
  lua_pushnil(L);
  lua_setiuservalue(L, 1, 1);
  return 0;
}

/* tostring(page) -> "icx.json.Page (N records)" or "icx.json.Page (closed)" */
static int page_tostring(lua_State *L) {
  Page *pg = luaL_checkudata(L, 1, PAGE_MT);
  if (pg->body.p == NULL)
    lua_pushliteral(L, PAGE_MT " (closed)");
  else
    lua_pushfstring(L, PAGE_MT " (%I records)", (lua_Integer)pg->count);
  return 1;
}

/* C accessor for lsqlite.c; see ljson.h. */
const js_val *icx_json_checkpage(lua_State *L, int idx, size_t *count,
                                 int *minified) {
  static const js_val none = {JS_NULL, "", 0};
  Page *pg = check_page(L, idx);
  *count = pg->count;
  if (minified) /* NULL: the caller does not need to know */
    *minified = pg->info.minified;
  return pg->recs != NULL ? pg->recs : &none;
}

/* C accessor for the writers; see ljson.h. */
int icx_json_page_members(lua_State *L, int idx, js_members *out) {
  Page *pg = check_page(L, idx);
  if (!pg->indexed || pg->count == 0)
    return 0;
  out->kv = pg->kv;
  out->first = pg->first;
  return 1;
}

/* -------------------------------------------------------------- decode */

/* icx.json.decode(text) -> value | nil, message, "json" */
static int json_decode(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  js_val v;
  js_err err;
  if (js_parse(s, len, &v, &err) != 0)
    return push_parse_error(L, s, &err);
  push_value(L, &v, 1);
  return 1;
}

/* ------------------------------------------------------------- bignums */

/* icx.json.bignum(literal) -> Bignum; raises unless literal is exactly one
** JSON number */
static int json_bignum(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  js_val v;
  if (js_parse(s, len, &v, NULL) != 0 || v.n != len ||
      (v.type != JS_INT && v.type != JS_FLOAT))
    return luaL_argerror(L, 1, "not a JSON number literal");
  push_bignum(L, s, len);
  return 1;
}

/* tostring(bignum) -> its literal */
static int bignum_tostring(lua_State *L) {
  luaL_checkudata(L, 1, BIGNUM_MT);
  lua_getiuservalue(L, 1, 1);
  return 1;
}

/* a == b for two Bignums: same literal */
static int bignum_eq(lua_State *L) {
  if (luaL_testudata(L, 1, BIGNUM_MT) == NULL ||
      luaL_testudata(L, 2, BIGNUM_MT) == NULL) {
    lua_pushboolean(L, 0);
    return 1;
  }
  lua_getiuservalue(L, 1, 1);
  lua_getiuservalue(L, 2, 1);
  lua_pushboolean(L, lua_rawequal(L, -1, -2));
  return 1;
}

/* a .. b where either side is a Bignum: concatenate the literal */
static int bignum_concat(lua_State *L) {
  luaL_tolstring(L, 1, NULL);
  luaL_tolstring(L, 2, NULL);
  lua_concat(L, 2);
  return 1;
}

/* -------------------------------------------------------------- encode */

/* Free an Encoder's memory (idempotent): after a successful encode, and as
** __gc when an error left it behind. */
static void encoder_release(Encoder *enc) {
  buf_free(&enc->out);
  free(enc->keys);
  enc->keys = NULL;
  enc->nkeys = enc->capkeys = 0;
}

/* __gc of the encoder scratch userdata. */
static int encoder_gc(lua_State *L) {
  encoder_release(luaL_checkudata(L, 1, ENCODER_MT));
  return 0;
}

/* Append the C string s to msg[0..cap) at *len, truncating. */
static void msg_add(char *msg, size_t cap, size_t *len, const char *s,
                    size_t n) {
  if (*len + n >= cap)
    n = cap - 1 - *len;
  memcpy(msg + *len, s, n);
  *len += n;
  msg[*len] = '\0';
}

/*
** Raise "icx.json.encode: <what> at value.a["b c"][3]": the path names the
** value being encoded when the error was found, in Lua syntax (indices are
** 1-based Lua indices). The message is built in a C array rather than a
** luaL_Buffer because the Lua stack above the encoder is not balanced here.
** The scratch memory is owned by its userdata, so raising leaks nothing.
** [-0, +1, v]
*/
static int enc_error(EncState *st, const char *what) {
  char msg[400], num[32];
  size_t len = 0, j;
  int i, ident;
  msg[0] = '\0';
  msg_add(msg, sizeof msg, &len, "icx.json.encode: ", 17);
  msg_add(msg, sizeof msg, &len, what, strlen(what));
  msg_add(msg, sizeof msg, &len, " at value", 9);
  for (i = 0; i < st->depth; i++) {
    const EncLevel *lv = &st->path[i];
    if (lv->key == NULL) {
      snprintf(num, sizeof num, "[%lld]", (long long)lv->index);
      msg_add(msg, sizeof msg, &len, num, strlen(num));
      continue;
    }
    ident = lv->keylen > 0 && !(lv->key[0] >= '0' && lv->key[0] <= '9');
    for (j = 0; j < lv->keylen && ident; j++) {
      char c = lv->key[j];
      ident = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_';
    }
    if (ident) {
      msg_add(msg, sizeof msg, &len, ".", 1);
      msg_add(msg, sizeof msg, &len, lv->key, lv->keylen);
    } else {
      msg_add(msg, sizeof msg, &len, "[\"", 2);
      for (j = 0; j < lv->keylen; j++) {
        char c = lv->key[j];
        if (c == '"' || c == '\\')
          msg_add(msg, sizeof msg, &len, "\\", 1);
        msg_add(msg, sizeof msg, &len, &c, 1);
      }
      msg_add(msg, sizeof msg, &len, "\"]", 2);
    }
  }
  lua_pushstring(st->L, msg);
  return lua_error(st->L);
}

/* Append n bytes or raise out of memory.  [-0, +0, v] */
static void enc_put(EncState *st, const char *p, size_t n) {
  if (buf_append(&st->enc->out, p, n) != 0)
    enc_error(st, "not enough memory");
}

/* Escape of each byte in a JSON string: 0 none, 'u' as \u00XX, else \c. */
#define ESC(c)                                                                 \
  ((c) == '"'    ? '"'                                                         \
   : (c) == '\\' ? '\\'                                                        \
   : (c) == '\b' ? 'b'                                                         \
   : (c) == '\f' ? 'f'                                                         \
   : (c) == '\n' ? 'n'                                                         \
   : (c) == '\r' ? 'r'                                                         \
   : (c) == '\t' ? 't'                                                         \
   : (c) < 0x20  ? 'u'                                                         \
                 : 0)
#define E4(i) ESC(i), ESC(i + 1), ESC(i + 2), ESC(i + 3)
#define E16(i) E4(i), E4(i + 4), E4(i + 8), E4(i + 12)
static const char escape_of[128] = {E16(0),  E16(16), E16(32), E16(48),
                                    E16(64), E16(80), E16(96), E16(112)};

/* Append s[0..n) as a JSON string; raises on invalid UTF-8 because JSON
** text must be UTF-8 and js_parse would refuse it later.  [-0, +0, v] */
static void enc_string(EncState *st, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  size_t bad = js_utf8_check(s, n), i, run;
  char esc[6];
  unsigned char c;
  if (bad < n) {
    lua_pushfstring(st->L, "invalid UTF-8 in string (byte %I)",
                    (lua_Integer)bad + 1);
    enc_error(st, lua_tostring(st->L, -1));
  }
  if (buf_reserve(&st->enc->out, n + 2) != 0)
    enc_error(st, "not enough memory");
  enc_put(st, "\"", 1);
  for (i = 0; i < n;) {
    for (run = i; run < n; run++) {
      c = (unsigned char)s[run];
      if (c < 0x80 && escape_of[c] != 0)
        break;
    }
    enc_put(st, s + i, run - i);
    if (run == n)
      break;
    c = (unsigned char)s[run];
    esc[0] = '\\';
    esc[1] = escape_of[c];
    if (esc[1] == 'u') {
      esc[2] = '0';
      esc[3] = '0';
      esc[4] = hex[c >> 4];
      esc[5] = hex[c & 15];
      enc_put(st, esc, 6);
    } else {
      enc_put(st, esc, 2);
    }
    i = run + 1;
  }
  enc_put(st, "\"", 1);
}

/*
** Append float d as the shortest %.15g/%.16g/%.17g text that reads back as d
** (17 significant digits always do). The C library writes the locale's
** decimal point, so it is turned back into '.'; ".0" is added when the text
** would otherwise read as an integer. Raises on inf and nan.  [-0, +0, v]
*/
static void enc_float(EncState *st, double d) {
  char tmp[40];
  char point = localeconv()->decimal_point[0];
  int prec, n = 0;
  char *dot;
  if (isinf(d) || isnan(d))
    enc_error(st, isnan(d) ? "cannot encode nan" : "cannot encode inf");
  for (prec = 15; prec <= 17; prec++) {
    n = snprintf(tmp, sizeof tmp - 2, "%.*g", prec, d);
    if (strtod(tmp, NULL) == d)
      break;
  }
  if (point != '.' && (dot = strchr(tmp, point)) != NULL)
    *dot = '.';
  if (strpbrk(tmp, ".e") == NULL) {
    tmp[n++] = '.';
    tmp[n++] = '0';
  }
  enc_put(st, tmp, (size_t)n);
}

static void enc_value(EncState *st, int idx);

/* 1 if the value at idx is a Bignum. Needs the module upvalues.
** [-0, +0, -] */
static int is_bignum(lua_State *L, int idx) {
  int yes;
  if (!lua_getmetatable(L, idx))
    return 0;
  yes = lua_rawequal(L, -1, UV_BIGNUM_MT);
  lua_pop(L, 1);
  return yes;
}

/* Raise for a value JSON cannot carry, naming its type (__name for
** userdata, so "cannot encode a icx.json.Page").  [-0, +2, v] */
static void enc_unencodable(EncState *st, int idx) {
  lua_State *L = st->L;
  const char *name = luaL_typename(L, idx);
  if (luaL_getmetafield(L, idx, "__name") == LUA_TSTRING)
    name = lua_tostring(L, -1);
  lua_pushfstring(L, "cannot encode a %s", name);
  enc_error(st, lua_tostring(L, -1));
}

/* Order object keys bytewise (a shorter prefix first) for qsort. */
static int key_cmp(const void *a, const void *b) {
  const struct keyref *x = a, *y = b;
  int c = memcmp(x->s, y->s, x->n < y->n ? x->n : y->n);
  if (c != 0)
    return c;
  return x->n < y->n ? -1 : x->n > y->n;
}

/* Push a string key onto the encoder's key stack (C memory, not the Lua
** stack); raises out of memory.  [-0, +0, v] */
static void push_key(EncState *st, const char *s, size_t n) {
  Encoder *enc = st->enc;
  struct keyref *k;
  size_t cap;
  if (enc->nkeys == enc->capkeys) {
    cap = enc->capkeys ? enc->capkeys * 2 : 32;
    k = cap > (size_t)-1 / sizeof *k ? NULL
                                     : realloc(enc->keys, cap * sizeof *k);
    if (k == NULL)
      enc_error(st, "not enough memory");
    enc->keys = k;
    enc->capkeys = cap;
  }
  enc->keys[enc->nkeys].s = s;
  enc->keys[enc->nkeys].n = n;
  enc->nkeys++;
}

/* Table shapes, decided from the metatable and then the keys. */
enum { T_AUTO, T_ARRAY, T_OBJECT };

/*
** Append the table at idx as a JSON array or object. One lua_next pass
** classifies the keys (collecting string keys for sorting); a second pass
** emits values in index or key order.  [-0, +0, v]
*/
static void enc_table(EncState *st, int idx) {
  lua_State *L = st->L;
  const void *self = lua_topointer(L, idx);
  int shape = T_AUTO, i, first = 1;
  lua_Integer k, nint = 0, max = 0;
  size_t base = st->enc->nkeys, nstr, j;
  const char *ks;
  size_t kn;
  char what[120];

  for (i = 0; i < st->depth; i++)
    if (st->path[i].table == self)
      enc_error(st, "cyclic table");
  if (st->depth == JS_MAX_DEPTH) {
    snprintf(what, sizeof what, "nesting deeper than %d levels", JS_MAX_DEPTH);
    enc_error(st, what);
  }
  luaL_checkstack(L, 6, "icx.json.encode: nesting too deep");
  if (lua_getmetatable(L, idx)) {
    if (lua_rawequal(L, -1, UV_ARRAY_MT))
      shape = T_ARRAY;
    else if (lua_rawequal(L, -1, UV_OBJECT_MT))
      shape = T_OBJECT;
    lua_pop(L, 1);
  }

  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    switch (lua_type(L, -2)) {
    case LUA_TSTRING:
      ks = lua_tolstring(L, -2, &kn);
      push_key(st, ks, kn);
      break;
    case LUA_TNUMBER:
      if (lua_isinteger(L, -2) && (k = lua_tointeger(L, -2)) >= 1) {
        nint++;
        if (k > max)
          max = k;
        break;
      }
      lua_pushfstring(L, "table key %s is not a string or array index",
                      luaL_tolstring(L, -2, NULL));
      enc_error(st, lua_tostring(L, -1));
      break;
    default:
      lua_pushfstring(L, "table key of type %s", luaL_typename(L, -2));
      enc_error(st, lua_tostring(L, -1));
    }
    lua_pop(L, 1);
  }
  nstr = st->enc->nkeys - base;
  st->path[st->depth].table = self;
  st->path[st->depth].key = NULL;
  st->path[st->depth].index = 0;

  if (shape == T_ARRAY && nstr > 0) {
    snprintf(what, sizeof what,
             "array (icx.json.array_mt) has string key \"%.40s\"",
             st->enc->keys[base].s);
    enc_error(st, what);
  }
  if (shape == T_OBJECT && nint > 0) {
    snprintf(what, sizeof what,
             "object (icx.json.object_mt) has integer key %lld",
             (long long)max);
    enc_error(st, what);
  }
  if (shape == T_AUTO && nint > 0 && nstr > 0)
    enc_error(st, "table mixes array indices and string keys");
  if (nint > 0 && max != nint) {
    snprintf(what, sizeof what,
             "array has holes (%lld elements, largest index %lld; use "
             "icx.json.null for null)",
             (long long)nint, (long long)max);
    enc_error(st, what);
  }

  if (shape == T_ARRAY || nint > 0) {
    st->depth++;
    enc_put(st, "[", 1);
    for (k = 1; k <= max; k++) {
      if (k > 1)
        enc_put(st, ",", 1);
      st->path[st->depth - 1].index = k;
      lua_rawgeti(L, idx, k);
      enc_value(st, lua_gettop(L));
      lua_pop(L, 1);
    }
    enc_put(st, "]", 1);
    st->depth--;
    return;
  }

  st->depth++;
  if (nstr > 1)
    qsort(st->enc->keys + base, nstr, sizeof *st->enc->keys, key_cmp);
  enc_put(st, "{", 1);
  for (j = 0; j < nstr; j++) {
    struct keyref key = st->enc->keys[base + j]; /* keys may move on growth */
    if (!first)
      enc_put(st, ",", 1);
    first = 0;
    st->path[st->depth - 1].key = key.s;
    st->path[st->depth - 1].keylen = key.n;
    enc_string(st, key.s, key.n);
    enc_put(st, ":", 1);
    lua_pushlstring(L, key.s, key.n);
    lua_rawget(L, idx);
    enc_value(st, lua_gettop(L));
    lua_pop(L, 1);
  }
  enc_put(st, "}", 1);
  st->depth--;
  st->enc->nkeys = base;
}

/* Append the value at stack index idx (absolute) as JSON.  [-0, +0, v] */
static void enc_value(EncState *st, int idx) {
  lua_State *L = st->L;
  char tmp[32];
  const char *s;
  size_t n;
  switch (lua_type(L, idx)) {
  case LUA_TNIL:
    enc_put(st, "null", 4);
    break;
  case LUA_TBOOLEAN:
    if (lua_toboolean(L, idx))
      enc_put(st, "true", 4);
    else
      enc_put(st, "false", 5);
    break;
  case LUA_TNUMBER:
    if (lua_isinteger(L, idx)) {
      n = (size_t)snprintf(tmp, sizeof tmp, LUA_INTEGER_FMT,
                           (LUAI_UACINT)lua_tointeger(L, idx));
      enc_put(st, tmp, n);
    } else {
      enc_float(st, (double)lua_tonumber(L, idx));
    }
    break;
  case LUA_TSTRING:
    s = lua_tolstring(L, idx, &n);
    enc_string(st, s, n);
    break;
  case LUA_TLIGHTUSERDATA:
    if (lua_touserdata(L, idx) != NULL)
      enc_error(st, "cannot encode a light userdata other than icx.json.null");
    enc_put(st, "null", 4);
    break;
  case LUA_TTABLE:
    enc_table(st, idx);
    break;
  case LUA_TUSERDATA:
    if (is_bignum(L, idx)) {
      lua_getiuservalue(L, idx, 1);
      s = lua_tolstring(L, -1, &n);
      enc_put(st, s, n);
      lua_pop(L, 1);
      break;
    }
    enc_unencodable(st, idx);
    break;
  default:
    enc_unencodable(st, idx);
  }
}

/* icx.json.encode(value) -> text; raises on values JSON cannot carry */
static int json_encode(lua_State *L) {
  EncState st;
  Encoder *enc;
  luaL_checkany(L, 1);
  lua_settop(L, 1);
  enc = lua_newuserdatauv(L, sizeof *enc, 0);
  memset(enc, 0, sizeof *enc);
  buf_init(&enc->out);
  luaL_setmetatable(L, ENCODER_MT);
  st.L = L;
  st.enc = enc;
  st.depth = 0;
  enc_value(&st, 1);
  lua_pushlstring(L, enc->out.data != NULL ? enc->out.data : "", enc->out.len);
  encoder_release(enc);
  return 1;
}

/* ---------------------------------------------------------------- tables */

static const luaL_Reg page_methods[] = {
    {"count", page_count}, {"raw", page_raw},       {"get", page_get},
    {"meta", page_meta},   {"record", page_record}, {"body", page_body},
    {"close", page_close}, {"tally", page_tally},   {NULL, NULL}};

static const luaL_Reg page_meta_methods[] = {{"__gc", page_close},
                                             {"__close", page_close},
                                             {"__tostring", page_tostring},
                                             {"__len", page_count},
                                             {NULL, NULL}};

static const luaL_Reg encoder_meta_methods[] = {{"__gc", encoder_gc},
                                                {NULL, NULL}};

static const luaL_Reg bignum_meta_methods[] = {{"__tostring", bignum_tostring},
                                               {"__eq", bignum_eq},
                                               {"__concat", bignum_concat},
                                               {NULL, NULL}};

static const luaL_Reg json_funcs[] = {
    {"page", json_page},     {"decode", json_decode}, {"encode", json_encode},
    {"bignum", json_bignum}, {"null", NULL},          {"array_mt", NULL},
    {"object_mt", NULL},     {"bignum_mt", NULL},     {NULL, NULL}};

/* Push the three shared upvalues: array_mt, object_mt, bignum_mt.
** [-0, +3, m] */
static void push_upvalues(lua_State *L) {
  luaL_newmetatable(L, ARRAY_MT);
  luaL_newmetatable(L, OBJECT_MT);
  luaL_newmetatable(L, BIGNUM_MT);
}

/* Open icx.json. */
int luaopen_icx_json(lua_State *L) {
  icx_class_new(L, ENCODER_MT, encoder_meta_methods, NULL, 0);
  icx_class_new(L, BIGNUM_MT, bignum_meta_methods, NULL, 0);
  push_upvalues(L);
  icx_class_new(L, PAGE_MT, page_meta_methods, page_methods, NUPVALUES);

  lua_newtable(L);
  push_upvalues(L);
  luaL_setfuncs(L, json_funcs, NUPVALUES);
  lua_pushlightuserdata(L, NULL);
  lua_setfield(L, -2, "null");
  luaL_getmetatable(L, ARRAY_MT);
  lua_setfield(L, -2, "array_mt");
  luaL_getmetatable(L, OBJECT_MT);
  lua_setfield(L, -2, "object_mt");
  luaL_getmetatable(L, BIGNUM_MT);
  lua_setfield(L, -2, "bignum_mt");
  return 1;
}
