from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path

import pytest

from rollout.errors import InputError
from rollout.plan import load_plan
from tests.support.hostile import corpus
from tests.support.plans import CHAT_PLAN

REPO = Path(__file__).resolve().parents[2]
FIXTURE = CHAT_PLAN.read_text()


def write_plan(tmp_path: Path, text: str) -> Path:
    suites = tmp_path / "eval_suites"
    if not suites.exists():
        suites.symlink_to(CHAT_PLAN.parent / "eval_suites")
    path = tmp_path / "rollout-plan.yaml"
    path.write_text(text)
    return path


def line_of(text: str, fragment: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(InputError) as info:
        load_plan(write_plan(tmp_path, text), display="rollout-plan.yaml")
    return [str(p) for p in info.value.problems]


@pytest.mark.parametrize("path", ["rollout-plan.yaml", "rollout/templates/init/rollout-plan.yaml"])
def test_the_example_plans_validate(path: str) -> None:
    assert load_plan(REPO / path).service == "chat"


def test_a_plan_loads_into_frozen_dataclasses() -> None:
    plan = load_plan(CHAT_PLAN)
    assert plan.service == "chat"
    assert [s.weight for s in plan.stages] == [5, 25, 75, 100]
    assert plan.stages[1].soak == timedelta(days=2)
    assert plan.stages[0].audience == "internal"
    assert plan.blue.port == 8001 and plan.green is not None and plan.green.port == 8002
    assert plan.blue.args == ("--max-model-len", "8192", "--gpu-memory-utilization", "0.45")
    assert plan.gates.quality is not None and plan.gates.quality.suite == CHAT_PLAN.parent / "eval_suites" / "quality"
    assert plan.decommission_after == timedelta(days=14)
    assert len(plan.digest) == 64
    with pytest.raises(AttributeError):
        plan.service = "other"  # type: ignore[misc]


def test_the_safety_bar_is_optional_and_loads_as_a_rate(tmp_path: Path) -> None:
    plan = load_plan(CHAT_PLAN)
    assert plan.gates.safety is not None and plan.gates.safety.max_failure_rate is None
    text = FIXTURE.replace("max_failures: 0}", "max_failures: 0, max_failure_rate: 0.02}", 1)
    safety = load_plan(write_plan(tmp_path, text)).gates.safety
    assert safety is not None and safety.max_failure_rate == 0.02


@pytest.mark.parametrize(
    ("bar", "message"),
    [
        ("0", "less than or equal to the minimum of 0"),
        ("1", "greater than or equal to the maximum of 1"),
        ("high", "is not of type 'number'"),
    ],
)
def test_a_safety_bar_outside_0_to_1_is_reported_at_its_line(tmp_path: Path, bar: str, message: str) -> None:
    text = FIXTURE.replace("max_failures: 0}", f"max_failures: 0, max_failure_rate: {bar}}}", 1)
    found = problems(tmp_path, text)
    assert any(
        p.startswith(f"rollout-plan.yaml:{line_of(text, 'max_failure_rate')}: ") and message in p for p in found
    ), found


EDITS = [
    pytest.param(
        "{name: early,    weight: 25",
        "{name: early,    weight: 4",
        "weight: 4 is not greater than the previous stage's 5",
        id="weights-not-increasing",
    ),
    pytest.param(
        "{name: full,     weight: 100",
        "{name: full,     weight: 90",
        "the last stage must send 100% to green, not 90",
        id="last-not-100",
    ),
    pytest.param("soak: 2d}", "soak: two days}", "'two days' is not a duration", id="bad-duration"),
    pytest.param(
        "decommission_after: 14d", "decommission_after: 14 fortnights", "is not a duration", id="bad-decommission"
    ),
    pytest.param("    port: 8002", "    port: 8001", "8001 is blue's port too", id="equal-ports"),
    pytest.param("{name: majority", "{name: early", "'early' is already used by stages[1]", id="duplicate-stage"),
    pytest.param("    port: 8002", "    port: eight", "'eight' is not of type 'integer'", id="wrong-type"),
    pytest.param(
        "decommission_after: 14d",
        "decomission_after: 14d",
        "unknown key 'decomission_after' (did you mean 'decommission_after'?)",
        id="unknown-key",
    ),
    pytest.param(
        "  kind: litellm", "  kind: envoy", "'envoy' is not one of litellm, nginx, file, gateway-api", id="bad-enum"
    ),
    pytest.param(
        "suite: eval_suites/safety",
        "suite: eval_suites/missing",
        "no eval suite at eval_suites/missing",
        id="missing-suite",
    ),
    pytest.param("    name: llama-3.3-8b-ft2", "    name: llama-3.1-8b", "is blue's name too", id="same-name"),
    pytest.param(
        "  reload: systemctl reload litellm",
        "  restarts: true",
        "router.restarts: restarts: true says router.reload restarts the router, but there is no router.reload",
        id="restarts-without-reload",
    ),
    pytest.param(
        "  url: http://127.0.0.1:4000",
        "  restarts: yes please",
        "router.restarts: 'yes please' is not of type 'boolean'",
        id="restarts-not-boolean",
    ),
]


@pytest.mark.parametrize(("old", "new", "message"), EDITS)
def test_each_bad_input_is_reported_with_file_line_and_field(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert old in FIXTURE
    text = FIXTURE.replace(old, new, 1)
    found = problems(tmp_path, text)
    expected_line = FIXTURE[: FIXTURE.index(old)].count("\n") + 1
    matching = [p for p in found if message in p]
    assert matching, found
    assert matching[0].startswith(f"rollout-plan.yaml:{expected_line}: "), matching[0]


def test_the_issue_example_message_is_exact(tmp_path: Path) -> None:
    text = FIXTURE.replace("{name: majority, weight: 75", "{name: majority, weight: 20")
    assert problems(tmp_path, text) == [
        f"rollout-plan.yaml:{line_of(text, 'weight: 20')}: stages[2].weight: 20 is not greater than the previous stage's 25"
    ]


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    text = FIXTURE.replace("soak: 2d}", "soak: soon}").replace("    port: 8002", "    port: 8001")
    text = text.replace("{name: full,     weight: 100", "{name: full,     weight: 99")
    found = problems(tmp_path, text)
    assert len(found) == 3, found


def test_schema_errors_are_all_reported_before_rules(tmp_path: Path) -> None:
    text = FIXTURE.replace("service: chat", "service: [chat]").replace("  url: http://", "  uri: http://")
    found = problems(tmp_path, text)
    assert any("service: ['chat'] is not of type 'string'" in p for p in found), found
    assert any("unknown key 'uri' (did you mean 'url'?)" in p for p in found), found


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "file is empty"),
        (b"   \n# only a comment\n", "file is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "is a binary file"),
        (b"\xff\xfe\xfa not utf8", "is not UTF-8 text"),
        (b"service: chat\n  bad: [indent\n", "invalid YAML"),
        (b"- just\n- a list\n", "a plan is a YAML mapping"),
        (b"version: 1\nversion: 1\n", "duplicate key"),
    ],
)
def test_unreadable_files_are_input_errors(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "rollout-plan.yaml"
    path.write_bytes(content)
    with pytest.raises(InputError) as info:
        load_plan(path, display="rollout-plan.yaml")
    assert message in str(info.value)
    assert str(info.value).startswith("rollout-plan.yaml")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nope\.yaml: file not found"):
        load_plan(tmp_path / "nope.yaml", display="nope.yaml")


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        load_plan(
            write_plan(tmp_path, FIXTURE.replace("  reload: systemctl", "  reload: [systemctl")),
            display="rollout-plan.yaml",
        )
    assert str(info.value).startswith("rollout-plan.yaml:2"), str(info.value)


def test_a_50_megabyte_file_is_refused_quickly(tmp_path: Path) -> None:
    path = tmp_path / "rollout-plan.yaml"
    with path.open("w") as handle:
        handle.write("version: 1\ncomment: |\n")
        chunk = "  " + "x" * 1000 + "\n"
        for _ in range(50_000):
            handle.write(chunk)
    started = time.process_time()
    with pytest.raises(InputError, match="file is too large"):
        load_plan(path)
    assert time.process_time() - started < 5  # reading the size, not the content


def test_alias_bombs_are_stopped(tmp_path: Path) -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=False):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    path = tmp_path / "rollout-plan.yaml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match="expands to more than"):
        load_plan(path)


