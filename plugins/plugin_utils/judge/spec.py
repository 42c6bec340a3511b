# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Metric definitions as users write them (task arguments or a tolerance policy) -> MetricSpec.

Unknown keys are errors: a typo such as ``critcal: true`` must not quietly judge a metric as non-critical.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ansible_collections.changeward.hybrid.plugins.plugin_utils.judge.classify import (
    DEFAULT_ALPHA,
    DEFAULT_MIN_POINTS,
    DEFAULT_RELATIVE_ALLOWANCE,
    Allowance,
    MetricSpec,
)
from ansible_collections.changeward.hybrid.plugins.plugin_utils.judge.errors import JudgeError

SPEC_KEYS = ("name", "direction", "critical", "allowance", "nodata", "weight", "alpha", "min_points")
DATA_KEYS = ("baseline", "canary")
QUERY_KEYS = ("query", "canary_query", "baseline_query")


@dataclass(frozen=True)
class Defaults:
    """Values a metric inherits when it does not set them."""

    alpha: float = DEFAULT_ALPHA
    min_points: int = DEFAULT_MIN_POINTS
    allowance: Allowance = field(default_factory=lambda: Allowance("relative", DEFAULT_RELATIVE_ALLOWANCE))
    nodata: str = "inconclusive"


def _label(raw: Mapping, index: int) -> str:
    name = raw.get("name") if isinstance(raw, Mapping) else None
    return f"metrics[{index}] ({name})" if name else f"metrics[{index}]"


def metric_spec(
    raw: Mapping, index: int, defaults: Defaults | None = None, extra_keys: Sequence[str] = ()
) -> MetricSpec:
    defaults = defaults or Defaults()
    if not isinstance(raw, Mapping):
        raise JudgeError(f"metrics[{index}] must be a mapping, got {type(raw).__name__}")
    where = _label(raw, index)
    unknown = sorted(set(raw) - set(SPEC_KEYS) - set(extra_keys))
    if unknown:
        raise JudgeError(f"{where} has unknown keys: {', '.join(map(str, unknown))}")
    if not raw.get("name"):
        raise JudgeError(f"{where} needs a name")

    def get(key, default):
        value = raw.get(key)
        return default if value is None else value

    allowance = Allowance.from_mapping(raw.get("allowance"), f"{where}.allowance") or defaults.allowance
    try:
        alpha = float(get("alpha", defaults.alpha))
        weight = float(get("weight", 1.0))
    except (TypeError, ValueError):
        raise JudgeError(f"{where}: alpha and weight must be numbers") from None
    min_points = get("min_points", defaults.min_points)
    if isinstance(min_points, str) and min_points.isdigit():
        min_points = int(min_points)
    try:
        return MetricSpec(
            name=str(raw["name"]),
            direction=get("direction", "increase"),
            critical=get("critical", False),
            allowance=allowance,
            nodata=get("nodata", defaults.nodata),
            weight=weight,
            alpha=alpha,
            min_points=min_points,
        )
    except JudgeError as exc:
        raise JudgeError(f"{where}: {exc}") from None
