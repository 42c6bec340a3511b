"""No silent ephemeral ledger: under AWX/AAP or ansible-runner in a container, a ledger the job's container
throws away (not configured, or a SQLite file on the container's own disk) stops the run with a message saying
how to configure a shared one. The one ledger rule (context.ledger_target) and the recorder both apply it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.changeward.hybrid.plugins.plugin_utils import context
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.errors import LedgerConfigError

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
AWX = {"JOB_ID": "4711", "AWX_HOST": "https://awx.example.com"}
RUNNER = {"AWX_ISOLATED_DATA_DIR": "/runner/artifacts/1", "RUNNER_OMIT_EVENTS": "False"}
# An EE container: overlay root, a tmpfs /tmp, a volume mounted at /data (a space in /my vol, octal-escaped).
MOUNTINFO = "\n".join(
    [
        "1 0 0:50 / / rw,relatime - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w",
        "2 1 0:51 / /tmp rw,nosuid - tmpfs tmpfs rw",
        "3 1 8:1 /srv/changeward /data rw,relatime - ext4 /dev/sda1 rw",
        "4 1 8:1 /srv/other /my\\040vol rw,relatime - xfs /dev/sda2 rw",
    ]
)


def no_container(path):
    return False


def container(path):
    return path == "/run/.containerenv"


@pytest.mark.parametrize(
    ("environ", "exists", "job"),
    [
        (AWX, no_container, True),  # AWX/AAP: every job runs in a fresh container
        ({**RUNNER}, container, True),  # ansible-runner inside podman (an execution environment)
        ({**RUNNER, "KUBERNETES_SERVICE_HOST": "10.0.0.1"}, no_container, True),  # a container group pod
        ({}, container, False),  # a container that is no job: a developer's machine
        ({**RUNNER}, no_container, False),  # ansible-runner on a host keeps its disk
        ({"JOB_ID": "1"}, no_container, False),  # JOB_ID alone is too common a name to mean AWX
    ],
)
def test_which_runs_are_jobs_whose_disk_is_thrown_away(environ, exists, job):
    assert (context.ephemeral_job(environ, exists) is not None) is job


def check(target, configured, environ=None):
    environ = AWX if environ is None else environ
    context.require_durable_ledger(target, configured, environ=environ, exists=no_container, mountinfo=MOUNTINFO)


def test_an_unconfigured_ledger_in_a_job_is_refused_with_how_to_configure_one():
    with pytest.raises(LedgerConfigError) as exc:
        check("/root/.local/state/changeward/ledger.db", configured=False)
    msg = str(exc.value)
    assert "AWX/AAP job (job 4711)" in msg and "no ledger is configured" in msg
    assert "PostgreSQL DSN in CHANGEWARD_LEDGER" in msg and "credential type" in msg and "mounted" in msg


@pytest.mark.parametrize("path", ["/runner/ledger.db", "/tmp/ledger.db", "/tmp/new/dir/ledger.db"])
def test_a_sqlite_ledger_on_the_containers_own_disk_is_refused(path):
    with pytest.raises(LedgerConfigError, match="on the container's own disk"):
        check(path, configured=True)


def test_a_root_on_a_real_file_system_is_not_the_containers_throwaway_disk():
    # a machine that is itself a container (ext4 root), running ansible-runner: its disk outlives the job
    ext4_root = "1 0 8:1 / / rw,relatime - ext4 /dev/sda1 rw"
    context.require_durable_ledger("/srv/ledger.db", True, environ=RUNNER, exists=lambda p: True, mountinfo=ext4_root)
    with pytest.raises(LedgerConfigError, match="overlay on /"):
        context.require_durable_ledger(
            "/srv/ledger.db", True, environ=RUNNER, exists=lambda p: True, mountinfo=MOUNTINFO
        )


@pytest.mark.parametrize("path", ["/data/ledger.db", "/data/sub/ledger.db", "/my vol/ledger.db"])
def test_a_sqlite_ledger_on_a_mounted_volume_passes(path, monkeypatch):
    # the directories do not exist here: the nearest existing one is "/", so pretend the volume's does
    real_isdir = os.path.isdir
    monkeypatch.setattr(os.path, "isdir", lambda p: p in ("/data", "/my vol") or real_isdir(p))
    monkeypatch.setattr(os.path, "realpath", lambda p: p)
    check(path, configured=True)


def test_postgresql_and_runs_outside_a_job_pass():
    check("postgresql://changeward@db.example.com/ledger", configured=True)
    check("/root/.local/state/changeward/ledger.db", configured=False, environ={})
    check("/tmp/ledger.db", configured=True, environ={"RUNNER_OMIT_EVENTS": "False"})


def test_the_one_ledger_rule_applies_it(monkeypatch):
    monkeypatch.delenv("CHANGEWARD_LEDGER", raising=False)
    for name in ("container", "KUBERNETES_SERVICE_HOST", *context.RUNNER_VARS):
        monkeypatch.delenv(name, raising=False)
    for name, value in AWX.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(LedgerConfigError, match="no ledger is configured"):
        context.ledger_target(None)
    assert context.ledger_target("postgresql://db/ledger") == "postgresql://db/ledger"
    monkeypatch.setenv("CHANGEWARD_LEDGER", "postgresql://db/other")
    assert context.ledger_target(None) == "postgresql://db/other"


PLAYBOOK = """
- name: A recorded run
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Anything
      ansible.builtin.debug:
        msg: hello
"""


def run_recorded(tmp_path, **environ):
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHANGEWARD_", "ANSIBLE_", "JOB_", "AWX_"))}
    env.update(
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_CALLBACKS_ENABLED="changeward.hybrid.recorder",
        ANSIBLE_NOCOLOR="1",
        HOME=str(tmp_path),
        XDG_STATE_HOME=str(tmp_path / "state"),
        PATH=f"{BIN}:{env.get('PATH', '')}",
        **environ,
    )
    cmd = [
        str(BIN / "ansible-playbook"),
        "-i",
        "localhost,",
        "-c",
        "local",
        "play.yml",
        "-e",
        "changeward_change_id=CHG-1",
    ]
    return subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)


def test_the_recorder_stops_an_awx_job_with_no_ledger_configured(tmp_path):
    res = run_recorded(tmp_path, **AWX)
    out = res.stdout + res.stderr
    assert res.returncode == 78, out[-2000:]
    assert "no ledger is configured" in out and "PostgreSQL DSN in CHANGEWARD_LEDGER" in out
    assert not (tmp_path / "state" / "changeward" / "ledger.db").exists()


def test_the_recorder_records_the_same_run_outside_a_job(tmp_path):
    res = run_recorded(tmp_path, CHANGEWARD_LEDGER_KEY="durable-test-key-0123456789abcdef")
    assert res.returncode == 0, (res.stdout + res.stderr)[-2000:]
    assert (tmp_path / "state" / "changeward" / "ledger.db").exists()