def test_command_engine_needs_a_template_with_known_placeholders(tmp_path: Path) -> None:
    text = FIXTURE.replace(
        "    port: 8002\n", "    port: 8002\n    engine: command\n    command: serve --port {port} --gpu {gpu}\n"
    )
    found = problems(tmp_path, text)
    assert any("unknown placeholder {gpu}" in p for p in found), found
    text = FIXTURE.replace("    port: 8002\n", "    port: 8002\n    engine: command\n")
    assert any("engine 'command' needs a 'command' template" in p for p in problems(tmp_path, text))


def test_feedback_source_needs_its_fields(tmp_path: Path) -> None:
    text = FIXTURE.replace(
        "  cost:", "  feedback: {source: {kind: prometheus, url: 'http://127.0.0.1:9090'}, min_samples: 300}\n  cost:"
    )
    assert any("a prometheus source needs 'query'" in p for p in problems(tmp_path, text))


def test_a_plan_without_green_is_valid(tmp_path: Path) -> None:
    start = FIXTURE.index("  green:\n")
    end = FIXTURE.index("\nrouter:")
    plan = load_plan(write_plan(tmp_path, FIXTURE[:start] + FIXTURE[end:]))
    assert plan.green is None
    with pytest.raises(InputError, match="names no green version"):
        plan.model("green")


