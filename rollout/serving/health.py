"""What a model server says over HTTP: /health, /v1/models, /version and /metrics."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from rollout.errors import ExternalError
from rollout.serving.metrics import ServerMetrics, parse_metrics

PROBE_TIMEOUT = 5.0


@dataclass(frozen=True, kw_only=True)
class Health:
    """One look at a server. `health` is /health's HTTP status, None when nothing answered."""

    url: str
    health: int | None
    models: tuple[str, ...] = ()
    error: str | None = None

    @property
    def answering(self) -> bool:
        return self.health is not None

    @property
    def healthy(self) -> bool:
        """/health says 200; a server without /health (404) counts as healthy once /v1/models answers."""
        return self.health == 200 or (self.health == 404 and bool(self.models))

    def serves(self, name: str) -> bool:
        return self.healthy and name in self.models


def probe(url: str, *, client: httpx.Client, headers: Mapping[str, str] | None = None) -> Health:
    """/health, then /v1/models; `headers` carry the server's key (vLLM guards everything under /v1)."""
    try:
        health = client.get(f"{url}/health", timeout=PROBE_TIMEOUT).status_code
    except httpx.HTTPError as exc:
        return Health(url=url, health=None, error=_describe(exc))
    try:
        response = client.get(f"{url}/v1/models", headers=headers, timeout=PROBE_TIMEOUT)
        models = model_ids(response.json()) if response.status_code == 200 else ()
        error = None if response.status_code == 200 else f"/v1/models answered {response.status_code}"
        if response.status_code == 401:
            error = f"{error} (the server wants an API key: see docs/serving.md)"
    except (httpx.HTTPError, ValueError) as exc:
        return Health(url=url, health=health, error=f"/v1/models: {_describe(exc)}")
    return Health(url=url, health=health, models=models, error=error)


def model_ids(body: Any) -> tuple[str, ...]:
    """The ids in an OpenAI /v1/models answer ({"data": [{"id": ...}, ...]}); anything else lists none."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        return ()
    return tuple(str(item["id"]) for item in data if isinstance(item, dict) and "id" in item)


def read_version(url: str, *, client: httpx.Client) -> str | None:
    """vLLM's /version ({"version": "0.11.0"}); None from servers that have no such endpoint."""
    try:
        response = client.get(f"{url}/version", timeout=PROBE_TIMEOUT)
        body = response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None
    version = body.get("version") if isinstance(body, dict) else None
    return str(version) if version is not None else None


def read_metrics(url: str, *, client: httpx.Client, model: str | None = None) -> ServerMetrics:
    """Scrape vLLM's Prometheus /metrics; with `model`, only that served model's series."""
    try:
        response = client.get(f"{url}/metrics", timeout=PROBE_TIMEOUT)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise ExternalError(f"could not read {url}/metrics: {_describe(exc)}") from exc
    try:
        return parse_metrics(response.text, model=model)
    except ValueError as exc:
        raise ExternalError(f"{url}/metrics: {exc}") from exc


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
