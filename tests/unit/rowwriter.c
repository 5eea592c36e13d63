/*
** tests/unit/rowwriter.c: TAP tests of the typed record writer
** (engine/rowwriter.c) on an in-memory SQLite database, with no Lua. Each
** value is checked for its SQLite storage class as well as its text, because
** "lossless" means the type survives too: an int64 must stay INTEGER, a
** number beyond int64 must become the TEXT of its digits, never a REAL.
*/
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "jscan.h"
#include "rowwriter.h"
#include "tap.h"

/* At most this many records, and members in all, per test page. */
#define MAX_RECS 16
#define MAX_KV 512

/* Every test runs twice: records scanned by the writer, then with the
** member index the validating pass makes (js_parse_records). */
static int use_index;

/* A parsed page: the text (kept alive for the slices) and its records. */
typedef struct {
  char *text;
  js_val recs[MAX_RECS];
  size_t n;
  int minified; /* js_info.minified of the text */
  js_val kv[MAX_KV];
  size_t first[MAX_RECS + 1], nkv;
} Page;

static int on_elem(void *ud, const js_val *elem) {
  Page *pg = ud;
  if (pg->n == MAX_RECS)
    return 1;
  pg->recs[pg->n++] = *elem;
  pg->first[pg->n] = pg->nkv / 2;
  return 0;
}

static int on_member(void *ud, const js_val *key, const js_val *val) {
  Page *pg = ud;
  if (pg->nkv + 2 > MAX_KV)
    return 1;
  pg->kv[pg->nkv++] = *key;
  pg->kv[pg->nkv++] = *val;
  return 0;
}

/* Parse a JSON array of records into pg (text copied, so callers may pass
** literals); aborts the test run on invalid input, a bug in the test. */
static void page_of(Page *pg, const char *json) {
  js_val top;
  js_info info;
  js_err err;
  size_t len = strlen(json);
  pg->text = malloc(len + 1);
  memcpy(pg->text, json, len + 1);
  pg->n = pg->nkv = 0;
  pg->first[0] = 0;
  if (js_parse_records(pg->text, len, NULL, 0, on_elem, on_member, pg, &top,
                       &info, &err) != 0 ||
      top.type != JS_ARRAY) {
    printf("Bail out! test page does not parse: %s\n", json);
    exit(2);
  }
  pg->minified = info.minified;
}

/* Write the JSON array `json` through w; returns icx_rw_write's result. */
static int write_page(struct icx_rw *w, const char *json,
                      struct icx_cs_err *e) {
  Page pg;
  page_of(&pg, json);
  js_members mem = {pg.kv, pg.first};
  int rc =
      icx_rw_write(w, pg.recs, pg.n, pg.minified, use_index ? &mem : NULL, e);
  /* The slices are dead from here: the writer must not keep pointers. */
  memset(pg.text, 'X', strlen(pg.text));
  free(pg.text);
  return rc;
}

/* Write json expecting success; reports the writer's message otherwise. */
static void write_ok(struct icx_rw *w, const char *json, const char *name) {
  struct icx_cs_err e;
  if (!tap_ok(write_page(w, json, &e) == 0, name))
    printf("#   %s: %s\n", e.code, e.msg);
}

/* The first column of the first row of a printf-formatted query as
** "type:text" (typeof, then the value cast to text), in a static buffer;
** "none" when there is no row. */
static const char *cell(sqlite3 *db, const char *fmt, ...) {
  static char out[512];
  char sql[512];
  va_list ap;
  sqlite3_stmt *st;
  va_start(ap, fmt);
  vsnprintf(sql, sizeof sql, fmt, ap);
  va_end(ap);
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
    snprintf(out, sizeof out, "sql error: %s", sqlite3_errmsg(db));
    return out;
  }
  if (sqlite3_step(st) != SQLITE_ROW) {
    snprintf(out, sizeof out, "none");
  } else {
    const char *type = sqlite3_column_type(st, 0) == SQLITE_INTEGER ? "integer"
                       : sqlite3_column_type(st, 0) == SQLITE_FLOAT ? "real"
                       : sqlite3_column_type(st, 0) == SQLITE_TEXT  ? "text"
                       : sqlite3_column_type(st, 0) == SQLITE_NULL  ? "null"
                                                                    : "blob";
    const unsigned char *v = sqlite3_column_text(st, 0);
    snprintf(out, sizeof out, "%s:%s", type, v ? (const char *)v : "");
  }
  sqlite3_finalize(st);
  return out;
}

