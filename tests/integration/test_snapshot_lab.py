"""Snapshot and rollback on real lab hosts over SSH (issue 5): cloud, on-prem and edge.

Every host gets the same fixture, set up over plain SSH: a tree under /opt/snaplab/app, a package of
our own (snaplab-pkg 1.0, built here with dpkg-deb) and an LSB service of our own (snaplab-svc, running
and enabled). The change - ordinary Ansible tasks - modifies, creates and deletes files, repoints a
symlink, upgrades the package to 2.0 (and deletes the 1.0 archive, so only the snapshot's copy is left)
and stops and disables the service.

The state is checked independently of the modules' own verification: a fingerprint computed over SSH
(find -printf + sha256sum over the tree and the package's files, the rc links, dpkg-query and the init
script's status) before the change, after it and after the rollback.

Hosts (shared lab, see /tests/lab/README.md): only these, only /opt/snaplab/**, snaplab-pkg and
snaplab-svc on them; onprem-dc1-legacy is used read-only (rollback_capability none: only the snapshot
module runs there, and writes nothing). Edge hosts may carry link faults set by others: SSH calls here
retry on connection errors and Ansible retries per ansible.cfg.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import REPO, ansible_env

sys.path.insert(0, str(REPO / "collections"))

from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.verify import verify

RESTORABLE = ["cloud-euw1a-02", "cloud-euw1b-01", "onprem-dc1-01", "edge-s1-01", "edge-s3-01"]
LEGACY = "onprem-dc1-legacy"
ROOT = "/opt/snaplab"
STORE = f"{ROOT}/store"
PLAYBOOK = REPO / ".venv" / "bin" / "ansible-playbook"
# These hosts span cloud, on-prem and edge: see tests/integration/reservations.py
pytestmark = pytest.mark.reservation("whole-lab")

SCOPE = {
    "paths": [f"{ROOT}/app", f"{ROOT}/new/conf/extra.conf", "/etc/init.d/snaplab-svc"],
    "packages": ["snaplab-pkg"],
    "services": ["snaplab-svc"],
    "verify_commands": [{"name": "pkg-version", "cmd": f"cat {ROOT}/pkg/VERSION"}],
}
FINGERPRINT_PATHS = (f"{ROOT}/app", f"{ROOT}/pkg", f"{ROOT}/new", "/etc/init.d/snaplab-svc")

INIT_SCRIPT = """#!/bin/sh
### BEGIN INIT INFO
# Provides:          snaplab-svc
# Required-Start:    $local_fs
# Required-Stop:     $local_fs
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: changeward snapshot lab service
### END INIT INFO
PIDFILE=/run/snaplab-svc.pid
case "$1" in
  start) exec start-stop-daemon --start --quiet --oknodo --background --make-pidfile --pidfile "$PIDFILE" \\
           --startas /usr/bin/sleep -- infinity ;;
  stop) exec start-stop-daemon --stop --quiet --oknodo --retry 5 --remove-pidfile --pidfile "$PIDFILE" ;;
  restart) "$0" stop && exec "$0" start ;;
  status) exec start-stop-daemon --status --pidfile "$PIDFILE" ;;
  *) echo "usage: $0 start|stop|restart|status" >&2; exit 2 ;;
