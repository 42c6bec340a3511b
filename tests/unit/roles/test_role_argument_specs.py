"""The roles' meta/argument_specs.yml: what ansible-doc shows, what Ansible validates at role entry, and the
defaults it documents are the ones defaults/main.yml sets.

The playbooks run ansible-playbook against localhost with --tags on a tag no task has: the include and the
validation task Ansible inserts at role entry are tagged `always`, so they run and nothing else of the role
does (no lab)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
ROLES = ("ring_rollout", "drift_baseline")


def described(option: dict) -> str:
    """An option's description as one text (a string or a list of paragraphs)."""
    text = option.get("description") or ""
    return text if isinstance(text, str) else " ".join(text)


def specs(role: str) -> dict:
    return yaml.safe_load((REPO / "roles" / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]


def role_defaults(role: str) -> dict:
    return yaml.safe_load((REPO / "roles" / role / "defaults" / "main.yml").read_text()) or {}


def env_for(tmp: Path) -> dict:
    (tmp / "ansible.cfg").write_text(f"[defaults]\ncollections_path = {REPO / 'collections'}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHANGEWARD_", "ANSIBLE_"))}
    env.pop("PYTHONPATH", None)
    env.update(ANSIBLE_CONFIG=str(tmp / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="0")
    return env


def play(tmp: Path, role: str, role_vars: dict, tasks_from: str = "main") -> subprocess.CompletedProcess:
    """Include the role with role_vars; only its argument validation runs."""
    book = [
        {
            "name": "Role entry",
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [
                {
                    "name": "Include the role",
                    "ansible.builtin.include_role": {"name": f"changeward.hybrid.{role}", "tasks_from": tasks_from},
                    "vars": role_vars,
                    "tags": ["always"],  # the include itself; the role's tasks do not inherit it
                }
            ],
        }
    ]
    (tmp / "play.yml").write_text(yaml.safe_dump(book, sort_keys=False))
    return subprocess.run(
        [
            str(BIN / "ansible-playbook"),
            *("-i", "localhost,", "-c", "local", "--tags", "no-such-tag"),
            *("-e", f"ansible_python_interpreter={sys.executable}", str(tmp / "play.yml")),
        ],
        cwd=tmp,
        env=env_for(tmp),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


RING_ROLLOUT_VARS = {
    "ring_rollout_change_id": "CHG-1",
    "ring_rollout_plan": {"rings": [], "sizes": [1]},
    "ring_rollout_policy": "policy.yml",
    "ring_rollout_apply_tasks": "apply.yml",
    "ring_rollout_prometheus_url": "http://127.0.0.1:9090",
}


@pytest.mark.parametrize("role", ROLES)
def test_ansible_doc_renders_the_role(tmp_path, role):
    proc = subprocess.run(
        [str(BIN / "ansible-doc"), "-t", "role", "--json", f"changeward.hybrid.{role}"],
        env=env_for(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(proc.stdout)[f"changeward.hybrid.{role}"]
    assert set(doc["entry_points"]) == set(specs(role))
    for entry in doc["entry_points"].values():
        assert entry["short_description"] and entry["options"]


@pytest.mark.parametrize("role", ROLES)
def test_documented_defaults_are_the_roles_defaults(role):
    defaults = role_defaults(role)
    for entry, spec in specs(role).items():
        options = spec["options"]
        # every variable the role defaults is documented, with that value; an option without one is required.
        # A default that is a whole Jinja expression is described instead: validation would evaluate and print it.
        assert set(defaults) <= set(options), (entry, set(defaults) - set(options))
        for name, option in options.items():
            if name in defaults and str(defaults[name]).startswith("{{"):
                assert "default" not in option and not option.get("required"), (entry, name)
                assert "Defaults to" in described(option), (entry, name)
            elif name in defaults:
                assert option.get("default") == defaults[name], (entry, name)
                assert not option.get("required"), (entry, name)
            else:
                assert option.get("required") is True and "default" not in option, (entry, name)


def test_valid_ring_rollout_arguments_pass_validation(tmp_path):
    proc = play(tmp_path, "ring_rollout", RING_ROLLOUT_VARS)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "Validating arguments against arg spec 'main'" in proc.stdout


def test_a_wrong_ring_rollout_argument_fails_naming_it(tmp_path):
    proc = play(tmp_path, "ring_rollout", {**RING_ROLLOUT_VARS, "ring_rollout_on_inconclusive": "ignore"})
    assert proc.returncode != 0
    assert "ring_rollout_on_inconclusive" in proc.stdout and "rollback, hold" in proc.stdout, proc.stdout[-3000:]


def test_a_missing_ring_rollout_argument_fails_naming_it(tmp_path):
    role_vars = {k: v for k, v in RING_ROLLOUT_VARS.items() if k != "ring_rollout_plan"}
    proc = play(tmp_path, "ring_rollout", role_vars)
    assert proc.returncode != 0
    assert "missing required arguments: ring_rollout_plan" in proc.stdout, proc.stdout[-3000:]


def test_the_drift_baseline_defaults_pass_validation_on_both_entry_points(tmp_path):
    for entry in ("main", "render"):
        proc = play(tmp_path, "drift_baseline", {}, tasks_from=entry)
        assert proc.returncode == 0, proc.stdout[-3000:]
        assert f"Validating arguments against arg spec '{entry}'" in proc.stdout


def test_a_wrong_drift_baseline_suboption_fails_naming_it(tmp_path):
    services = [{"name": "svc", "init_template": "svc.j2", "state": "sideways", "enabled": True}]
    proc = play(tmp_path, "drift_baseline", {"drift_baseline_services": services}, tasks_from="render")
    assert proc.returncode != 0
    assert "drift_baseline_services" in proc.stdout and "sideways" in proc.stdout, proc.stdout[-3000:]
