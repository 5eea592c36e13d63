/*
** tests/fuzz/fuzz_jscan.c: libFuzzer harness for engine/jscan.c (see
** bench/README.md; `make fuzz` builds it with -DFUZZ_LUA and runs it).
**
** Each input is checked three ways:
**   1. js_parse must agree with a small, obviously-correct recursive
**      reference validator written here independently (differential test),
**      and a reported error offset must lie inside the input.
**   2. If valid, the minified text must re-parse to the same structure (same
**      types, same raw scalar bytes, same keys, same counts), contain no
**      whitespace outside strings, and minify to itself.
**   3. Every value is visited with the iterators: strings unescape to valid
**      UTF-8 no longer than their token, keys compare equal to their own
**      unescaped bytes, js_find returns the first member of a key,
**      js_int64 agrees with strtoll, and js_parse_records reports exactly the
**      elements, and members of element objects, the iterator sees.
**   4. Built with -DFUZZ_LUA (and engine/ljson.c, liblua), every valid input
**      also goes through icx.json: E1 = encode(decode(T)) must not raise,
**      must carry exactly T's values (same_values), and encode(decode(E1))
**      must equal E1 (a fixed point); page(T)'s records must decode.
** Any disagreement aborts, which libFuzzer reports as a crash.
*/
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jscan.h"

#ifdef FUZZ_LUA
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "ljson.h"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Abort with a reason: libFuzzer saves the input as a crash. */
#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "fuzz_jscan: %s:%d: check failed: %s\n", __FILE__,       \
              __LINE__, #cond);                                                \
      abort();                                                                 \
    }                                                                          \
  } while (0)

/* ------------------------------------------------ reference validator */

/* A cursor for the reference validator. */
typedef struct {
  const unsigned char *p, *end;
} ref;

static int ref_value(ref *r, int depth);

/* Skip whitespace. */
static void ref_ws(ref *r) {
  while (r->p < r->end &&
         (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
    r->p++;
}

/* Four hex digits at p, or -1. */
static long ref_hex4(ref *r) {
  long v = 0;
  int i;
  if (r->end - r->p < 4)
    return -1;
  for (i = 0; i < 4; i++) {
    unsigned char c = r->p[i];
    v <<= 4;
    if (c >= '0' && c <= '9')
      v |= c - '0';
    else if (c >= 'a' && c <= 'f')
      v |= c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
      v |= c - 'A' + 10;
    else
      return -1;
  }
  r->p += 4;
  return v;
}

/* Decode one UTF-8 code point the long way and check it is minimal, not a
** surrogate and at most U+10FFFF. */
static int ref_utf8(ref *r) {
  unsigned char c = *r->p++;
  unsigned long cp;
  int extra, i;
  if (c < 0x80)
    return 1;
  if ((c & 0xE0) == 0xC0) {
    cp = c & 0x1F;
    extra = 1;
  } else if ((c & 0xF0) == 0xE0) {
    cp = c & 0x0F;
    extra = 2;
  } else if ((c & 0xF8) == 0xF0) {
    cp = c & 0x07;
    extra = 3;
  } else {
    return 0;
  }
  for (i = 0; i < extra; i++) {
    if (r->p >= r->end || (*r->p & 0xC0) != 0x80)
      return 0;
    cp = cp << 6 | (*r->p++ & 0x3F);
  }
  if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) ||
      (extra == 3 && cp < 0x10000))
    return 0; /* overlong */
  if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return 1;
}

