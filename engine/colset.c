/*
** colset.c: records to columns for every record writer; see colset.h. The
** hot part is icx_cs_gather, once per record: each member's column is first
** guessed from the previous record's order (records of one page share their
** key order), and looked up in the hash index only when the guess misses.
*/
#include "colset.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How many times one key may repeat in a record before it is refused. */
#define MAX_REPEAT 1000

/* What place() answers besides a column: the name is the record's already,
** or it has no column and the table is full (the member overflows). */
#define TAKEN (-2)
#define SPILL (-3)

#define OVERLEN (sizeof ICX_CS_OVERFLOW - 1)

static const char *const kind_names[ICX_NKIND] = {
    "null", "boolean", "bigint", "numeric", "double", "text", "json", "id"};

/* Fills e and returns -1; see colset.h. */
int icx_cs_fail(struct icx_cs_err *e, const char *code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  va_end(ap);
  e->code = code;
  return -1;
}

/* Out of memory; see colset.h. */
int icx_cs_nomem(const struct icx_cs *cs, struct icx_cs_err *e) {
  return icx_cs_fail(e, "nomem", "%s: out of memory", cs->style->module);
}

/* The stored name of a kind; see colset.h. */
const char *icx_cs_kind_name(int k) {
  return k >= 0 && k < ICX_NKIND ? kind_names[k] : "?";
}

/* The kind of a stored name; see colset.h. */
int icx_cs_kind_named(const char *s) {
  for (int k = 0; k < ICX_NKIND; k++)
    if (strcmp(kind_names[k], s) == 0)
      return k;
  return -1;
}

/* FNV-1a of s[0, n), with ASCII letters folded when fold is set. */
static uint32_t name_hash(const char *s, size_t n, int fold) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (fold && c >= 'A' && c <= 'Z')
      c += 32;
    h = (h ^ c) * 16777619u;
  }
  return h;
}

/* 1 if a and b (n bytes each) are equal with ASCII letters folded. */
static int folded_eq(const char *a, const char *b, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
    if (x != y) {
      if (x >= 'A' && x <= 'Z')
        x += 32;
      if (y >= 'A' && y <= 'Z')
        y += 32;
      if (x != y)
        return 0;
    }
  }
  return 1;
}

/* 1 for an id column: `id` or a name ending in `_id`, ASCII case folded
** (both databases: the rule is about Intercom's names, not the SQL). */
static int name_is_id(const char *s, size_t n) {
  return n >= 2 && folded_eq(s + n - 2, "id", 2) && (n == 2 || s[n - 3] == '_');
}

/* A name being looked up, for the index's match callbacks. */
typedef struct {
  const char *name;
  size_t len;
  uint32_t hash;
} Key;

/* The stored hash of column i, for the index. */
static uint32_t column_hash(const void *cols, int i) {
  return ((const struct icx_cs_col *)cols)[i].hash;
}

/* Whether column i holds field k, exact bytes. */
static int column_is(const void *cols, int i, const void *key) {
  const struct icx_cs_col *c = &((const struct icx_cs_col *)cols)[i];
  const Key *k = key;
  return c->hash == k->hash && c->flen == k->len &&
         memcmp(c->field, k->name, k->len) == 0;
}

/* Whether column i holds field k, ASCII letters folded. */
static int column_is_folded(const void *cols, int i, const void *key) {
  const struct icx_cs_col *c = &((const struct icx_cs_col *)cols)[i];
  const Key *k = key;
  return c->hash == k->hash && c->flen == k->len &&
         folded_eq(c->field, k->name, k->len);
}

/* The column of name[0, len) with hash h, or -1. */
static int find(const struct icx_cs *cs, const char *name, size_t len,
                uint32_t h) {
  Key k = {name, len, h};
  return icx_colindex_find(&cs->index, h,
                           cs->style->fold ? column_is_folded : column_is,
                           cs->cols, &k);
}

/* The column of a field; see colset.h. */
int icx_cs_find(const struct icx_cs *cs, const char *name, size_t len) {
  return find(cs, name, len, name_hash(name, len, cs->style->fold));
}

