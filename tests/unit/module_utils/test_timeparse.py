"""The one instant parser and the one duration parser, and that every plugin reading a time or a duration accepts
(or refuses) the same text the same way."""

import datetime as dt

import pytest

from ansible_collections.changeward.hybrid.plugins.module_utils import timeparse
from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot import retention
from ansible_collections.changeward.hybrid.plugins.plugin_utils import prometheus, risk
from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar import localtime
from ansible_collections.changeward.hybrid.plugins.plugin_utils.drift import acceptance
from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import ChangewardError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.judge import runner

NOON = 1767268800.0  # 2026-01-01T12:00:00Z

INSTANT_READERS = {
    "timeparse": lambda v: timeparse.parse_instant(v, "at"),
    "blackout at": lambda v: localtime.parse_instant(v, "at"),
    "canary_judge/bake_watch/error_budget time": lambda v: runner.parse_time(v, "time", now=0),
    "risk_score at": lambda v: risk.parse_time(v, "at").timestamp(),
    "drift acceptance expires": lambda v: acceptance.parse_time(v, "expires").timestamp(),
}
DURATION_READERS = {
    "timeparse": lambda v: timeparse.parse_duration(v, "d"),
    "prometheus (rings, breaker, error_budget, judge)": lambda v: prometheus.parse_duration(v, "d"),
    "snapshot_prune max_age": lambda v: float(retention.parse_duration(v)),
}


@pytest.mark.parametrize("reader", INSTANT_READERS)
@pytest.mark.parametrize(
    "text",
    ["2026-01-01T12:00:00Z", "2026-01-01T13:00:00+01:00", "2026-01-01T12:00:00.000+00:00", "2026-01-01 12:00:00Z"],
)
def test_an_instant_with_an_offset_means_the_same_everywhere(reader, text):
    assert INSTANT_READERS[reader](text) == NOON


@pytest.mark.parametrize("reader", INSTANT_READERS)
@pytest.mark.parametrize("text", ["2026-01-01T12:00:00", "2026-01-01 12:00"])
def test_an_instant_without_an_offset_is_refused_everywhere(reader, text):
    with pytest.raises(ChangewardError, match="no UTC offset"):
        INSTANT_READERS[reader](text)


@pytest.mark.parametrize("reader", INSTANT_READERS)
@pytest.mark.parametrize("text", ["", "tomorrow", "2026-13-01T00:00:00Z", None, True])
def test_nonsense_is_refused_everywhere(reader, text):
    with pytest.raises(ChangewardError):
        INSTANT_READERS[reader](text)


def test_unix_seconds_and_now():
    assert timeparse.parse_instant(NOON) == NOON
    assert timeparse.parse_instant(str(NOON)) == NOON
    assert timeparse.parse_instant("now", now=NOON) == NOON
    aware = dt.datetime(2026, 1, 1, 13, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert timeparse.instant(aware) == dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)
    with pytest.raises(timeparse.TimeFormatError, match="no UTC offset"):
        timeparse.instant(dt.datetime(2026, 1, 1, 12))


def test_a_drift_acceptance_may_still_end_on_a_date():
    assert acceptance.parse_time("2026-01-02", "expires").timestamp() == NOON + 12 * 3600


@pytest.mark.parametrize("reader", DURATION_READERS)
@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("5m", 300), ("1h30m", 5400), ("3d", 259200), ("2w", 1209600), ("3600", 3600)]
)
def test_a_duration_means_the_same_everywhere(reader, text, seconds):
    assert DURATION_READERS[reader](text) == seconds


@pytest.mark.parametrize("reader", DURATION_READERS)
@pytest.mark.parametrize("text", ["30m1h", "5 minutes", "h", "-5m", "PT1H"])
def test_a_bad_duration_is_refused_everywhere(reader, text):
    with pytest.raises(ChangewardError):
        DURATION_READERS[reader](text)


def test_zero_is_a_duration_only_where_it_is_allowed():
    assert retention.parse_duration("0") == 0
    with pytest.raises(ChangewardError):
        prometheus.parse_duration("0s")
    assert timeparse.parse_duration("500ms") == 0.5
