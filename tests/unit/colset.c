/*
** tests/unit/colset.c: TAP tests of records to columns (engine/colset.c) on
** their own, with no database: which column each member lands in, KEY__2
** for repeats, folded and exact naming, the primary key check, the naming
** hook, the kinds a column widens to, and the overflow object of a wide
** record (with the limit lowered to 3 columns).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "colset.h"
#include "jscan.h"
#include "tap.h"

static const struct icx_cs_style folded = {"icx.test", "Test", 1, NULL};
static const struct icx_cs_style exact = {"icx.test", "Test", 0, NULL};

/* Gather the single record `json` (copied: kept alive in *keep until the
** next call, as a page would be). 0 or -1 with e. */
static int gather(struct icx_cs *cs, const char *json, size_t nth,
                  struct icx_cs_err *e) {
  static char *keep;
  static js_val rec;
  js_err je;
  free(keep);
  keep = strdup(json);
  if (js_parse(keep, strlen(keep), &rec, &je) != 0) {
    printf("Bail out! test record does not parse: %s\n", json);
    exit(2);
  }
  js_memiter ms;
  js_memiter_init(&ms, &rec, NULL, 0);
  return icx_cs_gather(cs, &rec, &ms, nth, e);
}

/* Gather expecting success, reporting the message otherwise. */
static void gather_ok(struct icx_cs *cs, const char *json, const char *name) {
  struct icx_cs_err e;
  if (!tap_ok(gather(cs, json, 1, &e) == 0, name))
    printf("#   %s: %s\n", e.code, e.msg);
}

/* The columns as "name,name,..." in a static buffer. */
static const char *names(const struct icx_cs *cs) {
  static char out[512];
  size_t n = 0;
  out[0] = '\0';
  for (int i = 0; i < cs->ncols; i++)
    n += (size_t)snprintf(out + n, sizeof out - n, "%s%s", i ? "," : "",
                          cs->cols[i].name);
  return out;
}

/* The gathered value of field f as its JSON text, "-" when the record did
** not set it, "?" when there is no such column. */
static const char *value(const struct icx_cs *cs, const char *f) {
  static char out[128];
  int i = icx_cs_find(cs, f, strlen(f));
  if (i < 0)
    return "?";
  if (!icx_cs_has(cs, i))
    return "-";
  snprintf(out, sizeof out, "%.*s", (int)cs->vals[i].n, cs->vals[i].p);
  return out;
}

static void test_members(void) {
  struct icx_cs cs;
  icx_cs_init(&cs, &exact, "t", NULL, 0);
  gather_ok(&cs, "{\"a\":1,\"b\":\"x\"}", "a record gathers");
  TAP_IS_STR(names(&cs), "a,b", "a column per member, in member order");
  TAP_IS_STR(value(&cs, "b"), "\"x\"", "the value is the member's slice");
  gather_ok(&cs, "{\"b\":2,\"c\":null}", "a record in another order");
  TAP_IS_STR(names(&cs), "a,b,c", "only the new member adds a column");
  TAP_IS_STR(value(&cs, "a"), "-", "a member the record lacks is unset");
  TAP_IS_STR(value(&cs, "b"), "2", "a known member finds its column");
  gather_ok(&cs, "{\"c\\u0041\":3}", "an escaped key");
  TAP_IS_STR(names(&cs), "a,b,c,cA", "an escaped key is its unescaped name");
  TAP_IS_INT(cs.ntable, 0, "new columns are pending (ntable is the caller's)");
  icx_cs_clear(&cs);
  TAP_IS_INT(cs.ncols, 0, "clear forgets every column");
  gather_ok(&cs, "{\"z\":1}", "and the set is usable again");
  TAP_IS_STR(names(&cs), "z", "... from scratch");
  icx_cs_free(&cs);
}

