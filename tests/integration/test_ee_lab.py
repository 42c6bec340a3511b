"""The main job in the execution environment `make ee` builds, as AWX runs it: ansible-navigator starts
ansible-runner inside the container, the ledger DSN and key arrive as environment variables (as the changeward
ledger credential type injects them), and the collection is the one installed in the image.

Runs under `make test-ee` (CHANGEWARD_EE_IMAGE names the image); `make test` skips it, because building the
image takes minutes. The demo release on two cloud hosts; then the job's events (ansible-runner's artifact)
and the PostgreSQL ledger are read from outside the container, and the record must verify.
"""

import json
import os
import subprocess
import sys

import pytest
from conftest import REPO, ansible_env
from specs import change_vars, demo_release

sys.path.insert(0, str(REPO / "collections"))
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger

IMAGE = os.environ.get("CHANGEWARD_EE_IMAGE")
pytestmark = [
    # the PostgreSQL server's group (one worker at a time); make test-ee runs this suite on its own, so the two
    # cloud hosts it changes are not shared with a cloud-onprem suite then
    pytest.mark.reservation("postgres"),
    pytest.mark.skipif(not IMAGE, reason="make test-ee runs it, in the image make ee builds (CHANGEWARD_EE_IMAGE)"),
]

LEDGER_KEY = "hmac:ee-test-key-0123456789abcdef"
HOSTS = ["cloud-euw1a-01", "cloud-euw1b-01"]
CHANGE_ID = "CHG-EE-1"
# Where ansible-builder installs collections in the image; the checkout's ./collections link is not used.
EE_COLLECTIONS = "/usr/share/ansible/collections"
LAB_KEYS = "/var/lib/changeward-lab"  # the lab inventory's ssh key lives here, outside the project


def test_the_main_job_runs_in_the_execution_environment_and_records_to_postgresql(
    lab, pg_dsn, schema, tmp_path, monkeypatch
):
    spec = demo_release("1.0.8", targets=":".join(HOSTS), bake_times={"canary": "5s", "default": "5s"})
    vars_file = tmp_path / "vars.json"
    vars_file.write_text(json.dumps(change_vars(spec, CHANGE_ID, judge=False)))
    artifact = tmp_path / "artifact.json"
    env = ansible_env(
        CHANGEWARD_LEDGER=pg_dsn,
        CHANGEWARD_LEDGER_KEY=LEDGER_KEY,
        CHANGEWARD_LEDGER_PG_SCHEMA=schema,
        ANSIBLE_COLLECTIONS_PATH=EE_COLLECTIONS,
    )
    env["CONTAINERS_CONF"] = str(REPO / "build" / "ee" / "containers.conf")
    argv = [
        str(REPO / ".venv" / "bin" / "ansible-navigator"),
        "run",
        "playbooks/change.yml",
        "--mode",
        "stdout",
        "--execution-environment",
        "true",
        "--container-engine",
        "podman",
        "--execution-environment-image",
        IMAGE,
        "--pull-policy",
        "never",
        # the credential's variables, passed into the container as AWX's injector puts them in the job's env
        *("--pass-environment-variable", "CHANGEWARD_LEDGER"),
        *("--pass-environment-variable", "CHANGEWARD_LEDGER_KEY"),
        *("--pass-environment-variable", "CHANGEWARD_LEDGER_PG_SCHEMA"),
        *("--set-environment-variable", f"ANSIBLE_COLLECTIONS_PATH={EE_COLLECTIONS}"),
        "--container-options=--network=host",
        f"--execution-environment-volume-mounts={LAB_KEYS}:{LAB_KEYS}:ro",
        f"--execution-environment-volume-mounts={tmp_path}:{tmp_path}",
        "--playbook-artifact-enable",
        "true",
        "--playbook-artifact-save-as",
        str(artifact),
        "--log-file",
        str(tmp_path / "navigator.log"),
        "-e",
        f"@{vars_file}",
    ]
    proc = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=900, check=False)
    print(proc.stdout[-6000:], proc.stderr[-3000:])
    assert proc.returncode == 0
    assert LEDGER_KEY not in proc.stdout + proc.stderr and pg_dsn not in proc.stdout + proc.stderr

    # ansible-runner's job events, as AWX stores them
    events = json.loads(artifact.read_text())["plays"]
    tasks = [task for play in events for task in play["tasks"]]
    assert any(task["task"] == "Open the change record" for task in tasks)
    assert any(
        task["task_action"] in ("changeward.hybrid.change_record", "change_record")
        and task["resolved_action"] == "changeward.hybrid.change_record"
        for task in tasks
    )
    # the collection that ran is the image's: ANSIBLE_COLLECTIONS_PATH (which beats ansible.cfg's ./collections)
    # names only the image's collections directory, so without the collection in the image nothing would run

    monkeypatch.setenv("CHANGEWARD_LEDGER_PG_SCHEMA", schema)
    with open_ledger(pg_dsn, create=False, readonly=True) as ledger:
        record = ledger.get_change(CHANGE_ID)
        verdict = ledger.verify(key=LEDGER_KEY)
    assert record["status"] == "closed" and record["outcome"] == "successful", record
    assert verdict["valid"] is True, verdict["problems"][:3]
