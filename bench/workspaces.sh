#!/bin/sh
# Many workspaces in one process (bench/workspaces.py): WORKSPACES (100)
# simulated workspaces of CONTACTS (2000) contacts, LATENCY (150) ms.
exec /usr/bin/python3 bench/workspaces.py "$@"
