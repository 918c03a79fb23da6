"""Reading GitHub Actions files the way the runner does, for the checks in tests/*/test_workflows.py.

- which files: this repository's workflows and action, and the callers `rollout init` writes;
- `${{ }}` expressions: a small evaluator for the conditions the lifecycle depends on;
- `rollout ...` command lines: found in `run:` scripts and in steps that use the action, then parsed by the
  real click CLI without running anything, so a renamed command or flag breaks the build.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS_DIR = REPO / ".github" / "workflows"
ACTION = REPO / "action.yml"
CALLERS_DIR = REPO / "rollout" / "templates" / "init" / ".github" / "workflows"
REUSABLE = ("rollout-deploy.yml", "rollout-apply.yml", "rollout-watch.yml", "rollout-decommission.yml")
ACTION_USES = ("./", "./.model-rollout")
"""How workflows name the action: this checkout (ci.yml) or model-rollout checked out beside the caller's repo."""

EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)
PLACEHOLDER = "@@expr@@"
SHELL_VAR = re.compile(r"\$\{?[A-Za-z_][A-Za-z0-9_]*(?:[%#][^}]*)?\}?")


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), path
    if True in data:  # YAML 1.1 reads the key `on` as a boolean
        data["on"] = data.pop(True)
    return data


def workflow_files() -> list[Path]:
    return sorted(WORKFLOWS_DIR.glob("*.yml"))


def caller_files(root: Path = CALLERS_DIR) -> list[Path]:
    return sorted(root.glob("*.yml"))


def jobs(workflow: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(workflow.get("jobs") or {})


def steps(workflow: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, job in jobs(workflow).items():
        for step in job.get("steps") or ():
            yield name, step


def triggers(workflow: Mapping[str, Any]) -> dict[str, Any]:
    on = workflow["on"]
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return dict.fromkeys(on)
    return dict(on)


def needs(job: Mapping[str, Any]) -> list[str]:
    value = job.get("needs") or []
    return [value] if isinstance(value, str) else list(value)


# ---- expressions -------------------------------------------------------------------------------------

_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<op>==|!=|&&|\|\||!|\(|\)|,)|(?P<word>[A-Za-z_][\w.\-]*))")


_LEVELS: tuple[tuple[str, ...], ...] = (("||",), ("&&",), ("==", "!="))
_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "||": lambda a, b: a or b,
    "&&": lambda a, b: a and b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


class Expression:
    """Evaluates the subset of GitHub's expression language our conditions use: string literals, context
    paths, ==, !=, !, &&, ||, parentheses, the functions format(), startsWith() and contains(), and cancelled()
    (the context's `cancelled`)."""

    def __init__(self, text: str) -> None:
        text = text.strip()
        if text.startswith("${{") and text.endswith("}}"):
            text = text[3:-2]
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text.rstrip()):
            match = _TOKEN.match(text, pos)
            if match is None:
                raise ValueError(f"cannot read the expression at {text[pos:]!r}")
            kind = match.lastgroup
            assert kind is not None
            self.tokens.append((kind, match.group(kind)))
            pos = match.end()

    def evaluate(self, context: Mapping[str, Any]) -> Any:
        self.pos = 0
        self.context = context
        value = self._binary()
        if self.pos != len(self.tokens):
            raise ValueError(f"unexpected {self.tokens[self.pos][1]!r}")
        return value

    def _peek(self) -> str | None:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else None

    def _take(self, expected: str | None = None) -> tuple[str, str]:
        token = self.tokens[self.pos]
        if expected is not None and token[1] != expected:
            raise ValueError(f"expected {expected!r}, found {token[1]!r}")
        self.pos += 1
        return token

    def _binary(self, level: int = 0) -> Any:
        """Operators by precedence, loosest first; each level is left-associative."""
        if level == len(_LEVELS):
            return self._unary()
        value = self._binary(level + 1)
        while self._peek() in _LEVELS[level]:
            op = self._take()[1]
            right = self._binary(level + 1)
            value = _OPERATORS[op](value, right)
        return value

    def _unary(self) -> Any:
        if self._peek() == "!":
            self._take()
            return not self._unary()
        if self._peek() == "(":
            self._take()
            value = self._binary()
            self._take(")")
            return value
        kind, text = self._take()
        if kind == "str":
            return text[1:-1].replace("''", "'")
        if self._peek() == "(":
            return self._call(text)
        if text in ("true", "false"):
            return text == "true"
        found: Any = self.context
        for part in text.split("."):
            found = found.get(part, "") if isinstance(found, Mapping) else ""
        return found

    def _call(self, name: str) -> Any:
        self._take("(")
        if name == "cancelled":
            self._take(")")
            return bool(self.context.get("cancelled", False))
        args = [self._binary()]
        while self._peek() == ",":
            self._take()
            args.append(self._binary())
        self._take(")")
        if name == "format":
            return re.sub(r"\{(\d+)\}", lambda m: str(args[int(m.group(1)) + 1]), str(args[0]))
        if name == "startsWith":
            return str(args[0]).lower().startswith(str(args[1]).lower())
        if name == "contains":
            return str(args[1]).lower() in str(args[0]).lower()
        raise ValueError(f"no function {name}() in this evaluator")


def event_context(event: str, *, branch: str = "main", default_branch: str = "main") -> dict[str, Any]:
    repository = {"default_branch": default_branch, "name": "app"}
    payload: dict[str, Any] = {"repository": repository} if event != "schedule" else {}
    return {"github": {"event_name": event, "ref": f"refs/heads/{branch}", "ref_name": branch, "event": payload}}


# ---- `rollout` command lines ------------------------------------------------------------------------


@dataclass(frozen=True)
class CommandLine:
    where: str
    argv: tuple[str, ...]
    """Words after `rollout`, with expressions and shell variables replaced by PLACEHOLDER."""
    program: str = "rollout"