/* Makes an empty column set; see colset.h. Each allocation is stored as
** soon as it is made, so icx_cs_free can undo a failure half-way. */
int icx_cs_init(struct icx_cs *cs, const struct icx_cs_style *style,
                const char *table, const char *const *pk, int npk) {
  memset(cs, 0, sizeof *cs);
  cs->style = style;
  cs->limit = ICX_CS_MAX_FIELDS;
  cs->overcol = -1;
  if (!(cs->table = strdup(table)))
    return -1;
  if (npk > 0 && (!(cs->pk = calloc((size_t)npk, sizeof *cs->pk)) ||
                  !(cs->pkcol = malloc((size_t)npk * sizeof *cs->pkcol))))
    return -1;
  for (int i = 0; i < npk; i++) {
    if (!(cs->pk[i] = strdup(pk[i])))
      return -1;
    cs->pkcol[i] = -1;
    cs->npk = i + 1;
  }
  return 0;
}

/* Frees the column names. */
static void free_names(struct icx_cs *cs) {
  for (int i = 0; i < cs->ncols; i++) {
    if (cs->cols[i].name != cs->cols[i].field)
      free(cs->cols[i].name);
    free(cs->cols[i].field);
  }
}

/* Forgets every column; see colset.h. */
void icx_cs_clear(struct icx_cs *cs) {
  free_names(cs);
  cs->ncols = cs->ntable = cs->norder = 0;
  cs->overcol = -1;
  for (int i = 0; i < cs->npk; i++)
    cs->pkcol[i] = -1;
  icx_colindex_clear(&cs->index);
}

/* Frees a column set; see colset.h. */
void icx_cs_free(struct icx_cs *cs) {
  free_names(cs);
  for (int i = 0; cs->pk && i < cs->npk; i++)
    free(cs->pk[i]);
  free(cs->pk);
  free(cs->pkcol);
  free(cs->table);
  free(cs->cols);
  icx_colindex_free(&cs->index);
  free(cs->order);
  free(cs->vals);
  free(cs->seen);
  buf_free(&cs->key);
  free(cs->spill);
  icx_colindex_free(&cs->spillindex);
  buf_free(&cs->spillnames);
  buf_free(&cs->over);
  memset(cs, 0, sizeof *cs);
  cs->overcol = -1;
}

/* Makes room for one more column in every per-column array. 0 or -1; each
** array is stored as soon as it grows, so a failure leaves cs consistent. */
static int grow_columns(struct icx_cs *cs) {
  if (cs->ncols < cs->capcols)
    return 0;
  int cap = cs->capcols ? cs->capcols * 2 : 32;
  struct icx_cs_col *c = realloc(cs->cols, (size_t)cap * sizeof *c);
  if (!c)
    return -1;
  cs->cols = c;
  js_val *v = realloc(cs->vals, (size_t)cap * sizeof *v);
  if (!v)
    return -1;
  cs->vals = v;
  uint32_t *s = realloc(cs->seen, (size_t)cap * sizeof *s);
  if (!s)
    return -1;
  memset(s + cs->capcols, 0, (size_t)(cap - cs->capcols) * sizeof *s);
  cs->seen = s;
  cs->capcols = cap;
  return 0;
}

