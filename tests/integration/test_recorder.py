"""The recorder callback on real ansible-playbook runs (localhost, local connection) with real sinks.

Covers what it records, that it stops the run when the ledger cannot be written (and how), redaction with
planted canary secrets, and the delivery guarantees: sinks down for a whole run, sinks flapping during a
run, the controller killed with SIGKILL mid-run, and two playbooks writing to one SQLite ledger at once.
"""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter

import pytest
from sinks import fixtures as sink_fixtures
from sinks.fixtures import (
    LEDGER_KEY,
    REPO,
    VENV,
    VENV313,
    assert_exactly_once_in_order,
    inventory,
    ledger_events,
    playbook,
    recorder_env,
    run_playbook,
    ship_env,
    shipper_processes,
    wait_for,
)

from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.verify import verify

# pytest fixtures of the real sinks (assigned, so linters see them used)
http_sink = sink_fixtures.http_sink
rsyslog = sink_fixtures.rsyslog
rsyslog_tls = sink_fixtures.rsyslog_tls

VENVS = [pytest.param(v, id=core) for v, core in ((VENV, "2.19"), (VENV313, "2.21")) if (v / "bin").is_dir()]
EXIT_LEDGER, EXIT_CONFIG = 74, 78


def steps(n, marker=None, sleep=None):
    """n tasks; each appends its number to ``marker`` (to see what ran) and/or sleeps ``sleep`` seconds."""
    tasks = []
    for i in range(n):
        task = {"name": f"step {i}", "changed_when": False}
        if marker is not None:
            task["ansible.builtin.shell"] = f"{f'sleep {sleep}; ' if sleep else ''}echo {i} >> {marker}"
        else:
            task["ansible.builtin.command"] = f"sleep {sleep}" if sleep else "true"
        tasks.append(task)
    return tasks


def by_type(events):
    return Counter(e["type"] for e in events)


def all_sinks(rsyslog, http_sink, tmp_path):
    return [
        *rsyslog.sink_configs(),
        *http_sink.sink_configs(),
        {"name": "auditor", "type": "jsonl", "path": str(tmp_path / "export.jsonl")},
    ]


def check_sinks(rsyslog, http_sink, tmp_path, db):
    """Every sink got every event and checkpoint of the ledger exactly once after dedupe, in order."""
    wait_for(lambda: len(rsyslog.items("cw-tls")) >= 1, what="rsyslog to write")
    time.sleep(0.5)
    dups = {}
    for what, received in (
        ("syslog tcp", rsyslog.items("cw-tcp")),
        ("syslog tls", rsyslog.items("cw-tls")),
        ("webhook", http_sink.items("webhook")),
        ("splunk hec", http_sink.items("hec")),
    ):
        dups[what] = assert_exactly_once_in_order(received, db, what)
    report = verify(str(tmp_path / "export.jsonl"), key=LEDGER_KEY)
    assert report["valid"], report["problems"]
    assert report["events"] == len(ledger_events(db))
    return dups


