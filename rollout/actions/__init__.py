"""GitHub Actions' side channels: what a step tells its job and the people reading the run.

environment_files.py  step outputs (`$GITHUB_OUTPUT`) and the step summary (`$GITHUB_STEP_SUMMARY`)
annotations.py        `::error` / `::warning` / `::notice` workflow commands, escaped as the runner expects
job_outputs.py        what the reusable workflows' jobs need to know from the plan and the traffic state

What reads the environment takes it as a mapping, so callers (and tests) decide where it comes from;
outside Actions the variables are absent and those functions do nothing.
"""

from __future__ import annotations

from collections.abc import Mapping


def in_actions(env: Mapping[str, str]) -> bool:
    return env.get("GITHUB_ACTIONS") == "true"