/* Appends a column with hash h; see icx_cs_add. */
static int add(struct icx_cs *cs, const char *field, size_t len, uint32_t h,
               const char *name, int kind, struct icx_cs_err *e) {
  const struct icx_cs_style *st = cs->style;
  if (memchr(field, 0, len))
    return icx_cs_fail(e, "record",
                       "%s: table '%s': a field name holds a NUL byte, which "
                       "no %s column name can",
                       st->module, cs->table, st->db);
  if (grow_columns(cs) != 0 ||
      icx_colindex_room(&cs->index, cs->ncols, column_hash, cs->cols) != 0)
    return icx_cs_nomem(cs, e);
  char *f = malloc(len + 1);
  if (!f)
    return icx_cs_nomem(cs, e);
  memcpy(f, field, len);
  f[len] = '\0';
  char *nm = f;
  if (name || st->name) {
    /* the hook sees the columns so far, not this half-made one */
    nm = name ? strdup(name) : st->name(cs, f, len);
    if (!nm) {
      free(f);
      return icx_cs_nomem(cs, e);
    }
  }
  int i = cs->ncols;
  struct icx_cs_col *c = &cs->cols[i];
  c->field = f;
  c->flen = len;
  c->name = nm;
  c->hash = h;
  c->pk = 0;
  c->user = 0;
  c->id = (unsigned char)name_is_id(f, len);
  for (int k = 0; k < cs->npk; k++)
    if (strlen(cs->pk[k]) == len &&
        (st->fold ? folded_eq(cs->pk[k], f, len)
                  : memcmp(cs->pk[k], f, len) == 0)) {
      c->pk = 1;
      cs->pkcol[k] = i;
    }
  if (c->pk || c->id)
    kind = ICX_K_ID;
  c->kind = c->want = (unsigned char)kind;
  if (len == OVERLEN && memcmp(f, ICX_CS_OVERFLOW, OVERLEN) == 0 &&
      strcmp(nm, ICX_CS_OVERFLOW) == 0)
    cs->overcol = i;
  cs->seen[i] = 0;
  icx_colindex_put(&cs->index, h, i);
  cs->ncols++;
  return i;
}

/* Appends a column; see colset.h. */
int icx_cs_add(struct icx_cs *cs, const char *field, size_t len,
               const char *name, int kind, struct icx_cs_err *e) {
  return add(cs, field, len, name_hash(field, len, cs->style->fold), name, kind,
             e);
}

/* Adds the missing primary key columns; see colset.h. */
int icx_cs_add_pk(struct icx_cs *cs, struct icx_cs_err *e) {
  for (int i = 0; i < cs->npk; i++) {
    size_t len = strlen(cs->pk[i]);
    if (icx_cs_find(cs, cs->pk[i], len) < 0 &&
        icx_cs_add(cs, cs->pk[i], len, NULL, ICX_K_ID, e) < 0)
      return -1;
  }
  return 0;
}

/* The spill entry i's hash, for the spill index (ctx is the colset). */
static uint32_t spill_hash(const void *ctx, int i) {
  return ((const struct icx_cs *)ctx)->spill[i].hash;
}

/* Whether spill entry i is the name k, compared as the style compares. */
static int spill_is(const void *ctx, int i, const void *key) {
  const struct icx_cs *cs = ctx;
  const struct icx_cs_spill *s = &cs->spill[i];
  const Key *k = key;
  const char *name = cs->spillnames.data + s->off;
  return s->hash == k->hash && s->len == k->len &&
         (cs->style->fold ? folded_eq(name, k->name, k->len)
                          : memcmp(name, k->name, k->len) == 0);
}

/* Appends a spill entry for the member with key token k going in under
** name[0, len) (hash h; KEY__suffix when suffix is not 0). 0, or -1 out of
** memory; the caller sets its value. */
static int spill_new(struct icx_cs *cs, const char *name, size_t len,
                     uint32_t h, const js_val *k, int suffix,
                     struct icx_cs_err *e) {
  if (cs->nspill == cs->capspill) {
    int cap = cs->capspill ? cs->capspill * 2 : 64;
    struct icx_cs_spill *s = realloc(cs->spill, (size_t)cap * sizeof *s);
    if (!s)
      return icx_cs_nomem(cs, e);
    cs->spill = s;
    cs->capspill = cap;
  }
  if (icx_colindex_room(&cs->spillindex, cs->nspill, spill_hash, cs) != 0)
    return icx_cs_nomem(cs, e);
  struct icx_cs_spill *s = &cs->spill[cs->nspill];
  s->off = cs->spillnames.len;
  if (buf_append(&cs->spillnames, name, len) != 0)
    return icx_cs_nomem(cs, e);
  s->len = len;
  s->hash = h;
  s->key = *k;
  s->suffix = suffix;
  icx_colindex_put(&cs->spillindex, h, cs->nspill++);
  return 0;
}