# -- what is recorded ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("venv", VENVS)
def test_records_runs_plays_tasks_and_every_result_status(tmp_path, venv):
    db = tmp_path / "ledger.db"
    inv = inventory(
        tmp_path / "inv.yml",
        venv,
        extra_hosts={
            "down": {"ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_port": 1, "ansible_user": "x"}
        },
    )
    pb = playbook(
        tmp_path / "pb.yml",
        [
            {"name": "ok task", "ansible.builtin.command": "true", "changed_when": False},
            {"name": "changed task", "ansible.builtin.command": "true"},
            {"name": "failing task", "ansible.builtin.command": "false", "ignore_errors": True, "changed_when": False},
            {"name": "skipped task", "ansible.builtin.command": "true", "when": False},
        ],
    )
    out = run_playbook(pb, inv, recorder_env(db, ANSIBLE_SSH_RETRIES=0, CHANGEWARD_CHANGE_ID="CHG-1001"), venv=venv)
    assert out.returncode == 4, out.stdout + out.stderr  # the unreachable host
    assert "changeward recorder" not in out.stdout + out.stderr  # a notification callback prints nothing
    assert "TASK [ok task]" in out.stdout  # the stdout callback still does its job
    events = ledger_events(db)
    assert {e["subject"] for e in events} == {"CHG-1001"}
    counts = by_type(events)
    assert counts["io.changeward.run.started"] == counts["io.changeward.run.finished"] == 1
    assert counts["io.changeward.play.started"] == 1 and counts["io.changeward.task.started"] == 4
    results = {(e["data"]["task"], e["data"]["host"]): e["data"] for e in events if e["type"].endswith("task.result")}
    assert results[("ok task", "localhost")]["status"] == "ok"
    assert results[("changed task", "localhost")]["status"] == "changed"
    assert results[("failing task", "localhost")]["status"] == "failed"
    assert results[("failing task", "localhost")]["ignore_errors"] is True
    assert results[("skipped task", "localhost")]["status"] == "skipped"
    assert results[("ok task", "down")]["status"] == "unreachable"
    started = next(e for e in events if e["type"] == "io.changeward.task.started")
    assert started["data"]["module"] == "ansible.builtin.command" and started["data"]["arg_keys"] == ["_raw_params"]
    assert "args" not in started["data"]  # argument values are not recorded by default
    finished = next(e for e in events if e["type"] == "io.changeward.run.finished")
    assert finished["data"]["outcome"] == "failed"
    assert finished["data"]["stats"]["localhost"]["changed"] == 1
    assert finished["data"]["stats"]["down"]["unreachable"] == 1
    run = next(e for e in events if e["type"] == "io.changeward.run.started")
    assert run["data"]["playbook"] == str(pb) and run["data"]["unattributed"] is False
    report = verify(str(db), key=LEDGER_KEY)
    assert report["valid"], report["problems"]
    assert report["checkpoints"] >= 1  # the closing checkpoint of the run
    validate_against_schemas(events)


def validate_against_schemas(events):
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    schemas = {p.name: json.loads(p.read_text()) for p in (REPO / "docs" / "schemas").glob("*.schema.json")}
    registry = Registry().with_resources(
        (s.get("$id", name), Resource.from_contents(s)) for name, s in schemas.items() if "$id" in s
    )
    validator = Draft202012Validator(schemas["event.schema.json"], registry=registry)
    for event in events:
        validator.validate(event)


def test_extra_var_change_id_wins_and_other_stdout_callbacks_are_unaffected(tmp_path):
    db = tmp_path / "ledger.db"
    inv = inventory(tmp_path / "inv.yml")
    pb = playbook(tmp_path / "pb.yml", steps(3))
    env = recorder_env(
        db, CHANGEWARD_CHANGE_ID="CHG-ENV", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.minimal", JOB_ID="11"
    )
    out = run_playbook(pb, inv, env, args=("-e", "changeward_change_id=CHG-EXTRA", "-e", "awx_job_id=4712"))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "localhost | SUCCESS" in out.stdout
    events = ledger_events(db)
    assert {e["subject"] for e in events} == {"CHG-EXTRA"}
    assert by_type(events)["io.changeward.task.result"] == 3
    assert "changeward_change_id" in events[0]["data"]["extra_var_names"]
    assert events[0]["data"]["awx_job_id"] == "4712"  # AWX's extra var before the JOB_ID environment variable


