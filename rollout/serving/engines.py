"""The command line that serves one model version: `vllm serve`, or any OpenAI-compatible server's template."""

from __future__ import annotations

import shlex
from pathlib import Path

from rollout.plan import ModelVersion

# vLLM's --shutdown-timeout: on SIGTERM it stops taking requests and lets in-flight ones finish for this long.
DRAIN_SECONDS = 30
SHUTDOWN_FLAG = "--shutdown-timeout"
WEIGHT_SUFFIXES = (".gguf", ".safetensors", ".bin", ".pt", ".pth", ".onnx")


def server_argv(version: ModelVersion) -> tuple[str, ...]:
    """The argv that serves `version` on its host and port, as the plan describes it."""
    if version.engine == "command":
        return command_argv(version)
    return ("vllm", "serve", version.model, *vllm_options(version))


def vllm_options(version: ModelVersion) -> tuple[str, ...]:
    """Everything after `vllm serve MODEL`; the docker image takes the same options after `--model MODEL`."""
    options: list[str] = []
    if version.revision:
        options += ["--revision", version.revision]
    options += ["--served-model-name", version.name, "--host", version.host, "--port", str(version.port)]
    if not _has_flag(version.args, SHUTDOWN_FLAG):
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
    """How long a stop waits after SIGTERM before it terminates the rest of the server's processes."""
    value = _flag_value(version.args, SHUTDOWN_FLAG)
    if value is None:
        return float(DRAIN_SECONDS)
    try:
        return float(value)
    except ValueError:
        return float(DRAIN_SECONDS)


def local_model_path(version: ModelVersion, root: Path) -> Path | None:
    """The file or folder `version.model` names on this machine, when it names one rather than a hub id."""
    model = version.model
    if model.startswith(("/", "./", "../", "~")) or model.endswith(WEIGHT_SUFFIXES):
        return (root / Path(model).expanduser()).resolve()
    return None


def _has_flag(args: tuple[str, ...], flag: str) -> bool:
    return any(arg == flag or arg.startswith(f"{flag}=") for arg in args)


def _flag_value(args: tuple[str, ...], flag: str) -> str | None:
    for i, arg in enumerate(args):
        if arg.startswith(f"{flag}="):
            return arg.split("=", 1)[1]
        if arg == flag and i + 1 < len(args):
            return args[i + 1]
    return None