/* A string; r->p is on the opening quote. */
static int ref_string(ref *r) {
  long cp, lo;
  r->p++;
  for (;;) {
    if (r->p >= r->end)
      return 0;
    if (*r->p == '"') {
      r->p++;
      return 1;
    }
    if (*r->p < 0x20)
      return 0;
    if (*r->p != '\\') {
      if (!ref_utf8(r))
        return 0;
      continue;
    }
    r->p++;
    if (r->p >= r->end)
      return 0;
    switch (*r->p++) {
    case '"':
    case '\\':
    case '/':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't':
      break;
    case 'u':
      if ((cp = ref_hex4(r)) < 0)
        return 0;
      if (cp >= 0xDC00 && cp <= 0xDFFF)
        return 0;
      if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (r->end - r->p < 2 || r->p[0] != '\\' || r->p[1] != 'u')
          return 0;
        r->p += 2;
        lo = ref_hex4(r);
        if (lo < 0xDC00 || lo > 0xDFFF)
          return 0;
      }
      break;
    default:
      return 0;
    }
  }
}

/* Digits: at least one. */
static int ref_digits(ref *r) {
  const unsigned char *start = r->p;
  while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
    r->p++;
  return r->p > start;
}

/* A number per the RFC 8259 grammar. */
static int ref_number(ref *r) {
  if (r->p < r->end && *r->p == '-')
    r->p++;
  if (r->p < r->end && *r->p == '0')
    r->p++;
  else if (r->p >= r->end || *r->p < '1' || *r->p > '9' || !ref_digits(r))
    return 0;
  if (r->p < r->end && *r->p == '.') {
    r->p++;
    if (!ref_digits(r))
      return 0;
  }
  if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
    r->p++;
    if (r->p < r->end && (*r->p == '+' || *r->p == '-'))
      r->p++;
    if (!ref_digits(r))
      return 0;
  }
  return 1;
}

/* A literal word. */
static int ref_word(ref *r, const char *w) {
  size_t n = strlen(w);
  if ((size_t)(r->end - r->p) < n || memcmp(r->p, w, n) != 0)
    return 0;
  r->p += n;
  return 1;
}

/* Any value, at nesting depth (containers already open). */
static int ref_value(ref *r, int depth) {
  ref_ws(r);
  if (r->p >= r->end)
    return 0;
  switch (*r->p) {
  case '{':
    if (depth == JS_MAX_DEPTH)
      return 0;
    r->p++;
    ref_ws(r);
    if (r->p < r->end && *r->p == '}') {
      r->p++;
      return 1;
    }
    for (;;) {
      ref_ws(r);
      if (r->p >= r->end || *r->p != '"' || !ref_string(r))
        return 0;
      ref_ws(r);
      if (r->p >= r->end || *r->p++ != ':')
        return 0;
      if (!ref_value(r, depth + 1))
        return 0;
      ref_ws(r);
      if (r->p >= r->end)
        return 0;
      if (*r->p == '}') {
        r->p++;
        return 1;
      }
      if (*r->p++ != ',')
        return 0;
    }
  case '[':
    if (depth == JS_MAX_DEPTH)
      return 0;
    r->p++;
    ref_ws(r);
    if (r->p < r->end && *r->p == ']') {
      r->p++;
      return 1;
    }
    for (;;) {
      if (!ref_value(r, depth + 1))
        return 0;
      ref_ws(r);
      if (r->p >= r->end)
        return 0;
      if (*r->p == ']') {
        r->p++;
        return 1;
      }
      if (*r->p++ != ',')
        return 0;
    }
  case '"':
    return ref_string(r);
  case 't':
    return ref_word(r, "true");
  case 'f':
    return ref_word(r, "false");
  case 'n':
    return ref_word(r, "null");
  default:
    return ref_number(r);
  }
}

/* 1 if s[0..n) is one valid JSON document per the reference. */
static int ref_valid(const unsigned char *s, size_t n) {
  ref r;
  r.p = s;
  r.end = s + n;
  if (!ref_value(&r, 0))
    return 0;
  ref_ws(&r);
  return r.p == r.end;
}

/* ---------------------------------------------------- structure checks */

