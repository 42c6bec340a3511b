"""Pinned policy: a gate reads the gate policy, its regional layers and the tolerance policies only from the
inventory; one given by -e, by play/role/task vars or by set_fact is refused, and a gate of a change refuses a
policy other than the one the change was opened under."""

import re
from types import SimpleNamespace

import pytest
from action_runner import run_action

from ansible_collections.changeward.hybrid.plugins.plugin_utils.action_base import ControllerAction
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.model import new_record
from ansible_collections.changeward.hybrid.plugins.plugin_utils.policy.pinning import (
    PolicyNotPinned,
    digest_mismatch,
    origin_problem,
)

STRICT = {"api_version": "changeward.hybrid/v1", "approval": {"required_approvals": {"low": 2}}}
LAX = {"api_version": "changeward.hybrid/v1", "approval": {"required_approvals": {"low": 0}}}
LOCAL = {"blackout": {"calendars": [{"name": "eu", "windows": []}]}}


class Probe(ControllerAction):
    """A gate that only loads its effective gate policy, as every gate does."""

    NAME = "probe"
    ARGUMENT_SPEC = {"change_id": {"type": "str"}, "targets": {"type": "list", "elements": "str", "default": []}}

    def ensure(self, args, task_vars):
        policy = self.gate_policy(args, task_vars, args["targets"])
        return {"changed": False, "digest": policy.digest, "required": policy.approval["required_approvals"]}


def manager(extra=None, facts=None):
    """A variable manager as Ansible's: extra vars, and facts set during the run per host."""
    return SimpleNamespace(
        extra_vars=extra or {}, _nonpersistent_fact_cache=facts or {}, _vars_cache={}, _fact_cache={}
    )


def run(task_vars, args=None, vm=None, monkeypatch=None):
    if vm is not None:
        monkeypatch.setattr(ControllerAction, "extra_vars", lambda self, cli=False: dict(vm.extra_vars))
        monkeypatch.setattr("ansible.playbook.task.Task.get_variable_manager", lambda self: vm)
    return run_action(Probe, "probe", args or {}, task_vars)


def task_vars(hostvars, **own):
    return {"hostvars": hostvars, "inventory_hostname": "localhost", **hostvars.get("localhost", {}), **own}


def test_the_inventorys_policy_is_used(monkeypatch):
    out = run(task_vars({"localhost": {"changeward_policy": STRICT}}), vm=manager(), monkeypatch=monkeypatch)
    assert not out.get("failed"), out
    assert out["required"]["low"] == 2


def test_a_policy_given_as_an_extra_var_is_refused(monkeypatch):
    # -e reaches hostvars as well as the task: only the variable manager knows it came from the command line
    hv = {"localhost": {"changeward_policy": LAX}}
    out = run(task_vars(hv), vm=manager(extra={"changeward_policy": LAX}), monkeypatch=monkeypatch)
    assert out["failed"] and "changeward_policy of host localhost was given as an extra var (-e)" in out["msg"]


def test_a_policy_set_in_play_vars_is_refused(monkeypatch):
    # play vars reach the task but not hostvars
    tv = task_vars({"localhost": {"changeward_policy": STRICT}}, changeward_policy=LAX)
    out = run(tv, vm=manager(), monkeypatch=monkeypatch)
    assert out["failed"] and "was set in play, role, block or task vars" in out["msg"]


def test_a_policy_set_with_set_fact_is_refused(monkeypatch):
    hv = {"localhost": {"changeward_policy": LAX}}
    out = run(task_vars(hv), vm=manager(facts={"localhost": {"changeward_policy": LAX}}), monkeypatch=monkeypatch)
    assert out["failed"] and "was set by set_fact or include_vars" in out["msg"]


def test_a_targets_regional_layer_given_as_an_extra_var_is_refused(monkeypatch):
    hv = {"localhost": {"changeward_policy": STRICT}, "web1": {"changeward_policy_local": LOCAL}}
    out = run(
        task_vars(hv),
        {"targets": ["web1"]},
        vm=manager(extra={"changeward_policy_local": LOCAL}),
        monkeypatch=monkeypatch,
    )
    assert out["failed"] and "changeward_policy_local of host web1 was given as an extra var" in out["msg"]


