# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Error budget and multi-window burn rates, per the Google SRE workbook ("Alerting on SLOs", approach 6).

burn rate over a window  = error ratio over that window / (1 - objective)
a window pair fires      when both its long and its short window burn faster than the pair's factor
remaining budget         = 1 - (error ratio over the SLO period / (1 - objective))   (below 0: overspent)

Every ratio must be a finite number in [0, 1]: an empty or NaN answer (no traffic, wrong query) stops the
evaluation with an error naming the window; it is never read as zero errors.
"""

from __future__ import annotations

import math
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import ChangewardError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.prometheus import (
    PrometheusClient,
    PrometheusError,
    format_duration,
    parse_duration,
)

# (long window, short window, burn-rate factor): the workbook's page/page/ticket thresholds for a 30d SLO.
DEFAULT_WINDOWS = (("1h", "5m", 14.4), ("6h", "30m", 6.0), ("3d", "6h", 1.0))
DEFAULT_PERIOD = "30d"


class BudgetError(ChangewardError, ValueError):
    """The error budget cannot be evaluated as asked; the message names what is wrong."""


@dataclass(frozen=True)
class BurnWindow:
    long: str
    short: str
    factor: float

    @classmethod
    def parse(cls, raw, index: int) -> BurnWindow:
        where = f"windows[{index}]"
        if isinstance(raw, Mapping):
            unknown = sorted(set(raw) - {"long", "short", "factor"})
            if unknown:
                raise BudgetError(f"{where} has unknown keys: {', '.join(map(str, unknown))}")
            values = (raw.get("long"), raw.get("short"), raw.get("factor"))
        elif isinstance(raw, (list, tuple)) and len(raw) == 3:
            values = tuple(raw)
        else:
            raise BudgetError(f"{where} must be {{long, short, factor}}, got {raw!r}")
        long_, short, factor = values
        if long_ is None or short is None or factor is None:
            raise BudgetError(f"{where} needs long, short and factor")
        try:
            long_s, short_s = _seconds(long_, f"{where}.long"), _seconds(short, f"{where}.short")
            factor = float(factor)
        except (TypeError, ValueError) as exc:
            raise BudgetError(f"{where}: {exc}") from None
        if not (math.isfinite(factor) and factor > 0):
            raise BudgetError(f"{where}.factor must be a number > 0, got {factor!r}")
        if short_s >= long_s:
            raise BudgetError(f"{where}: the short window ({short}) must be shorter than the long one ({long_})")
        return cls(format_duration(long_s), format_duration(short_s), factor)


def _seconds(value, what: str) -> float:
    try:
        return parse_duration(value, what)
    except PrometheusError as exc:
        raise BudgetError(str(exc)) from None


def parse_windows(raw: Iterable | None) -> list[BurnWindow]:
    raw = DEFAULT_WINDOWS if raw is None else list(raw)
    if not raw:
        raise BudgetError("windows must list at least one {long, short, factor}")
    return [BurnWindow.parse(w, i) for i, w in enumerate(raw)]


def check_objective(objective) -> float:
    try:
        objective = float(objective)
    except (TypeError, ValueError):
        raise BudgetError(f"objective must be a number such as 0.999, got {objective!r}") from None
    if not 0.0 < objective < 1.0:
        raise BudgetError(f"objective must lie strictly between 0 and 1 (e.g. 0.999 for 99.9 %), got {objective}")
    return objective


def check_ratio(value, window: str) -> float:
    try:
        ratio = float(value)
    except (TypeError, ValueError):
        raise BudgetError(f"error ratio over {window} is not a number: {value!r}") from None
    if math.isnan(ratio):
        raise BudgetError(f"error ratio over {window} is NaN (no traffic in the window, or 0/0 in the query)")
    if not 0.0 <= ratio <= 1.0:
        raise BudgetError(f"error ratio over {window} is {ratio}, outside [0, 1]: the query must return a ratio")
    return ratio


@dataclass
class BudgetReport:
    objective: float
    period: str
    error_ratios: dict
    burn_rates: dict
    windows: list
    remaining_budget: float
    budget_spent: bool
    burning: bool
    decision: str
    exempt: bool
    reasons: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "objective": self.objective,
            "period": self.period,
            "error_ratios": dict(self.error_ratios),
            "burn_rates": dict(self.burn_rates),
            "windows": [dict(w) for w in self.windows],
            "remaining_budget": self.remaining_budget,
            "budget_spent": self.budget_spent,
            "burning": self.burning,
            "decision": self.decision,
            "exempt": self.exempt,
            "reasons": list(self.reasons),
        }


def needed_windows(period: str, windows: Iterable[BurnWindow]) -> list[str]:
    """Every window whose error ratio the evaluation needs, the SLO period first."""
    out = [period]
    for w in windows:
        out += [d for d in (w.long, w.short) if d not in out]
    return out


def evaluate(
    objective,
    ratios: Mapping,
    period: str = DEFAULT_PERIOD,
    windows: Iterable | None = None,
    change_type: str | None = None,
    exempt_change_types: Iterable[str] = (),
    refuse_on_burn: bool = False,
) -> BudgetReport:
    """Burn rates, remaining budget and the decision (allow | refuse) from error ratios keyed by window."""
    objective = check_objective(objective)
    period = format_duration(_seconds(period, "period"))
    windows = [w if isinstance(w, BurnWindow) else BurnWindow.parse(w, i) for i, w in enumerate(windows or [])] or (
        parse_windows(None)
    )
    by_window = {}
    for key, value in (ratios or {}).items():
        by_window[format_duration(_seconds(key, f"error ratio window {key!r}"))] = value
    missing = [w for w in needed_windows(period, windows) if w not in by_window]
    if missing:
        raise BudgetError(f"no error ratio for window(s) {', '.join(missing)}: every window needs one")
    checked = {w: check_ratio(by_window[w], w) for w in needed_windows(period, windows)}
    # 1 - 0.999 in binary floats is 0.0010000000000000009; in decimal it is the 0.001 people mean, so a ratio
    # of exactly 0.001 burns at exactly 1x.
    budget = float(Decimal(1) - Decimal(repr(objective)))
    burn = {w: r / budget for w, r in checked.items()}
    rows = []
    for w in windows:
        firing = burn[w.long] > w.factor and burn[w.short] > w.factor
        rows.append(
            {
                "long": w.long,
                "short": w.short,
                "factor": w.factor,
                "long_burn_rate": burn[w.long],
                "short_burn_rate": burn[w.short],
                "firing": firing,
            }
        )
    remaining = 1.0 - burn[period]
    spent = remaining <= 0.0
    burning = any(r["firing"] for r in rows)
    exempt_set = {str(t) for t in exempt_change_types or ()}
    exempt = change_type is not None and str(change_type) in exempt_set

    reasons = [f"remaining error budget over {period}: {remaining:.1%} (objective {objective})"]
    reasons += [
        f"burn rate {r['long_burn_rate']:.2f}x over {r['long']} and {r['short_burn_rate']:.2f}x over {r['short']}"
        f" exceed {r['factor']}x"
        for r in rows
        if r["firing"]
    ]
    blocked = spent or (refuse_on_burn and burning)
    if blocked and exempt:
        decision = "allow"
        reasons.append(f"change type {change_type!r} is exempt from the error budget by policy")
    elif blocked:
        decision = "refuse"
        reasons.append("error budget spent: change refused" if spent else "error budget burning: change refused")
    else:
        decision = "allow"
    return BudgetReport(objective, period, checked, burn, rows, remaining, spent, burning, decision, exempt, reasons)


def render_query(template: str, window: str) -> str:
    """The error-ratio query for one window: ``${window}`` (or ``$window``) becomes e.g. ``5m``."""
    try:
        return string.Template(template).substitute(window=window)
    except KeyError as exc:
        raise BudgetError(f"error ratio query has an unknown placeholder ${exc.args[0]} (only $window)") from None
    except ValueError as exc:
        raise BudgetError(f"error ratio query has a bad placeholder: {exc}") from None


def collect_ratios(client: PrometheusClient, template: str, windows: Iterable[str], at: float | None = None) -> dict:
    """Error ratio per window from instant queries; Prometheus errors propagate (the caller fails closed)."""
    if "$" not in template:
        raise BudgetError("error ratio query needs a ${window} placeholder, otherwise every window reads the same")
    ratios = {}
    for window in windows:
        series = client.instant(render_query(template, window), at=at)
        if len(series) != 1:
            raise BudgetError(
                f"error ratio query over {window} returned {len(series)} series; aggregate it to one, e.g. sum(...)"
            )
        ratios[window] = series[0].values[-1][1]
    return ratios
