/*
** bench/json_bench.c: throughput of the record path's JSON work (jscan.c).
**
** Builds a page like an Intercom contacts page (150 records of about 2 KB:
** ids, timestamps, nested custom_attributes, tags, Unicode, escapes) and times
**   validate+index  js_parse_list over the page (what icx.json.page does)
**   bind walk       for each record: every top-level member converted the way
**                   the SQLite writer binds it (int64 / strtod / unescape /
**                   minify)
** Prints MB/s and microseconds per page. Built and run by bench/json_bench.sh.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "jscan.h"

#define RECORDS 150

/* Seconds on the monotonic clock. */
static double now(void) {
  struct timespec ts;
  timespec_get(&ts, TIME_UTC);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Append one contact-like record to b. */
static void record(struct buf *b, int i) {
  char tmp[2600];
  int n = snprintf(
      tmp, sizeof tmp,
      "{\"type\":\"contact\",\"id\":\"6%023x\",\"workspace_id\":\"ecahpwf5\","
      "\"external_id\":\"%d\",\"role\":\"user\",\"email\":\"user%d@example."
      "com\",\"phone\":null,\"name\":\"Zo\\u00eb \\ud83d\\ude00 %d\","
      "\"avatar\":null,\"owner_id\":%d,\"social_profiles\":{\"type\":\"list\","
      "\"data\":[]},\"has_hard_bounced\":false,\"marked_email_as_spam\":false,"
      "\"unsubscribed_from_emails\":false,\"created_at\":%d,\"updated_at\":%d,"
      "\"signed_up_at\":%d,\"last_seen_at\":%d,\"last_replied_at\":null,"
      "\"last_contacted_at\":null,\"last_email_opened_at\":null,"
      "\"last_email_clicked_at\":null,\"language_override\":null,"
      "\"browser\":\"chrome\",\"browser_version\":\"120.0.6099.109\","
      "\"browser_language\":\"en-US\",\"os\":\"Mac OS X\",\"location\":{"
      "\"type\":\"location\",\"country\":\"Japan\",\"region\":\"Tokyo\","
      "\"city\":\"東京\",\"country_code\":\"JPN\",\"continent_code\":\"AS\"},"
      "\"android_app_name\":null,\"android_app_version\":null,"
      "\"android_device\":null,\"android_os_version\":null,"
      "\"android_sdk_version\":null,\"android_last_seen_at\":null,"
      "\"ios_app_name\":null,\"ios_app_version\":null,\"ios_device\":null,"
      "\"ios_os_version\":null,\"ios_sdk_version\":null,"
      "\"ios_last_seen_at\":null,\"custom_attributes\":{\"plan\":\"pro\","
      "\"seats\":%d,\"big_number\":9007199254740993,\"ratio\":1e-07,"
      "\"account_ref\":\"%d\",\"labels\":[\"a\",\"b\"],\"meta\":{},"
      "\"nickname\":\"say \\\"hi\\\" back\\\\slash\\nline2\",\"is_vip\":true,"
      "\"trial_ends_at\":null,\"anything\":{\"nested\":{\"deep\":[1,2.5,"
      "\"三\"]},\"empty\":{}}},\"tags\":{\"type\":\"list\",\"data\":[{\"type\""
      ":\"tag\",\"id\":\"%d\",\"url\":\"/tags/%d\"}],\"url\":\"/contacts/6%"
      "023x/tags\",\"total_count\":1,\"has_more\":false},\"notes\":{\"type\":"
      "\"list\",\"data\":[],\"url\":\"/contacts/6%023x/notes\",\"total_count\""
      ":0,\"has_more\":false},\"companies\":{\"type\":\"list\",\"data\":[{"
      "\"type\":\"company\",\"id\":\"65%022x\",\"url\":\"/companies/65%022x\""
      "}],\"url\":\"/contacts/6%023x/companies\",\"total_count\":1,"
      "\"has_more\":false},\"opted_out_subscription_types\":{\"type\":\"list\""
      ",\"data\":[],\"url\":\"/contacts/6%023x/subscriptions\","
      "\"total_count\":0,\"has_more\":false},\"opted_in_subscription_types\":"
      "{\"type\":\"list\",\"data\":[],\"url\":\"/contacts/6%023x/"
      "subscriptions\",\"total_count\":0,\"has_more\":false},"
      "\"utm_campaign\":null,\"utm_content\":null,\"utm_medium\":null,"
      "\"utm_source\":null,\"utm_term\":null,\"referrer\":\"https://example."
      "com/pricing?ref=bench\",\"enabled_push_messaging\":null}",
      i, 5000 + i, i, i, 7000000 + i % 7, 1690000000 + i, 1700000000 + i,
      1690000000 + i, 1700000000 - i, i % 500, 100000 + i, i % 15, i % 15, i, i,
      i, i, i, i, i);
  buf_append(b, tmp, (size_t)n);
}

/* The writer's per-member work, so the bench covers the whole record path. */
static size_t bind_walk(const js_val *recs, size_t n, struct buf *scratch) {
  js_iter it;
  js_val k, v;
  int64_t i64;
  size_t i, work = 0;
  for (i = 0; i < n; i++) {
    js_iter_init(&it, &recs[i]);
    while (js_next_member(&it, &k, &v)) {
      buf_reset(scratch);
      js_unescape(&k, scratch);
      switch (v.type) {
      case JS_INT:
        if (js_int64(&v, &i64) == 0)
          work += (size_t)i64 & 1;
        break;
      case JS_FLOAT:
        work += js_double(&v) > 0;
        break;
      case JS_STRING:
        js_unescape(&v, scratch);
        break;
      case JS_ARRAY:
      case JS_OBJECT:
        js_minify(&v, scratch);
        break;
      default:
        break;
      }
      work += scratch->len;
    }
  }
  return work;
}

/* Collects record slices (what icx.json.page does). */
typedef struct {
  js_val v[RECORDS];
  size_t n;
} index_t;

/* js_elem_fn: store the slice. */
static int add(void *ud, const js_val *e) {
  index_t *ix = ud;
  if (ix->n < RECORDS)
    ix->v[ix->n++] = *e;
  return 0;
}

int main(int argc, char **argv) {
  struct buf page, scratch;
  index_t ix;
  js_val top;
  js_err err;
  double t0, t1, t2;
  int i, iters = argc > 1 ? atoi(argv[1]) : 2000;
  size_t sink = 0;

  buf_init(&page);
  buf_init(&scratch);
  buf_append(&page, "{\"type\":\"list\",\"data\":[", 23);
  for (i = 0; i < RECORDS; i++) {
    if (i)
      buf_putc(&page, ',');
    record(&page, i);
  }
  {
    static const char tail[] =
        "],\"total_count\":90000,\"pages\":{\"type\":\"pages\",\"next\":"
        "{\"per_page\":150,\"starting_after\":\"WzE3MDAw\"},\"page\":1,"
        "\"per_page\":150,\"total_pages\":600}}";
    buf_append(&page, tail, sizeof tail - 1);
  }
  ix.n = 0;
  if (js_parse_list(page.data, page.len, "data", 4, add, &ix, &top, NULL, &err) !=
          0 ||
      ix.n != RECORDS) {
    fprintf(stderr, "json_bench: bad page at %zu: %s\n", err.offset, err.msg);
    return 1;
  }

  t0 = now();
  for (i = 0; i < iters; i++) {
    ix.n = 0;
    js_parse_list(page.data, page.len, "data", 4, add, &ix, &top, NULL, &err);
  }
  t1 = now();
  for (i = 0; i < iters; i++)
    sink += bind_walk(ix.v, ix.n, &scratch);
  t2 = now();

  printf("page: %d records, %zu bytes (%.0f bytes/record)\n", RECORDS, page.len,
         (double)page.len / RECORDS);
  printf("validate+index: %8.1f MB/s  %7.1f us/page\n",
         (double)page.len * iters / (t1 - t0) / 1e6, (t1 - t0) / iters * 1e6);
  printf("bind walk:      %8.1f MB/s  %7.1f us/page\n",
         (double)page.len * iters / (t2 - t1) / 1e6, (t2 - t1) / iters * 1e6);
  printf("(sink %zu)\n", sink);
  buf_free(&page);
  buf_free(&scratch);
  return 0;
}
