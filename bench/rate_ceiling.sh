#!/bin/sh
# The share of the rate budget icx uses against a latency-bound server.
exec /usr/bin/python3 bench/rate_ceiling.py
