"""`rollout demo`: the whole lifecycle on this machine, with real model servers, a real router and git.

It drives the same functions the workflows run — serve, eval (reusing what the evidence branch holds when
it cannot differ), gate, evidence save, propose, merge, apply — against a fresh repository and the local
forge, compressing the soak times to seconds with --fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib.util
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import FrameType

import click

from rollout.atomic import write_atomic
from rollout.demo.load import send_load
from rollout.demo.workspace import (
    LIVE_REQUESTS,
    NEXT_ARGS,
    DemoLayout,
    RouterChoice,
    Scenario,
    name_green,
    next_green,
    quality_margin,
    render_demo_plan,
    smollm_file,
)
from rollout.errors import CheckFailed, ExternalError, Inconclusive, InputError
from rollout.evals.results import load_results, results_to_json
from rollout.evals.reuse import evidence_path, provenance_note
from rollout.evals.runner import Collector, Settings, reuse_choice, run, settle
from rollout.evals.suite import Suite, load_suite, suite_digest
from rollout.evals.summary import summarize
from rollout.evals.target import Target
from rollout.forge.local import LocalForge
from rollout.gates.inputs import gate_files
from rollout.gates.report import render_report
from rollout.gates.verdict import Verdict, verdict_to_json
from rollout.gitops.commands import propose
from rollout.gitops.evidence import Saved, save_evidence
from rollout.gitops.landing import land
from rollout.gitops.proposal import evidence_branch
from rollout.history import git
from rollout.plan import COLORS, Color, Plan, load_plan, serving_args_digest
from rollout.routers import render_config
from rollout.routers.apply import ApplyResult, apply_traffic
from rollout.routers.nginx import nginx_binary
from rollout.scaffold import scaffold, write_scaffold
from rollout.serving import lifecycle
from rollout.situation import read_live_window
from rollout.stages import Decision
from rollout.traffic import TrafficState, load_traffic

MAX_STEPS = 40
"""A bound on decisions: the good path takes about ten; anything near this is a bug, not a slow machine."""
MAX_EXTRA_ROUNDS = 3
"""Watch rounds a stage may add while its live gates wait for traffic, before the demo gives up holding."""

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "rollout demo",
    "GIT_AUTHOR_EMAIL": "demo@model-rollout.invalid",
    "GIT_COMMITTER_NAME": "rollout demo",
    "GIT_COMMITTER_EMAIL": "demo@model-rollout.invalid",
}


@dataclass(frozen=True, kw_only=True)
class DemoOptions:
    scenario: Scenario
    fast: bool
    keep: Path | None
    env: Mapping[str, str]
    show_progress: bool
    rollouts: int = 1
    """Rollouts one after the other: each decommissioned green is blue for the next, a new green on the freed port."""
    cases: int | None = None
    """Run only the first this many cases of each suite: a quicker demo on less evidence."""


@dataclass(frozen=True, kw_only=True)
class DemoResult:
    workdir: Path
    kept: bool
    state: TrafficState
    pulls: tuple[str, ...]
    seconds: float
    ended: str


class Timeline:
    """Prints one line per event, with the seconds since the demo began."""

    def __init__(self, echo: Callable[[str], None]) -> None:
        self.began = time.monotonic()
        self.echo = echo

    def elapsed(self) -> float:
        return time.monotonic() - self.began

    def say(self, what: str, text: str) -> None:
        self.echo(f"[{self.elapsed():6.1f}s] {what:<9} {text}")


def run_demo(options: DemoOptions, timeline: Timeline) -> DemoResult:
    _require_demo_parts(options.env)
    workdir = _workdir(options.keep)
    with _stop_on_sigterm(), contextlib.ExitStack() as cleanup:
        if options.keep is None:
            cleanup.callback(shutil.rmtree, workdir, ignore_errors=True)
        plan = _create_repository(workdir, options, timeline)
        forge = LocalForge(plan.root)
        _start_servers(plan, options.env, timeline, cleanup)
        _start_router(plan, options.env, timeline, cleanup)
        ports = (plan.blue.port, plan.model("green").port)
        ended = _drive(plan, forge, options, timeline)
        for _ in range(options.rollouts - 1):
            if ended != "decommissioned":
                break
            plan = _name_next_green(load_plan(plan.path), ports, options.env, timeline)
            ended = _drive(plan, forge, options, timeline)
        final = load_traffic(load_plan(plan.path))
        pulls = tuple(f"#{p.number} [{p.state}] {p.title}" for p in forge.pulls())
        return DemoResult(
            workdir=workdir,
            kept=options.keep is not None,
            state=final,
            pulls=pulls,
            seconds=timeline.elapsed(),
            ended=ended,
        )


def _require_demo_parts(env: Mapping[str, str]) -> None:
    missing = [name for name in ("llama_cpp", "uvicorn", "fastapi") if importlib.util.find_spec(name) is None]
    if missing:
        raise InputError.at(
            "rollout demo",
            f"the demo needs llama-cpp-python[server] ({', '.join(missing)} missing): "
            "pip install 'model-rollout[demo]' (scripts/setup does it)",
        )
    smollm_file()
    if shutil.which("git", path=env.get("PATH")) is None:
        raise InputError.at("rollout demo", "the demo keeps its rollout in git, and git is not installed")


def _workdir(keep: Path | None) -> Path:
    if keep is None:
        return Path(tempfile.mkdtemp(prefix="rollout-demo-"))
    if keep.exists() and any(keep.iterdir()):
        raise InputError.at(str(keep), "--keep needs a new or empty directory, so nothing of yours is overwritten")
    keep.mkdir(parents=True, exist_ok=True)
    return keep.resolve()


def _create_repository(workdir: Path, options: DemoOptions, timeline: Timeline) -> Plan:
    repo = workdir / "repo"
    write_scaffold(repo, scaffold("chat"), force=False)
    router: RouterChoice = "nginx" if shutil.which(nginx_binary(options.env)) else "file"
    layout = DemoLayout(
        scenario=options.scenario,
        fast=options.fast,
        python=sys.executable,
        model_file=smollm_file(),
        blue_port=_free_port(),
        green_port=_free_port(),
        router=router,
        router_port=_free_port(),
        quality_margin=quality_margin(options.cases),
    )
    write_atomic(repo / "rollout-plan.yaml", render_demo_plan(layout))
    for folder in ("router", "state", "evidence"):
        (workdir / folder).mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    plan = load_plan(repo / "rollout-plan.yaml")
    green = plan.model("green")
    _git(repo, "commit", "-q", "-m", f"rollout(chat): name green {green.name} ({' '.join(green.args)})")
    timeline.say("repo", f"{repo} (local forge: pull requests are branches, merges are `git merge --no-ff`)")
    timeline.say(
        "plan",
        f"blue {plan.blue.name} vs green {green.name} ({' '.join(green.args)}); stages "
        + " -> ".join(f"{s.weight}%" for s in plan.stages)
        + f", soak {plan.stages[0].soak.total_seconds():.0f}s each",
    )
    if router == "file":
        timeline.say("router", "nginx is not installed: using the `file` router (a feature-flag file, not probed)")
    return plan


def _start_servers(plan: Plan, env: Mapping[str, str], timeline: Timeline, cleanup: contextlib.ExitStack) -> None:
    for color in COLORS:
        cleanup.callback(_stop_server, plan, color, env)
        result = lifecycle.start(plan, color, timeout=180, env=env)
        version = plan.model(color)
        timeline.say(
            "serve",
            f"{color} {version.name} healthy on :{version.port} (pid {result.status.pid}, "
            f"{result.waited_seconds:.1f}s)",
        )


def _name_next_green(plan: Plan, ports: tuple[int, int], env: Mapping[str, str], timeline: Timeline) -> Plan:
    """Merge a plan naming the next green on the port the old blue freed, and start it as deploy does:
    blue (the promoted green, already running) first, then green beside it."""
    blue = plan.blue
    name = next_green(blue.name)
    freed = next(port for port in ports if port != blue.port)
    text = name_green(
        plan.path.read_text(encoding="utf-8"),
        name=name,
        port=freed,
        model_file=smollm_file(),
        command=blue.command or "",
        args=(*blue.args, *NEXT_ARGS),
    )
    write_atomic(plan.path, text)
    _git(plan.root, "commit", "-q", "-am", f"rollout(chat): name green {name} ({' '.join((*blue.args, *NEXT_ARGS))})")
    plan = load_plan(plan.path)
    timeline.say("plan", f"next rollout: blue {blue.name} vs green {name} on :{freed}")
    for color in COLORS:
        result = lifecycle.start(plan, color, timeout=180, env=env)
        timeline.say(
            "serve",
            f"{color} {plan.model(color).name} {result.action} on :{plan.model(color).port} "
            f"(pid {result.status.pid}, {result.waited_seconds:.1f}s)",
        )
    return plan


def _stop_server(plan: Plan, color: Color, env: Mapping[str, str]) -> None:
    with contextlib.suppress(Exception):
        lifecycle.stop(plan, color, force=True, drain=0, env=env)


def _start_router(plan: Plan, env: Mapping[str, str], timeline: Timeline, cleanup: contextlib.ExitStack) -> None:
    state = load_traffic(plan)
    config = plan.router.config
    write_atomic(config, render_config(plan, state))
    if plan.router.kind != "nginx":
        timeline.say("router", f"file router at {config.resolve()}")
        return
    prefix = f"{config.parent.resolve()}/"
    command = [nginx_binary(env), "-e", "stderr", "-p", prefix, "-c", str(config.resolve())]
    started = subprocess.run(command, capture_output=True, text=True, check=False)
    if started.returncode != 0:
        raise ExternalError(f"nginx did not start: {started.stderr.strip()}")
    cleanup.callback(_stop_nginx, command)
    timeline.say("router", f"nginx on {plan.router.url} (config {config.resolve()})")


def _stop_nginx(command: list[str]) -> None:
    subprocess.run([*command, "-s", "stop"], capture_output=True, check=False)


def _drive(plan: Plan, forge: LocalForge, options: DemoOptions, timeline: Timeline) -> str:
    """Gate, propose, merge and apply until the rollout is decommissioned or rolled back."""
    verdict, report = _evaluate(plan, forge, options, timeline, "deploy")
    extra = 0
    for _ in range(MAX_STEPS):
        plan = load_plan(plan.path)
        outcome = propose(plan, forge, verdict=verdict, report=report, now=datetime.now(timezone.utc))
        decision = outcome.decision
        waiting = decision.action == "hold" and decision.earliest is None and _waits_for_traffic(verdict)
        if waiting and extra < MAX_EXTRA_ROUNDS:
            extra += 1
            timeline.say("hold", f"{decision.reason} (another watch round)")
            _soak(plan, options, timeline)
            verdict, report = _evaluate(plan, forge, options, timeline, f"watch-{decision.state.stage}-{extra}")
            continue
        if decision.action == "hold":
            _hold(decision, timeline)
            continue
        if decision.action == "complete":
            timeline.say("complete", decision.reason)
            _sleep_until(decision)
            continue
        pull = outcome.pull
        if pull is None:
            raise CheckFailed(
                f"the decision was {decision.action}, but no pull request was opened: {outcome.describe()}"
            )
        timeline.say(f"PR #{pull.number}", pull.title)
        if outcome.status != "merged":
            forge.merge_pull(pull.number, title=f"Merge pull request #{pull.number} from {pull.branch}")
        timeline.say("merge", f"#{pull.number} merged into main (git merge --no-ff)")
        retired = plan
        plan = load_plan(plan.path)
        _apply(plan, forge, options.env, timeline)
        if decision.action == "rollback":
            timeline.say(
                "rejected",
                f"green {retired.model('green').name} is listed under `rejected` in "
                "rollout-traffic.yaml; blue serves 100%",
            )
            return "rolled back"
        if decision.action == "decommission":
            lifecycle.stop(retired, "blue", force=True, env=options.env)
            timeline.say("serve", f"stopped the old blue {retired.blue.name}; {plan.blue.name} is blue now")
            return "decommissioned"
        extra = 0
        _soak(plan, options, timeline)
        verdict, report = _evaluate(plan, forge, options, timeline, f"watch-{decision.state.stage}")
    raise CheckFailed(f"the rollout did not finish within {MAX_STEPS} decisions")


def _hold(decision: Decision, timeline: Timeline) -> None:
    if decision.earliest is None:
        timeline.say("hold", decision.reason)
        raise Inconclusive(f"the rollout holds: {decision.reason}")
    _sleep_until(decision)


def _sleep_until(decision: Decision) -> None:
    assert decision.earliest is not None
    wait = (decision.earliest - datetime.now(timezone.utc)).total_seconds()
    time.sleep(min(max(wait, 0.0) + 0.2, 600.0))


def _waits_for_traffic(verdict: Verdict) -> bool:
    """Only the live gates are undecided: more traffic, not another eval, is what would decide."""
    undecided = verdict.undecided()
    return bool(undecided) and not verdict.failing() and all(g.gate.startswith("live-") for g in undecided)


def _soak(plan: Plan, options: DemoOptions, timeline: Timeline) -> None:
    """The stage's soak, with the demo's users sending their requests through the router meanwhile."""
    stage = plan.stage(load_traffic(plan).stage)
    if stage is None:
        return
    timeline.say("soak", f"{stage.name} soaks {stage.soak.total_seconds():.0f}s with green at {stage.weight}%")
    began = time.monotonic()
    if plan.gates.live is not None and plan.router.url is not None:
        tally = send_load(plan.router.url, plan.service, LIVE_REQUESTS, env=options.env)
        timeline.say("traffic", f"{sum(tally.sent.values())} user requests through the router: {tally.describe()}")
    time.sleep(max(0.0, stage.soak.total_seconds() - (time.monotonic() - began)))
    # git keeps a commit's time to the second, and the next stage starts at its merge commit: that must be a
    # later second than this stage's last request, or the next stage's live window counts it too (a watch
    # round that reuses its evals can merge within the same second)
    time.sleep(1.0 - time.time() % 1.0)


def _apply(plan: Plan, forge: LocalForge, env: Mapping[str, str], timeline: Timeline) -> ApplyResult:
    state = load_traffic(plan)
    sha = git(plan.root, "rev-parse", "HEAD").stdout.strip()
    landing = land(plan, state, forge, sha=sha, apply=lambda: apply_traffic(plan, state, env=env))
    result = landing.result
    timeline.say(
        "apply",
        f"{landing.movement}: blue {state.weights.blue}% / green {state.weights.green}% "
        f"({result.change.kind}, {result.seconds:.2f}s)",
    )
    for check in result.checks:
        timeline.say("verify", check.describe())
    return result


def _evaluate(
    plan: Plan, forge: LocalForge, options: DemoOptions, timeline: Timeline, label: str
) -> tuple[Verdict, str]:
    """One round as the workflows run it: check out the evidence branch, run the gates' suites on both colors
    (reusing what cannot differ), gate green against blue, and save the round's results to the branch."""
    folder = plan.root.parent / "evidence" / label
    suites = []
    for gate in (plan.gates.quality, plan.gates.safety):
        if gate is None:
            continue
        suite = load_suite(gate.suite, env=options.env)
        suites.append(dataclasses.replace(suite, cases=suite.cases[: options.cases]) if options.cases else suite)
    recorded = _check_out_evidence(plan, forge, [suite.name for suite in suites], folder / "recorded")
    files: dict[str, dict[Color, Path]] = {}
    for suite in suites:
        files[suite.name] = _eval_both(plan, suite, folder, options, recorded)
        timeline.say(
            "eval",
            f"{suite.name}: " + ", ".join(f"{color} {_summary(path)}" for color, path in files[suite.name].items()),
        )
    verdict = gate_files(
        plan,
        [by_color["blue"] for by_color in files.values()],
        [by_color["green"] for by_color in files.values()],
        live_since=read_live_window(plan),
        now=datetime.now(timezone.utc),
        env=options.env,
    )
    report = render_report(verdict)
    write_atomic(folder / "verdict.json", verdict_to_json(verdict))
    write_atomic(folder / "report.md", report)
    timeline.say("gate", f"{verdict.outcome.upper()} ({label}, green {verdict.candidate.model})")
    for result in verdict.gates:
        timeline.say("", f"{result.gate} {result.outcome}: {result.reason}")
    saved = [
        Saved(file=str(path), results=load_results(path)) for by_color in files.values() for path in by_color.values()
    ]
    timeline.say("evidence", save_evidence(forge, plan.service, saved).describe())
    return verdict, report


