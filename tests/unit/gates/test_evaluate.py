from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from rollout.errors import InputError
from rollout.evals.results import ReusedFrom
from rollout.evals.reuse import reused
from rollout.gates.evaluate import Loaded, evaluate_gates, match_finished, match_runs
from rollout.gates.feedback import Feedback, Votes
from rollout.gates.live import ColorTraffic, LiveTraffic, Reading, live_failures
from rollout.gates.verdict import Provenance, load_verdict, verdict_to_json
from rollout.plan import (
    CostGate,
    FeedbackGate,
    FeedbackSource,
    Gates,
    LatencyGate,
    LiveErrors,
    LiveGate,
    LiveSource,
    QualityGate,
    SafetyGate,
)
from tests.unit.gates.builders import case, results

GATES = Gates(
    quality=QualityGate(suite=Path("/repo/eval_suites/quality"), margin=0.2),
    safety=SafetyGate(suite=Path("/repo/eval_suites/safety")),
)


def loaded(suite: str, target: str, model: str, n: int = 200, score: float = 1.0, file: str = "") -> Loaded:
    cases = [case(f"c{i}", [score], latency_ms=(400.0 + i,), output_tokens=(20,)) for i in range(n)]
    return Loaded(file=file or f"{target}-{suite}.json", results=results(suite, target, model, cases))


def test_each_gate_reads_its_suite_and_the_verdict_names_both_versions() -> None:
    runs = match_runs(
        [loaded("quality", "blue", "v1"), loaded("safety", "blue", "v1")],
        [loaded("eval_suites/quality", "green", "v2"), loaded("safety", "green", "v2")],
    )
    verdict = evaluate_gates(GATES, runs)
    assert [g.gate for g in verdict.gates] == ["quality", "safety"]
    assert verdict.outcome == "pass"
    assert verdict.baseline.model == "v1" and verdict.candidate.model == "v2"
    assert verdict.candidate.run_ids == ("green-eval_suites/quality", "green-safety")
    assert verdict.gates[0].details["suite"] == "quality"


def test_each_gate_is_told_its_look_by_the_rounds_the_candidate_s_results_hold() -> None:
    def with_rounds(item: Loaded, rounds: int) -> Loaded:
        return Loaded(file=item.file, results=replace(item.results, rounds=rounds))

    gates = Gates(quality=GATES.quality, safety=GATES.safety, latency=LatencyGate(p95_ratio_max=1.2))
    runs = match_runs(
        [with_rounds(loaded("quality", "blue", "v1"), 3), loaded("safety", "blue", "v1")],
        [with_rounds(loaded("quality", "green", "v2"), 2), with_rounds(loaded("safety", "green", "v2"), 4)],
    )
    looks = {g.gate: g.details.get("look", {}).get("index", 1) for g in evaluate_gates(gates, runs).gates}
    assert looks == {"quality": 2, "safety": 4, "latency": 4}
    once = match_runs([loaded("quality", "blue", "v1")], [loaded("quality", "green", "v2")])
    assert all("look" not in g.details for g in evaluate_gates(gates, once).gates)


def test_a_baseline_that_outlived_its_rollout_does_not_make_the_candidate_s_first_look_a_late_one() -> None:
    gates = Gates(quality=GATES.quality, latency=LatencyGate(p95_ratio_max=1.2))
    old = loaded("quality", "blue", "v1")
    runs = match_runs(
        [Loaded(file=old.file, results=replace(old.results, rounds=40))], [loaded("quality", "green", "v2")]
    )
    verdict = evaluate_gates(gates, runs)
    first = evaluate_gates(gates, match_runs([old], [loaded("quality", "green", "v2")]))
    assert all("look" not in g.details for g in verdict.gates), "blue's 40 rounds; green's first: look 1"
    assert [(g.outcome, g.interval) for g in verdict.gates] == [(g.outcome, g.interval) for g in first.gates]


def test_a_gate_without_its_suite_holds_and_unconfigured_gates_are_skipped() -> None:
    runs = match_runs([loaded("quality", "blue", "v1")], [loaded("quality", "green", "v2")])
    verdict = evaluate_gates(GATES, runs)
    assert verdict.outcome == "inconclusive"
    assert verdict.undecided()[0].gate == "safety" and "no results for suite safety" in verdict.undecided()[0].reason
    only_quality = evaluate_gates(Gates(quality=GATES.quality), runs)
    assert [g.gate for g in only_quality.gates] == ["quality"] and only_quality.outcome == "pass"


def test_results_for_different_suites_are_an_input_error() -> None:
    with pytest.raises(InputError) as caught:
        match_runs([loaded("quality", "blue", "v1")], [loaded("safety", "green", "v2")])
    message = str(caught.value)
    assert "results for different suites" in message and "blue-quality.json" in message


