"""An icxtest.Case for asset tests: a destination database in the case
directory, and runs that name assets instead of script paths.

    with Sim(...) as sim, Workspace(sim) as ws:
        r = ws.run("contacts", "tags", "-j", "1")    # icx run --dest ws.db ...
        landed.compare(tap, ws.db, "contacts", sim.dump("contacts"))
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from icxtest import Case, ICX, ROOT  # noqa: E402,F401

SCRIPTS = os.path.join(ROOT, "scripts")
ALL_ASSETS = ["contacts", "contact_tags", "contact_companies", "companies",
              "conversations", "conversation_parts", "tickets", "articles", "tags",
              "segments", "teams", "admins", "data_attributes"]


class Workspace(Case):
    def __init__(self, sim, name=None, extra=""):
        super().__init__(name or os.path.basename(sys.argv[0]).rsplit(".", 1)[0], sim, extra=extra)
        self.db = os.path.join(self.dir, "icx.db")

    def script(self, name):
        return os.path.join(SCRIPTS, name + ".lua")

    def run(self, *args, dest=None, timeout=600, env=None):
        """icx run --config ... --dest ... ARGS; asset names become scripts."""
        argv = [ICX, "run", "--config", self.config, "--dest", dest or self.db]
        argv += [self.script(a) if a in ALL_ASSETS else a for a in args]
        r = Case.run(self, argv, env=env, timeout=timeout)
        if r.rc != 0:
            sys.stdout.write("# icx exited %d; stderr tail:\n" % r.rc)
            for line in r.err.splitlines()[-15:]:
                sys.stdout.write("#   %s\n" % line)
        return r
