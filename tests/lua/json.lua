-- icx.json: lossless decode/encode and pages. The values are those the
-- simulator's custom attributes carry (tests/sim/sim_gen.py), the ones
-- lua-cjson mangles: integers above 2^53, int64 extremes, integers beyond
-- int64, 1e-07, [] vs {}, null, emoji, CJK, quotes, backslashes, controls.
local t = dofile "tests/lib/tap.lua"
local json = require "icx.json"

local decode, encode = json.decode, json.encode

-- Bit-exact identity of two Lua values (floats compared by their bits, so
-- -0.0 ~= 0.0, and integer 1 ~= float 1.0), tables deep, metatables too.
local function same(a, b)
  if type(a) ~= type(b) then return false end
  if type(a) == "number" then
    if math.type(a) ~= math.type(b) then return false end
    if math.type(a) == "float" then
      return string.pack("<d", a) == string.pack("<d", b)
    end
    return a == b
  end
  if type(a) == "table" then
    if getmetatable(a) ~= getmetatable(b) then return false end
    for k, v in pairs(a) do
      if not same(v, b[k]) then return false end
    end
    for k in pairs(b) do
      if a[k] == nil then return false end
    end
    return true
  end
  return a == b
end

-- encode(decode(text)) must be want (default: text itself).
local function roundtrip(text, want, name)
  local v, err = decode(text)
  if not t.ok(err == nil, (name or text) .. ": decodes") then
    print("#   " .. tostring(err))
    return
  end
  t.is(encode(v), want or text, (name or text) .. ": re-encodes")
end

-------------------------------------------------------------- numbers
do
  local v = decode("9007199254740993")
  t.is(math.type(v), "integer", "2^53+1 is an integer")
  t.is(v, 9007199254740993, "2^53+1 is exact")
  t.is(decode("1700000000"), 1700000000, "timestamp exact")
  t.is(math.type(decode("1700000000")), "integer", "timestamp stays integer")
  t.is(decode("9223372036854775807"), math.maxinteger, "int64 max")
  t.is(decode("-9223372036854775808"), math.mininteger, "int64 min")
  roundtrip("9007199254740993")
  roundtrip("9223372036854775807")
  roundtrip("-9223372036854775808")
  roundtrip("-42")
  roundtrip("0")
  roundtrip("-0", "0", "-0 is the integer 0")

  local big = decode("18446744073709551616")
  t.is(getmetatable(big), json.bignum_mt, "2^64 is a bignum")
  t.is(tostring(big), "18446744073709551616", "bignum keeps its digits")
  t.is(encode(big), "18446744073709551616", "bignum re-encodes bare")
  t.is(encode({ n = big }), '{"n":18446744073709551616}', "bignum in a table")
  t.ok(big == json.bignum("18446744073709551616"), "bignums compare by literal")
  t.ok(big ~= json.bignum("18446744073709551617"), "different bignums differ")
  t.is("n=" .. big, "n=18446744073709551616", "bignum concatenates")
  roundtrip("9223372036854775808", nil, "int64 max + 1 (bignum)")
  roundtrip("-9223372036854775809", nil, "int64 min - 1 (bignum)")
  roundtrip("123456789012345678901234567890")
  roundtrip("1e400", nil, "float overflow kept as bignum")
  roundtrip("-1e400", nil, "negative float overflow kept as bignum")
  roundtrip("1e-400", nil, "float underflow kept as bignum")
  t.raises(function() json.bignum("12x") end, "not a JSON number literal",
    "bignum() checks its literal")
  t.raises(function() json.bignum(" 12") end, "not a JSON number literal",
    "bignum() refuses whitespace")

  for _, lit in ipairs { "0.1", "1e-07", "1.5e+300", "-2.5", "3.14159",
                         "1.0", "-0.0", "0.30000000000000004",
                         "1.7976931348623157e+308", "2.2250738585072014e-308",
                         "123456.789" } do
    local v = decode(lit)
    t.is(math.type(v), "float", lit .. " is a float")
    t.is(encode(v), lit, lit .. " re-encodes as itself")
  end
  t.is(decode("1e-07"), 1e-07, "1e-07 value")
  t.is(encode(decode("1.5e300")), "1.5e+300", "1.5e300: exponent sign added")
  t.is(encode(decode("1E2")), "100.0", "1E2 stays a float")
  t.ok(same(decode(encode(decode("5e-324"))), 5e-324), "5e-324 round-trips")
  t.ok(same(decode("-0.0"), -0.0), "-0.0 keeps its sign")
  t.is(encode(1.0), "1.0", "float 1.0 stays a float")
  t.is(encode(1e15), "1e+15", "1e15")
  t.is(encode(2^53), "9007199254740992.0", "2^53 float")
  t.is(encode(1/3), "0.3333333333333333", "1/3 needs 16 digits")
  t.is(encode(0.1 + 0.2), "0.30000000000000004", "0.1+0.2")
  t.raises(function() encode(1/0) end, "cannot encode inf", "inf raises")
  t.raises(function() encode(-1/0) end, "cannot encode inf", "-inf raises")
  t.raises(function() encode(0/0) end, "cannot encode nan", "nan raises")
  t.raises(function() encode({ a = { 1, 0/0 } }) end,
    "cannot encode nan at value.a[2]", "error names the path")
  t.is(encode(math.mininteger), "-9223372036854775808", "encode mininteger")