def test_two_files_for_one_suite_on_one_side_are_an_input_error() -> None:
    with pytest.raises(InputError, match="a second baseline results file for suite 'quality'"):
        match_runs(
            [loaded("quality", "blue", "v1", file="a.json"), loaded("quality", "blue", "v1", file="b.json")],
            [loaded("quality", "green", "v2")],
        )


def test_one_side_mixing_versions_is_an_input_error() -> None:
    with pytest.raises(InputError, match="candidate results disagree on the model"):
        match_runs(
            [loaded("quality", "blue", "v1"), loaded("safety", "blue", "v1")],
            [loaded("quality", "green", "v2"), loaded("safety", "green", "v3")],
        )


def test_an_empty_run_is_an_input_error() -> None:
    with pytest.raises(InputError, match="has no cases"):
        match_runs([loaded("quality", "blue", "v1", n=0)], [loaded("quality", "green", "v2")])


def test_a_suite_no_gate_names_is_an_input_error_naming_both_files_even_beside_gated_suites() -> None:
    # A committed eval-results/green/zz.json must not be pooled into latency and cost.
    gates = Gates(quality=GATES.quality, latency=LatencyGate(p95_ratio_max=1.5))
    runs = match_runs(
        [loaded("quality", "blue", "v1"), loaded("zz", "blue", "v1", file="eval-results/blue/zz.json")],
        [loaded("quality", "green", "v2"), loaded("zz", "green", "v2", file="eval-results/green/zz.json")],
    )
    with pytest.raises(InputError) as raised:
        evaluate_gates(gates, runs)
    assert [str(p) for p in raised.value.problems] == [
        f"eval-results/{color}/zz.json: suite: 'zz' is not a suite any gate in the plan names (gated suites: quality)"
        for color in ("blue", "green")
    ]
    only_latency = match_runs([loaded("extra", "blue", "v1")], [loaded("extra", "green", "v2")])
    with pytest.raises(InputError, match="gated suites: none"):
        evaluate_gates(Gates(latency=LatencyGate(p95_ratio_max=1.5)), only_latency)


def test_a_suite_whose_eval_job_did_not_finish_leaves_the_gates_needing_it_inconclusive() -> None:
    gates = Gates(quality=GATES.quality, safety=GATES.safety, latency=LatencyGate(p95_ratio_max=1.5))
    runs, unfinished = match_finished(
        [loaded("quality", "blue", "v1"), loaded("safety", "blue", "v1")], [loaded("safety", "green", "v2")]
    )
    assert [r.suite for r in runs] == ["safety"] and [(u.loaded.suite, u.lacking) for u in unfinished] == [
        ("quality", "green")
    ]
    verdict = evaluate_gates(gates, runs, unfinished=unfinished)
    outcomes = {g.gate: (g.outcome, g.reason) for g in verdict.gates}
    lacking = "no results for suite quality on green: its eval job did not finish"
    # Latency pools every suite: judged on safety alone, it could pass on part of the evidence.
    assert outcomes == {
        "quality": ("inconclusive", lacking),
        "safety": outcomes["safety"],
        "latency": ("inconclusive", lacking),
    }
    assert outcomes["safety"][0] == "pass" and verdict.outcome == "inconclusive"
    assert (verdict.baseline.model, verdict.candidate.model) == ("v1", "v2")
    # The same files given by hand, without --allow-missing, are a mistake to point out.
    with pytest.raises(InputError, match="results for different suites"):
        match_runs([loaded("quality", "blue", "v1"), loaded("safety", "blue", "v1")], [loaded("safety", "green", "v2")])


def test_with_no_results_at_all_the_live_gates_still_decide() -> None:
    start = datetime(2026, 12, 1, 11, 0, tzinfo=timezone.utc)
    live_gate = LiveGate(sources=(LiveSource(kind="nginx"),), min_requests=100, errors=LiveErrors(ceiling=0.01))
    gates = Gates(quality=GATES.quality, cost=CostGate(ratio_max=1.2), live=live_gate)
    reading = Reading(
        source="nginx access.log",
        traffic={"blue": ColorTraffic(requests=600, errors=0), "green": ColorTraffic(requests=200, errors=40)},
    )
    live = LiveTraffic(start=start, end=start + timedelta(hours=1), readings=(reading,))
    runs, unfinished = match_finished([], [])
    verdict = evaluate_gates(gates, runs, live=live, unfinished=unfinished)
    outcomes = {g.gate: (g.outcome, g.reason) for g in verdict.gates}
    lacking = "no results for suite quality on blue and green: its eval jobs did not finish"
    assert outcomes["quality"] == outcomes["cost"] == ("inconclusive", lacking)
    assert outcomes["live-errors"][0] == "fail" and verdict.outcome == "fail"
    assert live_failures(verdict, window_start=start)