/* Whether the table may give one more field a column: the overflow column
** does not count (colset.h, "Wide records"). */
static int room(const struct icx_cs *cs) {
  return cs->ncols - (cs->overcol >= 0) < cs->limit;
}

/* 1 when name[0, len) is the overflow column's, as the style compares. */
static int is_overflow_name(const struct icx_cs *cs, const char *name,
                            size_t len) {
  return len == OVERLEN &&
         (cs->style->fold ? folded_eq(name, ICX_CS_OVERFLOW, len)
                          : memcmp(name, ICX_CS_OVERFLOW, len) == 0);
}

/*
** Where the member with key token k goes in the gathered record under the
** name name[0, len) (hash h; KEY__suffix when suffix is not 0): its column
** when the record has not set it, a new column while the table has room,
** TAKEN when the record already holds the name (in a column, in the
** overflow object, or it is the overflow column's), else SPILL (a spill
** entry made, its value for the caller to set). -1 with e filled.
*/
static int place(struct icx_cs *cs, const char *name, size_t len, uint32_t h,
                 const js_val *k, int suffix, struct icx_cs_err *e) {
  int i = find(cs, name, len, h);
  if (i >= 0)
    return i == cs->overcol || cs->seen[i] == cs->stamp ? TAKEN : i;
  if (is_overflow_name(cs, name, len))
    return TAKEN;
  if (cs->nspill) {
    Key key = {name, len, h};
    if (icx_colindex_find(&cs->spillindex, h, spill_is, cs, &key) >= 0)
      return TAKEN;
  }
  if (room(cs))
    return add(cs, name, len, h, NULL, ICX_K_NULL, e);
  return spill_new(cs, name, len, h, k, suffix, e) ? -1 : SPILL;
}

/* Where member key k at position pos of its record goes (see place). The
** column the previous record had at pos is tried first, unchecked: the
** caller sends a column the record already set to dup_column. */
static int member_column(struct icx_cs *cs, const js_val *k, int pos,
                         struct icx_cs_err *e) {
  const char *name = k->p + 1;
  size_t len = k->n - 2;
  int escaped = memchr(name, '\\', len) != NULL;
  if (!escaped && pos < cs->norder) {
    int g = cs->order[pos];
    if (g >= 0 && g < cs->ncols && cs->cols[g].flen == len &&
        memcmp(cs->cols[g].field, name, len) == 0)
      return g;
  }
  if (escaped) {
    buf_reset(&cs->key);
    if (buf_reserve(&cs->key, len) != 0)
      return icx_cs_nomem(cs, e);
    len = js_unescape_to(k, cs->key.data);
    name = cs->key.data;
  }
  int i = place(cs, name, len, name_hash(name, len, cs->style->fold), k, 0, e);
  if (pos < cs->caporder) { /* -1: no guess for a member without a column */
    cs->order[pos] = i >= 0 ? i : -1;
    if (pos >= cs->norder)
      cs->norder = pos + 1;
  }
  return i;
}

/* Where a member goes whose name the record already holds (a repeat, a
** case variant where names fold, or the overflow column's name): KEY__2,
** KEY__3 ..., the first the record does not hold, as place() says. */
static int dup_column(struct icx_cs *cs, const js_val *k,
                      struct icx_cs_err *e) {
  size_t klen = k->n - 2;
  for (int n = 2; n < MAX_REPEAT; n++) {
    buf_reset(&cs->key);
    if (buf_reserve(&cs->key, klen + 8) != 0)
      return icx_cs_nomem(cs, e);
    size_t len = js_unescape_to(k, cs->key.data);
    len += (size_t)snprintf(cs->key.data + len, 8, "__%d", n);
    uint32_t h = name_hash(cs->key.data, len, cs->style->fold);
    int i = place(cs, cs->key.data, len, h, k, n, e);
    if (i != TAKEN)
      return i;
  }
  return icx_cs_fail(e, "record", "%s: table '%s': a key repeated %d times",
                     cs->style->module, cs->table, MAX_REPEAT);
}