def test_a_gate_refuses_another_policy_than_its_change_was_opened_under(monkeypatch, tmp_path):
    ledger_path = str(tmp_path / "ledger.db")
    monkeypatch.setenv("CHANGEWARD_LEDGER", ledger_path)
    strict = run(task_vars({"localhost": {"changeward_policy": STRICT}}), vm=manager(), monkeypatch=monkeypatch)
    with open_ledger(ledger_path, checkpoint_interval=0) as ledger:
        ledger.open_change(
            new_record("CHG-P1", "normal", "pinned", "carol", targets=[]),
            data={"policy_digests": {"gate": strict["digest"]}},
        )
    same = run(
        task_vars({"localhost": {"changeward_policy": STRICT}}),
        {"change_id": "CHG-P1"},
        vm=manager(),
        monkeypatch=monkeypatch,
    )
    assert not same.get("failed"), same
    # the inventory changed under a running change (or a task swapped the file): refused
    other = run(
        task_vars({"localhost": {"changeward_policy": LAX}}),
        {"change_id": "CHG-P1"},
        vm=manager(),
        monkeypatch=monkeypatch,
    )
    assert other["failed"]
    with open_ledger(ledger_path, create=False, readonly=True) as ledger:
        refused = [e.event["data"] for e in ledger.events(subject="CHG-P1", types=["io.changeward.control.refused"])]
    assert (
        refused and refused[-1]["control"] == "pinned policy" and "not the one change CHG-P1" in refused[-1]["reason"]
    )
    assert re.search(
        r"the gate policy now in force \(sha256:\w+\) is not the one change CHG-P1 was opened under", other["msg"]
    )


def test_an_allowed_signers_file_changed_under_a_change_is_another_policy(monkeypatch, tmp_path):
    """Who may approve is part of the policy: the file's content is in the digest the change opened under."""
    ledger_path = str(tmp_path / "ledger.db")
    monkeypatch.setenv("CHANGEWARD_LEDGER", ledger_path)
    signers = tmp_path / "allowed_signers"
    signers.write_text('alice namespaces="changeward-approval" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAlice\n')
    policy = {**STRICT, "approval": {**STRICT["approval"], "allowed_signers": str(signers)}}
    hostvars = {"localhost": {"changeward_policy": policy}}
    opened = run(task_vars(hostvars), vm=manager(), monkeypatch=monkeypatch)
    with open_ledger(ledger_path, checkpoint_interval=0) as ledger:
        ledger.open_change(
            new_record("CHG-P2", "normal", "pinned", "carol", targets=[]),
            data={"policy_digests": {"gate": opened["digest"]}},
        )
    same = run(task_vars(hostvars), {"change_id": "CHG-P2"}, vm=manager(), monkeypatch=monkeypatch)
    assert not same.get("failed"), same
    # someone adds their own key to the file while the change waits for approvals
    with signers.open("a") as handle:
        handle.write('mallory namespaces="changeward-approval" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMallory\n')
    other = run(task_vars(hostvars), {"change_id": "CHG-P2"}, vm=manager(), monkeypatch=monkeypatch)
    assert other["failed"]
    assert "is not the one change CHG-P2 was opened under" in other["msg"]


@pytest.mark.parametrize(
    "kw, expected",
    [
        ({"from_extra_vars": False, "from_facts": False}, None),
        ({"from_extra_vars": False, "from_facts": False, "task_value": 1, "inventory_value": 1}, None),
        ({"from_extra_vars": False, "from_facts": False, "task_value": 1}, "play, role, block or task vars"),
        ({"from_extra_vars": False, "from_facts": False, "task_value": 1, "inventory_value": 2}, "play, role"),
        ({"from_extra_vars": True, "from_facts": False, "task_value": 1, "inventory_value": 1}, "extra var (-e)"),
        ({"from_extra_vars": False, "from_facts": True, "task_value": 1, "inventory_value": 1}, "set_fact"),
    ],
)
def test_origin_problem(kw, expected):
    problem = origin_problem("changeward_policy", "localhost", **kw)
    assert (problem is None) if expected is None else (expected in problem)


def test_digest_mismatch():
    assert digest_mismatch("C", "gate", None, "sha256:a") is None  # opened without digests: nothing to compare
    assert digest_mismatch("C", "gate", "sha256:a", "sha256:a") is None
    assert "not the one change C was opened under" in digest_mismatch("C", "tolerance", "sha256:a", "sha256:b")
    with pytest.raises(PolicyNotPinned):
        raise PolicyNotPinned("x")