static void test_repeats(void) {
  struct icx_cs cs;
  icx_cs_init(&cs, &exact, "t", NULL, 0);
  gather_ok(&cs, "{\"k\":1,\"k\":2,\"k\":3,\"K\":4}", "repeated keys");
  TAP_IS_STR(names(&cs), "k,k__2,k__3,K", "exact: repeats go to KEY__2, __3");
  TAP_IS_STR(value(&cs, "k"), "1", "the first keeps the name");
  TAP_IS_STR(value(&cs, "k__3"), "3", "the third is in k__3");
  gather_ok(&cs, "{\"k\":5,\"k__2\":6,\"k\":7}", "a repeat meets a real k__2");
  TAP_IS_STR(value(&cs, "k__2"), "6", "the record's own k__2 keeps it");
  TAP_IS_STR(value(&cs, "k__3"), "7", "the repeat takes the next free one");
  icx_cs_free(&cs);

  icx_cs_init(&cs, &folded, "t", NULL, 0);
  gather_ok(&cs, "{\"Id\":1,\"ID\":2,\"name\":3}", "case variants, folded");
  TAP_IS_STR(names(&cs), "Id,ID__2,name", "folded: a case variant is a repeat");
  TAP_IS_INT(icx_cs_find(&cs, "iD", 2), 0, "lookups fold ASCII case");
  TAP_IS_INT(icx_cs_find(&cs, "id__2", 5), 1, "... KEY__2 names too");
  icx_cs_free(&cs);
}

static void test_refusals(void) {
  struct icx_cs cs;
  struct icx_cs_err e;
  const char *pk[] = {"id"};
  icx_cs_init(&cs, &folded, "t", pk, 1);
  TAP_IS_INT(gather(&cs, "[1]", 3, &e), -1, "an array is not a record");
  TAP_IS_STR(e.code, "record", "... code record");
  TAP_IS_STR(e.msg, "icx.test: table 't': record 3 is an array, not an object",
             "... the message names the record and the type");
  TAP_IS_INT(gather(&cs, "{\"a\":1}", 2, &e), -1, "a missing primary key");
  TAP_IS_STR(e.msg,
             "icx.test: table 't': record 2 has no value for its primary "
             "key 'id'",
             "... says which");
  TAP_IS_INT(gather(&cs, "{\"ID\":null}", 1, &e), -1, "a null primary key");
  TAP_IS_STR(e.code, "record", "... is refused too");
  gather_ok(&cs, "{\"ID\":\"9\"}", "a case variant of the key is the key");
  TAP_IS_INT(cs.cols[cs.pkcol[0]].pk, 1, "the key's column is marked");
  TAP_IS_INT(gather(&cs, "{\"id\":1,\"a\\u0000b\":1}", 1, &e), -1,
             "a NUL byte in a name");
  TAP_IS_STR(e.code, "record", "... code record");
  tap_ok(strstr(e.msg, "no Test column name can") != NULL,
         "... the message names the database");

  char rec[16000];
  size_t n = (size_t)snprintf(rec, sizeof rec, "{\"id\":1");
  for (int i = 0; i < 1000; i++)
    n += (size_t)snprintf(rec + n, sizeof rec - n, ",\"r\":%d", i);
  snprintf(rec + n, sizeof rec - n, "}");
  TAP_IS_INT(gather(&cs, rec, 1, &e), -1, "a key repeated 1000 times");
  TAP_IS_STR(e.msg, "icx.test: table 't': a key repeated 1000 times",
             "... is refused with a message");
  icx_cs_free(&cs);
}

static void test_ids(void) {
  struct icx_cs cs;
  struct icx_cs_err e;
  const char *pk[] = {"key"};
  icx_cs_init(&cs, &exact, "t", pk, 1);
  TAP_IS_INT(icx_cs_add_pk(&cs, &e), 0, "the key columns of a new table");
  TAP_IS_STR(names(&cs), "key", "... come first");
  gather_ok(&cs, "{\"key\":1,\"id\":2,\"user_id\":3,\"paid\":4,\"Team_ID\":5}",
            "id-named members");
  const char *want[] = {"key", "id", "user_id", "paid", "Team_ID"};
  const int kind[] = {ICX_K_ID, ICX_K_ID, ICX_K_ID, ICX_K_NULL, ICX_K_ID};
  for (int i = 0; i < 5; i++) {
    char name[80];
    int c = icx_cs_find(&cs, want[i], strlen(want[i]));
    snprintf(name, sizeof name, "'%s' is %san id column", want[i],
             kind[i] == ICX_K_ID ? "" : "not ");
    TAP_IS_INT(c >= 0 ? cs.cols[c].kind : -1, kind[i], name);
  }
  icx_cs_free(&cs);
}

