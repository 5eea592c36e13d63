/*
** lhttp.c: icx.http, many HTTP requests in flight over libcurl's multi
** interface.
**
**   icx.http.multi([opts]) -> Multi        opts: max_host_connections=n
**   Multi:start(req) -> id                 starts a transfer, never blocks
**       req = {url=, method="GET", headers={"Name: value", ...}, body=,
**              timeout=120, connect_timeout=10, low_speed_time=15,
**              max_bytes=64 MiB, ca_file=, userpwd="USER:PASSWORD",
**              aws_sigv4="aws:amz:REGION:SERVICE",
**              upload_file=PATH, upload_offset=0, upload_size=rest of file}
**       (seconds, except max_bytes; a request that cannot even be set up
**       still gets an id and fails as a "setup" completion on the next wait)
**       userpwd: credentials for HTTP auth; with aws_sigv4, KEY:SECRET for
**         AWS Signature V4, which curl computes over the request as sent
**       upload_file: a PUT's body streamed from that file, upload_size
**         bytes from upload_offset (an S3 multipart part is a slice of
**         one file); never read into memory; excludes `body`
**   Multi:wait([seconds]) -> {completion, ...}
**       blocks until at least one transfer finishes, the time is up or a
**       signal was caught (see signals.h)
**       (an empty list then, or at once when nothing is in flight);
**       at most DELIVER_MAX completions per call: the rest wait, still
**       compressed, for the next call, which returns at once
**       completion = {id=, status=, headers={lower-case name -> value},
**                     (an S3 object's ETag is headers.etag)
**                     body=, bytes=, ms=, url=, http_version=,
**                     reused= (true: no new connection was opened),
**                     err=nil|message, code=nil|"timeout"|"too_large"|
**                     "tls"|"setup"|"file"|"resolve"|"connect"|
**                     "transport"}
**         "resolve", "connect": the host's name did not resolve, or
**                    nothing answered on its port (said at once by lualib)
**         "timeout": past `timeout`, or under 100 bytes/s for
**                    `low_speed_time` seconds (a server trickling bytes)
**         "too_large": the decoded body passed max_bytes (the transfer is
**                    cut as soon as it does, not after buffering it all)
**         "tls":     the peer's certificate was refused; no retry helps
**         "setup":   curl refused the request before sending it (an option
**                    it rejects, a header past its 1 MiB limit, no memory);
**                    no retry helps
**         "file":    upload_file could not be opened, is shorter than
**                    upload_offset + upload_size, or failed to read
**   Multi:pending() -> n                   transfers started, not reported
**   Multi:cancel(id) -> boolean            drops a transfer in flight
**   Multi:close()                          idempotent; also __gc, __close
**   icx.http.version, icx.http.user_agent ("icx/<version>"),
**   icx.http.curl_version
**
** A Multi owns one curl share handle, so every transfer it runs shares DNS
** answers, TLS sessions and the pool of kept-alive connections. TLS
** verification is always on; `ca_file` adds trust, nothing removes it.
** Redirects are never followed: the Authorization header must not go to
** whatever host a 3xx names, so the 3xx itself is the completion. Bodies
** are asked for as gzip (unless the request names its own Accept-Encoding,
** whose answer is passed on as it came) and decoded whole by libdeflate
** (gunzip.c), capped at max_bytes before and after decoding, so a huge,
** hostile or endless response fails with code "too_large" instead of
** exhausting memory; one that never ends slowly is cut by low_speed_time or
** timeout. A gzip body that does not decode is a "transport" failure.
**
** No Lua runs inside curl callbacks: they only copy bytes into C buffers
** owned by the transfer, and the transfer stays linked into the Multi until
** its completion table is fully built, so an error while building it (out of
** memory) leaks nothing: the Multi still owns it and reports it next time.
*/

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <lauxlib.h>
#include <lua.h>

#include "buf.h"
#include "class.h"
#include "clock.h"
#include "gunzip.h"
#include "modules.h"
#include "opts.h"
#include "signals.h"

#ifndef ICX_VERSION
#error "ICX_VERSION comes from the VERSION file: build with make"
#endif

#define MULTI_MT "icx.http.Multi"

#define DEFAULT_TIMEOUT 120.0
#define DEFAULT_CONNECT_TIMEOUT 10.0
#define DEFAULT_MAX_BYTES ((lua_Integer)64 << 20)
#define DEFAULT_LOW_SPEED_TIME 15.0
/* Bytes per second below which a transfer counts as stalled. */
#define LOW_SPEED_LIMIT 100
/* Request line and headers beyond this are refused before curl sees them:
** curl's own limit is 1 MiB including the headers it adds itself. */
#define MAX_REQUEST_HEAD 1000000
/* Response headers beyond this are a broken or hostile server. */
#define MAX_HEADER_BYTES ((size_t)1 << 20)

