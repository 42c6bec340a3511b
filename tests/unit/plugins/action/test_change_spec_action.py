"""The change_spec action: the role is found by Ansible's own role search (the project's roles_path), the
policies are the ones the inventory pins (never the run's), the change carries their digests and its own, and a
bad spec fails the task with the field named."""

import re
from pathlib import Path

import pytest
from action_runner import run_action
from ansible.errors import AnsibleActionFail

from ansible_collections.changeward.hybrid.plugins.action import change_spec

REPO = Path(__file__).resolve().parents[4]
PINNED = {
    "changeward_policy": "examples/policies/lab-gates.yml",
    "changeward_tolerance_policies": {"demo": "docs/examples/policies/demo.yml"},
}
HOSTVARS = {
    "c1": {"changeward_labels": {"env_type": "cloud", "region": "eu-west-1"}},
    "o1": {"env_type": "onprem", "region": "dc"},
    "localhost": PINNED,
}


def run(args, task_vars=None):
    task_vars = task_vars or {"hostvars": HOSTVARS, "inventory_hostname": "localhost", **PINNED}
    return run_action(change_spec.ActionModule, "change_spec", args, task_vars, basedir=str(REPO / "playbooks"))


def spec(**over):
    data = {
        "summary": "raise somaxconn",
        "targets": {"labels": {"env_type": "cloud"}},
        "service": "demo",
        "apply": {"role": "sysctl_setting", "vars": {"sysctl_setting_values": {"net.core.somaxconn": 8192}}},
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
    assert set(change["policy_digests"]) == {"gate", "tolerance"}
    assert change["digest"].startswith("sha256:")


def test_a_role_not_on_the_roles_path_is_refused(monkeypatch):
    from ansible import constants

    monkeypatch.setattr(constants, "DEFAULT_ROLES_PATH", [str(REPO / "roles")])
    with pytest.raises(
        AnsibleActionFail, match=re.escape("change_spec: change_spec.apply.role: role 'sysctl_setting' not found")
    ):
        run(spec())


def test_a_service_whose_pinned_tolerance_policy_is_for_another_is_refused():
    task_vars = {
        "hostvars": {
            **HOSTVARS,
            "localhost": {
                **PINNED,
                "changeward_tolerance_policies": {"billing": PINNED["changeward_tolerance_policies"]["demo"]},
            },
        },
        "inventory_hostname": "localhost",
    }
    task_vars.update(task_vars["hostvars"]["localhost"])
    with pytest.raises(
        AnsibleActionFail, match=re.escape("change_spec.service: 'billing', but the tolerance policy the inventory")
    ):
        run(
            spec(service="billing", apply={"tasks": "playbooks/tasks/apply_change.yml"}, snapshot={"paths": ["/x"]}),
            task_vars,
        )


def test_what_is_recorded_of_the_spec_masks_its_secrets(monkeypatch):
    from ansible import constants

    monkeypatch.setattr(constants, "DEFAULT_ROLES_PATH", [str(REPO / "examples" / "roles")])
    args = spec()
    args["spec"]["apply"]["vars"]["sysctl_setting_db_password"] = "hunter2-secret"
    out = run(args)
    assert out["change"]["apply"]["vars"]["sysctl_setting_db_password"] == "hunter2-secret"  # the role needs it
    assert "hunter2-secret" not in repr(out["recorded"])
    assert out["recorded"]["apply"]["vars"]["sysctl_setting_values"] == {"net.core.somaxconn": 8192}
