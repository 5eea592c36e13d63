#!/bin/sh
# The record path into PostgreSQL next to SQLite (bench/pg_record_path.lua):
# contacts-like pages through icx.dest, one transaction per page with its
# cursor, records/s by wall clock and per CPU second, side by side. Starts
# its own PostgreSQL (tests/lib/pgserver.py; fsync off, as in the tests).
#   PG_RECORD_PATH_RECORDS   records per pass (default 30000)
set -e
ICX=${ICX:-./icx}
N=${PG_RECORD_PATH_RECORDS:-30000}
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
echo "== record path: PostgreSQL next to SQLite ($N records per pass)"
"$ICX" lua bench/pg_record_path.lua --uri "$(head -1 "$tmp/server")" --records "$N" --db "$tmp/b.db"
