"""The README's module_defaults example, run as written: the ledger set once for group/changeward.hybrid.hybrid is
accepted by every action of the group (meta/runtime.yml) and is the ledger the actions use."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
KEY = "hmac:unit-test-module-defaults-key-0123"


def readme_module_defaults() -> dict:
    blocks = re.findall(r"```yaml\n(.*?)```", (REPO / "README.md").read_text(), re.S)
    found = [yaml.safe_load(b) for b in blocks if "module_defaults:" in b]
    assert len(found) == 1, "the README shows one module_defaults example"
    return found[0]["module_defaults"]


def group_actions() -> list[str]:
    runtime = yaml.safe_load((REPO / "meta" / "runtime.yml").read_text())
    return list(runtime["action_groups"]["hybrid"])


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("module_defaults")
    defaults = readme_module_defaults()
    group = defaults["group/changeward.hybrid.hybrid"]
    assert set(group) == {"ledger"}
    ledger = tmp / "ledger.db"
    group["ledger"] = str(ledger)  # the example's path, moved into the test's directory
    tasks = [
        {
            "name": "Open a change (in the ledger module_defaults names)",
            "changeward.hybrid.change_record": {
                "change_id": "CHG-MD-1",
                "type": "standard",
                "summary": "module_defaults",
                "requester": "alice",
            },
            "register": "opened",
        },
        {
            "name": "Record an event of it",
            "changeward.hybrid.ledger_record": {"change_id": "CHG-MD-1", "type": "io.changeward.test.noted"},
            "register": "noted",
        },
        {"name": "Verify that ledger", "changeward.hybrid.ledger_verify": {}, "register": "verified"},
    ]
    names = group_actions()
    # Every action of the group with no arguments of its own, in check mode: each fails on what it lacks, never
    # on the group's ledger option.
    for name in names:
        tasks.append(
            {
                "name": f"Call {name}",
                f"changeward.hybrid.{name}": {},
                "check_mode": True,
                "ignore_errors": True,
                "register": f"r_{name}",
            }
        )
    results = tmp / "results.json"
    collect = "{" + ", ".join(f"'{n}': r_{n}" for n in names) + ", 'opened': opened, 'noted': noted}"
    tasks.append(
        {
            "name": "Save",
            "ansible.builtin.copy": {
                "dest": str(results),
                "content": "{{ " + collect + " | to_json }}",
                "mode": "0600",
            },
        }
    )
    play = [
        {"name": "README", "hosts": "localhost", "gather_facts": False, "module_defaults": defaults, "tasks": tasks}
    ]
    (tmp / "play.yml").write_text(yaml.safe_dump(play, sort_keys=False))
    (tmp / "ansible.cfg").write_text(f"[defaults]\ncollections_path = {REPO / 'collections'}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHANGEWARD_", "ANSIBLE_"))}
    env.pop("PYTHONPATH", None)
    state = tmp / "state"
    env.update(
        ANSIBLE_CONFIG=str(tmp / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_LOCALHOST_WARNING="0",
        CHANGEWARD_LEDGER_KEY=KEY,
        XDG_STATE_HOME=str(state),  # the default ledger: it must stay untouched
    )
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            "localhost,",
            "-c",
            "local",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            str(tmp / "play.yml"),
        ],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert results.exists(), proc.stdout[-4000:] + proc.stderr[-4000:]
    return {"results": json.loads(results.read_text()), "ledger": ledger, "state": state, "proc": proc}


def test_the_actions_use_the_ledger_module_defaults_names(run):
    assert run["results"]["opened"]["changed"] is True
    assert run["results"]["noted"]["ledger"] == str(run["ledger"])
    assert run["ledger"].exists()
    assert not (run["state"] / "changeward" / "ledger.db").exists()
    assert run["results"]["ledger_verify"]["src"] == str(run["ledger"]), run["results"]["ledger_verify"]
    assert run["results"]["ledger_verify"].get("valid") is True


@pytest.mark.parametrize("name", group_actions())
def test_every_action_of_the_group_accepts_the_ledger_option(run, name):
    msg = str(run["results"][name].get("msg", ""))
    assert "Unsupported parameters" not in msg, (name, msg)
