#!/bin/sh
# CPU seconds and peak RSS of a 100,000-contact load with no latency and no
# throttling (bench/cpu_memory.py), with instruction counts; ICX_BASE= runs
# a second binary side by side.
exec /usr/bin/python3 bench/cpu_memory.py "$@"
