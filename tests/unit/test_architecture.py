"""docs/architecture.md is the map of the code; these tests keep it true as the code moves.

Every `rollout/...` path it (or any other doc) names exists, every package and top-level module is named, the
imports between parts are exactly the arrows it draws, the functions of its data flow are defined, and the
modules it calls pure use none of the shell's means.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "rollout"
DOC = (REPO / "docs" / "architecture.md").read_text()
NAMED = re.compile(r"`(rollout/[\w./-]*)`")
# What the pure core never touches: the network, subprocesses, locks, signals, temporary files, and our own
# writers and git readers.
SHELL_MEANS = frozenset(
    {"httpx", "subprocess", "socket", "asyncio", "ghapi", "fcntl", "signal", "tempfile"}
    | {"rollout.atomic", "rollout.subprocesses", "rollout.history"}
)
WRITES = frozenset({"write_text", "write_bytes", "unlink", "mkdir", "rename", "replace_file", "touch", "rmdir"})


def section(title: str) -> str:
    start = DOC.index(f"\n## {title}\n")
    end = DOC.find("\n## ", start + 1)
    return DOC[start : end if end != -1 else None]


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__main__.py" and p != PACKAGE / "__init__.py")


def part_of(module: str) -> str:
    """rollout.gates.stats -> gates; rollout.plan -> plan."""
    return module.split(".")[1]


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def arrows() -> dict[str, set[str]]:
    block = re.search(r"```text\n(.*?)```", section("The arrows"), flags=re.S)
    assert block, "the arrows are drawn in a ```text block"
    drawn = {}
    for line in block.group(1).splitlines():
        if "->" in line:
            source, targets = (side.strip() for side in line.split("->", 1))
            drawn[source] = {t.strip() for t in targets.split(",") if t.strip() and t.strip() != "(nothing)"}
    return drawn


def test_every_path_the_docs_name_exists() -> None:
    docs = [REPO / "README.md", REPO / "benchmarks" / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    missing = sorted(
        f"{doc.relative_to(REPO)}: {path}"
        for doc in docs
        for path in set(NAMED.findall(doc.read_text()))
        if not (REPO / path.rstrip("/")).exists()
    )
    assert missing == [], "the docs name paths that do not exist"


def test_every_package_and_top_level_module_is_named() -> None:
    named = {path.rstrip("/") for path in NAMED.findall(DOC)}
    packages = {p.parent.relative_to(REPO).as_posix() for p in PACKAGE.rglob("__init__.py")} - {"rollout"}
    top_level = {p.relative_to(REPO).as_posix() for p in PACKAGE.glob("*.py")} - {
        "rollout/__init__.py",
        "rollout/__main__.py",
    }
    assert sorted((packages | top_level) - named) == [], "add them to docs/architecture.md"


def test_the_imports_between_parts_are_exactly_the_arrows() -> None:
    drawn = arrows()
    used: dict[str, set[str]] = {}
    for path in modules():
        source = part_of(module_name(path))
        for name in imported(path):
            target = part_of(name) if name.startswith("rollout.") else source
            if target != source and ((PACKAGE / target).is_dir() or (PACKAGE / f"{target}.py").is_file()):
                used.setdefault(source, set()).add(target)
    parts = {part_of(module_name(path)) for path in modules()}
    assert sorted(parts - drawn.keys()) == [], "every part has a line in the arrows, `(nothing)` if it imports none"
    undrawn = {f"{s} -> {t}" for s, targets in used.items() for t in targets - drawn.get(s, set())}
    unused = {f"{s} -> {t}" for s, targets in drawn.items() for t in targets - used.get(s, set())}
    assert sorted(undrawn) == [], "imports the architecture does not allow: draw the arrow or remove the import"
    assert sorted(unused) == [], "arrows no import uses: remove them from docs/architecture.md"


def test_the_pure_modules_use_none_of_the_shell_s_means() -> None:
    pure = [REPO / path for path in NAMED.findall(section("Functional core, imperative shell").split("\n\n")[1])]
    assert pure, "the core's modules are listed in the section's first paragraph"
    for path in pure:
        assert path.is_file(), path
        means = {name for name in imported(path) if name in SHELL_MEANS or name.split(".")[0] in SHELL_MEANS}
        writes = {
            node.attr for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Attribute)
        } & WRITES
        opens = any(
            isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "open"
            for node in ast.walk(ast.parse(path.read_text()))
        )
        assert not means and not writes and not opens, f"{path.relative_to(REPO)}: {sorted(means | writes)}"


def test_the_functions_the_data_flow_names_are_defined() -> None:
    flow = re.search(r"```\n(.*?)```", section("The data that flows through a rollout"), flags=re.S)
    assert flow, "the data flow is drawn in a ``` block"
    steps = [match.group(1) for line in flow.group(1).splitlines() if (match := re.search(r"\s(\w+)\s+->", line))]
    defined = {
        node.name
        for path in modules()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    }
    assert len(steps) >= 8 and sorted(set(steps) - defined) == []
