#!/usr/bin/python3
"""Common mistakes get a message that says what to do, with the right exit
code: a directory as a script, a misspelt asset name, an option the command
does not take, a shell-style token in connections.yml, a host that does not
resolve or answer (said on the first failure; icx check fails at once),
and a wrong list_key (the members the response has, not "malformed")."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import icxtest  # noqa: E402
import tap as t  # noqa: E402
from simctl import Sim  # noqa: E402


def config(case, text):
    path = os.path.join(case.dir, "bad.yml")
    with open(path, "w") as f:
        f.write(text)
    return path


with Sim(contacts=20, seed=2) as sim, icxtest.Case("0322-mistakes", sim) as case:
    os.makedirs(os.path.join(case.dir, "scripts"))
    r = case.icx("run", "scripts")
    t.is_(r.rc, 2, "a directory as a script: exit 2")
    t.ok("scripts: is a directory, not a script; give its scripts (e.g. scripts/*.lua)" in r.err, r.err.strip())
    t.ok("internal error" not in r.err, "not an internal error")

    r = case.icx("run", "contcts")
    t.is_(r.rc, 2, "a misspelt asset name: exit 2")
    t.ok("no asset named 'contcts' (did you mean 'contacts'?)" in r.err, r.err.strip())
    r = case.icx("plan", "contacts")
    t.is_(r.rc, 0, "icx plan takes asset names")
    t.ok("contacts (built in) -> table contacts" in r.out, "and shows the built-in script")

    r = case.icx("check", "--jobs", "2")
    t.is_(r.rc, 2, "an option the command does not take: exit 2")
    t.ok("icx check does not take --jobs" in r.err, r.err.strip())

    for shown, var in (("${INTERCOM_TOKEN}", "INTERCOM_TOKEN"), ("$INTERCOM_TOKEN", "INTERCOM_TOKEN")):
        path = config(case, "connections:\n  intercom:\n    - name: x\n      access_token: \"%s\"\n" % shown)
        r = case.run([icxtest.ICX, "check", "--config", path])
        t.is_(r.rc, 2, "access_token %s: exit 2" % shown)
        t.ok("bad.yml:4:21: access_token of connection 'x' looks like a shell variable ('$%s')" % var in r.err
             and "{{ env_var('%s') }}" % var in r.err, r.err.strip())

    path = config(case, "connections:\n  intercom:\n    - name: x\n      access_token: tok-123456789\n"
                  "      base_url: http://no-such-host.invalid\n")
    start = time.time()
    r = case.run([icxtest.ICX, "check", "--config", path])
    took = time.time() - start
    t.is_(r.rc, 1, "check against a host that does not resolve: exit 1")
    t.ok("cannot reach no-such-host.invalid" in r.err, r.err.strip())
    t.ok(took < 10, "check fails fast (%.1f s), without retrying" % took)

    path = config(case, "connections:\n  intercom:\n    - name: x\n      access_token: tok-123456789\n"
                  "      base_url: http://127.0.0.1:9\n      max_attempts: 3\n      retry_base: 0.2\n")
    r = case.run([icxtest.ICX, "run", "--config", path, "tags"])
    t.is_(r.rc, 1, "a run against a port nothing answers: exit 1")
    t.is_(r.err.count("cannot reach 127.0.0.1:9"), 2, "said once on the first failure, once in the error")
    t.ok("cannot reach 127.0.0.1:9: " in r.err.splitlines()[0] and "; retrying" in r.err.splitlines()[0],
         "the first line says it, at the default verbosity")

    with open(os.path.join(case.dir, "wrong_key.lua"), "w") as f:
        f.write('local icx = require "icx"\nlocal intercom = require "icx.intercom"\n'
                'return icx.asset { name = "wrong_key", primary_key = "id", mode = "replace",\n'
                '  pages = intercom.get("/tags", { list_key = "tags" }) }\n')
    r = case.icx("run", "./wrong_key.lua")
    t.is_(r.rc, 1, "a wrong list_key fails the run")
    t.ok("the response has no list 'tags'; its members are: data, type; set list_key" in r.err, r.err.strip())
    t.ok("malformed" not in r.err, "valid JSON is not called malformed")

t.done_testing()
