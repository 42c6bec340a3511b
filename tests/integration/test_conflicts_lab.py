"""One change calendar across clouds and SaaS, on the lab: provider maintenance feeds and status pages recorded in
the providers' formats (examples/lab/providers), replayed by examples/lab/provider_feeds.py on the lab's nginx so
their maintenance starts ten minutes from now, and read over HTTP by the gates of playbooks/change.yml.

A regional layer (an extra inventory, as a regional team would add) declares the feeds and the SaaS dependency and
describes lab cloud hosts as the instances the documents name: cloud-euw1a-01 is the EC2 instance of the AWS Health
event, cloud-euw1b-02 the Azure VM of the Freeze, cloud-euw1b-01 the GCE instance with an upcoming maintenance.
Changes planned ahead (change_plans, as changeward.hybrid.change_plan records them) conflict with a change in their
window on a shared host, and a plan opened through the main job is that change (one event in the calendar).
Every refused change is refused at the conflicts or SaaS gate, before any ring: no host is touched, so these tests
reserve only the artifact server (the edge group).
"""

import datetime
import json
import subprocess
import sys
import time

import pytest
from conftest import INVENTORY_DIR, REPO, ansible_env
from specs import change_vars, example

sys.path.insert(0, str(REPO / "collections"))
sys.path.insert(0, str(REPO / "examples" / "lab"))
import provider_feeds

pytestmark = pytest.mark.reservation("edge")

LEDGER_KEY = "hmac:conflicts-lab-test-key-0123456789"
INVENTORY = INVENTORY_DIR / "hybrid.yml"
AWS_HOST, AZURE_HOST, OTHER_HOST, SAME_SERVICE_HOST = (
    "cloud-euw1a-01",
    "cloud-euw1b-02",
    "cloud-use1a-01",
    "cloud-use1b-01",
)
GCP_HOST = "cloud-euw1b-01"
INSTANCES = {
    AWS_HOST: {"instance_id": "i-0a1b2c3d4e5f60718"},
    OTHER_HOST: {"instance_id": "i-0c0ffee0c0ffee000"},
    SAME_SERVICE_HOST: {"instance_id": "i-0d0d0d0d0d0d0d0d0"},
    AZURE_HOST: {"instance_id": "cw-az-vm-01", "provider": "azure", "region": "westeurope", "az": "westeurope-1"},
    GCP_HOST: {"instance_id": "cw-gce-01", "provider": "gcp", "region": "europe-west1", "az": "europe-west1-b"},
}
AWS_EVENT = "AWS_EC2_INSTANCE_REBOOT_MAINTENANCE_SCHEDULED_7c1d0f5e-2b1e-4a8e-9f55-3d6a2c0e9b41"
AZURE_EVENT = "602d9444-d2cd-49c7-8624-8643e7171297"


