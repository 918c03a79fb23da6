"""The merge side: after a push lands on the default branch, apply it and tell GitHub what happened.

Whether the push advanced, rolled back or changed nothing is read from git, by comparing the traffic
file at HEAD with its version at HEAD's first parent (the default branch before the push), never
from commit messages: a revert made by hand, a revert PR and a rollback PR all look the same there.
A change is recorded as a deployment of the stage's environment (in_progress, then success or
failure), and the pull request that caused it (found through the commit) gets a comment.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from rollout.errors import RolloutError, Stopped
from rollout.forge import Forge
from rollout.gates.report import code, inline
from rollout.history import file_at, git, require_full_history
from rollout.plan import Plan
from rollout.routers.apply import ApplyResult
from rollout.traffic import TrafficState, Weights

Movement = Literal["advanced", "rolled-back", "decommissioned", "unchanged"]


@dataclass(frozen=True, kw_only=True)
class Landing:
    movement: Movement
    headline: str
    previous: TrafficState
    current: TrafficState
    result: ApplyResult
    environment: str | None = None
    deployment: int | None = None
    pulls: tuple[int, ...] = ()


def movement(previous: TrafficState, current: TrafficState, *, blue: str) -> Movement:
    """What a push did to traffic; `blue` is the plan's blue at HEAD (after a decommission, the old green)."""
    if set(current.rejected) - set(previous.rejected):
        return "rolled-back"
    if current.weights.green > previous.weights.green:
        return "advanced"
    if current.weights.green < previous.weights.green:
        return "decommissioned" if previous.green == blue and current.stage is None else "rolled-back"
    return "unchanged"


def environment_for(plan: Plan, previous: TrafficState, current: TrafficState, move: Movement) -> str:
    """The GitHub environment of the stage whose traffic moved: the new stage, or the one traffic left."""
    name = current.stage if move == "advanced" else previous.stage
    stage = plan.stage(name)
    if stage is None:
        return f"rollout-{plan.service}"
    return stage.environment or f"rollout-{plan.service}-{stage.name}"


def previous_traffic(plan: Plan, *, rev: str = "HEAD^1") -> TrafficState:
    """The traffic state before the push; read loosely, since it was checked against an older plan."""
    text = file_at(plan.traffic_path, rev)
    initial = TrafficState.initial(plan.service)
    try:
        data: Any = yaml.safe_load(text) if text else None
        weights = data["weights"]
        return TrafficState(
            service=plan.service,
            stage=data.get("stage"),
            green=data.get("green"),
            weights=Weights(blue=int(weights["blue"]), green=int(weights["green"])),
            rejected=tuple(str(r) for r in data.get("rejected") or ()),
        )
    except (yaml.YAMLError, TypeError, KeyError, ValueError, AttributeError):
        return initial


def land(
    plan: Plan, current: TrafficState, forge: Forge | None, *, sha: str, apply: Callable[[], ApplyResult]
) -> Landing:
    """Apply `current`; when it moved traffic and a forge is given, record a deployment and comment on its PR."""
    if forge is not None:
        require_full_history(plan.root, why="what this push changed")
    previous = previous_traffic(plan)
    move = movement(previous, current, blue=plan.blue.name)
    headline = describe(plan, previous, current, move)
    if forge is None or move == "unchanged":
        return Landing(movement=move, headline=headline, previous=previous, current=current, result=apply())
    environment = environment_for(plan, previous, current, move)
    # a fork's pull request can hold this commit too: only ours are told
    pulls = tuple(p.number for p in forge.pulls_for_commit(sha) if p.foreign is None)
    deployment = forge.start_deployment(sha=sha, environment=environment, description=headline)
    try:
        # inside the try: a signal while marking it in progress still leaves the deployment marked failed
        forge.deployment_status(deployment, "in_progress", environment=environment, description=headline)
        result = apply()
    except RolloutError as exc:
        forge.deployment_status(deployment, "failure", environment=environment, description=exc.message)
        for number in pulls:
            forge.comment(
                number,
                f"Applying `{sha[:12]}` failed, and the router keeps its previous config: {inline(exc.message)}",
            )
        raise
    change = result.change
    try:
        forge.deployment_status(deployment, "success", environment=environment, description=change.summary)
    except Stopped:
        # the change is in place and proved: finish marking it (further signals are ignored by now), then stop
        forge.deployment_status(deployment, "success", environment=environment, description=change.summary)
        raise
    for number in pulls:
        forge.comment(
            number,
            f"Applied `{sha[:12]}` to {code(environment)}: {inline(headline)}.\n\n"
            f"Router `{change.kind}`: {inline(change.summary)} (config revision `{change.revision}`).",
        )
    return Landing(
        movement=move,
        headline=headline,
        previous=previous,
        current=current,
        result=result,
        environment=environment,
        deployment=deployment,
        pulls=pulls,
    )


def landing_markdown(landing: Landing) -> str:
    """The step summary of an apply: what moved, the router's new config, and what was recorded where."""
    change = landing.result.change
    lines = [
        f"### rollout apply: {landing.movement}",
        "",
        inline(landing.headline),
        "",
        f"- Router `{change.kind}`: {inline(change.summary)} (config revision `{change.revision}`, verified by "
        f"{change.verified_by})",
    ]
    # A list, so that each line stays a line when GitHub renders the summary.
    if landing.deployment is not None:
        lines.append(f"- Deployment {landing.deployment} to {code(landing.environment or '')}: success")
    if landing.pulls:
        lines.append("- Commented on " + ", ".join(f"#{n}" for n in landing.pulls))
    return "\n".join(lines)


def describe(plan: Plan, previous: TrafficState, current: TrafficState, move: Movement) -> str:
    split = f"blue {current.weights.blue}% / green {current.weights.green}%"
    if move == "advanced":
        return f"advanced green {current.green} to {current.weights.green}% [{current.stage}] ({split})"
    if move == "decommissioned":
        return f"promoted {plan.blue.name} to blue; the old blue gets no traffic ({split})"
    if move == "rolled-back":
        return f"rolled back green {previous.green or current.green} from {previous.weights.green}% ({split})"
    return f"no change in traffic ({split})"


def pushed_sha(plan: Plan, env: Mapping[str, str]) -> str:
    """The commit being applied: GITHUB_SHA in Actions, else HEAD of the plan's repository ("" outside git)."""
    if env.get("GITHUB_SHA"):
        return env["GITHUB_SHA"]
    result = git(plan.root, "rev-parse", "HEAD", check=False)
    return result.stdout.strip() if result.returncode == 0 else ""
