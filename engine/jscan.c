/*
** jscan.c: strict, allocation-free JSON validation and slicing (Lua-free).
** See jscan.h for the contract.
**
** The validator is one loop with an explicit stack of open brackets instead
** of recursion: depth costs one byte per level, the list hook of
** js_parse_list can see the nesting level at every value, and a hostile body
** cannot exhaust the C stack. String bodies, the bulk of an Intercom record,
** are checked eight bytes at a time (SWAR) until a quote, backslash, control
** byte or non-ASCII byte shows up.
**
** Everything after js_parse (iteration, find, unescape, minify) trusts the
** validation and only looks for structure, so it never needs error paths.
*/
#include "jscan.h"

#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

/* Byte classes inside a string body. */
enum { SC_PLAIN, SC_QUOTE, SC_BSLASH, SC_CTRL, SC_HIGH };

/* Byte classes that matter when skipping a validated container. */
enum { KC_OTHER, KC_QUOTE, KC_OPEN, KC_CLOSE };

/*
** The byte tables are built by the preprocessor from one expression per table
** (T256 expands f(0) .. f(255)), so they are const data: no init call, no
** mutable global, and no chance of a typo in a hand-written row.
*/
#define T4(f, i) f(i), f(i + 1), f(i + 2), f(i + 3)
#define T16(f, i) T4(f, i), T4(f, i + 4), T4(f, i + 8), T4(f, i + 12)
#define T64(f, i) T16(f, i), T16(f, i + 16), T16(f, i + 32), T16(f, i + 48)
#define T256(f) T64(f, 0), T64(f, 64), T64(f, 128), T64(f, 192)

#define STRCLASS(c)                                                            \
  ((c) == '"'    ? SC_QUOTE                                                    \
   : (c) == '\\' ? SC_BSLASH                                                   \
   : (c) < 0x20  ? SC_CTRL                                                     \
   : (c) >= 0x80 ? SC_HIGH                                                     \
                 : SC_PLAIN)
#define SKIPCLASS(c)                                                           \
  ((c) == '"'                 ? KC_QUOTE                                       \
   : (c) == '[' || (c) == '{' ? KC_OPEN                                        \
   : (c) == ']' || (c) == '}' ? KC_CLOSE                                       \
                              : KC_OTHER)
#define ISWS(c) ((c) == ' ' || (c) == '\t' || (c) == '\n' || (c) == '\r')
#define HEXVAL(c)                                                              \
  ((c) >= '0' && (c) <= '9'   ? (c) - '0'                                      \
   : (c) >= 'a' && (c) <= 'f' ? (c) - 'a' + 10                                 \
   : (c) >= 'A' && (c) <= 'F' ? (c) - 'A' + 10                                 \
                              : -1)

static const unsigned char strclass[256] = {T256(STRCLASS)};
static const unsigned char skipclass[256] = {T256(SKIPCLASS)};
static const unsigned char isws[256] = {T256(ISWS)};
static const signed char hexval[256] = {T256(HEXVAL)};

/* SWAR helpers over 8 bytes at once: nonzero iff some byte of x is zero /
** is below n (n <= 128) / has its high bit set. */
#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)
#define HAS_ZERO(x) (((x)-ONES) & ~(x)&HIGHS)
#define HAS_LESS(x, n) (((x)-ONES * (n)) & ~(x)&HIGHS)

/* Load 8 unaligned bytes; memcpy compiles to one load. */
static uint64_t load8(const char *p) {
  uint64_t w;
  memcpy(&w, p, 8);
  return w;
}

/*
** The masks below flag, in the high bit of each byte, the bytes of the 8 at p
** that a loop must stop at; zero means all 8 can be passed over. The lowest
** flag is always exact (a borrow only runs upwards from a flagged byte), so on
** a little-endian machine SKIP8 gives the offset of the first such byte and
** a scan jumps straight to it; elsewhere SKIP8 is 0 and the byte loop after
** it finds the byte.
*/
#if defined(__GNUC__) && defined(__BYTE_ORDER__) &&                            \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define SKIP8(m) ((size_t)__builtin_ctzll(m) >> 3)
#else
#define SKIP8(m) ((size_t)0)
#endif

/* Inside a string body being validated: a quote, a backslash, a control
** byte or a non-ASCII byte. */
static uint64_t special8(const char *p) {
  uint64_t w = load8(p);
  return HAS_ZERO(w ^ (ONES * '"')) | HAS_ZERO(w ^ (ONES * '\\')) |
         HAS_LESS(w, 0x20) | (w & HIGHS);
}

