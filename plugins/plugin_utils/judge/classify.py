# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Classify one metric of a canary against its baseline: pass, high, low or nodata.

A metric fails (high or low, in its bad direction) only when both hold:
  1. the one-sided Mann-Whitney test in the bad direction is significant at ``alpha`` (two-sided for ``either``),
  2. the Hodges-Lehmann shift is larger than the allowed effect (relative to the baseline median, or absolute).
(1) bounds the false-fail rate by alpha whatever the allowance; (2) lets large samples shrug off shifts that are
real but too small to matter. docs/canary-judge.md explains the defaults.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from ansible_collections.changeward.hybrid.plugins.plugin_utils.judge import stats
from ansible_collections.changeward.hybrid.plugins.plugin_utils.judge.errors import JudgeError

DIRECTIONS = ("increase", "decrease", "either")
NODATA_STRATEGIES = ("fail", "inconclusive", "ignore")
CLASSIFICATIONS = ("pass", "high", "low", "nodata")

# Chosen so that, at 50 points per side, an A/A comparison false-fails <= 1 % and a one-noise-sd shift in the
# bad direction is caught with >= 95 % power (the operator project's bench/judge_power.py measures both:
# https://github.com/changeward/hybrid/blob/main/bench/judge_power.py).
DEFAULT_ALPHA = 0.005
DEFAULT_RELATIVE_ALLOWANCE = 0.05
DEFAULT_MIN_POINTS = 10

_ALTERNATIVE = {"increase": "greater", "decrease": "less", "either": "two-sided"}


@dataclass(frozen=True)
class Allowance:
    """How far the canary may move in the bad direction before a significant shift counts as a failure."""

    kind: str  # relative | absolute
    value: float

    def __post_init__(self):
        if self.kind not in ("relative", "absolute"):
            raise JudgeError(f"allowance kind must be relative or absolute, got {self.kind!r}")
        if not (isinstance(self.value, (int, float)) and math.isfinite(self.value) and self.value >= 0):
            raise JudgeError(f"allowance {self.kind} must be a finite number >= 0, got {self.value!r}")

    @classmethod
    def from_mapping(cls, raw: Mapping | None, what: str) -> Allowance | None:
        if raw is None:
            return None
        if not isinstance(raw, Mapping):
            raise JudgeError(f"{what} must be a mapping with 'relative' or 'absolute', got {type(raw).__name__}")
        given = {k: v for k, v in raw.items() if v is not None}
        unknown = sorted(set(given) - {"relative", "absolute"})
        if unknown:
            raise JudgeError(f"{what} has unknown keys: {', '.join(unknown)} (use relative or absolute)")
        if len(given) != 1:
            raise JudgeError(f"{what} needs exactly one of relative or absolute, got {sorted(given) or 'neither'}")
        ((kind, value),) = given.items()
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise JudgeError(f"{what}.{kind} is not a number: {value!r}") from None
        try:
            return cls(kind, value)
        except JudgeError as exc:
            raise JudgeError(f"{what}: {exc}") from None

    def scaled(self, factor: float) -> Allowance:
        return Allowance(self.kind, self.value * factor)

    def absolute_for(self, baseline_median: float) -> float:
        return self.value * abs(baseline_median) if self.kind == "relative" else self.value

    def as_dict(self) -> dict:
        return {self.kind: self.value}


