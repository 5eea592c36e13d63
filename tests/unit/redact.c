/* Unit tests for redact.c: whole secrets to their mask, fragments of long
** ones, secrets next to each other, short and repeated secrets. */

#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "redact.h"
#include "tap.h"

/* line redacted by r, as a C string in a static buffer. */
static const char *apply(const struct icx_redact *r, const char *line) {
  static char out[512];
  struct buf b = {0};
  if (icx_redact_apply(r, line, strlen(line), &b) != 0)
    return "(out of memory)";
  snprintf(out, sizeof out, "%.*s", (int)b.len, b.data ? b.data : "");
  buf_free(&b);
  return out;
}

/* The mask of s, as a C string in a static buffer. */
static const char *mask(const char *s) {
  static char out[64];
  struct buf b = {0};
  icx_redact_mask(s, strlen(s), &b);
  snprintf(out, sizeof out, "%.*s", (int)b.len, b.data);
  buf_free(&b);
  return out;
}

int main(void) {
  struct icx_redact r = {0};
  const char *tok = "tok_live_4f8a9b2c1d3e5f6a7b8c9d0e1f2a3b4c";
  TAP_IS_STR(apply(&r, "no secrets yet"), "no secrets yet",
             "nothing registered: the line as is");
  TAP_IS_INT(icx_redact_add(&r, tok, strlen(tok)), 0, "add a token");
  TAP_IS_INT(icx_redact_add(&r, tok, strlen(tok)), 0, "add it again");
  TAP_IS_INT(r.n, 1, "kept once");
  TAP_IS_INT(icx_redact_add(&r, "abc", 3), 0, "a 3-byte secret is ignored");
  TAP_IS_INT(r.n, 1, "not kept");
  TAP_IS_STR(mask(tok), "****3b4c", "a long secret's mask keeps 4");
  TAP_IS_STR(mask("short123"), "****", "an 8-byte one's keeps nothing");
  TAP_IS_STR(apply(&r, "Bearer tok_live_4f8a9b2c1d3e5f6a7b8c9d0e1f2a3b4c"),
             "Bearer ****3b4c", "a whole token");
  TAP_IS_STR(apply(&r, "a tok_live_4f8a9b2c1d3e5f6a7b8c9d0e1f2a3b4c"
                       "tok_live_4f8a9b2c1d3e5f6a7b8c9d0e1f2a3b4c b"),
             "a ****3b4c****3b4c b", "two in a row");
  const char *cut = apply(&r, "token=tok_live_4f8a9b2c1... (cut)");
  tap_ok(strstr(cut, "tok_live_4f8") == NULL, "a prefix of 12 is masked");
  const char *mid = apply(&r, "x5f6a7b8c9d0e1fy");
  tap_ok(strstr(mid, "5f6a7b8c9d0e") == NULL, "a middle piece is masked");
  TAP_IS_STR(apply(&r, "tok_live_4f"), "tok_live_4f", "11 characters are not");
  TAP_IS_STR(apply(&r, ""), "", "an empty line");
  icx_redact_add(&r, "pw-0123456789", 13);
  TAP_IS_STR(apply(&r, "u:pw-0123456789@h t=tok_live_4f8a9b2c1d3e5f6a7b8c9d0e1f"
                       "2a3b4c"),
             "u:****6789@h t=****3b4c", "two secrets in one line");
  icx_redact_free(&r);
  TAP_IS_INT(r.n, 0, "freed");
  return tap_done();
}
