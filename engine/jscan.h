/*
** jscan.h: a strict, allocation-free JSON scanner over raw bytes (Lua-free).
**
** Why not a tree-building library (jansson, lua-cjson): they convert numbers
** on the way in and print them back with %.17g, so what lands is not what
** Intercom sent. jscan only validates and hands out slices (js_val) of the
** caller's buffer; each consumer converts exactly the value it needs from the
** original literal: an int64 for an integer that fits, the digits themselves
** for one that does not, strtod of the literal for a float, the minified text
** for a nested object or array.
**
** Lifetime: every js_val points into the buffer given to js_parse; keep that
** buffer alive and unchanged while any js_val derived from it is in use.
**
** Two phases: js_parse validates once (RFC 8259 strict, UTF-8 checked, depth
** limited); everything else (iteration, find, unescape, minify) trusts that
** validation and never re-checks, so it must only be given values that came
** from a successful js_parse (or from iterating one).
*/
#ifndef ICX_JSCAN_H
#define ICX_JSCAN_H

#include <stddef.h>
#include <stdint.h>

struct buf;

/* Deepest nesting of arrays/objects js_parse accepts; deeper is an error. */
#define JS_MAX_DEPTH 256

/* Value types. JS_INT is a number literal without fraction or exponent
** (whatever its size, and including "-0"); any other number is JS_FLOAT. */
typedef enum {
  JS_NULL,
  JS_FALSE,
  JS_TRUE,
  JS_INT,
  JS_FLOAT,
  JS_STRING,
  JS_ARRAY,
  JS_OBJECT
} js_type;

/*
** A value inside a buffer the caller keeps alive: p..p+n is its raw text,
** exactly as in the input (strings include their quotes, containers their
** brackets and any inner whitespace).
*/
typedef struct {
  js_type type;
  const char *p; /* borrowed: points into the caller's buffer */
  size_t n;
} js_val;

/* Why js_parse failed: byte offset into the input and a reason such as
** "expected ':' after object key". */
typedef struct {
  size_t offset;
  char msg[96];
} js_err;

/*
** Called by js_parse_list for each element of the list array as soon as the
** element has been validated, so a page is indexed during its one validating
** pass. Return 0 to go on, nonzero to stop the parse (js_parse_list then fails
** with "stopped by callback", e.g. after an allocation failure).
*/
typedef int (*js_elem_fn)(void *ud, const js_val *elem);

/* What js_parse_list learns about the body besides the list's elements. */
typedef struct {
  js_val list;  /* the list array itself; type JS_NULL, p NULL when none */
  int minified; /* 1 when the top-level value has no whitespace outside its
                   strings: then every slice of it is its own minified text
                   (js_minify would copy it unchanged) */
} js_info;

/*
** Validate exactly one JSON value spanning s[0..len) with only whitespace
** around it: RFC 8259 strict (no trailing commas, no NaN/Infinity, no comments,
** no leading zeros, no BOM), strings valid UTF-8 (no overlongs, no encoded
** surrogates), escapes valid including surrogate pairs (a lone \uD800 or
** \uDC00 is an error), nesting at most JS_MAX_DEPTH. Allocates nothing.
** Returns 0 and fills *out, or -1 and fills *err (err may be NULL).
*/
int js_parse(const char *s, size_t len, js_val *out, js_err *err);

/*
** js_parse, and during the same pass call fn(ud, elem) for each element of
** the "list": if key is NULL, the top-level value's elements when it is an
** array; otherwise the elements of the array that is the value of the first
** top-level member named key (keylen bytes, compared after unescaping). No
** calls when there is no such array; the caller tells that case apart with
** js_find afterwards. Elements are reported in order. If the parse fails after
** some calls, the caller must discard what it collected. fn may be NULL.
** info (may be NULL) gets what else the pass learnt (js_info): give info->list
** to js_find_past so finding the body's other members skips the list, and
** where info->minified, use slices as they are instead of minifying them.
*/
int js_parse_list(const char *s, size_t len, const char *key, size_t keylen,
                  js_elem_fn fn, void *ud, js_val *out, js_info *info,
                  js_err *err);

/*
** Called by js_parse_records for each member of each element of the list that
** is an object, in order and before the element's own js_elem_fn call: key is
** the member's key token (quotes included), val its value. Return as for
** js_elem_fn.
*/
typedef int (*js_member_fn)(void *ud, const js_val *key, const js_val *val);

/*
** js_parse_list, and also call mfn(ud, key, val) for every member of every
** element object of the list, so a writer can take a record's members from
** an index instead of scanning the record a second time. mfn may be NULL.
*/
int js_parse_records(const char *s, size_t len, const char *key, size_t keylen,
                     js_elem_fn fn, js_member_fn mfn, void *ud, js_val *out,
                     js_info *info, js_err *err);

