#!/bin/sh
# The lake route side by side with SQLite in one run (bench/lake.lua):
# records per CPU second into SQLite, DuckDB and Parquet, and bytes on disk
# per 100,000 contacts. Needs an icx built with DuckDB (make deps).
#   ICX            the binary measured (default ./icx)
#   LAKE_RECORDS   records landed (default 30000)
set -e
ICX=${ICX:-./icx}
N=${LAKE_RECORDS:-30000}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "== lake: SQLite, DuckDB, Parquet ($N records, CPU time)"
"$ICX" lua bench/lake.lua --records "$N" --dir "$tmp"