/* Inside a validated string body: a quote or a backslash. */
static uint64_t quote8(const char *p) {
  uint64_t w = load8(p);
  return HAS_ZERO(w ^ (ONES * '"')) | HAS_ZERO(w ^ (ONES * '\\'));
}

/* Inside a validated container, outside strings: a quote or a bracket. ORing
** 0x20 folds '[' into '{' and ']' into '}' and no other byte into either. */
static uint64_t struct8(const char *p) {
  uint64_t w = load8(p), f = w | (ONES * 0x20);
  return HAS_ZERO(w ^ (ONES * '"')) | HAS_ZERO(f ^ (ONES * '{')) |
         HAS_ZERO(f ^ (ONES * '}'));
}

/* Inside a validated container, outside strings: a quote or whitespace (the
** only bytes below 0x21 there), what minifying stops at. */
static uint64_t minify8(const char *p) {
  uint64_t w = load8(p);
  return HAS_ZERO(w ^ (ONES * '"')) | HAS_LESS(w, 0x21);
}

/*
** Length of the well-formed UTF-8 sequence starting at u (RFC 3629: no
** overlongs, no surrogates, nothing above U+10FFFF), looking at no more than
** left bytes; 0 if it is not one.
*/
static size_t utf8_len(const unsigned char *u, size_t left) {
  unsigned c = u[0], lo = 0x80, hi = 0xBF;
  if (c < 0x80)
    return 1;
  if (c >= 0xC2 && c <= 0xDF)
    return left >= 2 && u[1] >= 0x80 && u[1] <= 0xBF ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (c == 0xE0)
      lo = 0xA0; /* below is overlong */
    else if (c == 0xED)
      hi = 0x9F; /* above encodes a UTF-16 surrogate */
    return left >= 3 && u[1] >= lo && u[1] <= hi && u[2] >= 0x80 && u[2] <= 0xBF
               ? 3
               : 0;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (c == 0xF0)
      lo = 0x90; /* below is overlong */
    else if (c == 0xF4)
      hi = 0x8F; /* above is past U+10FFFF */
    return left >= 4 && u[1] >= lo && u[1] <= hi && u[2] >= 0x80 &&
                   u[2] <= 0xBF && u[3] >= 0x80 && u[3] <= 0xBF
               ? 4
               : 0;
  }
  return 0;
}

/* Value of the 4 hex digits at p (the caller checked they exist), or -1. */
static long hex4(const char *p) {
  const unsigned char *u = (const unsigned char *)p;
  int a = hexval[u[0]], b = hexval[u[1]], c = hexval[u[2]], d = hexval[u[3]];
  if ((a | b | c | d) < 0)
    return -1;
  return (long)a << 12 | (long)b << 8 | (long)c << 4 | (long)d;
}

