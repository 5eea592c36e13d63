/* tests/fuzz/fuzz_record.c: libFuzzer harness for the record path: a
 * response body -> icx.json.page (engine/ljson.c over jscan.c) -> the typed
 * SQLite writer (engine/lsqlite.c) into an in-memory database, and the same
 * body as JSON text through the writer's transform path.
 *
 * A bug is: page() refusing without (nil, message, "json"); the writer
 * raising, or failing with a code other than "record"; a written page whose
 * count differs from page:count(); and any value of the last record with a
 * given string id that did not land exactly: integers as the same integer,
 * floats as the same double, strings byte for byte, booleans 0/1, null as
 * NULL, integers beyond int64 as the TEXT of their digits, objects and
 * arrays as JSON text that decodes. Keys that repeat in a record up to
 * ASCII case are skipped (the first value wins, as documented), and so are
 * pages where some record's id is not one string or nonzero integer (the
 * row it overwrites cannot be told from the decoded values). */
#include <stdint.h>
#include <stddef.h>

#include "fuzz_lua.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char src[] =
    "local json = require 'icx.json'\n"
    "local sqlite = require 'icx.sqlite'\n"
    "local db = assert(sqlite.open(':memory:', { wal = false }))\n"
    "local function bug(fmt, ...) error('BUG: ' .. fmt:format(...), 0) end\n"
    "local function is_id(k) k = k:lower() return k == 'id' or k:sub(-3) == '_id' end\n"
    "local function same(k, v, got)\n"
    "  local mt = getmetatable(v)\n"
    "  if v == json.null then return got == nil end\n"
    "  if type(v) == 'boolean' then return got == (v and 1 or 0) end\n"
    "  if math.type(v) == 'integer' then return math.type(got) == 'integer' and got == v end\n"
    "  if math.type(v) == 'float' then return math.type(got) == 'float' and got == v end\n"
    "  if type(v) == 'string' then return got == v end\n"
    "  if mt == json.bignum_mt then\n"
    "    return type(got) == 'number' or got == tostring(v)\n"
    "  end\n"
    "  if type(v) == 'table' then\n"
    "    return type(got) == 'string' and json.decode(got) ~= nil\n"
    "  end\n"
    "  bug('field %q: unexpected decoded type %s', k, type(v))\n"
    "end\n"
    "local function check_page(page, n)\n"
    "  local last = {}\n"
    "  for i = 1, n do\n"
    "    local id, ids = nil, 0\n"
    "    for k, v in pairs(page:record(i)) do\n"
    "      if k:lower() == 'id' then id, ids = v, ids + 1 end\n"
    "    end\n"
    "    if math.type(id) == 'integer' and id ~= 0 then id = tostring(id) end\n"
    "    if ids ~= 1 or type(id) ~= 'string' then return end\n"
    "    last[id] = i\n"
    "  end\n"
    "  for id, i in pairs(last) do\n"
    "    local rows = assert(db:query('SELECT * FROM t WHERE id = ?', id))\n"
    "    if #rows ~= 1 then bug('id %q: %d rows', id, #rows) end\n"
    "    local row = {}\n"
    "    for k, v in pairs(rows[1]) do row[k:lower()] = v end\n"
    "    local rec = page:record(i)\n"
    "    local folded = {}\n"
    "    for k in pairs(rec) do folded[k:lower()] = (folded[k:lower()] or 0) + 1 end\n"
    "    for k, v in pairs(rec) do\n"
    "      if folded[k:lower()] == 1 and not k:find('\\0', 1, true) then\n"
    "        local got = row[k:lower()]\n"
    "        if is_id(k) then\n"
    "          if type(v) == 'string' and got ~= v then\n"
    "            bug('record %d: id column %q holds %q, sent %q', i, k, tostring(got), v)\n"
    "          end\n"
    "        elseif not same(k, v, got) then\n"
    "          bug('record %d: field %q holds %s %q, sent %s %q', i, k, math.type(got) or type(got),\n"
    "            tostring(got), math.type(v) or type(v), tostring(v))\n"
    "        end\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local function write(w, what)\n"
    "  local n, err, code = w:write(what)\n"
    "  if n == nil and code ~= 'record' then\n"
    "    bug('write failed with code %s: %s', tostring(code), tostring(err))\n"
    "  end\n"
    "  return n\n"
    "end\n"
    "return function(body)\n"
    "  local page, err, code = json.page(body, 'data')\n"
    "  if not page and (code ~= 'json' or type(err) ~= 'string') then\n"
    "    bug('page() refused without a json error: %s %s', tostring(err), tostring(code))\n"
    "  end\n"
    "  assert(db:exec('DROP TABLE IF EXISTS t; DROP TABLE IF EXISTS t2'))\n"
    "  assert(db:begin())\n"
    "  local w = db:writer('t', { primary_key = { 'id' } })\n"
    "  local w2 = db:writer('t2', { primary_key = { 'id' } })\n"
    "  local n = page and write(w, page)\n"
    "  write(w2, body)\n"
    "  assert(db:commit())\n"
    "  if n then\n"
    "    if n ~= page:count() then bug('wrote %d of %d records', n, page:count()) end\n"
    "    check_page(page, n)\n"
    "  end\n"
    "  w:close()\n"
    "  w2:close()\n"
    "  if page then page:close() end\n"
    "end\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_lua_run("fuzz_record", src, data, size);
  return 0;
}
