#!/bin/sh
# The record path into PostgreSQL next to SQLite (bench/pg_record_path.lua):
# contacts-like pages through icx.dest, one transaction per page with its
# cursor, records/s by wall clock and per CPU second, side by side. Starts
# its own PostgreSQL (tests/lib/pgserver.py; fsync off, as in the tests).
# Then the instructions icx itself spends per record written into
# PostgreSQL (perf stat, else callgrind; the server's work is not counted):
# a run that writes minus one that only builds the pages, over the records.
#   ICX                      the binary measured (default ./icx)
#   ICX_BASE                 a baseline binary (e.g. one built from main):
#                            when set, every figure is taken for both in the
#                            same run and printed side by side
#   PG_RECORD_PATH_RECORDS   records per pass (default 30000)
#   PG_RECORD_PATH_COUNTED   records for the counted runs (default 3000)
set -e
ICX=${ICX:-./icx}
BASE=${ICX_BASE:-}
N=${PG_RECORD_PATH_RECORDS:-30000}
M=${PG_RECORD_PATH_COUNTED:-3000}
LUA=bench/pg_record_path.lua
tmp=$(mktemp -d)
mkfifo "$tmp/hold"
/usr/bin/python3 tests/lib/pgserver.py serve "$tmp/server" <"$tmp/hold" &
srv=$!
# Holding the fifo open keeps the server; closing it stops and removes it.
exec 3>"$tmp/hold"
trap 'exec 3>&-; wait $srv; rm -rf "$tmp"' EXIT
i=0
while [ ! -s "$tmp/server" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
if [ ! -s "$tmp/server" ] || grep -q '^SKIP' "$tmp/server"; then
  echo "== record path into PostgreSQL: skipped ($(head -1 "$tmp/server" 2>/dev/null))"
  exit 0
fi
uri=$(head -1 "$tmp/server")
echo "== record path: PostgreSQL next to SQLite ($N records per pass)"
if [ -n "$BASE" ]; then
  echo "-- base: $BASE"
  "$BASE" lua "$LUA" --uri "$uri" --records "$N" --db "$tmp/b.db"
  echo "-- new: $ICX"
fi
"$ICX" lua "$LUA" --uri "$uri" --records "$N" --db "$tmp/b.db"

# instructions BIN DEST -> total instructions of icx over M records
if perf stat -x, -e instructions:u true 2>&1 | grep -q '^[0-9]'; then
  how="perf stat -e instructions:u"
  instructions() {
    perf stat -x, -e instructions:u -o "$tmp/perf" "$1" lua "$LUA" \
      --uri "$uri" --records "$M" --dest "$2" --db "$tmp/c.db" >/dev/null
    grep 'instructions' "$tmp/perf" | cut -d, -f1
  }
elif command -v valgrind >/dev/null; then
  how="valgrind --tool=callgrind"
  instructions() {
    valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.out" \
      "$1" lua "$LUA" --uri "$uri" --records "$M" --dest "$2" \
      --db "$tmp/c.db" >/dev/null 2>"$tmp/cg.err"
    sed -n 's/.*Collected : *\([0-9]*\).*/\1/p' "$tmp/cg.err"
  }
else
  echo "== instructions per record: skipped (no perf counter, no valgrind)"
  exit 0
fi

echo "== record path into PostgreSQL: icx's instructions per record written ($how, $M records, insert + merge)"
# per BIN -> instructions per record written (two passes of M records)
per() {
  setup=$(instructions "$1" none)
  pg=$(instructions "$1" postgresql)
  awk -v s="$setup" -v p="$pg" -v m="$M" 'BEGIN { printf "%.0f", (p - s) / (2 * m) }'
}
new=$(per "$ICX")
if [ -z "$BASE" ]; then
  echo "icx    $new instructions/record"
  exit 0
fi
base=$(per "$BASE")
printf "%-22s %10s %10s %8s\n" "instructions/record" "base" "new" "new/base"
awk -v b="$base" -v n="$new" 'BEGIN { printf "%-22s %10.0f %10.0f %8.3f\n", "icx (client side)", b, n, n / b }'