/* The first column of the first row of sql as a double (NaN without a
** row). Compared in C with strtod, not in SQL: SQLite parses literals with
** long double, which valgrind only emulates at double precision. */
static double real_of(sqlite3 *db, const char *sql) {
  sqlite3_stmt *st;
  double d = NAN;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
    return d;
  if (sqlite3_step(st) == SQLITE_ROW)
    d = sqlite3_column_double(st, 0);
  sqlite3_finalize(st);
  return d;
}

/* The columns of w joined by commas, in a static buffer. */
static const char *columns(const struct icx_rw *w) {
  static char out[512];
  size_t k = 0;
  out[0] = '\0';
  for (int i = 0; i < icx_rw_ncolumns(w); i++) {
    size_t len;
    const char *name = icx_rw_column(w, i, &len);
    k += (size_t)snprintf(out + k, sizeof out - k, "%s%.*s", i ? "," : "",
                          (int)len, name);
  }
  return out;
}

/* A fresh in-memory database. */
static sqlite3 *open_db(void) {
  sqlite3 *db = NULL;
  if (sqlite3_open(":memory:", &db) != SQLITE_OK) {
    printf("Bail out! cannot open an in-memory database\n");
    exit(2);
  }
  return db;
}

/* Run sql, which the test expects to succeed. */
static void exec(sqlite3 *db, const char *sql) {
  char *msg = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
    printf("Bail out! %s: %s\n", sql, msg ? msg : "?");
    exit(2);
  }
}

/* The table appears on first write with the primary key, a column for each
** field, and id columns declared TEXT; later fields add columns; a second
** record with the same key replaces the row whole. */
static void test_schema_and_upsert(void) {
  sqlite3 *db = open_db();
  const char *pk[] = {"id"};
  struct icx_rw *w = icx_rw_new(db, "contacts", pk, 1);
  struct icx_cs_err e;
  TAP_IS_STR(icx_rw_table(w), "contacts", "table name kept");
  TAP_IS_INT(icx_rw_write(w, NULL, 0, 0, NULL, &e), 0,
             "an empty page succeeds");
  TAP_IS_STR(cell(db, "SELECT sql FROM sqlite_schema WHERE name='contacts'"),
             "text:CREATE TABLE \"contacts\" (\"id\" TEXT NOT NULL, PRIMARY "
             "KEY (\"id\"))",
             "an empty first page still creates the table, key only");
  write_ok(w, "[{\"id\":1,\"name\":\"Ann\",\"company_id\":7}]", "first page");
  TAP_IS_STR(columns(w), "id,name,company_id", "columns in field order");
  TAP_IS_STR(cell(db, "SELECT type FROM pragma_table_info('contacts') "
                      "WHERE name='company_id'"),
             "text:TEXT", "an *_id column is declared TEXT");
  TAP_IS_STR(cell(db, "SELECT type FROM pragma_table_info('contacts') "
                      "WHERE name='name'"),
             "text:", "other columns are untyped (no affinity)");
  TAP_IS_STR(cell(db, "SELECT id FROM contacts"), "text:1",
             "a numeric id lands as TEXT");
  TAP_IS_STR(cell(db, "SELECT company_id FROM contacts"), "text:7",
             "a numeric *_id lands as TEXT");
  write_ok(w, "[{\"id\":\"2\",\"name\":\"Bo\",\"vip\":true}]",
           "a page with a new field");
  TAP_IS_STR(columns(w), "id,name,company_id,vip", "the new field is a column");
  TAP_IS_STR(cell(db, "SELECT vip FROM contacts WHERE id='2'"), "integer:1",
             "true lands as 1");
  TAP_IS_STR(cell(db, "SELECT typeof(vip) FROM contacts WHERE id='1'"),
             "text:null", "older rows get NULL in the new column");
  write_ok(w, "[{\"id\":1,\"name\":\"Ann B\"}]", "the same key again");
  TAP_IS_STR(cell(db, "SELECT count(*) FROM contacts"), "integer:2",
             "upsert: still two rows");
  TAP_IS_STR(cell(db, "SELECT name FROM contacts WHERE id='1'"), "text:Ann B",
             "upsert: the new value wins");
  TAP_IS_STR(cell(db, "SELECT typeof(company_id) FROM contacts WHERE id='1'"),
             "text:null", "upsert: a field the new record lacks becomes NULL");
  write_ok(w, "[{\"id\":3,\"Name\":\"Cy\",\"NAME\":\"no\"}]",
           "a key differing only in case");
  TAP_IS_STR(columns(w), "id,name,company_id,vip,NAME__2",
             "a case variant in the same record gets a suffixed column");
  TAP_IS_STR(cell(db, "SELECT name FROM contacts WHERE id='3'"), "text:Cy",
             "the first of the case variants keeps the column");
  TAP_IS_STR(cell(db, "SELECT NAME__2 FROM contacts WHERE id='3'"), "text:no",
             "the second is not lost");
  write_ok(w, "[{\"id\":4,\"NAME\":\"Di\"}]", "a case variant alone");
  TAP_IS_STR(cell(db, "SELECT name FROM contacts WHERE id='4'"), "text:Di",
             "alone in its record it shares the column, as SQLite names do");
  /* A column someone added is theirs: a merge leaves it alone. */
  tap_ok(sqlite3_exec(db,
                      "ALTER TABLE contacts ADD COLUMN note;"
                      "UPDATE contacts SET note = 'mine'",
                      NULL, NULL, NULL) == SQLITE_OK,
         "a user adds a column");
  icx_rw_forget(w);
  write_ok(w, "[{\"id\":1,\"name\":\"Ann C\"}]", "a merge after it");
  TAP_IS_STR(cell(db, "SELECT note FROM contacts WHERE id='1'"), "text:mine",
             "the user's column survives the merge");
  TAP_IS_STR(cell(db, "SELECT name FROM contacts WHERE id='1'"), "text:Ann C",
             "and icx's columns are updated");
  write_ok(w, "[{\"id\":1,\"name\":\"Ann C\",\"note\":\"api\"}]",
           "a field of that name arrives");
  TAP_IS_STR(cell(db, "SELECT note FROM contacts WHERE id='1'"), "text:api",
             "then the column is icx's");
  icx_rw_free(w);
  sqlite3_close(db);
}

