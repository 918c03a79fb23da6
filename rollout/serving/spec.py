"""What a supervisor needs to run one color: the plan's model version, its argv, and where its files live."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from rollout.plan import Color, ModelVersion, Plan
from rollout.serving.engines import client_api_key, drain_seconds, server_argv

HIDDEN = "***"

STATE_SUBDIR = "model-rollout"


@dataclass(frozen=True, kw_only=True)
class ServerSpec:
    service: str
    version: ModelVersion
    argv: tuple[str, ...]
    cwd: Path
    state_dir: Path
    drain: float
    api_key: str | None = field(default=None, repr=False)

    @property
    def color(self) -> Color:
        return self.version.color

    @property
    def headers(self) -> dict[str, str]:
        """What every request to the server carries: vLLM answers 401 under /v1 without its key."""
        return {"authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def hide(self, text: str) -> str:
        """`text` with the server's key blanked out, for anything we print (vLLM logs its args at start)."""
        return text.replace(self.api_key, HIDDEN) if self.api_key else text

    @property
    def pid_file(self) -> Path:
        return color_file(self.state_dir, self.color, ".pid")

    @property
    def launch_file(self) -> Path:
        return color_file(self.state_dir, self.color, ".json")

    @property
    def log_file(self) -> Path:
        return color_file(self.state_dir, self.color, ".log")

    @property
    def lock_file(self) -> Path:
        return self.state_dir / "start.lock"


def color_file(state_dir: Path, color: Color, suffix: str) -> Path:
    """Where a color's pid file (.pid), launch record (.json) or log (.log) lives in the state dir."""
    return state_dir / f"{color}{suffix}"


def unit_names(service: str, color: Color) -> tuple[str, str]:
    """The names systemd and docker may start a color's server under: its own, and the one it takes while the
    other color's server holds that (a promoted green runs on as blue under the name it was started with)."""
    own = f"rollout-{service}-{color}"
    return own, f"{own}-2"


def free_unit(service: str, color: Color, held: str | None) -> str:
    """The name to start `color` under, given the name the other color's server is known by."""
    return next(name for name in unit_names(service, color) if name != held)


def server_spec(plan: Plan, color: Color, env: Mapping[str, str]) -> ServerSpec:
    version = plan.model(color)
    return ServerSpec(
        service=plan.service,
        version=version,
        argv=server_argv(version),
        cwd=plan.root,
        state_dir=state_dir(plan, env),
        drain=drain_seconds(version),
        api_key=client_api_key(version, env),
    )


def state_dir(plan: Plan, env: Mapping[str, str]) -> Path:
    """plan.state_dir, else $XDG_STATE_HOME/model-rollout/<service>, else ~/.local/state/model-rollout/<service>."""
    if plan.state_dir is not None:
        return plan.state_dir
    base = env.get("XDG_STATE_HOME") or str(Path(env.get("HOME") or Path.home()) / ".local" / "state")
    return Path(base) / STATE_SUBDIR / plan.service
