"""vLLM's command line as vLLM 0.33 reads it: which flag an argument sets, and the values we depend on.

vLLM's parser (FlexibleArgumentParser, an argparse.ArgumentParser) turns underscores in a flag's name
into dashes (`--shutdown_timeout` is `--shutdown-timeout`), takes `--flag=value` and `--flag value`
alike, accepts any unambiguous abbreviation of a long flag (`--shutdown 60`), and lets the last of
repeated flags win, only logging "Found duplicate keys". So the plan's `args` are read the same way
here before anything is matched. This module is pure and imports nothing of ours: the plan loader
checks `args` with it, and the serving code builds and reads command lines with it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

MODEL = "model"
SERVED_MODEL_NAME = "served-model-name"
HOST = "host"
PORT = "port"
REVISION = "revision"
UDS = "uds"
SHUTDOWN_TIMEOUT = "shutdown-timeout"
API_KEY = "api-key"
# vLLM's own variable for its key; `--api-key` wins over it.
API_KEY_ENV = "VLLM_API_KEY"

# What rollout sets from the plan's own fields (`--uds` makes vLLM ignore host and port); `args` that set
# one of them would make vLLM serve another name, model or address than the one we wait for and route to.
IDENTITY = (MODEL, SERVED_MODEL_NAME, HOST, PORT, REVISION, UDS)
# The shortest abbreviation vLLM 0.33's serve parser resolves to each flag (no other of its flags starts
# so); `--model` has none, since --model-impl and others share every prefix of it.
SHORTEST = {
    MODEL: "model",
    SERVED_MODEL_NAME: "ser",
    HOST: "ho",
    PORT: "por",
    REVISION: "rev",
    UDS: "ud",
    SHUTDOWN_TIMEOUT: "shu",
    API_KEY: "api-k",
}
# argparse reads an argument like this as a value, not a flag, since vLLM has no flag that looks so.
NEGATIVE_NUMBER = re.compile(r"^-\d+$|^-\d*\.\d+$")


@dataclass(frozen=True, kw_only=True)
class Flag:
    """One argument that sets a flag: its position in the argv, the flag (without dashes), and its value
    (None when the value is the next argument, or missing)."""

    index: int
    name: str
    value: str | None


def flag_name(arg: str) -> str | None:
    """The long flag `arg` names, as vLLM spells it (dashes, no `=value`); None for values and short flags."""
    if not arg.startswith("--") or arg == "--":
        return None
    key = arg[2:].split("=", 1)[0]
    name, dot, rest = key.partition(".")
    return name.replace("_", "-") + dot + rest


def resolves_to(arg: str, flag: str) -> bool:
    """Whether vLLM reads `arg` as setting `flag`: the flag itself in any spelling, or an abbreviation of it."""
    name = flag_name(arg)
    return name is not None and flag.startswith(name) and name.startswith(SHORTEST.get(flag, flag))


def find(args: Sequence[str], flag: str) -> tuple[Flag, ...]:
    """Every argument in `args` that sets `flag`, in order (vLLM keeps the last)."""
    found = []
    for index, arg in enumerate(args):
        if resolves_to(arg, flag):
            value = arg.split("=", 1)[1] if "=" in arg else None
            found.append(Flag(index=index, name=flag, value=value))
    return tuple(found)


def identity_flags(args: Sequence[str]) -> tuple[Flag, ...]:
    """The arguments that would override what rollout sets from the plan, in order."""
    return tuple(sorted((hit for flag in IDENTITY for hit in find(args, flag)), key=lambda hit: hit.index))


def values(args: Sequence[str], hit: Flag) -> tuple[str, ...]:
    """The value(s) of one flag: its `=value`, else the arguments after it up to the next flag."""
    if hit.value is not None:
        return (hit.value,)
    following = []
    for arg in args[hit.index + 1 :]:
        if arg.startswith("-") and not NEGATIVE_NUMBER.match(arg):
            break
        following.append(arg)
    return tuple(following)


def last_value(args: Sequence[str], flag: str) -> str | None:
    """The value vLLM ends up with for a one-value flag (the last one given); None when it is not given."""
    hits = find(args, flag)
    if not hits:
        return None
    given = values(args, hits[-1])
    return given[0] if given else ""


def shutdown_timeout(text: str) -> int:
    """vLLM's --shutdown-timeout is `type=int` and must be >= 0; raise ValueError as vLLM would at start."""
    seconds = int(text)
    if seconds < 0:
        raise ValueError(f"{text} is negative")
    return seconds


def api_keys(args: Sequence[str]) -> tuple[str, ...]:
    """The keys `--api-key` gives (it takes several; the last `--api-key` wins)."""
    hits = find(args, API_KEY)
    return values(args, hits[-1]) if hits else ()


def hide_keys(argv: Sequence[str], hidden: str = "***") -> tuple[str, ...]:
    """`argv` with every `--api-key` value blanked out, for messages."""
    shown = list(argv)
    for hit in find(argv, API_KEY):
        if hit.value is not None:
            shown[hit.index] = f"{argv[hit.index].split('=', 1)[0]}={hidden}"
        for offset in range(len(values(argv, hit)) if hit.value is None else 0):
            shown[hit.index + 1 + offset] = hidden
    return tuple(shown)
