#!/bin/sh
# The record path, response body -> SQLite rows: icx (icx.json.page + the C
# writer) against the naive path (cjson.decode + one bind per field from
# Lua). Prints records/s, then instructions per record: perf stat when the
# kernel exposes the instructions counter, else callgrind when valgrind is
# installed. Instructions are counted for a run that writes and for one
# that only sets up (--path none); the difference over the record count is
# the record path alone.
#   ICX                   the binary measured (default ./icx)
#   ICX_BASE              a baseline binary (e.g. one built from main): when
#                         set, every figure is taken for both in the same run
#                         and printed side by side, with new/base
#   RECORD_PATH_RECORDS   records for the timed run (default 30000)
#   RECORD_PATH_COUNTED   records for the counted runs (default 3000)
set -e
ICX=${ICX:-./icx}
BASE=${ICX_BASE:-}
N=${RECORD_PATH_RECORDS:-30000}
M=${RECORD_PATH_COUNTED:-3000}
LUA=bench/record_path.lua
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== record path: throughput ($N records, CPU time)"
if [ -n "$BASE" ]; then
  echo "-- base: $BASE"
  "$BASE" lua "$LUA" --records "$N" --path both --db "$tmp/b.db"
  echo "-- new: $ICX"
fi
"$ICX" lua "$LUA" --records "$N" --path both --db "$tmp/t.db"

# instructions BIN PATH -> total instructions of one run over M records
if perf stat -x, -e instructions:u true 2>&1 | grep -q '^[0-9]'; then
  how="perf stat -e instructions:u"
  instructions() {
    rm -f "$tmp/c.db"*
    perf stat -x, -e instructions:u -o "$tmp/perf" \
      "$1" lua "$LUA" --records "$M" --path "$2" --db "$tmp/c.db" >/dev/null
    grep 'instructions' "$tmp/perf" | cut -d, -f1
  }
elif command -v valgrind >/dev/null; then
  how="valgrind --tool=callgrind"
  instructions() {
    rm -f "$tmp/c.db"*
    valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.out" \
      "$1" lua "$LUA" --records "$M" --path "$2" --db "$tmp/c.db" \
      >/dev/null 2>"$tmp/cg.err"
    sed -n 's/.*Collected : *\([0-9]*\).*/\1/p' "$tmp/cg.err"
  }
else
  echo "== instructions per record: skipped (no perf counter, no valgrind)"
  exit 0
fi

# counts BIN -> "setup page icx naive" instruction totals
counts() {
  echo "$(instructions "$1" none) $(instructions "$1" page)" \
    "$(instructions "$1" icx) $(instructions "$1" naive)"
}

echo "== record path: instructions per record ($how, $M records)"
new=$(counts "$ICX")
if [ -z "$BASE" ]; then
  echo "$new" | awk -v m="$M" '{
    printf "icx    %8.0f instructions/record (icx.json.page %.0f, writer %.0f)\n",
      ($3 - $1) / m, ($2 - $1) / m, ($3 - $2) / m
    printf "naive  %8.0f instructions/record\n", ($4 - $1) / m
    printf "naive/icx: %.1fx\n", ($4 - $1) / ($3 - $1)
  }'
  exit 0
fi
base=$(counts "$BASE")
echo "$base $new" | awk -v m="$M" '
  function row(name, b, n) {
    printf "%-22s %10.0f %10.0f %8.3f\n", name, b / m, n / m, n / b
  }
  {
    printf "%-22s %10s %10s %8s\n", "instructions/record", "base", "new", "new/base"
    row("icx (page + writer)", $3 - $1, $7 - $5)
    row("  icx.json.page", $2 - $1, $6 - $5)
    row("  writer", $3 - $2, $7 - $6)
    row("naive", $4 - $1, $8 - $5)
  }'