def test_records_under_ansible_runner(tmp_path):
    db = tmp_path / "ledger.db"
    inv = inventory(tmp_path / "inv.yml")
    pb = playbook(tmp_path / "pb.yml", steps(3))
    env = recorder_env(db, CHANGEWARD_CHANGE_ID="CHG-AWX", JOB_ID="4711")
    env["PATH"] = f"{VENV / 'bin'}{os.pathsep}{env['PATH']}"
    (tmp_path / "runner").mkdir()
    script = (
        "import json, os, sys, ansible_runner\n"
        "keep = ('CHANGEWARD_', 'ANSIBLE_', 'JOB_ID')\n"
        "envvars = {k: v for k, v in os.environ.items() if k.startswith(keep)}\n"
        "r = ansible_runner.run(private_data_dir=sys.argv[1], playbook=sys.argv[2], inventory=sys.argv[3],\n"
        "                       envvars=envvars, quiet=True)\n"
        "events = [e.get('event') for e in r.events]\n"
        "print(json.dumps({'status': r.status, 'rc': r.rc, 'events': events}))\n"
    )
    out = subprocess.run(
        [str(VENV / "bin" / "python"), "-c", script, str(tmp_path / "runner"), str(pb), str(inv)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["status"] == "successful" and result["rc"] == 0
    assert result["events"].count("runner_on_ok") == 3  # runner's own event stream is intact
    events = ledger_events(db)
    assert by_type(events)["io.changeward.task.result"] == 3
    assert events[0]["data"]["awx_job_id"] == "4711"


def test_unattributed_runs_become_changes_of_their_own_only_when_asked(tmp_path):
    db = tmp_path / "ledger.db"
    inv = inventory(tmp_path / "inv.yml")
    pb = playbook(tmp_path / "pb.yml", steps(2))
    out = run_playbook(pb, inv, recorder_env(db))
    assert out.returncode == 0, out.stderr
    assert not db.exists()  # no change id, not asked: nothing recorded, no ledger created
    out = run_playbook(pb, inv, recorder_env(db, CHANGEWARD_RECORD_UNATTRIBUTED="true"))
    assert out.returncode == 0, out.stderr
    events = ledger_events(db)
    subject = events[0]["subject"]
    assert subject.startswith("unattributed-") and {e["subject"] for e in events} == {subject}
    assert events[0]["type"] == "io.changeward.change.opened"
    closed = [e for e in events if e["type"] == "io.changeward.change.closed"]
    assert len(closed) == 1
    record = closed[0]["data"]["record"]
    assert record["status"] == "closed" and record["outcome"] == "successful"
    assert record["targets"] == ["localhost"] and record["requester"]
    assert by_type(events)["io.changeward.task.result"] == 2


def test_the_signing_key_can_come_from_a_vault_encrypted_file(tmp_path):
    db = tmp_path / "ledger.db"
    (tmp_path / "vault-pass").write_text("test-vault-password\n")
    key_file = tmp_path / "ledger.key"
    key_file.write_text(LEDGER_KEY + "\n")
    vault(VENV, tmp_path, "encrypt", str(key_file))
    assert LEDGER_KEY not in key_file.read_text()
    inv = inventory(tmp_path / "inv.yml")
    pb = playbook(tmp_path / "pb.yml", steps(2))
    env = recorder_env(db, CHANGEWARD_CHANGE_ID="CHG-KEYFILE", CHANGEWARD_LEDGER_KEY_FILE=str(key_file))
    del env["CHANGEWARD_LEDGER_KEY"]
    out = run_playbook(pb, inv, env, args=("--vault-password-file", str(tmp_path / "vault-pass")))
    assert out.returncode == 0, out.stdout + out.stderr
    report = verify(str(db), key=LEDGER_KEY)  # checkpoints were signed with the key from the file
    assert report["valid"] and report["checkpoints"] >= 1, report


# -- failing closed -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("venv", VENVS)
def test_an_unwritable_ledger_stops_the_run_before_any_task(tmp_path, venv):
    marker = tmp_path / "ran"
    inv = inventory(tmp_path / "inv.yml", venv)
    pb = playbook(tmp_path / "pb.yml", steps(3, marker=marker))
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the ledger's directory should be")
    out = run_playbook(pb, inv, recorder_env(blocker / "ledger.db", CHANGEWARD_CHANGE_ID="CHG-1"), venv=venv)
    assert out.returncode == EXIT_LEDGER, out.stdout + out.stderr
    assert "changeward recorder: cannot open the ledger" in out.stderr
    assert f"exit code {EXIT_LEDGER}" in out.stderr
    assert not marker.exists()


def test_a_ledger_that_fails_mid_run_stops_before_the_next_task(tmp_path):
    db = tmp_path / "ledger.db"
    marker = tmp_path / "ran"
    inv = inventory(tmp_path / "inv.yml")
    pb = playbook(tmp_path / "pb.yml", steps(20, marker=marker, sleep=0.1))
    locker = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time\n"
            "while True:\n"
            "    try:\n"
            "        c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "        if c.execute('SELECT seq FROM ledger_head').fetchone()[0] >= 12: break\n"
            "    except sqlite3.Error:\n"
            "        pass\n"
            "    time.sleep(0.02)\n"
            "c.execute('BEGIN IMMEDIATE'); print('locked', flush=True); time.sleep(120)\n",
            str(db),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        env = recorder_env(db, CHANGEWARD_CHANGE_ID="CHG-LOCK", CHANGEWARD_LEDGER_TIMEOUT=1)
        out = run_playbook(pb, inv, env)
    finally:
        locker.kill()
        locker.wait()
    assert out.returncode == EXIT_LEDGER, out.stdout + out.stderr
    assert "is locked by another process" in out.stderr
    ran = marker.read_text().split()
    assert 0 < len(ran) < 20
    started = {e["data"]["task"] for e in ledger_events(db) if e["type"] == "io.changeward.task.started"}
    assert {f"step {i}" for i in ran} <= started  # write-ahead: nothing ran that was not recorded first
    assert verify(str(db), key=LEDGER_KEY)["valid"]


def test_a_missing_checkpoint_key_stops_the_run(tmp_path):
    marker = tmp_path / "ran"
    inv = inventory(tmp_path / "inv.yml")
    pb = playbook(tmp_path / "pb.yml", steps(2, marker=marker))
    env = recorder_env(tmp_path / "ledger.db", CHANGEWARD_CHANGE_ID="CHG-1")
    del env["CHANGEWARD_LEDGER_KEY"]
    out = run_playbook(pb, inv, env)
    assert out.returncode == EXIT_LEDGER
    assert "no signing key is configured (CHANGEWARD_LEDGER_KEY" in out.stderr
    assert not marker.exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"CHANGEWARD_SINKS": json.dumps([{"name": "siem", "type": "syslog", "host": "h", "port": "514"}])},
            "sink 'siem': port: must be an integer",
        ),
        (
            {"CHANGEWARD_SINKS": json.dumps([{"name": "hook", "type": "webhook", "url": "https://h/x"}])},
            "sink 'hook': secret: is required",
        ),
        ({"CHANGEWARD_SINKS": "[{"}, "CHANGEWARD_SINKS is not valid JSON"),
        ({"CHANGEWARD_CHANGE_ID": "no spaces allowed"}, "change id 'no spaces allowed' is not valid"),
        ({"CHANGEWARD_SECRET_PATTERNS": "(unclosed"}, "invalid redaction setting"),
        ({"JOB_ID": "12; 34"}, "environment variable JOB_ID is not a job id"),
    ],
)
def test_a_misconfigured_recorder_stops_the_run(tmp_path, extra, message):
    marker = tmp_path / "ran"
    inv = inventory(tmp_path / "inv.yml")
    pb = playbook(tmp_path / "pb.yml", steps(2, marker=marker))
    out = run_playbook(pb, inv, recorder_env(tmp_path / "ledger.db", **{"CHANGEWARD_CHANGE_ID": "CHG-1", **extra}))
    assert out.returncode == EXIT_CONFIG, out.stdout + out.stderr
    assert message in out.stderr
    assert not marker.exists()


