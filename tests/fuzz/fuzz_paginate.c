/* tests/fuzz/fuzz_paginate.c: libFuzzer harness for the paginators'
 * response handling (lualib/icx/paginate.lua): each style's next-request
 * logic fed a response body, through a real icx.intercom Client whose
 * request() is replaced by a fake that builds the URL as the client does
 * (Client:url, which refuses another host) and answers with the input.
 *
 * Input: byte 0 picks the style (cursor, search, page, scroll, single) and,
 * for scroll, the status (200, 400, 404 or 500, the statuses the scroll
 * rules handle); the rest is the body, returned for every request. A walk
 * stops after 4 pages.
 *
 * A bug is: any error other than an icx "json" or "http" error (a bare Lua
 * error in paginate.lua or intercom.lua); a request the client could not
 * send (method not a string, a query value not a string, number or boolean,
 * a body icx.json.encode refuses); a page without count().
 *
 * FUZZ_IGNORE_KNOWN=1 lets the known bare errors of KNOWN below pass (see
 * tests/fuzz/regress/KNOWN), so a smoke run looks for new bugs; delete an
 * entry once its fix lands. */
#include <stdint.h>
#include <stddef.h>

#include "fuzz_lua.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char src[] =
    "local paginate = require 'icx.paginate'\n"
    "local intercom = require 'icx.client'\n"
    "local errors = require 'icx.errors'\n"
    "local json = require 'icx.json'\n"
    "require('icx.log').level = 0\n"
    "local function bug(fmt, ...) error('BUG: ' .. fmt:format(...), 0) end\n"
    "local conn = { name = 'fuzz', access_token = 'tok_FUZZpaginateSecret',\n"
    "  base_url = 'https://fuzz.invalid', rate_limit = 1e9 }\n"
    "local client = intercom.new(conn, { attempts = 1 })\n"
    "local body, status = '', 200\n"
    "client.request = function(self, req)\n"
    "  if type(req.method) ~= 'string' then bug('request method %s', tostring(req.method)) end\n"
    "  for k, v in pairs(req.query or {}) do\n"
    "    local t = type(v)\n"
    "    if type(k) ~= 'string' or (t ~= 'string' and t ~= 'number' and t ~= 'boolean') then\n"
    "      bug('query %s = %s (%s)', tostring(k), tostring(v), t)\n"
    "    end\n"
    "  end\n"
    "  local url = self:url(req.path, req.query)\n"
    "  if req.body ~= nil then\n"
    "    local ok, e = pcall(json.encode, req.body)\n"
    "    if not ok then bug('request body does not encode: %s', tostring(e)) end\n"
    "  end\n"
    "  return { status = status, headers = {}, body = body, url = url, bytes = #body, ms = 0 }\n"
    "end\n"
    "local SOURCES = {\n"
    "  { style = 'cursor', path = '/contacts', per_page = 2 },\n"
    "  { style = 'search', path = '/contacts/search',\n"
    "    body = { query = { field = 'updated_at', operator = '>', value = 1 } } },\n"
    "  { style = 'page', path = '/articles' },\n"
    "  { style = 'scroll', path = '/companies/scroll', scroll_wait = 0, max_restarts = 1 },\n"
    "  { style = 'single', path = '/tags', list_key = 'data' },\n"
    "}\n"
    "local STATUS = { 200, 200, 400, 404, 500 }\n"
    "local KNOWN = os.getenv('FUZZ_IGNORE_KNOWN') == '1' and {\n"
    "  \"paginate%.lua:%d+: attempt to index a %w+ value %(local 'body'%)\",\n"
    "} or {}\n"
    "local function known(e)\n"
    "  for _, pat in ipairs(KNOWN) do if tostring(e):find(pat) then return true end end\n"
    "end\n"
    "local function walk(src)\n"
    "  local n = 0\n"
    "  for page, info in paginate.pages(client, src, { stats = {} }) do\n"
    "    n = n + 1\n"
    "    if type(page:count()) ~= 'number' or info.number ~= n then bug('page %d: bad page or info', n) end\n"
    "    if n >= 4 then break end\n"
    "  end\n"
    "end\n"
    "return function(input)\n"
    "  local b = input:byte(1) or 0\n"
    "  local src = SOURCES[b % #SOURCES + 1]\n"
    "  status = src.style == 'scroll' and STATUS[(b // #SOURCES) % #STATUS + 1] or 200\n"
    "  body = input:sub(2)\n"
    "  local ok, e = pcall(walk, src)\n"
    "  if not ok and not (errors.is(e) and (e.kind == 'json' or e.kind == 'http')) and not known(e) then\n"
    "    bug('%s walk (status %d) raised: %s', src.style, status, tostring(e))\n"
    "  end\n"
    "end\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_lua_run("fuzz_paginate", src, data, size);
  return 0;
}