end

------------------------------------------------ arrays, objects, null
do
  local a = decode("[]")
  t.is(getmetatable(a), json.array_mt, "[] is tagged array")
  t.is(encode(a), "[]", "[] stays []")
  local o = decode("{}")
  t.is(getmetatable(o), json.object_mt, "{} is tagged object")
  t.is(encode(o), "{}", "{} stays {}")
  t.is(encode({}), "{}", "an untagged empty table is {}")
  t.is(encode(setmetatable({}, json.array_mt)), "[]", "array_mt makes []")
  t.is(encode({ 1, 2, 3 }), "[1,2,3]", "a sequence is an array")
  t.is(encode({ b = 1, a = 2, c = { z = 1, y = {} } }),
    '{"a":2,"b":1,"c":{"y":{},"z":1}}', "keys sorted, deterministic")
  t.is(decode("null"), json.null, "null is icx.json.null")
  t.is(type(json.null), "userdata", "null is a light userdata")
  t.is(encode(json.null), "null", "encode null")
  t.is(encode(nil), "null", "encode nil")
  local arr = decode("[null,1,null]")
  t.ok(arr[1] == json.null and arr[2] == 1 and arr[3] == json.null and #arr == 3,
    "nulls keep array positions")
  roundtrip("[null,1,null]")
  roundtrip("true")
  roundtrip("false")
  roundtrip('[[],{},[[]],{"a":[]},{"b":{}}]', nil, "nested empties")
  roundtrip('{"a":null}', nil, "null member kept")
  local ok, cjson = pcall(require, "cjson")
  if ok then
    t.ok(cjson.null == json.null, "icx.json.null is cjson.null")
  else
    t.ok(true, "# skip cjson not available")
  end
  local d = decode('{"a":1,"a":2}')
  t.is(d.a, 1, "duplicate keys: first wins")
end