/* Numbers land exactly: int64 as INTEGER, beyond it as the TEXT of its
** digits, floats as the double of the literal (or TEXT when none holds it),
** containers as minified JSON, strings unescaped. */
static void test_values(void) {
  sqlite3 *db = open_db();
  const char *pk[] = {"id"};
  struct icx_rw *w = icx_rw_new(db, "v", pk, 1);
  write_ok(w,
           "[{\"id\":\"a\",\"max\":9223372036854775807,"
           "\"min\":-9223372036854775808,\"big\":9223372036854775808,"
           "\"neg\":-99999999999999999999,\"p53\":9007199254740993,"
           "\"f\":0.1,\"e\":1.5e300,\"inf\":1e400,\"zero\":-0,"
           "\"obj\":{ \"b\" : [1, 2.50 ,null] , \"c\":{}},\"arr\":[ ],"
           "\"s\":\"caf\\u00e9 \\\"q\\\"\\n\",\"n\":null,\"no\":false}]",
           "a record of every kind of value");
  TAP_IS_STR(cell(db, "SELECT max FROM v"), "integer:9223372036854775807",
             "int64 max exact");
  TAP_IS_STR(cell(db, "SELECT min FROM v"), "integer:-9223372036854775808",
             "int64 min exact");
  TAP_IS_STR(cell(db, "SELECT big FROM v"), "text:9223372036854775808",
             "beyond int64: TEXT of the digits");
  TAP_IS_STR(cell(db, "SELECT neg FROM v"), "text:-99999999999999999999",
             "below int64: TEXT of the digits");
  TAP_IS_STR(cell(db, "SELECT p53 FROM v"), "integer:9007199254740993",
             "2^53+1 stays an exact integer");
  TAP_IS_STR(cell(db, "SELECT zero FROM v"), "integer:0", "-0 is integer 0");
  tap_ok(real_of(db, "SELECT f FROM v") == strtod("0.1", NULL),
         "0.1 is the double strtod gives for the literal");
  TAP_IS_STR(cell(db, "SELECT typeof(f) || typeof(e) FROM v"), "text:realreal",
             "floats are REAL");
  tap_ok(real_of(db, "SELECT e FROM v") == strtod("1.5e300", NULL),
         "1.5e300 exact");
  TAP_IS_STR(cell(db, "SELECT inf FROM v"), "text:1e400",
             "a float no double holds: TEXT of the literal");
  TAP_IS_STR(cell(db, "SELECT obj FROM v"),
             "text:{\"b\":[1,2.50,null],\"c\":{}}",
             "an object lands as minified JSON text, literals kept");
  TAP_IS_STR(cell(db, "SELECT arr FROM v"), "text:[]", "an empty array: []");
  write_ok(w,
           "[{\"id\":\"b\",\"obj\":{\"b\":[1,\"x y\",2.50,null],\"c\":{}},"
           "\"arr\":[]}]",
           "a minified page: containers bound as they are");
  TAP_IS_STR(cell(db, "SELECT obj || arr FROM v WHERE id = 'b'"),
             "text:{\"b\":[1,\"x y\",2.50,null],\"c\":{}}[]",
             "a minified page's containers land unchanged");
  TAP_IS_STR(cell(db, "SELECT s FROM v"), "text:caf\xc3\xa9 \"q\"\n",
             "strings are unescaped to UTF-8");
  TAP_IS_STR(cell(db, "SELECT typeof(n) FROM v"), "text:null", "null: NULL");
  TAP_IS_STR(cell(db, "SELECT no FROM v"), "integer:0", "false: 0");
  icx_rw_free(w);
  sqlite3_close(db);
}

