#!/usr/bin/python3
"""Many workspaces in one process: WORKSPACES simulated workspaces (default
100) of CONTACTS contacts each (default 2,000), each its own simulator with
its own 166-per-10-s budget and LATENCY ms per response (default 150),
pulled by one `icx run --all-connections` into a SQLite file each. Prints
the wall time next to one workspace pulled alone, icx's peak RSS and CPU
seconds. The issue's target: wall at most 1.5x the single workspace, RSS
under 200 MB. Figures, not pass/fail: the machine is shared and noisy, and
the simulators (Python, one process each) share its cores with icx, so the
bench also prints the CPU both spent and the wall time that CPU alone needs
on this machine's cores: no scheduling can finish sooner than that.

    WORKSPACES=20 sh bench/workspaces.sh     # a smaller run"""
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "sim"))
from simctl import Sim  # noqa: E402

N = int(os.environ.get("WORKSPACES", "100"))
CONTACTS = int(os.environ.get("CONTACTS", "2000"))
LATENCY = int(os.environ.get("LATENCY", "150"))
ICX = os.path.abspath(os.environ.get("ICX", os.path.join(ROOT, "icx")))


def timed(argv):
    """Runs argv; returns exit code, wall seconds, peak RSS (MB), CPU s."""
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    return os.waitstatus_to_exitcode(status), wall, ru.ru_maxrss / 1024.0, ru.ru_utime + ru.ru_stime


def sim_cpu(sims):
    """CPU seconds the simulators' processes have used so far."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for sim in sims:
        with open("/proc/%d/stat" % sim.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def main():
    d = tempfile.mkdtemp(prefix="icx-bench-ws-")
    try:
        with ExitStack() as stack:
            t0 = time.monotonic()
            sims = [stack.enter_context(Sim(contacts=CONTACTS, companies=1, conversations=1, tickets=1, articles=1,
                                            seed=100 + i, latency_ms=LATENCY, rate=166,
                                            workspace_id="ws%06d" % i, ready_timeout=600))
                    for i in range(N)]
            print("== %d workspaces x %d contacts, %d ms latency, 166 requests per 10 s each "
                  "(simulators up in %.0f s)" % (N, CONTACTS, LATENCY, time.monotonic() - t0))
            conf = os.path.join(d, "connections.yml")
            with open(conf, "w") as f:
                f.write("connections:\n  intercom:\n")
                for i, sim in enumerate(sims):
                    f.write("    - name: ws%03d\n      access_token: %s\n      base_url: %s\n"
                            % (i, sim.token, sim.url))
            # The single workspace: the first twin, into its own file.
            rc1, wall1, rss1, cpu1 = timed([ICX, "run", "-q", "--config", conf, "--connection", "ws000",
                                            "--dest", os.path.join(d, "alone.db"), "contacts"])
            for sim in sims:
                sim.reset_stats()
            before = sim_cpu(sims)
            rc, wall, rss, cpu = timed([ICX, "run", "-q", "--config", conf, "--all-connections",
                                        "--dest", os.path.join(d, "{connection}.db"), "contacts"])
            served = sim_cpu(sims) - before
            cores = os.cpu_count() or 1
            floor = (cpu + served) / cores
            print("one workspace alone:  exit %d, %.1f s wall, %.0f MB peak RSS, %.2f CPU s" % (rc1, wall1, rss1, cpu1))
            print("all %3d at once:      exit %d, %.1f s wall, %.0f MB peak RSS, %.2f CPU s" % (N, rc, wall, rss, cpu))
            print("wall ratio %.2fx (target <= 1.5x); peak RSS %.0f MB (target < 200 MB); "
                  "%.2f CPU s per 100,000 contacts" % (wall / wall1, rss, cpu / (N * CONTACTS) * 100000))
            print("CPU: icx %.1f s + simulators %.1f s on %d cores = %.1f s of wall at the least "
                  "(%.2fx the single workspace); wall / that floor %.2fx"
                  % (cpu, served, cores, floor, floor / wall1, wall / max(floor, wall1)))
            return 0 if rc == 0 and rc1 == 0 else 1
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
