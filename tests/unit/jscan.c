/*
** tests/unit/jscan.c: TAP tests of the JSON scanner (engine/jscan.c) and the
** byte buffer (engine/buf.c). Each invalid document is checked for the byte
** offset and the reason, because those are what a user sees when Intercom
** (or a proxy in front of it) sends a broken body.
*/
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jscan.h"

static int ntests, nfailed;

/* Print one TAP line. */
static void ok(int cond, const char *fmt, ...) {
  va_list ap;
  ntests++;
  if (!cond)
    nfailed++;
  printf("%sok %d - ", cond ? "" : "not ", ntests);
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
}

/* A TAP diagnostic line. */
static void diag(const char *fmt, ...) {
  va_list ap;
  printf("# ");
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
}

/* s[0..n) as a printable C-escaped test name (at most ~48 bytes shown),
** in one of two static buffers so a line can show two. */
static const char *show(const char *s, size_t n) {
  static char bufs[2][256];
  static int which;
  char *o = bufs[which ^= 1];
  size_t i, k = 0;
  for (i = 0; i < n && k < 48; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c < 0x7F && c != '#')
      o[k++] = (char)c;
    else
      k += (size_t)sprintf(o + k, "\\x%02X", c);
  }
  if (i < n)
    k += (size_t)sprintf(o + k, "...");
  o[k] = '\0';
  return o;
}

/* A string literal with its length, so documents may contain NUL bytes. */
#define L(s) s, sizeof(s) - 1

/*
** Parse s[0..n) into a private heap copy so AddressSanitizer and valgrind
** catch any read past the end (string literals have a NUL and neighbours).
** The copy is leaked into *keep for the caller to free.
*/
static int parse_copy(const char *s, size_t n, js_val *v, js_err *e,
                      char **keep) {
  char *c = malloc(n ? n : 1);
  memcpy(c, s, n);
  *keep = c;
  return js_parse(c, n, v, e);
}

/* A valid document of the expected top-level type. */
static void valid(const char *s, size_t n, js_type type) {
  js_val v;
  js_err e;
  char *c;
  int rc = parse_copy(s, n, &v, &e, &c);
  ok(rc == 0 && v.type == type, "valid %s: %s", js_type_name(type), show(s, n));
  if (rc != 0)
    diag("error at %zu: %s", e.offset, e.msg);
  free(c);
}

/* An invalid document failing at offset with a reason containing msg. */
static void invalid(const char *s, size_t n, size_t offset, const char *msg) {
  js_val v;
  js_err e;
  char *c;
  int rc = parse_copy(s, n, &v, &e, &c);
  ok(rc == -1 && e.offset == offset && strstr(e.msg, msg) != NULL,
     "invalid at %zu (%s): %s", offset, msg, show(s, n));
  if (rc != -1)
    diag("unexpectedly valid");
  else if (e.offset != offset || strstr(e.msg, msg) == NULL)
    diag("got offset %zu: %s", e.offset, e.msg);
  free(c);
}

/* Parse a document known to be valid (a test bug otherwise). */
static js_val must(const char *s, size_t n) {
  js_val v;
  js_err e;
  if (js_parse(s, n, &v, &e) != 0) {
    diag("test document invalid at %zu: %s", e.offset, e.msg);
    v.type = JS_NULL;
    v.p = s;
    v.n = 0;
  }
  return v;
}

static void test_valid(void) {
  valid(L("null"), JS_NULL);
  valid(L("true"), JS_TRUE);
  valid(L("false"), JS_FALSE);
  valid(L("0"), JS_INT);
  valid(L("-0"), JS_INT);
  valid(L("123"), JS_INT);
  valid(L("-9223372036854775808"), JS_INT);
  valid(L("18446744073709551616"), JS_INT);
  valid(L("0.1"), JS_FLOAT);
  valid(L("1e-07"), JS_FLOAT);
  valid(L("1E+2"), JS_FLOAT);
  valid(L("-0.0e0"), JS_FLOAT);
  valid(L("1.0"), JS_FLOAT);
  valid(L("\"\""), JS_STRING);
  valid(L("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0000\\u00e9\""), JS_STRING);
  valid(L("\"\\ud83d\\ude00\""), JS_STRING);
  valid(L("\"\\uD83D\\uDE00\""), JS_STRING);
  valid(L("\"\xF0\x9F\x98\x80 \xE6\xBC\xA2\xE5\xAD\x97 \xC3\xA9\""), JS_STRING);
  valid(L("\"\xEF\xBF\xBF\xF4\x8F\xBF\xBF\xED\x9F\xBF\""), JS_STRING);
  valid(L("[]"), JS_ARRAY);
  valid(L("{}"), JS_OBJECT);
  valid(L(" \t\r\n[ ]\n"), JS_ARRAY);
  valid(L("{ }"), JS_OBJECT);
  valid(L("[1,2.5,\"x\",true,false,null,{},[]]"), JS_ARRAY);
  valid(L("{\"a\":{\"b\":[{\"c\":null}]},\"d\":\"\"}"), JS_OBJECT);
  valid(L("{\"a\":1,\"a\":2}"), JS_OBJECT); /* RFC 8259 allows duplicates */
  valid(L("\"a long string that exercises the eight-byte fast path...\""),
        JS_STRING);
}

