"""Proving a change before production, on the lab: the main job refuses a change whose tasks would leave a secret
file readable by everyone - at the compliance gate, naming the rule and the line, before any ring or host is
touched (about 30 s); a shadowed release that changes one response field is stopped at the shadow gate before
the canary (about 10 s); a fault rehearsal's partition ends on its host's own timer after the controller that
started it is killed (about 40 s)."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import INVENTORY_DIR, REPO, ansible_env
from specs import change_vars, example

sys.path.insert(0, str(REPO / "collections"))

pytestmark = pytest.mark.reservation("whole-lab")

LEDGER_KEY = "hmac:pre-implementation-lab-test-key-0123456789"
HOST = "cloud-use1a-01"
TASKS = """\
- name: Install the app's API token
  ansible.builtin.copy:
    dest: /etc/cw-compliance/api_token
    content: "not-a-real-token\\n"
    mode: "0644"
"""


def test_a_change_that_would_open_a_world_readable_secret_is_refused_naming_the_rule(lab, tmp_path):
    (tmp_path / "token.yml").write_text(TASKS)
    change_id = f"CHG-COMPLIANCE-{int(time.time())}"
    spec = example("demo-release")
    spec.update(
        summary="Install the app's API token",
        targets={"pattern": HOST},
        apply={"tasks": str(tmp_path / "token.yml")},
        snapshot={"paths": ["/etc/cw-compliance/api_token"]},
        health_checks=[],
    )
    vars_file = tmp_path / "change.json"
    vars_file.write_text(json.dumps(change_vars(spec, change_id, judge=False)))
    ledger = tmp_path / "ledger.db"
    proc = subprocess.run(
        [
            str(REPO / ".venv" / "bin" / "ansible-playbook"),
            "playbooks/change.yml",
            "-e",
            f"@{vars_file}",
            "-i",
            str(INVENTORY_DIR / "hybrid.yml"),
        ],
        cwd=REPO,
        env=ansible_env(CHANGEWARD_LEDGER=str(ledger), CHANGEWARD_LEDGER_KEY=LEDGER_KEY),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    print(proc.stdout[-5000:], proc.stderr[-2000:])
    assert proc.returncode != 0
    where = f"{tmp_path / 'token.yml'}:1 (task 'Install the app's API token')"
    assert f"rule no-world-readable-secret at {where}" in proc.stdout

    from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger

    with open_ledger(str(ledger), create=False, readonly=True) as handle:
        record = handle.get_change(change_id)
        types = [e.event["type"] for e in handle.entries() if e.event["subject"] == change_id]
    assert record["outcome"] == "aborted"
    assert not [t for t in types if t.startswith("io.changeward.ring.")], "a ring started"
    decision = [d for d in record["gate_decisions"] if d["gate"] == "compliance"][-1]
    assert decision["decision"] == "fail"
    assert decision["violations"][0]["rule"] == "no-world-readable-secret"
    assert decision["violations"][0]["line"] == 1
    # the host was never touched
    assert lab.ssh(HOST, "test ! -e /etc/cw-compliance/api_token").returncode == 0


REHEARSED, PEER = "cloud-use1b-01", "onprem-dc1-02"
REACH = (
    "python3 -c \"import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=2)\" http://{}:8080/healthz"
)


def test_a_partition_ends_by_itself_after_the_rehearsing_controller_is_killed(lab, tmp_path):
    """rehearsal.yml cuts a staging host off from its peer; the run is killed mid-fault; the host's own sleeper
    lifts the partition on time (about 40 s)."""
    peer = lab.host(PEER).address
    layer = tmp_path / "staging.yml"
    layer.write_text(json.dumps({"staging": {"hosts": {REHEARSED: {"changeward_rehearsal_allowed": True}}}}))
    extra = {
        "changeward_rehearsal_hosts": REHEARSED,
        "changeward_rehearsal_fault": {"kind": "partition", "peers": [peer], "duration": 20},
        "changeward_rehearsal_checks": [{"name": "peer answers", "url": f"http://{peer}:8080/healthz"}],
    }
    assert lab.ssh(REHEARSED, REACH.format(peer)).returncode == 0, "the peer must answer before the fault"
    run = subprocess.Popen(
        [
            str(REPO / ".venv" / "bin" / "ansible-playbook"),
            "playbooks/rehearsal.yml",
            "-e",
            json.dumps(extra),
            "-i",
            str(INVENTORY_DIR / "hybrid.yml"),
            "-i",
            str(layer),
        ],
        cwd=REPO,
        env=ansible_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 90
        while time.time() < deadline:
            rules = lab.ssh(REHEARSED, "iptables -w -S").stdout
            if "changeward-fault-rehearsal-" in rules:
                break
            assert run.poll() is None, run.stdout.read()
            time.sleep(0.5)
        else:
            pytest.fail("the fault was never applied")
        applied = time.time()
        os.killpg(run.pid, signal.SIGKILL)  # the controller disappears mid-fault
        run.wait(timeout=10)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
    assert lab.ssh(REHEARSED, REACH.format(peer)).returncode != 0, "the partition holds"
    while time.time() < applied + 45:
        done = lab.ssh(REHEARSED, "iptables -w -S | grep -c changeward-fault- ; ls /var/lib/changeward/faults")
        if done.stdout.split() == ["0"]:
            break
        time.sleep(1)
    lifted = time.time() - applied
    assert done.stdout.split() == ["0"], f"the host did not clean up by itself: {done.stdout!r}"
    assert 15 <= lifted <= 45, lifted  # on its own timer, not at once
    assert lab.ssh(REHEARSED, REACH.format(peer)).returncode == 0


PRIMARY, SECONDARY, CANDIDATE = "cloud-euw1a-02", "cloud-euw1b-02", "onprem-dc1-legacy"
CONFIG = "/etc/demo-service/config.json"


def test_a_shadowed_release_that_changes_one_field_is_stopped_before_the_canary(lab, tmp_path):
    """The main job with a shadow section: the running release on two hosts (their host names differ - noise), the
    candidate on a third with another version; refused at the shadow gate naming the field, no ring started
    (about 30 s)."""
    saved = {h: lab.ssh(h, f"cat {CONFIG}").stdout for h in (SECONDARY, CANDIDATE)}
    running = json.loads(lab.ssh(PRIMARY, f"cat {CONFIG}").stdout)
    candidate = {**running, "version": "9.9.9-shadow"}
    try:
        for host, config in ((SECONDARY, running), (CANDIDATE, candidate)):
            done = lab.ssh(host, f"cat > {CONFIG}.tmp && mv {CONFIG}.tmp {CONFIG}", input=json.dumps(config))
            assert done.returncode == 0, done.stderr
        url = {h: f"http://{lab.host(h).address}:8080" for h in (PRIMARY, SECONDARY, CANDIDATE)}
        change_id = f"CHG-SHADOW-{int(time.time())}"
        spec = example("demo-release")
        spec.update(
            summary="Release 9.9.9 behind a shadow",
            targets={"pattern": CANDIDATE},
            shadow={
                "primary": url[PRIMARY],
                "secondary": url[SECONDARY],
                "candidate": url[CANDIDATE],
                "requests": [f"/?n={i}" for i in range(10)],
                "max_rate": 0.0,
            },
        )
        vars_file = tmp_path / "change.json"
        vars_file.write_text(json.dumps(change_vars(spec, change_id, judge=False)))
        ledger = tmp_path / "ledger.db"
        proc = subprocess.run(
            [
                str(REPO / ".venv" / "bin" / "ansible-playbook"),
                "playbooks/change.yml",
                "-e",
                f"@{vars_file}",
                "-i",
                str(INVENTORY_DIR / "hybrid.yml"),
            ],
            cwd=REPO,
            env=ansible_env(CHANGEWARD_LEDGER=str(ledger), CHANGEWARD_LEDGER_KEY=LEDGER_KEY),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        print(proc.stdout[-5000:], proc.stderr[-2000:])
    finally:
        for host, text in saved.items():
            lab.ssh(host, f"cat > {CONFIG}.tmp && mv {CONFIG}.tmp {CONFIG}", input=text)
    assert proc.returncode != 0
    assert "10 of 10 shadowed request(s) differ" in proc.stdout and "differing fields: version (10)" in proc.stdout
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger

    with open_ledger(str(ledger), create=False, readonly=True) as handle:
        record = handle.get_change(change_id)
        types = [e.event["type"] for e in handle.entries() if e.event["subject"] == change_id]
    assert record["outcome"] == "aborted"
    assert not [t for t in types if t.startswith("io.changeward.ring.")], "a ring started"
    decision = [d for d in record["gate_decisions"] if d["gate"] == "shadow"][-1]
    assert decision["decision"] == "fail"
    assert "host" in decision["reason"]  # the host names differ between the two old copies: noise, not reported
    example_fields = decision["examples"][0]["fields"]
    assert list(example_fields) == ["version"] and example_fields["version"]["candidate"] == "9.9.9-shadow"