def _check_out_evidence(plan: Plan, forge: LocalForge, suites: list[str], folder: Path) -> Path:
    """The evidence branch's results for these suites in `folder`, as the eval jobs' checkout of it."""
    folder.mkdir(parents=True, exist_ok=True)
    head = forge.branch_head(evidence_branch(plan.service))
    for suite, color in ((suite, color) for suite in suites for color in COLORS):
        text = forge.read_file(evidence_path(color, suite), head) if head else None
        if text is not None:
            write_atomic(folder / evidence_path(color, suite), text)
    return folder


def _eval_both(plan: Plan, suite: Suite, evidence: Path, options: DemoOptions, recorded: Path) -> dict[Color, Path]:
    """Both colors side by side in one event loop, so Ctrl-C cancels them at once; a color whose recorded
    results cannot differ is not asked again (reuse_choice and settle, as the eval jobs decide)."""
    # llama_cpp.server answers one request at a time (a second one cuts the first stream off).
    settings = Settings(concurrency=1, timeout=120.0)
    targets = {
        color: Target(
            label=color,
            url=plan.model(color).url,
            model=plan.model(color).name,
            revision=plan.model(color).revision,
            serving_digest=serving_args_digest(plan.model(color)),
        )
        for color in COLORS
    }
    choices = {color: reuse_choice(suite, target, env=options.env, reuse=recorded) for color, target in targets.items()}
    digest = suite_digest(suite, env=options.env)
    collectors = {
        color: Collector(suite, targets[color], suite_digest=digest)
        for color, choice in choices.items()
        if choice.action != "reuse"
    }
    total = sum(case.repeats for case in suite.cases) * len(collectors)
    with _progress(options.show_progress and bool(collectors), total, f"{suite.name:>8} blue+green") as advance:

        async def both() -> None:
            await asyncio.gather(
                *(
                    run(suite, c.target, settings, collector=c, env=options.env, progress=advance)
                    for c in collectors.values()
                )
            )

        if collectors:
            asyncio.run(both())
    paths = {color: evidence / f"{suite.name}-{color}.json" for color in COLORS}
    for color, choice in choices.items():
        fresh = collectors[color].results() if color in collectors else None
        write_atomic(paths[color], results_to_json(settle(choice, fresh)))
    return paths


def _summary(path: Path) -> str:
    results = load_results(path)
    summary = summarize(results)
    mean = f"{summary.mean:.3f}" if summary.mean is not None else "n/a"
    errors = f", {summary.errors} errors" if summary.errors else ""
    note = provenance_note(reused_from=results.reused_from, rounds=results.rounds)
    return f"{mean} ({summary.cases} cases{errors}{'; ' + note if note else ''})"


@contextlib.contextmanager
def _progress(show: bool, total: int, label: str) -> Iterator[Callable[[int], None]]:
    if not show:
        yield lambda _n: None
        return
    with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
        yield bar.update


@contextlib.contextmanager
def _stop_on_sigterm() -> Iterator[None]:
    """SIGTERM ends the demo like Ctrl-C does, so everything it started is stopped."""

    def interrupt(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _git(repo: Path, *args: str) -> None:
    git(repo, *args, env=GIT_IDENTITY)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
