"""Target modules behind TargetAction: the group's controller-only options never reach the host, and
rollback_capability defaults to the host's label."""

from unittest.mock import MagicMock

import pytest
from ansible.parsing.dataloader import DataLoader
from ansible.playbook.play_context import PlayContext
from ansible.playbook.task import Task

from ansible_collections.changeward.hybrid.plugins.action import drift_scan, snapshot


def sent(module, name, args, task_vars):
    task = Task()
    task.action = f"changeward.hybrid.{name}"
    task.args = args
    action = module.ActionModule(
        task=task,
        connection=MagicMock(has_native_async=False),
        play_context=PlayContext(),
        loader=DataLoader(),
        templar=None,
        shared_loader_obj=None,
    )
    captured = {}

    def execute(module_name, module_args, task_vars, wrap_async):
        captured.update(name=module_name, args=module_args)
        return {"changed": False}

    action._execute_module = execute
    action._remove_tmp_path = lambda path: None
    action.run(task_vars=task_vars)
    return captured


SECRET = {"ledger": "postgresql://cw:s3cret@db/ledger", "key": "hmac:never-on-a-host"}


@pytest.mark.parametrize(("module", "name"), [(snapshot, "snapshot"), (drift_scan, "drift_scan")])
def test_ledger_and_key_are_never_sent_to_the_host(module, name):
    out = sent(module, name, {"change_id": "CHG-1", **SECRET}, {})
    assert out["name"] == f"changeward.hybrid.{name}"
    assert "ledger" not in out["args"] and "key" not in out["args"]
    assert "s3cret" not in repr(out["args"])


def test_snapshot_takes_rollback_capability_from_the_host_label():
    labelled = {"changeward_labels": {"rollback_capability": "partial"}, "rollback_capability": "full"}
    assert sent(snapshot, "snapshot", {"change_id": "C"}, labelled)["args"]["rollback_capability"] == "partial"
    assert (
        sent(snapshot, "snapshot", {"change_id": "C"}, {"rollback_capability": "none"})["args"]["rollback_capability"]
        == "none"
    )
    given = {"change_id": "C", "rollback_capability": "full"}
    assert sent(snapshot, "snapshot", given, labelled)["args"]["rollback_capability"] == "full"
    # an unlabelled host: the module's own default, which captures and reports the coverage it achieved
    assert "rollback_capability" not in sent(snapshot, "snapshot", {"change_id": "C"}, {})["args"]