@dataclass(frozen=True)
class MetricSpec:
    name: str
    direction: str = "increase"
    critical: bool = False
    allowance: Allowance = field(default_factory=lambda: Allowance("relative", DEFAULT_RELATIVE_ALLOWANCE))
    nodata: str = "inconclusive"
    weight: float = 1.0
    alpha: float = DEFAULT_ALPHA
    min_points: int = DEFAULT_MIN_POINTS

    def __post_init__(self):
        where = f"metric {self.name!r}"
        if not isinstance(self.name, str) or not self.name.strip():
            raise JudgeError(f"a metric needs a non-empty name, got {self.name!r}")
        if self.direction not in DIRECTIONS:
            raise JudgeError(f"{where}: direction must be one of {', '.join(DIRECTIONS)}, got {self.direction!r}")
        if self.nodata not in NODATA_STRATEGIES:
            raise JudgeError(f"{where}: nodata must be one of {', '.join(NODATA_STRATEGIES)}, got {self.nodata!r}")
        if not isinstance(self.critical, bool):
            raise JudgeError(f"{where}: critical must be true or false, got {self.critical!r}")
        if not (isinstance(self.weight, (int, float)) and math.isfinite(self.weight) and self.weight > 0):
            raise JudgeError(f"{where}: weight must be a number > 0, got {self.weight!r}")
        if not (isinstance(self.alpha, float) and 0.0 < self.alpha < 0.5):
            raise JudgeError(f"{where}: alpha must lie strictly between 0 and 0.5, got {self.alpha!r}")
        if isinstance(self.min_points, bool) or not isinstance(self.min_points, int) or self.min_points < 2:
            raise JudgeError(f"{where}: min_points must be an integer >= 2, got {self.min_points!r}")
        if not isinstance(self.allowance, Allowance):
            raise JudgeError(f"{where}: allowance must be an Allowance")

    def tightened(self, allowance_factor: float, all_critical: bool = False, no_ignore: bool = False) -> MetricSpec:
        return replace(
            self,
            allowance=self.allowance.scaled(allowance_factor),
            critical=self.critical or all_critical,
            nodata="inconclusive" if no_ignore and self.nodata == "ignore" else self.nodata,
        )


@dataclass
class MetricResult:
    name: str
    classification: str
    reason: str
    critical: bool
    nodata: str
    weight: float
    direction: str
    evidence: dict

    @property
    def failed(self) -> bool:
        return self.classification in ("high", "low")

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "classification": self.classification,
            "reason": self.reason,
            "critical": self.critical,
            "direction": self.direction,
            "nodata_strategy": self.nodata,
            "weight": self.weight,
            "evidence": dict(self.evidence),
        }


def nodata_result(spec: MetricSpec, reason: str, evidence: Mapping | None = None) -> MetricResult:
    return MetricResult(
        spec.name, "nodata", reason, spec.critical, spec.nodata, spec.weight, spec.direction, dict(evidence or {})
    )


