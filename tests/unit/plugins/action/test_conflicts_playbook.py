"""The conflicts and saas_health gates in a real ansible-playbook run on localhost, against the recorded provider
documents (examples/lab/providers) replayed so their maintenance starts in ten minutes: an AWS Health scheduled
event blocks the change on its instance and names the event, a change on other hosts passes, an Azure Freeze
blocks, an open change on the same service conflicts, a degraded Statuspage component blocks and an unreachable
status page cannot be decided. Each recorded decision is read back from the ledger."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger

REPO = Path(__file__).resolve().parents[4]
KEY = "hmac:unit-test-conflicts-playbook-key-01"
ARN_PART = "AWS_EC2_INSTANCE_REBOOT_MAINTENANCE_SCHEDULED_7c1d0f5e"
AZURE_EVENT = "602d9444-d2cd-49c7-8624-8643e7171297"


def replay(tmp: Path) -> Path:
    spec = importlib.util.spec_from_file_location("provider_feeds", REPO / "examples" / "lab" / "provider_feeds.py")
    feeds = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(feeds)
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(minutes=10)
    feeds.publish(start, "unit", root=tmp / "served")
    return tmp / "served" / "unit"


def host(provider, region, az, instance_id, services="demo"):
    labels = {"env_type": "cloud", "provider": provider, "region": region, "az": az, "instance_id": instance_id}
    return {"ansible_connection": "local", "changeward_labels": {**labels, "services": [services]}}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("conflicts")
    docs = replay(tmp)
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    policy = {
        "api_version": "changeward.hybrid/v1",
        "blackout": {
            "calendars": [
                {
                    "name": "freeze",
                    "tz": "UTC",
                    "windows": [{"name": "Payroll freeze", "start": soon, "duration": "PT1H"}],
                }
            ]
        },
        "conflicts": {
            "feeds": [
                {"name": "aws-health", "format": "aws_health", "src": str(docs / "aws-health-describe-events.json")},
                {
                    "name": "azure-imds",
                    "format": "azure_scheduled_events",
                    "src": str(docs / "azure-scheduled-events.json"),
                },
            ],
            "saas_dependencies": {
                "payfast": {"statuspage": str(docs / "statuspage-degraded.json"), "components": ["API"]},
                "payfast-down": {"statuspage": "http://127.0.0.1:9/api/v2/summary.json"},
                "payfast-ok": {"statuspage": str(docs / "statuspage-operational.json"), "components": ["Dashboard"]},
            },
        },
    }
    inventory = {
        "all": {
            "hosts": {
                "aws-1": host("aws", "eu-west-1", "eu-west-1a", "i-0a1b2c3d4e5f60718"),
                "aws-2": host("aws", "eu-west-1", "eu-west-1a", "i-0ffffffffffffff00"),
                "aws-3": host("aws", "eu-west-1", "eu-west-1a", "i-0eeeeeeeeeeeeee00"),
                "az-1": host("azure", "westeurope", "westeurope-1", "cw-az-vm-01"),
                "localhost": {
                    "ansible_connection": "local",
                    "ansible_python_interpreter": sys.executable,
                    # the operator's dependency map (pinned): checkout consumes billing, shop consumes payfast
                    "changeward_dependency_map": {"billing": ["checkout"], "payfast": ["shop"]},
                },
            }
        }
    }
    (tmp / "inventory.yml").write_text(yaml.safe_dump(inventory))

    down = {
        "api_version": "changeward.hybrid/v1",
        "conflicts": {
            "feeds": [{"name": "aws-health", "format": "aws_health", "src": "http://127.0.0.1:9/events.json"}]
        },
    }

    def gate(module, name, **args):
        return {
            "name": name,
            f"changeward.hybrid.{module}": {"policy": policy, **args},
            "register": name,
            "ignore_errors": True,
        }

    def opened(cid, service, targets):
        return {
            "name": f"Open {cid}",
            "changeward.hybrid.change_record": {
                "change_id": cid,
                "type": "normal",
                "summary": f"{service} change",
                "requester": "alice",
                "targets": targets,
                "data": {"service": service},
            },
        }

    def at(hours):
        return (dt.datetime.now(dt.UTC) + dt.timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")

    later = at(1)

    def plan(name, cid, **args):
        return {
            "name": name,
            "changeward.hybrid.change_plan": {"change_id": cid, **args},
            "register": name,
            "ignore_errors": True,
        }

    scheduled = {"summary": "search reindex", "requester": "bob", "service": "search", "targets": ["aws-3"]}
    names = [
        "calendar",
        "feed_down",
        "aws_blocked",
        "aws_other",
        "azure_blocked",
        "same_service",
        "saas_degraded",
        "saas_down",
        "saas_ok",
        "plan_scheduled",
        "plan_again",
        "plan_check",
        "plan_clash",
        "plan_read",
        "plan_cancel_opened",
        "plan_running",
        "plan_canceled",
        "plan_canceled_read",
        "dependent_service",
        "saas_by_map",
    ]
    tasks = [
        opened("CHG-OPEN", "billing", ["aws-2"]),
        opened("CHG-AWS", "web", ["aws-1"]),
        gate("conflicts", "aws_blocked", change_id="CHG-AWS", targets=["aws-1"], service="web"),
        gate("conflicts", "aws_other", targets=["aws-3"], service="search"),
        gate("conflicts", "feed_down", targets=["aws-3"], service="search", policy=down),
        gate("conflicts", "azure_blocked", targets=["az-1"], service="search"),
        gate("conflicts", "same_service", targets=["az-1"], service="billing", start=later),
        opened("CHG-PAY", "payments", ["aws-2"]),
        gate("saas_health", "saas_degraded", change_id="CHG-PAY", dependencies=["payfast"]),
        gate("saas_health", "saas_down", dependencies=["payfast-down"]),
        gate("saas_health", "saas_ok", dependencies=["payfast-ok"]),
        gate("conflicts", "dependent_service", targets=["az-1"], service="checkout", start=later),
        gate("saas_health", "saas_by_map", service="shop"),
        # a change planned for 4h-5h from now on aws-3; checked ahead, then clashed with, then opened
        plan("plan_scheduled", "CHG-PLAN", start=at(4), duration="1h", **scheduled),
        plan("plan_again", "CHG-PLAN", start=at(4), duration="1h", **scheduled),
        gate("conflicts", "plan_check", change_id="CHG-PLAN", targets=["aws-3"], service="search"),
        gate("conflicts", "plan_clash", targets=["aws-3"], service="web", start=at(4.5), duration="1h"),
        {**opened("CHG-PLAN", "search", ["aws-3"]), "name": "Open the planned change"},
        plan("plan_read", "CHG-PLAN", state="read"),
        plan("plan_cancel_opened", "CHG-PLAN", state="canceled"),
        gate("conflicts", "plan_running", change_id="CHG-PLAN", targets=["aws-3"], service="search"),
        plan("plan_later", "CHG-LATER", start=at(24), end=at(26), **{**scheduled, "service": "billing"}),
        plan("plan_dropped", "CHG-DROP", start=at(30), duration="1h", **scheduled),
        plan("plan_canceled", "CHG-DROP", state="canceled", reason="superseded"),
        plan("plan_canceled_read", "CHG-DROP", state="read"),
        {
            "name": "calendar",
            "changeward.hybrid.calendar_publish": {"policy": policy, "dest": str(tmp / "changes.ics")},
            "register": "calendar",
        },
        {
            "name": "Keep the results",
            "ansible.builtin.copy": {
                "content": "{{ {" + ", ".join(f"'{n}': {n}" for n in names) + "} | to_json }}",
                "dest": str(tmp / "end.json"),
                "mode": "0600",
            },
        },
    ]
    (tmp / "play.yml").write_text(
        yaml.safe_dump([{"name": "Conflicts", "hosts": "localhost", "gather_facts": False, "tasks": tasks}])
    )
    (tmp / "ansible.cfg").write_text(f"[defaults]\ncollections_path = {REPO / 'collections'}\n")
    ledger = tmp / "ledger.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHANGEWARD_", "ANSIBLE_"))}
    env.pop("PYTHONPATH", None)
    env.update(
        ANSIBLE_CONFIG=str(tmp / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        CHANGEWARD_LEDGER=str(ledger),
        CHANGEWARD_LEDGER_KEY=KEY,
    )
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            str(tmp / "inventory.yml"),
            str(tmp / "play.yml"),
        ],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return json.loads((tmp / "end.json").read_text()), ledger, tmp / "changes.ics"


def test_an_aws_health_scheduled_event_blocks_the_change_on_its_instance_and_names_it(run):
    end, ledger, _ics = run
    result = end["aws_blocked"]
    assert result["failed"] and result["blocked"]
    assert ARN_PART in result["msg"] and "on aws-1" in result["msg"]
    (conflict,) = [c for c in result["conflicts"] if c["kind"] == "provider_maintenance"]
    assert conflict["hosts"] == ["aws-1"] and conflict["decision"] == "refuse"
    with open_ledger(str(ledger), create=False) as led:
        (decision,) = led.get_change("CHG-AWS")["gate_decisions"]
    assert (decision["gate"], decision["decision"]) == ("conflicts", "fail")
    assert ARN_PART in decision["conflicts"][0]["with"]


def test_a_change_on_other_hosts_proceeds(run):
    result = run[0]["aws_other"]
    assert not result.get("failed") and not result["blocked"]
    assert [f["events"] for f in result["feeds"]] == [1, 2]
    # the payroll freeze starts while the change is expected to run: a warning by default, not a refusal
    assert [(c["kind"], c["decision"]) for c in result["conflicts"]] == [("blackout", "warn")]
    assert "Payroll freeze" in result["warnings"][0]


def test_an_azure_freeze_blocks_the_change_on_its_vm(run):
    result = run[0]["azure_blocked"]
    assert result["failed"] and AZURE_EVENT in result["msg"] and "Freeze" in result["msg"]


def test_an_open_change_on_the_same_service_conflicts_with_a_change_planned_within_its_window(run):
    result = run[0]["same_service"]
    assert result["failed"]
    (change,) = [c for c in result["conflicts"] if c["kind"] == "change"]
    assert change["with"] == "CHG-OPEN" and "service billing" in change["why"]


def test_a_degraded_statuspage_component_blocks_and_is_recorded(run):
    end, ledger, _ics = run
    result = end["saas_degraded"]
    assert result["failed"] and "payfast: component API is degraded performance" in result["msg"]
    with open_ledger(str(ledger), create=False) as led:
        (decision,) = led.get_change("CHG-PAY")["gate_decisions"]
    assert (decision["gate"], decision["decision"]) == ("saas_health", "fail")


def test_an_unreachable_status_page_blocks_with_cannot_decide(run):
    result = run[0]["saas_down"]
    assert result["failed"] and "cannot decide" in result["msg"] and "unreachable" in result["msg"]


def test_a_healthy_component_without_maintenance_in_the_window_passes(run):
    result = run[0]["saas_ok"]
    assert not result.get("failed") and result["findings"] == []


def test_the_published_calendar_parses_and_holds_the_changes_and_windows(run):
    from icalendar import Calendar

    end, _ledger, ics = run
    assert end["calendar"]["counts"] == {"changes": 5, "blackout": 1, "maintenance": 0, "provider_maintenance": 2}
    cal = Calendar.from_ical(ics.read_bytes())
    assert cal["VERSION"] == "2.0" and cal["PRODID"]
    events = {str(e["SUMMARY"]): e for e in cal.walk("VEVENT")}
    assert "[running] CHG-OPEN: billing change" in events
    # the plan still to come in its window; the plan that opened is one event, running; the canceled one is gone
    later = events["[planned] CHG-LATER: search reindex"]
    assert later["DTEND"].dt - later["DTSTART"].dt == dt.timedelta(hours=2)
    assert [str(e["UID"]) for e in cal.walk("VEVENT")].count("CHG-PLAN@changeward") == 1
    assert "[running] CHG-PLAN: search change" in events
    assert not [s for s in events if "CHG-DROP" in s]
    assert "Blackout: Payroll freeze" in events
    assert events["Blackout: Payroll freeze"]["X-CHANGEWARD-KIND"] == "blackout"
    aws = events["AWS maintenance: AWS_EC2_INSTANCE_REBOOT_MAINTENANCE_SCHEDULED (aws-1)"]
    assert aws["DTEND"].dt - aws["DTSTART"].dt == dt.timedelta(hours=2)
    assert "AZURE maintenance: Freeze (az-1)" in events
    for event in cal.walk("VEVENT"):  # what common clients need of every event
        assert event["UID"] and event["DTSTAMP"] and event["DTSTART"].dt.tzinfo is not None and event["DTEND"]


def test_an_unreachable_feed_cannot_be_decided_and_blocks(run):
    result = run[0]["feed_down"]
    assert result["failed"] and result["conflicts"] == []
    assert "cannot decide" in result["msg"] and "feed aws-health" in result["msg"] and "unreachable" in result["msg"]


def test_a_planned_change_is_recorded_checked_ahead_and_conflicts_with_a_change_in_its_window(run):
    end, ledger, _ics = run
    first, again = end["plan_scheduled"], end["plan_again"]
    assert first["changed"] and first["plan"]["state"] == "scheduled" and first["plan"]["targets"] == ["aws-3"]
    assert not again["changed"]  # the same plan again changes nothing
    check = end["plan_check"]  # checked ahead: its planned window, nothing recorded (no change record yet)
    assert not check.get("failed") and check["recorded"] is False
    assert (check["window"]["start"], check["window"]["end"]) == (first["plan"]["start"], first["plan"]["end"])
    clash = end["plan_clash"]
    assert clash["failed"] and "planned change CHG-PLAN: search reindex" in clash["msg"]
    (conflict,) = [c for c in clash["conflicts"] if c["kind"] == "change"]
    assert conflict["with"] == "CHG-PLAN" and conflict["planned"] and conflict["hosts"] == ["aws-3"]
    with open_ledger(str(ledger), create=False) as led:
        kinds = [e.event["type"] for e in led.events(subject="CHG-PLAN")]
    assert kinds[0] == "io.changeward.plan.scheduled" and kinds.count("io.changeward.plan.scheduled") == 1


def test_a_planned_change_that_opens_is_the_running_one_until_its_planned_end(run):
    end, ledger, _ics = run
    assert end["plan_read"]["plan"]["state"] == "implemented"
    assert end["plan_cancel_opened"]["failed"] and "has opened" in end["plan_cancel_opened"]["msg"]
    running = end["plan_running"]
    assert not running.get("failed") and running["recorded"] is True
    assert running["plan"]["opened"] is True and running["window"]["end"] == end["plan_scheduled"]["plan"]["end"]
    with open_ledger(str(ledger), create=False) as led:
        record = led.get_change("CHG-PLAN")
    assert record["status"] == "open" and [d["gate"] for d in record["gate_decisions"]] == ["conflicts"]


def test_a_canceled_plan_is_kept_in_the_chain_with_its_reason(run):
    end = run[0]
    assert end["plan_canceled"]["changed"] and end["plan_canceled"]["plan"]["reason"] == "superseded"
    assert end["plan_canceled_read"]["plan"]["state"] == "canceled"


def test_the_inventorys_dependency_map_relates_services_and_names_saas_dependencies(run):
    end = run[0]
    dependent = end["dependent_service"]
    assert dependent["failed"]
    (change,) = [c for c in dependent["conflicts"] if c["kind"] == "change"]
    assert change["with"] == "CHG-OPEN" and change["why"] == "service billing (depends on/with checkout)"
    by_map = end["saas_by_map"]
    assert by_map["failed"] and [d["dependency"] for d in by_map["dependencies"]] == ["payfast"]
    assert "payfast: component API is degraded performance" in by_map["msg"]
