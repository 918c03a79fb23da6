"""Read the live gates' sources over the stage's window: the router's access log, the servers' /metrics, Prometheus.

A source that cannot be reached or answers nonsense gives no reading (its reason is in the verdict), and
the measures it would have given come from the next source, or leave the gate inconclusive; the run goes on.

- nginx: the access log the rendered config writes (rollout/access_log.py's format), the lines whose request
  finished inside the window; only POSTs count (the router's probes list models with GETs). A 5xx is an error.
  The log's rotated siblings (log.1, log.2.gz, ... as logrotate leaves them) are read too, newest first, until
  one reaches back to the window's start.
- vllm: each color's /metrics. Its counters run from the server's start, so the first scrape of a stage is
  kept in the state folder and later rounds count from it; a server restarted since counts from its restart.
- prometheus: one instant query per measure and color, with `$window` (the window in seconds, e.g.
  `86400s`), `$model` (the color's served name) and `$color` substituted; the samples of the answer are
  summed (by `le` for the bucket queries). See docs/gates.md for queries over vLLM's and LiteLLM's metrics.
"""

from __future__ import annotations

import gzip
import io
import itertools
import json
import math
import os
import zlib
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import httpx

from rollout.access_log import parse_access_line
from rollout.atomic import write_atomic
from rollout.errors import ExternalError
from rollout.gates.feedback_sources import describe, get_json
from rollout.gates.live import ColorTraffic, LiveTraffic, Reading, histogram_of_counts
from rollout.plan import COLORS, Color, LiveGate, LiveSource, Plan
from rollout.retry import GaveUp
from rollout.serving.health import read_metrics
from rollout.serving.metrics import E2E, TTFT, Histogram, ServerMetrics
from rollout.serving.spec import state_dir

ERROR_STATUS = 500


def read_live(
    plan: Plan,
    config: LiveGate,
    *,
    start: datetime,
    end: datetime,
    env: Mapping[str, str],
    transport: httpx.BaseTransport | None = None,
) -> LiveTraffic:
    readings = []
    for source in config.sources:
        if source.kind == "nginx":
            readings.append(_nginx(source, start, end))
        elif source.kind == "vllm":
            readings.append(_vllm(plan, start, end, env=env, transport=transport))
        else:
            readings.append(_prometheus(plan, source, start, end, transport=transport))
    return LiveTraffic(start=start, end=end, readings=tuple(readings))


def _nginx(source: LiveSource, start: datetime, end: datetime) -> Reading:
    assert source.log is not None
    name = f"nginx {source.log.name}"
    begin, finish = start.timestamp(), end.timestamp()
    # How many requests took each time: nginx's $request_time has millisecond steps, so this stays small however
    # many requests the window holds.
    times: dict[str, Counter[float]] = {color: Counter() for color in COLORS}
    errors: dict[str, int] = dict.fromkeys(COLORS, 0)
    unreadable = 0
    read: list[str] = []
    seen: set[tuple[int, int]] = set()
    path = source.log
    try:
        for path in _log_files(source.log):
            with _log_lines(path) as (identity, lines):
                if identity in seen:
                    continue  # rotated while being read: the file already read under its newer name
                seen.add(identity)
                read.append(path.name)
                earliest = math.inf
                for line in lines:
                    record = parse_access_line(line)
                    if record is None:
                        unreadable += 1
                        continue
                    earliest = min(earliest, record.at)
                    if record.method != "POST" or record.color not in times or not begin <= record.at <= finish:
                        continue
                    times[record.color][record.seconds] += 1
                    errors[record.color] += record.status >= ERROR_STATUS
            if earliest <= begin:
                break  # the older files hold only lines from before the window
    except OSError as exc:
        return Reading(source=name, unavailable=f"cannot read {path}: {exc.strerror or exc}")
    except (EOFError, zlib.error) as exc:  # a compressed file cut short, or damaged
        return Reading(source=name, unavailable=f"cannot read {path}: {exc}")
    if not read:
        return Reading(source=name, unavailable=f"cannot read {source.log}: no such file")
    traffic = {
        color: ColorTraffic(
            requests=sum(times[color].values()),
            errors=errors[color],
            e2e=histogram_of_counts(times[color]) if times[color] else None,
        )
        for color in COLORS
    }
    notes = [f"read {', '.join(read)}"] if len(read) > 1 else []
    if unreadable:
        notes.append(f"{unreadable} lines not in the rendered format were skipped")
    return Reading(source=name, traffic=traffic, note="; ".join(notes) or None)


