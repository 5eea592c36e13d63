#!/bin/sh
# The completeness check's cost next to the load it checks: a first load and
# an incremental run of the search assets against the simulator, clean and
# with search pages coming back short.
exec /usr/bin/python3 bench/completeness.py "$@"