def test_warn_mode_lets_the_run_go_on_unrecorded(tmp_path):
    marker = tmp_path / "ran"
    inv = inventory(tmp_path / "inv.yml")
    pb = playbook(tmp_path / "pb.yml", steps(3, marker=marker))
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    env = recorder_env(blocker / "ledger.db", CHANGEWARD_CHANGE_ID="CHG-1", CHANGEWARD_ON_LEDGER_ERROR="warn")
    out = run_playbook(pb, inv, env)
    assert out.returncode == 0, out.stderr
    assert marker.read_text().split() == ["0", "1", "2"]
    assert "on_ledger_error=warn, NOT recording" in out.stderr


# -- redaction, with planted canaries --------------------------------------------------------------------


def vault(venv, tmp_path, *args):
    return subprocess.run(
        [str(venv / "bin" / "ansible-vault"), *args, "--vault-password-file", str(tmp_path / "vault-pass")],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout


@pytest.mark.parametrize("venv", VENVS)
def test_canary_secrets_appear_nowhere(tmp_path, venv, rsyslog, http_sink):
    tag = uuid.uuid4().hex[:12]
    canary = {
        "nolog": f"CANARY-NOLOG-{tag}",
        "key": f"CANARY-KEY-{tag}",  # only its argument name (db_password) says it is secret
        "pattern": f"CANARYPATTERN{tag}",  # only the default bearer-token pattern catches it
        "extra": f"XTRA-{tag}",  # only the operator's extra pattern catches it
        "vault_file": f"CANARY-VFILE-{tag}",
        "vault_inline": f"CANARY-VINLINE-{tag}",
        "printed": f"CANARY-PRINTED-{tag}",  # the playbook itself prints this one (a failure message)
    }
    (tmp_path / "vault-pass").write_text("test-vault-password\n")
    secrets = tmp_path / "secrets.yml"
    secrets.write_text(f"vault_silent: {canary['vault_file']}\nvault_printed: {canary['printed']}\n")
    vault(venv, tmp_path, "encrypt", str(secrets))
    inline = vault(venv, tmp_path, "encrypt_string", canary["vault_inline"], "--name", "inline_secret")
    inline = "\n".join("        " + line for line in inline.strip().splitlines())
    pb = tmp_path / "pb.yml"
    pb.write_text(
        f"""- name: Canaries
  hosts: all
  gather_facts: false
  vars_files: [secrets.yml]
  tasks:
    # First, so that the source excerpt ansible-core prints with the error shows no other canary.
    - name: a failure that shows a vaulted value
      ansible.builtin.fail:
        msg: "login rejected for {{{{ vault_printed }}}}"
      ignore_errors: true
    - name: a no_log task
      ansible.builtin.command: echo {canary["nolog"]}
      no_log: true
      changed_when: false
    - name: a no_log loop
      ansible.builtin.command: echo {{{{ item }}}}
      loop: ["{canary["nolog"]}"]
      no_log: true
      changed_when: false
    - name: vaulted variables used without printing them
      ansible.builtin.set_fact:
        copied: "{{{{ vault_silent }}}}"
    - name: a vaulted variable in a command line
      ansible.builtin.command: echo {{{{ vault_silent }}}}
      changed_when: false
    - name: an inline vaulted argument
      ansible.builtin.set_fact:
{inline}
    - name: secret-looking arguments
      ansible.builtin.set_fact:
        db_password: {canary["key"]}
        note: "Bearer {canary["pattern"]}"
        ticket: "{canary["extra"]}"
        harmless: plain-value-{tag}
"""
    )
    inv = inventory(tmp_path / "inv.yml", venv)
    env = recorder_env(
        tmp_path / "ledger.db",
        all_sinks(rsyslog, http_sink, tmp_path),
        CHANGEWARD_CHANGE_ID="CHG-CANARY",
        CHANGEWARD_RECORD_ARGS="true",
        CHANGEWARD_RECORD_MESSAGES="true",
        CHANGEWARD_SECRET_PATTERNS=json.dumps([r"XTRA-[0-9a-f]{12}"]),
    )
    out = run_playbook(pb, inv, env, venv=venv, args=("--vault-password-file", str(tmp_path / "vault-pass")))
    assert out.returncode == 0, out.stdout + out.stderr

    check_sinks(rsyslog, http_sink, tmp_path, tmp_path / "ledger.db")
    places = {
        "ledger": b"".join(p.read_bytes() for p in tmp_path.glob("ledger.db*")),
        "rsyslog": rsyslog.raw(),
        "http": http_sink.raw(),
        "jsonl": (tmp_path / "export.jsonl").read_bytes(),
    }
    output = (out.stdout + out.stderr).encode()
    for name, value in canary.items():
        for place, data in places.items():
            assert value.encode() not in data, f"canary {name} leaked into {place}"
        if name != "printed":
            assert value.encode() not in output, f"canary {name} leaked into the test output"
    assert canary["printed"] in out.stdout  # the playbook printed it, as planned; the recorder did not
    events = ledger_events(tmp_path / "ledger.db")
    args = next(e["data"]["args"] for e in events if e["data"].get("task") == "secret-looking arguments")
    assert args == {
        "db_password": "********",
        "note": "********",
        "ticket": "********",
        "harmless": f"plain-value-{tag}",
    }
    failure = next(e["data"] for e in events if e["type"].endswith("task.result") and e["data"]["status"] == "failed")
    assert failure["msg"] == "login rejected for ********"  # messages are recorded, the vault value masked
    nolog = [e["data"] for e in events if e["data"].get("task", "").startswith("a no_log")]
    assert all(d.get("censored") or d.get("no_log") for d in nolog) and len(nolog) == 4


@pytest.mark.parametrize("venv", VENVS)
def test_extra_var_secrets_are_masked_in_recorded_messages(tmp_path, venv):
    """-e values are plain text: with record_messages on, a failure message that shows a secret-named or
    secret-looking extra var is recorded with it masked, while ordinary extra vars stay readable."""
    tag = uuid.uuid4().hex[:10]
    secret, token = f"pw-{tag}-secret", f"Bearer tok{tag}0123"
    pb = playbook(
        tmp_path / "pb.yml",
        [
            {
                "name": "a failure that shows extra vars",
                "ansible.builtin.fail": {"msg": "login {{ db_password }} / {{ auth_header }} in {{ region }}"},
                "ignore_errors": True,
            }
        ],
    )
    inv = inventory(tmp_path / "inv.yml", venv)
    env = recorder_env(
        tmp_path / "ledger.db", [], venv=venv, CHANGEWARD_CHANGE_ID="CHG-XV", CHANGEWARD_RECORD_MESSAGES="true"
    )
    extra = json.dumps({"db_password": secret, "auth_header": token, "region": f"eu-{tag}"})
    out = run_playbook(pb, inv, env, venv=venv, args=("-e", extra))
    assert out.returncode == 0, out.stdout + out.stderr
    ledger = b"".join(p.read_bytes() for p in tmp_path.glob("ledger.db*"))
    assert secret.encode() not in ledger and f"tok{tag}".encode() not in ledger
    failure = next(e["data"] for e in ledger_events(tmp_path / "ledger.db") if e["data"].get("status") == "failed")
    assert failure["msg"] == f"login ******** / ******** in eu-{tag}"


# -- delivery guarantees --------------------------------------------------------------------------------------


def test_sinks_down_for_a_whole_run_get_everything_from_the_next_run(tmp_path, rsyslog, http_sink):
    db = tmp_path / "ledger.db"
    inv = inventory(tmp_path / "inv.yml")
    pb = playbook(tmp_path / "pb.yml", steps(30))
    sinks = all_sinks(rsyslog, http_sink, tmp_path)
    baseline = run_playbook(pb, inv, recorder_env(tmp_path / "baseline.db", CHANGEWARD_CHANGE_ID="CHG-0"))
    rsyslog.stop()
    http_sink.stop()
    env = recorder_env(db, sinks, CHANGEWARD_CHANGE_ID="CHG-DOWN", CHANGEWARD_SHIP_BUDGET=3)
    out = run_playbook(pb, inv, env)
    assert out.returncode == 0, out.stderr
    assert out.elapsed < baseline.elapsed + 4.0  # a dead sink costs at most the shipping budget
    assert "sink 'webhook':" in out.stderr and "pending" in out.stderr
    first_run = len(ledger_events(db))
    rsyslog.start()
    http_sink.start()
    out = run_playbook(pb, inv, recorder_env(db, sinks, CHANGEWARD_CHANGE_ID="CHG-UP"))
    assert out.returncode == 0, out.stderr
    assert "pending" not in out.stderr
    assert len(ledger_events(db)) > first_run
    check_sinks(rsyslog, http_sink, tmp_path, db)


def test_sinks_that_flap_during_a_run_lose_nothing(tmp_path, rsyslog, http_sink):
    db = tmp_path / "ledger.db"
    inv = inventory(tmp_path / "inv.yml")
    pb = playbook(tmp_path / "pb.yml", steps(50, sleep=0.1))
    sinks = all_sinks(rsyslog, http_sink, tmp_path)
    done = threading.Event()
    flips = []

    def flap():
        up = True
        while not done.wait(0.8):
            (rsyslog.stop if up else rsyslog.start)()
            (http_sink.stop if up else http_sink.start)()
            up = not up
            flips.append(up)
        if not up:
            rsyslog.start()
            http_sink.start()

    flapper = threading.Thread(target=flap)
    flapper.start()
    try:
        out = run_playbook(pb, inv, recorder_env(db, sinks, CHANGEWARD_CHANGE_ID="CHG-FLAP"))
    finally:
        done.set()
        flapper.join()
    assert out.returncode == 0, out.stderr
    assert len(flips) >= 4  # the sinks really went down and up during the run
    ship = run_playbook(REPO / "playbooks" / "audit_ship.yml", inv, ship_env(db, sinks))
    assert ship.returncode == 0, ship.stdout
    check_sinks(rsyslog, http_sink, tmp_path, db)


def test_sigkill_of_the_controller_loses_nothing_committed(tmp_path, rsyslog, http_sink):
    db = tmp_path / "ledger.db"
    inv = inventory(tmp_path / "inv.yml")
    pb = playbook(tmp_path / "pb.yml", steps(80, sleep=0.1))
    sinks = all_sinks(rsyslog, http_sink, tmp_path)
    env = recorder_env(db, sinks, CHANGEWARD_CHANGE_ID="CHG-KILL")
    proc = subprocess.Popen(
        [str(VENV / "bin" / "ansible-playbook"), "-i", str(inv), str(pb)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=str(REPO),
    )

    def head():
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
                return con.execute("SELECT seq FROM ledger_head").fetchone()[0]
        except sqlite3.Error:
            return 0

    wait_for(lambda: head() >= 40, timeout=120, what="40 events in the ledger")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = head()
    assert not any(e["type"] == "io.changeward.run.finished" for e in ledger_events(db))
    wait_for(lambda: not shipper_processes(db), timeout=15, what="the orphaned shipper to exit")
    report = verify(str(db), key=LEDGER_KEY)
    assert report["valid"], report["problems"]  # the chain survived the kill
    out = run_playbook(
        playbook(tmp_path / "short.yml", steps(2)), inv, recorder_env(db, sinks, CHANGEWARD_CHANGE_ID="CHG-NEXT")
    )
    assert out.returncode == 0, out.stderr
    events = ledger_events(db)
    assert [e["subject"] for e in events[:killed_at]] == ["CHG-KILL"] * killed_at
    check_sinks(rsyslog, http_sink, tmp_path, db)


def test_two_playbooks_write_to_one_sqlite_ledger_at_once(tmp_path, rsyslog, http_sink):
    db = tmp_path / "ledger.db"
    inv = inventory(tmp_path / "inv.yml")
    pb = playbook(tmp_path / "pb.yml", steps(30, sleep=0.05))
    sinks = all_sinks(rsyslog, http_sink, tmp_path)
    procs = [
        subprocess.Popen(
            [str(VENV / "bin" / "ansible-playbook"), "-i", str(inv), str(pb)],
            env=recorder_env(db, sinks, CHANGEWARD_CHANGE_ID=f"CHG-PAR-{n}"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=str(REPO),
        )
        for n in (1, 2)
    ]
    outputs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    events = ledger_events(db)
    for n in (1, 2):
        mine = [e for e in events if e["subject"] == f"CHG-PAR-{n}"]
        assert by_type(mine)["io.changeward.task.started"] == 30
        assert by_type(mine)["io.changeward.task.result"] == 30
        assert by_type(mine)["io.changeward.run.finished"] == 1
    subjects = [e["subject"] for e in events]
    assert subjects != sorted(subjects)  # the two runs really interleaved in the one chain
    report = verify(str(db), key=LEDGER_KEY)
    assert report["valid"], report["problems"]
    ship = run_playbook(REPO / "playbooks" / "audit_ship.yml", inv, ship_env(db, sinks))
    assert ship.returncode == 0, ship.stdout
    check_sinks(rsyslog, http_sink, tmp_path, db)


def test_shipping_happens_during_the_run(tmp_path, http_sink):
    db = tmp_path / "ledger.db"
    inv = inventory(tmp_path / "inv.yml")
    pb = playbook(tmp_path / "pb.yml", steps(20, sleep=0.2))
    env = recorder_env(db, http_sink.sink_configs()[:1], CHANGEWARD_CHANGE_ID="CHG-LIVE")
    proc = subprocess.Popen([str(VENV / "bin" / "ansible-playbook"), "-i", str(inv), str(pb)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=str(REPO))  # fmt: skip
    try:
        wait_for(lambda: len(http_sink.items("webhook")) >= 10, timeout=60, what="deliveries during the run")
        assert proc.poll() is None  # still running: events reached the sink while the play went on
    finally:
        proc.wait(timeout=300)
    assert proc.returncode == 0
    assert_exactly_once_in_order(http_sink.items("webhook"), db, "webhook")
