"""LiteLLM proxy: one deployment per color under the service's model name, picked by weight.

Every deployment carries a `weight`: LiteLLM's simple-shuffle looks at the first deployment to decide
whether to weigh at all, so one without a weight turns the split uniform. A color at 0% is left out
rather than given weight 0, because simple-shuffle picks uniformly when the weights of the deployments it
may choose from add up to 0, and would send that color traffic. `model_info.id` is the color, which the
proxy returns in the `x-litellm-model-id` response header; `model_info.rollout_revision` lets us see,
through `/v1/model/info`, that the proxy's workers run the new config. Internal stages use tag routing:
green is tagged `internal` only, so it serves requests sent with `x-litellm-tags: internal` (or
`"tags": ["internal"]`), and untagged requests go to blue, the `default` deployment.

A failed request is not retried and no deployment is ever cooled down (`num_retries: 0`,
`disable_cooldowns: true`, no `fallbacks`): LiteLLM would otherwise retry green's failures on whichever
deployment it picks next (blue, mostly) and, once more than half of green's requests in a minute fail,
take green out of the pick for a while, so blue would silently carry green's share, the client would not
see green's errors, and the live gates would judge a green that hardly served. A cooled-down blue would
also leave untagged requests of an internal stage with no `default` deployment, which LiteLLM answers
from any deployment: green. So the split stays the one apply verified, and green's errors reach the
clients and the gates that watch them.

The proxy reads its config when a worker starts; run under gunicorn (`--run_gunicorn`), a SIGHUP starts
new workers on the new config while the listening socket stays open and the old workers finish what they
have (docs/routers.md). Probes authenticate with $ROLLOUT_ROUTER_KEY, else $LITELLM_MASTER_KEY.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from rollout.documents import FieldPath
from rollout.errors import InputError
from rollout.plan import Color, Plan
from rollout.routers._shared import REVISION_SLOT, ProbeStyle, Reply, audience, headline, upstreams
from rollout.serving.engines import server_key_source
from rollout.traffic import TrafficState

MODEL_ID_HEADER = "x-litellm-model-id"
PYTHON_ENV = "ROLLOUT_LITELLM_PYTHON"
LOAD_CHECK = Path(__file__).with_name("litellm_load.py")
SECRET_PREFIX = "os.environ/"
# `systemctl restart`, `docker restart`, `supervisorctl restart`, `kubectl rollout restart`: each stops the proxy.
RESTART = re.compile(r"\brestart\b")


def render(plan: Plan, state: TrafficState) -> str:
    internal = audience(plan, state) == "internal"
    deployments = []
    for backend in upstreams(plan, state):
        params: dict[str, Any] = {
            "model": f"openai/{backend.name}",
            "api_base": f"{backend.url}/v1",
            "api_key": backend_api_key(plan, backend.color),
            "weight": backend.weight,
        }
        if internal:
            tags = ["default"] if backend.color == "blue" else []
            params["tags"] = [*tags, "internal"] if getattr(state.weights, backend.color) > 0 else tags
        deployments.append(
            {
                "model_name": plan.service,
                "litellm_params": params,
                "model_info": {"id": backend.color, "rollout_revision": REVISION_SLOT},
            }
        )
    router_settings: dict[str, Any] = {
        "routing_strategy": "simple-shuffle",
        "num_retries": 0,
        "disable_cooldowns": True,
    }
    if internal:
        router_settings["enable_tag_filtering"] = True
    config = {
        "model_list": deployments,
        "router_settings": router_settings,
        "general_settings": {"master_key": "os.environ/LITELLM_MASTER_KEY"},
    }
    header = (
        f"# LiteLLM proxy config for {plan.service}, rendered by `rollout apply` from rollout-traffic.yaml; "
        f"edits are overwritten.\n# {headline(plan, state)}\n"
    )
    return header + yaml.safe_dump(config, sort_keys=False, default_flow_style=False)


def backend_api_key(plan: Plan, color: Color) -> str:
    """What a deployment sends its model server: LiteLLM reads `os.environ/NAME` from the proxy's environment
    when a worker loads the config, so the key itself is never in the file. A server without a key ignores the
    header, but LiteLLM's OpenAI client refuses to send a request with no key at all."""
    name = plan.router.backend_key_env.get(color)
    return f"{SECRET_PREFIX}{name}" if name else "unused"


def plan_problems(plan: Plan, env: Mapping[str, str]) -> list[tuple[FieldPath, str]]:
    """A model server that demands an API key the plan does not say where the proxy holds: LiteLLM would
    send it `unused`, and every request would get 401. `env` is the environment apply runs in."""
    found: list[tuple[FieldPath, str]] = []
    for version in plan.versions:
        source = server_key_source(version, env)
        if source is not None and version.color not in plan.router.backend_key_env:
            found.append(
                (
                    ("router", "backend_key_env"),
                    f"{version.color}'s model server demands an API key ({source[0]}), which LiteLLM would not "
                    f"send: name the variable of the proxy's environment that holds it, e.g. backend_key_env: "
                    f"{{{version.color}: VLLM_API_KEY}} (docs/serving.md)",
                )
            )
    return found


