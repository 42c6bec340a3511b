"""playbooks/review.yml through ansible-playbook: reviews opened for a rolled-back change, the PIR drafted,
then completed once."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugin_utils" / "governance"))
from test_review import KEY, rolled_back_change

from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import api

REPO = Path(__file__).resolve().parents[4]


@pytest.fixture
def ledger_path(tmp_path, monkeypatch):
    for name in ("CHANGEWARD_LEDGER", "CHANGEWARD_LEDGER_KEY"):
        monkeypatch.delenv(name, raising=False)
    path = str(tmp_path / "ledger.db")
    with api.open_ledger(path, key=KEY, checkpoint_interval=5) as led:
        rolled_back_change(led)
    return path


def playbook(ledger, *extra):
    env = {**os.environ, "CHANGEWARD_LEDGER": ledger, "CHANGEWARD_LEDGER_KEY": KEY, "ANSIBLE_FORCE_COLOR": "0"}
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            # localhost only: no inventory (the project's default is the lab's, absent on a fresh clone)
            "-i",
            "localhost,",
            "-c",
            "local",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            "playbooks/review.yml",
            "-e",
            "change_id=CHG-RB",
            *extra,
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_review_playbook_opens_drafts_and_completes(ledger_path, tmp_path):
    proc = playbook(ledger_path, "-e", f"review_dest={tmp_path / 'pir'}")
    assert proc.returncode == 0, proc.stdout[-3000:]
    draft = (tmp_path / "pir" / "CHG-RB-pir.md").read_text()
    assert draft.startswith("# Post-incident review: CHG-RB") and "rolled back (wave1)" in draft
    with api.open_ledger(ledger_path, readonly=True) as led:
        assert [e.event["data"]["kind"] for e in led.events(subject="CHG-RB", types="io.changeward.review.opened")] == [
            "rollback"
        ]
    done = playbook(ledger_path, "-e", "review_kind=rollback", "-e", "review_by=sre", "-e", "review_summary=OPS-1")
    assert done.returncode == 0, done.stdout[-3000:]
    again = playbook(ledger_path, "-e", "review_kind=rollback", "-e", "review_by=sre", "-e", "review_summary=OPS-1")
    assert again.returncode != 0 and "completed already" in again.stdout


def adhoc(ledger, args):
    env = {**os.environ, "CHANGEWARD_LEDGER": ledger, "CHANGEWARD_LEDGER_KEY": KEY, "ANSIBLE_FORCE_COLOR": "0"}
    env["ANSIBLE_CALLBACK_RESULT_FORMAT"] = "json"
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible"),
            "-v",
            "localhost",
            "-i",
            "localhost,",
            "-c",
            "local",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            "-m",
            "changeward.hybrid.review",
            "-a",
            args,
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_review_action_says_when_the_policy_requires_observations_at_close(ledger_path, tmp_path):
    policy = tmp_path / "policy.yml"
    policy.write_text("api_version: changeward.hybrid/v1\nreview:\n  observations_required: [rolled_back]\n")
    rolled = adhoc(ledger_path, f"state=observations change_id=CHG-RB outcome=rolled_back policy={policy}")
    assert rolled.returncode == 0 and '"required": true' in rolled.stdout and "rolled_back" in rolled.stdout, (
        rolled.stdout
    )
    fine = adhoc(ledger_path, f"state=observations change_id=CHG-RB outcome=successful policy={policy}")
    assert fine.returncode == 0 and '"required": false' in fine.stdout, fine.stdout
