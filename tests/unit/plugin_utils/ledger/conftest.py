"""Fixtures for the ledger tests: a small ledger built through the real API."""

import shutil

import pytest
from ledger_testlib import INTERVAL, KEY, N_EVENTS, task_event

from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import api, model


@pytest.fixture(scope="session")
def _ledger_template(tmp_path_factory):
    path = tmp_path_factory.mktemp("template") / "ledger.db"
    with api.open_ledger(str(path), key=KEY, checkpoint_interval=INTERVAL) as ledger:
        ledger.open_change(model.new_record("CHG0001", "normal", "upgrade nginx", "alice", targets=["web1"]))
        ledger.append_many([task_event(i) for i in range(2, N_EVENTS)])
        ledger.close_change("CHG0001", "successful", ["all hosts upgraded"])
    return path


@pytest.fixture
def ledger_path(_ledger_template, tmp_path):
    """A fresh copy of a valid 100-event ledger (checkpoint every 10) to tamper with."""
    dest = tmp_path / "ledger.db"
    shutil.copy(_ledger_template, dest)
    return str(dest)