/* One transfer, from start() until wait() has reported it. */
typedef struct Xfer {
  struct Xfer *next;
  CURL *easy;                 /* owned */
  struct curl_slist *headers; /* owned request headers */
  struct buf body;            /* owned response body, decoded */
  struct buf head;            /* owned header lines of the last response */
  lua_Integer id;
  curl_off_t max_bytes;
  int too_large;    /* the body passed max_bytes */
  int oom;          /* a buffer could not grow */
  int bad_gzip;     /* said gzip, did not decode */
  int own_encoding; /* the request named its Accept-Encoding: no decoding */
  int setup_failed; /* never started: result says why */
  int file_failed;  /* upload_file unusable: file_err says why */
  FILE *upload;     /* owned: the upload_file, or NULL */
  curl_off_t up_offset, up_size, up_left;
  CURLcode result;
  char errbuf[CURL_ERROR_SIZE];
  /* Apart from errbuf, which curl overwrites when a callback aborts. */
  char file_err[CURL_ERROR_SIZE];
} Xfer;

/* The Multi userdata. */
typedef struct {
  CURLM *multi;  /* owned; NULL once closed */
  CURLSH *share; /* owned; DNS, TLS sessions, connections */
  Xfer *active;  /* owned: transfers in flight */
  Xfer *done;    /* owned: finished, not yet reported, oldest first */
  Xfer **done_tail;
  lua_Integer next_id;
  int pending; /* transfers in either list */
} Multi;

/* Frees a transfer and everything it owns; it must not be in a multi. */
static void xfer_free(Xfer *x) {
  if (x->easy)
    curl_easy_cleanup(x->easy);
  curl_slist_free_all(x->headers);
  if (x->upload)
    fclose(x->upload);
  buf_free(&x->body);
  buf_free(&x->head);
  free(x);
}

/* Appends one request header line: CURLE_OK, or CURLE_OUT_OF_MEMORY. */
static CURLcode add_header(Xfer *x, const char *line) {
  struct curl_slist *s = curl_slist_append(x->headers, line);
  if (!s)
    return CURLE_OUT_OF_MEMORY;
  x->headers = s;
  return CURLE_OK;
}

/* curl write callback: body bytes into the transfer's buffer, up to
** max_bytes. Returning less than given makes curl fail the transfer. */
static size_t on_body(char *p, size_t size, size_t n, void *ud) {
  Xfer *x = ud;
  size_t len = size * n;
  if ((curl_off_t)(x->body.len + len) > x->max_bytes) {
    x->too_large = 1;
    return 0;
  }
  if (buf_append(&x->body, p, len) != 0) {
    x->oom = 1;
    return 0;
  }
  return len;
}

/* curl header callback: keeps the header lines of the last response only
** (a 100 Continue or a proxy's answer comes first and is dropped). */
static size_t on_header(char *p, size_t size, size_t n, void *ud) {
  Xfer *x = ud;
  size_t len = size * n;
  if (len >= 5 && memcmp(p, "HTTP/", 5) == 0)
    buf_reset(&x->head);
  if (x->head.len + len > MAX_HEADER_BYTES)
    return 0;
  if (buf_append(&x->head, p, len) != 0) {
    x->oom = 1;
    return 0;
  }
  return len;
}

/* curl read callback: the next bytes of the upload slice. A file that ends
** early aborts the transfer: curl would otherwise send a short body under
** the promised Content-Length and wait for the rest until the timeout. */
static size_t on_upload(char *p, size_t size, size_t n, void *ud) {
  Xfer *x = ud;
  size_t want = size * n;
  if ((curl_off_t)want > x->up_left)
    want = (size_t)x->up_left;
  if (want == 0)
    return 0;
  size_t got = fread(p, 1, want, x->upload);
  if (got == 0) {
    x->file_failed = 1;
    snprintf(x->file_err, sizeof x->file_err,
             "the upload file ended or failed %lld bytes before the end of "
             "its slice",
             (long long)x->up_left);
    return CURL_READFUNC_ABORT;
  }
  x->up_left -= (curl_off_t)got;
  return got;
}

/* curl seek callback: rewinds the upload slice when curl must resend it
** (a reused connection that turned out closed). */
static int on_seek(void *ud, curl_off_t off, int origin) {
  Xfer *x = ud;
  if (origin != SEEK_SET || off < 0 || off > x->up_size)
    return CURL_SEEKFUNC_CANTSEEK;
  if (fseeko(x->upload, (off_t)(x->up_offset + off), SEEK_SET) != 0)
    return CURL_SEEKFUNC_FAIL;
  x->up_left = x->up_size - off;
  return CURL_SEEKFUNC_OK;
}