/* The kind field f widens to over the records of json (an array). */
static const char *widened(const char *json) {
  struct icx_cs cs;
  struct icx_cs_err e;
  static char out[64];
  js_val top, rec;
  js_err je;
  js_iter it;
  char *text = strdup(json);
  icx_cs_init(&cs, &exact, "t", NULL, 0);
  if (js_parse(text, strlen(text), &top, &je) != 0)
    return "bad test";
  js_iter_init(&it, &top);
  snprintf(out, sizeof out, "?");
  for (size_t nth = 1; js_next_elem(&it, &rec); nth++) {
    js_memiter ms;
    js_memiter_init(&ms, &rec, NULL, 0);
    if (icx_cs_gather(&cs, &rec, &ms, nth, &e) != 0 ||
        icx_cs_widen(&cs, nth, &e) != 0) {
      snprintf(out, sizeof out, "%s", e.code);
      goto done;
    }
  }
  snprintf(out, sizeof out, "%s", icx_cs_kind_name(cs.cols[0].want));
done:
  icx_cs_free(&cs);
  free(text);
  return out;
}

static void test_kinds(void) {
  TAP_IS_STR(widened("[{\"f\":null}]"), "null", "null alone stays null");
  TAP_IS_STR(widened("[{\"f\":null},{\"f\":true}]"), "boolean",
             "null -> boolean");
  TAP_IS_STR(widened("[{\"f\":1},{\"f\":-9223372036854775808}]"), "bigint",
             "integers in int64: bigint");
  TAP_IS_STR(widened("[{\"f\":9223372036854775808}]"), "numeric",
             "an integer beyond int64: numeric");
  TAP_IS_STR(widened("[{\"f\":1.5}]"), "double", "a non-integer: double");
  TAP_IS_STR(widened("[{\"f\":1},{\"f\":1.5}]"), "numeric",
             "integers and non-integers mixed: numeric");
  TAP_IS_STR(widened("[{\"f\":1e400}]"), "json", "no double holds it: json");
  TAP_IS_STR(widened("[{\"f\":\"a\"}]"), "text", "a string: text");
  TAP_IS_STR(widened("[{\"f\":\"a\\u0000\"}]"), "json",
             "a string with \\u0000: json");
  TAP_IS_STR(widened("[{\"f\":\"a\"},{\"f\":1}]"), "json",
             "a string and a number: json");
  TAP_IS_STR(widened("[{\"f\":[1]},{\"f\":null}]"), "json",
             "an array: json, null keeps it");
  TAP_IS_STR(widened("[{\"f\":true},{\"f\":1}]"), "json",
             "boolean and a number: json");
  TAP_IS_STR(widened("[{\"id\":5},{\"id\":[1]}]"), "id",
             "an id column stays id whatever comes");
  TAP_IS_STR(widened("[{\"id\":\"a\\u0000\"}]"), "record",
             "an id string with \\u0000 is refused");
  TAP_IS_INT(icx_cs_kind_named("double"), ICX_K_FLOAT, "kinds by stored name");
  TAP_IS_INT(icx_cs_kind_named("float"), -1, "... an unknown one is -1");
}

/* A naming hook that upper-cases, to see the hook's name used. */
static char *upper(const struct icx_cs *cs, const char *field, size_t len) {
  char *s = malloc(len + 1);
  (void)cs;
  if (s) {
    for (size_t i = 0; i < len; i++)
      s[i] =
          (char)(field[i] >= 'a' && field[i] <= 'z' ? field[i] - 32 : field[i]);
    s[len] = '\0';
  }
  return s;
}

