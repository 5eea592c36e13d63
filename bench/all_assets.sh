#!/bin/sh
# Every shipped asset at once on a real-shaped medium workspace: budget use
# and wall time against the critical path, next to one request in flight.
exec /usr/bin/python3 bench/all_assets.py "$@"
