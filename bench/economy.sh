#!/bin/sh
# The request economy: what contacts and its association assets cost against
# the simulator, next to a plain one-request-in-flight client in the same run.
exec /usr/bin/python3 bench/economy.py "$@"
