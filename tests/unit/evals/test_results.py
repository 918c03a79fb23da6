"""Loading eval results: every per-repeat list lines up with the scores, bad cases are named, good files round-trip."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rollout.errors import InputError
from rollout.evals.results import ServerIdentity, load_results, results_to_json
from tests.unit.gates.builders import results_dict


def write(tmp_path: Path, cases: list[dict[str, Any]]) -> Path:
    path = tmp_path / "green.json"
    # 1e999 is valid JSON that Python reads as infinity
    path.write_text(json.dumps(results_dict("quality", "green", "g", cases)).replace("Infinity", "1e999"))
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(InputError) as raised:
        load_results(path)
    return [str(p) for p in raised.value.problems]


def test_three_latencies_for_one_score_are_refused_naming_the_file_and_case(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [
            {"id": "ok", "scores": [1.0], "latency_ms": [300.0]},
            {"id": "skewed", "scores": [1.0], "latency_ms": [9000.0, 9000.0, 9000.0], "ttft_ms": [10.0]},
        ],
    )
    assert problems(path) == [
        f"{path}: cases[1].latency_ms: case 'skewed' has 3 latency_ms for 1 scores: "
        "these lists hold one value per scored repeat"
    ]


@pytest.mark.parametrize("key", ["ttft_ms", "output_tokens", "outputs"])
def test_every_per_repeat_list_must_line_up_with_the_scores(tmp_path: Path, key: str) -> None:
    value = {"ttft_ms": 10.0, "output_tokens": 7, "outputs": "Paris"}[key]
    path = write(tmp_path, [{"id": "c", "scores": [1.0, 0.0], key: [value]}])
    assert problems(path) == [
        f"{path}: cases[0].{key}: case 'c' has 1 {key} for 2 scores: these lists hold one value per scored repeat"
    ]


def test_absent_lists_and_errored_repeats_are_fine(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [
            {"id": "bare", "scores": [1.0, 0.5]},
            {"id": "one-errored", "scores": [1.0], "latency_ms": [300.0], "errors": ["repeat 2: HTTP 500"]},
            {"id": "all-errored", "scores": [], "errors": ["repeat 1: timeout"]},
        ],
    )
    assert [c.id for c in load_results(path).cases] == ["bare", "one-errored", "all-errored"]


def test_bad_cases_are_each_named_with_the_schema_s_message(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [
            {"id": "a", "scores": [1.0]},
            {"id": "b", "scores": [1.5]},
            {"id": "c", "scores": [1.0], "latency_ms": ["fast"]},
            {"id": "a", "scores": [1.0]},
            {"id": "inf", "scores": [1.0], "latency_ms": [float("inf")]},
        ],
    )
    assert problems(path) == [
        f"{path}: cases[1].scores[0]: 1.5 is greater than the maximum of 1",
        f"{path}: cases[2].latency_ms[0]: 'fast' is not of type 'number'",
        f"{path}: cases[3].id: duplicate case id 'a'",
        f"{path}: cases[4].latency_ms: values must be finite numbers",
    ]


def test_a_file_round_trips(tmp_path: Path) -> None:
    cases = [
        {
            "id": "c",
            "scores": [1, 0.5],
            "latency_ms": [300, 310.5],
            "ttft_ms": [None, 20.0],
            "output_tokens": [7, None],
            "errors": ["repeat 3: HTTP 500"],
            "prompt": "Capital of France?",
            "outputs": ["Paris", "paris"],
            "tags": ["benign"],
        }
    ]
    first = load_results(write(tmp_path, cases))
    assert first.cases[0].scores == (1.0, 0.5)
    (tmp_path / "again.json").write_text(results_to_json(first))
    assert load_results(tmp_path / "again.json") == first


def test_what_the_server_said_it_serves_round_trips_beside_what_was_asked_for(tmp_path: Path) -> None:
    server = {"models": ["g", "g-lora"], "root": "org/ft-v2", "version": "0.33.0"}
    path = tmp_path / "green.json"
    path.write_text(json.dumps(results_dict("quality", "green", "g", [{"id": "c", "scores": [1]}], server=server)))
    loaded = load_results(path)
    assert loaded.server == ServerIdentity(models=("g", "g-lora"), root="org/ft-v2", version="0.33.0")
    assert (loaded.model, loaded.revision) == ("g", "g-rev")
    assert json.loads(results_to_json(loaded))["server"] == server


def test_results_without_the_server_field_still_load(tmp_path: Path) -> None:
    assert load_results(write(tmp_path, [{"id": "c", "scores": [1]}])).server is None
