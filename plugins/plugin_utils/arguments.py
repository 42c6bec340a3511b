# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Task argument errors in the user's words.

ActionBase.validate_argument_spec names the action by its Python module path
(``Unsupported parameters for (ansible_collections.changeward.hybrid.plugins.action.rings) module``) and
reports only the first problem. NamedArgumentValidation validates the same way but names the task's action as
the user wrote it (``changeward.hybrid.rings``), reports every problem and says where the options are
documented. Mix it in before ActionBase: ``class ControllerAction(NamedArgumentValidation, ActionBase)``.
"""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.errors import UnsupportedError


def action_name(task) -> str:
    """The task's action by its full name (changeward.hybrid.rings), however the task spelled it.

    Read without resolving: the executor has resolved it by the time an action runs (the property would try
    again and warn where it has not, as in a unit test)."""
    return getattr(task, "_resolved_action", None) or task.action


def argument_error(name: str, errors) -> str:
    """One message for a task's argument errors (a validator's ErrorCollection): each problem, then the fix."""
    problems = []
    for error in errors:
        text = error.msg if hasattr(error, "msg") else str(error)
        if isinstance(error, UnsupportedError):
            text = f"unsupported parameters: {text}"
        problems.append(text.rstrip("."))
    return f"{name}: {'; '.join(problems)}. Correct the task; ansible-doc {name} lists every option."


class NamedArgumentValidation:
    """ActionBase.validate_argument_spec with errors that name the action as the task does (see the module doc)."""

    def validate_argument_spec(
        self,
        argument_spec=None,
        mutually_exclusive=None,
        required_together=None,
        required_one_of=None,
        required_if=None,
        required_by=None,
    ):
        args = self._task.args.copy()
        validator = ArgumentSpecValidator(
            argument_spec,
            mutually_exclusive=mutually_exclusive,
            required_together=required_together,
            required_one_of=required_one_of,
            required_if=required_if,
            required_by=required_by,
        )
        result = validator.validate(args)
        args.update(result.validated_parameters)
        # Validation errors fail the task even in check mode, as ActionBase's do.
        if result.error_messages:
            raise AnsibleActionFail(argument_error(action_name(self._task), result.errors), obj=self._task.args)
        return result, args
