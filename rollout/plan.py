"""rollout-plan.yaml: load, validate (schema, then the rules a schema cannot say), and freeze."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from rollout import vllm_flags
from rollout.documents import Document, FieldPath, check_unique, load_schema, load_yaml, schema_problems
from rollout.durations import parse_duration
from rollout.errors import InputError, Problem

Color = Literal["blue", "green"]
COLORS: tuple[Color, Color] = ("blue", "green")
RouterKind = Literal["litellm", "nginx", "file", "gateway-api", "kserve"]
BackendKind = Literal["Service", "InferencePool"]
Engine = Literal["vllm", "command"]
SupervisorKind = Literal["process", "systemd", "docker", "kubernetes"]

DEFAULT_RUNNER = ("self-hosted", "gpu")
"""The GPU jobs' runner labels when the plan names none: the reusable workflows' `runner` default too."""
PLAN_FILE = "rollout-plan.yaml"
TRAFFIC_FILE = "rollout-traffic.yaml"
RECORDS_DIR = "rollout-records"
COMMAND_PLACEHOLDERS = frozenset({"port", "model", "name", "host", "revision"})
# vLLM's OpenAI server image for the docker supervisor: pinned, so blue and green start on the same release.
DEFAULT_IMAGE = "vllm/vllm-openai:v0.33.0"
# The plan field each vLLM identity flag would override (`--uds` makes vLLM ignore host and port).
IDENTITY_FIELDS = {
    vllm_flags.MODEL: "model",
    vllm_flags.SERVED_MODEL_NAME: "name",
    vllm_flags.HOST: "host",
    vllm_flags.PORT: "port",
    vllm_flags.REVISION: "revision",
    vllm_flags.UDS: "host and port",
}


@dataclass(frozen=True, kw_only=True)
class ModelVersion:
    color: Color
    name: str
    model: str
    revision: str | None = None
    port: int
    host: str = "127.0.0.1"
    args: tuple[str, ...] = ()
    engine: Engine = "vllm"
    command: str | None = None
    supervisor: SupervisorKind = "process"
    env: Mapping[str, str] = field(default_factory=dict)
    image: str = DEFAULT_IMAGE
    resources: Mapping[str, Mapping[str, str | int]] = field(default_factory=dict)
    """supervisor: kubernetes: the model container's `requests` and `limits`."""

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


@dataclass(frozen=True, kw_only=True)
class Build:
    """What a color serves, as a verdict binds to it: a change to any part is a new version to evaluate."""

    name: str
    revision: str | None
    serving_digest: str

    def describe(self) -> str:
        revision = f" @ {self.revision}" if self.revision else ""
        return f"{self.name}{revision} (serving arguments {self.serving_digest})"


def build_of(version: ModelVersion) -> Build:
    return Build(name=version.name, revision=version.revision, serving_digest=serving_args_digest(version))


