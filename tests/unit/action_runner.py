"""Run an action plugin the way a task does, without a play: the one helper the action unit tests share."""

from unittest.mock import MagicMock

from ansible.parsing.dataloader import DataLoader
from ansible.playbook.play_context import PlayContext
from ansible.playbook.task import Task


def run_action(cls, name, args, task_vars=None, check_mode=False, basedir=None):
    """cls(...).run() for a task changeward.hybrid.<name> with args; basedir is the loader's (a playbook's) dir."""
    task = Task()
    task.action = f"changeward.hybrid.{name}"
    task.args = args
    task.check_mode = check_mode
    loader = DataLoader()
    if basedir:
        loader.set_basedir(str(basedir))
    action = cls(
        task=task,
        connection=MagicMock(),
        play_context=PlayContext(),
        loader=loader,
        templar=None,
        shared_loader_obj=None,
    )
    return action.run(task_vars=task_vars or {})