/* Opens the upload slice: 0, or -1 with file_err saying why. The size is
** fixed here, so a file that shrinks later fails as "file" in on_upload. */
static int open_upload(Xfer *x, const char *path, lua_Integer offset,
                       lua_Integer size) {
  x->upload = fopen(path, "rb");
  if (!x->upload || fseeko(x->upload, 0, SEEK_END) != 0) {
    snprintf(x->file_err, sizeof x->file_err, "cannot open '%s': %s", path,
             strerror(errno));
    return -1;
  }
  off_t end = ftello(x->upload);
  if (size < 0)
    size = end > offset ? (lua_Integer)end - offset : 0;
  if (end < 0 || offset + size > (lua_Integer)end) {
    snprintf(x->file_err, sizeof x->file_err,
             "'%s' has %lld bytes, fewer than offset %lld + size %lld", path,
             (long long)end, (long long)offset, (long long)size);
    return -1;
  }
  if (fseeko(x->upload, (off_t)offset, SEEK_SET) != 0) {
    snprintf(x->file_err, sizeof x->file_err, "cannot seek in '%s': %s", path,
             strerror(errno));
    return -1;
  }
  x->up_offset = (curl_off_t)offset;
  x->up_size = x->up_left = (curl_off_t)size;
  return 0;
}

/* The open Multi at `arg`, or raises.  [-0, +0, v] */
static Multi *check_multi(lua_State *L, int arg) {
  Multi *m = luaL_checkudata(L, arg, MULTI_MT);
  if (!m->multi)
    luaL_error(L, "icx.http: attempt to use a closed Multi");
  return m;
}

/* Checks a request's header list: strings "Name: value" without CR or LF,
** so a value from a script cannot smuggle in another header.
** [-0, +0, v] */
static void check_headers(lua_State *L, int idx) {
  lua_Integer n = luaL_len(L, idx);
  for (lua_Integer i = 1; i <= n; i++) {
    if (lua_geti(L, idx, i) != LUA_TSTRING)
      luaL_error(L, "icx.http: headers[%d] must be a string", (int)i);
    const char *h = lua_tostring(L, -1);
    const char *colon = strchr(h, ':');
    if (!colon || colon == h || strpbrk(h, "\r\n"))
      luaL_error(L, "icx.http: headers[%d] must look like 'Name: value'",
                 (int)i);
    lua_pop(L, 1);
  }
}

/* Whether the last response's headers say Content-Encoding: gzip. */
static int said_gzip(const struct buf *head) {
  static const char name[] = "content-encoding:";
  const char *p = head->data, *end = p ? p + head->len : NULL;
  while (p && p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    const char *next = eol ? eol + 1 : end;
    size_t n = (size_t)(next - p);
    if (n > sizeof name - 1 && strncasecmp(p, name, sizeof name - 1) == 0) {
      const char *v = p + sizeof name - 1, *ve = next;
      while (v < ve && (*v == ' ' || *v == '\t'))
        v++;
      while (ve > v && (ve[-1] == '\n' || ve[-1] == '\r' || ve[-1] == ' ' ||
                        ve[-1] == '\t'))
        ve--;
      size_t vn = (size_t)(ve - v);
      return (vn == 4 && strncasecmp(v, "gzip", 4) == 0) ||
             (vn == 6 && strncasecmp(v, "x-gzip", 6) == 0);
    }
    p = next;
  }
  return 0;
}

/* Undoes a gzip body in place (see gunzip.h), flagging what went wrong. */
static void decode_body(Xfer *x) {
  struct buf out = {0};
  if (x->own_encoding || x->body.len == 0 || !said_gzip(&x->head))
    return;
  switch (icx_gunzip(x->body.data, x->body.len, (size_t)x->max_bytes, &out)) {
  case ICX_GUNZIP_OK:
    buf_free(&x->body);
    x->body = out;
    return;
  case ICX_GUNZIP_TOO_LARGE:
    x->too_large = 1;
    break;
  case ICX_GUNZIP_BAD:
    x->bad_gzip = 1;
    break;
  case ICX_GUNZIP_NOMEM:
    x->oom = 1;
    break;
  }
  buf_free(&out);
}

/* Moves finished transfers from curl's message queue to the done list. */
static void harvest(Multi *m) {
  CURLMsg *msg;
  int left;
  while ((msg = curl_multi_info_read(m->multi, &left))) {
    if (msg->msg != CURLMSG_DONE)
      continue;
    Xfer *x = NULL;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
    x->result = msg->data.result;
    curl_multi_remove_handle(m->multi, x->easy);
    for (Xfer **p = &m->active; *p; p = &(*p)->next)
      if (*p == x) {
        *p = x->next;
        break;
      }
    x->next = NULL;
    *m->done_tail = x;
    m->done_tail = &x->next;
  }
}

