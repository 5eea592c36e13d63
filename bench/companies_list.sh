#!/bin/sh
# Whether POST /companies/list pages walked at once could replace the
# companies scroll: requests, wall time and companies missed, next to it.
exec /usr/bin/python3 bench/companies_list.py "$@"
