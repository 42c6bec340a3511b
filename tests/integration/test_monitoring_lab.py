"""Monitoring that knows about changes, in the lab (docs/monitoring.md): the demo's bad release on cloud hosts
through playbooks/change.yml with the lab's Alertmanager, pushgateway and blackbox exporter.

One bad-release run checks, while it runs and after: the change's silence covers its hosts and service and never
the policy's critical alerts; the canary's critical alert fires, carries the change id (label and annotation) and
reaches ops and the owning team's receiver; the canary's non-critical alert is silenced; after close the silence
is expired and the metadata gone. A second run releases a version whose metrics stay clean but whose health page
fails: the synthetic journey alone fails the canary ring. Decisions are unit-tested (tests/unit/plugin_utils/
monitoring); this checks the wiring on real services.
"""

import json
import subprocess
import sys
import time
import urllib.request

import pytest
from conftest import REPO, ansible_env
from specs import change_vars, demo_release, example

sys.path.insert(0, str(REPO / "tests" / "lab"))
sys.path.insert(0, str(REPO / "collections"))
from cwlab import monitoring
from cwlab.lab import Lab

pytestmark = pytest.mark.reservation("cloud-onprem")
LEDGER_KEY = "hmac:monitoring-test-key-0123456789"
HOSTS = ["cloud-euw1a-01", "cloud-euw1b-01"]
FAST_BAKE = {"canary": "15s", "default": "5s"}
# The bake watch halts at its first critical poll, which can come before Prometheus has evaluated its rules (every
# 5 s, over a 20 s rate window) and handed the alerts to Alertmanager. The alert test keeps the bad canary baking
# for three critical polls (15 s) so the alerts fire while the change's metadata is still on the pushgateway, on a
# loaded CI machine too. Its error rate (15 %) is over both alert thresholds yet small enough that the longer bake
# does not spend the demo's error budget in a freshly started lab and refuse the next change.
ALERT_BAKE = {"canary": "45s", "default": "5s"}
ALERT_WATCH = {"ring_rollout_watch_critical_polls": 3}


