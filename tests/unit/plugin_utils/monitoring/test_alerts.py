"""Alert policy, silence matchers, routing generation (plugin_utils/monitoring/alerts.py): the decisions the lab test
relies on, each checked on its own - a change's silence never covers a critical alert, routes reach ops and the
owning team only for a change's alerts, amtool accepts what is generated and refuses what is broken."""

import copy
import shutil

import pytest
import yaml

from ansible_collections.changeward.hybrid.plugins.plugin_utils.monitoring import alerts

POLICY = {
    "api_version": "changeward.hybrid/v1",
    "critical": [{"label": "severity", "value": "critical"}, {"label": "alertname", "regex": "Demo(Down|Dead)"}],
    "silence": {"max_window": "6h"},
    "routing": {
        "ops": {"webhook_url": "http://hooks.example/ops"},
        "teams": {"web": {"webhook_url": "http://hooks.example/web"}, "db": {"webhook_url": "http://hooks.example/db"}},
    },
}


@pytest.fixture
def policy():
    return alerts.load_policy(copy.deepcopy(POLICY))


def alert(**labels):
    return {"host": "web-01", "service": "demo", "alertname": "DemoErrorsElevated", "severity": "warning"} | labels


def test_the_change_silence_covers_its_hosts_and_service_and_no_critical_alert(policy):
    matchers = alerts.silence_matchers(policy, ["web-01", "web.02"], "demo")
    assert alerts.covers(matchers, alert())
    assert alerts.covers(matchers, alert(host="web.02"))
    assert not alerts.covers(matchers, alert(host="web-03")), "another host"
    assert not alerts.covers(matchers, alert(host="webx02")), "a dot in a host name is a dot, not any character"
    assert not alerts.covers(matchers, alert(host="web-01-old")), "the whole host name"
    assert not alerts.covers(matchers, alert(service="billing")), "another service"
    assert not alerts.covers(matchers, alert(severity="critical")), "critical by severity"
    assert not alerts.covers(matchers, alert(alertname="DemoDown")), "critical by name"
    assert alerts.covers(matchers, alert(alertname="DemoDownstream")), "the regex matches whole names"


def test_no_alert_the_policy_marks_critical_is_ever_covered(policy):
    matchers = alerts.silence_matchers(policy, ["web-01"], "demo")
    for severity in ("critical", "warning", "info", ""):
        for name in ("DemoDown", "DemoDead", "DemoErrorsElevated", "Other"):
            labels = alert(severity=severity, alertname=name)
            assert not (alerts.is_critical(policy, labels) and alerts.covers(matchers, labels)), labels


def test_a_silence_needs_hosts_and_a_service_and_fits_the_policy_window(policy):
    with pytest.raises(alerts.SilenceRefused, match="hosts"):
        alerts.silence_matchers(policy, [], "demo")
    with pytest.raises(alerts.SilenceRefused, match="service"):
        alerts.silence_matchers(policy, ["web-01"], "")
    assert alerts.silence_window(policy, 100.0, 100.0 + 6 * 3600) == (100.0, 100.0 + 6 * 3600)
    with pytest.raises(alerts.SilenceRefused, match="max_window"):
        alerts.silence_window(policy, 100.0, 100.0 + 6 * 3600 + 1)
    with pytest.raises(alerts.SilenceRefused, match="before it starts"):
        alerts.silence_window(policy, 100.0, 100.0)


def test_the_silence_names_its_change(policy):
    body = alerts.silence_body("CHG-7", alerts.silence_matchers(policy, ["h"], "demo"), 0.0, 60.0, "demo on h")
    assert body["createdBy"] == "changeward.hybrid/CHG-7"
    assert body["comment"] == "change CHG-7: demo on h"
    assert (body["startsAt"], body["endsAt"]) == ("1970-01-01T00:00:00.000Z", "1970-01-01T00:01:00.000Z")


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"critical": []}, "critical"),
        ({"critical": [{"label": "severity"}]}, "critical.0"),
        ({"critical": [{"label": "bad-label", "value": "x"}]}, "critical.0.label"),
        ({"routing": {"ops": {"webhook_url": "ftp://x"}, "teams": {}}}, "routing.ops.webhook_url"),
        ({"api_version": "v0"}, "api_version"),
        ({"extra": 1}, "extra"),
    ],
)
def test_an_invalid_policy_names_the_field(change, why):
    with pytest.raises(alerts.AlertPolicyError, match=why.replace(".", r"\.")):
        alerts.load_policy(POLICY | change)


def test_no_policy_is_an_error_not_no_alerts():
    with pytest.raises(alerts.AlertPolicyError, match="changeward_alert_policy"):
        alerts.load_policy(None)


def test_change_alerts_reach_ops_and_the_owning_team_other_alerts_ops_only(policy):
    config = alerts.routing_config(policy, ["web", "web", None])

    def route(**labels):
        return alerts.receivers_for(config, labels)

    assert route(owner_team="web", change_id="CHG-1") == ["ops", "team-web"]
    assert route(owner_team="db", change_id="CHG-1") == ["ops", "team-db"]
    assert route(owner_team="web") == ["ops"], "no change: the team is not paged"
    assert route(change_id="CHG-1") == ["ops"], "a host without an owner team"
    assert [r["name"] for r in config["receivers"]] == ["ops", "team-db", "team-web"]


def test_a_team_without_a_receiver_is_refused(policy):
    with pytest.raises(alerts.AlertPolicyError, match="payments"):
        alerts.routing_config(policy, ["web", "payments"])


@pytest.mark.skipif(not shutil.which("amtool"), reason="amtool (Debian prometheus-alertmanager) not installed")
def test_amtool_accepts_the_generated_configuration_and_refuses_a_broken_one(policy):
    config = alerts.merge_config({"global": {"resolve_timeout": "5m"}}, alerts.routing_config(policy, ["web"]))
    alerts.check_config(yaml.safe_dump(config))
    config["route"]["routes"][1]["receiver"] = "nobody"
    with pytest.raises(alerts.MonitoringError, match="amtool check-config refused"):
        alerts.check_config(yaml.safe_dump(config))


def test_the_silences_left_to_remove_are_those_created_and_not_expired():
    events = [
        {"type": alerts.SILENCED, "data": {"silences": [{"id": "a"}]}},
        {"type": alerts.SILENCED, "data": {"silences": [{"id": "b"}]}},
        {"type": alerts.UNSILENCED, "data": {"expired": ["a"]}},
        {"type": "io.changeward.other", "data": {}},
    ]
    assert alerts.change_silence_ids(events) == ["b"]