@contextmanager
def _log_lines(path: Path) -> Iterator[tuple[tuple[int, int], TextIO]]:
    """The file's identity (device and inode) and its lines, decompressed if its name ends in .gz."""
    with path.open("rb") as raw:
        status = os.fstat(raw.fileno())
        identity = (status.st_dev, status.st_ino)
        if path.suffix == ".gz":
            with gzip.open(raw, "rt", encoding="utf-8", errors="replace") as unpacked:
                yield identity, unpacked
        else:
            with io.TextIOWrapper(raw, encoding="utf-8", errors="replace") as lines:
                yield identity, lines


def _log_files(log: Path) -> Iterator[Path]:
    """The log, then its rotated siblings newest first, as logrotate names them: log.1, log.2.gz, ...

    A plain file comes before a compressed one of the same number: logrotate removes it once it has compressed it.
    """
    if log.exists():
        yield log
    for number in itertools.count(1):
        plain = log.with_name(f"{log.name}.{number}")
        found = next((p for p in (plain, plain.with_name(f"{plain.name}.gz")) if p.exists()), None)
        if found is None:
            return
        yield found


def _vllm(
    plan: Plan, start: datetime, end: datetime, *, env: Mapping[str, str], transport: httpx.BaseTransport | None
) -> Reading:
    folder = state_dir(plan, env) / "live"
    traffic: dict[Color, ColorTraffic] = {}
    notes, first = [], []
    with httpx.Client(transport=transport) as client:
        for color in COLORS:
            version = plan.model(color)
            try:
                now = read_metrics(version.url, client=client, model=version.name)
            except ExternalError as exc:
                return Reading(source="vllm /metrics", unavailable=str(exc))
            baseline = folder / f"{color}-{version.name}-{int(start.timestamp())}.json"
            earlier = _load_scrape(baseline)
            if earlier is None:
                write_atomic(baseline, _scrape_to_json(now, end))
                first.append(color)
                continue
            taken, metrics = earlier
            if now.restarted_since(metrics):
                notes.append(f"{color}: the server restarted since {taken}; counted from its restart")
                traffic[color] = _from_metrics(now)
            else:
                notes.append(f"{color}: counted from the scrape of {taken}")
                traffic[color] = _from_metrics(now.minus(metrics))
    if first:
        return Reading(
            source="vllm /metrics",
            note=f"first scrape of the stage for {' and '.join(first)}, taken {end.isoformat()}; "
            "later rounds count from it",
            unavailable="no earlier scrape of this stage yet",
        )
    return Reading(source="vllm /metrics", traffic=traffic, note="; ".join(notes))


def _from_metrics(metrics: ServerMetrics) -> ColorTraffic:
    e2e = metrics.histograms.get(E2E)
    return ColorTraffic(
        requests=round(metrics.requests) if metrics.requests is not None else None,
        errors=round(metrics.errors) if metrics.errors is not None else None,
        e2e=e2e,
        ttft=metrics.histograms.get(TTFT),
        output_tokens=metrics.generation_tokens,
        e2e_seconds=e2e.sum if e2e is not None else None,
    )


def _scrape_to_json(metrics: ServerMetrics, taken: datetime) -> str:
    return json.dumps(
        {
            "taken_at": taken.isoformat(),
            "generation_tokens": metrics.generation_tokens,
            "requests": metrics.requests,
            "errors": metrics.errors,
            "histograms": {
                name: {"buckets": [[_bound(le), n] for le, n in h.buckets], "count": h.count, "sum": h.sum}
                for name, h in metrics.histograms.items()
            },
        }
    )