------------------------------------------------------------- strings
do
  local cases = {
    { '"😀 party 🎉"', "😀 party 🎉" },
    { '"中文テキスト한국어"', "中文テキスト한국어" },
    { '"漢字"', "漢字" },
    { '"say \\"hi\\""', 'say "hi"' },
    { '"back\\\\slash"', "back\\slash" },
    { '"line1\\nline2"', "line1\nline2" },
    { '"ctrl\\u0001char"', "ctrl\1char" },
    { '"tab\\tsep"', "tab\tsep" },
    { '""', "" },
    { '"</script><b>x</b>"', "</script><b>x</b>" },
    { '"e\u{301} combining"', "e\u{301} combining" },
    { '"nul\\u0000byte"', "nul\0byte" },
    { '"\\b\\f\\r\\u001f\\u007f"', "\b\f\r\31\127" },
  }
  for _, c in ipairs(cases) do
    t.is(decode(c[1]), c[2], "decode " .. c[1])
    t.is(encode(c[2]), c[1]:gsub("\\u007f", "\127"), "encode " .. c[1])
  end
  -- What Python's json.dumps sends by default: non-ASCII as \u escapes.
  t.is(decode('"\\ud83d\\ude00 \\u6f22\\u5b57"'), "😀 漢字", "\\u escapes, surrogate pair")
  t.is(encode(decode('"\\ud83d\\ude00"')), '"😀"', "escapes normalise to UTF-8")
  t.is(decode('"\\/"'), "/", "escaped solidus")
  t.raises(function() encode("\xff") end, "invalid UTF-8 in string (byte 1)",
    "invalid UTF-8 raises")
  t.raises(function() encode({ ["k\xc0"] = 1 }) end, "invalid UTF-8",
    "invalid UTF-8 key raises")
  t.is(encode({ ["a\nb"] = 1 }), '{"a\\nb":1}', "keys are escaped")
end

--------------------------------------------------- simulator records
do
  local text = '{"plan":"pro","seats":null,"big_number":9007199254740993,'
    .. '"ratio":1e-07,"account_ref":"100002","labels":[],"meta":{},'
    .. '"nickname":"ctrl\\u0001char","is_vip":true,"trial_ends_at":1700000000,'
    .. '"anything":{"nested":{"deep":[1,2.5,"\\u4e09"]},"empty":{}},'
    .. '"max":9223372036854775807,"min":-9223372036854775808,'
    .. '"huge":18446744073709551616,"f":0.1,"g":1.5e+300,"x":-2.5}'
  local v = decode(text)
  t.is(v.big_number, 9007199254740993, "record: big_number exact")
  t.is(math.type(v.trial_ends_at), "integer", "record: timestamp integer")
  t.is(v.seats, json.null, "record: null")
  t.is(encode(v.labels), "[]", "record: [] kept")
  t.is(encode(v.meta), "{}", "record: {} kept")
  t.is(v.anything.nested.deep[3], "三", "record: nested unicode")
  local want = '{"account_ref":"100002","anything":{"empty":{},"nested":'
    .. '{"deep":[1,2.5,"三"]}},"big_number":9007199254740993,"f":0.1,'
    .. '"g":1.5e+300,"huge":18446744073709551616,"is_vip":true,"labels":[],'
    .. '"max":9223372036854775807,"meta":{},"min":-9223372036854775808,'
    .. '"nickname":"ctrl\\u0001char","plan":"pro","ratio":1e-07,"seats":null,'
    .. '"trial_ends_at":1700000000,"x":-2.5}'
  t.is(encode(v), want, "record: lossless, keys sorted")
  t.ok(same(decode(encode(v)), v), "record: decode(encode(v)) is v")
end

--------------------------------------------------------- decode errors
do
  local v, err, code = decode("[1,]")
  t.is(v, nil, "bad JSON: nil")
  t.is(err, "icx.json: trailing comma before ']' at byte 3 (line 1, column 4)",
    "bad JSON: message with offset")
  t.is(code, "json", "bad JSON: code")
  v, err = decode('{\n  "a": 1\n  "b": 2\n}')
  t.is(err, "icx.json: expected ',' or '}' after object member at byte 13 "
    .. "(line 3, column 3)", "line and column")
  v, err = decode("")
  t.like(err, "empty document", "empty text")
  v, err = decode("NaN")
  t.like(err, "NaN and Infinity", "NaN refused")
  v, err = decode('"\\ud800"')
  t.like(err, "lone high surrogate", "lone surrogate refused")
  v, err = decode('"\xc0\xaf"')
  t.like(err, "invalid UTF%-8", "invalid UTF-8 refused")
  v, err = decode(("["):rep(257) .. ("]"):rep(257))
  t.like(err, "nesting deeper than 256 levels at byte 256", "depth limit")
  v = decode(("["):rep(256) .. ("]"):rep(256))
  t.is(type(v), "table", "depth 256 decodes")
  t.is(encode(v), ("["):rep(256) .. ("]"):rep(256), "depth 256 encodes")
  t.raises(function() decode({}) end, "bad argument #1", "decode needs a string")
