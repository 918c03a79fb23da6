"""Throughput of `rollout eval` beside promptfoo, against nginx on loopback returning a fixed completion.

    .venv/bin/python -m benchmarks.eval_throughput [--cases 2000] [--runs 3] [--promptfoo DIR]

nginx serves the same answer two ways: streamed (SSE, what `rollout eval` asks for) and as one JSON
body (what promptfoo's OpenAI provider asks for). Each tool runs the same cases with the same
`contains: Paris` check, as a fresh process; CPU and peak memory are that process tree's own, from
wait4. Figures are medians over --runs. promptfoo is `npm install promptfoo` in DIR (default: ./node_modules
or $PROMPTFOO_DIR); without it, only rollout is measured.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ANSWER = "The capital of France is Paris."


@dataclass(frozen=True)
class Measure:
    tool: str
    concurrency: int
    seconds: float
    cpu_seconds: float
    peak_mb: float
    ok: bool

    def rps(self, cases: int) -> float:
        return cases / self.seconds


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def chunk(fields: dict[str, object]) -> str:
    return (
        "data: "
        + json.dumps({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "bench", **fields})
        + "\n\n"
    )


def nginx_conf(prefix: Path, port: int) -> str:
    stream = (
        chunk({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]})
        + chunk({"choices": [{"index": 0, "delta": {"content": "The capital of France"}, "finish_reason": None}]})
        + chunk({"choices": [{"index": 0, "delta": {"content": " is Paris."}, "finish_reason": "stop"}]})
        + chunk({"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19}})
        + "data: [DONE]\n\n"
    )
    whole = json.dumps(
        {
            "id": "c1",
            "object": "chat.completion",
            "created": 1,
            "model": "bench",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19},
        }
    )

    def quoted(text: str) -> str:
        return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"

    return f"""
