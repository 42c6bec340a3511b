# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Two-sample statistics for the canary judge.

The Mann-Whitney U test compares ranks, so a few wild outliers move the result by a few ranks only, and the
Hodges-Lehmann estimate (median of all canary-minus-baseline differences) is the matching robust measure of
the shift, with a distribution-free confidence interval from order statistics of those differences.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from ansible_collections.changeward.hybrid.plugins.plugin_utils.judge.errors import JudgeError, MissingLibraryError

try:
    import numpy as np
    from scipy import stats as sps
except ImportError as exc:  # ansible-test's import check has no scipy; callers get a clear error instead
    np = None
    sps = None
    _IMPORT_ERROR: ImportError | None = exc
else:
    _IMPORT_ERROR = None

# Above this many pairwise differences the k-th difference is found by bisection instead of materialising them
# (4e6 float64 = 32 MB).
EXACT_PAIRS_LIMIT = 4_000_000

ALTERNATIVES = ("greater", "less", "two-sided")


def require_numerics() -> None:
    if _IMPORT_ERROR is not None:
        raise MissingLibraryError(
            f"the canary judge needs numpy and scipy on the controller (pip install numpy scipy): {_IMPORT_ERROR}"
        )


@dataclass(frozen=True)
class CleanSample:
    values: object  # numpy array of finite floats
    nan: int  # NaN and null values dropped
    inf: int  # +/-Inf values dropped
    segments: tuple = ()  # lengths of the time series the values came from, in order (after dropping)

    @property
    def count(self) -> int:
        return int(self.values.size)


def clean(values: Iterable, what: str, lengths: Iterable[int] | None = None) -> CleanSample:
    """Finite floats of ``values``; NaN/null and infinities are dropped and counted, anything else is an error.

    ``lengths`` splits ``values`` into the consecutive time series they came from (one series if not given).
    """
    require_numerics()
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise JudgeError(f"{what} must be a list of numbers, got {type(values).__name__}")
    values = list(values)
    lengths = [len(values)] if lengths is None else [int(x) for x in lengths]
    if sum(lengths) != len(values) or any(x < 0 for x in lengths):
        raise JudgeError(f"{what}: series lengths {lengths} do not add up to its {len(values)} values")
    ends, total = set(), 0
    for x in lengths:
        total += x
        ends.add(total)
    finite, nan, inf, segments, run = [], 0, 0, [], 0
    for i, raw in enumerate(values):
        if i in ends and run:
            segments.append(run)
            run = 0
        if raw is None:
            nan += 1
            continue
        if isinstance(raw, bool):
            raise JudgeError(f"{what}[{i}] is a boolean, expected a number")
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise JudgeError(f"{what}[{i}] is not a number: {raw!r}") from None
        if math.isnan(value):
            nan += 1
        elif math.isinf(value):
            inf += 1
        else:
            finite.append(value)
            run += 1
    if run:
        segments.append(run)
    return CleanSample(np.asarray(finite, dtype=float), nan, inf, tuple(segments))


# Above this lag-1 autocorrelation the series is close to a random walk and the correction is capped.
MAX_AUTOCORRELATION = 0.95


def lag1_autocorrelation(values, segments: Iterable[int] = ()) -> float:
    """Lag-1 autocorrelation of ``values`` pooled over its series (each centred on its own mean), corrected for
    the downward bias of short series (E[r] ~ rho - (1 + 4 rho) / n, Marriott & Pope 1954) and clipped to
    [0, MAX_AUTOCORRELATION]: a negative estimate never makes the test more liberal."""
    require_numerics()
    values = np.asarray(values, dtype=float)
    segments = list(segments) or [values.size]
    num = den = 0.0
    used, start = [], 0
    for length in segments:
        seg = values[start : start + length]
        start += length
        if seg.size < 3:
            continue
        d = seg - seg.mean()
        num += float(np.dot(d[:-1], d[1:]))
        den += float(np.dot(d, d))
        used.append(seg.size)
    if not used or den <= 0.0:
        return 0.0
    r = num / den
    r += (1.0 + 4.0 * r) / (sum(used) / len(used))
    return min(max(r, 0.0), MAX_AUTOCORRELATION)


def variance_inflation(rho: float) -> float:
    """Factor by which AR(1)-like correlation of lag-1 ``rho`` inflates the variance of a sum of ranks."""
    return (1.0 + rho) / (1.0 - rho)


