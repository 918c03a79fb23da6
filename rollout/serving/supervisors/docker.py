"""The `docker` supervisor: vLLM's OpenAI-compatible image with the GPUs, one container per color.

The image is the plan's `image` (a pinned vLLM release by default, so blue and green run the same one);
its entrypoint is `vllm serve`, so the model comes first, as vLLM wants it. A model on this machine is
mounted read-only and named by its path inside; a hub id is fetched into the mounted Hugging Face
cache. The container is published on the plan's host and port and listens on all interfaces inside.
`docker stop --time` sends SIGTERM (vLLM drains for its --shutdown-timeout) and SIGKILLs after that
many seconds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from rollout.serving.engines import local_model_path, vllm_options
from rollout.serving.environment import passed_names
from rollout.serving.launch_records import Launch, new_launch
from rollout.serving.procfs import Liveness
from rollout.serving.spec import ServerSpec
from rollout.serving.supervisors._shared import LOG_TAIL_LINES, STOP_GRACE, StopHow, recorded_unit
from rollout.subprocesses import run_command

HF_CACHE = "/root/.cache/huggingface"
MODELS = "/models"


def run_argv(
    spec: ServerSpec, *, unit: str, env: Mapping[str, str], hf_cache: str, drain: float, grace: float
) -> tuple[str, ...]:
    """The allowlisted variables go by name (docker copies their values from its own environment, so none
    shows in a command line), then the plan's."""
    version = spec.version
    inside = dataclasses.replace(version, host="0.0.0.0")
    local = local_model_path(version, spec.cwd)
    model = version.model if local is None else f"{MODELS}/{local.name}"
    mounts = () if local is None else (f"--volume={local}:{model}:ro",)
    return (
        "docker",
        "run",
        "--detach",
        f"--name={unit}",
        "--gpus=all",
        "--ipc=host",
        f"--publish={version.host}:{version.port}:{version.port}",
        f"--volume={hf_cache}:{HF_CACHE}",
        *mounts,
        f"--stop-timeout={int(drain + grace)}",
        *(f"--env={name}" for name in passed_names(env, container=True) if name not in version.env),
        *(f"--env={key}={value}" for key, value in sorted(version.env.items())),
        version.image,
        model,
        *vllm_options(inside),
    )


def inspect_argv(unit: str) -> tuple[str, ...]:
    return ("docker", "inspect", "--format={{.State.Running}} {{.State.Pid}}", unit)


def stop_argv(unit: str, *, drain: float, grace: float) -> tuple[str, ...]:
    return ("docker", "stop", f"--time={int(drain + grace)}", unit)


def remove_argv(unit: str) -> tuple[str, ...]:
    """Without --force, so a running container is never removed by accident."""
    return ("docker", "rm", unit)


def logs_argv(unit: str, *, lines: int) -> tuple[str, ...]:
    return ("docker", "logs", f"--tail={lines}", unit)


def parse_inspect(text: str) -> tuple[bool, int | None]:
    running, _, pid = text.strip().partition(" ")
    return running == "true", (int(pid) or None) if pid.isdigit() else None


def launch(spec: ServerSpec, env: Mapping[str, str], *, unit: str) -> Launch:
    run_command(remove_argv(unit), check=False)  # an exited container of the same name blocks `docker run`
    hf_cache = env.get("HF_HOME") or f"{env.get('HOME', '/root')}/.cache/huggingface"
    run_command(run_argv(spec, unit=unit, env=env, hf_cache=hf_cache, drain=spec.drain, grace=STOP_GRACE), env=env)
    _, pid = parse_inspect(run_command(inspect_argv(unit)).stdout)
    return new_launch(spec, "docker", pid, unit=unit)


def liveness(spec: ServerSpec, launch: Launch) -> Liveness:
    result = run_command(inspect_argv(recorded_unit(launch)), check=False)
    return "running" if result.returncode == 0 and parse_inspect(result.stdout)[0] else "gone"


def stop(spec: ServerSpec, launch: Launch, *, drain: float, grace: float) -> StopHow:
    unit = recorded_unit(launch)
    run_command(stop_argv(unit, drain=drain, grace=grace))
    run_command(remove_argv(unit), check=False)
    return "stopped"


def log_tail(spec: ServerSpec, launch: Launch, lines: int = LOG_TAIL_LINES) -> tuple[str, ...]:
    result = run_command(logs_argv(recorded_unit(launch), lines=lines), check=False)
    return tuple((result.stdout + result.stderr).splitlines())


def log_source(spec: ServerSpec, launch: Launch) -> str:
    return f"docker logs {recorded_unit(launch)}"
