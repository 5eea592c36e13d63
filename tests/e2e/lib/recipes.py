"""The README's recipes, as the tests run them: each is the fenced block
after a `<!-- recipe: NAME -->` line, and the host paths it names are
mapped into a temporary root, so the text is otherwise run as pasted.

    text = recipes.block("cron")
    root = recipes.Root(tmp, icx)      # root.map(text), root.path("/etc/icx")
"""
import os
import re

from icxtest import ROOT

README = os.path.join(ROOT, "README.md")


def block(name, readme=README):
    """The text of the fenced block that follows `<!-- recipe: NAME -->`."""
    with open(readme) as f:
        text = f.read()
    m = re.search(r"<!-- recipe: %s -->\n```[^\n]*\n(.*?)\n```" % re.escape(name), text, re.S)
    if not m:
        raise LookupError("README.md has no recipe '%s'" % name)
    return m.group(1) + "\n"


class Root:
    """A temporary stand-in for the host's /etc/icx, /srv/icx, /var/log and
    /home, and /usr/local/bin/icx mapped to the icx under test."""

    DIRS = ("/etc/icx", "/srv/icx", "/var/log", "/home/icx")

    def __init__(self, base, icx):
        self.base, self.icx = base, icx
        for d in self.DIRS:
            os.makedirs(self.path(d), exist_ok=True)

    def path(self, p):
        return os.path.join(self.base, p.lstrip("/"))

    def map(self, text):
        text = text.replace("/usr/local/bin/icx", self.icx)
        for d in self.DIRS:
            text = text.replace(d, self.path(d))
        return text

    def config(self, sim, names=("intercom",), urls=None):
        """/etc/icx/connections.yml: one connection per name, the token from
        INTERCOM_ACCESS_TOKEN as the README says to keep it."""
        lines = ["connections:", "  intercom:"]
        for i, n in enumerate(names):
            lines += ["    - name: %s" % n,
                      "      access_token: \"{{ env_var('INTERCOM_ACCESS_TOKEN') }}\"",
                      "      base_url: %s" % ((urls or {}).get(n) or sim.url)]
        with open(self.path("/etc/icx/connections.yml"), "w") as f:
            f.write("\n".join(lines) + "\n")
