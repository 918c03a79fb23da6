"""`rollout gate` as a real process: exit codes, files written, Actions outputs, bad input, a live feedback source."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tests.unit.gates.builders import results_dict, write_plan

ROLLOUT = [sys.executable, "-m", "rollout"]
GATES = "  quality: {suite: eval_suites/quality, margin: 0.02}\n  safety: {suite: eval_suites/safety}\n"


def run_gate(root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ROLLOUT, "gate", "--plan", str(root / "rollout-plan.yaml"), *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def scored(n: int, right: int, prefix: str = "c") -> list[dict[str, Any]]:
    return [
        {
            "id": f"{prefix}{i}",
            "scores": [1.0 if i < right else 0.0],
            "latency_ms": [300.0 + i % 50],
            "ttft_ms": [80.0],
            "output_tokens": [20],
            "errors": [],
            "prompt": f"question {i}",
            "outputs": [f"answer {i}"],
        }
        for i in range(n)
    ]


def write(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    write_plan(tmp_path, GATES)
    return tmp_path


def suites(root: Path, *, green_quality_right: int, cases: int = 1000) -> None:
    for color, model, right in (("blue", "blue-v1", 900), ("green", "green-v2", green_quality_right)):
        write(root / color / "quality.json", results_dict("quality", color, model, scored(cases, right)))
        write(root / color / "safety.json", results_dict("safety", color, model, scored(40, 40, prefix="s")))


def test_pass_writes_verdict_report_and_actions_outputs(repo: Path) -> None:
    suites(repo, green_quality_right=900)
    output, summary = repo / "gh-output", repo / "gh-summary.md"
    done = run_gate(
        repo,
        "--baseline",
        "blue",
        "--candidate",
        "green",
        "--out",
        "verdict.json",
        "--report",
        "report.md",
        env={"GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary)},
    )
    assert done.returncode == 0, done.stderr
    verdict = json.loads((repo / "verdict.json").read_text())
    assert verdict["schema"] == "rollout.verdict/v1" and verdict["outcome"] == "pass"
    assert [g["gate"] for g in verdict["gates"]] == ["quality", "safety"]
    assert verdict["candidate"]["model"] == "green-v2"
    report = (repo / "report.md").read_text()
    assert report.startswith("✅ **Gate verdict: PASS**")
    assert output.read_text() == "verdict=pass\n"
    assert report.strip() in summary.read_text()
    assert "verdict   pass" in done.stdout


def test_results_accumulated_over_rounds_are_judged_at_the_spent_level_of_that_look(repo: Path) -> None:
    # 10 regressions in 1,000 cases pass at one look; on results holding 3 rounds the 99.2% interval holds.
    for rounds, code in ((1, 0), (3, 3)):
        for color, model, right in (("blue", "blue-v1", 900), ("green", "green-v2", 890)):
            quality = results_dict("quality", color, model, scored(1000, right), rounds=rounds)
            write(repo / color / "quality.json", quality)
            write(repo / color / "safety.json", results_dict("safety", color, model, scored(40, 40, prefix="s")))
        done = run_gate(repo, "--baseline", "blue", "--candidate", "green", "--out", "v.json", "--report", "r.md")
        assert done.returncode == code, done.stderr
        quality_gate = json.loads((repo / "v.json").read_text())["gates"][0]
        report = (repo / "r.md").read_text()
        if rounds == 1:
            assert "look" not in quality_gate["details"] and "look" not in report
        else:
            assert quality_gate["details"]["look"]["index"] == 3 and quality_gate["outcome"] == "inconclusive"
            # The reason goes through the report's Markdown escaping (its colon too); the figures line does not.
            assert "(look 3\\: 99.2% CI" in report and "look 3: 99.2% interval" in report


def test_the_server_releases_are_recorded_and_a_difference_is_warned_about(repo: Path) -> None:
    for color, model, release in (("blue", "blue-v1", "0.32.0"), ("green", "green-v2", "0.33.0")):
        server = {"models": [model], "root": f"org/{model}", "version": release}
        for suite, cases in (("quality", scored(1000, 900)), ("safety", scored(40, 40, prefix="s"))):
            write(repo / color / f"{suite}.json", results_dict(suite, color, model, cases, server=server))
    done = run_gate(repo, "--baseline", "blue", "--candidate", "green", "--out", "verdict.json")
    assert done.returncode == 0, done.stderr
    verdict = json.loads((repo / "verdict.json").read_text())
    assert (verdict["baseline"]["server_version"], verdict["candidate"]["server_version"]) == ("0.32.0", "0.33.0")
    assert "warning: blue and green ran different server releases (blue 0.32.0, green 0.33.0)" in done.stderr


def test_a_regression_exits_1_with_the_failing_gate_named(repo: Path) -> None:
    suites(repo, green_quality_right=800)
    done = run_gate(
        repo,
        "--baseline",
        "blue/quality.json",
        "--baseline",
        "blue/safety.json",
        "--candidate",
        "green/quality.json",
        "--candidate",
        "green/safety.json",
        "--out",
        "v.json",
    )
    assert done.returncode == 1
    assert "gate failed: quality" in done.stderr
    assert json.loads((repo / "v.json").read_text())["outcome"] == "fail"


def test_too_little_evidence_exits_3(repo: Path) -> None:
    suites(repo, green_quality_right=27, cases=30)
    (repo / "blue" / "quality.json").write_text(json.dumps(results_dict("quality", "blue", "blue-v1", scored(30, 28))))
    done = run_gate(repo, "--baseline", "blue", "--candidate", "green", "--json")
    assert done.returncode == 3, done.stderr
    verdict = json.loads(done.stdout)
    assert verdict["outcome"] == "inconclusive"
    assert "would decide" in verdict["gates"][0]["reason"]


def test_the_same_inputs_give_the_same_verdict_byte_for_byte(repo: Path) -> None:
    suites(repo, green_quality_right=890)
    first = run_gate(repo, "--baseline", "blue", "--candidate", "green", "--json")
    second = run_gate(repo, "--baseline", "blue", "--candidate", "green", "--json")
    assert first.stdout == second.stdout and first.stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"schema": "rollout.eval-results/v1", "suite": "quality", "cases": [', "invalid JSON"),
        ("", "file is empty"),
        ("[1, 2]", "eval results are a JSON object"),
        (
            '{"schema": "rollout.eval-results/v1", "suite": "quality", "target": "green", "model": "g", "cases": '
            '[{"id": "a", "scores": [NaN]}]}',
            "NaN is not a number JSON allows",
        ),
        (
            '{"schema": "rollout.eval-results/v1", "suite": "quality", "target": "green", "model": "g", "cases": '
            '[{"id": "a", "scores": [1.5]}]}',
            "cases[0].scores[0]",
        ),
        (
            '{"schema": "rollout.eval-results/v1", "suite": "quality", "target": "green", "model": "g", "cases": []}',
            "has no cases",
        ),
        (
            '{"schema": "rollout.eval-results/v1", "suite": "safety", "target": "green", "model": "g", "cases": '
            '[{"id": "a", "scores": [1]}]}',
            "results for different suites",
        ),
    ],
)
def test_bad_input_exits_2_naming_the_file_and_writes_nothing(repo: Path, content: str, message: str) -> None:
    write(repo / "blue" / "quality.json", results_dict("quality", "blue", "blue-v1", scored(10, 10)))
    (repo / "green").mkdir()
    (repo / "green" / "quality.json").write_text(content)
    done = run_gate(repo, "--baseline", "blue/quality.json", "--candidate", "green/quality.json", "--out", "v.json")
    assert done.returncode == 2
    assert message in done.stderr and "green/quality.json" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (repo / "v.json").exists()


def test_a_folder_without_results_is_bad_input(repo: Path) -> None:
    (repo / "empty").mkdir()
    done = run_gate(repo, "--baseline", "empty", "--candidate", "empty")
    assert done.returncode == 2 and "no *.json results files" in done.stderr


def test_allow_missing_gates_what_finished_and_still_refuses_a_wrong_file(repo: Path) -> None:
    for color in ("blue", "green"):
        write(repo / color / "safety.json", results_dict("safety", color, f"{color}-v1", scored(10, 10)))
    write(repo / "blue" / "quality.json", results_dict("quality", "blue", "blue-v1", scored(10, 10)))
    args = ("--baseline", "blue", "--candidate", "green", "--candidate", "green-lost", "--out", "v.json")
    strict = run_gate(repo, *args)
    assert strict.returncode == 2 and "green-lost: does not exist" in strict.stderr
    done = run_gate(repo, *args, "--allow-missing")
    assert done.returncode == 3, done.stderr
    quality = json.loads((repo / "v.json").read_text())["gates"][0]
    assert (quality["gate"], quality["outcome"]) == ("quality", "inconclusive")
    assert quality["reason"] == "no results for suite quality on green: its eval job did not finish"
    write(repo / "green" / "zz.json", results_dict("zz", "green", "green-v1", scored(10, 10)))
    wrong = run_gate(repo, *args, "--allow-missing")
    assert wrong.returncode == 2 and "green/zz.json: suite: 'zz' is not a suite any gate" in wrong.stderr


class Votes(BaseHTTPRequestHandler):
    queries: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        Votes.queries.append(self.path)
        body = json.dumps(
            {
                "status": "success",
                "data": {
                    "resultType": "vector",
                    "result": [
                        {"metric": {"model": model, "vote": vote}, "value": [0, str(count)]}
                        for model, vote, count in (
                            # 5,000 votes each: enough for the confidence sequence to show +0.02 above -0.03.
                            ("blue-v1", "up", 4000),
                            ("blue-v1", "down", 1000),
                            ("green-v2", "up", 4100),
                            ("green-v2", "down", 900),
                        )
                    ],
                },
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def prometheus() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Votes)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_feedback_latency_and_cost_from_a_live_prometheus(tmp_path: Path, prometheus: str) -> None:
    write_plan(
        tmp_path,
        GATES + "  latency: {p95_ratio_max: 1.2, ttft_p95_ms_max: 1500}\n"
        "  cost: {ratio_max: 1.1, gpu_hour_usd: {blue: 2.0, green: 2.0}}\n"
        f"  feedback: {{source: {{kind: prometheus, url: '{prometheus}', "
        "query: 'sum by (model, vote) (feedback_total)'}, margin: 0.03, min_samples: 300}\n",
    )
    suites(tmp_path, green_quality_right=900)
    slow = [{**case, "latency_ms": [case["latency_ms"][0] * 3]} for case in scored(1000, 900)]
    write(tmp_path / "green" / "quality.json", results_dict("quality", "green", "green-v2", slow))
    done = run_gate(tmp_path, "--baseline", "blue", "--candidate", "green", "--json")
    assert done.returncode == 1, done.stderr
    gates = {g["gate"]: g for g in json.loads(done.stdout)["gates"]}
    assert gates["feedback"]["outcome"] == "pass"
    assert gates["feedback"]["estimate"] == pytest.approx(0.02)
    assert gates["latency"]["outcome"] == "fail" and gates["cost"]["outcome"] == "fail"
    assert Votes.queries and "/api/v1/query?query=sum" in Votes.queries[0]


def test_results_named_by_the_suite_files_declared_name(repo: Path) -> None:
    suite_file = repo / "eval_suites" / "quality" / "cases.yaml"
    suite_file.write_text(suite_file.read_text().replace("name: quality", "name: chat-quality"))
    suites(repo, green_quality_right=900)
    for color in ("blue", "green"):
        path = repo / color / "quality.json"
        path.write_text(path.read_text().replace('"suite": "quality"', '"suite": "chat-quality"'))
    done = run_gate(repo, "--baseline", "blue", "--candidate", "green", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["gates"][0]["details"]["suite"] == "chat-quality"
