# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Scan series for anomalies: each series of a Prometheus range result (or inline samples) through its own
StreamingDetector, in time order; the points before ``report_from`` only teach the baseline.

``scan`` is also the small hook for bake time: give it the ring's range (history before the ring started,
then the bake) and ``report_from`` = the ring's start, and its ``verdict`` says whether the bake showed
anything the series' own history does not explain. No data is never clean: a series list that is empty, a
series without enough points to learn from, or - with ``report_from`` - a series with a point from
``report_from`` on that fell in the warm-up (it was never scored) makes the verdict ``nodata``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict

from ansible_collections.changeward.hybrid.plugins.plugin_utils.anomaly.context import ContextConfig, ContextDetector
from ansible_collections.changeward.hybrid.plugins.plugin_utils.anomaly.detector import (
    DetectorConfig,
    StreamingDetector,
)
from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import ChangewardError

DEFAULT_THRESHOLD = 0.5
CLEAN, ANOMALOUS, NODATA = "clean", "anomalous", "nodata"
METHODS = ("baseline", "context")


def detector_config(method: str, warmup: int, quiet: int):
    """The config of a detector by method: baseline (StreamingDetector) or context (ContextDetector)."""
    if method == "baseline":
        return DetectorConfig(warmup=warmup, quiet=quiet)
    if method == "context":
        return ContextConfig(warmup=warmup, quiet=quiet)
    raise AnomalyError(f"method must be one of {', '.join(METHODS)}, got {method!r}")


def _detector(config):
    if isinstance(config, ContextConfig):
        return ContextDetector(ContextConfig(**asdict(config)))
    return StreamingDetector(DetectorConfig(**asdict(config)))


class AnomalyError(ChangewardError, ValueError):
    """Samples or settings the scan cannot use."""


def series_name(labels: Mapping) -> str:
    """A stable name for a series: its labels as PromQL would print them."""
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return f"{labels.get('__name__', '')}{{{inner}}}"


def _points(raw, name: str) -> list:
    out = []
    for i, pair in enumerate(raw):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise AnomalyError(f"{name}: sample {i} must be [time, value]")
        try:
            when, value = float(pair[0]), float(pair[1])
        except (TypeError, ValueError):
            raise AnomalyError(f"{name}: sample {i} is not a number pair: {pair!r}") from None
        out.append((when, value))
    return sorted(out)


def scan(
    series: Mapping[str, Iterable],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    report_from: float | None = None,
    config: DetectorConfig | ContextConfig | None = None,
    labels: Mapping[str, Mapping] | None = None,
) -> dict:
    """Scan each named series ({name: [[time, value], ...]}); returns the anomalies (score >= threshold, at or
    after report_from), a summary per series and the verdict: anomalous, clean or nodata."""
    if not 0 < threshold <= 1:
        raise AnomalyError(f"threshold must be in (0, 1], got {threshold}")
    config = config or DetectorConfig()
    anomalies, per_series, starved = [], {}, []
    for name, raw in series.items():
        points = _points(raw, name)
        detector = _detector(config)
        learned = reported = unscored = 0
        worst = None
        for when, value in points:
            result = detector.update(value, when)
            if report_from is not None and when < report_from:
                learned += 1
                continue
            if not math.isfinite(value):
                continue
            reported += 1
            if detector.count <= config.warmup:
                unscored += 1
                continue
            if worst is None or result.score > worst["score"]:
                worst = {"time": when, "score": round(result.score, 4)}
            if result.score >= threshold:
                anomalies.append(
                    {
                        "series": name,
                        "labels": dict((labels or {}).get(name) or {}),
                        "time": when,
                        "value": value,
                        "score": round(result.score, 4),
                        "surprise": round(result.surprise, 3),
                        "expected": None if result.expected is None else round(result.expected, 6),
                        "explained_by": result.explained_by,
                    }
                )
        # with report_from, every point from it on must have been scored: one that fell in the warm-up was
        # never looked at, so the series says nothing about that time (fail closed)
        enough = detector.count > config.warmup and reported > 0 and not (report_from is not None and unscored)
        if not enough:
            starved.append(name)
        per_series[name] = {
            "points": len(points),
            "learned_from": learned,
            "scanned": reported,
            "unscored": unscored,
            "anomalies": sum(1 for a in anomalies if a["series"] == name),
            "max_score": worst["score"] if worst else None,
            "enough_data": enough,
        }
    if not series:
        verdict, reason = NODATA, "no series to scan"
    elif anomalies:
        hosts = sorted({a["series"] for a in anomalies})
        verdict, reason = ANOMALOUS, f"{len(anomalies)} anomalous point(s) in {len(hosts)} series"
    elif starved:
        verdict = NODATA
        reason = (
            f"{len(starved)} series had too few points to learn a baseline (more than {config.warmup} needed"
            + (" before report_from" if report_from is not None else "")
            + "): "
            + ", ".join(starved[:3])
        )
    else:
        verdict, reason = CLEAN, f"{len(series)} series, no point scored {threshold} or more"
    anomalies.sort(key=lambda a: (a["time"], -a["score"]))
    return {"verdict": verdict, "reason": reason, "anomalies": anomalies, "series": per_series}


def scan_prometheus(client, query: str, start: float, end: float, step: float, **kwargs) -> dict:
    """scan() over a PromQL range query's series (the client's errors propagate: unreachable is not clean)."""
    found = client.range(query, start, end, step)
    series, labels = {}, {}
    for item in found:
        name = series_name(item.labels)
        series[name] = item.values
        labels[name] = item.labels
    return scan(series, labels=labels, **kwargs)


def scan_checks(client, checks, ring_hosts, since: float, end: float, *, host_label: str = "host") -> dict:
    """The tolerance policy's declared anomaly checks (TolerancePolicy.anomaly_checks) over a ring's bake: each
    metric's query for the ring's hosts (``${selector}``), read from ``history`` before ``since`` to ``end``, and
    reported from ``since`` on. A check whose query fails says ``nodata`` with the error (no data is never
    clean). The verdict: anomalous, else nodata, else clean over all checks; ``none`` when none is declared."""
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.judge.runner import host_selector, render
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.prometheus import PrometheusError, parse_duration

    selector = host_selector(list(ring_hosts), host_label)
    out = []
    for check in checks:
        query = render(check["query"], check["metric"], "canary", selector)
        start = since - parse_duration(check["history"], "history")
        config = detector_config(check["method"], DetectorConfig().warmup, DetectorConfig().quiet)
        item = {k: check[k] for k in ("metric", "method", "threshold", "fails_ring", "history", "step")}
        try:
            result = scan_prometheus(
                client,
                query,
                start,
                end,
                parse_duration(check["step"], "step"),
                threshold=float(check["threshold"]),
                report_from=since,
                config=config,
            )
        except PrometheusError as exc:
            result = {"verdict": NODATA, "reason": f"the query failed: {exc}", "anomalies": [], "series": {}}
        out.append(item | {"query": query} | result)
    verdicts = {c["verdict"] for c in out}
    verdict = "none" if not out else ANOMALOUS if ANOMALOUS in verdicts else NODATA if NODATA in verdicts else CLEAN
    said = {v: [c["metric"] for c in out if c["verdict"] == v] for v in (ANOMALOUS, NODATA, CLEAN)}
    reason = (
        "the policy declares no anomaly check"
        if not out
        else "; ".join(f"{v}: {', '.join(names)}" for v, names in said.items() if names)
    )
    return {"verdict": verdict, "reason": reason, "checks": out}
