"""nginx: a standalone config that splits requests between the colors by request id.

The rendered file is a whole nginx.conf for an nginx of its own: it listens on the host and port of
`router.url`, and every path in it (pid, logs, temp dirs) is relative to nginx's prefix, which is the
directory holding `router.config`. Run it as `nginx -p <that dir> -c <router.config>`; `rollout apply`
validates and reloads it the same way (`nginx -t` / `nginx -s reload`, graceful: old workers finish
their requests). Each response names the color that served it (X-Rollout-Color) and the config
revision (X-Rollout-Config; nginx itself answers it at /rollout/revision). Internal stages send green
only requests marked `X-Rollout-Audience: internal`. nginx passes a request's Authorization header on
to the model server, so probes send `Authorization: Bearer $ROLLOUT_ROUTER_KEY`, else the servers' own
$VLLM_API_KEY, when one is set: a vLLM with a key answers 401 under /v1 without it.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from rollout.access_log import ACCESS_LOG, ACCESS_LOG_FORMAT
from rollout.errors import InputError
from rollout.plan import Plan
from rollout.routers._shared import (
    AUDIENCE_HEADER,
    REVISION_SLOT,
    ProbeStyle,
    Reply,
    audience,
    headline,
    upstreams,
)
from rollout.traffic import TrafficState

COLOR_HEADER = "X-Rollout-Color"
REVISION_HEADER = "X-Rollout-Config"
REVISION_PATH = "/rollout/revision"


def render(plan: Plan, state: TrafficState) -> str:
    host, port = listen_address(plan)
    revision = REVISION_SLOT
    blocks = "\n".join(
        f"    upstream rollout_{b.color} {{\n        server {urlsplit(b.url).netloc};\n        keepalive 32;\n    }}"
        for b in upstreams(plan, state)
    )
    green = state.weights.green
    split_var = "$rollout_split" if audience(plan, state) == "internal" else "$rollout_color"
    split = f"        {green}% green;\n" if 0 < green < 100 else ""
    fallback = "green" if green == 100 else "blue"
    audience_map = (
        f"\n    map $http_{AUDIENCE_HEADER.lower().replace('-', '_')} $rollout_color {{\n"
        f"        internal $rollout_split;\n        default blue;\n    }}\n"
        if split_var == "$rollout_split"
        else ""
    )
    return f"""\
# nginx config for {plan.service}, rendered by `rollout apply` from rollout-traffic.yaml; edits are overwritten.
# {headline(plan, state)}
# Run as: nginx -p {plan.router.config.parent}/ -c {plan.router.config}  (relative paths below are under -p)
worker_processes auto;
pid nginx.pid;
error_log error.log warn;

events {{
    worker_connections 1024;
}}

http {{
    log_format rollout '{ACCESS_LOG_FORMAT}';
    access_log {ACCESS_LOG} rollout;
    client_body_temp_path client_body_temp;
    proxy_temp_path proxy_temp;
    fastcgi_temp_path fastcgi_temp;
    uwsgi_temp_path uwsgi_temp;
    scgi_temp_path scgi_temp;

{blocks}

    split_clients "${{request_id}}" {split_var} {{
{split}        * {fallback};
    }}
{audience_map}
    server {{
        listen {host}:{port};

        location = {REVISION_PATH} {{
            default_type text/plain;
            add_header {REVISION_HEADER} {revision} always;
            return 200 "{revision}\\n";
        }}

        location / {{
            proxy_pass http://rollout_$rollout_color;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_buffering off;
            proxy_request_buffering off;
            proxy_read_timeout 600s;
            add_header {COLOR_HEADER} $rollout_color always;
            add_header {REVISION_HEADER} {revision} always;
        }}
    }}
}}
"""


def listen_address(plan: Plan) -> tuple[str, int]:
    url = plan.router.url
    if url is None:
        raise InputError.at(
            str(plan.path), "nginx needs the address to listen on, e.g. url: http://127.0.0.1:4000", field="router.url"
        )
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise InputError.at(
            str(plan.path),
            f"{url!r}: nginx listens on a plain http://host:port address (terminate TLS in front of it)",
            field="router.url",
        )
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return host, parts.port or 80


def problems(text: str) -> list[str]:
    # nginx -t is the real check; this only catches a file that cannot be ours.
    return [] if "split_clients" in text and "upstream rollout_" in text else ["not a rollout nginx config"]


def nginx_binary(env: Mapping[str, str]) -> str:
    return env.get("ROLLOUT_NGINX_BIN") or shutil.which("nginx", path=env.get("PATH")) or "/usr/sbin/nginx"


def validate_command(plan: Plan, candidate: Path, env: Mapping[str, str]) -> list[str]:
    return [nginx_binary(env), "-q", "-t", "-e", "stderr", "-p", f"{plan.router.config.parent}/", "-c", str(candidate)]


def reload_command(plan: Plan, env: Mapping[str, str]) -> list[str]:
    return [*start_command(plan, env), "-s", "reload"]


def start_command(plan: Plan, env: Mapping[str, str]) -> list[str]:
    """nginx started on the config (`-s reload` only signals a master that runs)."""
    return [nginx_binary(env), "-e", "stderr", "-p", f"{plan.router.config.parent}/", "-c", str(plan.router.config)]


def _color(reply: Reply) -> str | None:
    return reply.headers.get(COLOR_HEADER.lower()) if reply.status == 200 else None


def _is_live(reply: Reply, revision: str) -> bool:
    return reply.headers.get(REVISION_HEADER.lower()) == revision


def probe_style(plan: Plan) -> ProbeStyle:
    # The split is per request on every path, so listing models is split exactly like generation, for free.
    return ProbeStyle(
        method="GET",
        path="/v1/models",
        color=_color,
        live_path=REVISION_PATH,
        is_live=_is_live,
        audience_headers={"internal": {AUDIENCE_HEADER: "internal"}},
        auth_env=("ROLLOUT_ROUTER_KEY", "VLLM_API_KEY"),
        live_timeout=10.0,
        failure_hint=(
            "nginx passes the probes' Authorization header on to the model servers: a 401 is a server with an API "
            "key the probes did not send ($ROLLOUT_ROUTER_KEY, else $VLLM_API_KEY): docs/serving.md#api-keys"
        ),
    )