/* Write code point cp as UTF-8 at d; returns the byte count (1..4). */
static size_t put_utf8(char *d, unsigned long cp) {
  if (cp < 0x80) {
    d[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    d[0] = (char)(0xC0 | cp >> 6);
    d[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    d[0] = (char)(0xE0 | cp >> 12);
    d[1] = (char)(0x80 | (cp >> 6 & 0x3F));
    d[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  d[0] = (char)(0xF0 | cp >> 18);
  d[1] = (char)(0x80 | (cp >> 12 & 0x3F));
  d[2] = (char)(0x80 | (cp >> 6 & 0x3F));
  d[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/*
** Decode the validated escape whose backslash is at p into UTF-8 at d (room
** for 4 bytes). Sets *dn to the bytes written; returns the byte after the
** escape (a surrogate pair counts as one escape).
*/
static const char *decode_escape(const char *p, char *d, size_t *dn) {
  unsigned long cp, lo;
  *dn = 1;
  switch (p[1]) {
  case 'b':
    *d = '\b';
    return p + 2;
  case 'f':
    *d = '\f';
    return p + 2;
  case 'n':
    *d = '\n';
    return p + 2;
  case 'r':
    *d = '\r';
    return p + 2;
  case 't':
    *d = '\t';
    return p + 2;
  case 'u':
    break;
  default:
    *d = p[1];
    return p + 2; /* '"', '\\' and '/' stand for themselves */
  }
  cp = (unsigned long)hex4(p + 2);
  if (cp >= 0xD800 && cp <= 0xDBFF) {
    lo = (unsigned long)hex4(p + 8);
    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    *dn = put_utf8(d, cp);
    return p + 12;
  }
  *dn = put_utf8(d, cp);
  return p + 6;
}

/* ---------------------------------------------------------------- parse */

/* One validation run: the input bounds and where to report an error. */
typedef struct {
  const char *s;   /* start of the input, for offsets */
  const char *end; /* one past the last input byte */
  js_err *err;     /* may be NULL */
} Scanner;

/* Record an error at byte at with a printf-style reason; returns NULL so a
** scan helper can `return fail(...)`. */
static const char *fail(Scanner *S, const char *at, const char *fmt, ...) {
  va_list ap;
  if (S->err == NULL)
    return NULL;
  S->err->offset = (size_t)(at - S->s);
  va_start(ap, fmt);
  vsnprintf(S->err->msg, sizeof S->err->msg, fmt, ap);
  va_end(ap);
  return NULL;
}

/* Skip JSON whitespace; never reads at or past end. */
static const char *skip_ws(const char *p, const char *end) {
  while (p < end && isws[(unsigned char)*p])
    p++;
  return p;
}

/* skip_ws inside the top-level value, setting *spaced when there was any:
** a body without is its own minified text (js_info.minified). */
static const char *skip_ws_in(const char *p, const char *end, int *spaced) {
  const char *q = skip_ws(p, end);
  *spaced |= q != p;
  return q;
}

/* Check the escape whose backslash is at p; returns the byte after it. */
static const char *scan_escape(Scanner *S, const char *p) {
  long cp, lo;
  size_t left = (size_t)(S->end - p);
  if (left < 2)
    return fail(S, S->end, "unterminated string");
  switch (p[1]) {
  case '"':
  case '\\':
  case '/':
  case 'b':
  case 'f':
  case 'n':
  case 'r':
  case 't':
    return p + 2;
  case 'u':
    break;
  default:
    if (p[1] > 0x20 && p[1] < 0x7F)
      return fail(S, p, "invalid escape '\\%c' in string", p[1]);
    return fail(S, p, "invalid escape in string");
  }
  if (left < 6 || (cp = hex4(p + 2)) < 0)
    return fail(S, p, "invalid \\u escape (needs 4 hex digits)");
  if (cp >= 0xDC00 && cp <= 0xDFFF)
    return fail(S, p, "lone low surrogate \\u%04lX in string", cp);
  if (cp >= 0xD800 && cp <= 0xDBFF) {
    if (left < 12 || p[6] != '\\' || p[7] != 'u' || (lo = hex4(p + 8)) < 0 ||
        lo < 0xDC00 || lo > 0xDFFF)
      return fail(S, p, "lone high surrogate \\u%04lX in string", cp);
    return p + 12;
  }
  return p + 6;
}

/*
** Validate a string body; p is the byte after the opening quote. Returns the
** byte after the closing quote, or NULL with the error set.
*/
static const char *scan_string(Scanner *S, const char *p) {
  const char *end = S->end, *open = p - 1;
  size_t n;
  uint64_t m;
  for (;;) {
    while (end - p >= 8) {
      if ((m = special8(p)) != 0) {
        p += SKIP8(m);
        break;
      }
      p += 8;
    }
    while (p < end && strclass[(unsigned char)*p] == SC_PLAIN)
      p++;
    if (p >= end)
      return fail(S, end, "unterminated string (opened at byte %zu)",
                  (size_t)(open - S->s));
    switch (strclass[(unsigned char)*p]) {
    case SC_QUOTE:
      return p + 1;
    case SC_BSLASH:
      if ((p = scan_escape(S, p)) == NULL)
        return NULL;
      break;
    case SC_CTRL:
      return fail(S, p, "unescaped control byte 0x%02X in string",
                  (unsigned)(unsigned char)*p);
    default:
      n = utf8_len((const unsigned char *)p, (size_t)(end - p));
      if (n == 0)
        return fail(S, p, "invalid UTF-8 byte 0x%02X in string",
                    (unsigned)(unsigned char)*p);
      p += n;
    }
  }
}

/* Nonzero for an ASCII digit. */
#define ISDIGIT(c) ((unsigned)((c) - '0') < 10u)

/*
** Validate a number literal starting at p ('-' or a digit). Sets *type to
** JS_INT or JS_FLOAT; returns the byte after the literal or NULL.
*/
static const char *scan_number(Scanner *S, const char *p, js_type *type) {
  const char *end = S->end;
  *type = JS_INT;
  if (*p == '-')
    p++;
  if (p >= end || !ISDIGIT(*p))
    return fail(S, p, "expected digit after '-'");
  if (*p == '0') {
    p++;
    if (p < end && ISDIGIT(*p))
      return fail(S, p - 1, "leading zeros are not allowed in numbers");
  } else {
    while (p < end && ISDIGIT(*p))
      p++;
  }
  if (p < end && *p == '.') {
    *type = JS_FLOAT;
    p++;
    if (p >= end || !ISDIGIT(*p))
      return fail(S, p, "expected digit after '.' in number");
    while (p < end && ISDIGIT(*p))
      p++;
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    *type = JS_FLOAT;
    p++;
    if (p < end && (*p == '+' || *p == '-'))
      p++;
    if (p >= end || !ISDIGIT(*p))
      return fail(S, p, "expected digit in exponent");
    while (p < end && ISDIGIT(*p))
      p++;
  }
  return p;
}

/* Check that word (n bytes) is at p; returns the byte after it or NULL. */
static const char *scan_word(Scanner *S, const char *p, const char *word,
                             size_t n) {
  if ((size_t)(S->end - p) < n || memcmp(p, word, n) != 0)
    return fail(S, p, "invalid literal (expected '%s')", word);
  return p + n;
}

/* Report a byte that cannot start a value. */
static const char *bad_value(Scanner *S, const char *p) {
  unsigned char c = (unsigned char)*p;
  if (c == 'N' || c == 'I')
    return fail(S, p, "NaN and Infinity are not valid JSON");
  if (c > 0x20 && c < 0x7F)
    return fail(S, p, "unexpected character '%c', expected a value", c);
  return fail(S, p, "unexpected byte 0x%02X, expected a value", c);
}

/* The list hook of js_parse_list; key NULL means the top-level array. */
typedef struct {
  const char *key; /* borrowed from the caller */
  size_t keylen;
  js_elem_fn fn;    /* may be NULL */
  js_member_fn mfn; /* may be NULL */
  void *ud;         /* passed through to fn and mfn */
  js_info *info;    /* filled as the parse learns it; may be NULL */
} ListHook;

/*
** The validator behind js_parse and js_parse_list (h NULL for the former).
** stack[] holds the open brackets; depth counts them. For the hook, lst is
** the depth at which list elements sit (-1: not inside the list); members
** of an element object sit at lst + 1 (mk: the member's key, mv: where its
** value starts).
*/
static int parse(const char *s, size_t len, const ListHook *h, js_val *out,
                 js_err *err) {
  Scanner S;
  unsigned char stack[JS_MAX_DEPTH];
  const char *p, *q, *end = s + len, *top = NULL, *el = NULL, *lopen = NULL;
  const char *mv = NULL;
  int depth = 0, lst = -1, key_seen = 0, pending = 0, spaced = 0;
  int mdepth = -1; /* lst + 1 while in the list, when members are wanted */
  js_type t = JS_NULL, top_type = JS_NULL;
  js_val v, mk = {JS_STRING, NULL, 0};

  S.s = s;
  S.end = end;
  S.err = err;
  p = skip_ws(s, end);
  if (p >= end) {
    fail(&S, p, "empty document, expected a value");
    return -1;
  }
  top = p;

value:
  if (p >= end) {
    fail(&S, p, "unexpected end of input, expected a value");
    return -1;
  }
  if (depth == lst)
    el = p;
  else if (depth == mdepth)
    mv = p;
  switch (*p) {
  case '{':
  case '[':
    if (depth == JS_MAX_DEPTH) {
      fail(&S, p, "nesting deeper than %d levels", JS_MAX_DEPTH);
      return -1;
    }
    if (depth == 0)
      top_type = *p == '{' ? JS_OBJECT : JS_ARRAY;
    if (*p == '[' && h != NULL && (pending || (depth == 0 && h->key == NULL))) {
      lst = depth + 1;
      lopen = p;
      if (h->mfn != NULL)
        mdepth = lst + 1;
    }
    pending = 0;
    stack[depth++] = (unsigned char)*p;
    q = p;
    p = skip_ws_in(p + 1, end, &spaced);
    if (p < end && (unsigned char)*p == stack[depth - 1] + 2) {
      p++; /* '[' + 2 == ']' and '{' + 2 == '}' in ASCII */
      goto close;
    }
    if (*q == '[')
      goto value;
    goto key;
  case '"':
    q = scan_string(&S, p + 1);
    t = JS_STRING;
    break;
  case '-':
  case '0':
  case '1':
  case '2':
  case '3':
  case '4':
  case '5':
  case '6':
  case '7':
  case '8':
  case '9':
    q = scan_number(&S, p, &t);
    break;
  case 't':
    q = scan_word(&S, p, "true", 4);
    t = JS_TRUE;
    break;
  case 'f':
    q = scan_word(&S, p, "false", 5);
    t = JS_FALSE;
    break;
  case 'n':
    q = scan_word(&S, p, "null", 4);
    t = JS_NULL;
    break;
  default:
    q = bad_value(&S, p);
  }
  if (q == NULL)
    return -1;
  pending = 0;
  if (depth == 0)
    top_type = t;
  p = q;
  goto after;

close: /* p is just past a closing bracket of the innermost container */
  if (depth == lst) {
    lst = -1; /* the list itself closed: the hook is done */
    mdepth = -1;
    if (h->info != NULL) {
      h->info->list.type = JS_ARRAY;
      h->info->list.p = lopen;
      h->info->list.n = (size_t)(p - lopen);
    }
  }
  depth--;

after: /* p is just past a complete value */
  if (depth == mdepth && stack[depth - 1] == '{') {
    v.type = *mv == '{' ? JS_OBJECT : *mv == '[' ? JS_ARRAY : t;
    v.p = mv;
    v.n = (size_t)(p - mv);
    if (h->mfn(h->ud, &mk, &v) != 0) {
      fail(&S, p, "stopped by callback");
      return -1;
    }
  } else if (depth == lst) {
    v.type = *el == '{' ? JS_OBJECT : *el == '[' ? JS_ARRAY : t;
    v.p = el;
    v.n = (size_t)(p - el);
    if (h->fn != NULL && h->fn(h->ud, &v) != 0) {
      fail(&S, p, "stopped by callback");
      return -1;
    }
  }
  q = p;
  p = depth ? skip_ws_in(p, end, &spaced) : skip_ws(p, end);
  if (depth == 0) {
    if (p != end) {
      fail(&S, p, "unexpected data after the JSON value");
      return -1;
    }
    if (h != NULL && h->info != NULL)
      h->info->minified = !spaced;
    out->type = top_type;
    out->p = top;
    out->n = (size_t)(q - top);
    return 0;
  }
  if (p >= end) {
    fail(&S, p, "unexpected end of input in %s",
         stack[depth - 1] == '[' ? "array" : "object");
    return -1;
  }
  if (stack[depth - 1] == '[') {
    if (*p == ']') {
      p++;
      goto close;
    }
    if (*p != ',') {
      fail(&S, p, "expected ',' or ']' after array element");
      return -1;
    }
    p = skip_ws_in(p + 1, end, &spaced);
    if (p < end && *p == ']') {
      fail(&S, p, "trailing comma before ']'");
      return -1;
    }
    goto value;
  }
  if (*p == '}') {
    p++;
    goto close;
  }
  if (*p != ',') {
    fail(&S, p, "expected ',' or '}' after object member");
    return -1;
  }
  p = skip_ws_in(p + 1, end, &spaced);
  if (p < end && *p == '}') {
    fail(&S, p, "trailing comma before '}'");
    return -1;
  }

key: /* p is where an object key must start */
  if (p >= end || *p != '"') {
    if (p >= end)
      fail(&S, p, "unexpected end of input in object");
    else
      fail(&S, p, "expected '\"' to start an object key");
    return -1;
  }
  if ((q = scan_string(&S, p + 1)) == NULL)
    return -1;
  if (depth == mdepth) {
    mk.p = p;
    mk.n = (size_t)(q - p);
  }
  if (depth == 1 && h != NULL && h->key != NULL && !key_seen) {
    v.type = JS_STRING;
    v.p = p;
    v.n = (size_t)(q - p);
    if (js_key_eq(&v, h->key, h->keylen))
      key_seen = pending = 1;
  }
  p = skip_ws_in(q, end, &spaced);
  if (p >= end || *p != ':') {
    fail(&S, p, "expected ':' after object key");
    return -1;
  }
  p = skip_ws_in(p + 1, end, &spaced);
  goto value;
}

/* Validate one JSON document; see jscan.h. */
int js_parse(const char *s, size_t len, js_val *out, js_err *err) {
  return parse(s, len, NULL, out, err);
}

/* Validate one JSON document and report the list's elements; see jscan.h. */
int js_parse_list(const char *s, size_t len, const char *key, size_t keylen,
                  js_elem_fn fn, void *ud, js_val *out, js_info *info,
                  js_err *err) {
  return js_parse_records(s, len, key, keylen, fn, NULL, ud, out, info, err);
}

/* js_parse_list, reporting the members of element objects too; see jscan.h.
 */
int js_parse_records(const char *s, size_t len, const char *key, size_t keylen,
                     js_elem_fn fn, js_member_fn mfn, void *ud, js_val *out,
                     js_info *info, js_err *err) {
  ListHook h;
  h.key = key;
  h.keylen = keylen;
  h.fn = fn;
  h.mfn = mfn;
  h.ud = ud;
  h.info = info;
  if (info != NULL) {
    info->list.type = JS_NULL;
    info->list.p = NULL;
    info->list.n = 0;
    info->minified = 0;
  }
  return parse(s, len, &h, out, err);
}

/* ----------------------------------------------------- validated values */

/*
** Skip a validated string body; p is after the opening quote. end only bounds
** the 8-byte loads: the closing quote is known to come before it.
*/
static const char *skip_string(const char *p, const char *end) {
  uint64_t m;
  for (;;) {
    while (end - p >= 8) {
      if ((m = quote8(p)) != 0) {
        p += SKIP8(m);
        break;
      }
      p += 8;
    }
    while (*p != '"' && *p != '\\')
      p++;
    if (*p == '"')
      return p + 1;
    p += 2; /* the escaped byte; \uXXXX digits are plain bytes */
  }
}

/* Skip a validated array or object starting at its bracket p. Numbers,
** literals and punctuation between the strings and brackets are passed over
** eight bytes at a time. */
static const char *skip_container(const char *p, const char *end) {
  int depth = 1;
  uint64_t m;
  p++;
  for (;;) {
    while (end - p >= 8) {
      if ((m = struct8(p)) != 0) {
        p += SKIP8(m);
        break;
      }
      p += 8;
    }
    switch (skipclass[(unsigned char)*p]) {
    case KC_OTHER:
      p++;
      break;
    case KC_QUOTE:
      p = skip_string(p + 1, end);
      break;
    case KC_OPEN:
      depth++;
      p++;
      break;
    default:
      p++;
      if (--depth == 0)
        return p;
    }
  }
}

/* Skip a validated value at p, setting *type; returns the byte after it. */
static const char *skip_value(const char *p, const char *end, js_type *type) {
  switch (*p) {
  case '"':
    *type = JS_STRING;
    return skip_string(p + 1, end);
  case '{':
    *type = JS_OBJECT;
    return skip_container(p, end);
  case '[':
    *type = JS_ARRAY;
    return skip_container(p, end);
  case 't':
    *type = JS_TRUE;
    return p + 4;
  case 'f':
    *type = JS_FALSE;
    return p + 5;
  case 'n':
    *type = JS_NULL;
    return p + 4;
  default:
    *type = JS_INT;
    for (p++; p < end; p++) {
      if (*p == '.' || *p == 'e' || *p == 'E')
        *type = JS_FLOAT;
      else if (!ISDIGIT(*p) && *p != '+' && *p != '-')
        break;
    }
    return p;
  }
}

/* Start iterating a validated container; see jscan.h. */
void js_iter_init(js_iter *it, const js_val *container) {
  it->end = container->p + container->n;
  it->started = 0;
  if (container->type == JS_ARRAY || container->type == JS_OBJECT)
    it->p = container->p + 1;
  else
    it->p = it->end; /* nothing to iterate */
}

/*
** Move the iterator to the next element's first byte. Returns 0 at the
** closing bracket (or for a non-container), 1 with it->p on the element.
*/
static int iter_step(js_iter *it) {
  const char *p = it->p;
  if (p >= it->end)
    return 0;
  while (isws[(unsigned char)*p])
    p++;
  if (*p == ']' || *p == '}') {
    it->p = p;
    return 0;
  }
  if (it->started) { /* *p is the ',' after the previous element */
    p++;
    while (isws[(unsigned char)*p])
      p++;
  }
  it->started = 1;
  it->p = p;
  return 1;
}

/* js_next_member; a value starting at known->p (known may be NULL) is
** stepped over by its length instead of being scanned. */
static int next_member(js_iter *it, js_val *key, js_val *val,
                       const js_val *known) {
  const char *p;
  if (!iter_step(it))
    return 0;
  p = it->p;
  key->type = JS_STRING;
  key->p = p;
  p = skip_string(p + 1, it->end);
  key->n = (size_t)(p - key->p);
  while (*p != ':')
    p++;
  p++;
  while (isws[(unsigned char)*p])
    p++;
  val->p = p;
  if (known != NULL && p == known->p) {
    val->type = known->type;
    p += known->n;
  } else {
    p = skip_value(p, it->end, &val->type);
  }
  val->n = (size_t)(p - val->p);
  it->p = p;
  return 1;
}

/* Next member of an object; see jscan.h. */
int js_next_member(js_iter *it, js_val *key, js_val *val) {
  return next_member(it, key, val, NULL);
}

/* Next element of an array; see jscan.h. */
int js_next_elem(js_iter *it, js_val *val) {
  const char *p;
  if (!iter_step(it))
    return 0;
  val->p = it->p;
  p = skip_value(it->p, it->end, &val->type);
  val->n = (size_t)(p - val->p);
  it->p = p;
  return 1;
}

/* Start on a record's members; see jscan.h. */
void js_memiter_init(js_memiter *m, const js_val *rec, const js_members *mem,
                     size_t i) {
  m->indexed = mem != NULL;
  m->kv = m->kvend = NULL;
  if (!mem)
    js_iter_init(&m->it, rec);
  else if (mem->kv) { /* NULL when no record has a member; NULL + 0 is UB */
    m->kv = mem->kv + 2 * mem->first[i];
    m->kvend = mem->kv + 2 * mem->first[i + 1];
  }
}

/* A record's next member; see jscan.h. */
int js_memiter_next(js_memiter *m, js_val *key, js_val *val) {
  if (!m->indexed)
    return js_next_member(&m->it, key, val);
  if (m->kv == m->kvend)
    return 0;
  *key = m->kv[0];
  *val = m->kv[1];
  m->kv += 2;
  return 1;
}

/* Find a top-level member by unescaped key; see jscan.h. */
int js_find(const js_val *obj, const char *key, size_t keylen, js_val *out) {
  return js_find_past(obj, key, keylen, NULL, out);
}

/* js_find stepping over a known member value; see jscan.h. */
int js_find_past(const js_val *obj, const char *key, size_t keylen,
                 const js_val *known, js_val *out) {
  js_iter it;
  js_val k, v;
  if (obj->type != JS_OBJECT)
    return 0;
  js_iter_init(&it, obj);
  while (next_member(&it, &k, &v, known)) {
    if (js_key_eq(&k, key, keylen)) {
      *out = v;
      return 1;
    }
  }
  return 0;
}

/* Compare a key token with plain bytes, decoding escapes on the fly. */
int js_key_eq(const js_val *key, const char *s, size_t n) {
  const char *p = key->p + 1, *end = key->p + key->n - 1, *bs;
  char d[4];
  size_t dn, run;
  for (;;) {
    bs = memchr(p, '\\', (size_t)(end - p));
    run = (size_t)((bs ? bs : end) - p);
    if (run > n || memcmp(p, s, run) != 0)
      return 0;
    s += run;
    n -= run;
    if (bs == NULL)
      return n == 0;
    p = decode_escape(bs, d, &dn);
    if (dn > n || memcmp(d, s, dn) != 0)
      return 0;
    s += dn;
    n -= dn;
  }
}

/* Exact int64 of a JS_INT literal; see jscan.h. */
int js_int64(const js_val *v, int64_t *out) {
  const char *p = v->p, *end = v->p + v->n;
  uint64_t acc = 0, limit = (uint64_t)INT64_MAX;
  unsigned d;
  int neg = 0;
  if (v->type != JS_INT || v->n == 0)
    return -1;
  if (*p == '-') {
    neg = 1;
    limit += 1; /* |INT64_MIN| */
    p++;
  }
  for (; p < end; p++) {
    d = (unsigned)(*p - '0');
    if (acc > (limit - d) / 10)
      return -1;
    acc = acc * 10 + d;
  }
  if (!neg)
    *out = (int64_t)acc;
  else if (acc == (uint64_t)INT64_MAX + 1)
    *out = INT64_MIN;
  else
    *out = -(int64_t)acc;
  return 0;
}

/*
** strtod of the literal. The literal is copied out because the input need not
** be NUL-terminated after it, and the copy is where '.' becomes the current
** locale's decimal point so the result does not depend on setlocale.
*/
double js_double(const js_val *v) {
  char small[128], *tmp = small, *dot;
  char point = localeconv()->decimal_point[0];
  double d;
  if (v->n >= sizeof small && (tmp = malloc(v->n + 1)) == NULL)
    return NAN;
  memcpy(tmp, v->p, v->n);
  tmp[v->n] = '\0';
  if (point != '.' && point != '\0' && (dot = strchr(tmp, '.')) != NULL)
    *dot = point;
  d = strtod(tmp, NULL);
  if (tmp != small)
    free(tmp);
  return d;
}

/* js_double that flags literals no finite double represents; see jscan.h. */
int js_double_checked(const js_val *v, double *out) {
  const char *p, *end = v->p + v->n;
  double d = js_double(v);
  *out = d;
  if (isinf(d) || isnan(d))
    return -1;
  if (d == 0) {
    for (p = v->p; p < end && *p != 'e' && *p != 'E'; p++)
      if (*p >= '1' && *p <= '9')
        return -1; /* a nonzero literal underflowed to zero */
  }
  return 0;
}

/* Unescape a validated string into dst; see jscan.h. */
size_t js_unescape_to(const js_val *str, char *dst) {
  const char *p = str->p + 1, *end = str->p + str->n - 1, *bs;
  char *d = dst;
  size_t dn;
  while (p < end) {
    bs = memchr(p, '\\', (size_t)(end - p));
    if (bs == NULL) {
      memcpy(d, p, (size_t)(end - p));
      d += end - p;
      break;
    }
    memcpy(d, p, (size_t)(bs - p));
    d += bs - p;
    p = decode_escape(bs, d, &dn);
    d += dn;
  }
  return (size_t)(d - dst);
}

/* Append the unescaped string to out; see jscan.h. */
int js_unescape(const js_val *str, struct buf *out) {
  if (buf_reserve(out, str->n) != 0)
    return -1;
  out->len += js_unescape_to(str, out->data + out->len);
  return 0;
}

/* Minify a validated value into dst; see jscan.h. */
size_t js_minify_to(const js_val *v, char *dst) {
  const char *p = v->p, *end = v->p + v->n, *q;
  char *d = dst;
  if (v->type != JS_ARRAY && v->type != JS_OBJECT) {
    memcpy(d, p, v->n);
    return v->n;
  }
  uint64_t m;
  while (p < end) {
    /* Copy 8 bytes at a time up to the next quote or whitespace: the output
    ** never runs ahead of the input, so d + 8 stays within dst's v->n. */
    while (end - p >= 8) {
      m = minify8(p);
      memcpy(d, p, 8);
      if (m != 0) {
        d += SKIP8(m);
        p += SKIP8(m);
        break;
      }
      d += 8;
      p += 8;
    }
    if (p >= end)
      break;
    if (*p == '"') {
      q = skip_string(p + 1, end);
      memcpy(d, p, (size_t)(q - p));
      d += q - p;
      p = q;
    } else if (isws[(unsigned char)*p]) {
      p++;
    } else {
      *d++ = *p++;
    }
  }
  return (size_t)(d - dst);
}

/* Append the minified value to out; see jscan.h. */
int js_minify(const js_val *v, struct buf *out) {
  if (buf_reserve(out, v->n) != 0)
    return -1;
  out->len += js_minify_to(v, out->data + out->len);
  return 0;
}

/* Offset of the first invalid UTF-8 sequence; see jscan.h. */
size_t js_utf8_check(const char *s, size_t n) {
  const unsigned char *u = (const unsigned char *)s;
  size_t i = 0, k;
  while (i < n) {
    while (n - i >= 8 && (load8(s + i) & HIGHS) == 0)
      i += 8;
    if (i >= n)
      break;
    if ((k = utf8_len(u + i, n - i)) == 0)
      return i;
    i += k;
  }
  return n;
}

/* Name of a js_type; see jscan.h. */
const char *js_type_name(js_type t) {
  switch (t) {
  case JS_NULL:
    return "null";
  case JS_FALSE:
    return "false";
  case JS_TRUE:
    return "true";
  case JS_INT:
    return "integer";
  case JS_FLOAT:
    return "float";
  case JS_STRING:
    return "string";
  case JS_ARRAY:
    return "array";
  case JS_OBJECT:
    return "object";
  }
  return "?";
}
