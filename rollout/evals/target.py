"""What an eval run talks to: a color of the plan, or any OpenAI-compatible URL."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from rollout.errors import ExternalError, InputError
from rollout.evals.results import ServerIdentity
from rollout.plan import COLORS, load_plan, serving_args_digest
from rollout.serving.engines import CLIENT_KEY_ENV, client_api_key
from rollout.serving.health import PROBE_TIMEOUT, model_ids, read_version


@dataclass(frozen=True, kw_only=True)
class Target:
    label: str
    url: str
    model: str
    revision: str | None = None
    serving_digest: str | None = None
    api_key: str | None = field(default=None, repr=False)

    @property
    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.api_key}"} if self.api_key else {}


def base_url(url: str) -> str:
    """http://host:port from any of http://host:port, .../v1 or .../v1/chat/completions."""
    url = url.rstrip("/")
    for suffix in ("/chat/completions", "/v1"):
        url = url.removesuffix(suffix)
    return url


def resolve_target(text: str, *, plan_path: Path, model: str | None, env: Mapping[str, str]) -> Target:
    """blue/green read the plan (URL, served name, revision, the server's key); a URL takes --model or asks
    the server, with $ROLLOUT_API_KEY."""
    if text in COLORS:
        version = load_plan(plan_path, display=str(plan_path)).model(text)
        return Target(
            label=text,
            url=version.url,
            model=model or version.name,
            revision=version.revision,
            serving_digest=serving_args_digest(version),
            api_key=client_api_key(version, env),
        )
    api_key = env.get(CLIENT_KEY_ENV) or None
    if not text.startswith(("http://", "https://")):
        raise InputError.at("--target", f"{text!r} is not blue, green or an http(s):// URL")
    url = base_url(text)
    return Target(label=text, url=url, model=model or served_model(url, api_key), api_key=api_key)


def served_model(url: str, api_key: str | None = None) -> str:
    """The first model a server lists at /v1/models."""
    headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        response = httpx.get(f"{url}/v1/models", headers=headers, timeout=10.0)
        response.raise_for_status()
        models = response.json()["data"]
        return str(models[0]["id"])
    except httpx.HTTPError as exc:
        raise ExternalError(f"{url}/v1/models: {exc}; pass --model NAME to skip asking") from None
    except (ValueError, KeyError, IndexError, TypeError):
        raise ExternalError(f"{url}/v1/models did not list a model; pass --model NAME") from None


def identify_server(target: Target, *, client: httpx.Client) -> ServerIdentity | None:
    """What the server says it serves, asked as a run begins; None when /v1/models does not answer (the
    run's requests will say why)."""
    try:
        response = client.get(f"{target.url}/v1/models", headers=target.headers, timeout=PROBE_TIMEOUT)
        body = response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None
    if not isinstance(body, dict):
        return None
    data = body.get("data")
    cards = data if isinstance(data, list) else []
    roots = [card.get("root") for card in cards if isinstance(card, dict) and card.get("id") == target.model]
    return ServerIdentity(
        models=model_ids(body),
        root=str(roots[0]) if roots and roots[0] is not None else None,
        version=read_version(target.url, client=client),
    )
