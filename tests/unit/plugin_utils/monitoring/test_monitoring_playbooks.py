"""The monitoring actions as a playbook uses them (ansible-playbook with the project's ansible.cfg), against a local
stand-in for Alertmanager and the pushgateway: a silence recorded in its change and removed at close, the alert
policy only from the inventory, a run that breaks off leaving no silence behind (change_closer), routes written only
when amtool accepts them, metadata in a textfile."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from fake_services import FakeServices

from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import api

REPO = Path(__file__).resolve().parents[4]
BIN = Path(sys.executable).parent
KEY = "monitoring-playbook-key-0123456789abcdef"
POLICY = {
    "api_version": "changeward.hybrid/v1",
    "critical": [{"label": "severity", "value": "critical"}],
    "silence": {"max_window": "3h"},
    "routing": {
        "ops": {"webhook_url": "http://hooks.example/ops"},
        "teams": {"web": {"webhook_url": "http://hooks.example/web"}},
    },
}
OPEN = """
- name: Open a change this run owns
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Open it
      changeward.hybrid.change_record:
        change_id: CHG-MON
        type: standard
        summary: monitoring test
        requester: alice
        targets: [web-01]
        close_on_abort: true
    - name: Silence its alerts
      changeward.hybrid.alert_silence:
        change_id: CHG-MON
        hosts: [web-01]
        service: web
        duration: 1h
"""


@pytest.fixture
def fake():
    with FakeServices() as services:
        yield services


@pytest.fixture
def run(tmp_path, fake):
    def _run(playbook, *extra, policy=None, hostvars="owner_team=web"):
        policy = POLICY if policy is None else policy
        (tmp_path / "group_vars").mkdir(exist_ok=True)
        inventory = tmp_path / "inventory.ini"
        inventory.write_text(
            f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n"
            f"web-01 ansible_host=127.0.0.1 {hostvars}\n"
        )
        group_vars = {"changeward_alert_policy": policy} if policy else {}
        (tmp_path / "group_vars" / "all.yml").write_text(yaml.safe_dump(group_vars))
        (tmp_path / "play.yml").write_text(playbook)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CHANGEWARD_", "ANSIBLE_"))}
        env.update(
            ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
            ANSIBLE_NOCOLOR="1",
            PATH=f"{BIN}:{env.get('PATH', '')}",
            CHANGEWARD_LEDGER=str(tmp_path / "ledger.db"),
            CHANGEWARD_LEDGER_KEY=KEY,
            CHANGEWARD_ALERTMANAGER_URL=fake.url,
        )
        cmd = [str(BIN / "ansible-playbook"), "-i", str(inventory), str(tmp_path / "play.yml"), *extra]
        return subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=300, check=False)

    return _run


def change_events(tmp_path):
    with api.open_ledger(str(tmp_path / "ledger.db"), create=False, readonly=True) as led:
        return led.get_change("CHG-MON"), [e.event for e in led.events(subject="CHG-MON")]


def test_the_silence_is_recorded_and_removed_before_close(run, tmp_path, fake):
    close = """
    - name: Remove the silences
      changeward.hybrid.alert_silence:
        state: absent
        change_id: CHG-MON
    - name: Close it
      changeward.hybrid.change_record:
        state: closed
        change_id: CHG-MON
        outcome: successful
        observations: [done]
"""
    res = run(OPEN + close)
    assert res.returncode == 0, res.stdout[-3000:]
    ((sid, silence),) = fake.silences.items()
    assert silence["status"]["state"] == "expired"
    assert {"name": "severity", "value": "critical", "isRegex": False, "isEqual": False} in silence["matchers"]
    record, evs = change_events(tmp_path)
    assert record["status"] == "closed"
    types = [e["type"] for e in evs]
    assert types.index("io.changeward.alerts.silenced") < types.index("io.changeward.alerts.unsilenced")
    (unsilenced,) = [e for e in evs if e["type"] == "io.changeward.alerts.unsilenced"]
    assert unsilenced["data"]["expired"] == [sid]


def test_a_run_that_breaks_off_leaves_no_silence_behind(run, tmp_path, fake):
    res = run(OPEN + "    - name: Break off\n      ansible.builtin.fail:\n        msg: the run breaks off\n")
    assert res.returncode != 0
    ((sid, silence),) = fake.silences.items()
    assert silence["status"]["state"] == "expired", res.stdout[-2000:] + res.stderr[-2000:]
    record, evs = change_events(tmp_path)
    assert record["status"] == "closed" and record["outcome"] == "failed"
    assert [e["data"]["expired"] for e in evs if e["type"] == "io.changeward.alerts.unsilenced"] == [[sid]]


def test_the_alert_policy_comes_only_from_the_inventory(run, tmp_path, fake):
    res = run(
        OPEN, "-e", json.dumps({"changeward_alert_policy": POLICY | {"critical": [{"label": "x", "value": "y"}]}})
    )
    assert res.returncode != 0
    assert "changeward_alert_policy of host localhost was given as an extra var" in res.stdout
    assert fake.silences == {}


def test_a_window_beyond_the_policy_is_refused_and_nothing_is_silenced(run, tmp_path, fake):
    res = run(OPEN.replace("duration: 1h", "duration: 4h"))
    assert res.returncode != 0 and "max_window" in res.stdout
    assert fake.silences == {}


@pytest.mark.skipif(not shutil.which("amtool"), reason="amtool (Debian prometheus-alertmanager) not installed")
def test_routes_are_written_only_when_every_team_has_a_receiver(run, tmp_path):
    dest = tmp_path / "alertmanager.yml"
    play = f"""
- name: Routes
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Write them
      changeward.hybrid.alertmanager_routes:
        dest: {dest}
        hosts: [web-01]
"""
    assert run(play, "--check").returncode == 0 and not dest.exists(), "check mode writes nothing"
    res = run(play)
    assert res.returncode == 0, res.stdout[-3000:]
    routes = yaml.safe_load(dest.read_text())["route"]["routes"]
    assert routes[1] == {"receiver": "team-web", "matchers": ['owner_team="web"', 'change_id=~".+"']}
    dest.unlink()
    res = run(play, hostvars="owner_team=payments")
    assert res.returncode != 0 and "payments" in res.stdout and not dest.exists()


def test_metadata_goes_to_a_textfile_and_leaves_with_the_change(run, tmp_path):
    prom = tmp_path / "changeward.prom"
    play = f"""
- name: Metadata
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Open the change (what is published is recorded in it)
      changeward.hybrid.change_record:
        change_id: CHG-MON
        type: standard
        summary: metadata test
        requester: alice
        targets: [web-01]
    - name: Publish
      changeward.hybrid.change_metadata:
        change_id: CHG-MON
        service: web
        apply: {{vars: {{web_version: "2.1"}}}}
        rings: [{{name: canary, hosts: [web-01]}}]
        textfile: {prom}
      register: published
    - name: It holds the info metric
      ansible.builtin.assert:
        that: "'version=\\"2.1\\",host=\\"web-01\\",owner_team=\\"web\\"' in lookup('ansible.builtin.file', '{prom}')"
    - name: Withdraw
      changeward.hybrid.change_metadata:
        state: absent
        change_id: CHG-MON
        textfile: {prom}
"""
    res = run(play)
    assert res.returncode == 0, res.stdout[-3000:]
    assert not prom.exists()
    types = [e["type"] for e in change_events(tmp_path)[1]]
    assert types[-2:] == ["io.changeward.metadata.published", "io.changeward.metadata.withdrawn"]
