"""A full disk or a file size limit at the end of a run: exit 4 with the cause, nothing half-written, and the
finished run kept where it can be (beside the runner's temp files, else on stderr)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from rollout.cli import cli
from rollout.evals.results import CaseResult, EvalResults, results_to_json
from tests.support.openai_stub import Stub, openai_stub

REPO = Path(__file__).resolve().parents[2]
CASES = 40


@pytest.fixture
def stub() -> Iterator[Stub]:
    with openai_stub() as server:
        yield server


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs, filled: needs root (or CAP_SYS_ADMIN); skipped elsewhere, where the RLIMIT_FSIZE
    test still runs."""
    mount = tmp_path / "full"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        with (mount / "filler").open("wb", buffering=0) as handle:
            try:
                while True:
                    handle.write(b"x" * 4096)
            except OSError:
                pass
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def suite(tmp_path: Path) -> Path:
    path = tmp_path / "suite.yaml"
    cases = "".join(f'  - {{id: case-{i}, prompt: "ok:{i}", expect: [{{contains: Paris}}]}}\n' for i in range(CASES))
    path.write_text("name: mini\ncases:\n" + cases)
    return path


def kept_file(message: str) -> Path:
    return Path(message.split("it is kept at ")[1].split()[0])


def test_eval_on_a_full_disk_exits_4_and_keeps_the_run(tmp_path: Path, stub: Stub, full_disk: Path) -> None:
    out = full_disk / "results.json"
    result = CliRunner().invoke(
        cli,
        ["eval", "--suite", str(suite(tmp_path)), "--target", stub.url, "--model", "m", "--out", str(out)],
        env={"CI": "true", "RUNNER_TEMP": str(tmp_path)},
    )
    assert result.exit_code == 4, result.output
    assert f"cannot write the results to {out}: No space left on device" in result.stderr
    kept = json.loads(kept_file(result.stderr).read_text())
    assert len(kept["cases"]) == CASES and all(c["scores"] == [1.0] for c in kept["cases"])
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler"]  # nothing half-written


def test_gate_on_a_full_disk_exits_4_and_keeps_the_verdict(tmp_path: Path, full_disk: Path) -> None:
    assert CliRunner().invoke(cli, ["init", str(tmp_path / "repo")]).exit_code == 0
    for color in ("blue", "green"):
        cases = tuple(CaseResult(id=f"c{i}", scores=(1.0,), latency_ms=(10.0,)) for i in range(5))
        results = EvalResults(suite="quality", target=color, model=f"m-{color}", cases=cases)
        (tmp_path / f"{color}.json").write_text(results_to_json(results))
    out = full_disk / "verdict.json"
    args = ["gate", "--plan", str(tmp_path / "repo" / "rollout-plan.yaml"), "--out", str(out)]
    args += ["--baseline", str(tmp_path / "blue.json"), "--candidate", str(tmp_path / "green.json")]
    result = CliRunner().invoke(cli, args, env={"RUNNER_TEMP": str(tmp_path)})
    assert result.exit_code == 4, result.output
    assert "No space left on device" in result.stderr
    assert json.loads(kept_file(result.stderr).read_text())["schema"] == "rollout.verdict/v1"
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler"]


def test_eval_under_a_file_size_limit_prints_the_run_on_stderr(tmp_path: Path, stub: Stub) -> None:
    out = tmp_path / "results.json"
    limit = "import resource; resource.setrlimit(resource.RLIMIT_FSIZE, (2048, 2048))"
    args = ["eval", "--suite", str(suite(tmp_path)), "--target", stub.url, "--model", "m", "--out", str(out)]
    proc = subprocess.run(
        [sys.executable, "-c", f"{limit}; from rollout.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "CI": "true", "RUNNER_TEMP": str(tmp_path), "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 4, proc.stderr
    assert "File too large" in proc.stderr and "it is printed on stderr above" in proc.stderr
    printed = proc.stderr[proc.stderr.index("\n{") + 1 : proc.stderr.rindex("\n}") + 2]
    assert len(json.loads(printed)["cases"]) == CASES
    assert not out.exists() and not list(tmp_path.glob(".results.json.*"))
