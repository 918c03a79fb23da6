"""The feedback gate: is green's thumbs-up rate at most `margin` below blue's? And the formats votes arrive in.

Every source speaks of a model version by its name (models.<color>.name) and of a vote as up or down:
- Prometheus: an instant vector whose series carry the labels `model` and `vote` (up|down), e.g.
  `sum by (model, vote) (increase(chat_feedback_total[30d]))`;
- HTTP JSON: `{"<model>": {"up": 410, "down": 90}, ...}`;
- JSONL: one vote per line, `{"model": "<model>", "vote": "up"}`.

The gate is read every watch round as votes accumulate, so it judges with a confidence sequence, which holds
at every look, not an interval valid at one. That needs each round's counts to include the previous round's:
every vote since green started (a query window longer than the rollout), never a sliding window.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rollout.gates.stats import (
    Proportions,
    growth_to_decide,
    proportion_score,
    proportion_sequence,
    proportion_sequence_excludes,
)
from rollout.gates.verdict import GateOutcome, GateResult
from rollout.gates.wording import signed
from rollout.plan import FeedbackGate

VOTES = ("up", "down")


@dataclass(frozen=True, kw_only=True)
class Votes:
    up: int = 0
    down: int = 0

    @property
    def total(self) -> int:
        return self.up + self.down

    def add(self, vote: str, count: int) -> Votes:
        return Votes(up=self.up + count, down=self.down) if vote == "up" else Votes(up=self.up, down=self.down + count)


@dataclass(frozen=True, kw_only=True)
class Feedback:
    """Votes per model version, or why they could not be read."""

    source: str
    votes: Mapping[str, Votes] | None = None
    unavailable: str | None = None


def parse_prometheus(data: Any) -> dict[str, Votes]:
    """Votes from a Prometheus /api/v1/query response; ValueError says what is wrong with it."""
    if not isinstance(data, dict) or data.get("status") != "success":
        error = data.get("error") if isinstance(data, dict) else None
        raise ValueError(f"the query did not succeed: {error or 'no status: success in the response'}")
    result = data.get("data", {})
    if result.get("resultType") != "vector":
        raise ValueError(f"the query must return an instant vector, not {result.get('resultType')!r}")
    votes: dict[str, Votes] = {}
    for series in result.get("result", []):
        labels = series.get("metric", {})
        model, vote = labels.get("model"), labels.get("vote")
        if model is None or vote not in VOTES:
            raise ValueError(f"series {labels} needs the labels model and vote (up or down)")
        count = float(series["value"][1])
        if not math.isfinite(count) or count < 0:
            raise ValueError(f"series {labels} has the value {series['value'][1]!r}, not a count")
        votes[model] = votes.get(model, Votes()).add(vote, round(count))
    return votes


def parse_votes_json(data: Any) -> dict[str, Votes]:
    """Votes from `{"<model>": {"up": N, "down": M}}`; ValueError says what is wrong with it."""
    if not isinstance(data, dict):
        raise ValueError('expected {"<model>": {"up": N, "down": M}, ...}')
    votes = {}
    for model, counts in data.items():
        if not isinstance(counts, dict) or not all(_is_count(counts.get(v, 0)) for v in VOTES):
            raise ValueError(f'{model}: expected {{"up": N, "down": M}} with whole, non-negative counts')
        votes[model] = Votes(up=counts.get("up", 0), down=counts.get("down", 0))
    return votes


def parse_votes_jsonl(text: str) -> dict[str, Votes]:
    """Votes from one JSON object per line; ValueError names the line (1-based) in its args[1]."""
    votes: dict[str, Votes] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except ValueError:
            raise ValueError("not a JSON object", number) from None
        if not isinstance(event, dict) or not isinstance(event.get("model"), str) or event.get("vote") not in VOTES:
            raise ValueError('expected {"model": "<name>", "vote": "up" or "down"}', number)
        votes[event["model"]] = votes.get(event["model"], Votes()).add(event["vote"], 1)
    return votes


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def tuning(margin: float) -> float:
    """The standard error at which the confidence sequence is narrowest: where an equal green would just pass.

    At that point the sequence's half-width is about 3 standard errors (a single look's would be 1.96).
    """
    # A margin of 0 cannot be shown; tune for a small one so the sequence stays finite.
    return max(margin, 0.005) / 3


def feedback_gate(feedback: Feedback, config: FeedbackGate, *, blue: str, green: str) -> GateResult:
    threshold = -config.margin
    details: dict[str, Any] = {"source": feedback.source}
    if feedback.votes is None:
        return GateResult(
            gate="feedback",
            outcome="inconclusive",
            threshold=threshold,
            details=details,
            reason=f"no feedback: {feedback.unavailable}",
        )
    old, new = feedback.votes.get(blue, Votes()), feedback.votes.get(green, Votes())
    details["measures"] = {
        "votes": {"blue": old.total, "green": new.total},
        "thumbs-up rate": {
            "blue": old.up / old.total if old.total else None,
            "green": new.up / new.total if new.total else None,
        },
    }
    short = [
        f"{color} {name} has {votes.total}"
        for color, name, votes in (("blue", blue, old), ("green", green, new))
        if votes.total < config.min_samples
    ]
    if short:
        return GateResult(
            gate="feedback",
            outcome="inconclusive",
            threshold=threshold,
            details=details,
            reason=f"too few votes to judge: {', '.join(short)} of the {config.min_samples} needed",
        )
    counts = Proportions(new=new.up, new_n=new.total, old=old.up, old_n=old.total)
    estimate = counts.difference
    tuned_at = tuning(config.margin)
    interval = proportion_sequence(counts, confidence=config.confidence, tuned_at=tuned_at)
    side = proportion_sequence_excludes(counts, threshold, confidence=config.confidence, tuned_at=tuned_at)
    outcome: GateOutcome = "pass" if side > 0 else "fail" if side < 0 else "inconclusive"
    said = (
        f"thumbs-up rate green - blue {signed(estimate)} "
        f"({config.confidence:.0%} confidence sequence {signed(interval.low)} to {signed(interval.high)})"
    )
    if outcome == "inconclusive":
        distance, error = proportion_score(counts, threshold)
        factor = growth_to_decide(distance, error, confidence=config.confidence, tuned_at=tuned_at)
        more = (
            {"blue": math.ceil(old.total * factor), "green": math.ceil(new.total * factor)}
            if factor is not None
            else None
        )
        details["needed"] = {"votes": more}
        wanted = (
            f"about {more['green']:,} votes for green and {more['blue']:,} for blue in all, at these rates, "
            "would decide"
            if more
            else "the estimate sits on the threshold; more votes narrow it but may not decide"
        )
        reason = f"{said} straddles {signed(threshold)}: {wanted}"
    else:
        reason = f"{said} {'stays above' if outcome == 'pass' else 'is below'} {signed(threshold)}"
    return GateResult(
        gate="feedback",
        outcome=outcome,
        estimate=estimate,
        interval=(interval.low, interval.high),
        threshold=threshold,
        details=details,
        reason=reason,
    )