def serving_args_digest(version: ModelVersion) -> str:
    """A digest of what, beside name and revision, decides what a server answers: the weights it loads, the
    engine and command template, their arguments and environment, and under docker or kubernetes the image (the vLLM
    release). Where it runs (host, port, supervisor) is not part of it, nor are API keys: a new key serves
    the same model, and a digest must not stand for a secret."""
    hidden = "***"
    served = {
        "model": version.model,
        "engine": version.engine,
        "command": version.command,
        "args": list(vllm_flags.hide_keys(version.args, hidden)),
        "env": {k: hidden if k == vllm_flags.API_KEY_ENV else v for k, v in sorted(version.env.items())},
    }
    if version.supervisor in ("docker", "kubernetes"):
        served["image"] = version.image
    return hashlib.sha256(json.dumps(served, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True, kw_only=True)
class Router:
    kind: RouterKind
    config: Path
    reload: str | None = None
    restarts: bool = False
    validate: str | None = None
    url: str | None = None
    probes: int = 200
    namespace: str | None = None
    gateway: str | None = None
    backends: Mapping[Color, str] = field(default_factory=dict)
    backend_kind: BackendKind = "Service"
    """gateway-api: what the HTTPRoute's backendRefs name, Services or Inference Extension InferencePools."""
    backend_key_env: Mapping[Color, str] = field(default_factory=dict)
    """litellm: per color, the variable of the proxy's environment holding that model server's API key."""


@dataclass(frozen=True, kw_only=True)
class Stage:
    name: str
    weight: int
    soak: timedelta
    audience: Literal["all", "internal"] = "all"
    environment: str | None = None


@dataclass(frozen=True, kw_only=True)
class QualityGate:
    suite: Path
    margin: float = 0.02
    confidence: float = 0.95


@dataclass(frozen=True, kw_only=True)
class SafetyGate:
    suite: Path
    max_failures: int = 0
    """Green's excess failures over blue (cases' worth, repeats averaged per case) tolerated."""
    max_failure_rate: float | None = None
    """The bar: green's failure rate on the harmful cases (every case if none is tagged) must be shown below it."""
    confidence: float = 0.95


@dataclass(frozen=True, kw_only=True)
class LatencyGate:
    p95_ratio_max: float | None = None
    ttft_p95_ms_max: float | None = None
    confidence: float = 0.95


@dataclass(frozen=True, kw_only=True)
class CostGate:
    ratio_max: float = 1.10
    gpu_hour_usd: Mapping[Color, float] = field(default_factory=dict)
    confidence: float = 0.95


@dataclass(frozen=True, kw_only=True)
class FeedbackSource:
    kind: Literal["prometheus", "http", "jsonl"]
    url: str | None = None
    query: str | None = None
    path: Path | None = None


@dataclass(frozen=True, kw_only=True)
class FeedbackGate:
    source: FeedbackSource
    margin: float = 0.03
    min_samples: int = 300
    confidence: float = 0.95


LiveSourceKind = Literal["nginx", "vllm", "prometheus"]
LIVE_QUERIES = ("requests", "errors", "e2e_buckets", "ttft_buckets", "output_tokens", "e2e_seconds")
"""The measures a Prometheus source can be asked for, one instant query each."""


@dataclass(frozen=True, kw_only=True)
class LiveSource:
    kind: LiveSourceKind
    log: Path | None = None
    url: str | None = None
    queries: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class LiveErrors:
    margin: float = 0.01
    ceiling: float | None = 0.05


@dataclass(frozen=True, kw_only=True)
class LiveLatency:
    p95_ratio_max: float | None = None
    ttft_p95_ratio_max: float | None = None


@dataclass(frozen=True, kw_only=True)
class LiveCost:
    gpu_hour_usd: Mapping[Color, float]
    ratio_max: float = 1.10


@dataclass(frozen=True, kw_only=True)
class LiveGate:
    sources: tuple[LiveSource, ...]
    min_requests: int = 200
    errors: LiveErrors = LiveErrors()
    latency: LiveLatency | None = None
    cost: LiveCost | None = None
    confidence: float = 0.95


@dataclass(frozen=True, kw_only=True)
class Gates:
    quality: QualityGate | None = None
    safety: SafetyGate | None = None
    latency: LatencyGate | None = None
    cost: CostGate | None = None
    feedback: FeedbackGate | None = None
    live: LiveGate | None = None


@dataclass(frozen=True, kw_only=True)
class Plan:
    path: Path
    service: str
    runner: tuple[str, ...]
    blue: ModelVersion
    green: ModelVersion | None
    router: Router
    stages: tuple[Stage, ...]
    decommission_after: timedelta
    gates: Gates
    rollback_on_gate_failure: Literal["open-pr", "auto-merge"] = "open-pr"
    reviewers: tuple[str, ...] = ()
    state_dir: Path | None = None
    digest: str = ""

    @property
    def root(self) -> Path:
        return self.path.parent

    @property
    def traffic_path(self) -> Path:
        return self.root / TRAFFIC_FILE

    @property
    def records_dir(self) -> Path:
        return self.root / RECORDS_DIR / self.service

    @property
    def versions(self) -> tuple[ModelVersion, ...]:
        """Blue, then green when the plan names one."""
        return (self.blue,) if self.green is None else (self.blue, self.green)

    def model(self, color: Color) -> ModelVersion:
        version = self.blue if color == "blue" else self.green
        if version is None:
            raise InputError.at(str(self.path), "the plan names no green version", field="models.green")
        return version

    def stage(self, name: str | None) -> Stage | None:
        return next((s for s in self.stages if s.name == name), None)

    def stage_index(self, name: str | None) -> int | None:
        return next((i for i, s in enumerate(self.stages) if s.name == name), None)


def load_plan(path: Path | str, *, display: str | None = None) -> Plan:
    """Read and validate a plan; raise InputError listing every problem found."""
    path = Path(path)
    document = load_yaml(path, display=display or str(path))
    if not isinstance(document.data, dict):
        raise InputError.at(document.file, "a plan is a YAML mapping (service:, models:, stages:, ...)", line=1)
    problems = schema_problems(document, load_schema("plan.schema.json"))
    if problems:
        raise InputError(problems)
    problems = _rule_problems(document, path.parent)
    if problems:
        raise InputError(problems)
    return _freeze(document.data, path, hashlib.sha256(path.read_bytes()).hexdigest())


def suite_gate_paths(gates: Gates) -> tuple[Path, ...]:
    """The eval suites the gates run, quality's first."""
    return tuple(gate.suite for gate in (gates.quality, gates.safety) if gate is not None)


def require_suites(plan: Plan) -> None:
    """Refuse a plan whose gates run no eval suite: latency and cost are measured on the suites' answers,
    and the workflows fan out one eval job per suite and color, which GitHub refuses to do for none."""
    if not suite_gate_paths(plan.gates):
        raise InputError(
            [
                load_yaml(plan.path).problem(
                    ("gates",),
                    "no gate runs an eval suite, so a rollout would have no evidence to gate on (latency and "
                    "cost are measured on the suites' answers); add gates.quality or gates.safety with a suite",
                    key=True,
                )
            ]
        )


def _rule_problems(doc: Document, root: Path) -> list[Problem]:
    data = doc.data
    problems: list[Problem] = []
    stages = data["stages"]
    problems += check_unique(doc, stages, ("stages",), "name")
    for i, stage in enumerate(stages):
        if i and stage["weight"] <= stages[i - 1]["weight"]:
            problems.append(
                doc.problem(
                    ("stages", i, "weight"),
                    f"{stage['weight']} is not greater than the previous stage's {stages[i - 1]['weight']}",
                )
            )
        problems += _duration_problems(doc, ("stages", i, "soak"), stage["soak"])
    if stages[-1]["weight"] != 100:
        problems.append(
            doc.problem(
                ("stages", len(stages) - 1, "weight"),
                f"the last stage must send 100% to green, not {stages[-1]['weight']}",
            )
        )
    if "decommission_after" in data:
        problems += _duration_problems(doc, ("decommission_after",), data["decommission_after"])

    models = data["models"]
    for color, spec in models.items():
        problems += _model_problems(doc, ("models", color), spec)
        if "host" in spec and (wrong := host_problem(spec["host"])):
            problems.append(doc.problem(("models", color, "host"), wrong))
    if "green" in models:
        blue, green = models["blue"], models["green"]
        if blue["port"] == green["port"] and blue.get("host", "127.0.0.1") == green.get("host", "127.0.0.1"):
            problems.append(
                doc.problem(
                    ("models", "green", "port"), f"{green['port']} is blue's port too; each color needs its own"
                )
            )
        if blue["name"] == green["name"]:
            problems.append(
                doc.problem(
                    ("models", "green", "name"), f"{green['name']!r} is blue's name too; a new version needs a new name"
                )
            )

    for gate in ("quality", "safety"):
        spec = data["gates"].get(gate)
        if spec is not None:
            suite = root / spec["suite"]
            if not suite.is_dir() or not any(suite.glob("*.yaml")):
                problems.append(
                    doc.problem(
                        ("gates", gate, "suite"), f"no eval suite at {spec['suite']} (a folder of *.yaml files)"
                    )
                )
    router = data["router"]
    if "url" in router and (wrong := url_problem(router["url"])):
        problems.append(doc.problem(("router", "url"), wrong))
    if router.get("restarts") and "reload" not in router:
        problems.append(
            doc.problem(
                ("router", "restarts"),
                "restarts: true says router.reload restarts the router, but there is no router.reload",
            )
        )
    if router["kind"] == "gateway-api" and "gateway" not in router:
        problems.append(
            doc.problem(
                ("router", "kind"),
                "gateway-api needs router.gateway: the Gateway (NAME or NAMESPACE/NAME) the HTTPRoute attaches to",
            )
        )
    if "backend_key_env" in router and router["kind"] != "litellm":
        problems.append(
            doc.problem(
                ("router", "backend_key_env"),
                "backend_key_env is for router.kind: litellm only (nginx passes each client's Authorization header "
                "on to the model server: docs/serving.md)",
            )
        )
    for color, name in router.get("backend_key_env", {}).items():
        if name == "LITELLM_MASTER_KEY":
            problems.append(
                doc.problem(
                    ("router", "backend_key_env", color),
                    "LITELLM_MASTER_KEY is the proxy's own key: sent to the model server it would let whoever "
                    "reads that server's requests administer the proxy; give the server a key of its own",
                )
            )
    problems += _kubernetes_problems(doc, data)
    feedback = data["gates"].get("feedback")
    if feedback is not None:
        problems += _feedback_problems(doc, feedback["source"])
    live = data["gates"].get("live")
    if live is not None:
        problems += _live_problems(doc, live)
    return sorted(problems, key=lambda p: (p.line or 0, p.field))


def _kubernetes_problems(doc: Document, data: Mapping[str, Any]) -> list[Problem]:
    router = data["router"]
    problems = []
    if "backend_kind" in router and router["kind"] != "gateway-api":
        problems.append(doc.problem(("router", "backend_kind"), "backend_kind is for router.kind: gateway-api only"))
    for color, spec in data["models"].items():
        if spec.get("supervisor") == "kubernetes" and spec.get("engine", "vllm") != "vllm":
            problems.append(doc.problem(("models", color, "engine"), "supervisor: kubernetes runs vLLM's image"))
        if spec.get("supervisor") == "kubernetes" and router["kind"] not in ("gateway-api", "kserve"):
            problems.append(
                doc.problem(
                    ("models", color, "supervisor"),
                    "supervisor: kubernetes serves in a cluster, behind router.kind gateway-api or kserve",
                )
            )
    if router["kind"] == "kserve":
        for i, stage in enumerate(data["stages"]):
            if stage.get("audience") == "internal":
                problems.append(
                    doc.problem(
                        ("stages", i, "audience"),
                        "kserve group weights split all requests alike and cannot match a header: "
                        "use gateway-api for a stage with audience: internal",
                    )
                )
    return problems


_HOST_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def host_problem(host: str) -> str | None:
    """What is wrong with `host` as a hostname or an IP address, or None. Hosts are rendered into router
    configs, unit files and command lines, so nothing but a host may get through (no port, no `;`)."""
    if ":" in host or host.replace(".", "").isdigit():
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return f"{host!r} is not an IP address (write the port under 'port:', and IPv6 without brackets)"
        return None
    labels = host.removesuffix(".").split(".")
    if len(host) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        return f"{host!r} is not a hostname (labels of letters, digits and '-', joined by '.')"
    return None


def url_problem(url: str) -> str | None:
    """What is wrong with `url` as the router's http(s)://host[:port][/path] address, or None."""
    parts = urlsplit(url)
    if parts.query or parts.fragment or parts.username or parts.password:
        return f"{url!r}: a router URL has a host, a port and a path, and nothing else"
    try:
        port = parts.port
    except ValueError:
        return f"{url!r}: the port is not a number from 1 to 65535"
    if port == 0:
        return f"{url!r}: the port is not a number from 1 to 65535"
    host = parts.hostname or ""
    wrong = host_problem(host) if host else "no host"
    return f"{url!r}: {wrong}" if wrong else None


def _duration_problems(doc: Document, path: FieldPath, text: str) -> list[Problem]:
    try:
        parse_duration(text)
    except ValueError as exc:
        return [doc.problem(path, str(exc))]
    return []


def _model_problems(doc: Document, path: FieldPath, spec: Mapping[str, Any]) -> list[Problem]:
    engine = spec.get("engine", "vllm")
    if "image" in spec and spec.get("supervisor", "process") not in ("docker", "kubernetes"):
        return [doc.problem((*path, "image"), "'image' is only used with supervisor: docker or kubernetes")]
    if "resources" in spec and spec.get("supervisor", "process") != "kubernetes":
        return [doc.problem((*path, "resources"), "'resources' is only used with supervisor: kubernetes")]
    if engine == "vllm" and "command" not in spec:
        return _vllm_args_problems(doc, (*path, "args"), tuple(spec.get("args", ())))
    if engine == "command" and "command" not in spec:
        return [
            doc.problem(
                (*path, "engine"),
                "engine 'command' needs a 'command' template, e.g. 'my-server --port {port} --model {model}'",
            )
        ]
    if engine == "vllm" and "command" in spec:
        return [doc.problem((*path, "command"), "'command' is only used with engine: command")]
    if "command" in spec:
        try:
            fields = {name for _, name, _, _ in string.Formatter().parse(spec["command"]) if name is not None}
        except ValueError as exc:
            return [doc.problem((*path, "command"), f"bad template: {exc}")]
        unknown = sorted(fields - COMMAND_PLACEHOLDERS)
        if unknown:
            known = ", ".join(f"{{{n}}}" for n in sorted(COMMAND_PLACEHOLDERS))
            return [doc.problem((*path, "command"), f"unknown placeholder {{{unknown[0]}}} (known: {known})")]
    return []


def _vllm_args_problems(doc: Document, path: FieldPath, args: tuple[str, ...]) -> list[Problem]:
    """`args` go after the flags rollout sets, and vLLM keeps the last of repeated flags; so `args` may not
    set those, in any spelling vLLM reads. The values vLLM checks only at start are checked here."""
    color = path[1]
    problems = [
        doc.problem(
            (*path, hit.index),
            f"{args[hit.index]!r} sets what rollout sets from models.{color}.{IDENTITY_FIELDS[hit.name]}; "
            f"remove it (vLLM would keep the last value and serve another than the plan says)",
        )
        for hit in vllm_flags.identity_flags(args)
    ]
    for hit in vllm_flags.find(args, vllm_flags.SHUTDOWN_TIMEOUT):
        given = vllm_flags.values(args, hit)
        at = (*path, hit.index if hit.value is not None or not given else hit.index + 1)
        try:
            vllm_flags.shutdown_timeout(given[0] if given else "")
        except ValueError:
            problems.append(
                doc.problem(
                    at,
                    f"--shutdown-timeout needs a whole number of seconds (0 or more), not {given[0] if given else 'nothing'!r}",
                )
            )
    for hit in vllm_flags.find(args, vllm_flags.API_KEY):
        if not vllm_flags.values(args, hit):
            problems.append(doc.problem((*path, hit.index), "--api-key needs a key after it"))
    return problems


def _feedback_problems(doc: Document, source: Mapping[str, Any]) -> list[Problem]:
    needs = {"prometheus": ("url", "query"), "http": ("url",), "jsonl": ("path",)}[source["kind"]]
    return [
        doc.problem(("gates", "feedback", "source"), f"a {source['kind']} source needs '{key}'")
        for key in needs
        if key not in source
    ]


# What each source kind reads, and the measures it can give.
_LIVE_KEYS: Mapping[str, tuple[str, ...]] = {"nginx": ("log",), "vllm": (), "prometheus": ("url", "queries")}
_LIVE_MEASURES: Mapping[str, frozenset[str]] = {
    "nginx": frozenset({"requests", "errors", "e2e_buckets"}),
    "vllm": frozenset(LIVE_QUERIES),
}


def _live_problems(doc: Document, live: Mapping[str, Any]) -> list[Problem]:
    problems = []
    offered: set[str] = set()
    for i, source in enumerate(live["sources"]):
        kind, at = source["kind"], ("gates", "live", "sources", i)
        wanted = _LIVE_KEYS[kind]
        problems += [
            doc.problem((*at, "kind"), f"a {kind} source needs '{key}'") for key in wanted if key not in source
        ]
        problems += [
            doc.problem(
                (*at, key), f"'{key}' is not read by a {kind} source (it reads: {', '.join(wanted) or 'nothing'})"
            )
            for key in sorted(source)
            if key != "kind" and key not in wanted
        ]
        offered |= _LIVE_MEASURES.get(kind, frozenset(source.get("queries", {})))
    needs = {
        ("errors",): ("requests", "errors"),
        ("latency", "p95_ratio_max"): ("e2e_buckets",),
        ("latency", "ttft_p95_ratio_max"): ("ttft_buckets",),
        ("cost",): ("output_tokens", "e2e_seconds"),
    }
    if "requests" not in offered:
        problems.append(
            doc.problem(
                ("gates", "live", "sources"),
                "no source counts requests (nginx, vllm, or a prometheus 'requests' query)",
            )
        )
    for path, measures in needs.items():
        configured: Any = live
        for key in path:
            configured = configured.get(key) if isinstance(configured, Mapping) else None
        if path != ("errors",) and configured is None:
            continue
        for measure in measures:
            if measure not in offered:
                problems.append(
                    doc.problem(
                        ("gates", "live", *path),
                        f"needs '{measure}', which no source gives (nginx gives requests, errors and e2e latency; "
                        "vllm gives all; prometheus gives the queries it names)",
                    )
                )
    return problems


def _freeze(data: Mapping[str, Any], path: Path, digest: str) -> Plan:
    root = path.parent
    gates = data["gates"]
    runner = data.get("runner", list(DEFAULT_RUNNER))
    router = data["router"]
    return Plan(
        path=path,
        service=data["service"],
        runner=(runner,) if isinstance(runner, str) else tuple(runner),
        blue=_model("blue", data["models"]["blue"]),
        green=_model("green", data["models"]["green"]) if "green" in data["models"] else None,
        router=Router(
            kind=router["kind"],
            config=root / router["config"],
            reload=router.get("reload"),
            restarts=router.get("restarts", False),
            validate=router.get("validate"),
            url=router.get("url"),
            probes=router.get("probes", 200),
            namespace=router.get("namespace"),
            gateway=router.get("gateway"),
            backends=dict(router.get("backends", {})),
            backend_kind=router.get("backend_kind", "Service"),
            backend_key_env=dict(router.get("backend_key_env", {})),
        ),
        stages=tuple(
            Stage(
                name=s["name"],
                weight=s["weight"],
                soak=parse_duration(s["soak"]),
                audience=s.get("audience", "all"),
                environment=s.get("environment"),
            )
            for s in data["stages"]
        ),
        decommission_after=parse_duration(data.get("decommission_after", "0s")),
        gates=Gates(
            quality=QualityGate(**{**gates["quality"], "suite": root / gates["quality"]["suite"]})
            if "quality" in gates
            else None,
            safety=SafetyGate(**{**gates["safety"], "suite": root / gates["safety"]["suite"]})
            if "safety" in gates
            else None,
            latency=LatencyGate(**gates["latency"]) if "latency" in gates else None,
            cost=CostGate(**gates["cost"]) if "cost" in gates else None,
            feedback=_feedback(gates["feedback"], root) if "feedback" in gates else None,
            live=_live(gates["live"], root) if "live" in gates else None,
        ),
        rollback_on_gate_failure=data.get("rollback", {}).get("on_gate_failure", "open-pr"),
        reviewers=tuple(data.get("reviewers", ())),
        state_dir=root / data["state_dir"] if "state_dir" in data else None,
        digest=digest,
    )


def _model(color: Color, spec: Mapping[str, Any]) -> ModelVersion:
    return ModelVersion(color=color, **{**spec, "args": tuple(spec.get("args", ())), "env": dict(spec.get("env", {}))})


def _feedback(spec: Mapping[str, Any], root: Path) -> FeedbackGate:
    source = dict(spec["source"])
    if "path" in source:
        source["path"] = root / source["path"]
    return FeedbackGate(**{**spec, "source": FeedbackSource(**source)})


def _live(spec: Mapping[str, Any], root: Path) -> LiveGate:
    sources = tuple(
        LiveSource(
            kind=s["kind"],
            log=root / s["log"] if "log" in s else None,
            url=s.get("url"),
            queries=dict(s.get("queries", {})),
        )
        for s in spec["sources"]
    )
    return LiveGate(
        sources=sources,
        min_requests=spec.get("min_requests", 200),
        errors=LiveErrors(**spec.get("errors", {})),
        latency=LiveLatency(**spec["latency"]) if "latency" in spec else None,
        cost=LiveCost(**spec["cost"]) if "cost" in spec else None,
        confidence=spec.get("confidence", 0.95),
    )