NGINX_BREAK_OUT = next(h.text for h in corpus("config") if h.name == "nginx-break-out")
# Every value rendered into a router config, a unit or a command line is checked at load, not escaped late.
INJECTIONS = [
    pytest.param(
        "    port: 8002",
        f"    port: 8002\n    host: {json.dumps(NGINX_BREAK_OUT)}",
        "is not a hostname or",
        id="host-break-out",
    ),
    pytest.param(
        "    port: 8002", "    port: 8002\n    host: '127.0.0.1:8003'", "is not an IP address", id="host-with-port"
    ),
    pytest.param("    port: 8002", "    port: 8002\n    host: '300.1.1.1'", "is not an IP address", id="host-bad-ipv4"),
    pytest.param(
        "    port: 8002", "    port: 8002\n    host: '-gpu.internal'", "is not a hostname", id="host-bad-label"
    ),
    pytest.param(
        "  url: http://127.0.0.1:4000",
        "  url: 'http://127.0.0.1:4000; return 200 injected;'",
        "is not an http:// or https:// URL",
        id="url-break-out",
    ),
    pytest.param(
        "  url: http://127.0.0.1:4000", "  url: http://127.0.0.1:99999", "the port is not a number", id="url-port"
    ),
    pytest.param("  url: http://127.0.0.1:4000", "  url: http://999.0.0.1:4000", "is not an IP address", id="url-host"),
    pytest.param(
        '    args: [--max-model-len, "8192", --gpu-memory-utilization, "0.45"]\n\nrouter',
        '    args: [--max-model-len, "8192\\nExecStartPre=/bin/sh -c evil"]\n\nrouter',
        "is not an argument without control characters",
        id="args-line-break",
    ),
    pytest.param("    port: 8002", "    port: 8002\n    env: {'A=B': x}", "is not a variable name", id="env-name"),
    pytest.param(
        "    port: 8002", '    port: 8002\n    env: {A: "x\\ny"}', "is not a value without control", id="env-value"
    ),
    pytest.param(
        "    revision: 4f1d3c2b9a8e7d6c5b4a39281706f5e4d3c2b1a0",
        "    revision: 'main --trust-remote-code'",
        "is not a revision without spaces",
        id="revision-space",
    ),
    pytest.param(
        "  config: /etc/litellm/config.yaml",
        '  config: "/etc/x.conf\\nworker_processes 64;"',
        "is not one line of text",
        id="config-line-break",
    ),
    pytest.param(
        "  config: /etc/litellm/config.yaml",
        "  config: /etc/litellm/config.yaml\n  namespace: 'Prod; x'",
        "is not a Kubernetes name",
        id="namespace",
    ),
    pytest.param(
        "    model: acme/llama-3.3-8b-support-ft",
        '    model: "acme/x\\u001b]8;;evil"',
        "is not one line of text",
        id="model-escape",
    ),
]


@pytest.mark.parametrize(("old", "new", "message"), INJECTIONS)
def test_values_rendered_into_configs_are_checked_at_load(tmp_path: Path, old: str, new: str, message: str) -> None:
    text = FIXTURE.replace(old, new, 1)
    changed = next(line for line in new.splitlines() if line not in old.splitlines())
    found = [p for p in problems(tmp_path, text) if message in p]
    assert found, problems(tmp_path, text)
    assert found[0].startswith(f"rollout-plan.yaml:{line_of(text, changed)}: "), found[0]


def test_hosts_and_router_urls_that_are_fine(tmp_path: Path) -> None:
    text = FIXTURE.replace("    port: 8002", "    port: 8002\n    host: '::1'").replace(
        "    port: 8001", "    port: 8001\n    host: gpu-1.internal"
    )
    plan = load_plan(write_plan(tmp_path, text.replace("http://127.0.0.1:4000", "https://[::1]:4000/v1")))
    assert plan.green is not None and plan.green.url == "http://[::1]:8002"
    assert plan.blue.url == "http://gpu-1.internal:8001"


