"""Errors that end a command, each with its exit code (the table is in docs/architecture.md).

    RolloutError                  any failure meant for a person (exit code on the class)
    ├── CheckFailed               1  a gate or a check failed
    ├── InputError                2  bad input or usage; carries every Problem found
    ├── Inconclusive              3  not enough evidence to decide: hold
    └── ExternalError             4  GitHub, the router or a model server failed after retries
        └── Stopped         128 + N  a signal stopped the command, which undid its work first

Anything else raised out of a command is a bug and shows its traceback.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INPUT = 2
EXIT_INCONCLUSIVE = 3
EXIT_EXTERNAL = 4
EXIT_INTERRUPTED = 130
"""Ctrl-C: 128 + SIGINT, as shells report it."""


@dataclass(frozen=True, kw_only=True)
class Problem:
    """One thing wrong with an input file, located as precisely as we can."""

    file: str
    line: int | None = None
    field: str = ""
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class RolloutError(Exception):
    exit_code = EXIT_FAILED

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class CheckFailed(RolloutError):
    exit_code = EXIT_FAILED


class InputError(RolloutError):
    exit_code = EXIT_INPUT

    def __init__(self, message: str | Iterable[Problem]) -> None:
        if isinstance(message, str):
            self.problems: Sequence[Problem] = ()
            super().__init__(message)
        else:
            self.problems = tuple(message)
            super().__init__("\n".join(str(p) for p in self.problems))

    @classmethod
    def at(cls, file: str, message: str, *, line: int | None = None, field: str = "") -> InputError:
        return cls([Problem(file=file, line=line, field=field, message=message)])


class Inconclusive(RolloutError):
    exit_code = EXIT_INCONCLUSIVE


class ExternalError(RolloutError):
    exit_code = EXIT_EXTERNAL


class Stopped(ExternalError):
    """A signal (SIGTERM from a cancelled job, SIGINT) stopped a command that cleans up after itself first:
    raised where the work was, so that the work's own failure handling runs. Exits 128 + the signal."""

    def __init__(self, signum: int, name: str) -> None:
        super().__init__(f"stopped by {name}")
        self.exit_code = 128 + signum