esac
"""

RESET = f"""
umount {ROOT}/tiny 2>/dev/null || true
if [ -x /etc/init.d/snaplab-svc ]; then /etc/init.d/snaplab-svc stop >/dev/null 2>&1 || true; fi
dpkg --purge snaplab-pkg >/dev/null 2>&1 || true
rm -f /etc/init.d/snaplab-svc
update-rc.d -f snaplab-svc remove >/dev/null 2>&1 || true
rm -f /etc/rc?.d/[SK][0-9][0-9]snaplab-svc
rm -rf {ROOT}
"""

# The change under test: ordinary Ansible tasks (also the drill's change). With snaplab_fail_half it
# fails after the package upgrade and the first file change.
CHANGE_TASKS = [
    {
        "name": "Upgrade the package to 2.0",
        "ansible.builtin.command": {"argv": ["dpkg", "-i", f"{ROOT}/incoming/snaplab-pkg_2.0_all.deb"]},
    },
    {
        "name": "Clean the package cache: the way back to 1.0 is now only the snapshot's copy",
        "ansible.builtin.file": {"path": f"{ROOT}/debs/snaplab-pkg_1.0_all.deb", "state": "absent"},
    },
    {
        "name": "Modify the app config (content and mode)",
        "ansible.builtin.copy": {"dest": f"{ROOT}/app/app.conf", "content": "port = 9090\n", "mode": "0640"},
    },
    {
        "name": "Fail half-way when asked",
        "ansible.builtin.fail": {"msg": "half-failed change"},
        "when": "snaplab_fail_half | default(false) | bool",
    },
    {
        "name": "Delete a fragment",
        "ansible.builtin.file": {"path": f"{ROOT}/app/conf.d/20-old.conf", "state": "absent"},
    },
    {
        "name": "Add a fragment",
        "ansible.builtin.copy": {"dest": f"{ROOT}/app/conf.d/30-new.conf", "content": "new = yes\n", "mode": "0644"},
    },
    {"name": "Delete the key directory", "ansible.builtin.file": {"path": f"{ROOT}/app/keys", "state": "absent"}},
    {
        "name": "Repoint the symlink",
        "ansible.builtin.file": {"src": "/etc/hostname", "dest": f"{ROOT}/app/current.conf", "state": "link"},
    },
    {
        "name": "Create a new tree",
        "ansible.builtin.file": {"path": f"{ROOT}/new/conf", "state": "directory", "mode": "0755"},
    },
    {
        "name": "Add a file in it",
        "ansible.builtin.copy": {"dest": f"{ROOT}/new/conf/extra.conf", "content": "extra\n", "mode": "0644"},
    },
    {
        "name": "Stop and disable the service",
        "ansible.builtin.service": {"name": "snaplab-svc", "state": "stopped", "enabled": False},
    },
]


# ---------------------------------------------------------------- plain SSH


def ssh(lab, host, script, timeout=180, check=True, wait=300):
    """Run a bash script on a host over real SSH; retries connection failures (rc 255) on flaky links."""
    wait_until_reachable(lab, [host], limit=wait)
    for attempt in range(6):
        proc = subprocess.run(
            lab.ssh_argv(host, "bash -s", connect_timeout=15),
            input=script,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if proc.returncode != 255:
            break
        time.sleep(2 + attempt)
    if check and proc.returncode != 0:
        raise AssertionError(f"{host}: rc {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return proc


def wait_until_reachable(lab, hosts, limit=300):
    """Loss and rate faults are ridden out by retries; a full outage or a powered-off host (others test
    those on edge hosts) is waited out here, bounded, before a step that needs the host."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        status = {row["name"]: row for row in lab.status()["hosts"]}
        blocked = [h for h in hosts if status[h]["state"] != "up" or "outage" in status[h]["faults"]]
        if not blocked:
            return
        time.sleep(3)


def on_hosts(hosts, fn):
    with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
        return dict(zip(hosts, pool.map(fn, hosts), strict=True))


def build_debs(workdir: Path) -> dict:
    """snaplab-pkg 1.0 and 2.0 (different files), built with dpkg-deb; returns {version: bytes}."""
    out = {}
    for version in ("1.0", "2.0"):
        root = workdir / f"pkg-{version}"
        (root / "DEBIAN").mkdir(parents=True)
        (root / "DEBIAN/control").write_text(
            f"Package: snaplab-pkg\nVersion: {version}\nArchitecture: all\n"
            "Maintainer: changeward tests <tests@changeward.invalid>\nDescription: changeward snapshot lab package\n"
        )
        lib = root / "opt/snaplab/pkg/lib"
        lib.mkdir(parents=True)
        (root / "opt/snaplab/pkg/VERSION").write_text(f"{version}\n")
        (lib / f"data-{version}.txt").write_text(f"data of {version}\n")
        deb = workdir / f"snaplab-pkg_{version}_all.deb"
        subprocess.run(["dpkg-deb", "--root-owner-group", "-b", str(root), str(deb)], check=True, capture_output=True)
        out[version] = deb.read_bytes()
    return out


def setup_script(debs: dict, extra: str = "") -> str:
    """Reset, then the fixture: tree, package 1.0 installed, service installed, enabled and running."""
    b64 = {v: base64.b64encode(data).decode() for v, data in debs.items()}
    return f"""set -eu
{RESET}
mkdir -p {ROOT}/app/conf.d {ROOT}/app/keys {ROOT}/debs {ROOT}/incoming
printf 'port = 8080\\n' > {ROOT}/app/app.conf
printf 'level = info\\n' > {ROOT}/app/conf.d/10-log.conf
printf 'old = yes\\n' > {ROOT}/app/conf.d/20-old.conf
head -c 64 /dev/urandom > {ROOT}/app/keys/server.key
head -c 300000 /dev/urandom > {ROOT}/app/data.bin
chmod 600 {ROOT}/app/keys/server.key
chmod 700 {ROOT}/app/keys
chown 1000:1000 {ROOT}/app/conf.d/10-log.conf
ln -s conf.d/10-log.conf {ROOT}/app/current.conf
find {ROOT}/app -type f -exec touch -d '2024-01-02 03:04:05' {{}} +
echo '{b64["1.0"]}' | base64 -d > {ROOT}/debs/snaplab-pkg_1.0_all.deb
echo '{b64["2.0"]}' | base64 -d > {ROOT}/incoming/snaplab-pkg_2.0_all.deb
cat > /etc/init.d/snaplab-svc <<'INIT'
{INIT_SCRIPT}INIT
chmod 755 /etc/init.d/snaplab-svc
DEBIAN_FRONTEND=noninteractive dpkg -i {ROOT}/debs/snaplab-pkg_1.0_all.deb >/dev/null
update-rc.d snaplab-svc defaults >/dev/null
/etc/init.d/snaplab-svc start
{extra}
"""


