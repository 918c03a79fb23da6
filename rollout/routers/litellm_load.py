"""Load a LiteLLM proxy config as a proxy worker does when it starts; exit 1, saying why, if it cannot.

`rollout apply` runs this file with the proxy's own Python (`python -I litellm_load.py CONFIG`) on the candidate
config before it reloads the proxy: under gunicorn, a config a new worker cannot load stops the master, and the
proxy is down until its supervisor restarts it. A worker's startup (`proxy_startup_event` in LiteLLM 1.100.5's
`litellm/proxy/proxy_server.py`) reads the config with `ProxyConfig.load_config`, which resolves every
`os.environ/NAME`, applies the settings and builds the router from `model_list` and `router_settings`; this runs
that same call. It imports only LiteLLM and the standard library, since rollout is not installed beside the
proxy, and `-I` keeps this folder (where rollout's own `litellm.py` is) off `sys.path`.

LiteLLM's own output is discarded: it may print settings, and the values of `os.environ/` names are blanked out
of the one line this prints, so no key reaches apply's messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
from collections.abc import Iterator

SECRET = re.compile(r"os\.environ/([A-Za-z_][A-Za-z0-9_]*)")


@contextlib.contextmanager
def silenced() -> Iterator[None]:
    """Standard output and error to /dev/null at the file descriptors, which LiteLLM's log handlers write to."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 1)
        os.dup2(null.fileno(), 2)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, copy in enumerate(saved, start=1):
            os.dup2(copy, fd)
            os.close(copy)


def load(path: str) -> str | None:
    """None when LiteLLM loads the config; else why not, without the values of the variables it names."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "true")
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except OSError as exc:
        return f"cannot read it: {exc}"
    secrets = sorted({os.environ[name] for name in SECRET.findall(text) if os.environ.get(name)}, key=len)
    try:
        with silenced():
            from litellm.proxy.proxy_server import ProxyConfig

            asyncio.run(ProxyConfig().load_config(router=None, config_file_path=path))
    except (Exception, SystemExit) as exc:
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())
        for secret in reversed(secrets):
            reason = reason.replace(secret, "***")
        return reason
    return None


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} CONFIG")
    problem = load(sys.argv[1])
    if problem is not None:
        print(f"LiteLLM cannot load {sys.argv[1]}: {problem}", file=sys.stderr)
        sys.exit(1)
