"""The one way out to the terminal or the runner's log: every line goes through `neutralise`, but for the
workflow commands we write ourselves (`workflow_command`).

Commands print whatever they print (model ids, server error bodies, feedback text, names from the traffic
file); `guarded_output` puts a `GuardedStream` in front of stdout and stderr for the whole command, so no
command and no later change to one can let a line through that the runner would obey.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import sys
from collections.abc import Iterator
from typing import TextIO

import click

from rollout.actions.annotations import neutralise


class GuardedStream(io.TextIOBase):
    """A text stream that writes whole lines, neutralised, to `inner`.

    A line is held until it ends (at `\\n` or `\\r`, where the runner ends it), because a workflow command can
    arrive in pieces; `drain` writes what is left when the command ends.
    """

    def __init__(self, inner: TextIO) -> None:
        super().__init__()
        self.inner = inner
        self._pending = ""

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.inner, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self.inner, "errors", None)

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self.inner.isatty()

    def fileno(self) -> int:
        return self.inner.fileno()

    def write(self, text: str) -> int:
        combined = self._pending + text
        # a trailing `\r` may be the first half of `\r\n`: the line it ends waits for the next write
        cut = len(combined) - 1 if combined.endswith("\r") else len(combined)
        end = max(combined.rfind("\n", 0, cut), combined.rfind("\r", 0, cut))
        self._pending = combined[end + 1 :]
        if end >= 0:
            self.inner.write(neutralise(combined[: end + 1]))
        return len(text)

    def flush(self) -> None:
        self.inner.flush()

    def drain(self) -> None:
        if self._pending:
            pending, self._pending = self._pending, ""
            self.inner.write(neutralise(pending))
        self.inner.flush()

    def command(self, line: str) -> None:
        """Write one workflow command of ours, as it is, on a line of its own."""
        self.drain()
        self.inner.write(line + "\n")
        self.inner.flush()


@contextlib.contextmanager
def guarded_output() -> Iterator[None]:
    """stdout and stderr through `GuardedStream` until the block ends (a no-op when they already are)."""
    if isinstance(sys.stdout, GuardedStream):
        yield
        return
    saved = sys.stdout, sys.stderr
    out, err = GuardedStream(sys.stdout), GuardedStream(sys.stderr)
    sys.stdout, sys.stderr = out, err
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
        out.drain()
        err.drain()


def guard_process_output() -> None:
    """For the console script: guard stdout and stderr for the rest of the process, tracebacks included."""
    if isinstance(sys.stdout, GuardedStream):
        return
    out, err = GuardedStream(sys.stdout), GuardedStream(sys.stderr)
    sys.stdout, sys.stderr = out, err
    atexit.register(out.drain)
    atexit.register(err.drain)


def echo_json_text(text: str, *, err: bool = False) -> None:
    """JSON on stdout (or stderr). `##[` can only be inside a string there, and `#\\u0023[` is the same
    string: the guard then has nothing to change, and the output stays the JSON it was."""
    click.echo(text.replace("##[", "#\\u0023[").rstrip("\n"), err=err)


def raw(stream: TextIO) -> TextIO:
    """The stream behind a guard: for a terminal-only display of ours (the progress bar), never for text."""
    return stream.inner if isinstance(stream, GuardedStream) else stream


def workflow_command(line: str) -> None:
    """Print a workflow command we built (see rollout.actions.annotations); the only way one reaches stdout."""
    if "\n" in line or "\r" in line or not line.startswith("::"):
        raise ValueError(f"not one workflow command: {line!r}")
    if isinstance(sys.stdout, GuardedStream):
        sys.stdout.command(line)
    else:
        sys.stdout.write(line + "\n")
