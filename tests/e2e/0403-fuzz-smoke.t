#!/usr/bin/python3
"""A short pass of the libFuzzer harnesses (tests/fuzz/): builds them with
clang (`make fuzz-build`, ASan and UBSan), runs each over its committed
corpus, then fuzzes each for FUZZ_SMOKE_SECONDS (default 10) from the seed
FUZZ_SMOKE_SEED (default 1; 0 draws one) and fails on
any crash (FUZZ_IGNORE_KNOWN=1: the harnesses let the known ones pass), with the sanitizer's stack in the output and the input kept in
tests/e2e/cases-kept/0403-fuzz-smoke/. Every input of tests/fuzz/regress/
(crashes found earlier) runs too, 100 times each (a corrupted heap may show
only when the allocator reuses the chunk); those listed in tests/fuzz/regress/KNOWN
still fail and are TAP TODO until their fix lands.

The seed is fixed so that this gate means the same on every run: with a
random one, CI failed on whichever input a run happened to draw, a finding
but not a regression. Exploring is the job of `make fuzz` and long runs
(tests/fuzz/README.md); a code change still moves the walk, since coverage
steers it.

Without clang the file skips, except in CI (CI=true), where clang is one of
the Makefile's DEB_PKGS and its absence is a failure."""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import icxtest  # noqa: E402
import tap as t  # noqa: E402

ROOT = icxtest.ROOT
FUZZ = os.path.join(ROOT, "tests", "fuzz")
BIN = os.path.join(ROOT, "build", "fuzz")
SECONDS = int(os.environ.get("FUZZ_SMOKE_SECONDS", "10"))
SEED = int(os.environ.get("FUZZ_SMOKE_SEED", "1"))
TARGETS = sorted(f[5:-2] for f in os.listdir(FUZZ)
                 if f.startswith("fuzz_") and f.endswith(".c") and f != "fuzz_lua.c")
KEPT = os.path.join(icxtest.KEPT, "0403-fuzz-smoke")


def known():
    """TARGET/FILE -> why it still fails, from tests/fuzz/regress/KNOWN."""
    out = {}
    with open(os.path.join(FUZZ, "regress", "KNOWN")) as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                name, why = line.rstrip("\n").split("\t", 1)
                out[name] = why
    return out


def run(argv, cwd, timeout, extra_env=None):
    """(rc, combined output); rc is None when it ran past timeout."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    env.update(extra_env or {})
    env["ASAN_OPTIONS"] = "abort_on_error=0:detect_leaks=0"
    try:
        p = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout)
        return p.returncode, p.stdout.decode("utf-8", "replace")
    except subprocess.TimeoutExpired as exc:
        return None, (exc.stdout or b"").decode("utf-8", "replace") + "\n(timed out)"


def report(out):
    """The part of a libFuzzer log worth reading: the finding and its stack."""
    lines = out.splitlines()
    start = next((i for i, x in enumerate(lines) if "ERROR:" in x or ": BUG:" in x), max(0, len(lines) - 40))
    t.diag("\n".join(lines[max(0, start - 2):start + 45]))


if not shutil.which("clang"):
    if os.environ.get("CI") == "true":
        t.ok(False, "clang is installed (make deps installs it; CI needs it)")
    else:
        t.skip("no clang: apt-get install clang to run the fuzz harnesses", 1)
    t.done_testing()

rc, out = run(["make", "--no-print-directory", "fuzz-build"], ROOT, 900)
t.ok(rc == 0, "make fuzz-build builds %s" % ", ".join(TARGETS)) or t.diag(out[-3000:])
t.ok("warning:" not in out, "and without warnings") or t.diag(
    "\n".join(x for x in out.splitlines() if "warning:" in x)[:3000])
if rc != 0:
    t.done_testing()

work = tempfile.mkdtemp(prefix="icx-fuzz-smoke-")
try:
    for target in TARGETS:
        exe = os.path.join(BIN, "fuzz_" + target)
        corpus = os.path.join(FUZZ, "corpus", target)
        dict_args = ["-dict=" + os.path.join(FUZZ, target + ".dict")] \
            if os.path.exists(os.path.join(FUZZ, target + ".dict")) else []
        rc, out = run([exe, "-runs=0", corpus], work, 300)
        n = len(os.listdir(corpus))
        t.ok(rc == 0, "%s: the committed corpus (%d inputs) runs clean" % (target, n)) or report(out)

        fresh = os.path.join(work, "corpus-" + target)
        arts = os.path.join(work, "artifacts-" + target) + "/"
        os.makedirs(fresh)
        os.makedirs(arts)
        rc, out = run([exe, "-seed=%d" % SEED, "-max_total_time=%d" % SECONDS, "-max_len=4096", "-timeout=10",
                       "-rss_limit_mb=2048", "-artifact_prefix=" + arts] + dict_args + [fresh, corpus],
                      work, SECONDS + 300, {"FUZZ_IGNORE_KNOWN": "1"})
        found = os.listdir(arts)
        execs = next((x.split()[1] for x in reversed(out.splitlines()) if x.startswith("Done ")), "?")
        if not t.ok(rc == 0 and not found, "%s: %d s of fuzzing from seed %d finds nothing new (%s runs)"
                    % (target, SECONDS, SEED, execs)):
            report(out)
            os.makedirs(KEPT, exist_ok=True)
            for f in found:
                shutil.copy(os.path.join(arts, f), os.path.join(KEPT, target + "-" + f))
            t.diag("inputs kept in %s: add each to tests/fuzz/regress/%s/" % (KEPT, target))

    todo = known()
    for target in TARGETS:
        d = os.path.join(FUZZ, "regress", target)
        for f in sorted(os.listdir(d)) if os.path.isdir(d) else []:
            rc, out = run([os.path.join(BIN, "fuzz_" + target), "-runs=100", os.path.join(d, f)], work, 120)
            key = "%s/%s" % (target, f)
            if key in todo:
                t.todo(rc == 0, "regress %s runs clean" % key, todo[key])
            elif not t.ok(rc == 0, "regress %s runs clean" % key):
                report(out)
    t.ok(all(os.path.exists(os.path.join(FUZZ, "regress", k)) for k in todo),
         "every KNOWN entry names a regress input")
finally:
    shutil.rmtree(work, ignore_errors=True)

t.done_testing()
