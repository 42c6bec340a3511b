"""Change-incident correlation: scores worked out by hand from the rules in correlation.py, and histories read
from a real ledger written the way the main job writes it."""

import pytest

from ansible_collections.changeward.hybrid.plugins.plugin_utils import correlation as cor
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import model
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger

T = 1_800_000_000.0
KEY = "hmac:correlation-test-key-0123456789"


def change(cid, service, exposures, **kw):
    return cor.ChangeHistory(
        change_id=cid,
        service=service,
        exposures={h: cor.Exposure(since=t, ring=r) for h, (t, r) in exposures.items()},
        **kw,
    )


def incident(host="web-1", service="web", at=T):
    return cor.Incident(host, service, at, "HighErrorRate")


def test_a_release_of_the_service_on_the_host_ten_minutes_before_is_the_culprit():
    result = cor.correlate(incident(), [change("CHG-1", "web", {"web-1": (T - 600, "canary")})])
    (top,) = result["candidates"]
    assert top["score"] == pytest.approx(0.5 ** (600 / 1800), abs=1e-4)  # 0.7937
    assert top["relation"] == "same_host_same_service"
    assert result["culprit"] == "CHG-1" and result["confident"] is True
    assert "web-1 itself" in top["explanation"] and "10m before the incident" in top["explanation"]


def test_a_change_that_reached_the_host_after_the_incident_explains_nothing():
    result = cor.correlate(incident(), [change("CHG-1", "web", {"web-1": (T + 600, "canary")})])
    assert result["candidates"][0]["score"] == 0.0
    assert result["culprit"] is None and "no confident culprit" in result["reason"]


def test_an_unrelated_host_and_service_has_no_candidates():
    result = cor.correlate(incident(), [change("CHG-1", "db", {"db-1": (T - 60, "canary")})])
    assert result["candidates"] == [] and result["culprit"] is None
    assert "no change in the ledger" in result["reason"]


def test_two_changes_explaining_it_equally_well_name_no_culprit():
    changes = [
        change("CHG-1", "web", {"web-1": (T - 600, "canary")}),
        change("CHG-2", "web", {"web-1": (T - 660, "ring1")}),
    ]
    result = cor.correlate(incident(), changes)
    assert [c["change_id"] for c in result["candidates"]] == ["CHG-1", "CHG-2"]
    assert result["culprit"] is None and "about equally well" in result["reason"]


def test_a_dependency_two_hops_away_weighs_a_quarter():
    deps = {"web": ["api"], "api": ["db"]}
    result = cor.correlate(incident(), [change("CHG-1", "db", {"db-1": (T, "canary")})], deps)
    (top,) = result["candidates"]
    assert top["relation"] == "dependency" and top["factors"]["topology"] == pytest.approx(0.25)
    assert top["score"] == pytest.approx(0.25) and result["culprit"] is None


def test_a_change_rolled_back_well_before_the_incident_explains_a_fifth_as_much():
    rolled = change("CHG-1", "web", {"web-1": (T - 1800, "canary")})
    rolled.exposures["web-1"].until = T - 1200  # 20 minutes before: beyond the 5 minute settle
    (top,) = cor.correlate(incident(), [rolled])["candidates"]
    assert top["factors"]["time"] == pytest.approx(0.5 * 0.2)
    assert "rolled back there 20m before" in top["explanation"]


def test_its_own_watch_breach_on_the_host_is_strong_evidence():
    found = change("CHG-1", "web", {"web-1": (T - 3600, "canary")}, findings=[("web-1", "bake watch breach", T)])
    (top,) = cor.correlate(incident(), [found])["candidates"]
    base = 0.5**2  # an hour at a 30 minute half-life
    assert top["score"] == pytest.approx(1 - (1 - base) * (1 - 0.9), abs=1e-4)


def test_anomalies_following_the_rollout_ring_by_ring_raise_the_score():
    rolled = change(
        "CHG-1",
        "web",
        {"web-1": (T - 3000, "canary"), "web-2": (T - 1500, "ring1"), "web-3": (T - 1500, "ring1")},
    )
    anomalies = [{"host": "web-2", "time": T - 1200}, {"host": "web-3", "time": T - 1100}]
    (top,) = cor.correlate(incident(), [rolled], anomalies=anomalies)["candidates"]
    base = 0.5 ** (3000 / 1800)
    assert top["factors"]["evidence"] == 0.6  # two hosts, rings canary and ring1
    assert top["score"] == pytest.approx(1 - (1 - base) * 0.4, abs=1e-4)


