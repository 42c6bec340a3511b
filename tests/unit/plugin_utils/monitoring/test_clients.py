"""The monitoring clients over real HTTP: silences created, found and expired; redirects checked like every
controller client's (never https to http, never a token to another origin); and a change's silences and metadata
ended from its ledger alone (what the change_closer callback does for a run that broke off)."""

import pytest
from fake_services import FakeServices

from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.model import new_record
from ansible_collections.changeward.hybrid.plugins.plugin_utils.monitoring import alerts, cleanup, metadata
from ansible_collections.changeward.hybrid.plugins.plugin_utils.monitoring.http import (
    ServiceRefused,
    ServiceUnreachable,
)

KEY = "hmac:monitoring-unit-key-0123456789"


@pytest.fixture
def fake():
    with FakeServices() as services:
        yield services


def silence(client, change_id="CHG-1"):
    body = alerts.silence_body(
        change_id, [{"name": "host", "value": "a", "isRegex": False, "isEqual": True}], 0, 60, "x"
    )
    return client.create_silence(body)


def test_a_silence_is_created_and_expired_once(fake):
    am = alerts.Alertmanager(fake.url, retries=0)
    sid = silence(am)
    assert fake.silences[sid]["createdBy"] == "changeward.hybrid/CHG-1"
    assert am.expire(sid) == "expired"
    assert am.expire(sid) == "already expired"
    assert am.expire("00000000-0000-0000-0000-000000000000") == "unknown"


def test_expiring_a_change_finds_silences_it_never_recorded(fake):
    am = alerts.Alertmanager(fake.url, retries=0)
    recorded, lost, other = silence(am), silence(am), silence(am, "CHG-2")
    done = alerts.expire_change_silences(am, "CHG-1", [recorded])
    assert sorted(done["expired"]) == sorted([recorded, lost])
    assert fake.silences[other]["status"]["state"] == "active", "another change's silence stays"


def test_a_token_is_never_sent_to_another_origin(fake):
    with FakeServices() as elsewhere:
        fake.redirect_to = elsewhere.url
        with pytest.raises(ServiceRefused, match="another origin"):
            alerts.Alertmanager(fake.url, token="s3cret-token", retries=0).silences()
        assert elsewhere.requests == []
        # without credentials the redirect is followed
        assert alerts.Alertmanager(fake.url, retries=0).silences() == []


def test_a_silence_is_never_created_twice_reads_are_retried(fake):
    fake.fail_with = 503
    am = alerts.Alertmanager(fake.url, retries=2, backoff=0.01)
    with pytest.raises(ServiceUnreachable, match="HTTP 503"):
        silence(am)
    assert [m for m, _p, _a in fake.requests] == ["POST"], "a POST that may have created a silence is not repeated"
    fake.requests.clear()
    with pytest.raises(ServiceUnreachable, match="HTTP 503"):
        am.silences()
    assert [m for m, _p, _a in fake.requests] == ["GET", "GET", "GET"]


def test_https_to_http_is_refused():
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.redirects import next_hop

    with pytest.raises(Exception, match="https to http"):
        next_hop("https://am.example/api", "http://am.example/api", credentials=False)


def test_no_answer_is_an_error_and_the_message_has_no_credentials():
    am = alerts.Alertmanager("http://user:pw@127.0.0.1:9", retries=0, timeout=1)
    with pytest.raises(ServiceUnreachable) as err:
        am.silences()
    assert "pw" not in str(err.value)


def test_metadata_goes_into_the_change_group_and_leaves_it(fake):
    gw = metadata.Pushgateway(fake.url, retries=0)
    gw.replace("CHG-1", "changeward_change_rings_total 1\n")
    assert fake.groups == {"/metrics/job/changeward/change_id/CHG-1": "changeward_change_rings_total 1\n"}
    gw.delete("CHG-1")
    assert fake.groups == {}


def test_a_change_left_open_has_its_silences_and_metadata_ended_from_its_ledger(fake, tmp_path):
    am, gw = alerts.Alertmanager(fake.url, retries=0), metadata.Pushgateway(fake.url, retries=0)
    sid = silence(am)
    gw.replace("CHG-1", "x 1\n")
    with open_ledger(str(tmp_path / "l.db"), key=KEY) as led:
        led.open_change(new_record("CHG-1", "standard", "x", "carol"))
        led.record(alerts.SILENCED, "CHG-1", {"alertmanager": fake.url, "silences": [{"id": sid}]})
        led.record(metadata.PUBLISHED, "CHG-1", {"pushgateway": fake.url})
        assert cleanup.withdraw(led, "CHG-1", env={}) == []
        types = [e.event["type"] for e in led.events(subject="CHG-1")]
        assert cleanup.pending(e.event for e in led.events(subject="CHG-1")) == {
            "alertmanager": [fake.url],
            "silences": [],
            "pushgateways": [],
        }
    assert fake.silences[sid]["status"]["state"] == "expired"
    assert fake.groups == {}
    assert types[-2:] == [alerts.UNSILENCED, metadata.WITHDRAWN]


def test_a_monitoring_service_that_is_gone_is_reported_not_hidden(tmp_path):
    with open_ledger(str(tmp_path / "l.db"), key=KEY) as led:
        led.open_change(new_record("CHG-1", "standard", "x", "carol"))
        led.record(alerts.SILENCED, "CHG-1", {"alertmanager": "http://127.0.0.1:9", "silences": [{"id": "s"}]})
        problems = cleanup.withdraw(led, "CHG-1", env={})
    assert len(problems) == 1 and problems[0].startswith("silences of CHG-1 not removed")