/* What the writer refuses, with its codes: they are what the run reports. */
static void test_errors(void) {
  sqlite3 *db = open_db();
  const char *pk[] = {"id"};
  struct icx_rw *w = icx_rw_new(db, "t", pk, 1);
  struct icx_cs_err e;
  size_t n = 99;
  TAP_IS_INT(write_page(w, "[{\"id\":1,\"a\\u0000b\":2}]", &e), -1,
             "a key with a NUL byte is refused");
  TAP_IS_STR(e.code, "record", "NUL key: code record");
  tap_ok(strstr(e.msg, "NUL byte") != NULL, "NUL key: the message says why");
  TAP_IS_INT(write_page(w, "[{\"id\":1},[1]]", &e), -1,
             "an array record is refused");
  TAP_IS_STR(e.msg,
             "icx.sqlite: table 't': record 2 is an array, not an object",
             "non-object: the message counts the record");
  TAP_IS_INT(write_page(w, "[{\"name\":\"x\"}]", &e), -1,
             "a record without its key is refused");
  TAP_IS_STR(e.msg,
             "icx.sqlite: table 't': record 1 has no value for its "
             "primary key 'id'",
             "missing key: named in the message");
  TAP_IS_INT(write_page(w, "[{\"id\":null}]", &e), -1,
             "a null key is refused too");
  TAP_IS_INT(icx_rw_write_json(w, "{\"id\":1,}", 9, &n, &e), -1,
             "invalid JSON text is refused");
  TAP_IS_STR(e.msg,
             "icx.sqlite: table 't': invalid JSON at byte 8: "
             "trailing comma before '}'",
             "invalid JSON: the byte offset and reason");
  TAP_IS_STR(e.code, "record", "invalid JSON: code record");
  exec(db, "CREATE TABLE s (id TEXT PRIMARY KEY, n CHECK (n < 10))");
  icx_rw_free(w);
  w = icx_rw_new(db, "s", pk, 1);
  TAP_IS_INT(write_page(w, "[{\"id\":1,\"n\":20}]", &e), -1,
             "a failed CHECK is an error");
  TAP_IS_STR(e.code, "constraint", "CHECK: code constraint");
  icx_rw_free(w);
  const char *other[] = {"key"};
  w = icx_rw_new(db, "s", other, 1);
  TAP_IS_INT(write_page(w, "[{\"key\":1}]", &e), -1,
             "an existing table with another primary key is refused");
  TAP_IS_STR(e.code, "schema", "other key: code schema");
  icx_rw_free(w);
  TAP_IS_STR(icx_rw_code(SQLITE_BUSY), "busy", "SQLITE_BUSY: busy");
  TAP_IS_STR(icx_rw_code(SQLITE_IOERR_WRITE), "io",
             "extended codes map by their primary code");
  sqlite3_close(db);
}

