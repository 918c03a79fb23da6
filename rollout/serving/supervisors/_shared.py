"""What the supervisor kinds share: how a stop ended, how long it may take, and how much log to show."""

from __future__ import annotations

from typing import Literal

from rollout.errors import ExternalError
from rollout.serving.launch_records import Launch

StopHow = Literal["drained", "terminated", "killed", "stopped"]
LOG_TAIL_LINES = 50
# Seconds a stop waits, once the drain is over, between terminating what is left of a server and killing it.
STOP_GRACE = 10.0


def recorded_unit(launch: Launch) -> str:
    """The unit or container a server was started as, which every later command addresses: after a promotion
    it is another color's name (a systemd unit cannot be renamed)."""
    if launch.unit is None:
        raise ExternalError(f"the launch record of the {launch.supervisor} server {launch.name!r} names no unit")
    return launch.unit