static void test_invalid(void) {
  invalid(L(""), 0, "empty document");
  invalid(L("   "), 3, "empty document");
  invalid(L("[1,]"), 3, "trailing comma before ']'");
  invalid(L("{\"a\":1,}"), 7, "trailing comma before '}'");
  invalid(L("{\"a\" 1}"), 5, "expected ':' after object key");
  invalid(L("{\"a\":1 \"b\":2}"), 7, "expected ',' or '}'");
  invalid(L("[1 2]"), 3, "expected ',' or ']'");
  invalid(L("{a:1}"), 1, "expected '\"' to start an object key");
  invalid(L("{1:1}"), 1, "expected '\"' to start an object key");
  invalid(L("[1"), 2, "unexpected end of input in array");
  invalid(L("{\"a\":1"), 6, "unexpected end of input in object");
  invalid(L("{\"a\":"), 5, "unexpected end of input, expected a value");
  invalid(L("[1,"), 3, "unexpected end of input, expected a value");
  invalid(L("NaN"), 0, "NaN and Infinity");
  invalid(L("[Infinity]"), 1, "NaN and Infinity");
  invalid(L("-Infinity"), 1, "expected digit after '-'");
  invalid(L("+1"), 0, "unexpected character '+'");
  invalid(L("01"), 0, "leading zeros");
  invalid(L("-012"), 1, "leading zeros");
  invalid(L("1."), 2, "expected digit after '.'");
  invalid(L("1.e5"), 2, "expected digit after '.'");
  invalid(L(".5"), 0, "unexpected character '.'");
  invalid(L("1e"), 2, "expected digit in exponent");
  invalid(L("1e+"), 3, "expected digit in exponent");
  invalid(L("0x10"), 1, "unexpected data after the JSON value");
  invalid(L("tru"), 0, "invalid literal (expected 'true')");
  invalid(L("nul"), 0, "invalid literal (expected 'null')");
  invalid(L("True"), 0, "unexpected character 'T'");
  invalid(L("1 2"), 2, "unexpected data after the JSON value");
  invalid(L("{} x"), 3, "unexpected data after the JSON value");
  invalid(L("\"abc"), 4, "unterminated string (opened at byte 0)");
  invalid(L("[\"abc\\"), 6, "unterminated string");
  invalid(L("\"a\tb\""), 2, "unescaped control byte 0x09");
  invalid(L("\"a\nb\""), 2, "unescaped control byte 0x0A");
  invalid(L("\"\\x\""), 1, "invalid escape '\\x'");
  invalid(L("\"\\u12\""), 1, "invalid \\u escape");
  invalid(L("\"\\u12G4\""), 1, "invalid \\u escape");
  invalid(L("\"\\ud800\""), 1, "lone high surrogate \\uD800");
  invalid(L("\"\\ud800\\u0041\""), 1, "lone high surrogate");
  invalid(L("\"\\ud800\\ud800\""), 1, "lone high surrogate");
  invalid(L("\"x\\udc00\""), 2, "lone low surrogate \\uDC00");
  invalid(L("\"\\ude00\\ud83d\""), 1, "lone low surrogate");
  invalid(L("\"\xC0\xAF\""), 1, "invalid UTF-8 byte 0xC0"); /* overlong '/' */
  invalid(L("\"\xE0\x80\xAF\""), 1, "invalid UTF-8 byte 0xE0");
  invalid(L("\"\xED\xA0\x80\""), 1, "invalid UTF-8"); /* encoded surrogate */
  invalid(L("\"\xF4\x90\x80\x80\""), 1, "invalid UTF-8"); /* > U+10FFFF */
  invalid(L("\"\xF5\x80\x80\x80\""), 1, "invalid UTF-8");
  invalid(L("\"ab\x80\""), 3, "invalid UTF-8 byte 0x80");
  invalid(L("\"\xE6\xBC\""), 1, "invalid UTF-8"); /* truncated */
  invalid(L("\"\xFF\""), 1, "invalid UTF-8 byte 0xFF");
  invalid(L("\"12345678\xC3\""), 9, "invalid UTF-8"); /* after a fast block */
  invalid(L("\xEF\xBB\xBF{}"), 0, "unexpected byte 0xEF"); /* BOM */
  invalid(L("[\0]"), 1, "unexpected byte 0x00");
  invalid(L("\"a\0b\""), 2, "unescaped control byte 0x00");
  invalid(L("{} \0"), 3, "unexpected data");
  invalid(L("// c\n{}"), 0, "unexpected character '/'");
  invalid(L("[1,2]]"), 5, "unexpected data after the JSON value");
  invalid(L("{\"a\":1}}"), 7, "unexpected data after the JSON value");
  invalid(L("[}"), 1, "unexpected character '}'");
  invalid(L("{\"a\":]"), 5, "unexpected character ']'");
  invalid(L("'a'"), 0, "unexpected character '''");
}