static void test_naming(void) {
  static const struct icx_cs_style hooked = {"icx.test", "Test", 0, upper};
  struct icx_cs cs;
  struct icx_cs_err e;
  struct buf b = {0};
  const char *pk[] = {"b"};
  icx_cs_init(&cs, &hooked, "t", pk, 1);
  gather_ok(&cs, "{\"a\":1,\"b\":2,\"c\\\"q\":3}", "with a naming hook");
  TAP_IS_STR(names(&cs), "A,B,C\"Q", "the hook names new columns");
  TAP_IS_STR(cs.cols[0].field, "a", "the field keeps the member's name");
  TAP_IS_INT(icx_cs_add(&cs, "d", 1, "given", ICX_K_TEXT, &e), 3,
             "a column added with a name");
  TAP_IS_STR(cs.cols[3].name, "given", "... keeps that name");
  TAP_IS_INT(cs.cols[3].kind, ICX_K_TEXT, "... and its kind");
  cs.cols[2].user = 1;
  icx_cs_put_names(&cs, &b, ICX_CS_ALL, ", ");
  TAP_IS_STR(buf_cstr(&b), "\"A\", \"B\", \"C\"\"Q\", \"given\"",
             "put_names: all, quoted");
  buf_reset(&b);
  icx_cs_put_names(&cs, &b, ICX_CS_PK, ",");
  TAP_IS_STR(buf_cstr(&b), "\"B\"", "put_names: the primary key");
  buf_reset(&b);
  icx_cs_put_names(&cs, &b, ICX_CS_OWN, ",");
  TAP_IS_STR(buf_cstr(&b), "\"A\",\"B\",\"given\"",
             "put_names: without user columns");
  buf_free(&b);
  icx_cs_free(&cs);
}

/* A column set with pk id whose table gives at most 3 fields columns. */
static void narrow(struct icx_cs *cs, const struct icx_cs_style *st) {
  const char *pk[] = {"id"};
  icx_cs_init(cs, st, "t", pk, 1);
  cs->limit = 3;
}

