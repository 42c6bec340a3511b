"""The change_spec action: the role is found by Ansible's own role search (the project's roles_path), the
tolerance policy names the service, relative paths are read from base_dir, and a bad spec fails the task
with the field named."""

import re
from pathlib import Path

import pytest
from action_runner import run_action
from ansible.errors import AnsibleActionFail

from ansible_collections.changeward.hybrid.plugins.action import change_spec

REPO = Path(__file__).resolve().parents[4]
HOSTVARS = {
    "c1": {"changeward_labels": {"env_type": "cloud", "region": "eu-west-1"}},
    "o1": {"env_type": "onprem", "region": "dc"},
}


def run(args):
    return run_action(
        change_spec.ActionModule, "change_spec", args, {"hostvars": HOSTVARS}, basedir=str(REPO / "playbooks")
    )


def spec(**over):
    data = {
        "summary": "raise somaxconn",
        "targets": {"labels": {"env_type": "cloud"}},
        "apply": {"role": "sysctl_setting", "vars": {"sysctl_setting_values": {"net.core.somaxconn": 8192}}},
        "policy": {"gate": "examples/policies/lab-gates.yml", "tolerance": "docs/examples/policies/demo.yml"},
    }
    data.update(over)
    return {"spec": data, "pattern_hosts": list(HOSTVARS), "requester": "alice", "base_dir": str(REPO)}


def test_a_spec_resolves_with_the_role_the_project_ships(monkeypatch):
    # the project's ansible.cfg puts examples/roles on the roles path
    from ansible import constants

    monkeypatch.setattr(constants, "DEFAULT_ROLES_PATH", [str(REPO / "roles"), str(REPO / "examples" / "roles")])
    change = run(spec())["change"]
    assert change["targets"] == ["c1"] and change["service"] == "demo" and change["requester"] == "alice"
    assert change["apply"]["role_path"] == str(REPO / "examples" / "roles" / "sysctl_setting")
    assert change["snapshot"] == {
        "paths": ["/etc/sysctl.d/60-changeward.conf"],
        "packages": [],
        "services": [],
        "verify_commands": [],
        "source": "role",
    }
    assert change["gate_policy"] == str(REPO / "examples" / "policies" / "lab-gates.yml")


def test_a_role_not_on_the_roles_path_is_refused(monkeypatch):
    from ansible import constants

    monkeypatch.setattr(constants, "DEFAULT_ROLES_PATH", [str(REPO / "roles")])
    with pytest.raises(
        AnsibleActionFail, match=re.escape("change_spec: change_spec.apply.role: role 'sysctl_setting' not found")
    ):
        run(spec())


def test_a_service_other_than_the_tolerance_policys_is_refused():
    with pytest.raises(
        AnsibleActionFail, match=re.escape("change_spec.service: 'billing' but the tolerance policy is for")
    ):
        run(spec(service="billing", apply={"tasks": "playbooks/tasks/apply_change.yml"}, snapshot={"paths": ["/x"]}))


def test_what_is_recorded_of_the_spec_masks_its_secrets(monkeypatch):
    from ansible import constants

    monkeypatch.setattr(constants, "DEFAULT_ROLES_PATH", [str(REPO / "examples" / "roles")])
    args = spec()
    args["spec"]["apply"]["vars"]["sysctl_setting_db_password"] = "hunter2-secret"
    out = run(args)
    assert out["change"]["apply"]["vars"]["sysctl_setting_db_password"] == "hunter2-secret"  # the role needs it
    assert "hunter2-secret" not in repr(out["recorded"])
    assert out["recorded"]["apply"]["vars"]["sysctl_setting_values"] == {"net.core.somaxconn": 8192}