/* Nesting of exactly n arrays: "[[[...]]]". */
static char *nest(int n) {
  char *s = malloc((size_t)n * 2 + 1);
  memset(s, '[', (size_t)n);
  memset(s + n, ']', (size_t)n);
  s[2 * n] = '\0';
  return s;
}

static void test_depth(void) {
  char *s = nest(JS_MAX_DEPTH);
  js_val v;
  js_err e;
  ok(js_parse(s, strlen(s), &v, &e) == 0 && v.type == JS_ARRAY,
     "depth %d accepted", JS_MAX_DEPTH);
  free(s);
  s = nest(JS_MAX_DEPTH + 1);
  ok(js_parse(s, strlen(s), &v, &e) == -1 && e.offset == JS_MAX_DEPTH &&
         strstr(e.msg, "nesting deeper than 256") != NULL,
     "depth %d rejected at the offending bracket", JS_MAX_DEPTH + 1);
  free(s);
  s = nest(100000); /* no recursion, so no stack overflow either */
  ok(js_parse(s, strlen(s), &v, &e) == -1 && e.offset == JS_MAX_DEPTH,
     "depth 100000 rejected without recursion");
  free(s);
  s = malloc(3000);
  memset(s, 0, 3000);
  strcpy(s, "{\"a\":");
  for (int i = 0; i < 255; i++)
    strcat(s, "{\"a\":");
  strcat(s, "1");
  for (int i = 0; i < 256; i++)
    strcat(s, "}");
  ok(js_parse(s, strlen(s), &v, &e) == 0, "256 nested objects accepted");
  free(s);
}

/* js_int64 of a document that must be one integer. */
static void int64_is(const char *s, int64_t want) {
  js_val v = must(s, strlen(s));
  int64_t got = 12345;
  int rc = js_int64(&v, &got);
  ok(rc == 0 && got == want, "int64 %s", s);
  if (rc != 0 || got != want)
    diag("rc %d got %lld", rc, (long long)got);
}

/* js_int64 must refuse s (out of range or not an integer). */
static void int64_fails(const char *s) {
  js_val v = must(s, strlen(s));
  int64_t got = 12345;
  ok(js_int64(&v, &got) == -1 && got == 12345, "int64 refuses %s", s);
}

static void test_int64(void) {
  int64_is("0", 0);
  int64_is("-0", 0);
  int64_is("1700000000", 1700000000);
  int64_is("9007199254740993", INT64_C(9007199254740993));
  int64_is("9223372036854775807", INT64_MAX);
  int64_is("-9223372036854775807", -INT64_MAX);
  int64_is("-9223372036854775808", INT64_MIN);
  int64_fails("9223372036854775808");
  int64_fails("-9223372036854775809");
  int64_fails("18446744073709551616");
  int64_fails("99999999999999999999999999999");
  int64_fails("1.0");
  int64_fails("1e3");
  int64_fails("\"1\"");
}

/* js_double of s must be exactly want (bit for bit, so -0 counts). */
static void double_is(const char *s, double want) {
  js_val v = must(s, strlen(s));
  double got = js_double(&v), chk;
  int rc = js_double_checked(&v, &chk);
  ok(memcmp(&got, &want, sizeof got) == 0 && rc == 0 && chk == got, "double %s",
     s);
  if (memcmp(&got, &want, sizeof got) != 0)
    diag("got %.17g want %.17g", got, want);
}