/* Pushes the response headers as {lower-case name -> value}; repeated
** headers are joined with ", " as HTTP allows.  [-0, +1, m] */
static void push_headers(lua_State *L, const struct buf *head) {
  lua_newtable(L);
  if (!head->data)
    return;
  const char *p = head->data, *end = head->data + head->len;
  while (p < end) {
    size_t rest = (size_t)(end - p);
    const char *eol = memchr(p, '\n', rest);
    size_t n = eol ? (size_t)(eol - p) : rest;
    const char *next = eol ? eol + 1 : end;
    if (n > 0 && p[n - 1] == '\r')
      n--;
    const char *line_end = p + n;
    const char *colon = memchr(p, ':', n);
    int status_line = n >= 5 && memcmp(p, "HTTP/", 5) == 0;
    if (colon && !status_line) {
      luaL_Buffer name;
      luaL_buffinit(L, &name);
      for (const char *c = p; c < colon; c++)
        luaL_addchar(&name, (char)tolower((unsigned char)*c));
      luaL_pushresult(&name);
      const char *v = colon + 1;
      while (v < line_end && (*v == ' ' || *v == '\t'))
        v++;
      const char *ve = line_end;
      while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
        ve--;
      lua_pushvalue(L, -1);
      if (lua_rawget(L, -3) == LUA_TSTRING) {
        lua_pushliteral(L, ", ");
        lua_pushlstring(L, v, (size_t)(ve - v));
        lua_concat(L, 3);
      } else {
        lua_pop(L, 1);
        lua_pushlstring(L, v, (size_t)(ve - v));
      }
      lua_rawset(L, -3);
    }
    p = next;
  }
}

/* Certificate checks that failed: the same request will fail the same way,
** so these are not retried like a dropped connection. */
static int is_tls_refusal(CURLcode rc) {
  return rc == CURLE_PEER_FAILED_VERIFICATION ||
         rc == CURLE_SSL_CACERT_BADFILE || rc == CURLE_SSL_CERTPROBLEM ||
         rc == CURLE_SSL_ISSUER_ERROR || rc == CURLE_SSL_INVALIDCERTSTATUS ||
         rc == CURLE_SSL_PINNEDPUBKEYNOTMATCH;
}

/* Pushes the completion table of a finished transfer.  [-0, +1, m] */
static void push_completion(lua_State *L, Xfer *x) {
  if (x->result == CURLE_OK && !x->too_large && !x->oom)
    decode_body(x);
  long status = 0, version = 0, connects = 0;
  curl_off_t total_us = 0;
  char *url = NULL;
  if (x->easy) { /* NULL when even curl_easy_init failed */
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(x->easy, CURLINFO_TOTAL_TIME_T, &total_us);
    curl_easy_getinfo(x->easy, CURLINFO_EFFECTIVE_URL, &url);
    curl_easy_getinfo(x->easy, CURLINFO_HTTP_VERSION, &version);
    curl_easy_getinfo(x->easy, CURLINFO_NUM_CONNECTS, &connects);
  }
  lua_createtable(L, 0, 11);
  lua_pushinteger(L, x->id);
  lua_setfield(L, -2, "id");
  lua_pushinteger(L, status);
  lua_setfield(L, -2, "status");
  push_headers(L, &x->head);
  lua_setfield(L, -2, "headers");
  /* A body cut at max_bytes is of no use to anyone: freed here rather
  ** than copied into a Lua string, so a cap of M costs M, not 2M. */
  size_t bytes = x->body.len;
  if (x->too_large)
    buf_free(&x->body);
  lua_pushlstring(L, x->body.data ? x->body.data : "", x->body.len);
  lua_setfield(L, -2, "body");
  lua_pushinteger(L, (lua_Integer)bytes);
  lua_setfield(L, -2, "bytes");
  lua_pushnumber(L, (double)total_us / 1000.0);
  lua_setfield(L, -2, "ms");
  lua_pushstring(L, url ? url : "");
  lua_setfield(L, -2, "url");
  lua_pushstring(L, version == CURL_HTTP_VERSION_2_0   ? "2"
                    : version == CURL_HTTP_VERSION_1_0 ? "1.0"
                    : version == CURL_HTTP_VERSION_1_1 ? "1.1"
                                                       : "");
  lua_setfield(L, -2, "http_version");
  lua_pushboolean(L, connects == 0);
  lua_setfield(L, -2, "reused");
  if (x->result == CURLE_OK && !x->oom && !x->too_large && !x->bad_gzip)
    return;
  const char *code = "transport";
  if (x->file_failed) {
    code = "file";
    lua_pushstring(L, x->file_err);
  } else if (x->bad_gzip) {
    lua_pushliteral(L, "the response says Content-Encoding: gzip, but its "
                       "body is not one well-formed gzip member");
  } else if (x->too_large || x->result == CURLE_FILESIZE_EXCEEDED) {
    code = "too_large";
    lua_pushfstring(L, "response body larger than %I bytes",
                    (lua_Integer)x->max_bytes);
  } else if (x->oom) {
    lua_pushliteral(L, "out of memory reading the response");
  } else {
    /* curl answers "Out of memory" for a request it cannot build, such as
    ** a header past its 1 MiB limit: retrying cannot help. */
    if (x->setup_failed || x->result == CURLE_OUT_OF_MEMORY)
      code = "setup";
    else if (x->result == CURLE_OPERATION_TIMEDOUT)
      code = "timeout";
    else if (x->result == CURLE_COULDNT_RESOLVE_HOST ||
             x->result == CURLE_COULDNT_RESOLVE_PROXY)
      code = "resolve";
    else if (x->result == CURLE_COULDNT_CONNECT)
      code = "connect";
    else if (is_tls_refusal(x->result))
      code = "tls";
    lua_pushstring(L, x->errbuf[0] ? x->errbuf : curl_easy_strerror(x->result));
  }
  lua_setfield(L, -2, "err");
  lua_pushstring(L, code);
  lua_setfield(L, -2, "code");
}

