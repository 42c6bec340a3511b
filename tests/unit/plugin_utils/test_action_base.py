"""ControllerAction: any ChangewardError becomes a failed task naming the action; every action takes the group's
ledger options; the one ledger rule."""

import pytest
from action_runner import run_action
from ansible.errors import AnsibleActionFail

from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot.errors import ScopeError
from ansible_collections.changeward.hybrid.plugins.plugin_utils import context
from ansible_collections.changeward.hybrid.plugins.plugin_utils.action_base import ControllerAction
from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar.errors import CalendarSourceError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import ChangewardError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.errors import LedgerCorrupt


class Probe(ControllerAction):
    NAME = "probe"
    ARGUMENT_SPEC = {"fail_with": {"type": "str"}}
    ERRORS_BY_NAME = {
        "ledger": LedgerCorrupt("the ledger is broken"),
        "calendar": CalendarSourceError("unreachable", calendar="x.ics"),
        "target": ScopeError("a module_utils error"),
    }

    def ensure(self, args, task_vars):
        if args["fail_with"]:
            raise self.ERRORS_BY_NAME[args["fail_with"]]
        return {"changed": False, "ledger": self.ledger_target(args), "key_given": args["key"] is not None}


def run(args, cls=Probe):
    return run_action(cls, "probe", args, {})


@pytest.mark.parametrize("kind", ["ledger", "calendar", "target"])
def test_any_domain_error_is_a_failed_task_naming_the_action(kind):
    result = run({"fail_with": kind})
    assert result["failed"] is True
    assert result["msg"].startswith("probe: ")
    assert "Traceback" not in result["msg"] and "ansible_collections" not in result["msg"]


def test_with_raise_errors_it_is_an_action_failure_naming_the_action():
    class Raising(Probe):
        RAISE_ERRORS = True

    with pytest.raises(AnsibleActionFail, match=r"^probe: the ledger is broken"):
        run({"fail_with": "ledger"}, Raising)


def test_every_domain_error_class_has_the_one_root():
    assert issubclass(LedgerCorrupt, ChangewardError)
    assert issubclass(CalendarSourceError, ChangewardError)
    assert issubclass(ScopeError, ChangewardError)


def test_the_group_options_and_the_one_ledger_rule(tmp_path, monkeypatch):
    monkeypatch.delenv("CHANGEWARD_LEDGER", raising=False)
    monkeypatch.delenv("CHANGEWARD_LEDGER_KEY", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert run({})["ledger"] == str(tmp_path / "changeward" / "ledger.db")
    monkeypatch.setenv("CHANGEWARD_LEDGER", "/srv/from-env.db")
    assert run({})["ledger"] == "/srv/from-env.db"
    out = run({"ledger": "/srv/option.db", "key": "hmac:k"})
    assert out["ledger"] == "/srv/option.db" and out["key_given"] is True
    assert context.ledger_target("  ") == "/srv/from-env.db"