worker_processes 1;
error_log {prefix}/error.log;
pid {prefix}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path {prefix}/body;
  server {{
    listen 127.0.0.1:{port};
    location = /v1/chat/completions {{ default_type text/event-stream; return 200 {quoted(stream)}; }}
    location = /json/v1/chat/completions {{ default_type application/json; return 200 {quoted(whole)}; }}
    location = /v1/models {{ default_type application/json; return 200 '{{"data": [{{"id": "bench"}}]}}'; }}
  }}
}}
"""


def start_nginx(prefix: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    (prefix / "nginx.conf").write_text(nginx_conf(prefix, port))
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    proc = subprocess.Popen([nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"])
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            if httpx.get(f"{url}/v1/models", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"nginx did not answer on {url}; see {prefix}/error.log")


def write_inputs(work: Path, cases: int, url: str) -> None:
    lines = ["name: bench", "defaults: {max_tokens: 64, temperature: 0}", "cases:"]
    for i in range(cases):
        lines += [
            f"  - id: case-{i:05d}",
            f"    prompt: 'Question {i}: what is the capital of France?'",
            "    expect: [{contains: Paris}]",
        ]
    (work / "suite.yaml").write_text("\n".join(lines) + "\n")
    with (work / "tests.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["question", "__expected"])
        writer.writerows([f"Question {i}: what is the capital of France?", "contains:Paris"] for i in range(cases))
    (work / "promptfooconfig.yaml").write_text(
        'prompts: ["{{question}}"]\nproviders:\n  - id: openai:chat:bench\n'
        f'    config: {{apiBaseUrl: "{url}/json/v1", apiKey: bench, max_tokens: 64, temperature: 0}}\n'
        "tests: file://tests.csv\n"
    )


def measure(tool: str, concurrency: int, command: list[str], cwd: Path, env: dict[str, str]) -> tuple[Measure, str]:
    started = time.perf_counter()
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    output = proc.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    return Measure(
        tool=tool,
        concurrency=concurrency,
        seconds=seconds,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        peak_mb=usage.ru_maxrss / 1024,
        ok=proc.returncode == 0,
    ), output


def rollout_run(work: Path, url: str, concurrency: int, cases: int) -> Measure:
    out = work / f"results-{concurrency}.json"
    command = [
        sys.executable,
        "-m",
        "rollout",
        "eval",
        "--suite",
        str(work / "suite.yaml"),
        "--target",
        url,
        "--model",
        "bench",
        "--concurrency",
        str(concurrency),
        "--out",
        str(out),
    ]
    result, output = measure("rollout eval", concurrency, command, work, {**os.environ, "CI": "true"})
    data = json.loads(out.read_text()) if out.exists() else {"cases": []}
    scored = sum(c["scores"] == [1.0] for c in data["cases"])
    if scored != cases:
        print(f"rollout eval scored {scored}/{cases}:\n{output[-2000:]}", file=sys.stderr)
    return Measure(**{**result.__dict__, "ok": result.ok and scored == cases})


def promptfoo_run(work: Path, entry: Path, concurrency: int, cases: int) -> Measure:
    env = {
        **os.environ,
        "PROMPTFOO_DISABLE_TELEMETRY": "1",
        "PROMPTFOO_DISABLE_UPDATE": "1",
        "OPENAI_API_KEY": "bench",
        "PROMPTFOO_CONFIG_DIR": str(work / ".promptfoo"),
    }
    command = [
        "node",
        str(entry),
        "eval",
        "-c",
        str(work / "promptfooconfig.yaml"),
        "-j",
        str(concurrency),
        "--no-cache",
    ]
    result, output = measure("promptfoo eval", concurrency, command, work, env)
    passed = f"{cases:,} passed" in output
    if not passed:
        print(f"promptfoo did not pass all {cases}:\n{output[-2000:]}", file=sys.stderr)
    return Measure(**{**result.__dict__, "ok": result.ok and passed})


def promptfoo_entry(directory: str | None) -> Path | None:
    for base in (directory, os.environ.get("PROMPTFOO_DIR"), "."):
        if base:
            entry = Path(base) / "node_modules" / "promptfoo" / "dist" / "src" / "entrypoint.js"
            if entry.exists():
                return entry
    return None


def median(runs: list[Measure]) -> Measure:
    seconds = statistics.median(m.seconds for m in runs)
    return Measure(
        tool=runs[0].tool,
        concurrency=runs[0].concurrency,
        seconds=seconds,
        cpu_seconds=statistics.median(m.cpu_seconds for m in runs),
        peak_mb=max(m.peak_mb for m in runs),
        ok=all(m.ok for m in runs),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--promptfoo", help="directory where `npm install promptfoo` was run")
    args = parser.parse_args()
    entry = promptfoo_entry(args.promptfoo)
    with tempfile.TemporaryDirectory(prefix="eval-bench-") as tmp:
        work = Path(tmp)
        (work / "nginx").mkdir()
        nginx, url = start_nginx(work / "nginx")
        try:
            write_inputs(work, args.cases, url)
            rows: list[Measure] = []
            for _ in range(args.runs):  # interleaved, so a noisy neighbour hits every tool alike
                batch = [rollout_run(work, url, c, args.cases) for c in (64, 256)]
                if entry is not None:
                    batch.append(promptfoo_run(work, entry, 64, args.cases))
                rows += batch
        finally:
            nginx.terminate()
            nginx.wait()
    report(
        [
            median([m for m in rows if (m.tool, m.concurrency) == key])
            for key in dict.fromkeys((m.tool, m.concurrency) for m in rows)
        ],
        args.cases,
        args.runs,
    )


def report(rows: list[Measure], cases: int, runs: int) -> None:
    print(f"{cases} cases, median of {runs} runs, {os.cpu_count()} CPUs\n")
    print("| tool | concurrency | wall | requests/s | CPU per request | peak memory | all passed |")
    print("|---|---|---|---|---|---|---|")
    for m in rows:
        print(
            f"| {m.tool} | {m.concurrency} | {m.seconds:.2f} s | {m.rps(cases):,.0f} | "
            f"{m.cpu_seconds / cases * 1000:.2f} ms | {m.peak_mb:.0f} MB | {'yes' if m.ok else 'NO'} |"
        )
    by = {(m.tool, m.concurrency): m for m in rows}
    ours, ours_256, theirs = by.get(("rollout eval", 64)), by.get(("rollout eval", 256)), by.get(("promptfoo eval", 64))
    if ours and ours_256:
        print(f"\nrollout at 256 / at 64: {ours_256.rps(cases) / ours.rps(cases):.2f} (target >= 0.90)")
    if ours and theirs:
        print(f"rollout / promptfoo at 64: {ours.rps(cases) / theirs.rps(cases):.2f}x (target >= 2.5x)")


if __name__ == "__main__":
    main()