def test_many_quiet_hosts_count_against_a_change():
    hosts = {f"web-{i}": (T - 3600, "ring1") for i in range(1, 7)}
    (top,) = cor.correlate(incident(), [change("CHG-1", "web", hosts)], anomalies=[])["candidates"]
    assert top["score"] == pytest.approx(0.25 * 0.6)
    assert "only 1 of the 6 hosts" in top["explanation"]


def test_a_bad_dependency_map_is_refused():
    with pytest.raises(cor.CorrelationError, match="must list"):
        cor.correlate(incident(), [], {"web": "api"})
    with pytest.raises(cor.CorrelationError, match="needs host and time"):
        cor.correlate(incident(), [], anomalies=[{"host": "web-2"}])


def test_annotation_names_the_suspect():
    result = cor.correlate(incident(), [change("CHG-1", "web", {"web-1": (T - 600, "canary")})])
    notes = cor.annotation(result)
    assert notes["changeward_suspect"] == "CHG-1"
    assert notes["changeward_candidates"].startswith("CHG-1 (0.79)")


def test_histories_from_a_ledger(tmp_path):
    path = tmp_path / "ledger.db"
    with open_ledger(str(path), key=KEY) as led:
        led.open_change(
            model.new_record("CHG-9", "standard", "bad release", "alice", targets=["web-1", "web-2"]),
            data={"service": "web"},
        )
        led.record(cor.RING_STARTED, "CHG-9", {"ring": "canary", "hosts": ["web-1"], "since": T - 300})
        led.record(
            "io.changeward.ring.rolled_back",
            "CHG-9",
            {
                "name": "canary",
                "hosts": ["web-1"],
                "status": "rolled_back",
                "since": T - 300,
                "ended": T - 200,
                "watch": {"breach": {"host": "web-1", "metric": "error_ratio", "visible_ts": T - 280}},
                "rollback": {"hosts": {"web-1": {"rolled_back": True}}, "earlier": []},
                "timings": {"rolled_back_ts": T - 210},
            },
        )
        led.close_change("CHG-9", "rolled_back", ["caught at the canary"])
        led.open_change(model.new_record("CHG-10", "standard", "no rings", "bob", targets=["web-2"]))
        found = {c.change_id: c for c in cor.ledger_histories(led)}
    nine, ten = found["CHG-9"], found["CHG-10"]
    assert nine.service == "web" and nine.outcome == "rolled_back" and nine.rings == ["canary"]
    assert nine.exposures["web-1"].since == T - 300 and nine.exposures["web-1"].until == T - 210
    assert "web-2" not in nine.exposures  # never reached: the rollout stopped at the canary
    assert nine.findings == [("web-1", "bake watch breach on error_ratio", T - 280)]
    # a change without ring events reached its targets when it was opened
    assert set(ten.exposures) == {"web-2"} and ten.exposures["web-2"].since == pytest.approx(ten.opened)
    result = cor.correlate(cor.Incident("web-1", "web", T - 270), [nine, ten])
    assert result["culprit"] == "CHG-9" and "bake watch breach" in result["candidates"][0]["explanation"]


def test_suspect_reads_the_ledger_and_annotates(tmp_path):
    path = tmp_path / "ledger.db"
    with open_ledger(str(path), key=KEY) as led:
        led.open_change(
            model.new_record(
                "CHG-3", "standard", "release", "alice", targets=["web-1"], opened_at="2027-01-15T07:55:00Z"
            ),
            data={"service": "web"},
        )
        led.record(cor.RING_STARTED, "CHG-3", {"ring": "canary", "hosts": ["web-1"], "since": T - 120})
        found = cor.suspect(led, "web-1", "web", T, alert="HighErrorRate")
    assert found["culprit"] == "CHG-3"
    assert found["annotations"]["changeward_suspect"] == "CHG-3"
    assert found["incident"]["what"] == "HighErrorRate"


def test_an_alert_without_a_service_is_about_what_the_host_runs():
    elsewhere = change("CHG-1", "web", {"web-2": (T - 60, "canary")})
    unnamed = cor.Incident("web-1", None, T)
    assert cor.correlate(unnamed, [elsewhere])["candidates"] == []
    (top,) = cor.correlate(unnamed, [elsewhere], host_services={"web-1": ["web"]})["candidates"]
    assert top["relation"] == "same_service"
    # an alert that names its service is about that service, whatever else the host runs
    named = cor.Incident("web-1", "node", T)
    assert cor.correlate(named, [elsewhere], host_services={"web-1": ["web"]})["candidates"] == []