def _num(x: float | None) -> float | None:
    """JSON-safe float: None for NaN/Inf (results travel through Ansible as JSON)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _direction_of(shift: float) -> str:
    return "high" if shift > 0 else "low"


def classify(
    spec: MetricSpec,
    baseline: Iterable,
    canary: Iterable,
    baseline_lengths: Iterable[int] | None = None,
    canary_lengths: Iterable[int] | None = None,
) -> MetricResult:
    """Classify ``canary`` against ``baseline`` for one metric (see module doc for the rule).

    Each side is one time series in order, or several back to back (``*_lengths``, e.g. one per host):
    autocorrelation is measured within a series, never across the seam between two.
    """
    b = stats.clean(baseline, f"metric {spec.name!r} baseline", baseline_lengths)
    c = stats.clean(canary, f"metric {spec.name!r} canary", canary_lengths)
    np = stats.np
    evidence: dict = {
        "baseline_count": b.count,
        "canary_count": c.count,
        "baseline_nan": b.nan,
        "canary_nan": c.nan,
        "baseline_inf": b.inf,
        "canary_inf": c.inf,
    }
    empty = [side for side, s in (("baseline", b), ("canary", c)) if s.count == 0]
    if empty:
        dropped = [f"{side}: {s.nan} NaN, {s.inf} Inf dropped" for side, s in (("baseline", b), ("canary", c))]
        what = "all values were NaN/Inf" if any(s.nan or s.inf for s in (b, c)) else "no values"
        return nodata_result(spec, f"{' and '.join(empty)} has no usable data ({what}; {'; '.join(dropped)})", evidence)
    short = [f"{side} {s.count}" for side, s in (("baseline", b), ("canary", c)) if s.count < spec.min_points]
    if short:
        return nodata_result(
            spec, f"too few points ({', '.join(short)} < min_points {spec.min_points}) to judge", evidence
        )
    alternative = _ALTERNATIVE[spec.direction]
    floor_p = stats.min_attainable_p(c.count, b.count, alternative)
    if floor_p >= spec.alpha:
        return nodata_result(
            spec,
            f"{c.count} canary and {b.count} baseline points can never reach significance at alpha {spec.alpha}"
            f" (smallest possible p-value {floor_p:.3g}); collect more points",
            evidence,
        )

    b_median, c_median = float(np.median(b.values)), float(np.median(c.values))
    allowed = spec.allowance.absolute_for(b_median)
    evidence.update(
        baseline_median=b_median,
        canary_median=c_median,
        allowance=spec.allowance.as_dict(),
        allowed_shift=allowed,
        alpha=spec.alpha,
        alternative=alternative,
    )

    b_const = bool(np.all(b.values == b.values[0]))
    c_const = bool(np.all(c.values == c.values[0]))
    if b_const and c_const:
        # Zero variance on both sides: the shift is known exactly and no test is needed (or possible).
        shift = float(c.values[0] - b.values[0])
        evidence.update(method="constant", shift=shift, ci_low=shift, ci_high=shift, ci_level=1.0)
        evidence.update(u_statistic=None, p_value=None, relative_shift=_num(shift / b_median) if b_median else None)
        if shift == 0:
            return _result(spec, "pass", f"both series are the constant {b.values[0]:g}", evidence)
        return _decide(spec, shift, allowed, significant=True, evidence=evidence)

    # Points close in time are correlated (overlapping rate() windows, slow load swings): the test would take
    # them for more evidence than they are. The lag-1 autocorrelation of each side's ranks gives U's variance
    # inflation; the test and the interval use it, and a sample that is effectively too small is nodata.
    # One estimate from both sides' series (each centred on its own mean, so a shift does not count): under the
    # null hypothesis both come from the same process, and pooling halves the noise of the estimate, which
    # would otherwise cost power on independent points.
    ranks = stats.sps.rankdata(np.concatenate([c.values, b.values]))
    rho = stats.lag1_autocorrelation(ranks, c.segments + b.segments)
    inflation = stats.variance_inflation(rho)
    n_eff, m_eff = max(1, int(c.count / inflation)), max(1, int(b.count / inflation))
    evidence.update(
        autocorrelation=rho,
        variance_inflation=inflation,
        effective_counts={"canary": n_eff, "baseline": m_eff},
    )
    if inflation > 1.0 and stats.min_attainable_p(n_eff, m_eff, alternative) >= spec.alpha:
        return nodata_result(
            spec,
            f"the points are autocorrelated (lag-1 {rho:.2f}): they weigh as {n_eff} canary and {m_eff} baseline"
            f" independent points, too few ever to reach alpha {spec.alpha}; use a step at least as long as the"
            " query's rate window, or a longer window",
            evidence,
        )
    if inflation > 1.0:
        u, p = stats.mann_whitney_inflated(c.values, b.values, alternative, inflation)
    else:
        u, p = stats.mann_whitney(c.values, b.values, alternative)
    ci_level = 1.0 - (spec.alpha if alternative == "two-sided" else 2.0 * spec.alpha)
    shift, lo, hi = stats.hodges_lehmann(c.values, b.values, ci_level, inflation)
    evidence.update(
        method="mann-whitney",
        autocorrelation_adjusted=inflation > 1.0,
        u_statistic=u,
        p_value=_num(p),
        shift=shift,
        ci_low=lo,
        ci_high=hi,
        ci_level=ci_level,
        relative_shift=_num(shift / b_median) if b_median else None,
    )
    return _decide(spec, shift, allowed, significant=p < spec.alpha, evidence=evidence, p=p)


def _result(spec: MetricSpec, classification: str, reason: str, evidence: dict) -> MetricResult:
    return MetricResult(
        spec.name, classification, reason, spec.critical, spec.nodata, spec.weight, spec.direction, evidence
    )


def _decide(spec, shift, allowed, significant, evidence, p=None) -> MetricResult:
    bad = {"increase": shift > 0, "decrease": shift < 0, "either": shift != 0}[spec.direction]
    beyond = abs(shift) > allowed
    test = "exact (constant series)" if p is None else f"p={p:.3g} vs alpha {spec.alpha}"
    if bad and significant and beyond:
        return _result(
            spec,
            _direction_of(shift),
            f"shift {shift:+.4g} is beyond the allowed {allowed:.4g} in the bad direction ({test})",
            evidence,
        )
    if not bad and shift != 0 and significant and beyond:
        reason = f"shift {shift:+.4g} is in the good direction for direction={spec.direction} ({test})"
    elif not significant:
        reason = f"no significant shift in the bad direction ({test}; shift {shift:+.4g})"
    else:
        reason = f"shift {shift:+.4g} is within the allowed {allowed:.4g} ({test})"
    return _result(spec, "pass", reason, evidence)
