"""Stand-ins for `systemd-run`, `systemctl`, `journalctl` and `docker`, for tests of those supervisors.

No service manager or docker daemon runs here. These programs keep what the supervisors rely on from
the real tools: a unit or container is known by its name alone; the name is taken while the unit runs
(systemd with --collect forgets a unit once it stops) or while the container exists (until `docker rm`,
which refuses a running one); starting a second one under a taken name fails as the real tool fails;
stop sends SIGTERM, waits the stop timeout, then SIGKILLs. The server itself is a real process, the
stub of tests/fixtures/serving (under docker given vLLM's command line, as the vLLM image's entrypoint
is), so health checks and ports are real. Their messages are the real tools'.

`install(bin_dir, root)` writes the four programs into `bin_dir` (put it first on PATH); what they
know is kept in `root`. `units(root)` lists what runs, by name, for tests to look at.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
STUB = REPO / "tests" / "fixtures" / "serving" / "stub_server.py"
TOOLS = ("systemd-run", "systemctl", "journalctl", "docker")
MANAGER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
POLL = 0.05


def install(bin_dir: Path, root: Path) -> None:
    bin_dir.mkdir(parents=True, exist_ok=True)
    for tool in TOOLS:
        program = bin_dir / tool
        program.write_text(
            f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(REPO)!r})\n"
            "from tests.support.fake_supervisors import main\n"
            f"sys.exit(main({tool!r}, {str(root)!r}, sys.argv[1:]))\n"
        )
        program.chmod(0o755)


def units(root: Path) -> dict[str, bool]:
    """Every unit and container the stand-ins know, by name: True while its server runs."""
    found = {}
    for kind in ("systemd", "docker"):
        for path in sorted((root / kind).glob("*.json")) if (root / kind).is_dir() else ():
            found[path.stem] = _alive(json.loads(path.read_text())["pid"])
    return found


def main(tool: str, root: str, args: Sequence[str]) -> int:
    where = Path(root)
    args = [arg for arg in args if arg != "--user"]
    if tool == "systemd-run":
        return _systemd_run(where / "systemd", args)
    if tool == "systemctl":
        return _systemctl(where / "systemd", args)
    if tool == "journalctl":
        return _journalctl(where / "systemd", args)
    return _docker(where / "docker", args)


def _systemd_run(units_dir: Path, args: list[str]) -> int:
    split = args.index("--")
    options, argv = _options(args[:split]), args[split + 1 :]
    unit = options["unit"][0] + ".service"
    record = units_dir / f"{unit}.json"
    if record.exists() and _alive(json.loads(record.read_text())["pid"]):
        print(
            f"Failed to start transient service unit: Unit {unit} was already loaded or has a fragment file.",
            file=sys.stderr,
        )
        return 1
    env = {"PATH": MANAGER_PATH, **_environment(options.get("setenv", []))}
    timeout = int(next(p.split("=", 1)[1] for p in options["property"] if p.startswith("TimeoutStopSec=")))
    pid = _spawn(argv, units_dir / f"{unit}.log", env=env, cwd=options["working-directory"][0])
    _write(record, {"pid": pid, "timeout": timeout})
    print(f"Running as unit: {unit}", file=sys.stderr)
    return 0


def _systemctl(units_dir: Path, args: list[str]) -> int:
    verb, unit = args[0], args[1]
    record = units_dir / f"{unit}.json"
    known = json.loads(record.read_text()) if record.exists() else None
    running = known is not None and _alive(known["pid"])
    if verb == "show":
        print(f"ActiveState={'active' if running else 'inactive'}\nMainPID={known['pid'] if running and known else 0}")
        return 0
    if verb == "stop":
        if not running or known is None:
            print(f"Failed to stop {unit}: Unit {unit} not loaded.", file=sys.stderr)
            return 5
        _terminate(known["pid"], known["timeout"])
        record.unlink()
        return 0
    print(f"systemctl stand-in: unknown verb {verb}", file=sys.stderr)
    return 1


def _journalctl(units_dir: Path, args: list[str]) -> int:
    options = _options(args)
    log = units_dir / f"{options['unit'][0]}.log"
    lines = int(options["lines"][0])
    if log.exists():
        print("\n".join(log.read_text(errors="replace").splitlines()[-lines:]))
    else:
        print("-- No entries --")
    return 0


def _docker(containers: Path, args: list[str]) -> int:
    verb, rest = args[0], args[1:]
    name = rest[-1]
    record = containers / f"{name}.json"
    known = json.loads(record.read_text()) if record.exists() else None
    if verb == "run":
        return _docker_run(containers, rest)
    if known is None:
        print(f"Error response from daemon: No such container: {name}", file=sys.stderr)
        return 1
    running = _alive(known["pid"])
    if verb == "inspect":
        form = _options(rest[:-1])["format"][0]
        print(
            form.replace("{{.State.Running}}", str(running).lower()).replace(
                "{{.State.Pid}}", str(known["pid"] if running else 0)
            )
        )
        return 0
    if verb == "stop":
        _terminate(known["pid"], int(_options(rest[:-1])["time"][0]))
        print(name)
        return 0
    if verb == "rm":
        if running:
            print(
                f'Error response from daemon: cannot remove container "/{name}": container is running: '
                "stop the container before removing or force remove",
                file=sys.stderr,
            )
            return 1
        record.unlink()
        print(name)
        return 0
    if verb == "logs":
        lines = int(_options(rest[:-1])["tail"][0])
        print("\n".join((containers / f"{known['id']}.log").read_text(errors="replace").splitlines()[-lines:]))
        return 0
    print(f"docker stand-in: unknown command {verb}", file=sys.stderr)
    return 1


def _docker_run(containers: Path, args: list[str]) -> int:
    at = next(i for i, arg in enumerate(args) if not arg.startswith("--"))
    options, (_image, model, *rest) = _options(args[:at]), args[at:]
    name = options["name"][0]
    record = containers / f"{name}.json"
    if record.exists():
        taken = json.loads(record.read_text())["id"]
        print(
            f'docker: Error response from daemon: Conflict. The container name "/{name}" is already in use by '
            f'container "{taken}". You have to remove (or rename) that container to be able to reuse that name.',
            file=sys.stderr,
        )
        return 125
    host = options["publish"][0].split(":")[0]
    # no network namespace here: the server listens where docker would publish it
    rest = [host if i and rest[i - 1] == "--host" else arg for i, arg in enumerate(rest)]
    container = secrets.token_hex(32)
    pid = _spawn(
        [sys.executable, str(STUB), "serve", model, *rest],
        containers / f"{container}.log",
        env={"PATH": MANAGER_PATH, **_environment(options.get("env", []))},
        cwd="/",
    )
    _write(record, {"id": container, "pid": pid})
    print(container)
    return 0


def _options(args: Sequence[str]) -> dict[str, list[str]]:
    """`--key=value` options as lists of values by key (repeatable, as --setenv and --env are)."""
    found: dict[str, list[str]] = {}
    for arg in args:
        key, _, value = arg.removeprefix("--").partition("=")
        found.setdefault(key, []).append(value)
    return found


def _environment(settings: Sequence[str]) -> dict[str, str]:
    """`NAME` copies the tool's own value, as systemd-run --setenv and docker --env do; `NAME=VALUE` sets it."""
    env = {}
    for setting in settings:
        key, has_value, value = setting.partition("=")
        if has_value:
            env[key] = value
        elif key in os.environ:
            env[key] = os.environ[key]
    return env


def _spawn(argv: Sequence[str], log: Path, *, env: dict[str, str], cwd: str) -> int:
    log.parent.mkdir(parents=True, exist_ok=True)
    warnings.filterwarnings("ignore", category=ResourceWarning)
    with log.open("ab") as out:
        server = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
            cwd=cwd,
        )
    return server.pid


def _terminate(pid: int, timeout: int) -> None:
    _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(POLL)
    if _alive(pid):
        _signal(-pid, signal.SIGKILL)


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        if pid < 0:
            os.killpg(-pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZXx"


def _write(path: Path, data: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def stop_all(root: Path) -> None:
    """Kill whatever the stand-ins still run, so a failing test leaves no server behind."""
    for kind in ("systemd", "docker"):
        for path in (root / kind).glob("*.json") if (root / kind).is_dir() else ():
            pid = json.loads(path.read_text())["pid"]
            if _alive(pid):
                _terminate(pid, 5)