def _load_scrape(path: Path) -> tuple[str, ServerMetrics] | None:
    try:
        data = json.loads(path.read_text())
        histograms = {
            name: Histogram(
                buckets=tuple((float(le), float(n)) for le, n in h["buckets"]), count=h["count"], sum=h["sum"]
            )
            for name, h in data["histograms"].items()
        }
        metrics = ServerMetrics(
            histograms=histograms,
            generation_tokens=data["generation_tokens"],
            requests=data["requests"],
            errors=data["errors"],
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return str(data["taken_at"]), metrics


def _bound(le: float) -> float | str:
    return "+Inf" if math.isinf(le) else le


def _prometheus(
    plan: Plan, source: LiveSource, start: datetime, end: datetime, *, transport: httpx.BaseTransport | None
) -> Reading:
    assert source.url is not None
    url = source.url.rstrip("/") + "/api/v1/query"
    name = f"prometheus {source.url}"
    window = f"{max(1, math.ceil((end - start).total_seconds()))}s"
    traffic: dict[Color, ColorTraffic] = {}
    try:
        for color in COLORS:
            version = plan.model(color)
            values: dict[str, Any] = {}
            for measure, template in source.queries.items():
                query = template.replace("$window", window).replace("$model", version.name).replace("$color", color)
                data = get_json(
                    url, {"query": query, "time": f"{end.timestamp():.3f}"}, transport=transport, timeout=10.0
                )
                samples = _vector(data)
                if measure.endswith("_buckets"):
                    values[measure.removesuffix("_buckets")] = _buckets(samples)
                else:
                    values[measure] = math.fsum(v for _, v in samples)
            e2e = values.get("e2e")
            if e2e is not None and "e2e_seconds" in values:
                e2e = replace(e2e, sum=values["e2e_seconds"])
            traffic[color] = ColorTraffic(
                requests=round(values["requests"]) if "requests" in values else None,
                errors=round(values["errors"]) if "errors" in values else None,
                e2e=e2e,
                ttft=values.get("ttft"),
                output_tokens=values.get("output_tokens"),
                e2e_seconds=values.get("e2e_seconds"),
            )
    except GaveUp as exc:
        return Reading(source=name, unavailable=f"{url}: {exc.last}")
    except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
        return Reading(source=name, unavailable=f"{url}: {describe(exc)}")
    return Reading(source=name, traffic=traffic, note=f"window {window}")


def _vector(data: Any) -> list[tuple[Mapping[str, str], float]]:
    """The (labels, value) samples of an instant query's answer (a vector, or a scalar as one sample)."""
    if not isinstance(data, dict) or data.get("status") != "success":
        error = data.get("error") if isinstance(data, dict) else None
        raise ValueError(f"the query did not succeed: {error or 'no status: success in the response'}")
    result = data["data"]
    if result["resultType"] == "scalar":
        return [({}, float(result["result"][1]))]
    if result["resultType"] != "vector":
        raise ValueError(f"the query must return an instant vector, not {result['resultType']!r}")
    samples = [(series.get("metric", {}), float(series["value"][1])) for series in result["result"]]
    return [(labels, 0.0 if math.isnan(value) else value) for labels, value in samples]


def _buckets(samples: list[tuple[Mapping[str, str], float]]) -> Histogram | None:
    by_bound: dict[float, float] = {}
    for labels, value in samples:
        if "le" not in labels:
            raise ValueError("a *_buckets query must keep the le label: sum by (le) (...)")
        bound = float(labels["le"])
        by_bound[bound] = by_bound.get(bound, 0.0) + value
    if not by_bound:
        return None
    buckets = tuple(sorted(by_bound.items()))
    return Histogram(buckets=buckets, count=buckets[-1][1], sum=0.0)
