"""The correlation benchmark's generator writes ledgers the correlation reads as the main job's: one scenario of
each kind, checked for what the benchmark relies on."""

import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))

import correlation_bench as bench

from ansible_collections.changeward.hybrid.plugins.plugin_utils import correlation
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger


@pytest.mark.parametrize("kind", [k for k, _unused in bench.MIX])
def test_each_scenario_builds_a_ledger_with_its_label(kind, tmp_path):
    path = tmp_path / "ledger.db"
    incident, label, anomalies = bench.scenario(kind, random.Random(7), path)
    with open_ledger(str(path), create=False, key=bench.KEY) as led:
        changes = {c.change_id: c for c in correlation.ledger_histories(led)}
        assert led.verify()["valid"], "a real, verifiable ledger"
    assert incident.host in bench.HOSTS and all(a["host"] in bench.HOSTS for a in anomalies)
    if kind == "unrelated":
        assert label is None
        return
    culprit = changes[label]
    if kind == "dependency":
        assert culprit.service == "db" and incident.service == "api"
    else:
        # the culprit reached the alerting host before the alert
        assert culprit.exposures[incident.host].since < incident.time
    if kind == "bad_caught":
        assert culprit.outcome == "rolled_back" and culprit.findings[0][0] == incident.host
        result = correlation.correlate(incident, changes.values(), bench.DEPENDENCIES, anomalies)
        assert result["culprit"] == label
