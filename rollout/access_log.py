"""The access log the nginx router writes and the live gates read: one line per request, in one format.

The rendered nginx config (routers/nginx.py) names ACCESS_LOG_FORMAT in its `log_format`; the live gates'
nginx source (gates/live_sources.py) reads the lines back with parse_access_line.
"""

from __future__ import annotations

from dataclasses import dataclass

ACCESS_LOG = "access.log"
"""The access log, beside the config (relative to nginx's prefix): the live gates' nginx source reads it."""
ACCESS_LOG_VERSION = "rollout1"
ACCESS_LOG_FIELDS = (
    "$msec",
    "$rollout_color",
    "$status",
    "$request_time",
    "$upstream_response_time",
    "$body_bytes_sent",
    "$request_method",
    "$uri",
)
# Tab-separated (nginx reads \t in a quoted string as a tab); nginx escapes tabs, quotes and control
# characters inside a variable's value (as \x09), so a request path cannot add a field. No client address.
ACCESS_LOG_FORMAT = "\\t".join((ACCESS_LOG_VERSION, *ACCESS_LOG_FIELDS))


@dataclass(frozen=True, kw_only=True)
class AccessRecord:
    """One request as the rendered access log has it."""

    at: float
    """Seconds since the epoch when the request finished (nginx's $msec)."""
    color: str
    status: int
    seconds: float
    method: str
    path: str


def parse_access_line(line: str) -> AccessRecord | None:
    """A line of the rendered format; None for any other line (an older format, a torn last line)."""
    parts = line.rstrip("\n").split("\t")
    if len(parts) != len(ACCESS_LOG_FIELDS) + 1 or parts[0] != ACCESS_LOG_VERSION:
        return None
    _, at, color, status, seconds, _upstream, _bytes, method, path = parts
    try:
        return AccessRecord(
            at=float(at), color=color, status=int(status), seconds=float(seconds), method=method, path=path
        )
    except ValueError:
        return None