@pytest.fixture(scope="module")
def mon_lab(lab):
    handle = Lab.load()
    for service in monitoring.SERVICES:
        assert monitoring.is_ready(service), f"lab {service} is not running (cwlab up starts it)"
    proc = subprocess.run(
        [str(REPO / ".venv" / "bin" / "ansible-playbook"), "playbooks/alert_routes.yml"],
        cwd=REPO,
        env=ansible_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    return handle


def get(url):
    with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - the lab's fixed URLs
        return json.load(resp)


def start(tmp_path, spec, change_id, **extra):
    ledger = tmp_path / "ledger.db"
    vars_file = tmp_path / f"{change_id}.json"
    vars_file.write_text(json.dumps({**change_vars(spec, change_id, judge=False), **extra}))
    argv = [str(REPO / ".venv" / "bin" / "ansible-playbook"), "playbooks/change.yml", "-e", f"@{vars_file}"]
    env = ansible_env(CHANGEWARD_LEDGER=str(ledger), CHANGEWARD_LEDGER_KEY=LEDGER_KEY)
    proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return proc, ledger


def finish(proc, timeout=600):
    out, _unused = proc.communicate(timeout=timeout)
    print(out[-8000:])
    return out


def events(ledger, change_id):
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger

    with open_ledger(str(ledger), create=False, readonly=True) as handle:
        return [e.event for e in handle.entries() if e.event["subject"] == change_id]


def of_type(evs, kind):
    return [e for e in evs if e["type"] == kind]


def rolled_back_ring(evs):
    (ring,) = of_type(evs, "io.changeward.ring.rolled_back")
    return ring["data"]


def test_bad_release_alert_is_annotated_routed_and_the_silence_spares_critical_alerts(mon_lab, tmp_path):
    change_id = f"CHG-MON-BAD-{int(time.time())}"
    spec = demo_release("1.0.66", error_rate=0.15, targets=":".join(HOSTS), bake_times=ALERT_BAKE)
    proc, ledger = start(tmp_path, spec, change_id, **ALERT_WATCH)
    silences, alerts, deadline = {}, {}, time.monotonic() + 600
    while proc.poll() is None and time.monotonic() < deadline:  # watch Alertmanager while the change runs
        for s in get(f"{monitoring.ALERTMANAGER_URL}/api/v2/silences"):
            if s["createdBy"] == f"changeward.hybrid/{change_id}" and s["status"]["state"] == "active":
                silences[s["id"]] = s
        for a in get(f"{monitoring.ALERTMANAGER_URL}/api/v2/alerts"):
            if a["labels"].get("change_id") == change_id:
                alerts.setdefault(a["labels"]["alertname"], a)
        time.sleep(1)
    out = finish(proc)
    assert proc.returncode != 0, "the bad release must fail the job"
    evs = events(ledger, change_id)
    ring = rolled_back_ring(evs)
    canary = ring["hosts"]

    # the silence: the change's hosts and service, never severity=critical; active during the run only
    assert len(silences) == 1, silences
    silence = next(iter(silences.values()))
    matchers = {(m["name"], m["isEqual"], m["isRegex"]): m["value"] for m in silence["matchers"]}
    assert matchers[("service", True, False)] == "demo"
    assert matchers[("severity", False, False)] == "critical"
    assert sorted(matchers[("host", True, True)].replace("\\", "").split("|")) == sorted(HOSTS)
    assert get(f"{monitoring.ALERTMANAGER_URL}/api/v2/silence/{silence['id']}")["status"]["state"] == "expired"
    (silenced,) = of_type(evs, "io.changeward.alerts.silenced")
    assert silenced["data"]["silences"][0]["id"] == silence["id"]
    assert silence["id"] in of_type(evs, "io.changeward.alerts.unsilenced")[0]["data"]["expired"]

    # the canary's critical alert fired with the change's id and was not silenced; the warning one was
    critical, warning = alerts["DemoHighErrorRate"], alerts["DemoErrorsElevated"]
    assert critical["labels"]["host"] in canary
    assert critical["annotations"]["change_id"] == change_id
    assert critical["status"]["state"] == "active" and not critical["status"]["silencedBy"]
    assert warning["status"]["silencedBy"] == [silence["id"]]

    # routed to ops and to the team that owns the canary (its owner_team label)
    team = critical["labels"]["owner_team"]
    assert team == "cloud-platform"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        got = {
            r: [
                a
                for n in monitoring.notifications(mon_lab.monitoring_dir, r)
                for a in n.get("alerts", [])
                if a["labels"].get("change_id") == change_id
            ]
            for r in ("ops", f"team-{team}")
        }
        if all(got.values()):
            break
        time.sleep(2)
    for receiver, seen in got.items():
        assert {a["labels"]["alertname"] for a in seen} == {"DemoHighErrorRate"}, (receiver, seen)

    # after close: the change's metadata left the pushgateway
    metrics = urllib.request.urlopen(f"{monitoring.PUSHGATEWAY_URL}/metrics", timeout=10).read().decode()  # noqa: S310
    assert f'change_id="{change_id}"' not in metrics
    assert of_type(evs, "io.changeward.metadata.withdrawn"), out[-2000:]


def test_a_failing_journey_fails_the_canary_on_its_own_while_metrics_stay_clean(mon_lab, tmp_path):
    change_id = f"CHG-MON-SYN-{int(time.time())}"
    spec = example("demo-release-synthetic")  # /healthz answers 500; / and every metric stay clean
    spec.update(targets={"pattern": ":".join(HOSTS)}, bake_times=FAST_BAKE)
    proc, ledger = start(tmp_path, spec, change_id)
    out = finish(proc)
    assert proc.returncode != 0, "the journey must fail the change"
    evs = events(ledger, change_id)
    ring = rolled_back_ring(evs)
    assert ring["name"] == "canary"
    assert ring["note"].startswith("synthetic check failed:"), ring["note"]
    assert ring["watch"] is None  # no bake was watched: the journey decided
    (journey,) = ring["synthetic"]["journeys"]
    assert [s["step"] for s in journey["steps"]] == ["home", "health"]
    assert journey["steps"][0]["passed"] and journey["steps"][1]["status"] == 500
    (checked,) = of_type(evs, "io.changeward.synthetic.checked")
    assert checked["data"]["verdict"] == "fail"
    decided = [e["data"]["decision"] for e in of_type(evs, "io.changeward.gate.decided")]
    assert {"gate": "synthetic", "decision": "fail"}.items() <= next(
        d for d in decided if d["gate"] == "synthetic"
    ).items()
    assert "synthetic check failed" in out
