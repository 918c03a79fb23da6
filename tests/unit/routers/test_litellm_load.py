"""Apply checks a LiteLLM config with the proxy's own Python (rollout/routers/litellm_load.py) before the reload.

The real LiteLLM's loading is tested in tests/integration/test_router_litellm.py; here the script runs against a
stand-in `litellm` package, to pin down what it prints, and apply against stand-in Pythons, to pin down what it
does with the answer.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from rollout.errors import ExternalError, InputError
from rollout.routers import litellm, validate_command
from rollout.routers.apply import apply_traffic
from tests.support.routers import litellm_plan, stage_state

PATH = os.environ.get("PATH", "/usr/bin:/bin")
SECRET = "sk-held-by-the-proxy-4d2a"
STAND_IN = """
import os, sys
class ProxyConfig:
    async def load_config(self, router, config_file_path):
        print("LiteLLM: Proxy initialized with", os.environ["BACKEND_KEY"])
        print("noise on stderr", file=sys.stderr)
        if "broken" in open(config_file_path).read():
            raise ValueError("bad litellm_params {'api_key': '%s'}\\nsee docs" % os.environ["BACKEND_KEY"])
"""


def executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def run_check(tmp_path: Path, config: str) -> subprocess.CompletedProcess[str]:
    """litellm_load.py as `python -I` runs it, with a stand-in LiteLLM importable."""
    package = tmp_path / "site" / "litellm" / "proxy"
    package.mkdir(parents=True)
    for folder in (package.parent, package):
        (folder / "__init__.py").write_text("")
    (package / "proxy_server.py").write_text(STAND_IN)
    (tmp_path / "config.yaml").write_text(config)
    runner = f"import runpy, sys; sys.path.insert(0, {str(tmp_path / 'site')!r}); sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
    return subprocess.run(
        [sys.executable, "-I", "-c", runner, str(litellm.LOAD_CHECK), str(tmp_path / "config.yaml")],
        capture_output=True,
        text=True,
        env={"PATH": PATH, "BACKEND_KEY": SECRET},
        timeout=60,
        check=False,
    )


def test_a_config_that_loads_passes_silently(tmp_path: Path) -> None:
    result = run_check(tmp_path, "api_key: os.environ/BACKEND_KEY\n")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_a_config_that_does_not_load_is_one_line_saying_why_without_the_keys_it_names(tmp_path: Path) -> None:
    result = run_check(tmp_path, "api_key: os.environ/BACKEND_KEY\nbroken: true\n")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == (
        f"LiteLLM cannot load {tmp_path / 'config.yaml'}: ValueError: bad litellm_params {{'api_key': '***'}} see docs\n"
    )


def test_a_python_without_litellm_is_refused_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("model_list: []\n")
    result = subprocess.run(
        [sys.executable, "-I", str(litellm.LOAD_CHECK), str(tmp_path / "config.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1 and "ModuleNotFoundError: No module named 'litellm'" in result.stderr


def test_the_check_runs_in_the_python_beside_the_proxy_s_litellm_or_the_one_named(tmp_path: Path) -> None:
    plan = litellm_plan(tmp_path, tmp_path / "reloads")
    candidate = tmp_path / ".litellm.yaml.rollout-candidate"
    assert validate_command(plan, candidate, {"ROLLOUT_LITELLM_PYTHON": "/opt/litellm/bin/python"}) == [
        "/opt/litellm/bin/python",
        "-I",
        str(litellm.LOAD_CHECK),
        str(candidate),
    ]
    venv = tmp_path / "venv" / "bin"
    venv.mkdir(parents=True)
    executable(venv / "litellm", "#!/bin/sh\n")
    executable(venv / "python", "#!/bin/sh\n")
    assert validate_command(plan, candidate, {"PATH": f"{venv}{os.pathsep}{PATH}"}) == [
        str(venv / "python"),
        "-I",
        str(litellm.LOAD_CHECK),
        str(candidate),
    ]
    with pytest.raises(InputError, match="finds no litellm on PATH: set ROLLOUT_LITELLM_PYTHON"):
        apply_traffic(plan, stage_state(25), env={"PATH": str(tmp_path / "empty")})
    assert not plan.router.config.exists()


def test_the_python_is_found_beside_the_program_a_pipx_link_points_at(tmp_path: Path) -> None:
    plan = litellm_plan(tmp_path, tmp_path / "reloads")
    candidate = tmp_path / ".litellm.yaml.rollout-candidate"
    venv = tmp_path / "pipx" / "venvs" / "litellm" / "bin"
    venv.mkdir(parents=True)
    executable(venv / "litellm", "#!/bin/sh\n")
    executable(venv / "python", "#!/bin/sh\n")
    links = tmp_path / "local-bin"
    links.mkdir()
    (links / "litellm").symlink_to(venv / "litellm")
    assert validate_command(plan, candidate, {"PATH": str(links)})[0] == str(venv / "python")
    (venv / "python").unlink()
    with pytest.raises(InputError, match=f"finds no python beside {links / 'litellm'}"):
        validate_command(plan, candidate, {"PATH": str(links)})


def test_a_config_the_check_refuses_is_never_swapped_in_nor_reloaded(tmp_path: Path) -> None:
    plan = litellm_plan(tmp_path, tmp_path / "reloads")
    plan.router.config.write_text("model_list: []\n")
    refusing = executable(tmp_path / "python", '#!/bin/sh\necho "LiteLLM cannot load $3: ValueError: no" >&2\nexit 1\n')
    with pytest.raises(
        ExternalError, match=r"validate command .* failed \(exit 1\):\n  LiteLLM cannot load .*: ValueError: no"
    ):
        apply_traffic(plan, stage_state(25), env={"PATH": PATH, "ROLLOUT_LITELLM_PYTHON": str(refusing)})
    assert plan.router.config.read_text() == "model_list: []\n"
    assert sorted(p.name for p in tmp_path.iterdir() if ".rollout-" in p.name) == []
    assert not (tmp_path / "reloads").exists()