def fingerprint(lab, host, paths=FINGERPRINT_PATHS) -> str:
    """Type, mode, owner, size, mtime (files), link target and sha256 of everything under paths, absence,
    the service's rc links, the package's version/status and the service's status - computed by the
    test over SSH, not by the modules."""
    quoted = " ".join(f"'{p}'" for p in paths)
    script = f"""set -u
for p in {quoted}; do
  if [ -e "$p" ] || [ -L "$p" ]; then
    find "$p" \\( -type d -printf 'd %p %m %U:%G\\n' \\) -o \\( -type l -printf 'l %p %U:%G -> %l\\n' \\) \\
      -o \\( -type f -printf 'f %p %m %U:%G %s %T@\\n' \\) -o -printf '? %p %y\\n'
    find "$p" -type f -exec sha256sum {{}} +
  else
    echo "absent $p"
  fi
done | LC_ALL=C sort
find /etc/rc0.d /etc/rc1.d /etc/rc2.d /etc/rc3.d /etc/rc4.d /etc/rc5.d /etc/rc6.d /etc/rcS.d \\
  -name '*snaplab-svc' -printf 'rc %p -> %l\\n' | LC_ALL=C sort
echo "pkg $(dpkg-query -W -f='${{Version}} ${{db:Status-Abbrev}}' snaplab-pkg 2>/dev/null || echo absent)"
if [ -x /etc/init.d/snaplab-svc ]; then /etc/init.d/snaplab-svc status >/dev/null 2>&1; echo "svc $?"; \\
else echo "svc absent"; fi
"""
    return ssh(lab, host, script).stdout


def line(fp: str, prefix: str) -> str:
    return next(ln.strip() for ln in fp.splitlines() if ln.startswith(prefix))


# ---------------------------------------------------------------- Ansible

# More SSH retries than ansible.cfg's 3 (backoff up to 30 s each), so a play rides out an outage of a
# minute or two that starts after it began. Ansible retries a command whose ssh exited 255, so every
# task here is safe to run twice (the snapshot reuses, the rollback resumes, the change converges).
RIDE_OUT = {"ANSIBLE_SSH_RETRIES": "8"}


