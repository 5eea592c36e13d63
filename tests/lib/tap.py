"""Tiny TAP emitter shared by every Python test in icx.

    import tap
    tap.plan(3)                     # or tap.done_testing() at the end
    tap.ok(cond, "name")
    tap.is_(got, expected, "name")  # prints a unified diff as '# ' lines
    tap.skip("why", count=1)
    tap.todo(cond, "name", "reason")  # known failure: 'not ok N - name # TODO reason'
    tap.diag("free text")
    tap.done_testing()              # exits non-zero when any test failed

Output goes to stdout, flushed after every line so prove sees progress.
"""

import difflib
import json
import sys

_count = 0
_failed = 0
_planned = None


def _out(line):
    """Write one TAP line and flush."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def diag(msg):
    """Print msg as TAP comment lines ('# ...')."""
    for line in str(msg).splitlines() or [""]:
        _out("# " + line)


def plan(n):
    """Announce that n tests will run."""
    global _planned
    _planned = n
    _out("1..%d" % n)


def ok(cond, name=""):
    """One test: passes when cond is truthy. Returns bool(cond)."""
    global _count, _failed
    _count += 1
    good = bool(cond)
    if not good:
        _failed += 1
    _out("%s %d%s" % ("ok" if good else "not ok", _count,
                      (" - " + name.replace("#", "\\#")) if name else ""))
    return good


def todo(cond, name, reason):
    """A test of behaviour that is known to be wrong today: reported as
    'ok/not ok N - name # TODO reason'. A failing TODO does not fail the
    file; prove lists a passing one as "TODO passed", the cue to turn it
    into a plain ok. Returns bool(cond)."""
    global _count
    _count += 1
    good = bool(cond)
    why = " ".join(str(reason).split()).replace("#", "\\#")
    _out("%s %d - %s # TODO %s" % ("ok" if good else "not ok", _count,
                                  name.replace("#", "\\#"), why))
    return good


def _pretty(value):
    """Render value for a diff: JSON when it can, repr otherwise."""
    try:
        return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False,
                          default=repr)
    except (TypeError, ValueError):
        return repr(value)


def is_(got, expected, name=""):
    """Pass when got == expected; on failure print a diff of both."""
    good = ok(got == expected, name)
    if not good:
        a = _pretty(expected).splitlines()
        b = _pretty(got).splitlines()
        diag("got != expected (--- expected, +++ got)")
        for line in difflib.unified_diff(a, b, "expected", "got", lineterm="",
                                         n=2):
            diag(line)
    return good


def skip(why, count=1):
    """Record count skipped tests."""
    global _count
    for _ in range(count):
        _count += 1
        _out("ok %d # skip %s" % (_count, why))


def bail(why):
    """Abort the whole run (TAP 'Bail out!')."""
    _out("Bail out! " + why)
    sys.exit(255)


def failed():
    """Number of failed tests so far."""
    return _failed


def done_testing():
    """Print the plan if none was given and exit: 0 when all passed."""
    if _planned is None:
        _out("1..%d" % _count)
    elif _planned != _count:
        diag("planned %d tests but ran %d" % (_planned, _count))
        sys.exit(255)
    sys.exit(1 if _failed else 0)