def problems(text: str) -> list[str]:
    """Structural checks LiteLLM itself would only report at startup, or never."""
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return [f"not YAML: {exc}"]
    if not isinstance(config, dict) or not isinstance(config.get("model_list"), list) or not config["model_list"]:
        return ["no model_list"]
    found: list[str] = []
    ids: list[object] = []
    for i, deployment in enumerate(config["model_list"]):
        params = deployment.get("litellm_params") if isinstance(deployment, dict) else None
        if not isinstance(params, dict) or not deployment.get("model_name"):
            found.append(f"model_list[{i}]: needs model_name and litellm_params")
            continue
        for key in ("model", "api_base"):
            if not params.get(key):
                found.append(f"model_list[{i}].litellm_params.{key}: missing")
        weight = params.get("weight")
        if not isinstance(weight, int) or isinstance(weight, bool) or weight <= 0:
            found.append(f"model_list[{i}].litellm_params.weight: {weight!r} is not a positive integer")
        ids.append((deployment.get("model_info") or {}).get("id"))
    if len(set(ids)) != len(ids) or None in ids:
        found.append(f"model_info.id must be set and unique per deployment, got {ids}")
    return found


def validate_command(plan: Plan, candidate: Path, env: Mapping[str, str]) -> list[str]:
    """LiteLLM's own loading of the candidate, in the proxy's Python: a config a new gunicorn worker cannot load
    would stop the proxy altogether at the reload (docs/routers.md)."""
    return [proxy_python(env), "-I", str(LOAD_CHECK), str(candidate)]


def proxy_python(env: Mapping[str, str]) -> str:
    """$ROLLOUT_LITELLM_PYTHON, else the `python` beside the `litellm` on PATH (a virtualenv's, or pipx's)."""
    if env.get(PYTHON_ENV):
        return env[PYTHON_ENV]
    program = shutil.which("litellm", path=env.get("PATH"))
    # pipx links the program into ~/.local/bin: its Python is beside the program the link points at
    python = shutil.which("python", path=str(Path(program).resolve().parent)) if program else None
    if python is None:
        found = f"finds no python beside {program}" if program else "finds no litellm on PATH"
        raise InputError(
            "rollout apply checks a LiteLLM config with the proxy's own Python before it reloads the proxy, and "
            f"{found}: set {PYTHON_ENV} to that Python, e.g. {PYTHON_ENV}=/opt/litellm/bin/python"
        )
    return python


def reload_command(plan: Plan, env: Mapping[str, str]) -> list[str]:
    raise InputError.at(
        str(plan.path),
        "the LiteLLM proxy reads its config when a worker starts: set the command that reloads it, "
        "e.g. reload: systemctl reload litellm (a unit running litellm --run_gunicorn, "
        "ExecReload=/bin/kill -HUP $MAINPID: docs/routers.md)",
        field="router.reload",
    )


def plan_warnings(plan: Plan) -> list[str]:
    reload = plan.router.reload or ""
    if plan.router.restarts or not RESTART.search(reload):
        return []
    return [
        f"router.reload {reload!r} looks like a restart: every change of weights would stop the LiteLLM proxy, "
        "and requests fail until it is back; run it under gunicorn and reload it with SIGHUP, e.g. reload: "
        "systemctl reload litellm (docs/routers.md), or say restarts: true to keep the restart"
    ]


def _color(reply: Reply) -> str | None:
    return reply.headers.get(MODEL_ID_HEADER) if reply.status == 200 else None


def _is_live(reply: Reply, revision: str) -> bool:
    if reply.status != 200:
        return False
    try:
        models = json.loads(reply.body).get("data", [])
    except (ValueError, AttributeError):
        return False
    revisions = {(m.get("model_info") or {}).get("rollout_revision") for m in models if isinstance(m, dict)}
    return revisions == {revision}


def probe_style(plan: Plan) -> ProbeStyle:
    # Only a model request goes through the router's deployment choice; one token keeps it cheap.
    return ProbeStyle(
        method="POST",
        path="/v1/chat/completions",
        color=_color,
        live_path="/v1/model/info",
        is_live=_is_live,
        body={"model": plan.service, "messages": [{"role": "user", "content": "ping"}], "max_tokens": 1},
        audience_headers={"internal": {"x-litellm-tags": "internal"}},
        auth_env=("ROLLOUT_ROUTER_KEY", "LITELLM_MASTER_KEY"),
        live_timeout=120.0,
        failure_hint=(
            "LiteLLM answers 401 when the probes' key ($ROLLOUT_ROUTER_KEY, else $LITELLM_MASTER_KEY) is not "
            "the proxy's or a model server refuses the key the proxy sent it, and 500 when the proxy has no key "
            "to send (the variable router.backend_key_env names is not in its environment): docs/serving.md#api-keys"
        ),
    )