/* The overflow object of the gathered record's spill entries, as the
** overflow column's value (the column made when the table has none):
** each key token as sent (with __n before its closing quote for KEY__n)
** and each value's slice. 0, or -1 with e filled. */
static int put_overflow(struct icx_cs *cs, struct icx_cs_err *e) {
  if (cs->overcol < 0 &&
      add(cs, ICX_CS_OVERFLOW, OVERLEN,
          name_hash(ICX_CS_OVERFLOW, OVERLEN, cs->style->fold), ICX_CS_OVERFLOW,
          ICX_K_NULL, e) < 0)
    return -1;
  struct buf *b = &cs->over;
  size_t need = 2;
  for (int i = 0; i < cs->nspill; i++)
    need += cs->spill[i].key.n + 16 + cs->spill[i].val.n;
  buf_reset(b);
  if (buf_reserve(b, need) != 0)
    return icx_cs_nomem(cs, e);
  b->data[b->len++] = '{';
  for (int i = 0; i < cs->nspill; i++) {
    const struct icx_cs_spill *s = &cs->spill[i];
    if (i)
      b->data[b->len++] = ',';
    if (s->suffix) {
      memcpy(b->data + b->len, s->key.p, s->key.n - 1);
      b->len += s->key.n - 1;
      b->len += (size_t)snprintf(b->data + b->len, 16, "__%d\"", s->suffix);
    } else {
      memcpy(b->data + b->len, s->key.p, s->key.n);
      b->len += s->key.n;
    }
    b->data[b->len++] = ':';
    memcpy(b->data + b->len, s->val.p, s->val.n);
    b->len += s->val.n;
  }
  b->data[b->len++] = '}';
  cs->vals[cs->overcol] = (js_val){JS_OBJECT, b->data, b->len};
  cs->seen[cs->overcol] = cs->stamp;
  cs->extra = b->len;
  return 0;
}

/* Gathers one record; see colset.h. */
int icx_cs_gather(struct icx_cs *cs, const js_val *rec, js_memiter *ms,
                  size_t nth, struct icx_cs_err *e) {
  js_val k, v;
  int pos = 0;
  if (rec->type != JS_OBJECT)
    return icx_cs_fail(
        e, "record", "%s: table '%s': record %zu is %s %s, not an object",
        cs->style->module, cs->table, nth, rec->type == JS_ARRAY ? "an" : "a",
        js_type_name(rec->type));
  if (++cs->stamp == 0) { /* wrapped: old stamps could match again */
    memset(cs->seen, 0, (size_t)cs->capcols * sizeof *cs->seen);
    cs->stamp = 1;
  }
  if (cs->nspill) {
    icx_colindex_clear(&cs->spillindex);
    buf_reset(&cs->spillnames);
    cs->nspill = 0;
  }
  cs->extra = 0;
  while (js_memiter_next(ms, &k, &v)) {
    if (pos >= cs->caporder) { /* without room, only the guess is lost */
      int cap = cs->caporder ? cs->caporder * 2 : 64;
      int *o = realloc(cs->order, (size_t)cap * sizeof *o);
      if (o) {
        cs->order = o;
        cs->caporder = cap;
      }
    }
    int c = member_column(cs, &k, pos++, e);
    if (c >= 0 && (c == cs->overcol || cs->seen[c] == cs->stamp))
      c = TAKEN;
    if (c == TAKEN)
      c = dup_column(cs, &k, e);
    if (c == SPILL) {
      cs->spill[cs->nspill - 1].val = v;
      continue;
    }
    if (c < 0)
      return -1;
    cs->vals[c] = v;
    cs->seen[c] = cs->stamp;
  }
  if (cs->nspill && put_overflow(cs, e) != 0)
    return -1;
  for (int i = 0; i < cs->npk; i++) {
    int c = cs->pkcol[i];
    if (c < 0 || cs->seen[c] != cs->stamp || cs->vals[c].type == JS_NULL)
      return icx_cs_fail(e, "record",
                         "%s: table '%s': record %zu has no value for its "
                         "primary key '%s'",
                         cs->style->module, cs->table, nth,
                         c < 0 ? cs->pk[i] : cs->cols[c].field);
  }
  return 0;
}