static void test_double(void) {
  double_is("0.1", 0.1);
  double_is("1e-07", 1e-07);
  double_is("1.5e300", 1.5e300);
  double_is("5e-324", 5e-324);
  double_is("2.2250738585072014e-308", DBL_MIN);
  double_is("1.7976931348623157e308", DBL_MAX);
  double_is("-0.0", -0.0);
  double_is("-0", -0.0);
  double_is("1.0", 1.0);
  double_is("9007199254740993", 9007199254740992.0);
  double_is("0.1000000000000000055511151231257827021181583404541015625"
            "00000000000000000000000000000000000000000000000000000000000000"
            "00000000000000000000000000000000000000000000000000000000000000",
            0.1); /* longer than js_double's stack buffer */
  {
    js_val v = must(L("1e400"));
    double d;
    ok(js_double_checked(&v, &d) == -1 && isinf(d), "1e400 overflows");
    v = must(L("-1e400"));
    ok(js_double_checked(&v, &d) == -1 && isinf(d) && d < 0,
       "-1e400 overflows");
    v = must(L("1e-400"));
    ok(js_double_checked(&v, &d) == -1 && d == 0, "1e-400 underflows");
    v = must(L("0e-400"));
    ok(js_double_checked(&v, &d) == 0 && d == 0, "0e-400 is a plain zero");
  }
}

/* Unescaped bytes of the string document s must be want[0..wn). */
static void unescape_is(const char *s, size_t n, const char *want, size_t wn) {
  js_val v = must(s, n);
  struct buf b = {0};
  char *dst = malloc(n);
  size_t dn = js_unescape_to(&v, dst);
  int rc = js_unescape(&v, &b);
  ok(rc == 0 && b.len == wn && memcmp(b.data, want, wn) == 0 && dn == wn &&
         memcmp(dst, want, wn) == 0,
     "unescape %s", show(s, n));
  buf_free(&b);
  free(dst);
}

static void test_unescape(void) {
  unescape_is(L("\"\""), L(""));
  unescape_is(L("\"plain\""), L("plain"));
  unescape_is(L("\"\\u0000\""), L("\0"));
  unescape_is(L("\"a\\u0001b\""), L("a\001b"));
  unescape_is(L("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\""), L("\"\\/\b\f\n\r\t"));
  unescape_is(L("\"\\u00e9\\u20AC\""), L("\xC3\xA9\xE2\x82\xAC"));
  unescape_is(L("\"\\ud83d\\ude00\""), L("\xF0\x9F\x98\x80"));
  unescape_is(L("\"\\uDBFF\\uDFFF\""), L("\xF4\x8F\xBF\xBF"));
  unescape_is(L("\"\xF0\x9F\x98\x80\xE6\xBC\xA2\xE5\xAD\x97\""),
              L("\xF0\x9F\x98\x80\xE6\xBC\xA2\xE5\xAD\x97"));
  unescape_is(L("\"x\\\\y\\\"z\""), L("x\\y\"z"));
}

/* Minified s must be want (NUL-terminated). */
static void minify_is(const char *s, const char *want) {
  js_val v = must(s, strlen(s));
  struct buf b = {0};
  int rc = js_minify(&v, &b);
  ok(rc == 0 && b.len == strlen(want) && memcmp(b.data, want, b.len) == 0,
     "minify %s", show(s, strlen(s)));
  if (rc == 0 && (b.len != strlen(want) || memcmp(b.data, want, b.len) != 0))
    diag("got %s", show(b.data, b.len));
  buf_free(&b);
}

static void test_minify(void) {
  minify_is(" { \"a\" : [ 1 , 2.50 , 1e-07 ] ,\n\t\"b\" : { } } ",
            "{\"a\":[1,2.50,1e-07],\"b\":{}}");
  minify_is("[ \" spaced  string \" , \"\\\" \\\\ \" ]",
            "[\" spaced  string \",\"\\\" \\\\ \"]");
  minify_is("[]", "[]");
  minify_is("[ ]", "[]");
  minify_is("{ }", "{}");
  minify_is("  18446744073709551616  ", "18446744073709551616");
  minify_is("\"\\u00e9 kept escaped\"", "\"\\u00e9 kept escaped\"");
  minify_is("[-0, 1E+2, 0.10]", "[-0,1E+2,0.10]");
}