/*
** The members of a list's records as js_parse_records reported them: the
** members of record i are kv[2m] (key) and kv[2m + 1] (value) for m in
** [first[i], first[i + 1]); first has one entry per record plus one.
*/
typedef struct {
  const js_val *kv;
  const size_t *first;
} js_members;

/* Iterator over an already-validated array or object. Plain data: copy it to
** save a position. */
typedef struct {
  const char *p;   /* next byte to look at */
  const char *end; /* one past the closing bracket */
  int started;     /* 0 before the first element (no ',' expected yet) */
} js_iter;

/* Start iterating container (JS_ARRAY or JS_OBJECT) from its first element. */
void js_iter_init(js_iter *it, const js_val *container);

/* Next member of an object: fills *key (a JS_STRING token, quotes included)
** and *val. Returns 1, or 0 at the end. */
int js_next_member(js_iter *it, js_val *key, js_val *val);

/* Next element of an array. Returns 1, or 0 at the end. */
int js_next_elem(js_iter *it, js_val *val);

/* The members of one record: from a js_members index when the page has one,
** else scanned from the record. Plain data. */
typedef struct {
  js_iter it;
  const js_val *kv, *kvend; /* the index's members left, when indexed */
  int indexed;              /* 0: scan with it (a page of empty records
                               may have an index whose kv is NULL) */
} js_memiter;

/* Start on record i of a page: from mem (may be NULL) or by scanning rec. */
void js_memiter_init(js_memiter *m, const js_val *rec, const js_members *mem,
                     size_t i);

/* The record's next member, as js_next_member. Returns 1, or 0 at the end. */
int js_memiter_next(js_memiter *m, js_val *key, js_val *val);

/*
** Find the first top-level member of object obj whose unescaped key equals
** key[0..keylen). Returns 1 and fills *out, 0 if absent or obj is not an
** object. Linear: nested values are skipped, not decoded.
*/
int js_find(const js_val *obj, const char *key, size_t keylen, js_val *out);

/*
** js_find, but a member whose value starts where known (a value of obj found
** before, such as the list js_parse_list reported; may be NULL) starts is
** stepped over by known's length instead of being scanned. On a page body
** this makes finding "pages" after "data" cost the members around the list,
** not the list: a whole-page scan per lookup otherwise.
*/
int js_find_past(const js_val *obj, const char *key, size_t keylen,
                 const js_val *known, js_val *out);

/* 1 if the JS_STRING token key unescapes to exactly s[0..n), else 0. No
** allocation, so keys with escapes cost no more than a compare. */
int js_key_eq(const js_val *key, const char *s, size_t n);

/*
** Convert a JS_INT exactly. Returns 0 and sets *out, or -1 (with *out
** untouched) if the literal is outside [INT64_MIN, INT64_MAX] or v is not a
** JS_INT; the caller then keeps the digits (v->p, v->n) as text. "-0" is 0.
*/
int js_int64(const js_val *v, int64_t *out);

/*
** strtod of a JS_INT or JS_FLOAT literal, independent of the C locale's
** decimal point. Out-of-range literals give +-HUGE_VAL or 0 as strtod does;
** use js_double_checked to tell those apart.
*/
double js_double(const js_val *v);

/*
** Like js_double, but return -1 when the literal is not representable as a
** finite double: it overflows to infinity, or a literal with a nonzero digit
** underflows to zero. 0 otherwise, *out set in both cases.
*/
int js_double_checked(const js_val *v, double *out);

/*
** Append the UTF-8 bytes a JS_STRING stands for (quotes removed, escapes
** decoded, \u0000 becomes a NUL byte) to out. Returns 0, or -1 out of memory.
** The result is never longer than str->n - 2 bytes.
*/
int js_unescape(const js_val *str, struct buf *out);

/* js_unescape into dst, which must hold str->n - 2 bytes; returns the length
** written. For callers with their own buffer (e.g. a luaL_Buffer). */
size_t js_unescape_to(const js_val *str, char *dst);

/*
** Append v minified: whitespace outside strings removed, every other byte
** identical (number literals and string escapes are kept as sent). Returns 0,
** or -1 out of memory. The result is never longer than v->n.
*/
int js_minify(const js_val *v, struct buf *out);

/* js_minify into dst, which must hold v->n bytes; returns the length. */
size_t js_minify_to(const js_val *v, char *dst);

/*
** Offset of the first byte of s[0..n) that does not start a well-formed UTF-8
** sequence (the rules js_parse applies inside strings), or n if all of s is
** valid. For encoders that must not emit what js_parse would reject.
*/
size_t js_utf8_check(const char *s, size_t n);

/* A short lower-case name for t: "null", "false", "true", "integer", "float",
** "string", "array", "object". */
const char *js_type_name(js_type t);

#endif