/* 1 when the validated JSON string v holds the escape \u0000, which
** becomes a NUL byte that no text value can hold. */
static int str_has_nul(const js_val *v) {
  const char *p = v->p + 1, *end = v->p + v->n - 1;
  while ((p = memchr(p, '\\', (size_t)(end - p))) != NULL) {
    if (p[1] == 'u') {
      if (memcmp(p + 2, "0000", 4) == 0)
        return 1;
      p += 6;
    } else {
      p += 2;
    }
  }
  return 0;
}

/* The kind a value needs on its own. */
static int value_kind(const js_val *v) {
  int64_t i;
  double d;
  switch (v->type) {
  case JS_NULL:
    return ICX_K_NULL;
  case JS_TRUE:
  case JS_FALSE:
    return ICX_K_BOOL;
  case JS_INT:
    return js_int64(v, &i) == 0 ? ICX_K_INT : ICX_K_NUMERIC;
  case JS_FLOAT:
    return js_double_checked(v, &d) == 0 ? ICX_K_FLOAT : ICX_K_JSON;
  case JS_STRING:
    return str_has_nul(v) ? ICX_K_JSON : ICX_K_TEXT;
  default:
    return ICX_K_JSON;
  }
}

/* The narrowest kind holding every value of kinds a and b exactly. */
static int join_kind(int a, int b) {
  if (a == b || b == ICX_K_NULL || a == ICX_K_ID)
    return a;
  if (a == ICX_K_NULL)
    return b;
  int na = a == ICX_K_INT || a == ICX_K_NUMERIC || a == ICX_K_FLOAT;
  int nb = b == ICX_K_INT || b == ICX_K_NUMERIC || b == ICX_K_FLOAT;
  return na && nb ? ICX_K_NUMERIC : ICX_K_JSON;
}

/* Widens by the gathered record; see colset.h. */
int icx_cs_widen(struct icx_cs *cs, size_t nth, struct icx_cs_err *e) {
  for (int i = 0; i < cs->ncols; i++) {
    struct icx_cs_col *c = &cs->cols[i];
    if (cs->seen[i] != cs->stamp)
      continue;
    if (c->kind == ICX_K_ID) {
      if (cs->vals[i].type == JS_STRING && str_has_nul(&cs->vals[i]))
        return icx_cs_fail(e, "record",
                           "%s: table '%s': record %zu: id column '%s' holds "
                           "\\u0000, which a text key cannot",
                           cs->style->module, cs->table, nth, c->field);
      continue;
    }
    c->want = (unsigned char)join_kind(c->want, value_kind(&cs->vals[i]));
  }
  return 0;
}

/* Back to the declared kinds; see colset.h. */
void icx_cs_unwiden(struct icx_cs *cs) {
  for (int i = 0; i < cs->ncols; i++)
    cs->cols[i].want = cs->cols[i].kind;
}

/* Whether DDL is due; see colset.h. */
int icx_cs_changed(const struct icx_cs *cs) {
  if (cs->ncols > cs->ntable)
    return 1;
  for (int i = 0; i < cs->ncols; i++)
    if (cs->cols[i].want != cs->cols[i].kind)
      return 1;
  return 0;
}

/* Appends column names; see colset.h. */
int icx_cs_put_names(const struct icx_cs *cs, struct buf *b, int which,
                     const char *sep) {
  int n = 0;
  for (int i = 0; i < cs->ncols; i++) {
    const struct icx_cs_col *c = &cs->cols[i];
    if ((which == ICX_CS_PK && !c->pk) || (which == ICX_CS_OWN && c->user))
      continue;
    if ((n++ && buf_puts(b, sep)) ||
        buf_quote(b, c->name, strlen(c->name), '"'))
      return -1;
  }
  return 0;
}