static void test_find_iter(void) {
  const char *doc = "{ \"type\" : \"list\", \"data\" : [ {\"id\":1}, "
                    "{\"id\":\"2\",\"x\":[1,{\"]\":\"}\"}]} , 3 ] ,"
                    " \"a\\u0062c\": true, \"pages\": {\"next\": null},"
                    " \"e\\\"q\": -1.5e3, \"n\": 12 }";
  js_val top = must(doc, strlen(doc)), v, k, e;
  js_iter it;
  int n = 0, ids = 0;
  int64_t i64;
  ok(js_find(&top, L("type"), &v) && v.type == JS_STRING && v.n == 6 &&
         memcmp(v.p, "\"list\"", 6) == 0,
     "find type");
  ok(js_find(&top, L("abc"), &v) && v.type == JS_TRUE, "find escaped key");
  ok(js_find(&top, L("e\"q"), &v) && v.type == JS_FLOAT &&
         js_double(&v) == -1500.0,
     "find key with escaped quote");
  ok(js_find(&top, L("n"), &v) && v.type == JS_INT && v.n == 2,
     "find last member, number at the end");
  ok(!js_find(&top, L("ab"), &v), "prefix of a key does not match");
  ok(!js_find(&top, L("nope"), &v), "missing key");
  ok(js_find(&top, L("pages"), &v) && v.type == JS_OBJECT &&
         js_find(&v, L("next"), &e) && e.type == JS_NULL,
     "find nested");
  ok(js_find(&top, L("data"), &v) && v.type == JS_ARRAY, "find data");
  js_iter_init(&it, &v);
  while (js_next_elem(&it, &e)) {
    n++;
    if (e.type == JS_OBJECT && js_find(&e, L("id"), &k))
      ids++;
  }
  ok(n == 3 && ids == 2, "iterate data: 3 elements, 2 with id");
  ok(!js_next_elem(&it, &e), "iterator stays at end");
  js_iter_init(&it, &top);
  n = 0;
  while (js_next_member(&it, &k, &e))
    n++;
  ok(n == 6, "iterate members: 6");
  js_iter_init(&it, &top);
  ok(js_next_member(&it, &k, &e) && js_key_eq(&k, L("type")) &&
         js_next_member(&it, &k, &e) && js_key_eq(&k, L("data")) &&
         e.type == JS_ARRAY && e.p[e.n - 1] == ']',
     "member slices cover whole values");
  {
    js_val arr = must(L("[ ]")), obj = must(L("{ }")), num = must(L("5"));
    js_iter_init(&it, &arr);
    ok(!js_next_elem(&it, &e), "empty array iterates nothing");
    js_iter_init(&it, &obj);
    ok(!js_next_member(&it, &k, &e), "empty object iterates nothing");
    js_iter_init(&it, &num);
    ok(!js_next_elem(&it, &e), "a scalar iterates nothing");
    ok(!js_find(&arr, L("x"), &e), "find in an array finds nothing");
  }
  {
    js_val a = must(L("[1,-2,3.5,\"s\",true,false,null,[],{},1e5]"));
    js_type want[] = {JS_INT,   JS_INT,  JS_FLOAT, JS_STRING, JS_TRUE,
                      JS_FALSE, JS_NULL, JS_ARRAY, JS_OBJECT, JS_FLOAT};
    int good = 1;
    n = 0;
    js_iter_init(&it, &a);
    while (js_next_elem(&it, &e))
      good &= n < 10 && e.type == want[n++];
    ok(good && n == 10, "iteration types");
    js_iter_init(&it, &a);
    js_next_elem(&it, &e);
    js_next_elem(&it, &e);
    ok(js_int64(&e, &i64) == 0 && i64 == -2, "iterated int converts");
  }
  {
    js_val key = must(L("\"a\\u00e9\\ud83d\\ude00\\n\""));
    ok(js_key_eq(&key, L("a\xC3\xA9\xF0\x9F\x98\x80\n")), "key_eq escapes");
    ok(!js_key_eq(&key, L("a\xC3\xA9\xF0\x9F\x98\x80")), "key_eq length");
    ok(!js_key_eq(&key, L("a\\u00e9")), "key_eq raw is not equal");
    key = must(L("\"\""));
    ok(js_key_eq(&key, "", 0) && !js_key_eq(&key, L("a")), "key_eq empty");
  }
}

/* Collects js_parse_list elements. */
typedef struct {
  js_val v[16];
  int n;
  int stop_at; /* stop the parse when n reaches this, 0 never */
} collect;

/* js_elem_fn for the tests. */
static int collect_fn(void *ud, const js_val *elem) {
  collect *c = ud;
  if (c->n < 16)
    c->v[c->n] = *elem;
  c->n++;
  return c->stop_at != 0 && c->n >= c->stop_at;
}

/* Strip whitespace outside strings byte by byte: the reference js_minify
** must agree with. */
static size_t ref_minify(const char *s, size_t n, char *out) {
  size_t i, o = 0;
  int in = 0;
  for (i = 0; i < n; i++) {
    char c = s[i];
    if (in) {
      out[o++] = c;
      if (c == '\\')
        out[o++] = s[++i];
      else if (c == '"')
        in = 0;
    } else if (c == '"') {
      in = 1;
      out[o++] = c;
    } else if (c != ' ' && c != '\n' && c != '\t' && c != '\r') {
      out[o++] = c;
    }
  }
  return o;
}