def test_an_unfinished_round_still_refuses_results_for_a_suite_no_gate_names() -> None:
    runs, unfinished = match_finished(
        [loaded("quality", "blue", "v1")], [loaded("zz", "green", "v2", file="eval-results/green/zz.json")]
    )
    with pytest.raises(InputError) as raised:
        evaluate_gates(GATES, runs, unfinished=unfinished)
    assert [str(p) for p in raised.value.problems] == [
        "eval-results/green/zz.json: suite: 'zz' is not a suite any gate in the plan names "
        "(gated suites: quality, safety)"
    ]


def test_feedback_is_looked_up_by_the_versions_the_results_name() -> None:
    source = FeedbackSource(kind="http", url="http://x")
    gates = Gates(quality=GATES.quality, feedback=FeedbackGate(source=source, min_samples=10))
    runs = match_runs([loaded("quality", "blue", "v1")], [loaded("quality", "green", "v2")])
    votes = {"v1": Votes(up=900, down=100), "v2": Votes(up=950, down=50)}
    verdict = evaluate_gates(gates, runs, feedback=Feedback(source="http://x", votes=votes))
    assert verdict.gates[-1].gate == "feedback" and verdict.gates[-1].outcome == "pass"
    unread = evaluate_gates(gates, runs)
    assert unread.gates[-1].outcome == "inconclusive"


def test_a_suite_may_be_called_by_the_name_its_files_declare() -> None:
    runs = match_runs(
        [loaded("chat-quality", "blue", "v1"), loaded("safety", "blue", "v1")],
        [loaded("chat-quality", "green", "v2"), loaded("safety", "green", "v2")],
    )
    with pytest.raises(InputError, match="'chat-quality' is not a suite any gate in the plan names"):
        evaluate_gates(GATES, runs)
    verdict = evaluate_gates(GATES, runs, declared={Path("/repo/eval_suites/quality"): {"chat-quality"}})
    assert verdict.outcome == "pass" and verdict.gates[0].details["suite"] == "chat-quality"


def test_one_suite_under_two_names_is_an_input_error() -> None:
    runs = match_runs(
        [loaded("chat-quality", "blue", "v1"), loaded("quality", "blue", "v1")],
        [loaded("chat-quality", "green", "v2"), loaded("quality", "green", "v2")],
    )
    with pytest.raises(InputError, match="results under several names"):
        evaluate_gates(GATES, runs, declared={Path("/repo/eval_suites/quality"): {"chat-quality"}})


def test_a_full_verdict_round_trips_through_its_schema(tmp_path: Path) -> None:
    from rollout.gates.verdict import load_verdict, verdict_to_json

    gates = Gates(
        quality=GATES.quality,
        safety=GATES.safety,
        latency=LatencyGate(p95_ratio_max=1.2),
        feedback=FeedbackGate(source=FeedbackSource(kind="http", url="http://x"), min_samples=10),
    )
    runs = match_runs(
        [loaded("quality", "blue", "v1", n=60, score=0.0), loaded("safety", "blue", "v1")],
        [loaded("quality", "green", "v2", n=60), loaded("safety", "green", "v2", score=0.0)],
    )
    verdict = evaluate_gates(gates, runs, feedback=Feedback(source="http://x", unavailable="HTTP 503"))
    path = tmp_path / "verdict.json"
    path.write_text(verdict_to_json(verdict))
    assert load_verdict(path) == verdict
    assert verdict.outcome == "fail" and [g.gate for g in verdict.failing()] == ["safety"]


def test_the_verdict_names_the_results_reused_or_accumulated_per_suite_and_color(tmp_path: Path) -> None:
    blue_safety = loaded("safety", "blue", "v1")
    reused_safety = Loaded(file=blue_safety.file, results=reused(blue_safety.results))
    green_quality = loaded("quality", "green", "v2")
    runs = match_runs(
        [loaded("quality", "blue", "v1"), reused_safety],
        [
            Loaded(file=green_quality.file, results=replace(green_quality.results, rounds=4)),
            loaded("safety", "green", "v2"),
        ],
    )
    verdict = evaluate_gates(GATES, runs)
    assert verdict.provenance == (
        Provenance(suite="quality", color="green", rounds=4),
        Provenance(suite="safety", color="blue", reused_from=ReusedFrom(run_id="blue-safety", at="")),
    )
    path = tmp_path / "verdict.json"
    path.write_text(verdict_to_json(verdict))
    assert load_verdict(path) == verdict, "the provenance is part of the verdict file, valid against its schema"
    fresh = evaluate_gates(GATES, match_runs([loaded("quality", "blue", "v1")], [loaded("quality", "green", "v2")]))
    assert fresh.provenance == () and "provenance" not in verdict_to_json(fresh)
