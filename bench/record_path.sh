#!/bin/sh
# The record path, response body -> SQLite rows: icx (icx.json.page + the C
# writer) against the naive path (cjson.decode + one bind per field from
# Lua). Prints records/s, then instructions per record: perf stat when the
# kernel exposes the instructions counter, else callgrind when valgrind is
# installed. Instructions are counted for a run that writes and for one
# that only sets up (--path none); the difference over the record count is
# the record path alone.
#   RECORD_PATH_RECORDS   records for the timed run (default 30000)
#   RECORD_PATH_COUNTED   records for the counted runs (default 3000)
set -e
ICX=${ICX:-./icx}
N=${RECORD_PATH_RECORDS:-30000}
M=${RECORD_PATH_COUNTED:-3000}
LUA=bench/record_path.lua
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== record path: throughput ($N records, CPU time)"
"$ICX" lua "$LUA" --records "$N" --path both --db "$tmp/t.db"

# instructions PATH -> total instructions of one run over M records
if perf stat -x, -e instructions:u true 2>&1 | grep -q '^[0-9]'; then
  how="perf stat -e instructions:u"
  instructions() {
    perf stat -x, -e instructions:u -o "$tmp/perf" \
      "$ICX" lua "$LUA" --records "$M" --path "$1" --db "$tmp/c.db" >/dev/null
    grep 'instructions' "$tmp/perf" | cut -d, -f1
  }
elif command -v valgrind >/dev/null; then
  how="valgrind --tool=callgrind"
  instructions() {
    valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.out" \
      "$ICX" lua "$LUA" --records "$M" --path "$1" --db "$tmp/c.db" \
      >/dev/null 2>"$tmp/cg.err"
    sed -n 's/.*Collected : *\([0-9]*\).*/\1/p' "$tmp/cg.err"
  }
else
  echo "== instructions per record: skipped (no perf counter, no valgrind)"
  exit 0
fi

echo "== record path: instructions per record ($how, $M records)"
base=$(instructions none)
page=$(instructions page)
icx=$(instructions icx)
naive=$(instructions naive)
awk -v b="$base" -v p="$page" -v i="$icx" -v n="$naive" -v m="$M" 'BEGIN {
  printf "icx    %8.0f instructions/record (icx.json.page %.0f, writer %.0f)\n",
    (i - b) / m, (p - b) / m, (i - p) / m
  printf "naive  %8.0f instructions/record\n", (n - b) / m
  printf "naive/icx: %.1fx\n", (n - b) / (i - b)
}'
