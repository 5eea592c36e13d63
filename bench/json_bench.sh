#!/bin/sh
# JSON record path throughput: bench/json_bench.c (the C scanner alone), then
# bench/json_bench.lua (icx.json from Lua, next to lua-cjson) if ./icx exists.
set -e
out=${BUILD:-build}/bench
mkdir -p "$out"
${CC:-cc} -std=c11 -D_POSIX_C_SOURCE=200809L -O2 -Iengine \
  bench/json_bench.c engine/jscan.c engine/buf.c -o "$out/json_bench"
echo "== jscan (C)"
"$out/json_bench" "${JSON_BENCH_ITERS:-2000}"
if [ -x "${ICX:-./icx}" ]; then
  echo "== icx.json (Lua)"
  "${ICX:-./icx}" lua bench/json_bench.lua
fi
