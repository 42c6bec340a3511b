# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a team learns from its ledger: how well the risk model predicted outcomes, and failure patterns another
team can use.

**Calibration.** Every scored change keeps the model's estimate of its failure probability (the history
factor's ``failure_rate``: the Beta posterior over similar changes, risk.py) and its class. Over the closed
changes of a period, the Brier score compares those estimates with what happened (a failed or rolled-back
change is 1, successful with issues 0.5, successful 0; an aborted change never ran and says nothing), against
the Brier score of always predicting the period's base rate (the skill score). Reliability is shown per risk
class and per band of the estimate: how many changes, the mean estimate, the observed failure rate and its 90 %
Jeffreys interval (scipy) - an estimate outside the interval is miscalibrated, and a higher class that fails
less often than a lower one is named.

**Failure patterns.** The anonymised export keeps, per pattern, only coarse labels - the system class (change
kind and environment types), the change kind, the risk class and host labels of the targets that are classes,
not names (env_type, provider, data_class, rollback_capability, criticality) - and counts (changes, failures,
outcomes). No host, person, service name, change id, time or free text. It is k-anonymous over those labels:
a pattern of fewer than k changes is generalised (its most specific labels dropped, then its risk class) and
merged with the like; what still has fewer than k changes is suppressed and only counted. Another team's risk
score imports such a file as history of similar changes at half the weight of its own (``add_imported``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping

from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import ChangewardError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.risk import OUTCOME_FAILURE, SIMILARITY

PATTERN_FORMAT = "changeward.failure-patterns/v1"
# Labels that are classes of hosts, not names; the most specific first (generalised away first).
PATTERN_LABELS = ("criticality", "provider", "rollback_capability", "data_class", "env_type")
BANDS = (0.0, 0.05, 0.1, 0.2, 0.35, 0.5, 1.0000001)
CLASS_ORDER = ("low", "medium", "high", "critical")
IMPORTED = "imported"
IMPORTED_WEIGHT = SIMILARITY["system_class"]  # another team's changes count like our same-class ones
CONFIDENCE = 0.90
PATTERN_KEYS = {"system_class", "change_kind", "level", "labels", "changes", "failures", "outcomes"}


class LearningError(ChangewardError, ValueError):
    """A report that cannot be built, or a pattern file that cannot be imported (names what is wrong)."""


def scored_outcomes(records: Iterable) -> list:
    """(estimate, outcome value, risk class, change kind) of every closed, scored change whose outcome counts."""
    out = []
    for record in sorted(records, key=lambda r: r.get("id") or ""):
        failure = OUTCOME_FAILURE.get(record.get("outcome"))
        risk = record.get("risk") if isinstance(record.get("risk"), Mapping) else {}
        rate = risk.get("failure_rate")
        if record.get("status") != "closed" or failure is None or not isinstance(rate, (int, float)):
            continue
        out.append((float(rate), failure, risk.get("level") or "unknown", risk.get("change_kind")))
    return out


def jeffreys(failures: float, n: float, confidence: float = CONFIDENCE) -> tuple:
    """The Jeffreys interval of a failure rate (Beta(1/2, 1/2) prior), as (low, high)."""
    from scipy.stats import beta

    tail = (1 - confidence) / 2
    low = 0.0 if failures <= 0 else float(beta.ppf(tail, failures + 0.5, n - failures + 0.5))
    high = 1.0 if failures >= n else float(beta.ppf(1 - tail, failures + 0.5, n - failures + 0.5))
    return round(low, 4), round(high, 4)


def _group(rows: list) -> dict:
    n = len(rows)
    mean_p = sum(r[0] for r in rows) / n
    failures = sum(r[1] for r in rows)
    low, high = jeffreys(failures, n)
    return {
        "changes": n,
        "mean_estimate": round(mean_p, 4),
        "observed_rate": round(failures / n, 4),
        "interval": [low, high],
        "calibrated": low <= mean_p <= high,
        "brier": round(sum((r[0] - r[1]) ** 2 for r in rows) / n, 4),
    }


def calibration(records: Iterable) -> dict:
    """The calibration report of the risk model over closed, scored changes (see the module doc)."""
    rows = scored_outcomes(records)
    if not rows:
        raise LearningError(
            "no closed change with a risk score and an outcome that counts in this range: nothing to calibrate "
            "against (a calibration of no data is not a pass)"
        )
    n = len(rows)
    brier = sum((p - y) ** 2 for p, y, _c, _k in rows) / n
    base = sum(y for _p, y, _c, _k in rows) / n
    reference = sum((base - y) ** 2 for _p, y, _c, _k in rows) / n
    by_class = {}
    for cls in sorted({r[2] for r in rows}, key=lambda c: (*CLASS_ORDER, c).index(c)):
        by_class[cls] = _group([r for r in rows if r[2] == cls])
    bands = []
    for low, high in itertools.pairwise(BANDS):
        inside = [r for r in rows if low <= r[0] < high]
        if inside:
            bands.append({"band": [low, round(min(high, 1.0), 2)], **_group(inside)})
    findings = [
        f"{cls}: estimated {g['mean_estimate']:.1%}, observed {g['observed_rate']:.1%} "
        f"({g['changes']} changes, {CONFIDENCE:.0%} interval {g['interval'][0]:.1%}-{g['interval'][1]:.1%})"
        for cls, g in by_class.items()
        if not g["calibrated"]
    ]
    ordered = [c for c in CLASS_ORDER if c in by_class]
    for lower, higher in itertools.pairwise(ordered):
        if by_class[higher]["observed_rate"] < by_class[lower]["observed_rate"]:
            findings.append(f"{higher} changes failed less often than {lower} ones: the classes do not rank risk")
    return {
        "changes": n,
        "brier": round(brier, 4),
        "base_rate": round(base, 4),
        "reference_brier": round(reference, 4),
        "skill": None if reference == 0 else round(1 - brier / reference, 4),
        "by_class": by_class,
        "bands": bands,
        "findings": findings,
    }


# -- failure patterns -------------------------------------------------------------------------------------------
def _labels_of(record: Mapping, host_labels: Mapping) -> dict:
    """The pattern labels of a change's targets: per label, the sorted values its targets carry, joined by +."""
    out = {}
    for label in PATTERN_LABELS:
        values = set()
        for target in record.get("targets") or ():
            value = (host_labels.get(target) or {}).get(label)
            if value not in (None, ""):
                values.update(str(v) for v in (value if isinstance(value, (list, tuple)) else [value]))
        if values:
            out[label] = "+".join(sorted(values))
    return out


def failure_patterns(records: Iterable, host_labels: Mapping, k: int) -> dict:
    """The k-anonymous failure patterns of closed, scored changes (see the module doc)."""
    if not isinstance(k, int) or k < 2:
        raise LearningError(f"k must be an integer of at least 2, got {k!r}")
    groups = {}
    for record in records:
        failure = OUTCOME_FAILURE.get(record.get("outcome"))
        risk = record.get("risk") if isinstance(record.get("risk"), Mapping) else {}
        if record.get("status") != "closed" or failure is None or not risk.get("system_class"):
            continue
        key = (
            str(risk["system_class"]),
            str(risk.get("change_kind") or ""),
            str(risk.get("level") or ""),
            tuple(sorted(_labels_of(record, host_labels).items())),
        )
        group = groups.setdefault(key, {"changes": 0, "failures": 0.0, "outcomes": {}})
        group["changes"] += 1
        group["failures"] += failure
        group["outcomes"][record["outcome"]] = group["outcomes"].get(record["outcome"], 0) + 1
    # generalise: drop the most specific label of every small group (then the risk class), merging the like
    steps = [*PATTERN_LABELS, "level"]
    for step in steps:
        small = {key for key, g in groups.items() if g["changes"] < k}
        if not small:
            break
        merged = {key: g for key, g in groups.items() if key not in small}
        for key in small:
            system_class, kind, level, labels = key
            if step == "level":
                level = "*"
            else:
                labels = tuple((name, value) for name, value in labels if name != step)
            into = merged.setdefault(
                (system_class, kind, level, labels), {"changes": 0, "failures": 0.0, "outcomes": {}}
            )
            into["changes"] += groups[key]["changes"]
            into["failures"] += groups[key]["failures"]
            for outcome, count in groups[key]["outcomes"].items():
                into["outcomes"][outcome] = into["outcomes"].get(outcome, 0) + count
        groups = merged
    patterns, suppressed = [], 0
    for (system_class, kind, level, labels), g in sorted(groups.items()):
        if g["changes"] < k:
            suppressed += g["changes"]
            continue
        patterns.append(
            {
                "system_class": system_class,
                "change_kind": kind,
                "level": level,
                "labels": dict(labels),
                "changes": g["changes"],
                "failures": round(g["failures"], 4),
                "outcomes": dict(sorted(g["outcomes"].items())),
            }
        )
    return {"format": PATTERN_FORMAT, "k": k, "patterns": patterns, "suppressed_changes": suppressed}


def validate_patterns(doc) -> list:
    """The patterns of an imported file, checked: only counts and class labels, each pattern of at least k."""
    if not isinstance(doc, Mapping) or doc.get("format") != PATTERN_FORMAT:
        raise LearningError(f"not a failure pattern export (format {PATTERN_FORMAT})")
    k = doc.get("k")
    if not isinstance(k, int) or k < 2:
        raise LearningError("the pattern export names no k of at least 2")
    out = []
    for n, p in enumerate(doc.get("patterns") or (), 1):
        if not isinstance(p, Mapping) or set(p) - PATTERN_KEYS:
            raise LearningError(
                f"pattern {n} has fields a failure pattern does not have: {sorted(set(p) - PATTERN_KEYS)}"
            )
        labels = p.get("labels") or {}
        if not isinstance(labels, Mapping) or set(labels) - set(PATTERN_LABELS):
            raise LearningError(
                f"pattern {n} has labels that are not host classes: {sorted(set(labels) - set(PATTERN_LABELS))}"
            )
        changes, failures = p.get("changes"), p.get("failures")
        if not isinstance(changes, int) or changes < k:
            raise LearningError(f"pattern {n} has fewer changes than k={k}: it is not k-anonymous")
        if not isinstance(failures, (int, float)) or not 0 <= failures <= changes or math.isnan(failures):
            raise LearningError(f"pattern {n}: failures must be between 0 and its changes")
        if not isinstance(p.get("system_class"), str) or not p["system_class"]:
            raise LearningError(f"pattern {n} has no system_class")
        out.append(dict(p))
    return out


def add_imported(history, patterns: Iterable, system_class: str | None, source: str = IMPORTED):
    """Fold imported patterns of the same system class into a risk History (risk.py), at IMPORTED_WEIGHT."""
    for p in patterns:
        if not system_class or p["system_class"] != system_class:
            continue
        history.similar += IMPORTED_WEIGHT * p["changes"]
        history.failures += IMPORTED_WEIGHT * float(p["failures"])
        history.matches.append(
            {
                "change": f"{source}: {p['changes']} changes of {p['system_class']}",
                "outcome": f"{p['failures']:g} failed",
                "similarity": IMPORTED,
            }
        )
    return history


__all__ = [
    "PATTERN_FORMAT",
    "LearningError",
    "add_imported",
    "calibration",
    "failure_patterns",
    "jeffreys",
    "validate_patterns",
]