/* The scans pass over eight bytes at a time and jump to the first byte that
** matters: put every such byte (quote, escape, bracket, whitespace, UTF-8) at
** every offset of a word and check find, skip and minify still agree. */
static void test_word_offsets(void) {
  static const char *const fills[] = {"x", " ", "1", "\xC3\xA9"};
  char doc[256], want[256], got[256];
  int pad, f, bad = 0;
  for (f = 0; f < 4; f++) {
    for (pad = 0; pad < 20; pad++) {
      char fill[64] = "";
      js_val top, v;
      size_t n, wn;
      int i;
      for (i = 0; i < pad; i++)
        strcat(fill, fills[f]);
      n = (size_t)snprintf(
          doc, sizeof doc,
          "{\"a\":[%s1, \"%s\\\"%s\" ,{\"k\" : [ 2%s, [3] ]%s},"
          "\"%s\"] ,\"%s\":%s{\"%s\":[]} ,\"b\" :true}",
          f == 1 ? fill : "", f == 1 ? "" : fill, fill, f == 1 ? fill : "",
          f == 1 ? fill : "", f == 1 ? "" : fill, f == 1 ? "c" : fill,
          f == 1 ? fill : "", f == 1 ? "d" : fill);
      if (js_parse(doc, n, &top, NULL) != 0) {
        bad++;
        continue;
      }
      if (!js_find(&top, L("b"), &v) || v.type != JS_TRUE)
        bad++;
      if (!js_find(&top, L("a"), &v) || v.type != JS_ARRAY ||
          v.p[v.n - 1] != ']')
        bad++;
      wn = ref_minify(doc, n, want);
      if (js_minify_to(&top, got) != wn || memcmp(got, want, wn) != 0)
        bad++;
    }
  }
  ok(bad == 0, "find and minify at every offset of a word");
}

static void test_parse_list(void) {
  const char *body = "{\"type\":\"list\",\"pages\":{\"data\":[9]},"
                     "\"data\":[ {\"id\":\"1\",\"data\":[7]} , [2] , 3 ,"
                     "\"s\" ,{} ],\"data\":[8],\"total_count\":4}";
  collect c = {0};
  js_val top, v, f;
  js_info info;
  js_err e;
  int rc = js_parse_list(body, strlen(body), L("data"), collect_fn, &c, &top,
                         &info, &e);
  ok(rc == 0 && c.n == 5,
     "list: 5 records, nested and duplicate 'data' ignored");
  ok(c.n >= 5 && c.v[0].type == JS_OBJECT && c.v[0].p[0] == '{' &&
         c.v[0].p[c.v[0].n - 1] == '}' && c.v[1].type == JS_ARRAY &&
         c.v[1].n == 3 && c.v[2].type == JS_INT && c.v[2].n == 1 &&
         c.v[3].type == JS_STRING && c.v[4].type == JS_OBJECT && c.v[4].n == 2,
     "list: element slices and types");
  ok(js_find(&top, L("data"), &v) && v.p < c.v[0].p &&
         c.v[4].p + c.v[4].n < v.p + v.n,
     "list: js_find agrees on the first 'data'");
  ok(info.list.type == JS_ARRAY && info.list.p == v.p && info.list.n == v.n,
     "list: the list array itself is reported");
  ok(js_find_past(&top, L("total_count"), &info.list, &f) && f.type == JS_INT &&
         f.n == 1 && f.p[0] == '4',
     "find_past: a member after the list");
  ok(js_find_past(&top, L("pages"), &info.list, &f) && f.type == JS_OBJECT &&
         js_find_past(&top, L("data"), &info.list, &v) && v.p == info.list.p &&
         v.n == info.list.n && v.type == JS_ARRAY,
     "find_past: before the list, and the list itself");
  ok(!js_find_past(&top, L("nope"), &info.list, &f) &&
         js_find_past(&top, L("type"), NULL, &f) && f.type == JS_STRING,
     "find_past: a missing key; known NULL is js_find");

  c.n = 0;
  rc = js_parse_list(L("[ {\"a\":1}, 2.5 ,[[]] ]"), NULL, 0, collect_fn, &c,
                     &top, &info, &e);
  ok(rc == 0 && c.n == 3 && c.v[1].type == JS_FLOAT && c.v[2].n == 4 &&
         info.list.p == top.p && info.list.n == top.n &&
         info.list.type == JS_ARRAY,
     "list: top-level array with key NULL");
  c.n = 0;
  rc = js_parse_list(L("{\"data\":[1]}"), NULL, 0, collect_fn, &c, &top, &info,
                     &e);
  ok(rc == 0 && c.n == 0 && info.list.p == NULL && info.list.type == JS_NULL,
     "list: key NULL on an object reports nothing");
  c.n = 0;
  rc = js_parse_list(L("{\"data\":null,\"x\":[1]}"), L("data"), collect_fn, &c,
                     &top, &info, &e);
  ok(rc == 0 && c.n == 0 && info.list.p == NULL,
     "list: non-array member reports nothing");
  c.n = 0;
  rc = js_parse_list(L("{\"data\":null,\"data\":[1]}"), L("data"), collect_fn,
                     &c, &top, &info, &e);
  ok(rc == 0 && c.n == 0 && info.list.p == NULL,
     "list: only the first member counts");
  c.n = 0;
  rc = js_parse_list(L("{\"d\\u0061ta\":[1,2]}"), L("data"), collect_fn, &c,
                     &top, &info, &e);
  ok(rc == 0 && c.n == 2, "list: escaped key matches");
  c.n = 0;
  rc = js_parse_list(L("{\"data\":[]}"), L("data"), collect_fn, &c, &top, &info,
                     &e);
  ok(rc == 0 && c.n == 0 && info.list.n == 2 && info.list.p[0] == '[',
     "list: empty list");
  c.n = 0;
  c.stop_at = 2;
  rc = js_parse_list(L("[1,2,3]"), NULL, 0, collect_fn, &c, &top, &info, &e);
  ok(rc == -1 && c.n == 2 && strstr(e.msg, "stopped by callback") &&
         e.offset == 4,
     "list: callback stops the parse");
  c.n = 0;
  c.stop_at = 0;
  rc = js_parse_list(L("{\"data\":[1,2,}"), L("data"), collect_fn, &c, &top,
                     &info, &e);
  ok(rc == -1 && e.offset == 13, "list: errors still reported");

  rc = js_parse_list(L(" {\"data\":[{\"a\":\"x y\",\"b\":[1,{}]}]}\n"),
                     L("data"), NULL, NULL, &top, &info, &e);
  ok(rc == 0 && info.minified == 1 && info.list.p != NULL,
     "minified: spaces in strings and around the body do not count; fn NULL");
  rc = js_parse_list(L("{\"data\":[{\"a\":1,\"b\":[1, 2]}]}"), L("data"), NULL,
                     NULL, &top, &info, &e);
  ok(rc == 0 && info.minified == 0, "minified: a space between elements");
  rc = js_parse_list(L("{\"data\":[{\"a\" :1}]}"), L("data"), NULL, NULL, &top,
                     &info, &e);
  ok(rc == 0 && info.minified == 0, "minified: a space before ':'");
  rc = js_parse_list(L("[\n]"), NULL, 0, NULL, NULL, &top, &info, &e);
  ok(rc == 0 && info.minified == 0, "minified: a newline in an empty array");
}

