"""A strict parser of the Prometheus text exposition format (0.0.4), for
testing --metrics-file without prometheus_client: anything the format does
not allow raises ValueError naming the line."""
import math
import re

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


def _value(s, n):
    if s in ("NaN", "+Inf", "-Inf", "Inf"):
        return float(s.replace("Inf", "inf"))
    if not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", s):
        raise ValueError("line %d: '%s' is not a value" % (n, s))
    return float(s)


def _labels(s, i, n):
    """Parses {a="b",...} from s[i] == '{'; returns (dict, index after '}')."""
    out = {}
    i += 1
    while True:
        if s[i:i + 1] == "}":
            return out, i + 1
        m = LABEL.match(s, i)
        if not m:
            raise ValueError("line %d: bad label name at %d" % (n, i))
        name = m.group(0)
        i = m.end()
        if s[i:i + 2] != '="':
            raise ValueError("line %d: label %s has no =\"" % (n, name))
        i += 2
        v = []
        while True:
            c = s[i:i + 1]
            if c == "":
                raise ValueError("line %d: unterminated label value" % n)
            if c == "\\":
                e = s[i + 1:i + 2]
                if e not in ("\\", '"', "n"):
                    raise ValueError("line %d: bad escape \\%s" % (n, e))
                v.append("\n" if e == "n" else e)
                i += 2
            elif c == '"':
                i += 1
                break
            elif c == "\n":
                raise ValueError("line %d: newline in a label value" % n)
            else:
                v.append(c)
                i += 1
        if name in out:
            raise ValueError("line %d: label %s twice" % (n, name))
        out[name] = "".join(v)
        if s[i:i + 1] == ",":
            i += 1
        elif s[i:i + 1] != "}":
            raise ValueError("line %d: expected , or } at %d" % (n, i))


def parse(text):
    """text -> {family: {"type", "help", "samples": [(labels, value)]}}."""
    if not text.endswith("\n"):
        raise ValueError("the text does not end with a newline")
    fams, seen_series, done, current = {}, set(), set(), None
    for n, line in enumerate(text[:-1].split("\n"), 1):
        if line == "":
            raise ValueError("line %d: empty line" % n)
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                if not NAME.fullmatch(name):
                    raise ValueError("line %d: bad metric name %r" % (n, name))
                f = fams.setdefault(name, {"type": None, "help": None, "samples": []})
                key = parts[1].lower()
                if f[key] is not None:
                    raise ValueError("line %d: second %s for %s" % (n, parts[1], name))
                if f["samples"]:
                    raise ValueError("line %d: %s after samples of %s" % (n, parts[1], name))
                if len(parts) < 4:
                    raise ValueError("line %d: %s without text" % (n, parts[1]))
                if key == "type" and parts[3] not in TYPES:
                    raise ValueError("line %d: unknown type %r" % (n, parts[3]))
                f[key] = parts[3]
            continue
        m = NAME.match(line)
        if not m:
            raise ValueError("line %d: no metric name" % n)
        name, i = m.group(0), m.end()
        labels = {}
        if line[i:i + 1] == "{":
            labels, i = _labels(line, i, n)
        rest = line[i:]
        if not rest.startswith(" "):
            raise ValueError("line %d: no space before the value" % n)
        fields = rest.split()
        if len(fields) not in (1, 2):
            raise ValueError("line %d: trailing text %r" % (n, rest))
        value = _value(fields[0], n)
        if len(fields) == 2 and not re.fullmatch(r"-?\d+", fields[1]):
            raise ValueError("line %d: bad timestamp" % n)
        if name != current:
            if name in done:
                raise ValueError("line %d: samples of %s are not together" % (n, name))
            if current:
                done.add(current)
            current = name
        series = (name, tuple(sorted(labels.items())))
        if series in seen_series:
            raise ValueError("line %d: duplicate series %s" % (n, series))
        seen_series.add(series)
        f = fams.setdefault(name, {"type": None, "help": None, "samples": []})
        if math.isnan(value) and f["type"] == "counter":
            raise ValueError("line %d: NaN counter" % n)
        f["samples"].append((labels, value))
    return fams
