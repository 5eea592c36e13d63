#!/usr/bin/python3
"""make demo: runs every asset against the bundled simulator into demo.db and
prints what landed, table by table."""
import os
import sqlite3
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "sim"))
from simctl import Sim  # noqa: E402


def main():
    icx = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "./icx")
    db = os.path.abspath(sys.argv[2] if len(sys.argv) > 2 else "demo.db")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.remove(db + suffix)
    scripts = sorted(
        os.path.join(ROOT, "scripts", f)
        for f in os.listdir(os.path.join(ROOT, "scripts"))
        if f.endswith(".lua"))
    with Sim(contacts=2000, companies=300, conversations=200, tickets=100,
             articles=60, seed=7) as sim, tempfile.TemporaryDirectory() as tmp:
        conf = os.path.join(tmp, "connections.yml")
        with open(conf, "w") as f:
            f.write("connections:\n  intercom:\n    - name: demo\n"
                    f"      access_token: {sim.token}\n"
                    f"      base_url: {sim.url}\n")
        print(f"icx demo: simulator at {sim.url}; running {len(scripts)} assets into {db}")
        rc = subprocess.call([icx, "run", "--config", conf, "--dest", db] + scripts)
        if rc != 0:
            print(f"icx demo: icx run exited {rc}", file=sys.stderr)
            return rc
    con = sqlite3.connect(db)
    tables = [r[0] for r in con.execute(
        "select name from sqlite_master where type = 'table' order by name")]
    print(f"\n{'table':<28}{'rows':>8}")
    for t in tables:
        n = con.execute(f'select count(*) from "{t}"').fetchone()[0]
        print(f"{t:<28}{n:>8}")
    print(f"\ntry: sqlite3 {os.path.relpath(db)} 'select id, email from contacts limit 5'")
    return 0


if __name__ == "__main__":
    sys.exit(main())