def _words(text: str) -> list[str]:
    """Shell words, with shell operators as words of their own."""
    text = EXPRESSION.sub(PLACEHOLDER, text)
    text = SHELL_VAR.sub(PLACEHOLDER, text)
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    return list(lexer)


def _until_operator(words: list[str]) -> tuple[str, ...]:
    end = next((i for i, word in enumerate(words) if word and set(word) <= set("();<>|&")), len(words))
    return tuple(words[:end])


def _logical_lines(script: str) -> Iterator[str]:
    buffer = ""
    for line in script.splitlines():
        if line.rstrip().endswith("\\"):
            buffer += line.rstrip()[:-1] + " "
            continue
        yield buffer + line
        buffer = ""
    if buffer:
        yield buffer


def run_command_lines(script: str, where: str, programs: tuple[str, ...] = ("rollout", "pytest")) -> list[CommandLine]:
    """Invocations of `programs` in a shell script, however the path to them is spelled."""
    found = []
    for line in _logical_lines(script):
        words = _words(line) if any(p in line for p in programs) else []
        for i, word in enumerate(words):
            name = word.rsplit("/", 1)[-1]
            if name in programs and (i == 0 or words[i - 1] in ("&&", "||", ";", "then", "do", "!")):
                found.append(CommandLine(where=where, argv=_until_operator(words[i + 1 :]), program=name))
    return found


def action_command_lines(step: Mapping[str, Any], where: str) -> list[CommandLine]:
    if step.get("uses") not in ACTION_USES:
        return []
    given = step.get("with") or {}
    command = str(given.get("command", ""))
    if not command:
        return []
    # As the action splits them: shlex, no shell.
    words = [EXPRESSION.sub(PLACEHOLDER, text) for text in (command, str(given.get("args", "")))]
    return [CommandLine(where=where, argv=tuple(shlex.split(words[0]) + shlex.split(words[1])))]


def command_lines(path: Path) -> list[CommandLine]:
    """Every `rollout` (and eval `pytest`) command a workflow or action file runs."""
    data = load(path)
    found: list[CommandLine] = []
    if "runs" in data:
        for i, step in enumerate(data["runs"].get("steps") or ()):
            if "run" in step:
                found += run_command_lines(step["run"], f"{path.name}: step {i + 1}")
        return found
    for job, step in steps(data):
        where = f"{path.name}: {job}: {step.get('name') or step.get('id') or step.get('uses') or 'run'}"
        if "run" in step:
            found += run_command_lines(step["run"], where)
        found += action_command_lines(step, where)
    return found


class CommandProblem(Exception):
    pass


def check_command_line(cli: click.Group, argv: tuple[str, ...]) -> click.Command:
    """Resolve argv against the CLI without running it: commands, option names, their arity, positional
    arguments, required options, and the values of literal (non-placeholder) choices and numbers."""
    command: click.Command = cli
    ctx = click.Context(cli, info_name="rollout", resilient_parsing=False)
    words = list(argv)
    path = ["rollout"]
    while isinstance(command, click.Group):
        if not words or words[0].startswith("-"):
            raise CommandProblem(f"`{' '.join(path)}` needs a subcommand")
        name, words = words[0], words[1:]
        sub = command.get_command(ctx, name)
        if sub is None:
            raise CommandProblem(f"`{' '.join(path)}` has no command {name!r}")
        path.append(name)
        command = sub
        ctx = click.Context(command, parent=ctx, info_name=name)
    parser = command.make_parser(ctx)
    try:
        opts, extra, _ = parser.parse_args(list(words))
    except click.UsageError as exc:
        raise CommandProblem(f"`{' '.join(path)}`: {exc.format_message()}") from None
    if extra:
        raise CommandProblem(f"`{' '.join(path)}`: unexpected arguments {extra}")
    for param in command.params:
        value = opts.get(param.name) if param.name else None
        if value is None:
            if param.required and not (isinstance(param, click.Option) and param.envvar):
                raise CommandProblem(f"`{' '.join(path)}`: missing {param.get_error_hint(ctx)}")
            continue
        if _has_placeholder(value) or isinstance(param.type, click.Path):
            continue
        try:
            param.type_cast_value(ctx, value)
        except click.BadParameter as exc:
            raise CommandProblem(f"`{' '.join(path)}`: {param.get_error_hint(ctx)}: {exc.message}") from None
    return command


def _has_placeholder(value: object) -> bool:
    if isinstance(value, (list, tuple)):
        return any(_has_placeholder(v) for v in value)
    return PLACEHOLDER in str(value)


# ---- trigger filters ----------------------------------------------------------------------------------


def _glob(pattern: str) -> re.Pattern[str]:
    """GitHub's filter patterns: `**` crosses directories, `*` and `?` do not."""
    parts = re.split(r"(\*\*|\*|\?)", pattern)
    table = {"**": ".*", "*": "[^/]*", "?": "[^/]"}
    return re.compile("".join(table.get(part, re.escape(part)) for part in parts) + r"\Z")


def _matches(patterns: list[str], value: str) -> bool:
    """The last matching pattern wins; a `!pattern` excludes."""
    verdict = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        if _glob(pattern.lstrip("!")).match(value):
            verdict = not negated
    return verdict


def push_triggers(workflow: Mapping[str, Any], branch: str, changed: list[str]) -> bool:
    """Would a push of `changed` files to `branch` start this workflow?"""
    on = triggers(workflow)
    if "push" not in on:
        return False
    spec = on["push"] or {}
    if "branches" in spec and not _matches(list(spec["branches"]), branch):
        return False
    if "paths" in spec:
        return any(_matches(list(spec["paths"]), path) for path in changed)
    return True