def run_play(lab, workdir: Path, hosts, tasks, name, env=None, extra_vars=None, timeout=600):
    """Run tasks on hosts with ansible-playbook; every task registers a name and the registered results
    come back as {host: {name: result}} (a last play on localhost writes them)."""
    results = workdir / f"{name}-results.json"
    regs = [t["register"] for t in tasks if "register" in t]
    collect = (
        "{{ {"
        + ", ".join(
            f"'{h}': {{" + ", ".join(f"'{r}': hostvars['{h}']['{r}'] | default(None)" for r in regs) + "}"
            for h in hosts
        )
        + "} | to_json }}"
    )
    book = [
        {"name": name, "hosts": ",".join(hosts), "gather_facts": False, "tasks": tasks},
        {
            "name": "collect",
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [{"ansible.builtin.copy": {"dest": str(results), "content": collect, "mode": "0600"}}],
        },
    ]
    path = workdir / f"{name}.yml"
    path.write_text(json.dumps(book, indent=1))
    argv = [str(PLAYBOOK), str(path)]
    if extra_vars:
        argv += ["-e", json.dumps(extra_vars)]
    wait_until_reachable(lab, hosts)
    started = time.monotonic()
    proc = subprocess.run(
        argv,
        cwd=REPO,
        env=ansible_env(**{**RIDE_OUT, **(env or {})}),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    print(f"{name}: {time.monotonic() - started:.1f}s")
    (workdir / f"{name}.log").write_text(proc.stdout + proc.stderr)
    assert results.exists(), proc.stdout[-4000:] + proc.stderr[-2000:]
    return json.loads(results.read_text()), proc


def snapshot_task(change_id, register="snap", **extra):
    args = {
        "change_id": change_id,
        "scope": SCOPE,
        "store": STORE,
        "package_dirs": [f"{ROOT}/debs"],
        "rollback_capability": "{{ changeward_labels.rollback_capability }}",
        **extra,
    }
    return {"name": register, "changeward.hybrid.snapshot": args, "register": register, "ignore_errors": True}


def rollback_task(change_id, register, **extra):
    args = {"change_id": change_id, "store": STORE, "deadline_seconds": 300, **extra}
    return {"name": register, "changeward.hybrid.rollback": args, "register": register, "ignore_errors": True}


def change_block(tasks_file: Path, when=None):
    """The change, from a tasks file; a failure inside is caught so the play goes on to the rollback."""
    block = {
        "name": "the change",
        "block": [{"ansible.builtin.include_tasks": str(tasks_file)}],
        "rescue": [
            {
                "ansible.builtin.set_fact": {"change_error": "{{ ansible_failed_result.msg | default('failed') }}"},
            }
        ],
    }
    if when:
        block["when"] = when
    return block


@pytest.fixture(scope="module")
def workdir():
    # CW_SNAPLAB_KEEP=<dir> keeps the generated playbooks, results and logs for a look afterwards.
    keep = os.environ.get("CW_SNAPLAB_KEEP")
    with tempfile.TemporaryDirectory(prefix="cw-snaplab-") as d:
        path = Path(keep) if keep else Path(d)
        path.mkdir(parents=True, exist_ok=True)
        (path / "change.yml").write_text(json.dumps(CHANGE_TASKS, indent=1))
        # A shorter change for the drill: package, one file, the service.
        short = [t for t in CHANGE_TASKS if t["name"].startswith(("Upgrade", "Clean", "Modify", "Stop"))]
        (path / "drill-change.yml").write_text(json.dumps(short, indent=1))
        yield path


@pytest.fixture(scope="module")
def debs(workdir):
    return build_debs(workdir)


@pytest.fixture(scope="module", autouse=True)
def reset_hosts_at_end(lab):
    yield
    # Best effort: a host in someone else's outage is reset by the next run's setup instead.
    on_hosts(RESTORABLE, lambda h: ssh(lab, h, RESET, check=False, wait=30))


# ---------------------------------------------------------------- the main scenario


@pytest.fixture(scope="module")
def main_run(lab, workdir, debs):
    """Setup on five hosts; snapshot on six (legacy included); change; rollback twice."""
    change_id = f"CHG-SNAPLAB-{uuid.uuid4().hex[:8]}"
    on_hosts(RESTORABLE, lambda h: ssh(lab, h, setup_script(debs)))
    before = on_hosts(RESTORABLE, lambda h: fingerprint(lab, h))
    legacy_before = fingerprint(lab, LEGACY, paths=[ROOT])
    hosts = [*RESTORABLE, LEGACY]
    first, proc1 = run_play(
        lab,
        workdir,
        hosts,
        [
            snapshot_task(change_id),
            change_block(workdir / "change.yml", when="snap.restorable | default(false)"),
            {
                "ansible.builtin.set_fact": {
                    "change_ok": "{{ change_error is not defined }}",
                    "change_msg": "{{ change_error | default('') }}",
                },
                "register": "change",
            },
        ],
        "main-snapshot-and-change",
    )
    changed = on_hosts(RESTORABLE, lambda h: fingerprint(lab, h))
    second, proc2 = run_play(
        lab,
        workdir,
        RESTORABLE,
        [rollback_task(change_id, "rb1"), rollback_task(change_id, "rb2")],
        "main-rollback",
    )
    after = on_hosts(RESTORABLE, lambda h: fingerprint(lab, h))
    return {
        "change_id": change_id,
        "before": before,
        "changed": changed,
        "after": after,
        "first": first,
        "second": second,
        "legacy_before": legacy_before,
        "legacy_after": fingerprint(lab, LEGACY, paths=[ROOT]),
        "logs": proc1.stdout[-3000:] + proc2.stdout[-3000:],
    }


def test_change_is_rolled_back_to_an_identical_state_on_every_host(main_run):
    for host in RESTORABLE:
        snap = main_run["first"][host]["snap"]
        assert snap["changed"] is True and snap["restorable"] is True, (host, snap)
        assert snap["ledger_event"]["type"] == "io.changeward.snapshot.taken"
        assert snap["captured"]["packages"] == 1 and snap["captured"]["services"] == 1
        # The package's way back is in the snapshot: no package is listed as not covered.
        assert not [n for n in snap["not_covered"] if n["kind"] == "package"], (host, snap["not_covered"])
        assert main_run["first"][host]["change"]["ansible_facts"]["change_ok"] is True, (host, main_run["logs"])
        before, changed, after = main_run["before"][host], main_run["changed"][host], main_run["after"][host]
        # The change really happened: content, a new tree, the package version and the service.
        assert changed != before
        assert line(changed, "pkg ") == "pkg 2.0 ii" and line(before, "pkg ") == "pkg 1.0 ii"
        assert line(changed, "svc ") == "svc 3" and line(before, "svc ") == "svc 0"
        assert f"absent {ROOT}/new" in before and f"absent {ROOT}/new" not in changed
        rb1 = main_run["second"][host]["rb1"]
        assert rb1.get("failed") is not True and rb1["verified"] is True, (host, rb1)
        assert rb1["ledger_event"]["type"] == "io.changeward.rollback.completed"
        assert after == before, (host, after, before)


def test_coverage_follows_the_host_label(main_run):
    for host in RESTORABLE:
        snap = main_run["first"][host]["snap"]
        label = inventory_label(host)
        assert snap["rollback_capability"] == label
        assert snap["coverage"] == ("partial" if label == "partial" else "full"), (host, snap["not_covered"])


def test_second_rollback_is_a_no_op(main_run):
    for host in RESTORABLE:
        rb2 = main_run["second"][host]["rb2"]
        assert rb2.get("failed") is not True and rb2["verified"] is True, (host, rb2)
        assert rb2["changed"] is False and rb2["restored"] == [], (host, rb2["restored"])


def test_legacy_host_is_reported_not_restorable_and_left_alone(main_run):
    assert inventory_label(LEGACY) == "none"
    snap = main_run["first"][LEGACY]["snap"]
    assert snap.get("failed") is not True, snap
    assert snap["restorable"] is False and snap["coverage"] == "none" and snap["snapshot_id"] is None
    assert snap["ledger_event"]["type"] == "io.changeward.snapshot.not_restorable"
    assert snap["not_covered"][0]["kind"] == "host"
    # Neither the snapshot nor the change wrote anything there (no /opt/snaplab, no package).
    assert main_run["legacy_after"] == main_run["legacy_before"]
    assert line(main_run["legacy_after"], "pkg ") == "pkg absent"
    assert main_run["legacy_after"].startswith(f"absent {ROOT}\n"), main_run["legacy_after"]


_LABELS: dict = {}


def inventory_label(host):
    if not _LABELS:
        out = subprocess.run(
            [str(REPO / ".venv" / "bin" / "ansible-inventory"), "--list"],
            cwd=REPO,
            env=ansible_env(),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        hostvars = json.loads(out)["_meta"]["hostvars"]
        _LABELS.update({h: v["changeward_labels"]["rollback_capability"] for h, v in hostvars.items()})
    return _LABELS[host]


# ---------------------------------------------------------------- a change that failed half-way

HALF = ["cloud-euw1b-01", "onprem-dc1-01"]


def test_rollback_after_a_half_failed_change(lab, workdir, debs):
    change_id = f"CHG-SNAPLAB-HALF-{uuid.uuid4().hex[:8]}"
    on_hosts(HALF, lambda h: ssh(lab, h, setup_script(debs)))
    before = on_hosts(HALF, lambda h: fingerprint(lab, h))
    first, _unused = run_play(
        lab,
        workdir,
        HALF,
        [
            snapshot_task(change_id),
            change_block(workdir / "change.yml"),
            {"ansible.builtin.set_fact": {"change_msg": "{{ change_error | default('') }}"}, "register": "change"},
        ],
        "half-change",
        extra_vars={"snaplab_fail_half": True},
    )
    mid = on_hosts(HALF, lambda h: fingerprint(lab, h))
    second, _unused = run_play(
        lab,
        workdir,
        HALF,
        [snapshot_task(change_id, register="snap_again"), rollback_task(change_id, "rb")],
        "half-rollback",
    )
    after = on_hosts(HALF, lambda h: fingerprint(lab, h))
    for host in HALF:
        assert first[host]["change"]["ansible_facts"]["change_msg"] == "half-failed change", first[host]
        # Half of the change happened: the package and one file, not the rest, and the service still runs.
        assert line(mid[host], "pkg ") == "pkg 2.0 ii" and line(mid[host], "svc ") == "svc 0"
        assert f"absent {ROOT}/new" in mid[host] and mid[host] != before[host]
        # A rerun of the snapshot step after the failure returns the snapshot of the state before it.
        again = second[host]["snap_again"]
        assert again["reused"] is True and again["snapshot_id"] == first[host]["snap"]["snapshot_id"], again
        rb = second[host]["rb"]
        assert rb.get("failed") is not True and rb["verified"] is True, (host, rb)
        assert "package:snaplab-pkg (2.0 -> 1.0)" in rb["restored"], rb["restored"]
        # The service kept running while its package was put back, so it was restarted.
        assert any(r.startswith("service:snaplab-svc (restarted") for r in rb["restored"]), rb["restored"]
        assert after[host] == before[host], (host, after[host], before[host])


# ---------------------------------------------------------------- SIGKILL in the middle of a rollback

KILL_HOST = "onprem-dc1-01"
BIG_FILES = 1000
BIG_BYTES = 100 * 1024  # 1,000 files, 100 MB

BIG_SETUP = f"""set -eu
{RESET}
mkdir -p {ROOT}
touch -d '2024-06-01 00:00:00' {ROOT}/ref
python3 - <<'PY'
import os
for i in range({BIG_FILES}):
    d = "{ROOT}/big/d%02d" % (i % 20)
    os.makedirs(d, exist_ok=True)
    p = "%s/f%04d.dat" % (d, i)
    with open(p, "wb") as fh:
        fh.write(os.urandom({BIG_BYTES}))
    os.utime(p, (1704164645, 1704164645))
PY
"""

BIG_CHANGE = f"""set -eu
python3 - <<'PY'
import os
for i in range({BIG_FILES}):
    p = "{ROOT}/big/d%02d/f%04d.dat" % (i % 20, i)
    with open(p + ".new", "wb") as fh:
        fh.write(os.urandom({BIG_BYTES}))
    os.replace(p + ".new", p)
PY
"""

# Runs on the host: waits for the rollback module's process (python3 .../AnsiballZ_rollback.py and the
# sh -c around it; not Ansible's chmod of the file), lets it restore at least one batch of files
# (restored files carry their old mtime again), then SIGKILLs it. The [r] keeps the pattern from
# matching itself; this script arrives on stdin, so its own command line is bash -s.
KILLER = f"""set -u
module='python3 [^ ]*AnsiballZ_[r]ollback'
restored() {{ find {ROOT}/big -type f ! -name '.cw-rollback-*' ! -newer {ROOT}/ref | wc -l; }}
end=$((SECONDS + 300))
until pgrep -f "$module" >/dev/null; do
  [ "$SECONDS" -lt "$end" ] || {{ echo "never-started"; exit 3; }}
  sleep 0.05
done
while :; do
  n=$(restored)
  if [ "$n" -ge 1 ]; then pkill -9 -f "$module"; echo "killed-at $n"; break; fi
  pgrep -f "$module" >/dev/null || {{ echo "finished-first $n"; exit 4; }}
  [ "$SECONDS" -lt "$end" ] || {{ echo "timeout $n"; exit 5; }}
  sleep 0.02
done
sleep 2
pgrep -f "$module" >/dev/null && echo "still-running" || echo "gone"
echo "after-kill $(restored)"
"""


def test_sigkill_during_rollback_then_rerun_restores(lab, workdir):
    change_id = f"CHG-SNAPLAB-KILL-{uuid.uuid4().hex[:8]}"
    ssh(lab, KILL_HOST, BIG_SETUP, timeout=300)
    before = fingerprint(lab, KILL_HOST, paths=[f"{ROOT}/big"])
    snap_task = {
        "name": "snap",
        "changeward.hybrid.snapshot": {"change_id": change_id, "scope": {"paths": [f"{ROOT}/big"]}, "store": STORE},
        "register": "snap",
        "ignore_errors": True,
    }
    snapped, _unused = run_play(lab, workdir, [KILL_HOST], [snap_task], "kill-snapshot")
    assert snapped[KILL_HOST]["snap"]["captured"]["files"] == BIG_FILES, snapped
    ssh(lab, KILL_HOST, BIG_CHANGE, timeout=300)
    changed = fingerprint(lab, KILL_HOST, paths=[f"{ROOT}/big"])
    assert changed != before

    killer = subprocess.Popen(
        lab.ssh_argv(KILL_HOST, "bash -s", connect_timeout=15),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    killer.stdin.write(KILLER)
    killer.stdin.close()
    # Without pipelining the module runs as a file named AnsiballZ_rollback.py, which the killer finds.
    # A command killed by a signal makes ssh exit 255, which Ansible's SSH retries (ansible.cfg) would
    # answer by running the module again - completing the rollback in the same task. Here the rerun
    # is a separate step, so this run gets no retries.
    killed, _unused = run_play(
        lab,
        workdir,
        [KILL_HOST],
        [{**rollback_task(change_id, "rb_killed"), "ignore_unreachable": True}],
        "kill-rollback",
        env={"ANSIBLE_PIPELINING": "False", "ANSIBLE_SSH_RETRIES": "0"},
    )
    out = killer.stdout.read()
    assert killer.wait(timeout=120) == 0, (out, killer.stderr.read())
    report = dict(ln.split(" ", 1) for ln in out.split("\n") if " " in ln)
    assert "gone" in out, out
    assert 1 <= int(report["killed-at"]) and int(report["after-kill"]) < BIG_FILES, out
    # The killed task reports the dead connection (ssh exit 255), not a result.
    assert killed[KILL_HOST]["rb_killed"].get("unreachable") is True, killed
    partial = fingerprint(lab, KILL_HOST, paths=[f"{ROOT}/big"])
    assert partial not in (before, changed)

    rerun, _unused = run_play(lab, workdir, [KILL_HOST], [rollback_task(change_id, "rb")], "kill-rerun")
    rb = rerun[KILL_HOST]["rb"]
    assert rb.get("failed") is not True and rb["verified"] is True, rb
    assert rb["resumed"] is True and rb["changed"] is True
    assert fingerprint(lab, KILL_HOST, paths=[f"{ROOT}/big"]) == before


# ---------------------------------------------------------------- too little disk

TINY_HOST = "cloud-euw1a-02"


def test_too_little_disk_refuses_before_writing(lab, workdir):
    change_id = f"CHG-SNAPLAB-TINY-{uuid.uuid4().hex[:8]}"
    tiny = f"{ROOT}/tiny"
    ssh(
        lab,
        TINY_HOST,
        f"""set -eu
{RESET}
mkdir -p {ROOT}/bulk {tiny}
head -c 3000000 /dev/urandom > {ROOT}/bulk/blob.bin
mount -t tmpfs -o size=1m,mode=0700 tmpfs {tiny}
""",
    )
    try:
        snap = {"change_id": change_id, "scope": {"paths": [f"{ROOT}/bulk"]}, "store": f"{tiny}/store"}
        result, _unused = run_play(
            lab,
            workdir,
            [TINY_HOST],
            [
                {
                    "name": "planned",
                    "changeward.hybrid.snapshot": snap,
                    "register": "planned",
                    "check_mode": True,
                    "ignore_errors": True,
                },
                {"name": "snap", "changeward.hybrid.snapshot": snap, "register": "snap", "ignore_errors": True},
            ],
            "tiny",
        )
        state = ssh(lab, TINY_HOST, f"findmnt -n -o FSTYPE {tiny}; ls -A {tiny} | wc -l").stdout.split()
    finally:
        ssh(lab, TINY_HOST, f"umount {tiny}", check=False)
    for name in ("planned", "snap"):
        r = result[TINY_HOST][name]
        assert r["failed"] is True and r["error"] == "SpaceError", r
        assert "nothing was written" in r["msg"] and r["needed_bytes"] > r["free_bytes"], r
    # The store's file system is the tmpfs, and nothing at all was written to it.
    assert state == ["tmpfs", "0"], state


# ---------------------------------------------------------------- the rollback drill

DRILL_PLAYBOOK = REPO / "playbooks" / "rollback_drill.yml"
DRILL_HOSTS = ["cloud-euw1a-02", "onprem-dc1-01"]
LEDGER_KEY = "hmac:snaplab-drill-test-key-0123456789"


def run_drill(lab, workdir, ledger, extra):
    wait_until_reachable(lab, extra["drill_hosts"].split(","))
    argv = [str(PLAYBOOK), str(DRILL_PLAYBOOK), "-e", json.dumps(extra)]
    started = time.monotonic()
    proc = subprocess.run(
        argv,
        cwd=REPO,
        env=ansible_env(CHANGEWARD_LEDGER=str(ledger), CHANGEWARD_LEDGER_KEY=LEDGER_KEY, **RIDE_OUT),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    print(f"drill: {time.monotonic() - started:.1f}s")
    (workdir / f"drill-{extra['drill_change_id']}.log").write_text(proc.stdout + proc.stderr)
    return proc


def drill_events(ledger, change_id):
    with open_ledger(str(ledger), create=False, readonly=True) as led:
        return [e.event for e in led.entries() if e.event["subject"] == change_id]


def test_drill_with_a_generous_deadline_passes_and_records_the_recovery_time(lab, workdir, debs):
    ledger = workdir / "drill-ledger.db"
    change_id = f"DRILL-SNAPLAB-{uuid.uuid4().hex[:8]}"
    on_hosts(DRILL_HOSTS, lambda h: ssh(lab, h, setup_script(debs)))
    before = on_hosts(DRILL_HOSTS, lambda h: fingerprint(lab, h))
    proc = run_drill(
        lab,
        workdir,
        ledger,
        {
            "drill_hosts": ",".join(DRILL_HOSTS),
            "drill_change_id": change_id,
            "drill_deadline_seconds": 120,
            "drill_change_tasks": str(workdir / "drill-change.yml"),
            "drill_scope": SCOPE,
            "drill_store": STORE,
            "drill_package_dirs": [f"{ROOT}/debs"],
        },
    )
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert on_hosts(DRILL_HOSTS, lambda h: fingerprint(lab, h)) == before
    events = drill_events(ledger, change_id)
    types = [e["type"] for e in events]
    assert types[:2] == ["io.changeward.change.opened", "io.changeward.rollback.drill_started"]
    for host in DRILL_HOSTS:
        mine = [e for e in events if e["data"].get("host") == host or e["source"].endswith("/" + host)]
        assert [e["type"] for e in mine] == [
            "io.changeward.snapshot.taken",
            "io.changeward.rollback.completed",
            "io.changeward.rollback.drill",
        ], mine
        snap, rb, drill = (e["data"] for e in mine)
        assert rb["snapshot_id"] == snap["snapshot_id"] == drill["snapshot_id"]
        assert drill["met_deadline"] is True and drill["verified"] is True and drill["state_matches"] is True
        assert 0 < drill["recovery_seconds"] == rb["duration_seconds"] <= 120
        assert drill["wall_seconds"] >= drill["recovery_seconds"]
    with open_ledger(str(ledger), create=False, readonly=True) as led:
        assert set(led.get_change(change_id)["targets"]) == set(DRILL_HOSTS)
    report = verify(str(ledger), key=LEDGER_KEY)
    assert report["valid"] is True, report["problems"]


def test_drill_with_an_impossible_deadline_fails_and_records_it(lab, workdir):
    host = "cloud-euw1b-01"
    ledger = workdir / "drill-ledger-miss.db"
    change_id = f"DRILL-SNAPLAB-MISS-{uuid.uuid4().hex[:8]}"
    ssh(lab, host, RESET)
    proc = run_drill(
        lab,
        workdir,
        ledger,
        {
            "drill_hosts": host,
            "drill_change_id": change_id,
            "drill_deadline_seconds": 0.001,
            "drill_store": STORE,
            "drill_root": f"{ROOT}/drill",
            "drill_files": 100,
        },
    )
    assert proc.returncode != 0
    assert "deadline of 0.001 s missed" in proc.stdout, proc.stdout[-3000:]
    types = [e["type"] for e in drill_events(ledger, change_id)]
    assert types == [
        "io.changeward.change.opened",
        "io.changeward.rollback.drill_started",
        "io.changeward.snapshot.taken",
        "io.changeward.rollback.failed",
        "io.changeward.rollback.completed",
        "io.changeward.rollback.drill",
    ], types
    events = drill_events(ledger, change_id)
    assert events[3]["data"]["reason"].startswith("rollback passed its deadline")
    drill = events[-1]["data"]
    assert drill["met_deadline"] is False and drill["error"] == "DeadlineExceeded"
    assert drill["completed_after_miss"] is True and drill["state_matches"] is True
    # Independently: the built-in change (10% deleted, as many added) is undone on the host.
    names = ssh(lab, host, f"ls {ROOT}/drill/data").stdout.split()
    assert sorted(names) == sorted(f"f{i}.dat" for i in range(100)), names


# ---------------------------------------------------------------- reflink on a btrfs volume

REFLINK_HOST = "cloud-euw1b-01"
VOLUME_AT = "/opt/snaplab-vol"


def test_tree_on_a_btrfs_volume_is_rolled_back_by_cloning(lab, workdir):
    """A btrfs volume attached to the host (the lab's opt-in volumes) holds the tree and the store: the
    snapshot and the rollback clone contents instead of copying them, and the state comes back
    identical by the test's own fingerprint. The volume is detached at the end, also on failure."""
    change_id = f"CHG-SNAPLAB-REFLINK-{uuid.uuid4().hex[:8]}"
    tree, store, big = f"{VOLUME_AT}/app", f"{VOLUME_AT}/store", 24
    wait_until_reachable(lab, [REFLINK_HOST])
    lab.attach_volume(REFLINK_HOST, "btrfs", VOLUME_AT, 512 * 1024**2)
    try:
        ssh(
            lab,
            REFLINK_HOST,
            f"""set -eu
mkdir -p {tree}/conf.d {tree}/data {tree}/keys
printf 'port = 8080\\n' > {tree}/app.conf
printf 'old = yes\\n' > {tree}/conf.d/20-old.conf
for i in $(seq -w 1 {big}); do head -c 200000 /dev/urandom > {tree}/data/blob$i.bin; done
head -c 64 /dev/urandom > {tree}/keys/server.key
chmod 600 {tree}/keys/server.key; chmod 700 {tree}/keys
chown 1000:1000 {tree}/conf.d/20-old.conf
ln -s conf.d/20-old.conf {tree}/current.conf
find {tree} -type f -exec touch -d '2024-01-02 03:04:05' {{}} +
""",
        )
        assert ssh(lab, REFLINK_HOST, f"findmnt -n -o FSTYPE --target {tree}").stdout.split() == ["btrfs"]
        before = fingerprint(lab, REFLINK_HOST, paths=[tree])
        snap = {"change_id": change_id, "scope": {"paths": [tree]}, "store": store, "min_free": 0}
        snapped, _unused = run_play(
            lab,
            workdir,
            [REFLINK_HOST],
            [{"name": "snap", "changeward.hybrid.snapshot": snap, "register": "snap", "ignore_errors": True}],
            "reflink-snapshot",
        )
        s = snapped[REFLINK_HOST]["snap"]
        assert s.get("failed") is not True, s
        # The 200 kB files are cloned; btrfs keeps the tiny ones inline in its metadata, which cannot be.
        assert s["method_counts"]["reflink"] >= big, s
        ssh(
            lab,
            REFLINK_HOST,
            f"""set -eu
for i in $(seq -w 1 {big}); do
  head -c 200000 /dev/urandom > {tree}/data/.new && mv {tree}/data/.new {tree}/data/blob$i.bin
done
rm {tree}/data/blob01.bin {tree}/conf.d/20-old.conf
rm -r {tree}/keys
printf 'port = 9090\\n' > {tree}/app.conf; chmod 640 {tree}/app.conf
head -c 100000 /dev/urandom > {tree}/data/added.bin
ln -sfn /etc/hostname {tree}/current.conf
""",
        )
        assert fingerprint(lab, REFLINK_HOST, paths=[tree]) != before
        rolled, _unused = run_play(
            lab,
            workdir,
            [REFLINK_HOST],
            [
                {
                    "name": "rb",
                    "changeward.hybrid.rollback": {"change_id": change_id, "store": store, "deadline_seconds": 300},
                    "register": "rb",
                    "ignore_errors": True,
                }
            ],
            "reflink-rollback",
        )
        rb = rolled[REFLINK_HOST]["rb"]
        assert rb.get("failed") is not True and rb["verified"] is True, rb
        assert fingerprint(lab, REFLINK_HOST, paths=[tree]) == before
        # Every big file was restored by cloning its snapshot copy (one of them after its deletion).
        assert rb["method_counts"]["reflink"] >= big and rb["method"] in ("reflink", "mixed"), rb
    finally:
        lab.detach_volume(REFLINK_HOST, VOLUME_AT)
    assert not [v for v in lab.list_volumes() if v.get("host") == REFLINK_HOST]
    left = ssh(lab, REFLINK_HOST, f"findmnt -n {VOLUME_AT} || echo none; test -e {VOLUME_AT} && echo dir || true")
    assert left.stdout.split() == ["none"], left.stdout