LIVE = """\
  live:
    sources:
      - {kind: nginx, log: router/access.log}
      - {kind: prometheus, url: 'http://prom:9090', queries: {requests: 'sum(x[$window])', output_tokens: 'y'}}
      - {kind: vllm}
    min_requests: 300
    errors: {margin: 0.01, ceiling: 0.05}
    latency: {p95_ratio_max: 1.2, ttft_p95_ratio_max: 1.3}
    cost: {ratio_max: 1.1, gpu_hour_usd: {blue: 2.5, green: 3.0}}
  cost:"""


def test_live_gates_load_in_the_plans_order(tmp_path: Path) -> None:
    plan = load_plan(write_plan(tmp_path, FIXTURE.replace("  cost:", LIVE, 1)))
    live = plan.gates.live
    assert live is not None
    assert [s.kind for s in live.sources] == ["nginx", "prometheus", "vllm"]
    assert live.sources[0].log == tmp_path / "router" / "access.log"
    assert live.sources[1].queries["requests"] == "sum(x[$window])"
    assert (live.min_requests, live.errors.margin, live.errors.ceiling) == (300, 0.01, 0.05)
    assert live.latency is not None and live.latency.ttft_p95_ratio_max == 1.3
    assert live.cost is not None and live.cost.gpu_hour_usd == {"blue": 2.5, "green": 3.0}


def test_a_live_measure_no_source_gives_is_named_at_its_line(tmp_path: Path) -> None:
    text = FIXTURE.replace(
        "  cost:",
        "  live:\n    sources: [{kind: nginx, log: access.log, url: 'http://x'}, {kind: prometheus, url: 'http://p'}]\n"
        "    latency: {ttft_p95_ratio_max: 1.3}\n  cost:",
        1,
    )
    found = problems(tmp_path, text)
    sources = line_of(text, "sources: [")
    assert (
        f"rollout-plan.yaml:{sources}: gates.live.sources[0].url: 'url' is not read by a nginx source (it reads: log)"
        in found
    )
    assert any(f":{sources}: gates.live.sources[1].kind: a prometheus source needs 'queries'" in p for p in found)
    latency = line_of(text, "ttft_p95_ratio_max")
    assert any(
        p.startswith(f"rollout-plan.yaml:{latency}: gates.live.latency.ttft_p95_ratio_max: needs 'ttft_buckets'")
        for p in found
    ), found


def test_backend_key_env_names_a_variable_per_color(tmp_path: Path) -> None:
    router = "  url: http://127.0.0.1:4000"
    keyed = FIXTURE.replace(router, f"{router}\n  backend_key_env: {{blue: VLLM_API_KEY, green: GREEN_KEY}}")
    plan = load_plan(write_plan(tmp_path, keyed))
    assert plan.router.backend_key_env == {"blue": "VLLM_API_KEY", "green": "GREEN_KEY"}
    assert load_plan(CHAT_PLAN).router.backend_key_env == {}


@pytest.mark.parametrize(
    ("addition", "replace", "message"),
    [
        pytest.param("  backend_key_env: {blue: 'A-B'}", {}, "is not a variable name", id="not-a-name"),
        pytest.param("  backend_key_env: {purple: X}", {}, "purple", id="not-a-color"),
        pytest.param(
            "  backend_key_env: {green: LITELLM_MASTER_KEY}",
            {},
            "LITELLM_MASTER_KEY is the proxy's own key",
            id="master",
        ),
        pytest.param(
            "  backend_key_env: {blue: VLLM_API_KEY}",
            {"  kind: litellm": "  kind: nginx"},
            "backend_key_env is for router.kind: litellm only",
            id="not-litellm",
        ),
    ],
)
def test_a_bad_backend_key_env_is_refused_at_its_line(
    tmp_path: Path, addition: str, replace: dict[str, str], message: str
) -> None:
    text = FIXTURE.replace("  url: http://127.0.0.1:4000", f"  url: http://127.0.0.1:4000\n{addition}")
    for old, new in replace.items():
        text = text.replace(old, new)
    found = [p for p in problems(tmp_path, text) if message in p]
    assert found, problems(tmp_path, text)
    assert found[0].startswith(f"rollout-plan.yaml:{line_of(text, addition.strip())}: router.backend_key_env"), found
