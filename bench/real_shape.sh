#!/bin/sh
# Time to data on a real-shaped workspace against the physical limit, next
# to a plain one-request-in-flight client in the same run.
exec /usr/bin/python3 bench/real_shape.py "$@"