/* JSON text (the transform path), composite keys, a hostile table name, and
** a rollback that undoes the table the writer made. */
static void test_text_and_rollback(void) {
  sqlite3 *db = open_db();
  const char *pk[] = {"contact_id", "tag_id"};
  struct icx_rw *w = icx_rw_new(db, "we\"ird", pk, 2);
  struct icx_cs_err e;
  size_t n = 0;
  const char *two = "[{\"contact_id\":1,\"tag_id\":2},"
                    "{\"contact_id\":1,\"tag_id\":3,\"x\":1}]";
  TAP_IS_INT(icx_rw_write_json(w, two, strlen(two), &n, &e), 0,
             "an array of records as text");
  TAP_IS_INT(n, 2, "text: both records counted");
  TAP_IS_STR(cell(db, "SELECT count(*) FROM \"we\"\"ird\""), "integer:2",
             "a quote in the table name is quoted");
  const char *one = "{\"contact_id\":1,\"tag_id\":3,\"x\":2}";
  TAP_IS_INT(icx_rw_write_json(w, one, strlen(one), &n, &e), 0,
             "one record object as text");
  TAP_IS_STR(cell(db, "SELECT x FROM \"we\"\"ird\" WHERE tag_id='3'"),
             "integer:2", "composite key: upserted on both columns");
  icx_rw_free(w);

  const char *id[] = {"id"};
  w = icx_rw_new(db, "r", id, 1);
  exec(db, "BEGIN");
  write_ok(w, "[{\"id\":1,\"a\":1}]", "a write inside a transaction");
  exec(db, "ROLLBACK");
  TAP_IS_STR(cell(db, "SELECT count(*) FROM sqlite_schema WHERE name='r'"),
             "integer:0", "the rollback removed the table");
  icx_rw_forget(w);
  write_ok(w, "[{\"id\":2,\"b\":1}]", "after forget, the next write");
  TAP_IS_STR(columns(w), "id,b", "the table is made again from scratch");
  TAP_IS_STR(cell(db, "SELECT b FROM r WHERE id='2'"), "integer:1",
             "and the row is there");
  exec(db, "ALTER TABLE r ADD COLUMN added_elsewhere");
  write_ok(w, "[{\"id\":3,\"c\":1}]",
           "a write after another connection's "
           "ALTER TABLE");
  TAP_IS_STR(columns(w), "id,b,added_elsewhere,c",
             "the schema change is noticed without forget");
  icx_rw_free(w);
  icx_rw_free(NULL);
  sqlite3_close(db);
}

/* "added/changed/same" of the writer's last write, in a static buffer. */
static const char *counts(const struct icx_rw *w) {
  static char out[64];
  struct icx_rw_counts c = icx_rw_counts(w);
  snprintf(out, sizeof out, "%lld/%lld/%lld", c.added, c.changed, c.same);
  return out;
}

static void test_compare(void) {
  sqlite3 *db = open_db();
  const char *id[] = {"id"};
  struct icx_rw *w = icx_rw_new(db, "c", id, 1);
  tap_ok(icx_rw_compare(w, "updated_at") == 0, "compare on updated_at");
  write_ok(w, "[{\"id\":1,\"updated_at\":10},{\"id\":2,\"updated_at\":10}]",
           "a first page");
  TAP_IS_STR(counts(w), "2/0/0", "into a new table: every record is new");
  write_ok(w,
           "[{\"id\":1,\"updated_at\":10},{\"id\":2,\"updated_at\":11},"
           "{\"id\":\"3\",\"updated_at\":1},{\"id\":3,\"updated_at\":1},"
           "{\"id\":4}]",
           "a second page");
  TAP_IS_STR(counts(w), "2/1/2",
             "same key, a newer key, new; a record twice counts once as new");
  write_ok(w,
           "[{\"id\":4,\"updated_at\":null},{\"id\":2,\"updated_at\":\"11\"}]",
           "a third page");
  TAP_IS_STR(counts(w), "0/1/1",
             "null is null; the text \"11\" is not the integer 11");
  TAP_IS_STR(cell(db, "SELECT count(*) FROM c"), "integer:4",
             "counting leaves the rows written as before");
  icx_rw_free(w);

  w = icx_rw_new(db, "k", id, 1);
  icx_rw_compare(w, "updated_at");
  write_ok(w, "[{\"id\":1}]", "records without the compared field");
  write_ok(w, "[{\"id\":1},{\"id\":2,\"updated_at\":5}]", "then one with it");
  TAP_IS_STR(counts(w), "2/0/0",
             "a table without the column yet holds nothing to compare");
  write_ok(w, "[{\"id\":1},{\"id\":2,\"updated_at\":5}]", "again");
  TAP_IS_STR(counts(w), "0/0/2", "a stored NULL against an absent field");
  icx_rw_compare(w, NULL);
  write_ok(w, "[{\"id\":9}]", "after compare(NULL)");
  TAP_IS_STR(counts(w), "0/0/0", "nothing is counted");
  icx_rw_free(w);
  sqlite3_close(db);
}