static void test_overflow(void) {
  struct icx_cs cs;
  struct icx_cs_err e;
  TAP_IS_INT(ICX_CS_MAX_FIELDS, 300, "the documented limit: 300 columns");
  narrow(&cs, &exact);
  gather_ok(&cs, "{\"id\":1,\"a\":2}", "a record within the limit");
  TAP_IS_STR(names(&cs), "id,a", "... makes no overflow column");
  TAP_IS_INT(cs.overcol, -1, "... none yet");
  TAP_IS_INT((int)cs.extra, 0, "... and nothing extra");
  gather_ok(&cs,
            "{\"id\":2,\"a\":3,\"b\":4,\"c\":9223372036854775808,"
            "\"d\": {\"x\": [1, 2.50]}}",
            "a record beyond it");
  TAP_IS_STR(names(&cs), "id,a,b,_icx_overflow",
             "the first fields met take the room, then the overflow column");
  TAP_IS_STR(value(&cs, "_icx_overflow"),
             "{\"c\":9223372036854775808,\"d\":{\"x\": [1, 2.50]}}",
             "the rest as one object, values as sent");
  TAP_IS_INT((int)cs.extra, (int)strlen(value(&cs, "_icx_overflow")),
             "extra is the object's length");
  TAP_IS_INT(cs.vals[cs.overcol].type, JS_OBJECT, "... an object");
  gather_ok(&cs, "{\"e\":5,\"id\":3,\"c\":1,\"b\":null}", "a later record");
  TAP_IS_STR(value(&cs, "_icx_overflow"), "{\"e\":5,\"c\":1}",
             "a new field overflows, an overflowed one still does");
  TAP_IS_STR(value(&cs, "b"), "null", "a field with a column keeps it");
  TAP_IS_STR(names(&cs), "id,a,b,_icx_overflow", "no column is added");
  gather_ok(&cs, "{\"id\":4,\"a\":1}", "a record with no field beyond");
  TAP_IS_STR(value(&cs, "_icx_overflow"), "-", "... leaves it unset (NULL)");
  TAP_IS_INT((int)cs.extra, 0, "... and extra 0");
  gather_ok(&cs,
            "{\"id\":5,\"c\":1,\"c\":2,\"a\":3,\"a\":4,\"\\u0063\":5,"
            "\"_icx_overflow\":6,\"C\":7}",
            "repeats beyond the limit");
  TAP_IS_STR(value(&cs, "_icx_overflow"),
             "{\"c\":1,\"c__2\":2,\"a__2\":4,\"\\u0063__3\":5,"
             "\"_icx_overflow__2\":6,\"C\":7}",
             "KEY__2 as with columns; the column's own name is a repeat");
  TAP_IS_INT(gather(&cs, "{\"a\":1,\"x\":2}", 6, &e), -1,
             "the primary key is still checked");
  TAP_IS_STR(e.code, "record", "... code record");
  gather_ok(&cs, "{\"id\":7,\"z\":1}", "one more");
  TAP_IS_INT(icx_cs_widen(&cs, 1, &e), 0, "widens");
  TAP_IS_INT(cs.cols[cs.overcol].want, ICX_K_JSON, "the overflow column: json");
  icx_cs_free(&cs);

  narrow(&cs, &folded);
  gather_ok(&cs, "{\"id\":1,\"a\":1,\"b\":1,\"c\":1,\"c\":2,\"C\":3}",
            "folded names");
  TAP_IS_STR(value(&cs, "_icx_overflow"), "{\"c\":1,\"c__2\":2,\"C__3\":3}",
             "a case variant of an overflowed field is a repeat");
  gather_ok(&cs, "{\"id\":1,\"_ICX_OVERFLOW\":1}", "a variant of its name");
  TAP_IS_STR(value(&cs, "_icx_overflow"), "{\"_ICX_OVERFLOW__2\":1}",
             "... is a repeat of the overflow column");
  icx_cs_free(&cs);

  narrow(&cs, &exact);
  gather_ok(&cs, "{\"id\":1,\"_icx_overflow\":1}", "the name, no overflow");
  TAP_IS_STR(names(&cs), "id,_icx_overflow__2",
             "a field named _icx_overflow never is the overflow column");
  TAP_IS_INT(cs.overcol, -1, "... which is not made");
  icx_cs_clear(&cs);
  TAP_IS_INT(icx_cs_add(&cs, "id", 2, NULL, ICX_K_ID, &e), 0, "load: id");
  TAP_IS_INT(icx_cs_add(&cs, "_icx_overflow", 13, "_icx_overflow_1a2b", 0, &e),
             1, "load: a field _icx_overflow renamed by the database");
  TAP_IS_INT(cs.overcol, -1, "... is a field's column");
  TAP_IS_INT(icx_cs_add(&cs, "x", 1, NULL, ICX_K_NULL, &e), 2, "load: x");
  TAP_IS_INT(
      icx_cs_add(&cs, "_icx_overflow__9", 16, "_icx_overflow", ICX_K_JSON, &e),
      3, "load: another field in a column of that name");
  TAP_IS_INT(cs.overcol, -1, "... is not it either");
  icx_cs_clear(&cs);
  icx_cs_add(&cs, "id", 2, NULL, ICX_K_ID, &e);
  icx_cs_add(&cs, "a", 1, NULL, ICX_K_ID, &e);
  TAP_IS_INT(
      icx_cs_add(&cs, "_icx_overflow", 13, "_icx_overflow", ICX_K_JSON, &e), 2,
      "load: the overflow column");
  TAP_IS_INT(cs.overcol, 2, "... is known as such");
  cs.ntable = cs.ncols;
  gather_ok(&cs, "{\"id\":1,\"b\":2,\"c\":3}", "a loaded table with room");
  TAP_IS_STR(names(&cs), "id,a,_icx_overflow,b",
             "the overflow column does not count against the limit");
  TAP_IS_STR(value(&cs, "_icx_overflow"), "{\"c\":3}", "... then it is full");
  icx_cs_free(&cs);

  /* Many overflowed members: the spill index grows and is emptied per
  ** record. */
  narrow(&cs, &folded);
  char rec[40000];
  for (int round = 0; round < 2; round++) {
    size_t n = (size_t)snprintf(rec, sizeof rec, "{\"id\":1");
    for (int i = 0; i < 2000; i++)
      n += (size_t)snprintf(rec + n, sizeof rec - n, ",\"k%d\":%d", i,
                            i + round);
    snprintf(rec + n, sizeof rec - n, "}");
    gather_ok(&cs, rec, round ? "the same keys again" : "2,000 fields");
  }
  const char *o = value(&cs, "_icx_overflow");
  TAP_IS_INT(strncmp(o, "{\"k2\":3,\"k3\":4,", 15), 0,
             "... beyond the first two, in the object");
  TAP_IS_INT((int)cs.nspill, 1998, "... every one of them");
  icx_cs_free(&cs);
}

int main(void) {
  test_members();
  test_repeats();
  test_refusals();
  test_ids();
  test_kinds();
  test_naming();
  test_overflow();
  return tap_done();
}