end

--------------------------------------------------------- encode errors
do
  t.raises(function() encode({ 1, 2, x = 3 }) end,
    "table mixes array indices and string keys at value", "mixed table")
  t.raises(function() encode({ [1] = 1, [3] = 3 }) end, "array has holes",
    "sparse table")
  t.raises(function() encode(setmetatable({ [2] = 1 }, json.array_mt)) end,
    "array has holes", "array_mt with a hole")
  t.raises(function() encode(setmetatable({ 1, x = 1 }, json.array_mt)) end,
    'array (icx.json.array_mt) has string key "x"', "array_mt with a string key")
  t.raises(function() encode(setmetatable({ 1 }, json.object_mt)) end,
    "object (icx.json.object_mt) has integer key 1", "object_mt with an index")
  t.raises(function() encode({ [1.5] = 1 }) end,
    "table key 1.5 is not a string or array index", "float key")
  t.raises(function() encode({ [0] = 1 }) end,
    "table key 0 is not a string or array index", "zero key")
  t.raises(function() encode({ [true] = 1 }) end, "table key of type boolean",
    "boolean key")
  local c = { a = { b = {} } }
  c.a.b.c = c
  t.raises(function() encode(c) end, "cyclic table at value.a.b.c", "cycle")
  local s = {}
  t.is(encode({ s, s }), "[{},{}]", "a shared (acyclic) table is fine")
  t.raises(function() encode({ f = print }) end, "cannot encode a function at value.f",
    "function")
  t.raises(function() encode({ ["a b"] = { co = coroutine.create(print) } }) end,
    'cannot encode a thread at value["a b"].co', "thread, quoted key in path")
  local deep = {}
  local cur = deep
  for _ = 1, 256 do cur[1] = {}; cur = cur[1] end
  t.raises(function() encode(deep) end, "nesting deeper than 256 levels",
    "encode depth limit")
  t.raises(function() encode() end, "bad argument #1", "encode needs a value")
  t.raises(function() encode({ p = json.page("{}") }) end,
    "cannot encode a icx.json.Page at value.p", "userdata named by __name")
  t.raises(function() encode(io.stdout) end, "cannot encode a FILE*",
    "a file handle")
end

