"""Task argument errors name the action as the task does and every problem, never the plugin's Python path."""

import pytest
from action_runner import run_action
from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.changeward.hybrid.plugins.plugin_utils.arguments import NamedArgumentValidation

SPEC = {"hosts": {"type": "list", "elements": "str", "required": True}, "steps": {"type": "int"}}


class Demo(NamedArgumentValidation, ActionBase):
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        return self.validate_argument_spec(argument_spec=SPEC)[1]


def test_valid_arguments_are_validated_and_returned():
    assert run_action(Demo, "rings", {"hosts": ["a"], "steps": "3"}) == {"hosts": ["a"], "steps": 3}


def test_an_unsupported_option_is_named_with_the_action_and_the_fix():
    with pytest.raises(AnsibleActionFail) as caught:
        run_action(Demo, "rings", {"hosts": ["a"], "colour": "blue"})
    msg = caught.value.message
    assert msg.startswith("changeward.hybrid.rings: unsupported parameters: colour. Supported parameters include:")
    assert msg.endswith("Correct the task; ansible-doc changeward.hybrid.rings lists every option.")
    assert "ansible_collections" not in msg and "plugins.action" not in msg


def test_every_problem_is_reported_not_only_the_first():
    with pytest.raises(AnsibleActionFail) as caught:
        run_action(Demo, "rings", {"steps": "many", "colour": "blue"})
    msg = caught.value.message
    assert "missing required arguments: hosts" in msg
    assert "steps" in msg and "colour" in msg
