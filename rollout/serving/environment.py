"""What a model server's environment holds: the caller's variables a server needs, by name, then the plan's.

`rollout serve start` runs inside CI jobs whose environment carries the job's tokens (GITHUB_TOKEN,
ACTIONS_ID_TOKEN_REQUEST_TOKEN, the router's and our own keys). A model server outlives the job and
runs code from the model repository (`--trust-remote-code`), so it gets an allowlist, never the rest:
the basics a program needs, the variables Hugging Face, CUDA, NCCL and vLLM read, and proxy settings
for downloads. The plan's `env` is added on top: that is the operator saying so, in the repository.
The runner's RUNNER_TRACKING_ID is left out too: with it, the runner kills the server when the job ends.
"""

from __future__ import annotations

from collections.abc import Mapping

from rollout.plan import ModelVersion

# What any program expects to find; not passed into a container, which has its own.
BASICS = frozenset(
    {"PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV"}
)
# What model servers read: weights and their cache, devices, their own settings (VLLM_API_KEY is the
# server's own key by design), certificates and proxies for the hub.
MODEL_SERVER = frozenset(
    {
        "HF_TOKEN",
        "HUGGING_FACE_HUB_TOKEN",
        "HF_HOME",
        "HF_HUB_CACHE",
        "HF_HUB_OFFLINE",
        "HF_HUB_ENABLE_HF_TRANSFER",
        "HF_ENDPOINT",
        "TRANSFORMERS_CACHE",
        "TRANSFORMERS_OFFLINE",
        "XDG_CACHE_HOME",
        "CUDA_VISIBLE_DEVICES",
        "CUDA_HOME",
        "NVIDIA_VISIBLE_DEVICES",
        "HIP_VISIBLE_DEVICES",
        "ROCR_VISIBLE_DEVICES",
        "LD_LIBRARY_PATH",
        "OMP_NUM_THREADS",
        "TORCHINDUCTOR_CACHE_DIR",
        "TRITON_CACHE_DIR",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "no_proxy",
    }
)
MODEL_SERVER_PREFIXES = ("VLLM_", "NCCL_", "LC_")
# Paths on this machine: a container sees its own filesystem, so these would point nowhere there.
HOST_PATHS = frozenset(
    {
        "HF_HOME",
        "HF_HUB_CACHE",
        "TRANSFORMERS_CACHE",
        "XDG_CACHE_HOME",
        "CUDA_HOME",
        "LD_LIBRARY_PATH",
        "TORCHINDUCTOR_CACHE_DIR",
        "TRITON_CACHE_DIR",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
    }
)


def allowed(name: str, *, container: bool = False) -> bool:
    """Whether the caller's variable `name` may reach a model server (in a container: fewer)."""
    if container and (name in BASICS or name in HOST_PATHS or name.startswith("LC_")):
        return False
    return name in BASICS or name in MODEL_SERVER or name.startswith(MODEL_SERVER_PREFIXES)


def passed_names(env: Mapping[str, str], *, container: bool = False) -> tuple[str, ...]:
    """The caller's variables a server gets, sorted: for supervisors that take names and read the values
    themselves (`systemd-run --setenv=NAME`, `docker run --env=NAME`), so no value shows in a command line."""
    return tuple(sorted(name for name in env if allowed(name, container=container)))


def server_env(env: Mapping[str, str], version: ModelVersion) -> dict[str, str]:
    """The whole environment of a server run as our own child: the allowlisted variables, then the plan's."""
    return {**{name: env[name] for name in passed_names(env)}, **version.env}
