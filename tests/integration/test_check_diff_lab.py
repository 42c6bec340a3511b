"""`ansible-playbook playbooks/change.yml --check --diff -e @spec` on real lab hosts: every step says what it would
do and nothing is written - not on the hosts (the drop-in file, the kernel value, the snapshot store are what they
were, read over SSH), not in the ledger (its files are byte for byte the same, and no run, change or gate was
recorded). The change record shows its before and after, each gate the decision it would record, and every target
host the snapshot it would take and the file the change would write.
"""

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, ansible_env
from specs import change_vars, example

sys.path.insert(0, str(REPO / "tests" / "lab"))
sys.path.insert(0, str(REPO / "collections"))
from cwlab.lab import Lab

pytestmark = pytest.mark.reservation("cloud-onprem")

LEDGER_KEY = "hmac:check-diff-lab-test-key-0123456789"
HOSTS = ["cloud-euw1a-01", "cloud-euw1b-01"]
DROP_IN = "/etc/sysctl.d/60-changeward.conf"
STORE = "/var/lib/changeward/snapshots"
STATUS = re.compile(r"^(ok|changed|skipping|fatal|failed): \[([^\]]+)\]")


def host_state(lab, host):
    """What a real run would change on the host: the kernel value, the drop-in file, the snapshot store."""
    command = (
        f"sysctl -n net.core.somaxconn; sha256sum {DROP_IN} 2>/dev/null || echo no-drop-in; "
        f"ls -A {STORE} 2>/dev/null | sort || true"
    )
    proc = lab.ssh(host, command, timeout=60)
    assert proc.returncode == 0, (host, proc.stderr)
    return proc.stdout


def ledger_files(directory):
    """Every file of the ledger's directory (size, mode, content); SQLite's -wal/-shm reader files aside."""
    out = {}
    for path in sorted(Path(directory).iterdir()):
        if not path.name.endswith(("-wal", "-shm")):
            out[path.name] = (path.stat().st_size, path.stat().st_mode, hashlib.sha256(path.read_bytes()).hexdigest())
    return out


def events(ledger):
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger

    with open_ledger(str(ledger), create=False, readonly=True) as handle:
        return [(e.seq, e.hash) for e in handle.entries()]


def results(stdout):
    """{task name: [(status, host, had a diff)]} from the default callback's output."""
    out, task, lines = {}, None, []
    for line in stdout.splitlines():
        if line.startswith("TASK ["):
            task, lines = line[len("TASK [") : line.rindex("]")], []
            out.setdefault(task, [])
            continue
        found = STATUS.match(line)
        if found and task is not None:
            text = "\n".join(lines)
            out[task].append(
                (found.group(1), found.group(2).split(" -> ")[0], "--- before" in text and "+++ after" in text)
            )
            lines = []
        else:
            lines.append(line)
    return out


def test_check_diff_of_the_main_job_shows_every_host_and_writes_nothing(lab, tmp_path):
    fleet = Lab.load()
    before_hosts = {h: host_state(fleet, h) for h in HOSTS}
    value = int(before_hosts[HOSTS[0]].split()[0]) + 1  # differs from what is in force: the file would change
    spec = example("sysctl-somaxconn")
    spec.update(targets={"pattern": ":".join(HOSTS)}, bake_times={"canary": "15s", "default": "5s"})
    spec["apply"]["vars"]["sysctl_setting_values"] = {"net.core.somaxconn": value}
    spec["health_checks"][0]["command"] = ["sh", "-c", f'test "$(sysctl -n net.core.somaxconn)" = {value}']
    change_id = f"CHG-CHECK-DIFF-{value}"

    # the operator's ledger, with an earlier change in it
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import model
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger

    ledger = tmp_path / "ledger" / "ledger.db"
    ledger.parent.mkdir()
    with open_ledger(str(ledger), key=LEDGER_KEY) as handle:
        handle.open_change(model.new_record("CHG-EARLIER", "standard", "an earlier change", "alice"))
        handle.close_change("CHG-EARLIER", "successful", ["fine"])
    before_ledger, before_events = ledger_files(ledger.parent), events(ledger)

    vars_file = tmp_path / "spec.json"
    vars_file.write_text(json.dumps(change_vars(spec, change_id, judge=False)))
    argv = [str(REPO / ".venv" / "bin" / "ansible-playbook"), "playbooks/change.yml", "--check", "--diff"]
    proc = subprocess.run(
        [*argv, "-e", f"@{vars_file}"],
        cwd=REPO,
        env=ansible_env(CHANGEWARD_LEDGER=str(ledger), CHANGEWARD_LEDGER_KEY=LEDGER_KEY),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    print(proc.stdout[-8000:], proc.stderr[-3000:])
    assert proc.returncode == 0

    done = results(proc.stdout)
    # the record it would open, before and after
    assert done["Open the change record"] == [("changed", "localhost", True)]
    assert f"+++ after: change {change_id} (opened)" in proc.stdout
    # each gate says the decision it would record
    for gate in (
        "Gate - blackout and maintenance calendars (the targets' regional calendars too)",
        "Gate - error budget",
    ):
        assert [diff for _status, _host, diff in done[gate]] == [True], gate
    assert f"+++ after: change {change_id} (check mode: not recorded)" in proc.stdout
    # every host: the snapshot it would take and the file the change would write
    for task in ("Take the snapshot", "sysctl_setting : Write the drop-in file"):
        assert sorted((host, diff) for status, host, diff in done[task] if status == "changed") == [
            (h, True) for h in HOSTS
        ], task
    assert f"+net.core.somaxconn = {value}" in proc.stdout

    # nothing written: the ledger, byte for byte, and the hosts
    assert ledger_files(ledger.parent) == before_ledger
    assert events(ledger) == before_events
    assert {h: host_state(fleet, h) for h in HOSTS} == before_hosts
