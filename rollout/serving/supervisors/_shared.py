"""What the supervisor kinds share: how a stop ended, how long it may take, and how much log to show."""

from __future__ import annotations

from typing import Literal

StopHow = Literal["drained", "terminated", "killed", "stopped"]
LOG_TAIL_LINES = 50
# Seconds a stop waits, once the drain is over, between terminating what is left of a server and killing it.
STOP_GRACE = 10.0
