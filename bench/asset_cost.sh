#!/bin/sh
# The request cost of each shipped asset, on a first load and on an
# incremental run after mutations, next to the least requests that could
# return the same data (the floor).
exec /usr/bin/python3 bench/asset_cost.py "$@"
