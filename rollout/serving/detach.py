"""Start a server detached from whoever asked for it, print its pid, and exit.

`python -m rollout.serving.detach LOG -- ARGV...`: the server gets its own session (so it outlives the
shell and the Actions job step that started it, and its whole process tree can be signalled as one
group), reads nothing, and writes stdout and stderr to LOG. This helper exits at once, so the server
is reparented away from the caller and never lingers as the caller's zombie.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from collections.abc import Sequence

EXIT_CANNOT_RUN = 127


def main(args: Sequence[str]) -> int:
    if len(args) < 3 or args[1] != "--":
        print("usage: python -m rollout.serving.detach LOG -- ARGV...", file=sys.stderr)
        return 2
    log, argv = args[0], list(args[2:])
    # the server is meant to outlive this helper; Popen would warn that it exits with its child running
    warnings.filterwarnings("ignore", category=ResourceWarning)
    with open(log, "ab") as out:
        try:
            server = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        except OSError as exc:
            print(f"cannot run {argv[0]}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_CANNOT_RUN
    print(server.pid, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
