"""`rollout serve start` with `supervisor: kubernetes`: the official `kubernetes` client server-side applies the
color's objects and waits until they are ready; without a kubeconfig the objects are written for the repository.

The API server is a stub on loopback, since the test is about our use of the client: it answers apply
patches with the object and reports readiness only after a few reads, as a controller would.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from click.testing import CliRunner

from rollout.cli import cli
from rollout.errors import ExternalError
from rollout.plan import load_plan
from rollout.serving import cluster
from tests.support.kubernetes import manifest_problems

PLANS = Path(__file__).parents[1] / "unit" / "routers" / "golden"


class ApiServer:
    """Keeps applied objects by path; a GET reports ready after `ready_after` reads (never, when None)."""

    def __init__(self, ready_after: int | None) -> None:
        self.ready_after = ready_after
        self.objects: dict[str, dict[str, Any]] = {}
        self.patches: list[tuple[str, dict[str, list[str]], str, str]] = []
        self.reads = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_PATCH(self) -> None:
                url = urlsplit(self.path)
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                server.patches.append(
                    (url.path, parse_qs(url.query), self.headers["Content-Type"], self.headers["Authorization"])
                )
                obj = yaml.safe_load(body)
                obj["metadata"]["generation"] = 1
                server.objects[url.path] = obj
                self._send(200, obj)

            def do_GET(self) -> None:
                obj = server.objects.get(urlsplit(self.path).path)
                if obj is None:
                    self._send(404, {"kind": "Status", "message": "not found"})
                    return
                server.reads += 1
                ready = server.ready_after is not None and server.reads >= server.ready_after
                if obj["kind"] == "Deployment":
                    status = {"observedGeneration": 1, "availableReplicas": 1 if ready else 0}
                else:
                    condition = {
                        "type": "Ready",
                        "status": "True" if ready else "False",
                        "reason": "MinimumReplicasUnavailable",
                    }
                    status = {"observedGeneration": 1, "conditions": [condition]}
                self._send(200, {**obj, "status": status})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    def kubeconfig(self, path: Path) -> Path:
        return write_kubeconfig(path, f"http://127.0.0.1:{self.httpd.server_port}")


def write_kubeconfig(path: Path, server: str) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "stub", "cluster": {"server": server}}],
        "users": [{"name": "rollout", "user": {"token": "t0ken"}}],
        "contexts": [{"name": "stub", "context": {"cluster": "stub", "user": "rollout"}}],
        "current-context": "stub",
    }
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def api(request: pytest.FixtureRequest) -> Iterator[ApiServer]:
    server = ApiServer(getattr(request, "param", 3))
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


def copy_plan(kind: str, tmp_path: Path) -> Path:
    text = (PLANS / kind / "rollout-plan.yaml").read_text()
    text = text.replace("port: 8002}", "port: 8002, supervisor: kubernetes}")
    text = text.replace("port: 8002, env:", "port: 8002, supervisor: kubernetes, env:")
    (tmp_path / "rollout-plan.yaml").write_text(text)
    return tmp_path / "rollout-plan.yaml"


@pytest.mark.parametrize("kind", ["gateway-api-inferencepool", "kserve"])
def test_start_applies_green_server_side_and_waits_until_it_is_ready(kind: str, api: ApiServer, tmp_path: Path) -> None:
    plan = copy_plan(kind, tmp_path)
    assert load_plan(plan).model("green").supervisor == "kubernetes"
    env = {"KUBECONFIG": str(api.kubeconfig(tmp_path / "kubeconfig"))}
    result = CliRunner().invoke(cli, ["serve", "start", "green", "--plan", str(plan), "--json"], env=env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["action"] == "applied"
    assert api.reads == 3, "start returns on the first read that is ready"
    for path, query, content_type, auth in api.patches:
        assert query == {"fieldManager": ["model-rollout"], "force": ["true"]}
        assert (content_type, auth) == ("application/apply-patch+yaml", "Bearer t0ken")
        assert path.startswith("/api") and "/namespaces/llm/" in path
    paths = [p for p, *_ in api.patches]
    if kind == "kserve":
        assert paths == ["/apis/serving.kserve.io/v1alpha2/namespaces/llm/llminferenceservices/chat-green"]
    else:
        assert paths == [
            "/apis/apps/v1/namespaces/llm/deployments/chat-v2",
            "/apis/inference.networking.k8s.io/v1/namespaces/llm/inferencepools/chat-v2",
        ]
    applied = [{k: v for k, v in obj.items()} for obj in api.objects.values()]
    for obj in applied:
        obj["metadata"].pop("generation")
    assert manifest_problems(applied) == []


@pytest.mark.parametrize("api", [None], indirect=True)
def test_a_green_that_never_gets_ready_fails_with_its_condition_at_the_deadline(api: ApiServer, tmp_path: Path) -> None:
    plan = load_plan(copy_plan("kserve", tmp_path))
    ticks = iter(range(0, 1000, 10))
    with pytest.raises(ExternalError, match=r"LLMInferenceService llm/chat-green is not ready: Ready is False"):
        cluster.start(
            plan,
            "green",
            env={"KUBECONFIG": str(api.kubeconfig(tmp_path / "kubeconfig"))},
            timeout=60,
            sleep=lambda _s: None,
            clock=lambda: float(next(ticks)),
        )
    assert 1 <= api.reads <= 7


def test_a_refused_apply_is_an_external_failure_naming_the_path(tmp_path: Path) -> None:
    plan = load_plan(copy_plan("gateway-api", tmp_path))
    # nothing listens on the port of a server that was closed
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = server.server_port
    server.server_close()
    config = write_kubeconfig(tmp_path / "kubeconfig", f"http://127.0.0.1:{port}")
    with pytest.raises(ExternalError, match=r"PATCH /apis/apps/v1/namespaces/llm/deployments/chat-v2"):
        cluster.start(plan, "green", env={"KUBECONFIG": str(config)}, timeout=5)


def test_without_a_kubeconfig_green_is_written_beside_the_route_for_the_repository(tmp_path: Path) -> None:
    plan = copy_plan("gateway-api", tmp_path)
    result = CliRunner().invoke(cli, ["serve", "start", "green", "--plan", str(plan)], env={"KUBECONFIG": ""})
    assert result.exit_code == 0, result.output
    assert "GitOps engine" in result.output
    written = tmp_path / "deploy" / "chat-v2.yaml"
    objects = list(yaml.safe_load_all(written.read_text()))
    assert [o["kind"] for o in objects] == ["Deployment", "Service"]
    assert manifest_problems(objects) == []


def test_status_reads_readiness_from_the_api_and_stop_leaves_the_objects_to_the_repository(
    api: ApiServer, tmp_path: Path
) -> None:
    plan = copy_plan("kserve", tmp_path)
    env = {"KUBECONFIG": str(api.kubeconfig(tmp_path / "kubeconfig"))}
    runner = CliRunner()
    assert runner.invoke(cli, ["serve", "start", "green", "--plan", str(plan)], env=env).exit_code == 0
    seen = runner.invoke(cli, ["serve", "status", "green", "--plan", str(plan), "--json"], env=env)
    assert seen.exit_code == 0, seen.output
    assert (json.loads(seen.output)["ready"], json.loads(seen.output)["object"]) == (
        True,
        "LLMInferenceService llm/chat-green",
    )
    stopped = runner.invoke(cli, ["serve", "stop", "green", "--plan", str(plan)], env=env)
    assert stopped.exit_code == 0 and "removed from the repository" in stopped.output
    assert [method for method in api.objects] == [
        "/apis/serving.kserve.io/v1alpha2/namespaces/llm/llminferenceservices/chat-green"
    ]
    unknown = runner.invoke(cli, ["serve", "status", "green", "--plan", str(plan), "--json"], env={"KUBECONFIG": ""})
    assert json.loads(unknown.output)["ready"] is None