----------------------------------------------------------------- pages
local body = [[
{
  "type": "list",
  "data": [
    {"type": "contact", "id": "6a1", "external_id": 5001,
     "custom_attributes": { "big_number": 9007199254740993, "labels": [ ] ,
                            "ratio": 1e-07 },
     "name": "Zo\u00eb \ud83d\ude00", "owner_id": null, "score": 0.1,
     "huge": 18446744073709551616, "tags": {"type":"list","data":[]}},
    {"type": "contact", "id": "6a2", "name": "李小龍", "unsubscribed": false}
  ],
  "total_count": 9007199254740993,
  "pages": {"type": "pages", "next": {"per_page": 2, "starting_after": "WzE3MDAw"},
            "page": 1, "per_page": 2, "total_pages": 5}
}
]]
do
  local p, err = json.page(body, "data")
  t.ok(p ~= nil, "page: parses") ; if not p then print("# " .. err) end
  t.is(p:count(), 2, "page: count")
  t.is(#p, 2, "page: __len")
  t.is(tostring(p), "icx.json.Page (2 records)", "page: __tostring")
  t.is(p:raw(2), '{"type":"contact","id":"6a2","name":"李小龍","unsubscribed":false}',
    "page: raw is minified, bytes otherwise as sent")
  t.is(p:raw(1):sub(1, 60), '{"type":"contact","id":"6a1","external_id":5001,"custom_attr',
    "page: raw keeps member order")
  t.is(p:get(1, "id"), "6a1", "get: string")
  t.is(p:get(1, "external_id"), 5001, "get: integer")
  t.is(math.type(p:get(1, "external_id")), "integer", "get: integer type")
  t.is(p:get(1, "score"), 0.1, "get: float")
  t.is(p:get(1, "name"), "Zoë 😀", "get: unescaped string")
  t.is(p:get(1, "custom_attributes"),
    '{"big_number":9007199254740993,"labels":[],"ratio":1e-07}',
    "get: object as minified text, literals untouched")
  t.is(p:get(1, "owner_id"), nil, "get: null is nil")
  t.is(p:get(1, "missing"), nil, "get: missing is nil")
  t.is(p:get(2, "unsubscribed"), false, "get: false")
  t.is(tostring(p:get(1, "huge")), "18446744073709551616", "get: bignum")
  t.is(p:meta("total_count"), 9007199254740993, "meta: exact integer")
  t.is(p:meta("pages").next.starting_after, "WzE3MDAw", "meta: nested cursor")
  t.is(p:meta("pages").total_pages, 5, "meta: total_pages")
  t.is(p:meta("nope"), nil, "meta: missing")
  t.is(p:meta("type"), "list", "meta: type")
  local r = p:record(1)
  t.is(r.custom_attributes.big_number, 9007199254740993, "record: exact")
  t.is(encode(r.custom_attributes.labels), "[]", "record: [] kept")
  t.is(encode(r.tags), '{"data":[],"type":"list"}', "record: nested list")
  t.is(p:body(), body, "body: the same string")
  t.raises(function() p:get(3, "id") end, "record 3 out of range (page has 2)",
    "get: index out of range raises")
  t.raises(function() p:raw(0) end, "out of range", "raw: index 0 raises")
  -- get reads a list's records through the member index the validating
  -- pass made; a lone record is scanned: both find the same.
  local rec = '{"id":"x","na\\u006de":"first","name":"second","n":{"name":"inner"},"k":null}'
  for _, q in ipairs { json.page("[" .. rec .. "]"), json.page(rec) } do
    t.is(q:get(1, "name"), "first", "get: an escaped key matches, and the first of a repeated key wins")
    t.is(q:get(1, "k"), nil, "get: null is nil in both ways")
    t.is(q:get(1, "inner"), nil, "get: a nested member is not a member")
  end
  p:close()
  p:close()
  t.is(tostring(p), "icx.json.Page (closed)", "closed: __tostring")
  t.raises(function() p:count() end, "attempt to use a closed page",
    "closed: methods raise")
end

-- Each page's index is sized from the last one's members per byte: pages of
-- the same size with far more members (the guess short), far fewer (the
-- guess long) and sizes outside the guess's range all index every member.
do
  local function body(nrec, nmem, width)
    local recs = {}
    for r = 1, nrec do
      local m = {}
      for k = 1, nmem do m[k] = ('"k%d":"%s"'):format(k, ("x"):rep(width - 1) .. (r % 10)) end
      recs[r] = "{" .. table.concat(m, ",") .. "}"
    end
    return '{"type":"list","data":[' .. table.concat(recs, ",") .. "]}"
  end
  local bad = {}
  for i, shape in ipairs { { 150, 40, 30 }, { 150, 40, 30 }, { 150, 160, 3 }, { 150, 10, 130 },
    { 300, 40, 30 }, { 2, 3, 1 }, { 1000, 20, 5 }, { 150, 40, 30 } } do
    local nrec, nmem, width = table.unpack(shape)
    local p = json.page(body(nrec, nmem, width), "data")
    local last = ("x"):rep(width - 1) .. (nrec % 10)
    if not p or p:count() ~= nrec or p:get(nrec, "k" .. nmem) ~= last or p:get(1, "k1") ~= ("x"):rep(width - 1) .. "1"
        or p:get(nrec, "k" .. (nmem + 1)) ~= nil then
      bad[#bad + 1] = i
    end
    if p then p:close() end
  end
  t.is(table.concat(bad, ","), "", "pages of other sizes and member counts in a row: every member indexed")
end

do
  local p = json.page('{"type":"conversation.list","conversations":[{"id":"1"},'
    .. '{"id":"2"},{"id":"3"}],"pages":{"next":null}}', "conversations")
  t.is(p and p:count(), 3, "page: other list key")
  t.is(p:meta("pages").next, json.null, "meta: null member is icx.json.null")
  p = json.page('{"type":"list","data":[]}', "data")
  t.is(p:count(), 0, "page: empty list")
  p = json.page('{"id":"1","type":"contact"}')
  t.is(p:count(), 1, "page: nil key, object body is one record")
  t.is(p:get(1, "id"), "1", "page: the body as a record")
  p = json.page('{"id":"1"}', false)
  t.is(p:count(), 1, "page: false key is like nil")
  p = json.page(' [ {"id":1} , {"id":2} ] ')
  t.is(p:count(), 2, "page: nil key, array body is records")
  t.is(p:raw(2), '{"id":2}', "page: array body slices")
  t.is(p:meta("id"), nil, "page: meta of an array body is nil")
  p = json.page('{"data":[{"a":1}],"data":[]}', "data")
  t.is(p:count(), 1, "page: first list member wins")
  p = json.page('{"d\\u0061ta":[{"a":1}]}', "data")
  t.is(p:count(), 1, "page: escaped list key")
end

do
  local p, err, code = json.page('{"type":"list","data":[{"id":1},]}', "data")
  t.is(p, nil, "page error: nil")
  t.is(err, "icx.json: trailing comma before ']' at byte 32 (line 1, column 33)",
    "page error: offset")
  t.is(code, "json", "page error: code")
  p, err = json.page('{"type":"list"}', "data")
  t.is(err, "icx.json: body has no member 'data'", "page error: missing list")
  p, err = json.page('{"data":{"a":1}}', "data")
  t.is(err, "icx.json: member 'data' is object, not an array",
    "page error: list not an array")
  p, err = json.page('{"data":null}', "data")
  t.is(err, "icx.json: member 'data' is null, not an array",
    "page error: null list")
  p, err = json.page('[{"id":1}]', "data")
  t.is(err, "icx.json: body is array, not an object", "page error: array body with key")
  p, err = json.page('{"data":[{"id":1},2]}', "data")
  t.is(err, "icx.json: record 2 is integer, not an object",
    "page error: non-object record")
  p, err = json.page('"x"')
  t.is(err, "icx.json: body is string, not an object or an array of records",
    "page error: scalar body")
  p, err = json.page("")
  t.like(err, "empty document, expected a value at byte 0", "page error: empty body")
  p, err = json.page("<html>502 Bad Gateway</html>", "data")
  t.is(err, "icx.json: unexpected character '<', expected a value at byte 0 "
    .. "(line 1, column 1)", "page error: HTML error page")
  t.raises(function() json.page(nil) end, "bad argument #1", "page: body required")
  p, err = json.page("{}", 5)
  t.is(err, "icx.json: body has no member '5'", "page: a number key is a string")
  t.raises(function() json.page("{}", {}) end, "bad argument #2",
    "page: key must be a string")
end

do -- the page pins its body: slices stay valid after the caller drops it
  local recs = {}
  for i = 1, 99 do recs[i] = ('{"k":"v%d"}'):format(i) end
  recs[100] = '{"k":"last"}'
  local p = json.page('{"data":[' .. table.concat(recs, ",") .. "]}", "data")
  recs = nil
  collectgarbage()
  collectgarbage()
  t.is(p:count(), 100, "pinned: 100 records")
  t.is(p:get(100, "k"), "last", "pinned: last record after GC")
  t.is(p:get(50, "k"), "v50", "pinned: middle record after GC")
  do
    local q <close> = json.page('{"data":[]}', "data")
    t.is(q:count(), 0, "to-be-closed page")
  end
  local before = collectgarbage("count")
  for _ = 1, 2000 do
    local q = json.page(body, "data")
    local _ = q:record(1), q:raw(1), q:get(1, "custom_attributes")
  end
  collectgarbage()
  collectgarbage()
  t.ok(collectgarbage("count") - before < 64, "memory stays flat over 2000 pages")
end

---------------------------------------------------------- page:tally
-- id -> key in an icx.tally, ids as 64-bit hashes of tostring(id): one
-- record per id whatever its spelling, the last read winning; records
-- without an integer key or an id are left out (tests/lua/tally.lua: the
-- tally itself).
do
  local keys = require("icx.tally").new()
  local p1 = json.page([[ [{"id": "a1", "k": 5}, {"id": "b\u0032", "k": 6}, {"id": 7, "k": 8},
    {"id": "c3", "k": 1.5}, {"id": null, "k": 9}, {"k": 10}, {"id": "d4", "k": "11"},
    {"id": "e5", "k": 18446744073709551616}, {"id": "f6"}] ]], false)
  t.is(p1:tally("id", "k", keys), keys, "tally returns its tally")
  t.is(#keys, 3, "only records with an id and an integer key are tallied")
  local p2 = json.page([[ [{"id": "\u0061\u0031", "k": 50}, {"id": "b2", "k": 60}, {"id": "7", "k": 80},
    {"id": "g7", "k": 90}] ]], false)
  p2:tally("id", "k", keys)
  local vals = {}
  for i = 1, #keys do
    t.is(math.type(keys:at(i)), "integer", "keys are integers")
    vals[#vals + 1] = keys:at(i)
  end
  t.is(table.concat(vals, ","), "50,60,80,90", "an id spelled another way (escaped, 7 and \"7\") is one id; "
    .. "the last read wins")
end

------------------------------------------------ round-trip property
do
  local rnd = math.random
  math.randomseed(20240501)
  local strs = { "", "a", "😀", "漢字", 'q"', "b\\", "n\n", "\1", "\0", "é",
                 "\u{10FFFF}", "\u{7F}", "long " .. ("x"):rep(40) }
  local function gen(depth)
    local r = rnd(depth > 3 and 7 or 9)
    if r == 1 then return json.null
    elseif r == 2 then return rnd(2) == 1
    elseif r == 3 then return rnd(0)
    elseif r == 4 then
      local f = string.unpack("<d", string.pack("<i8", rnd(0)))
      if f ~= f or f == math.huge or f == -math.huge then f = 0.5 end
      return f
    elseif r == 5 then return rnd() * 10 ^ rnd(-30, 30)
    elseif r == 6 then return strs[rnd(#strs)] .. strs[rnd(#strs)]
    elseif r == 7 then return json.bignum(tostring(rnd(1, 9)) .. ("0"):rep(rnd(19, 40)))
    elseif r == 8 then
      local a = setmetatable({}, json.array_mt)
      for i = 1, rnd(0, 4) do a[i] = gen(depth + 1) end
      return a
    else
      local o = setmetatable({}, json.object_mt)
      for _ = 1, rnd(0, 4) do o[strs[rnd(#strs)] .. rnd(9)] = gen(depth + 1) end
      return o
    end
  end
  local bad = 0
  for _ = 1, 2000 do
    local v = gen(0)
    local s = encode(v)
    local back, err = decode(s)
    if err or not same(back, v) or encode(back) ~= s then
      bad = bad + 1
      if bad < 4 then print("# mismatch: " .. s .. " " .. tostring(err)) end
    end
  end
  t.is(bad, 0, "2000 random values: decode(encode(v)) is v, bit for bit")
end

return t.done()
