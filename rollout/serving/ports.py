"""Is a TCP port taken, and by which process: read from /proc/net/tcp{,6} and each process's open sockets."""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass
from pathlib import Path

from rollout.serving.procfs import PROC, process_info

LISTEN = "0A"


@dataclass(frozen=True, kw_only=True)
class PortHolder:
    pid: int
    cmdline: tuple[str, ...]

    def __str__(self) -> str:
        return f"pid {self.pid} ({' '.join(self.cmdline) or 'command line unreadable'})"


def port_in_use(host: str, port: int) -> bool:
    """Would a server fail to bind host:port? SO_REUSEADDR as servers set it, so TIME_WAIT does not count."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            # any other failure (say, an address not on this machine) is the server's own to report
            return exc.errno == errno.EADDRINUSE
    return False


def listening_inodes(table: str, port: int) -> frozenset[int]:
    """Socket inodes listening on `port` in the text of /proc/net/tcp or /proc/net/tcp6."""
    inodes = set()
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10:
            continue
        local, state, inode = fields[1], fields[3], fields[9]
        if state == LISTEN and int(local.rsplit(":", 1)[1], 16) == port:
            inodes.add(int(inode))
    return frozenset(inodes)


def port_holder(port: int, proc: Path = PROC) -> PortHolder | None:
    """The process listening on `port`, when /proc lets us see it (other users' sockets may be hidden)."""
    inodes: set[int] = set()
    for table in ("tcp", "tcp6"):
        try:
            inodes |= listening_inodes((proc / "net" / table).read_text(encoding="ascii"), port)
        except OSError:
            continue
    targets = {f"socket:[{inode}]" for inode in inodes if inode}
    if not targets:
        return None
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fds = list((entry / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                link = str(fd.readlink())
            except OSError:
                continue
            if link in targets:
                info = process_info(int(entry.name), proc)
                return PortHolder(pid=int(entry.name), cmdline=info.cmdline if info else ())
    return None
