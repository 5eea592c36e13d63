#!/usr/bin/python3
"""The access token never appears in output: not in `-v` request lines, not
in retry and error messages, not on stdout, for a good token and a rejected
one. The walk drivers do not register the token with icx.log, so a token
formatted into any message would show here unmasked."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import icxtest  # noqa: E402
import tap as t  # noqa: E402
from simctl import Sim  # noqa: E402

TOKEN = "dG9rOmljeC1zZWNyZXQtdG9rZW4tN2Y2ZTVkNGMzYjJh"
WRONG = "d3Jvbmc6aWN4LXdyb25nLXRva2VuLTFhMmIzYzRkNWU2Zg"

with Sim(contacts=25, companies=10, scroll_size=4, token=TOKEN, seed=11) as sim:
    outputs = []
    with icxtest.Case("0110-token", sim) as case:
        r = case.icx("check", "-v")
        t.is_(r.rc, 0, "check -v succeeds")
        t.ok("GET /me -> 200" in r.err, "-v logs the request line")
        outputs.append(("check -v", r))
        for fault in ({"status": 500}, {"status": 429, "retry_after": 0}, {"kind": "reset"},
                      {"kind": "truncate"}, {"status": 403}, {"kind": "bad_json"}):
            spec = dict(fault, path="/contacts", count=1)
            sim.fault(**spec)
            r = case.lua("walk.lua", "--style", "cursor", "--path", "/contacts", "--per-page", "10",
                         "--verbose")
            outputs.append(("walk -v with %s" % spec, r))
        sim.fault(path="/companies/scroll", status=500, count=1)
        outputs.append(("scroll restart", case.lua("walk.lua", "--style", "scroll", "--path",
                                                   "/companies/scroll", "--verbose")))
        outputs.append(("foreign URL", case.lua("request.lua", "GET", "https://example.invalid/x",
                                                "--verbose")))
        t.ok(any("retry" in r.err for _, r in outputs), "the runs include retry lines")
    with icxtest.Case("0110-token-wrong", sim, token=WRONG) as case:
        r = case.icx("check", "-v")
        t.is_(r.rc, 2, "a rejected token exits 2")
        outputs.append(("check -v, rejected", r))
        outputs.append(("walk -v, rejected", case.lua("walk.lua", "--style", "single", "--path", "/tags",
                                                      "--verbose")))
    for name, r in outputs:
        for tok, which in ((TOKEN, "token"), (WRONG, "rejected token")):
            t.ok(tok not in r.out and tok not in r.err, "%s: the %s is not in the output" % (name, which))
            # Even a part of it (e.g. cut by a mask or a line wrap) stays out.
            t.ok(tok[4:20] not in r.out + r.err, "%s: no fragment of the %s" % (name, which))
        t.ok("Bearer" not in r.out + r.err, "%s: no Authorization value" % name)

t.done_testing()