static void test_utf8_check(void) {
  ok(js_utf8_check(L("plain ascii, long enough for blocks")) == 35,
     "utf8 ascii");
  ok(js_utf8_check(L("\xF0\x9F\x98\x80\xE6\xBC\xA2")) == 7, "utf8 valid");
  ok(js_utf8_check(L("abcdefghij\xC0\xAF")) == 10, "utf8 overlong at 10");
  ok(js_utf8_check(L("ab\xED\xA0\x80")) == 2, "utf8 surrogate at 2");
  ok(js_utf8_check(L("ab\xE6\xBC")) == 2, "utf8 truncated at 2");
  ok(js_utf8_check(L("\0")) == 1, "utf8 NUL is valid");
}

static void test_buf(void) {
  struct buf b;
  int i, good = 1;
  buf_init(&b);
  ok(b.data == NULL && b.len == 0, "buf_init is empty");
  for (i = 0; i < 10000; i++)
    good &= buf_putc(&b, 'a' + i % 26) == 0;
  ok(good && b.len == 10000 && b.data[9999] == 'a' + 9999 % 26, "buf_putc");
  ok(buf_append(&b, L("xyz")) == 0 && b.len == 10003 &&
         strcmp(buf_cstr(&b) + 10000, "xyz") == 0,
     "buf_append and buf_cstr");
  buf_reset(&b);
  ok(b.len == 0 && b.cap > 0, "buf_reset keeps memory");
  ok(buf_reserve(&b, SIZE_MAX) == -1 && b.len == 0, "buf_reserve overflow");
  buf_free(&b);
  buf_free(&b);
  ok(b.data == NULL && b.cap == 0, "buf_free twice");
}

static void test_types(void) {
  ok(strcmp(js_type_name(JS_INT), "integer") == 0 &&
         strcmp(js_type_name(JS_OBJECT), "object") == 0,
     "type names");
}

/* Members as js_parse_records reports them, each as "key=value" text, and
** the member count when each element ended. */
typedef struct {
  char seen[1024];
  size_t len, members, at_elem[16], nelem;
} members;