def mann_whitney_inflated(canary, baseline, alternative: str, inflation: float) -> tuple[float, float]:
    """U statistic and the normal-approximation p-value with U's variance multiplied by ``inflation``."""
    require_numerics()
    if alternative not in ALTERNATIVES:
        raise JudgeError(f"alternative must be one of {', '.join(ALTERNATIVES)}, got {alternative!r}")
    n, m = canary.size, baseline.size
    u = float(sps.mannwhitneyu(canary, baseline, alternative=alternative).statistic)
    sd = _tie_corrected_sd(canary, baseline) * math.sqrt(inflation)
    if sd == 0.0:
        return u, 1.0
    centred = u - n * m / 2.0
    if alternative == "greater":
        p = float(sps.norm.sf((centred - 0.5) / sd))
    elif alternative == "less":
        p = float(sps.norm.cdf((centred + 0.5) / sd))
    else:
        p = min(1.0, 2.0 * float(sps.norm.sf((abs(centred) - 0.5) / sd)))
    return u, p


def min_attainable_p(n: int, m: int, alternative: str) -> float:
    """Smallest p-value Mann-Whitney can give for sizes n, m (no ties): one arrangement out of C(n+m, n)."""
    log_comb = math.lgamma(n + m + 1) - math.lgamma(n + 1) - math.lgamma(m + 1)
    p = math.exp(-log_comb)  # C(n+m, n) overflows a float from ~1000 points per side
    return min(1.0, 2 * p) if alternative == "two-sided" else p


def mann_whitney(canary, baseline, alternative: str) -> tuple[float, float]:
    """U statistic of the canary sample and the p-value; 'greater' means canary tends to be larger."""
    require_numerics()
    if alternative not in ALTERNATIVES:
        raise JudgeError(f"alternative must be one of {', '.join(ALTERNATIVES)}, got {alternative!r}")
    res = sps.mannwhitneyu(canary, baseline, alternative=alternative)
    return float(res.statistic), float(res.pvalue)


def _tie_corrected_sd(canary, baseline) -> float:
    n, m = canary.size, baseline.size
    counts = np.unique(np.concatenate([canary, baseline]), return_counts=True)[1]
    ties = float(np.sum(counts.astype(float) ** 3 - counts))
    total = n + m
    return math.sqrt(n * m / 12.0 * ((total + 1) - ties / (total * (total - 1))))


def _kth_pairwise_bisect(c_sorted, b_sorted, k: int) -> float:
    """k-th smallest (0-based) of c_i - b_j without materialising the n*m differences."""
    n_pairs = c_sorted.size * b_sorted.size

    def count_le(x: float) -> int:
        # c_i - b_j <= x  <=>  b_j >= c_i - x
        return n_pairs - int(np.searchsorted(b_sorted, c_sorted - x, side="left").sum())

    lo = float(c_sorted[0] - b_sorted[-1])
    hi = float(c_sorted[-1] - b_sorted[0])
    if count_le(lo) >= k + 1:
        return lo
    # invariant: count_le(lo) < k+1 <= count_le(hi); stop when the two are adjacent floats
    for _iteration in range(2000):
        mid = lo + (hi - lo) / 2.0
        if mid in (lo, hi):
            break
        if count_le(mid) >= k + 1:
            hi = mid
        else:
            lo = mid
    return hi


def _kth_values(canary, baseline, ks: list[int]) -> list[float]:
    n_pairs = canary.size * baseline.size
    if n_pairs <= EXACT_PAIRS_LIMIT:
        diffs = np.subtract.outer(canary, baseline).ravel()
        part = np.partition(diffs, sorted(set(ks)))
        return [float(part[k]) for k in ks]
    c_sorted, b_sorted = np.sort(canary), np.sort(baseline)
    return [_kth_pairwise_bisect(c_sorted, b_sorted, k) for k in ks]


def hodges_lehmann(canary, baseline, confidence: float, inflation: float = 1.0) -> tuple[float, float, float]:
    """(shift estimate, lower, upper): canary minus baseline, two-sided interval at ``confidence``.

    Interval bounds are order statistics of the pairwise differences at the normal approximation of U's
    distribution, with the tie correction (Hollander & Wolfe, ch. 4); exact enough from ~10 points per side.
    ``inflation`` widens it for autocorrelated points (U's variance times that factor).
    """
    require_numerics()
    if not 0.0 < confidence < 1.0:
        raise JudgeError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    n, m = canary.size, baseline.size
    if n == 0 or m == 0:
        raise JudgeError("hodges_lehmann needs at least one value on each side")
    n_pairs = n * m
    z = float(sps.norm.ppf(0.5 + confidence / 2.0))
    if not (math.isfinite(inflation) and inflation >= 1.0):
        raise JudgeError(f"inflation must be a finite number >= 1, got {inflation}")
    k = math.floor(n_pairs / 2.0 - z * _tie_corrected_sd(canary, baseline) * math.sqrt(inflation))
    k = min(max(k, 0), (n_pairs - 1) // 2)
    mid_lo, mid_hi = (n_pairs - 1) // 2, n_pairs // 2
    lower, upper, a, b = _kth_values(canary, baseline, [k, n_pairs - 1 - k, mid_lo, mid_hi])
    return (a + b) / 2.0, lower, upper
