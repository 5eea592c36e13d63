"""Small helpers shared by the simulator modules: JSON encoding, Intercom
error bodies, opaque cursors and day boundaries in the workspace timezone."""

import base64
import datetime
import json
import uuid

_ENC = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"),
                        allow_nan=False)


def dumps(obj):
    """Compact JSON text; big integers stay exact, non-ASCII stays UTF-8."""
    return _ENC.encode(obj)


def dumpb(obj):
    """Compact JSON as UTF-8 bytes."""
    return _ENC.encode(obj).encode("utf-8")


class ApiError(Exception):
    """An Intercom error response: status, code, message, extra headers."""

    def __init__(self, status, code, message, headers=None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def error_body(code, message, request_id=None):
    """Intercom's error.list body as a dict."""
    return {"type": "error.list",
            "request_id": request_id or str(uuid.uuid4()),
            "errors": [{"code": code, "message": message}]}


def encode_cursor(parts):
    """Opaque cursor: base64 of a JSON array (Intercom's look like 'Wz...')."""
    raw = dumps(parts).encode("utf-8")
    return base64.b64encode(raw).decode("ascii")


def decode_cursor(text):
    """Inverse of encode_cursor; raises ApiError 400 on garbage."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
        parts = json.loads(raw.decode("utf-8"))
        if not isinstance(parts, list):
            raise ValueError("not a list")
        return parts
    except (ValueError, UnicodeError, AttributeError) as exc:
        raise ApiError(400, "parameter_invalid",
                       "Invalid starting_after param %r" % (text,)) from exc


class DayClock:
    """Day boundaries (Unix seconds) in one IANA timezone."""

    def __init__(self, tz):
        self.tz = tz

    def day_start(self, ts):
        """Unix time of the local midnight that starts ts's day."""
        d = datetime.datetime.fromtimestamp(ts, self.tz).date()
        return self._midnight(d)

    def next_day_start(self, ts):
        """Unix time of the local midnight that starts the day after ts's."""
        d = datetime.datetime.fromtimestamp(ts, self.tz).date()
        return self._midnight(d + datetime.timedelta(days=1))

    def _midnight(self, d):
        """Local midnight of date d as Unix seconds."""
        dt = datetime.datetime(d.year, d.month, d.day, tzinfo=self.tz)
        return int(dt.timestamp())