static int member_fn(void *ud, const js_val *key, const js_val *val) {
  members *m = ud;
  m->len +=
      (size_t)snprintf(m->seen + m->len, sizeof m->seen - m->len, "%.*s=%.*s;",
                       (int)key->n, key->p, (int)val->n, val->p);
  m->members++;
  return 0;
}

static int elem_count_fn(void *ud, const js_val *elem) {
  members *m = ud;
  (void)elem;
  if (m->nelem < 16)
    m->at_elem[m->nelem++] = m->members;
  return 0;
}

static int stop_member_fn(void *ud, const js_val *key, const js_val *val) {
  (void)ud;
  (void)key;
  return val->type == JS_ARRAY;
}

static void test_parse_records(void) {
  const char *body = "{\"pages\":{\"data\":[{\"no\":1}]},\"data\":[ "
                     "{\"id\":\"1\", \"a\\u0062\" : {\"x\":[1,{\"y\":2}]},"
                     "\"t\":[\"q\"]} , [ {\"in\":1} ] , 3 , {} ,"
                     "{\"id\":2,\"id\":null} ],\"after\":{\"z\":1}}";
  members m = {0};
  js_val top;
  js_info info;
  js_err e;
  int rc = js_parse_records(body, strlen(body), L("data"), elem_count_fn,
                            member_fn, &m, &top, &info, &e);
  ok(rc == 0, "records: the body parses");
  ok(strcmp(m.seen, "\"id\"=\"1\";\"a\\u0062\"={\"x\":[1,{\"y\":2}]};"
                    "\"t\"=[\"q\"];\"id\"=2;\"id\"=null;") == 0,
     "records: only the list's objects' own members, keys and values as "
     "written: %s",
     show(m.seen, m.len));
  ok(m.nelem == 5 && m.at_elem[0] == 3 && m.at_elem[1] == 3 &&
         m.at_elem[2] == 3 && m.at_elem[3] == 3 && m.at_elem[4] == 5,
     "records: each element's members come before the element");
  rc = js_parse_records(L("[{\"a\":1,\"b\":[2]}]"), NULL, 0, NULL,
                        stop_member_fn, NULL, &top, &info, &e);
  ok(rc == -1 && strstr(e.msg, "stopped by callback") != NULL,
     "records: a member callback can stop the parse");
  memset(&m, 0, sizeof m);
  rc = js_parse_records(L("{\"id\":1,\"k\":2}"), NULL, 0, elem_count_fn,
                        member_fn, &m, &top, &info, &e);
  ok(rc == 0 && m.members == 0 && m.nelem == 0,
     "records: a lone object is not a list: no calls");
}

/* js_memiter over an index and by scanning give the same members; an index
** of records with no member at all has a NULL kv (nothing was ever stored),
** which once sent the iterator into its uninitialised scanner (found by
** fuzz_record: tests/fuzz/regress/record/empty-records-null-index.json). */
static void test_memiter(void) {
  js_val key, val, rec = must(L("{\"a\":1,\"b\":[2]}"));
  js_val k2 = {0}, v2 = {0};
  js_val kv[6]; /* the record's two members, and room for the failed call */
  size_t first[2] = {0, 2}, none[3] = {0, 0, 0};
  js_memiter m, scan;
  js_iter it;
  int n = 0, same = 1;
  js_iter_init(&it, &rec);
  while (js_next_member(&it, &kv[2 * n], &kv[2 * n + 1]))
    n++;
  js_members mem = {kv, first};
  js_memiter_init(&m, &rec, &mem, 0);
  js_memiter_init(&scan, &rec, NULL, 0);
  n = 0;
  while (js_memiter_next(&m, &key, &val)) {
    same &= js_memiter_next(&scan, &k2, &v2) && key.p == k2.p &&
            val.p == v2.p && val.n == v2.n;
    n++;
  }
  ok(n == 2 && same && !js_memiter_next(&scan, &k2, &v2),
     "memiter: the index gives the members the scan does");

  js_val empty = must(L("{}"));
  js_members nokv = {NULL, none};
  js_iter_init(&m.it, &rec); /* a stale iterator, as a reused stack slot */
  js_memiter_init(&m, &empty, &nokv, 1);
  ok(!js_memiter_next(&m, &key, &val),
     "memiter: an index without members (kv NULL) gives none");
}

int main(void) {
  test_valid();
  test_invalid();
  test_depth();
  test_int64();
  test_double();
  test_unescape();
  test_minify();
  test_find_iter();
  test_parse_list();
  test_parse_records();
  test_memiter();
  test_word_offsets();
  test_utf8_check();
  test_buf();
  test_types();
  printf("1..%d\n", ntests);
  return nfailed != 0;
}
