# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a whole canary judgement: metrics from inline samples or Prometheus range queries -> verdict.

Prometheus queries name the host set through placeholders, filled per side:
  ${selector}  label matchers of the side, e.g. instance=~"(?:web-1)(?::[0-9]+)?"
  ${group}     'canary' or 'baseline'
or a metric gives ``canary_query`` and ``baseline_query`` itself. A query whose canary and baseline forms
are identical is refused: it would compare a host set with itself and always pass.
"""

from __future__ import annotations

import re
import string
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ansible_collections.changeward.hybrid.plugins.module_utils import timeparse
from ansible_collections.changeward.hybrid.plugins.plugin_utils.judge.classify import (
    MetricResult,
    MetricSpec,
    classify,
    nodata_result,
)
from ansible_collections.changeward.hybrid.plugins.plugin_utils.judge.errors import JudgeError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.judge.spec import (
    DATA_KEYS,
    QUERY_KEYS,
    Defaults,
    metric_spec,
)
from ansible_collections.changeward.hybrid.plugins.plugin_utils.judge.verdict import Judgement, aggregate
from ansible_collections.changeward.hybrid.plugins.plugin_utils.prometheus import (
    PrometheusBadQuery,
    PrometheusClient,
    PrometheusEmptyResult,
    PrometheusError,
    parse_duration,
)

DEFAULT_LOOKBACK = "10m"
DEFAULT_STEP = "15s"
SIDES = ("canary", "baseline")


@dataclass(frozen=True)
class Window:
    start: float
    end: float
    step: float

    def as_dict(self) -> dict:
        return {"start": self.start, "end": self.end, "step": self.step}


def parse_time(value, what: str, now: float) -> float:
    """Unix seconds of an instant: ISO 8601 with a UTC offset, unix seconds or 'now' (module_utils.timeparse)."""
    try:
        return timeparse.parse_instant(value, what, now=now)
    except timeparse.TimeFormatError as exc:
        raise JudgeError(str(exc)) from None


def _duration(value, what: str) -> float:
    try:
        return parse_duration(value, what)
    except PrometheusError as exc:
        raise JudgeError(str(exc)) from None


def make_window(start=None, end=None, lookback=None, step=None, now: float | None = None) -> Window:
    now = time.time() if now is None else now
    end_t = parse_time(end if end is not None else "now", "end", now)
    if start is not None and lookback is not None:
        raise JudgeError("give either start or lookback, not both")
    if start is not None:
        start_t = parse_time(start, "start", now)
    else:
        start_t = end_t - _duration(lookback if lookback is not None else DEFAULT_LOOKBACK, "lookback")
    if start_t >= end_t:
        raise JudgeError(f"the window is empty: start {start_t} is not before end {end_t}")
    return Window(start_t, end_t, _duration(step if step is not None else DEFAULT_STEP, "step"))


_RE2_SPECIAL = re.compile(r"([\\.^$|?*+()\[\]{}])")


def host_selector(hosts: Sequence[str], label: str = "instance") -> str:
    """Label matcher for hosts, with or without a :port suffix (Prometheus' instance label usually has one)."""
    if not hosts:
        raise JudgeError("a host list for a selector is empty")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", label or ""):
        raise JudgeError(f"host_label must be a Prometheus label name, got {label!r}")
    alternatives = "|".join(_RE2_SPECIAL.sub(r"\\\1", str(h)) for h in hosts)
    regex = f"(?:{alternatives})(?::[0-9]+)?"
    return f'{label}=~"{regex.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'


def render(template: str, metric: str, side: str, selector: str | None) -> str:
    values = {"group": side}
    if selector is not None:
        values["selector"] = selector
    try:
        return string.Template(template).substitute(values)
    except KeyError as exc:
        hint = " (give canary_selector/baseline_selector or *_hosts)" if exc.args[0] == "selector" else ""
        raise JudgeError(f"metric {metric!r}: query placeholder ${exc.args[0]} has no value{hint}") from None
    except ValueError as exc:
        raise JudgeError(f"metric {metric!r}: query has a bad placeholder ($$ writes a literal $): {exc}") from None


def queries_for(raw: Mapping, name: str, selectors: Mapping) -> dict:
    """{'canary': query, 'baseline': query} of one metric."""
    if raw.get("query") and (raw.get("canary_query") or raw.get("baseline_query")):
        raise JudgeError(f"metric {name!r}: give either query or canary_query and baseline_query, not both")
    if raw.get("query"):
        out = {side: render(raw["query"], name, side, selectors.get(side)) for side in SIDES}
    elif raw.get("canary_query") and raw.get("baseline_query"):
        out = {side: render(raw[f"{side}_query"], name, side, selectors.get(side)) for side in SIDES}
    else:
        raise JudgeError(f"metric {name!r}: give query, or both canary_query and baseline_query")
    if out["canary"] == out["baseline"]:
        raise JudgeError(
            f"metric {name!r}: the canary and baseline queries are identical ({out['canary']!r}); use ${{selector}}"
            " or ${group} so each side reads its own hosts"
        )
    return out


_RANGE = re.compile(r"\[((?:[0-9]+(?:ms|s|m|h|d|w|y))+)(?::[^\]]*)?\]")


def query_step(query: str, step: float) -> float:
    """The step to query at: at least the longest range selector of the query, so that consecutive points
    summarise windows that do not overlap. Overlapping windows share samples, which makes the points
    autocorrelated (an AR(1) of rho 0.8 false-fails ~18 % untreated, measured by the operator project's
    https://github.com/changeward/hybrid/blob/main/bench/judge_power.py); thinning them at
    the source keeps the points the test counts close to independent."""
    ranges = [_duration(m.group(1), "range") for m in _RANGE.finditer(query)]
    return max([step, *ranges])


class PrometheusUnavailable(JudgeError):
    """Prometheus could not be asked; the judgement is inconclusive."""


def judge(
    metrics: Sequence[Mapping],
    *,
    pass_score: float,
    marginal_score: float,
    defaults: Defaults | None = None,
    tightening: Mapping | None = None,
    client: PrometheusClient | Callable[[], PrometheusClient] | None = None,
    window: Window | None = None,
    selectors: Mapping | None = None,
) -> tuple[Judgement, list[dict]]:
    """Judgement and, per metric, where its data came from. Raises PrometheusUnavailable (inconclusive: the
    caller reports it and fails closed), JudgeError for anything misconfigured (bad query included)."""
    if not metrics:
        raise JudgeError("no metrics to judge: give at least one metric")
    rule = {"allowance_factor": 1.0, "all_critical": False, "no_ignore": False, **(tightening or {})}
    plans: list[tuple[MetricSpec, Mapping, dict]] = []
    for i, raw in enumerate(metrics):
        spec = metric_spec(raw, i, defaults, extra_keys=DATA_KEYS + QUERY_KEYS + ("description",)).tightened(
            rule["allowance_factor"], rule["all_critical"], rule["no_ignore"]
        )
        has_data = [k for k in DATA_KEYS if raw.get(k) is not None]
        has_query = [k for k in QUERY_KEYS if raw.get(k)]
        if has_data and has_query:
            raise JudgeError(f"metric {spec.name!r}: give inline samples or queries, not both")
        if has_query:
            source = {"source": "prometheus", "queries": queries_for(raw, spec.name, selectors or {})}
        elif has_data:  # a missing side counts as empty: nodata, handled by the metric's strategy
            source = {"source": "inline"}
        else:
            raise JudgeError(f"metric {spec.name!r}: needs baseline and canary samples, or a query")
        plans.append((spec, raw, source))

    if any(plan[2]["source"] == "prometheus" for plan in plans):
        if client is None:
            raise JudgeError("metrics with queries need prometheus_url")
        if window is None:
            raise JudgeError("metrics with queries need a time window")
        if callable(client) and not isinstance(client, PrometheusClient):
            client = client()

    results: list[MetricResult] = []
    for spec, raw, source in plans:
        if source["source"] == "inline":
            results.append(classify(spec, raw.get("baseline") or [], raw.get("canary") or []))
            continue
        samples, lengths, empty = {}, {}, []
        step = max(query_step(source["queries"][side], window.step) for side in SIDES)
        if step > window.step:
            source["step"] = step
            source["note"] = (
                f"queried at a {step:g}s step instead of {window.step:g}s: the query ranges over {step:g}s, and"
                " points of overlapping windows are correlated"
            )
        for side in SIDES:
            query = source["queries"][side]
            try:
                series = client.range(query, window.start, window.end, step)
            except PrometheusEmptyResult:
                empty.append(side)
                continue
            except PrometheusBadQuery as exc:
                raise JudgeError(f"metric {spec.name!r} ({side}): {exc}: {query}") from None
            except PrometheusError as exc:
                raise PrometheusUnavailable(f"metric {spec.name!r} ({side}): {exc}") from None
            samples[side] = [v for s in series for v in s.floats]
            lengths[side] = [len(s.floats) for s in series]
            source[f"{side}_series"] = len(series)
        if empty:
            results.append(
                nodata_result(spec, f"Prometheus returned no series for the {' and '.join(empty)} query", {})
            )
            continue
        results.append(classify(spec, samples["baseline"], samples["canary"], lengths["baseline"], lengths["canary"]))
    return aggregate(results, pass_score, marginal_score), [plan[2] for plan in plans]