/* 1 for JSON whitespace. */
static int is_ws(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* 1 if the (valid) JSON text s[0..n) has no whitespace outside strings. */
static int no_ws_outside_strings(const char *s, size_t n) {
  size_t i;
  int in_str = 0;
  for (i = 0; i < n; i++) {
    if (in_str) {
      if (s[i] == '\\')
        i++;
      else if (s[i] == '"')
        in_str = 0;
    } else if (s[i] == '"') {
      in_str = 1;
    } else if (is_ws(s[i])) {
      return 0;
    }
  }
  return 1;
}

/* a and b (a from the original, b from its minified form) must have the same
** structure and byte-identical scalars and keys. */
static void same_structure(const js_val *a, const js_val *b) {
  js_iter ia, ib;
  js_val ka, va, kb, vb;
  CHECK(a->type == b->type);
  if (a->type == JS_ARRAY) {
    js_iter_init(&ia, a);
    js_iter_init(&ib, b);
    while (js_next_elem(&ia, &va)) {
      CHECK(js_next_elem(&ib, &vb));
      same_structure(&va, &vb);
    }
    CHECK(!js_next_elem(&ib, &vb));
  } else if (a->type == JS_OBJECT) {
    js_iter_init(&ia, a);
    js_iter_init(&ib, b);
    while (js_next_member(&ia, &ka, &va)) {
      CHECK(js_next_member(&ib, &kb, &vb));
      CHECK(ka.n == kb.n && memcmp(ka.p, kb.p, ka.n) == 0);
      same_structure(&va, &vb);
    }
    CHECK(!js_next_member(&ib, &kb, &vb));
  } else {
    CHECK(a->n == b->n && memcmp(a->p, b->p, a->n) == 0);
  }
}

/* Check one string token: unescape, UTF-8, key_eq against itself. */
static void check_string(const js_val *s, struct buf *scratch) {
  char *dst = malloc(s->n);
  size_t dn;
  CHECK(s->type == JS_STRING && s->n >= 2);
  CHECK(s->p[0] == '"' && s->p[s->n - 1] == '"');
  dn = js_unescape_to(s, dst);
  CHECK(dn <= s->n - 2);
  CHECK(js_utf8_check(dst, dn) == dn);
  CHECK(js_key_eq(s, dst, dn));
  if (dn > 0)
    CHECK(!js_key_eq(s, dst, dn - 1));
  buf_reset(scratch);
  CHECK(js_unescape(s, scratch) == 0);
  CHECK(scratch->len == dn && (dn == 0 || memcmp(scratch->data, dst, dn) == 0));
  free(dst);
}

/* Check a number token against strtoll / strtod. */
static void check_number(const js_val *v) {
  char tmp[64];
  int64_t i;
  double d;
  long long ll;
  CHECK(v->n > 0);
  if (v->type == JS_INT && v->n < sizeof tmp) {
    memcpy(tmp, v->p, v->n);
    tmp[v->n] = '\0';
    errno = 0;
    ll = strtoll(tmp, NULL, 10);
    if (errno == ERANGE) {
      CHECK(js_int64(v, &i) == -1);
    } else {
      CHECK(js_int64(v, &i) == 0 && i == ll);
    }
  }
  d = js_double(v);
  (void)js_double_checked(v, &d);
}

/* Collects js_parse_records elements and members (kv: key, value ...;
** first[i]: the first member of element i) to compare with the iterator. */
typedef struct {
  js_val *v, *kv;
  size_t n, cap, nkv, capkv, *first;
} elems;

/* js_elem_fn: append. */
static int collect(void *ud, const js_val *e) {
  elems *c = ud;
  if (c->n == c->cap) {
    c->cap = c->cap ? c->cap * 2 : 16;
    c->v = realloc(c->v, c->cap * sizeof *c->v);
    c->first = realloc(c->first, (c->cap + 1) * sizeof *c->first);
    CHECK(c->v != NULL && c->first != NULL);
  }
  if (c->n == 0)
    c->first[0] = 0;
  c->v[c->n++] = *e;
  c->first[c->n] = c->nkv / 2;
  return 0;
}

/* js_member_fn: append. */
static int collect_member(void *ud, const js_val *k, const js_val *v) {
  elems *c = ud;
  if (c->nkv + 2 > c->capkv) {
    c->capkv = c->capkv ? c->capkv * 2 : 32;
    c->kv = realloc(c->kv, c->capkv * sizeof *c->kv);
    CHECK(c->kv != NULL);
  }
  c->kv[c->nkv++] = *k;
  c->kv[c->nkv++] = *v;
  return 0;
}

static int same_val(const js_val *a, const js_val *b) {
  return a->type == b->type && a->p == b->p && a->n == b->n;
}

/* The elements reported by js_parse_records must be those of list, and the
** members reported for an element object exactly those the iterator finds
** (none for an element that is not an object). */
static void same_elems(const elems *c, const js_val *list) {
  js_iter it, mi;
  js_val e, k, v;
  size_t i = 0;
  js_iter_init(&it, list);
  while (js_next_elem(&it, &e)) {
    CHECK(i < c->n);
    CHECK(same_val(&c->v[i], &e));
    size_t m = c->first[i];
    if (e.type == JS_OBJECT) {
      js_iter_init(&mi, &e);
      while (js_next_member(&mi, &k, &v)) {
        CHECK(m < c->first[i + 1]);
        CHECK(same_val(&c->kv[2 * m], &k) && same_val(&c->kv[2 * m + 1], &v));
        m++;
      }
    }
    CHECK(m == c->first[i + 1]);
    i++;
  }
  CHECK(i == c->n);
}

/* Visit v and everything inside it. */
static void visit(const js_val *v, struct buf *scratch) {
  js_iter it;
  js_val k, e, found, k2, e2;
  js_iter it2;
  char *key;
  size_t kn;
  switch (v->type) {
  case JS_STRING:
    check_string(v, scratch);
    break;
  case JS_INT:
  case JS_FLOAT:
    check_number(v);
    break;
  case JS_ARRAY:
    CHECK(v->p[0] == '[' && v->p[v->n - 1] == ']');
    js_iter_init(&it, v);
    while (js_next_elem(&it, &e)) {
      CHECK(e.p > v->p && e.p + e.n < v->p + v->n);
      visit(&e, scratch);
    }
    break;
  case JS_OBJECT:
    CHECK(v->p[0] == '{' && v->p[v->n - 1] == '}');
    js_iter_init(&it, v);
    while (js_next_member(&it, &k, &e)) {
      CHECK(k.p > v->p && e.p + e.n < v->p + v->n && k.p + k.n <= e.p);
      check_string(&k, scratch);
      visit(&e, scratch);
      key = malloc(k.n);
      kn = js_unescape_to(&k, key);
      CHECK(js_find(v, key, kn, &found));
      /* js_find returns the first member with an equal key */
      js_iter_init(&it2, v);
      while (js_next_member(&it2, &k2, &e2) && !js_key_eq(&k2, key, kn))
        ;
      CHECK(found.p == e2.p && found.n == e2.n && found.type == e2.type);
      free(key);
    }
    break;
  default:
    break;
  }
}

#ifdef FUZZ_LUA
/* One Lua state for the whole run (libFuzzer calls us millions of times). */
static lua_State *fuzz_L;

/* Lua side of check 4; the text is the argument. */
static const char lua_check[] =
    "local json, text = require 'icx.json', ...\n"
    "local function dec(s)\n"
    "  local v, err = json.decode(s)\n"
    "  if err then error(err) end\n"
    "  return v\n"
    "end\n"
    "local e1 = json.encode(dec(text))\n"
    "local e2 = json.encode(dec(e1))\n"
    "if e1 ~= e2 then error('not a fixed point: ' .. e1 .. ' vs ' .. e2) end\n"
    "local p = json.page(text)\n"
    "if p then for i = 1, #p do dec(p:raw(i)) end end\n"
    "return e1\n";

/* 1 if the unescaped strings a and b are equal. */
static int same_string(const js_val *a, const js_val *b) {
  char *x = malloc(a->n), *y = malloc(b->n);
  size_t xn = js_unescape_to(a, x), yn = js_unescape_to(b, y);
  int eq = xn == yn && memcmp(x, y, xn) == 0;
  free(x);
  free(y);
  return eq;
}

/*
** b (from encode(decode(a))) must carry exactly a's values: integers equal
** as int64 (or the same digits beyond int64), floats bit-identical doubles
** (or the same literal when no double holds them), strings equal after
** unescaping, arrays pairwise, objects with a's distinct keys (the first
** member of a duplicated key) in any order.
*/
static void same_values(const js_val *a, const js_val *b) {
  js_iter ia, ib;
  js_val ka, va, kb, vb, found;
  int64_t x, y;
  double dx, dy;
  size_t na = 0, nb = 0;
  char *key;
  switch (a->type) {
  case JS_INT:
    CHECK(b->type == JS_INT);
    if (js_int64(a, &x) == 0)
      CHECK(js_int64(b, &y) == 0 && x == y);
    else
      CHECK(a->n == b->n && memcmp(a->p, b->p, a->n) == 0);
    break;
  case JS_FLOAT:
    CHECK(b->type == JS_FLOAT);
    if (js_double_checked(a, &dx) == 0)
      CHECK(js_double_checked(b, &dy) == 0 && memcmp(&dx, &dy, sizeof dx) == 0);
    else
      CHECK(a->n == b->n && memcmp(a->p, b->p, a->n) == 0);
    break;
  case JS_STRING:
    CHECK(b->type == JS_STRING && same_string(a, b));
    break;
  case JS_ARRAY:
    CHECK(b->type == JS_ARRAY);
    js_iter_init(&ia, a);
    js_iter_init(&ib, b);
    while (js_next_elem(&ia, &va)) {
      CHECK(js_next_elem(&ib, &vb));
      same_values(&va, &vb);
    }
    CHECK(!js_next_elem(&ib, &vb));
    break;
  case JS_OBJECT:
    CHECK(b->type == JS_OBJECT);
    js_iter_init(&ib, b);
    while (js_next_member(&ib, &kb, &vb)) {
      key = malloc(kb.n);
      CHECK(js_find(a, key, js_unescape_to(&kb, key), &found));
      same_values(&found, &vb);
      free(key);
      nb++;
    }
    js_iter_init(&ia, a);
    while (js_next_member(&ia, &ka, &va)) {
      key = malloc(ka.n);
      CHECK(js_find(a, key, js_unescape_to(&ka, key), &found));
      na += found.p == va.p; /* count first occurrences only */
      free(key);
    }
    CHECK(na == nb);
    break;
  default:
    CHECK(a->type == b->type);
  }
}

/* Run the Lua round trip on a valid document v (in s[0..n)); abort if it
** fails or the re-encoded text does not carry the same values. */
static void check_lua(const char *s, size_t n, const js_val *v) {
  const char *e1;
  size_t e1n;
  js_val ev;
  if (fuzz_L == NULL) {
    fuzz_L = luaL_newstate();
    luaL_openlibs(fuzz_L);
    luaL_getsubtable(fuzz_L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(fuzz_L, luaopen_icx_json);
    lua_setfield(fuzz_L, -2, "icx.json");
    lua_pop(fuzz_L, 1);
  }
  CHECK(luaL_loadbuffer(fuzz_L, lua_check, sizeof lua_check - 1, "check") ==
        LUA_OK);
  lua_pushlstring(fuzz_L, s, n);
  if (lua_pcall(fuzz_L, 1, 1, 0) != LUA_OK) {
    fprintf(stderr, "fuzz_jscan: lua: %s\n", lua_tostring(fuzz_L, -1));
    abort();
  }
  e1 = lua_tolstring(fuzz_L, -1, &e1n);
  CHECK(e1 != NULL && js_parse(e1, e1n, &ev, NULL) == 0);
  same_values(v, &ev);
  lua_settop(fuzz_L, 0);
}
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *s = (const char *)data;
  js_val v, m;
  js_err err;
  struct buf mini, scratch;
  elems c = {0};
  int rc = js_parse(s, size, &v, &err);
  int want = ref_valid(data, size);

  CHECK((rc == 0) == want);
  if (rc != 0) {
    CHECK(err.offset <= size);
    CHECK(err.msg[0] != '\0');
    CHECK(js_parse_records(s, size, "data", 4, collect, collect_member, &c, &m,
                           NULL, &err) == -1);
    free(c.v);
    free(c.kv);
    free(c.first);
    return 0;
  }
  CHECK(v.p >= s && v.p + v.n <= s + size && v.n > 0);

  buf_init(&mini);
  buf_init(&scratch);
  CHECK(js_minify(&v, &mini) == 0);
  CHECK(mini.len <= v.n);
  CHECK(js_parse(mini.data, mini.len, &m, &err) == 0);
  CHECK(m.p == mini.data && m.n == mini.len);
  same_structure(&v, &m);
  CHECK(no_ws_outside_strings(mini.data, mini.len));
  {
    /* whitespace only inside strings: re-minifying changes nothing */
    struct buf again;
    buf_init(&again);
    CHECK(js_minify(&m, &again) == 0);
    CHECK(again.len == mini.len &&
          memcmp(again.data, mini.data, mini.len) == 0);
    buf_free(&again);
  }
  visit(&v, &scratch);

  /* js_parse_list: the top-level array, and the first member's array */
  {
    js_info got;
    CHECK(js_parse_records(s, size, NULL, 0, collect, collect_member, &c, &m,
                           &got, &err) == 0);
    CHECK(m.p == v.p && m.n == v.n && m.type == v.type);
    if (v.type == JS_ARRAY)
      CHECK(got.list.type == JS_ARRAY && got.list.p == v.p &&
            got.list.n == v.n);
    else
      CHECK(got.list.p == NULL);
    /* minified means minifying changes nothing */
    CHECK(got.minified == (mini.len == v.n));
  }
  if (v.type == JS_ARRAY)
    same_elems(&c, &v);
  else
    CHECK(c.n == 0);
  if (v.type == JS_OBJECT) {
    js_iter it;
    js_val k, e, list, f1, f2;
    js_info got;
    js_iter_init(&it, &v);
    if (js_next_member(&it, &k, &e)) {
      char *key = malloc(k.n);
      size_t kn = js_unescape_to(&k, key);
      c.n = c.nkv = 0;
      CHECK(js_parse_records(s, size, key, kn, collect, collect_member, &c, &m,
                             &got, &err) == 0);
      CHECK(js_find(&v, key, kn, &list));
      if (list.type == JS_ARRAY) {
        same_elems(&c, &list);
        CHECK(got.list.type == JS_ARRAY && got.list.p == list.p &&
              got.list.n == list.n);
      } else {
        CHECK(c.n == 0 && got.list.p == NULL);
      }
      /* js_find_past past the list finds what js_find finds, every key */
      js_iter_init(&it, &v);
      while (js_next_member(&it, &k, &e)) {
        char *kk = malloc(k.n);
        size_t kkn = js_unescape_to(&k, kk);
        CHECK(js_find(&v, kk, kkn, &f1) &&
              js_find_past(&v, kk, kkn, &got.list, &f2));
        CHECK(f1.p == f2.p && f1.n == f2.n && f1.type == f2.type);
        free(kk);
      }
      free(key);
    }
  }
  free(c.v);
  free(c.kv);
  free(c.first);
  buf_free(&mini);
  buf_free(&scratch);
#ifdef FUZZ_LUA
  check_lua(s, size, &v);
#endif
  return 0;
}
