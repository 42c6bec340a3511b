"""Issue 4 in the lab: a running multi-batch rollout stops at the next batch when a blackout window
opens mid-run, with nothing added to the playbook (the guard is enabled in ansible.cfg)."""

import datetime as dt
import subprocess
import time
import uuid

import pytest
from conftest import REPO, ansible_env

pytestmark = pytest.mark.reservation("cloud-onprem")  # every cloud host; see tests/integration/reservations.py

# An empty calendar is refused (fail closed), so the calendar starts with a window long past.
ICS_PAST = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//changeward tests//EN\r\n"
    "BEGIN:VEVENT\r\nUID:past@tests\r\nDTSTAMP:20200101T000000Z\r\nSUMMARY:Old freeze\r\n"
    "DTSTART:20200101T000000Z\r\nDTEND:20200102T000000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


def ics_with_blackout_from_now(uid):
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    fmt = "%Y%m%dT%H%M%SZ"
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//changeward tests//EN\r\n"
        "BEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:{now.strftime(fmt)}\r\nSUMMARY:Emergency freeze {uid}\r\n"
        f"DTSTART:{(now - dt.timedelta(minutes=1)).strftime(fmt)}\r\n"
        f"DTEND:{(now + dt.timedelta(hours=1)).strftime(fmt)}\r\n"
        "CATEGORIES:env_type=cloud\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def ssh_read_marker(hostvars):
    cmd = ["ssh", "-i", hostvars["ansible_ssh_private_key_file"], "-o", "StrictHostKeyChecking=no"]
    cmd += ["-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", f"root@{hostvars['ansible_host']}"]
    cmd += ["cat /etc/changeward-guard-test.marker 2>/dev/null || true"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True).stdout.strip()


def cloud_hosts():
    import json

    out = subprocess.run(
        [str(REPO / ".venv" / "bin" / "ansible-inventory"), "--list"],
        cwd=REPO,
        env=ansible_env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    data = json.loads(out)
    return sorted(data["cloud"]["hosts"]), data["_meta"]["hostvars"]


def test_blackout_opening_mid_rollout_stops_the_next_batch(lab, tmp_path):
    hosts, hostvars = cloud_hosts()
    assert len(hosts) >= 4, "the default lab has at least two cloud batches of two"
    token = uuid.uuid4().hex
    calendar = tmp_path / "freeze.ics"
    calendar.write_text(ICS_PAST)
    proc = subprocess.Popen(
        [
            str(REPO / ".venv" / "bin" / "ansible-playbook"),
            "tests/integration/playbooks/serial_rollout.yml",
            "-e",
            f"marker_token={token}",
        ],
        cwd=REPO,
        env=ansible_env(CHANGEWARD_CALENDARS=str(calendar)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        # Wait for the first batch to be under way, then publish a freeze.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not any(ssh_read_marker(hostvars[h]) == token for h in hosts):
            time.sleep(0.5)
        calendar.write_text(ics_with_blackout_from_now(token))
        out, _unused = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0, out[-3000:]
    ran = [h for h in hosts if ssh_read_marker(hostvars[h]) == token]
    # the batch running when the window opened finished (serial: 2); no later batch started
    assert len(ran) == 2, (ran, out[-3000:])
    assert f"Emergency freeze {token}" in out
