"""The command line that serves one model version: `vllm serve`, or any OpenAI-compatible server's template."""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePath

from rollout import vllm_flags
from rollout.plan import ModelVersion, Plan

# vLLM's --shutdown-timeout: on SIGTERM it stops taking requests and lets in-flight ones finish for this long.
DRAIN_SECONDS = 30
SHUTDOWN_FLAG = "--shutdown-timeout"
# The key our clients send when the plan gives the server none: for servers keyed some other way.
CLIENT_KEY_ENV = "ROLLOUT_API_KEY"
WEIGHT_SUFFIXES = (".gguf", ".safetensors", ".bin", ".pt", ".pth", ".onnx")


def server_argv(version: ModelVersion) -> tuple[str, ...]:
    """The argv that serves `version` on its host and port, as the plan describes it."""
    if version.engine == "command":
        return command_argv(version)
    return ("vllm", "serve", version.model, *vllm_options(version))


def vllm_options(version: ModelVersion) -> tuple[str, ...]:
    """Everything after `vllm serve MODEL`; the docker image takes the same after `MODEL`.

    The plan loader refuses `args` that set any of these identity flags, in any spelling vLLM accepts.
    """
    options: list[str] = []
    if version.revision:
        options += ["--revision", version.revision]
    options += ["--served-model-name", version.name, "--host", version.host, "--port", str(version.port)]
    if not vllm_flags.find(version.args, vllm_flags.SHUTDOWN_TIMEOUT):
        options += [SHUTDOWN_FLAG, str(DRAIN_SECONDS)]
    return (*options, *version.args)


def command_argv(version: ModelVersion) -> tuple[str, ...]:
    """The plan's template split like a shell would, each word then filled in, plus the plan's extra args.

    Words are split before placeholders are filled, so a model path with spaces stays one argument.
    """
    if version.command is None:
        raise ValueError(f"{version.color} has engine 'command' but no command template")
    values = {
        "port": str(version.port),
        "model": version.model,
        "name": version.name,
        "host": version.host,
        "revision": version.revision or "",
    }
    return (*(word.format(**values) for word in shlex.split(version.command)), *version.args)


def drain_seconds(version: ModelVersion) -> float:
    """How long a stop waits after SIGTERM before it terminates the rest of the server's processes: vLLM's
    own --shutdown-timeout (the last one, in any spelling), else the one we add."""
    argv = version.args if version.engine == "vllm" else server_argv(version)
    value = vllm_flags.last_value(argv, vllm_flags.SHUTDOWN_TIMEOUT)
    if value is None:
        return float(DRAIN_SECONDS)
    try:
        return float(vllm_flags.shutdown_timeout(value))
    except ValueError:
        return float(DRAIN_SECONDS)


def server_api_key(version: ModelVersion, env: Mapping[str, str]) -> str | None:
    """The key the server will demand under /v1, found where vLLM finds it: `--api-key` (in args, or in a
    command template), else VLLM_API_KEY in the plan's env, else in the caller's (which the server inherits).
    `env` is the caller's environment."""
    found = server_key_source(version, env)
    return found[1] if found else None


def server_key_source(version: ModelVersion, env: Mapping[str, str]) -> tuple[str, str] | None:
    """Where the server's key is found, said without the key (`--api-key in models.blue.args`), and the key."""
    argv = version.args if version.engine == "vllm" else server_argv(version)
    keys = vllm_flags.api_keys(argv)
    if keys:
        where = "args" if version.engine == "vllm" or vllm_flags.find(version.args, vllm_flags.API_KEY) else "command"
        return f"--api-key in models.{version.color}.{where}", keys[0]
    if version.engine == "vllm" or runs_vllm(argv):
        if version.env.get(vllm_flags.API_KEY_ENV):
            return f"{vllm_flags.API_KEY_ENV} in models.{version.color}.env", version.env[vllm_flags.API_KEY_ENV]
        if env.get(vllm_flags.API_KEY_ENV):
            return f"{vllm_flags.API_KEY_ENV} in this environment", env[vllm_flags.API_KEY_ENV]
    return None


def client_api_key(version: ModelVersion, env: Mapping[str, str]) -> str | None:
    """The bearer token we send to the server: its own key, else $ROLLOUT_API_KEY."""
    return server_api_key(version, env) or env.get(CLIENT_KEY_ENV) or None


def runs_vllm(argv: Sequence[str]) -> bool:
    """Whether a command line starts vLLM's OpenAI server (`vllm serve`, or its module), wrapped or not."""
    for i, word in enumerate(argv):
        if PurePath(word).name == "vllm" and tuple(argv[i + 1 : i + 2]) == ("serve",):
            return True
        if word.startswith("vllm.entrypoints."):
            return True
    return False


def serving_warnings(plan: Plan) -> tuple[str, ...]:
    """What is legal in a plan but loses requests or skews a comparison; `rollout validate` prints these."""
    found = []
    for version in plan.versions:
        argv = server_argv(version)
        if version.engine == "command" and runs_vllm(argv) and not vllm_flags.find(argv, vllm_flags.SHUTDOWN_TIMEOUT):
            found.append(
                f"models.{version.color}.command runs vLLM without --shutdown-timeout: vLLM's default (0) aborts "
                "every in-flight request on SIGTERM, so a stop drains nothing; add e.g. --shutdown-timeout 30"
            )
    return tuple(found)


def local_model_path(version: ModelVersion, root: Path) -> Path | None:
    """The file or folder `version.model` names on this machine, when it names one rather than a hub id."""
    model = version.model
    if model.startswith(("/", "./", "../", "~")) or model.endswith(WEIGHT_SUFFIXES):
        return (root / Path(model).expanduser()).resolve()
    return None
