from __future__ import annotations

from pathlib import Path

from rollout.serving.ports import listening_inodes, port_holder
from rollout.serving.procfs import ProcessInfo, identify, parse_stat

STAT = (
    "4242 (python3 (x) y) S 1 4242 4242 0 -1 4194560 2398 0 0 0 11 3 0 0 20 0 2 0 987654 "
    "123 456 18446744073709551615 1 1 0 0 0 0 0 16781312 2 0 0 0 17 1 0 0 0 0 0"
)


def info(**changes: object) -> ProcessInfo:
    fields: dict[str, object] = {
        "pid": 4242,
        "state": "S",
        "pgid": 4242,
        "start_ticks": 987654,
        "cmdline": ("/usr/bin/python3", "/usr/local/bin/vllm", "serve", "m"),
    }
    fields.update(changes)
    return ProcessInfo(**fields)  # type: ignore[arg-type]


def test_stat_fields_are_counted_after_the_last_parenthesis() -> None:
    assert parse_stat(STAT) == ("S", 4242, 987654)


def test_same_pid_and_start_time_is_ours() -> None:
    assert identify(info(), start_ticks=987654, argv=("vllm", "serve", "m")) == "running"


def test_a_reused_pid_is_foreign_even_with_the_same_command() -> None:
    assert identify(info(start_ticks=111), start_ticks=987654, argv=("vllm", "serve", "m")) == "foreign"


def test_gone_and_zombie_processes_are_gone() -> None:
    assert identify(None, start_ticks=1, argv=("x",)) == "gone"
    assert identify(info(state="Z"), start_ticks=987654, argv=("vllm",)) == "gone"


def test_without_a_start_time_the_command_line_must_match() -> None:
    assert identify(info(), start_ticks=None, argv=("vllm", "serve", "m")) == "running"
    assert identify(info(cmdline=("sleep", "600")), start_ticks=None, argv=("vllm", "serve", "m")) == "foreign"
    assert identify(info(cmdline=("/bin/sleep",)), start_ticks=None, argv=("sleep",)) == "running"


TCP = """  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F41 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 55501 1 0 100 0 0 10 0
   1: 0100007F:1F42 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 55502 1 0 100 0 0 10 0
   2: 0100007F:1F41 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 55503 1 0 20 4 30 10 -1
"""


def test_listening_sockets_are_found_by_port() -> None:
    assert listening_inodes(TCP, 8001) == {55501}
    assert listening_inodes(TCP, 8003) == frozenset()


def test_the_holder_is_found_through_its_open_socket(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    (proc / "net").mkdir(parents=True)
    (proc / "net" / "tcp").write_text(TCP)
    (proc / "777" / "fd").mkdir(parents=True)
    (proc / "777" / "fd" / "5").symlink_to("socket:[55501]")
    (proc / "777" / "stat").write_text(STAT.replace("4242 (", "777 (", 1))
    (proc / "777" / "cmdline").write_bytes(b"nginx: master\0")
    (proc / "778" / "fd").mkdir(parents=True)
    (proc / "778" / "fd" / "5").symlink_to("socket:[55502]")
    holder = port_holder(8001, proc)
    assert holder is not None and holder.pid == 777
    assert "nginx: master" in str(holder)
    assert port_holder(8009, proc) is None
