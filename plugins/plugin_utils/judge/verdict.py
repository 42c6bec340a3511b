# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Aggregate metric classifications into a score and a verdict, after Kayenta's NetflixACAJudge.

score = 100 * (weight of passing metrics) / (weight of counted metrics). Counted are metrics with data and
metrics without data whose strategy is ``fail`` (they count as failures); ``ignore`` leaves a metric out and
``inconclusive`` leaves it out of the score but makes the verdict inconclusive. The verdict, in order:
  fail          a critical metric failed (high/low, or no data with strategy fail), whatever the score; or
                the score would stay below marginal_score even if every inconclusive metric had passed
  inconclusive  a metric without data has strategy inconclusive, or no metric could be counted at all
  pass          score >= pass_score
  marginal      marginal_score <= score < pass_score
  fail          score < marginal_score
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ansible_collections.changeward.hybrid.plugins.plugin_utils.judge.classify import MetricResult
from ansible_collections.changeward.hybrid.plugins.plugin_utils.judge.errors import JudgeError

VERDICTS = ("pass", "marginal", "fail", "inconclusive")
DEFAULT_PASS_SCORE = 95.0
DEFAULT_MARGINAL_SCORE = 75.0


@dataclass
class Judgement:
    verdict: str
    score: float | None
    reasons: list[str]
    metrics: list[MetricResult] = field(default_factory=list)
    pass_score: float = DEFAULT_PASS_SCORE
    marginal_score: float = DEFAULT_MARGINAL_SCORE

    def as_dict(self) -> dict:
        return {
            "verdict": self.verdict,
            "score": self.score,
            "reasons": list(self.reasons),
            "pass_score": self.pass_score,
            "marginal_score": self.marginal_score,
            "metrics": [m.as_dict() for m in self.metrics],
        }


def check_thresholds(pass_score: float, marginal_score: float) -> None:
    for name, value in (("pass_score", pass_score), ("marginal_score", marginal_score)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
            raise JudgeError(f"{name} must be a number from 0 to 100, got {value!r}")
    if marginal_score > pass_score:
        raise JudgeError(f"marginal_score ({marginal_score}) must not exceed pass_score ({pass_score})")


def _is_failure(m: MetricResult) -> bool:
    return m.failed or (m.classification == "nodata" and m.nodata == "fail")


def aggregate(
    results: Sequence[MetricResult],
    pass_score: float = DEFAULT_PASS_SCORE,
    marginal_score: float = DEFAULT_MARGINAL_SCORE,
) -> Judgement:
    check_thresholds(pass_score, marginal_score)
    results = list(results)
    if not results:
        raise JudgeError("no metrics to judge: give at least one metric")
    names = [m.name for m in results]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise JudgeError(f"metric names must be unique, repeated: {', '.join(dupes)}")

    counted = [m for m in results if m.classification != "nodata" or m.nodata == "fail"]
    pending = [m for m in results if m.classification == "nodata" and m.nodata == "inconclusive"]
    ignored = [m for m in results if m.classification == "nodata" and m.nodata == "ignore"]
    passed_w = sum(m.weight for m in counted if not _is_failure(m))
    counted_w = sum(m.weight for m in counted)
    score = round(100.0 * passed_w / counted_w, 2) if counted_w else None

    reasons = [f"{m.name}: {m.classification} - {m.reason}" for m in results if _is_failure(m)]
    reasons += [f"{m.name}: no data (strategy inconclusive) - {m.reason}" for m in pending]
    reasons += [f"{m.name}: no data, ignored as configured - {m.reason}" for m in ignored]

    def done(verdict: str, why: str) -> Judgement:
        return Judgement(verdict, score, [why, *reasons], results, pass_score, marginal_score)

    critical = [m.name for m in results if m.critical and _is_failure(m)]
    if critical:
        return done("fail", f"critical metric(s) failed: {', '.join(critical)}")
    if pending:
        best_w = counted_w + sum(m.weight for m in pending)
        best = 100.0 * (passed_w + sum(m.weight for m in pending)) / best_w
        if best < marginal_score:
            return done(
                "fail",
                f"score stays below marginal_score {marginal_score} even if the metrics without data"
                f" passed (best case {best:.2f})",
            )
        return done("inconclusive", f"no data for {', '.join(m.name for m in pending)}; a judgement needs them")
    if score is None:
        return done("inconclusive", "no metric had data to judge (all were ignored): never a pass on no data")
    if score >= pass_score:
        return done("pass", f"score {score} >= pass_score {pass_score}")
    if score >= marginal_score:
        return done("marginal", f"marginal_score {marginal_score} <= score {score} < pass_score {pass_score}")
    return done("fail", f"score {score} < marginal_score {marginal_score}")