@pytest.fixture(scope="module")
def region(lab, tmp_path_factory):
    """The served documents and the regional inventory layer; returns (inventory file, base URL)."""
    tmp = tmp_path_factory.mktemp("region")
    name = f"conflicts-{int(time.time())}"
    start = datetime.datetime.now(datetime.UTC).replace(microsecond=0) + datetime.timedelta(minutes=10)
    base = provider_feeds.publish(start, name)
    listed = subprocess.run(
        [str(REPO / ".venv" / "bin" / "ansible-inventory"), "-i", str(INVENTORY), "--list"],
        cwd=REPO,
        env=ansible_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    hostvars = json.loads(listed.stdout)["_meta"]["hostvars"]
    hosts = {h: {"changeward_labels": {**hostvars[h]["changeward_labels"], **extra}} for h, extra in INSTANCES.items()}
    local = {
        "conflicts": {
            "feeds": [
                {"name": "aws-health", "format": "aws_health", "src": f"{base}/aws-health-describe-events.json"},
                {
                    "name": "azure-imds",
                    "format": "azure_scheduled_events",
                    "src": f"{base}/azure-scheduled-events.json",
                },
                {"name": "gce", "format": "gcp_maintenance", "src": f"{base}/gcp-instance.json"},
            ],
            "saas_dependencies": {
                "payfast": {"statuspage": f"{base}/statuspage-degraded.json", "components": ["API"]},
                # nothing listens on this port of the controller: the status page is unreachable
                "payfast-mirror": {"statuspage": "http://198.18.0.1:8099/api/v2/summary.json"},
            },
        }
    }
    inventory = tmp / "region"
    (inventory / "group_vars").mkdir(parents=True)
    (inventory / "hosts.yml").write_text(json.dumps({"provider_feeds": {"hosts": hosts}}))
    (inventory / "group_vars" / "provider_feeds.yml").write_text(json.dumps({"changeward_policy_local": local}))
    return inventory / "hosts.yml", base


def run_change(tmp_path, region, change_id, pattern, ledger=None, **fields):
    """playbooks/change.yml with the demo release on `pattern`; the rings never start when a gate refuses."""
    ledger = ledger or tmp_path / "ledger.db"
    spec = example("demo-release")
    spec["targets"] = {"pattern": pattern}
    spec["bake_times"] = {"canary": "15s", "default": "5s"}
    spec.update(fields)
    vars_file = tmp_path / f"{change_id}.json"
    vars_file.write_text(json.dumps(change_vars(spec, change_id, judge=False)))
    argv = [str(REPO / ".venv" / "bin" / "ansible-playbook"), "playbooks/change.yml", "-e", f"@{vars_file}"]
    argv += ["-i", str(INVENTORY), "-i", str(region[0])]
    proc = subprocess.run(
        argv,
        cwd=REPO,
        env=ansible_env(CHANGEWARD_LEDGER=str(ledger), CHANGEWARD_LEDGER_KEY=LEDGER_KEY),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    print(proc.stdout[-5000:], proc.stderr[-2000:])
    return proc, ledger


def record(ledger, change_id):
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger

    with open_ledger(str(ledger), create=False, readonly=True) as handle:
        rec = handle.get_change(change_id)
        types = [e.event["type"] for e in handle.entries() if e.event["subject"] == change_id]
    return rec, types


def refused_at(ledger, change_id, gate):
    rec, types = record(ledger, change_id)
    assert rec["outcome"] == "aborted"
    assert not [t for t in types if t.startswith("io.changeward.ring.")], "a ring started"
    decision = [d for d in rec["gate_decisions"] if d["gate"] == gate]
    assert decision and decision[-1]["decision"] == "fail"
    return decision[-1]


def test_an_aws_health_scheduled_event_blocks_the_change_on_its_instance(region, tmp_path):
    change_id = f"CHG-CONFLICT-AWS-{int(time.time())}"
    proc, ledger = run_change(tmp_path, region, change_id, AWS_HOST)
    assert proc.returncode != 0
    assert "Gate - conflicts" in proc.stdout and AWS_EVENT in proc.stdout
    decision = refused_at(ledger, change_id, "conflicts")
    assert AWS_EVENT in decision["reason"] and decision["conflicts"][0]["hosts"] == [AWS_HOST]


def test_an_azure_freeze_blocks_the_change_on_its_vm(region, tmp_path):
    change_id = f"CHG-CONFLICT-AZ-{int(time.time())}"
    proc, ledger = run_change(tmp_path, region, change_id, AZURE_HOST)
    assert proc.returncode != 0
    decision = refused_at(ledger, change_id, "conflicts")
    assert "Freeze" in decision["reason"] and AZURE_EVENT in decision["reason"]


def plan(ledger, change_id, service, targets, start, end):
    """A change scheduled ahead in the ledger (what changeward.hybrid.change_plan records)."""
    from ansible_collections.changeward.hybrid.plugins.plugin_utils import change_plans
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger

    planned = change_plans.new_plan(change_id, "normal", f"{service} work", "dave", service, targets, start, end, start)
    with open_ledger(str(ledger), key=LEDGER_KEY) as handle:
        handle.record(change_plans.PLAN_SCHEDULED, change_id, change_plans.schedule(None, planned, None)[1])


def test_a_second_change_on_the_same_service_is_refused_before_its_rings(region, tmp_path):
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.model import new_record

    ledger = tmp_path / "ledger.db"
    first = f"CHG-CONFLICT-FIRST-{int(time.time())}"
    with open_ledger(str(ledger), key=LEDGER_KEY) as handle:  # a demo change already running on another host
        handle.open_change(new_record(first, "standard", "Release demo 1.0.2", "carol", targets=[OTHER_HOST]),
                           data={"service": "demo"})  # fmt: skip
    # and a search change planned on the second change's host, starting while the second change would run
    planned = f"CHG-CONFLICT-PLANNED-{int(time.time())}"
    plan(ledger, planned, "search", [SAME_SERVICE_HOST], time.time() + 1800, time.time() + 3600)
    second = f"CHG-CONFLICT-SECOND-{int(time.time())}"
    proc, _unused = run_change(tmp_path, region, second, SAME_SERVICE_HOST, ledger=ledger)
    assert proc.returncode != 0
    decision = refused_at(ledger, second, "conflicts")
    assert first in decision["reason"] and "service demo" in decision["reason"]
    assert f"planned change {planned}: search work (1 shared host(s))" in decision["reason"]


def gates_playbook(tmp_path, region, tasks):
    """The gates called directly from a play on the controller, against the lab inventory and the regional layer."""
    play = [{"name": "Gates", "hosts": "localhost", "gather_facts": False, "tasks": tasks}]
    (tmp_path / "play.yml").write_text(json.dumps(play))
    proc = subprocess.run(
        [
            str(REPO / ".venv" / "bin" / "ansible-playbook"),
            "-i",
            str(INVENTORY),
            "-i",
            str(region[0]),
            str(tmp_path / "play.yml"),
        ],
        cwd=REPO,
        env=ansible_env(CHANGEWARD_LEDGER=str(tmp_path / "ledger.db"), CHANGEWARD_LEDGER_KEY=LEDGER_KEY),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    print(proc.stdout[-5000:], proc.stderr[-2000:])
    return proc


def test_other_hosts_proceed_a_gce_maintenance_blocks_and_saas_health_blocks_when_degraded_or_unreachable(
    region, tmp_path
):
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger

    with open_ledger(str(tmp_path / "ledger.db"), key=LEDGER_KEY):
        pass  # an empty ledger: no other change is open
    out = tmp_path / "results.json"
    names = ["other_hosts", "gcp", "degraded", "unreachable"]
    tasks = [
        {
            "name": "other_hosts",
            "changeward.hybrid.conflicts": {"targets": [OTHER_HOST, SAME_SERVICE_HOST], "service": "demo"},
            "register": "other_hosts",
        },
        {
            "name": "gcp",
            "changeward.hybrid.conflicts": {"targets": [GCP_HOST], "service": "demo"},
            "register": "gcp",
            "ignore_errors": True,
        },
        *[
            {
                "name": name,
                "changeward.hybrid.saas_health": {"targets": [OTHER_HOST], "dependencies": [dep], "service": "demo"},
                "register": name,
                "ignore_errors": True,
            }
            for name, dep in (("degraded", "payfast"), ("unreachable", "payfast-mirror"))
        ],
        {
            "name": "keep",
            "ansible.builtin.copy": {
                "content": "{{ {" + ", ".join(f"'{n}': {n}" for n in names) + "} | to_json }}",
                "dest": str(out),
                "mode": "0600",
            },
        },
    ]
    proc = gates_playbook(tmp_path, region, tasks)
    assert proc.returncode == 0
    results = json.loads(out.read_text())
    other = results["other_hosts"]
    assert other["blocked"] is False and not [c for c in other["conflicts"] if c["decision"] == "refuse"]
    assert {f["name"]: f["events"] for f in other["feeds"]} == {"aws-health": 1, "azure-imds": 2, "gce": 1}
    gcp = results["gcp"]
    assert gcp["failed"] and "gcp SCHEDULED cw-gce-01/upcomingMaintenance on cloud-euw1b-01" in gcp["msg"]
    assert results["degraded"]["failed"] and "component API is degraded performance" in results["degraded"]["msg"]
    unreachable = results["unreachable"]
    assert unreachable["failed"] and "cannot decide" in unreachable["msg"] and "unreachable" in unreachable["msg"]


def test_the_published_calendar_parses_and_holds_the_changes_and_windows(region, tmp_path):
    from icalendar import Calendar

    # a change planned on the GCE instance, then opened with its id through the main job: the instance's upcoming
    # maintenance refuses it at the conflicts gate; a second plan stays ahead. Then the demo service's calendar.
    ledger = tmp_path / "ledger.db"
    first = f"CHG-CAL-{int(time.time())}"
    plan(ledger, first, "demo", [GCP_HOST], time.time() + 300, time.time() + 3600)
    ahead = f"CHG-CAL-NEXT-{int(time.time())}"
    plan(ledger, ahead, "demo", [OTHER_HOST], time.time() + 86400, time.time() + 90000)
    proc, ledger = run_change(tmp_path, region, first, GCP_HOST, ledger=ledger)
    assert proc.returncode != 0
    decision = refused_at(ledger, first, "conflicts")
    assert f"cw-gce-01/upcomingMaintenance on {GCP_HOST}" in decision["reason"]
    dest = tmp_path / "demo.ics"
    proc = subprocess.run(
        [
            str(REPO / ".venv" / "bin" / "ansible-playbook"),
            "-i",
            str(INVENTORY),
            "-i",
            str(region[0]),
            "playbooks/calendar_publish.yml",
            "-e",
            f"calendar_dest={dest}",
            "-e",
            "calendar_service=demo",
        ],
        cwd=REPO,
        env=ansible_env(CHANGEWARD_LEDGER=str(ledger), CHANGEWARD_LEDGER_KEY=LEDGER_KEY),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    print(proc.stdout[-4000:], proc.stderr[-2000:])
    assert proc.returncode == 0
    cal = Calendar.from_ical(dest.read_bytes())
    summaries = [str(e["SUMMARY"]) for e in cal.walk("VEVENT")]
    (mine,) = [s for s in summaries if f"{first}:" in s]
    assert mine.startswith(f"[closed aborted] {first}:")
    assert [str(e["UID"]) for e in cal.walk("VEVENT")].count(f"{first}@changeward") == 1  # the plan became it
    assert f"[planned] {ahead}: demo work" in summaries
    assert f"AWS maintenance: AWS_EC2_INSTANCE_REBOOT_MAINTENANCE_SCHEDULED ({AWS_HOST})" in summaries
    assert f"AZURE maintenance: Freeze ({AZURE_HOST})" in summaries
    assert "Blackout: Year-end freeze for normal changes" in summaries  # the lab calendar, within 30 days