/* Statements run on a connection, by their first word (sqlite3_trace_v2). */
static int nselect, ninsert;

static int on_stmt(unsigned type, void *ud, void *p, void *x) {
  const char *sql = sqlite3_sql((sqlite3_stmt *)p);
  (void)type, (void)ud, (void)x;
  nselect += sql && strncmp(sql, "SELECT", 6) == 0;
  ninsert += sql && strncmp(sql, "INSERT INTO \"t\"", 15) == 0;
  return 0;
}

/* While the last write was mostly new records, a record is inserted before
** it is looked up; a conflict sends it to the lookup and the upsert, and a
** write of mostly stored records looks each up first. The counts and the
** rows are the same either way. */
static void test_insert_first(void) {
  sqlite3 *db = open_db();
  const char *id[] = {"id"};
  struct icx_rw *w = icx_rw_new(db, "t", id, 1);
  icx_rw_compare(w, "updated_at");
  write_ok(w, "[{\"id\":1,\"updated_at\":1}]", "a first record");
  sqlite3_trace_v2(db, SQLITE_TRACE_STMT, on_stmt, NULL);
  nselect = ninsert = 0;
  write_ok(w,
           "[{\"id\":2,\"updated_at\":1},{\"id\":3,\"updated_at\":1},"
           "{\"id\":4,\"updated_at\":1}]",
           "three new records");
  TAP_IS_STR(counts(w), "3/0/0", "counted new");
  TAP_IS_INT(nselect, 0, "new records after new ones: no lookup");
  TAP_IS_INT(ninsert, 3, "one INSERT each");
  nselect = ninsert = 0;
  write_ok(w,
           "[{\"id\":2,\"updated_at\":1},{\"id\":3,\"updated_at\":2},"
           "{\"id\":5,\"v\":\"x\",\"updated_at\":1}]",
           "two stored records and a new one with a new field");
  TAP_IS_STR(counts(w), "1/1/1", "counted same, changed, new");
  TAP_IS_INT(nselect, 2, "a conflict sends the record to the lookup");
  TAP_IS_INT(ninsert, 3 + 2, "an INSERT each, and the upserts");
  nselect = ninsert = 0;
  write_ok(w,
           "[{\"id\":2,\"updated_at\":3},{\"id\":3,\"updated_at\":2},"
           "{\"id\":6,\"updated_at\":1}]",
           "after a mostly stored page");
  TAP_IS_STR(counts(w), "1/1/1", "counted changed, same, new");
  TAP_IS_INT(nselect, 3, "every record is looked up first");
  TAP_IS_INT(ninsert, 3, "and upserted once");
  sqlite3_trace_v2(db, 0, NULL, NULL);
  TAP_IS_STR(cell(db, "SELECT group_concat(id || ':' || updated_at || ':' || "
                      "coalesce(v, '-'), ' ') FROM (SELECT * FROM t ORDER BY "
                      "id)"),
             "text:1:1:- 2:3:- 3:2:- 4:1:- 5:1:x 6:1:-",
             "the rows are the latest records");
  icx_rw_free(w);
  sqlite3_close(db);
}

int main(void) {
  for (use_index = 0; use_index < 2; use_index++) {
    printf("# records %s\n", use_index ? "from the member index" : "scanned");
    test_schema_and_upsert();
    test_compare();
    test_insert_first();
    test_values();
    test_errors();
    test_text_and_rollback();
  }
  return tap_done();
}
