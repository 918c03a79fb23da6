"""Check HTTP exchanges against GitHub's published OpenAPI description, the npm package `@octokit/openapi`.

scripts/setup installs the package (pinned) with `npm install -g`; its `generated/` folder holds one
description per product: `api.github.com.json`, `ghec.json` and `ghes-3.17.json`...`ghes-3.19.json`.
Set OCTOKIT_OPENAPI to the package's folder to use another copy.

openapi-core does the checking: it knows OpenAPI 3.0's own rules (`nullable`, `oneOf`, parameters by
location, responses by status code) on top of JSON Schema, so a request is checked for its path
parameters, query and body, and a response for its status code and body. It is only told which path
template a request took: GitHub marks parameters that may hold slashes (`x-multi-segment`: a ref such
as `heads/rollout/chat/early`, a file path) and openapi-core's own matching would stop at the first
slash.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from openapi_core import Config, OpenAPI
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_core.testing import MockRequest, MockResponse

from tests.support.fake_github import Exchange

PACKAGE = "@octokit/openapi"
VERSION = "23.0.2"
"""The pinned release, as scripts/setup installs it; the test checks the installed one is this."""
SERVERS = {"api.github.com": ("https://api.github.com", ""), "ghes-3.17": ("http://HOSTNAME", "/api/v3")}
"""The descriptions checked: github.com, and the oldest GitHub Enterprise Server this project supports."""
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


@dataclass(frozen=True)
class Finding:
    method: str
    template: str
    """The path template, e.g. /repos/{owner}/{repo}/pulls, or the path itself when none matches."""
    status: int
    part: str
    """request, response, or path (no operation in the description has this path and method)."""
    problem: str
    documented: bool = True
    """False when the description has no response at all for this status code."""

    def __str__(self) -> str:
        return f"{self.method} {self.template} -> {self.status}: {self.part}: {self.problem}"


def package_dir(env: Mapping[str, str] = os.environ) -> Path:
    """Where the npm package is installed: OCTOKIT_OPENAPI, else the global node_modules."""
    if env.get("OCTOKIT_OPENAPI"):
        return Path(env["OCTOKIT_OPENAPI"])
    npm = shutil.which("npm")
    root = subprocess.run([npm, "root", "-g"], capture_output=True, text=True, check=False).stdout if npm else ""
    return Path(root.strip()) / PACKAGE


class Description:
    """One product's description, ready to check exchanges with."""

    def __init__(self, path: Path, server: tuple[str, str]) -> None:
        spec = json.loads(path.read_text())
        self.version = str(spec["info"]["version"])
        self.server = server
        # The description is GitHub's own and checked by its CI; validating its 1000 paths again takes minutes.
        self.api = OpenAPI.from_dict(spec, config=Config(spec_validator_cls=None))
        self.templates = sorted(
            (_Template.of(template, item, spec) for template, item in spec["paths"].items()),
            key=lambda t: -t.literal,
        )

    def check(self, exchange: Exchange, *, prefix: str = "") -> list[Finding]:
        """What in this exchange the description does not allow; `prefix` is the fake's API path prefix."""
        parts = urlsplit(exchange.target)
        path = unquote(parts.path)[len(prefix) :]
        method = exchange.method.lower()
        found = next((t for t in self.templates if method in t.methods and t.match(path) is not None), None)
        if found is None:
            return [Finding(exchange.method, path, exchange.status, "path", "no such operation")]
        params = found.match(path) or {}
        host, base = self.server
        request = MockRequest(
            host,
            method,
            base + path,
            path_pattern=base + found.template,
            args=dict(parse_qsl(parts.query)),
            view_args=params,
            data=None if exchange.body is None else json.dumps(exchange.body).encode(),
            content_type="application/json",
        )
        findings: list[Finding] = []

        def note(part: str, problem: str, *, documented: bool = True) -> None:
            findings.append(Finding(exchange.method, found.template, exchange.status, part, problem, documented))

        for error in self.api.unmarshal_request(request).errors:
            note("request", _explain(error))
        data = b"" if exchange.response is None else json.dumps(exchange.response).encode()
        response = MockResponse(data, status_code=exchange.status, headers=dict(exchange.headers))
        for error in self.api.unmarshal_response(request, response).errors:
            if isinstance(error, ResponseNotFound):
                note("response", f"no response documented for {exchange.status}", documented=False)
            else:
                note("response", _explain(error))
        return findings


@cache
def description(name: str) -> Description:
    return Description(package_dir() / "generated" / f"{name}.json", SERVERS[name])


@dataclass(frozen=True)
class _Template:
    template: str
    pattern: re.Pattern[str]
    methods: frozenset[str]
    literal: int
    """How much of the template is fixed text: the most specific template wins."""

    @classmethod
    def of(cls, template: str, item: Mapping[str, Any], spec: Mapping[str, Any]) -> _Template:
        multi = {
            p["name"]
            for method in _METHODS
            for p in (_resolve(p, spec) for p in item.get(method, {}).get("parameters", []))
            if p.get("in") == "path" and p.get("x-multi-segment")
        }
        regex = ""
        for piece in re.split(r"(\{[^}]+\})", template):
            if piece.startswith("{"):
                name = piece[1:-1]
                regex += f"(?P<{_group(name)}>{'.+' if name in multi else '[^/]+'})"
            else:
                regex += re.escape(piece)
        literal = len(re.sub(r"\{[^}]+\}", "", template))
        return cls(template, re.compile(regex), frozenset(m for m in _METHODS if m in item), literal)

    def match(self, path: str) -> dict[str, str] | None:
        found = self.pattern.fullmatch(path)
        if found is None:
            return None
        names = re.findall(r"\{([^}]+)\}", self.template)
        return {name: found.group(_group(name)) for name in names}


def _group(name: str) -> str:
    return re.sub(r"\W", "_", name)


def _resolve(node: Mapping[str, Any], spec: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in node:
        found: Any = spec
        for key in node["$ref"].removeprefix("#/").split("/"):
            found = found[key]
        node = found
    return node


def _explain(error: Exception) -> str:
    """The schema errors behind an openapi-core error (it keeps them in its cause), each where it is."""
    cause = error.__cause__ or error
    details: Sequence[Any] = list(getattr(cause, "schema_errors", ()))
    if not details:
        return f"{type(cause).__name__}: {cause}"[:300]
    return "; ".join(_leaf(e) for e in details)


def _leaf(error: Any) -> str:
    """The deepest reason of a JSON Schema error: for a oneOf, the alternative that came closest."""
    while error.context:
        error = min(error.context, key=lambda e: len(list(e.context)))
    where = "/".join(map(str, error.absolute_path)) or "(body)"
    return f"{where}: {error.message[:200]}"
