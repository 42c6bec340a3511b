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
from pathlib import Path

import pytest
from conftest import INVENTORY_DIR, REPO, ansible_env
from specs import change_vars, example

from cwlab.fleet import CONTROLLER_IP

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


def run_main_job(tmp_path, spec, change_id, *layers):
    """The main job on the spec over the lab inventory (and inventory layers), with a ledger of its own."""
    vars_file = tmp_path / "change.json"
    vars_file.write_text(json.dumps(change_vars(spec, change_id, judge=False)))
    ledger = tmp_path / "ledger.db"
    inventories = [arg for inv in (INVENTORY_DIR / "hybrid.yml", *layers) for arg in ("-i", str(inv))]
    proc = subprocess.run(
        [str(REPO / ".venv" / "bin" / "ansible-playbook"), "playbooks/change.yml", "-e", f"@{vars_file}", *inventories],
        cwd=REPO,
        env=ansible_env(CHANGEWARD_LEDGER=str(ledger), CHANGEWARD_LEDGER_KEY=LEDGER_KEY),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    print(proc.stdout[-5000:], proc.stderr[-2000:])
    return proc, ledger


def change_and_event_types(ledger, change_id):
    """The change's record and the types of its events, read back from its ledger."""
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger

    with open_ledger(str(ledger), create=False, readonly=True) as handle:
        record = handle.get_change(change_id)
        types = [e.event["type"] for e in handle.entries() if e.event["subject"] == change_id]
    return record, types


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
    proc, ledger = run_main_job(tmp_path, spec, change_id)
    assert proc.returncode != 0
    where = f"{tmp_path / 'token.yml'}:1 (task 'Install the app's API token')"
    assert f"rule no-world-readable-secret at {where}" in proc.stdout

    record, types = change_and_event_types(ledger, change_id)
    assert record["outcome"] == "aborted"
    assert not [t for t in types if t.startswith("io.changeward.ring.")], "a ring started"
    decision = [d for d in record["gate_decisions"] if d["gate"] == "compliance"][-1]
    assert decision["decision"] == "fail"
    assert decision["violations"][0]["rule"] == "no-world-readable-secret"
    assert decision["violations"][0]["line"] == 1
    # the host was never touched
    assert lab.ssh(HOST, "test ! -e /etc/cw-compliance/api_token").returncode == 0


RENDERED = """\
- name: Write the app's config
  ansible.builtin.copy:
    dest: /etc/cw-compliance/app.conf
    content: "log_level = {{ app_log_level }}\\n"
    mode: "0640"
"""
NO_DEBUG = {
    "name": "no-debug-logging",
    "applies_to": "file",
    "expression": "!(type(file.after) == string && file.after.contains('log_level = debug'))",
    "message": "production configs do not log at debug level",
}


def test_a_rule_over_the_file_the_change_would_render_blocks_it_on_the_canary(lab, tmp_path):
    """The inventory turns rendering on: after the ring plan the main job runs the change's tasks in check and diff
    mode on the canary and its rule over the rendered content - which the task's text does not show - refuses the
    change naming the rule, host, file and task; nothing is written (about 40 s)."""
    (tmp_path / "conf.yml").write_text(RENDERED)
    layer = tmp_path / "policy.yml"
    rules = {"changeward_compliance_render": True, "changeward_compliance_rules": [NO_DEBUG]}
    layer.write_text(json.dumps({"all": {"vars": rules}}))
    change_id = f"CHG-RENDERED-{int(time.time())}"
    spec = example("demo-release")
    spec.update(
        summary="Configure the app",
        targets={"pattern": HOST},
        apply={"tasks": str(tmp_path / "conf.yml"), "vars": {"app_log_level": "debug"}},
        snapshot={"paths": ["/etc/cw-compliance/app.conf"]},
        health_checks=[],
    )
    proc, ledger = run_main_job(tmp_path, spec, change_id, layer)
    assert proc.returncode != 0
    where = f"{HOST}:/etc/cw-compliance/app.conf (task 'Write the app's config' at {tmp_path / 'conf.yml'}:1)"
    assert f"rule no-debug-logging at {where}" in proc.stdout
    record, types = change_and_event_types(ledger, change_id)
    assert record["outcome"] == "aborted"
    assert not [t for t in types if t.startswith("io.changeward.ring.")], "a ring started"
    first, rendered = [d for d in record["gate_decisions"] if d["gate"] == "compliance"]
    assert first["decision"] == "pass"  # the task's text broke no rule
    assert rendered["decision"] == "fail"
    assert [(v["rule"], v["host"], v["path"]) for v in rendered["violations"]] == [
        ("no-debug-logging", HOST, "/etc/cw-compliance/app.conf")
    ]
    assert lab.ssh(HOST, "test ! -e /etc/cw-compliance/app.conf").returncode == 0  # check mode wrote nothing


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


CHANGED, NEIGHBOUR = "onprem-dc1-01", "onprem-dc1-02"
PII_PRODUCTION, PII_STAGING = "cloud-use1b-01", "edge-s3-01"
REHEARSED_CHANGE = """\
- name: Write the release marker
  ansible.builtin.copy:
    dest: /etc/cw-rehearsal-release
    content: "{{ rehearsal_release }}\\n"
    mode: "0644"

- name: Register with the peer
  ansible.builtin.uri:
    url: "http://{{ rehearsal_peer }}:8080/healthz"
    timeout: 2
"""


def test_a_rehearsal_runs_the_change_inside_the_fault_and_pii_staging_is_guarded_as_production(lab, tmp_path):
    """One ansible-playbook run of two playbooks (about 50 s). rehearsal.yml partitions a staging host from its peer
    for 30 s and applies a change inside that window: its report says the local step held and the step that needs the
    peer did not (naming the task), the local check held and the peer check did not; the host lifts the partition.
    Then pii_parity over a production and a staging PII host: equal at first; with one sshd setting loosened on the
    staging host, refused naming the host and the control."""
    peer = lab.host(NEIGHBOUR).address
    (tmp_path / "change.yml").write_text(REHEARSED_CHANGE)
    layer = tmp_path / "staging.yml"
    layer.write_text(
        json.dumps(
            {
                "staging": {
                    "hosts": {
                        CHANGED: {"changeward_rehearsal_allowed": True},
                        PII_STAGING: {"changeward_stage": "staging"},
                    }
                },
                "production": {"hosts": {PII_PRODUCTION: {"changeward_stage": "production"}}},
            }
        )
    )
    extra = {
        "changeward_rehearsal_hosts": CHANGED,
        # long enough that the change's failing step and both checks run inside it on a loaded CI machine too
        "changeward_rehearsal_fault": {"kind": "partition", "peers": [peer], "duration": 30},
        "changeward_rehearsal_change": {
            "tasks": str(tmp_path / "change.yml"),
            "vars": {"rehearsal_release": "2.0", "rehearsal_peer": peer},
        },
        "changeward_rehearsal_checks": [
            {"name": "own service", "url": "http://127.0.0.1:8080/healthz"},
            {"name": "peer answers", "url": f"http://{peer}:8080/healthz"},
        ],
        "changeward_rehearsal_report": str(tmp_path / "rehearsal.json"),
        "pii_lab_hosts": f"{PII_PRODUCTION},{PII_STAGING}",
        "pii_lab_report": str(tmp_path / "pii.json"),
    }
    try:
        proc = subprocess.run(
            [
                str(REPO / ".venv" / "bin" / "ansible-playbook"),
                "playbooks/rehearsal.yml",
                "tests/integration/playbooks/pii_parity_lab.yml",
                "-e",
                json.dumps(extra),
                "-i",
                str(INVENTORY_DIR / "hybrid.yml"),
                "-i",
                str(layer),
            ],
            cwd=REPO,
            env=ansible_env(),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        print(proc.stdout[-5000:], proc.stderr[-2000:])
        written = lab.ssh(CHANGED, "cat /etc/cw-rehearsal-release").stdout
    finally:
        lab.ssh(CHANGED, "rm -f /etc/cw-rehearsal-release")
        lab.ssh(PII_STAGING, "rm -f /etc/ssh/sshd_config.d/00-a-cw-pii-lab.conf")
    assert proc.returncode == 0  # the rehearsal's own checks: the host lifted the partition by itself
    report = json.loads((tmp_path / "rehearsal.json").read_text())[CHANGED]
    assert written == "2.0\n"  # the local step of the change held under the partition
    assert report["change"]["held"] is False and report["change"]["task"] == "Register with the peer"
    assert [(c["name"], c["held"]) for c in report["checks"]] == [("own service", True), ("peer answers", False)]
    pii = json.loads((tmp_path / "pii.json").read_text())
    assert not pii["before"].get("failed") and pii["before"]["findings"] == []
    assert pii["after"]["failed"] and PII_STAGING in pii["after"]["msg"]
    assert "passwordauthentication=yes" in pii["after"]["msg"].lower()


PRIMARY, SECONDARY, CANDIDATE = "cloud-euw1a-02", "cloud-euw1b-02", "onprem-dc1-legacy"
ORDERS = Path(__file__).with_name("shadow_orders.py").read_text()
# Debian's nginx in front of the running release on PRIMARY: live traffic is served by it, and half of the live
# requests (split_clients) are copied by `mirror` to the shadow gate; a mirror's answer is thrown away by nginx.
NGINX = """
worker_processes 1;
pid /run/cw-shadow-nginx.pid;
error_log /var/log/cw-shadow-nginx.error.log;
events { worker_connections 256; }
http {
    access_log /var/log/cw-shadow-nginx.access.log;
    split_clients "$request_id" $cw_shadow_sampled { 50% "1"; * ""; }
    server {
        listen 8092;
        location / {
            mirror /_cw_shadow;
            proxy_pass http://127.0.0.1:8091;
        }
        location = /_cw_shadow {
            internal;
            if ($cw_shadow_sampled = "") { return 204; }
            proxy_connect_timeout 1s;
            proxy_read_timeout 5s;
            proxy_pass http://GATE$request_uri;
        }
    }
}
"""


def _get(url):
    import urllib.request

    with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - a lab address
        return resp.status


def test_a_shadowed_release_that_changes_one_field_is_stopped_before_the_canary(lab, tmp_path):
    """Live requests through nginx on the running release's host are mirrored to the main job's shadow gate, which
    sends each to the running release, a second copy of it and the new release on a staging host: the one changed
    field (total) is reported, the request ids and timestamps - different in every answer - are not; refused before
    the canary, live traffic served throughout (about 30 s)."""
    import socket
    import threading

    with socket.socket() as probe:
        probe.bind((CONTROLLER_IP, 0))
        gate = f"{CONTROLLER_IP}:{probe.getsockname()[1]}"
    started = {}
    live, stop = [], threading.Event()
    try:
        for host, decimals in ((PRIMARY, 2), (SECONDARY, 2), (CANDIDATE, 1)):
            done = lab.ssh(host, "mkdir -p /opt/cw-shadow && cat > /opt/cw-shadow/orders.py", input=ORDERS)
            assert done.returncode == 0, done.stderr
            run = lab.ssh(
                host, f"setsid python3 /opt/cw-shadow/orders.py 8091 {decimals} </dev/null >/dev/null 2>&1 & echo $!"
            )
            started[host] = run.stdout.strip()
        conf = NGINX.replace("GATE", gate)
        done = lab.ssh(
            PRIMARY,
            "mkdir -p /etc/cw-shadow /var/lib/nginx && cat > /etc/cw-shadow/nginx.conf"
            " && nginx -t -q -c /etc/cw-shadow/nginx.conf && nginx -c /etc/cw-shadow/nginx.conf",
            input=conf,
        )
        assert done.returncode == 0, done.stderr
        url = {h: f"http://{lab.host(h).address}:8091" for h in (PRIMARY, SECONDARY, CANDIDATE)}
        deadline = time.time() + 20
        while True:
            try:
                assert all(_get(f"{u}/orders/1") == 200 for u in url.values())
                break
            except OSError:
                assert time.time() < deadline, "the orders services did not start"
                time.sleep(0.3)

        def traffic():
            n = 0
            while not stop.is_set():
                n += 1
                try:
                    live.append(_get(f"http://{lab.host(PRIMARY).address}:8092/orders/{n}"))
                except OSError as exc:
                    live.append(repr(exc))
                time.sleep(0.05)

        sender = threading.Thread(target=traffic, daemon=True)
        sender.start()
        change_id = f"CHG-SHADOW-{int(time.time())}"
        spec = example("demo-release")
        spec.update(
            summary="Orders release with one decimal behind a shadow",
            targets={"pattern": CANDIDATE},
            shadow={
                "primary": url[PRIMARY],
                "secondary": url[SECONDARY],
                "candidate": url[CANDIDATE],
                "listen": gate,
                "mirror_from": [lab.host(PRIMARY).address],
                "sample": 20,
                "duration": 60,
                "headers": ["Content-Type", "X-Request-Id"],
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
        stop.set()
        sender.join(10)
        access = lab.ssh(PRIMARY, "grep -c 'GET /orders/' /var/log/cw-shadow-nginx.access.log").stdout.strip()
    finally:
        stop.set()
        lab.ssh(PRIMARY, "test -s /run/cw-shadow-nginx.pid && kill -QUIT $(cat /run/cw-shadow-nginx.pid)")
        for host, pid in started.items():
            if pid.isdigit():
                lab.ssh(host, f"kill {pid}")
    assert proc.returncode != 0
    assert "20 of 20 shadowed request(s) differ" in proc.stdout and "differing fields: total (20)" in proc.stdout
    # every live request was served, before, during and after the gate listened
    assert live and set(live) == {200}, live[:5]
    assert int(access) >= len(live) > 20
    record, types = change_and_event_types(ledger, change_id)
    assert record["outcome"] == "aborted"
    assert not [t for t in types if t.startswith("io.changeward.ring.")], "a ring started"
    decision = [d for d in record["gate_decisions"] if d["gate"] == "shadow"][-1]
    assert decision["decision"] == "fail"
    # request ids (body and header) and timestamps differ between the two old copies: noise, not reported
    assert "noise ignored: header.x-request-id, request_id, served_at" in decision["reason"]
    example_ = decision["examples"][0]
    assert example_["request"].startswith("GET /orders/")
    assert list(example_["fields"]) == ["total"]
    assert example_["fields"]["total"]["primary"] == example_["fields"]["total"]["candidate"] + "0"