/* icx.http.multi([opts]) -> Multi */
static int http_multi(lua_State *L) {
  static const char *const keys[] = {"max_host_connections", NULL};
  icx_opts_check(L, 1, "icx.http", "multi{}", keys);
  long max_host = (long)icx_opts_integer(L, 1, "icx.http",
                                         "max_host_connections", 0, 0, INT_MAX);
  /* Created closed with its metatable first, so a failure below leaves a
  ** harmless closed userdata for the collector. */
  Multi *m = lua_newuserdatauv(L, sizeof *m, 0);
  memset(m, 0, sizeof *m);
  m->done_tail = &m->done;
  luaL_setmetatable(L, MULTI_MT);
  CURLM *cm = curl_multi_init();
  CURLSH *sh = curl_share_init();
  if (!cm || !sh) {
    if (cm)
      curl_multi_cleanup(cm);
    if (sh)
      curl_share_cleanup(sh);
    return luaL_error(L, "icx.http: cannot create a curl multi handle");
  }
  curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
  curl_multi_setopt(cm, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
  if (max_host)
    curl_multi_setopt(cm, CURLMOPT_MAX_HOST_CONNECTIONS, max_host);
  m->multi = cm;
  m->share = sh;
  m->next_id = 1;
  return 1;
}

/* A positive number of seconds or milliseconds rounded up, capped at a
** billion (decades) so a huge option cannot overflow the conversion. */
static long clamp_long(double v) {
  return v > 1e9 ? 1000000000L : (long)ceil(v);
}

/* Sets every option of a transfer; the first failure stops and is returned
** (CURLE_OK when all took). Every return is checked because a refused
** option (a string past curl's 8 MB input limit, no memory) must fail the
** transfer, not let it run without, say, its CA file or its timeout. */
static CURLcode setup_easy(Multi *m, Xfer *x, const char *url,
                           const char *method, const char *body,
                           size_t body_len, double timeout, double ctimeout,
                           double low_speed, const char *ca_file,
                           const char *userpwd, const char *sigv4) {
  CURL *e = x->easy;
  CURLcode rc = CURLE_OK;
#define SET(opt, val)                                                          \
  do {                                                                         \
    if (!rc)                                                                   \
      rc = curl_easy_setopt(e, opt, val);                                      \
  } while (0)
  SET(CURLOPT_PRIVATE, (char *)x);
  SET(CURLOPT_SHARE, m->share);
  SET(CURLOPT_URL, url);
  SET(CURLOPT_HTTPHEADER, x->headers);
  SET(CURLOPT_WRITEFUNCTION, on_body);
  SET(CURLOPT_WRITEDATA, (void *)x);
  SET(CURLOPT_HEADERFUNCTION, on_header);
  SET(CURLOPT_HEADERDATA, (void *)x);
  SET(CURLOPT_ERRORBUFFER, x->errbuf);
  SET(CURLOPT_NOSIGNAL, 1L);
  /* Decoded whole by decode_body, not streamed through curl's zlib. */
  SET(CURLOPT_HTTP_CONTENT_DECODING, 0L);
  SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
  /* Over TLS, wait for a connection being set up to learn (ALPN) whether
  ** it multiplexes rather than open another. Plain http:// is HTTP/1.1 here
  ** and never multiplexes, yet curl would still hold every other request
  ** until the first response's headers arrive: behind a slow one, they
  ** would time out without being sent. */
  if (strncasecmp(url, "https://", 8) == 0)
    SET(CURLOPT_PIPEWAIT, 1L);
  SET(CURLOPT_TCP_KEEPALIVE, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
  SET(CURLOPT_PROTOCOLS_STR, "http,https");
#else
  SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
  /* Redirects would carry the Authorization header to wherever the server
  ** points; Intercom's API does not redirect, so a 3xx is reported as is. */
  SET(CURLOPT_FOLLOWLOCATION, 0L);
  SET(CURLOPT_TIMEOUT_MS, clamp_long(timeout * 1000));
  SET(CURLOPT_CONNECTTIMEOUT_MS, clamp_long(ctimeout * 1000));
  /* A server trickling bytes would otherwise hold a slot until the overall
  ** timeout; below LOW_SPEED_LIMIT for low_speed seconds is a "timeout". */
  SET(CURLOPT_LOW_SPEED_LIMIT, (long)LOW_SPEED_LIMIT);
  SET(CURLOPT_LOW_SPEED_TIME, clamp_long(low_speed));
  SET(CURLOPT_MAXFILESIZE_LARGE, x->max_bytes);
  if (ca_file)
    SET(CURLOPT_CAINFO, ca_file);
  if (userpwd)
    SET(CURLOPT_USERPWD, userpwd);
  if (sigv4) {
#if LIBCURL_VERSION_NUM >= 0x074b00
    SET(CURLOPT_AWS_SIGV4, sigv4);
#else
    if (!rc)
      rc = CURLE_NOT_BUILT_IN;
#endif
  }
  if (x->upload) {
    SET(CURLOPT_UPLOAD, 1L);
    SET(CURLOPT_READFUNCTION, on_upload);
    SET(CURLOPT_READDATA, (void *)x);
    SET(CURLOPT_SEEKFUNCTION, on_seek);
    SET(CURLOPT_SEEKDATA, (void *)x);
    SET(CURLOPT_INFILESIZE_LARGE, x->up_size);
  }
  if (!strcmp(method, "HEAD"))
    SET(CURLOPT_NOBODY, 1L);
  else if (!strcmp(method, "POST"))
    SET(CURLOPT_POST, 1L);
  else if (strcmp(method, "GET") != 0 && !x->upload)
    SET(CURLOPT_CUSTOMREQUEST, method);
  if (body || !strcmp(method, "POST")) {
    SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    SET(CURLOPT_COPYPOSTFIELDS, body ? body : "");
  }
#undef SET
  return rc;
}

/* Multi:start(req) -> id */
static int multi_start(lua_State *L) {
  static const char *const keys[] = {
      "method",        "url",         "headers",
      "body",          "timeout",     "connect_timeout",
      "max_bytes",     "ca_file",     "low_speed_time",
      "userpwd",       "aws_sigv4",   "upload_file",
      "upload_offset", "upload_size", NULL};
  Multi *m = check_multi(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  icx_opts_check(L, 2, "icx.http", "request", keys);

  /* Everything is checked before anything is allocated, so a bad request
  ** raises with no C memory to free. */
  const char *url = icx_opts_string(L, 2, "icx.http", "url", NULL);
  if (!url)
    return luaL_error(L, "icx.http: request needs a 'url'");
  if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)
    return luaL_error(L, "icx.http: url must start with https:// or http://");
  const char *method = icx_opts_string(L, 2, "icx.http", "method", NULL);
  if (!method)
    method = "GET";
  for (const char *c = method; *c; c++)
    if (!isupper((unsigned char)*c))
      return luaL_error(L, "icx.http: method '%s' must be upper case", method);
  size_t body_len = 0;
  const char *body = icx_opts_string(L, 2, "icx.http", "body", &body_len);
  if (body && (!strcmp(method, "GET") || !strcmp(method, "HEAD")))
    return luaL_error(L, "icx.http: a %s request cannot have a body", method);
  int htype = icx_opts_get(L, 2, "headers");
  if (htype != LUA_TNIL && htype != LUA_TTABLE)
    return luaL_error(L, "icx.http: option 'headers' must be a list of "
                         "strings");
  if (htype == LUA_TTABLE)
    check_headers(L, -1);
  int hidx = lua_gettop(L);
  double timeout =
      icx_opts_positive(L, 2, "icx.http", "timeout", DEFAULT_TIMEOUT);
  double ctimeout = icx_opts_positive(L, 2, "icx.http", "connect_timeout",
                                      DEFAULT_CONNECT_TIMEOUT);
  lua_Integer max_bytes = icx_opts_integer(
      L, 2, "icx.http", "max_bytes", DEFAULT_MAX_BYTES, 1, LUA_MAXINTEGER);
  const char *ca_file = icx_opts_string(L, 2, "icx.http", "ca_file", NULL);
  double low_speed = icx_opts_positive(L, 2, "icx.http", "low_speed_time",
                                       DEFAULT_LOW_SPEED_TIME);
  const char *userpwd = icx_opts_string(L, 2, "icx.http", "userpwd", NULL);
  const char *sigv4 = icx_opts_string(L, 2, "icx.http", "aws_sigv4", NULL);
  const char *upload = icx_opts_string(L, 2, "icx.http", "upload_file", NULL);
  lua_Integer up_offset = icx_opts_integer(L, 2, "icx.http", "upload_offset", 0,
                                           0, LUA_MAXINTEGER / 2);
  lua_Integer up_size = icx_opts_integer(L, 2, "icx.http", "upload_size", -1, 0,
                                         LUA_MAXINTEGER / 2);
  if (upload && (body || strcmp(method, "PUT") != 0))
    return luaL_error(L, "icx.http: upload_file needs method 'PUT' and no "
                         "'body'");
  int sliced = icx_opts_get(L, 2, "upload_offset") != LUA_TNIL;
  sliced |= icx_opts_get(L, 2, "upload_size") != LUA_TNIL;
  lua_pop(L, 2);
  if (sliced && !upload)
    return luaL_error(L, "icx.http: upload_offset and upload_size need "
                         "'upload_file'");

  size_t head = strlen(method) + strlen(url) + 16;
  if (htype == LUA_TTABLE) {
    lua_Integer n = luaL_len(L, hidx);
    for (lua_Integer i = 1; i <= n; i++) {
      lua_geti(L, hidx, i);
      head += lua_rawlen(L, -1) + 2;
      lua_pop(L, 1);
    }
  }

  Xfer *x = calloc(1, sizeof *x);
  if (!x)
    return luaL_error(L, "icx.http: out of memory");
  x->max_bytes = (curl_off_t)max_bytes;
  x->id = m->next_id++;
  x->easy = curl_easy_init();
  CURLcode rc = x->easy ? CURLE_OK : CURLE_FAILED_INIT;
  if (!rc && head > MAX_REQUEST_HEAD) {
    /* curl fails such a request with "Out of memory" only once connected,
    ** and (7.88) leaves that connection in the pool, where later requests
    ** to the host wait on it until their timeout. Refused here instead. */
    snprintf(x->errbuf, sizeof x->errbuf,
             "cannot start the transfer: request line and headers of %zu "
             "bytes are over the %d-byte limit",
             head, MAX_REQUEST_HEAD);
    rc = CURLE_BAD_FUNCTION_ARGUMENT;
  }
  int has_type = 0;
  if (htype == LUA_TTABLE) {
    lua_Integer n = luaL_len(L, hidx);
    for (lua_Integer i = 1; !rc && i <= n; i++) {
      lua_geti(L, hidx, i); /* checked strings: cannot raise */
      const char *h = lua_tostring(L, -1);
      has_type |= strncasecmp(h, "content-type:", 13) == 0;
      x->own_encoding |= strncasecmp(h, "accept-encoding:", 16) == 0;
      rc = add_header(x, h);
      lua_pop(L, 1);
    }
  }
  /* curl would otherwise wait a round trip for "100 Continue", and label a
  ** bodiless POST as a form. */
  if (!rc && upload && open_upload(x, upload, up_offset, up_size) != 0) {
    x->file_failed = 1;
    rc = CURLE_READ_ERROR;
  }
  /* With aws_sigv4, curl 7.88 signs the blanked "Expect:" as a header it
  ** then does not send, and every such request fails its signature check:
  ** those keep curl's Expect: 100-continue, which lets a server refuse a
  ** large part before its body is sent. */
  if (!rc && !sigv4 && (body || upload || !strcmp(method, "POST")))
    rc = add_header(x, "Expect:");
  if (!rc && !strcmp(method, "POST") && !has_type)
    rc = add_header(x, "Content-Type:");
  if (!rc && !x->own_encoding)
    rc = add_header(x, "Accept-Encoding: gzip");
  if (!rc)
    rc = setup_easy(m, x, url, method, body, body_len, timeout, ctimeout,
                    low_speed, ca_file, userpwd, sigv4);
  if (!rc && curl_multi_add_handle(m->multi, x->easy) != CURLM_OK)
    rc = CURLE_FAILED_INIT;
  m->pending++;
  if (rc) {
    /* Reported by the next wait like any failed transfer, never raised and
    ** never left waiting: a scheduler parked on this id would hang. */
    x->setup_failed = 1;
    x->result = rc;
    if (strncmp(x->errbuf, "cannot start", 12) != 0)
      snprintf(x->errbuf, sizeof x->errbuf, "cannot start the transfer: %s",
               curl_easy_strerror(rc));
    *m->done_tail = x;
    m->done_tail = &x->next;
  } else {
    x->next = m->active;
    m->active = x;
  }
  lua_pushinteger(L, x->id);
  return 1;
}

/* Completions handed to Lua per wait. A page is decoded (and copied into
** Lua) only when it is handed over, and the scheduler asks again once the
** tasks it woke have used theirs: a process pulling many workspaces whose
** answers arrive faster than it parses them holds a few decoded pages, not
** one per transfer in flight (gzip makes a held page about a tenth). */
#define DELIVER_MAX 8

/* Multi:wait([seconds]) -> list of completions */
static int multi_wait(lua_State *L) {
  Multi *m = check_multi(L, 1);
  double timeout = luaL_optnumber(L, 2, 0);
  double deadline = icx_clock_now() + (timeout > 0 ? timeout : 0);
  for (;;) {
    int running = 0;
    CURLMcode rc = curl_multi_perform(m->multi, &running);
    if (rc != CURLM_OK)
      return luaL_error(L, "icx.http: %s", curl_multi_strerror(rc));
    harvest(m);
    if (m->done || !m->active)
      break;
    double left = deadline - icx_clock_now();
    if (left <= 0)
      break;
    int ms = left > 1e6 ? 1000000000 : (int)ceil(left * 1000);
    struct curl_waitfd sigfd = {icx_signal_fd(), CURL_WAIT_POLLIN, 0};
    rc = curl_multi_poll(m->multi, &sigfd, sigfd.fd >= 0, ms, NULL);
    if (rc != CURLM_OK)
      return luaL_error(L, "icx.http: %s", curl_multi_strerror(rc));
    /* A signal wakes the poll (EINTR or the signal pipe); the scheduler
    ** then unwinds every task. */
    if (icx_signal_caught())
      break;
  }
  lua_newtable(L);
  int n = 0;
  while (m->done && n < DELIVER_MAX) {
    Xfer *x = m->done;
    push_completion(L, x);
    lua_rawseti(L, -2, ++n);
    /* Only now, with the table safe in the list, is the transfer freed. */
    m->done = x->next;
    if (!m->done)
      m->done_tail = &m->done;
    m->pending--;
    xfer_free(x);
  }
  return 1;
}

/* Multi:pending() -> n */
static int multi_pending(lua_State *L) {
  Multi *m = check_multi(L, 1);
  lua_pushinteger(L, m->pending);
  return 1;
}

/* Multi:cancel(id) -> boolean: true when the transfer was still known. */
static int multi_cancel(lua_State *L) {
  Multi *m = check_multi(L, 1);
  lua_Integer id = luaL_checkinteger(L, 2);
  Xfer **lists[2] = {&m->active, &m->done};
  for (int l = 0; l < 2; l++)
    for (Xfer **p = lists[l]; *p; p = &(*p)->next) {
      Xfer *x = *p;
      if (x->id != id)
        continue;
      *p = x->next;
      if (l == 0) {
        curl_multi_remove_handle(m->multi, x->easy);
      } else {
        m->done_tail = &m->done;
        while (*m->done_tail)
          m->done_tail = &(*m->done_tail)->next;
      }
      m->pending--;
      xfer_free(x);
      lua_pushboolean(L, 1);
      return 1;
    }
  lua_pushboolean(L, 0);
  return 1;
}

/* Multi:close(), __gc and __close: frees every transfer, then the handles.
** Transfers go first because curl refuses to free a share still in use. */
static int multi_close(lua_State *L) {
  Multi *m = luaL_checkudata(L, 1, MULTI_MT);
  if (!m->multi)
    return 0;
  while (m->active) {
    Xfer *x = m->active;
    m->active = x->next;
    curl_multi_remove_handle(m->multi, x->easy);
    xfer_free(x);
  }
  while (m->done) {
    Xfer *x = m->done;
    m->done = x->next;
    xfer_free(x);
  }
  m->done_tail = &m->done;
  m->pending = 0;
  curl_multi_cleanup(m->multi);
  curl_share_cleanup(m->share);
  m->multi = NULL;
  m->share = NULL;
  return 0;
}

/* __tostring: "icx.http.Multi (2 pending)" or "icx.http.Multi (closed)" */
static int multi_tostring(lua_State *L) {
  Multi *m = luaL_checkudata(L, 1, MULTI_MT);
  if (!m->multi)
    lua_pushfstring(L, "%s (closed)", MULTI_MT);
  else
    lua_pushfstring(L, "%s (%d pending)", MULTI_MT, m->pending);
  return 1;
}

static const luaL_Reg multi_methods[] = {
    {"start", multi_start},     {"wait", multi_wait},
    {"pending", multi_pending}, {"cancel", multi_cancel},
    {"close", multi_close},     {NULL, NULL}};

static const luaL_Reg multi_meta[] = {{"__gc", multi_close},
                                      {"__close", multi_close},
                                      {"__tostring", multi_tostring},
                                      {NULL, NULL}};

static const luaL_Reg http_funcs[] = {{"multi", http_multi}, {NULL, NULL}};

/* require "icx.http": the Multi metatable and the module table. */
int luaopen_icx_http(lua_State *L) {
  /* Reference-counted by curl and cheap after the first call; never undone,
  ** since other states of the process may still use curl. */
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
    return luaL_error(L, "icx.http: curl_global_init failed");
  icx_class_new(L, MULTI_MT, multi_meta, multi_methods, 0);
  luaL_newlib(L, http_funcs);
  lua_pushliteral(L, ICX_VERSION);
  lua_setfield(L, -2, "version");
  lua_pushliteral(L, "icx/" ICX_VERSION);
  lua_setfield(L, -2, "user_agent");
  lua_pushstring(L, curl_version());
  lua_setfield(L, -2, "curl_version");
  return 1;
}
