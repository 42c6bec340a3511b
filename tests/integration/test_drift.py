"""Drift detection and remediation on real lab hosts (issue 7): cloud, on-prem and edge.

The declared state is the changeward.hybrid.drift_baseline role, applied first to the hosts of this
test. Drift is then injected by hand over plain SSH - file content, mode, a removed file, a package
version (a .deb of another version built here and installed with dpkg -i), a stopped service and a
sysctl - and the real playbooks run: drift_detect.yml (both detectors, the drift_collector callback and
its detailed exit code) and drift_remediation.yml (plan, blackout gate, snapshot, the role, re-scan,
ledger record). Expectations are written down here, finding by finding: no miss and nothing extra. The
drift_collector callback is the one the project's ansible.cfg enables beside the window guard and the change
closer (no ANSIBLE_CALLBACKS_ENABLED). A declared state that is not the demo's - the sysctl example role with
its variables, declared in the inventory for cloud-use1b-01 - is detected, remediated and verified in check mode.

Hosts (shared lab, see tests/lab/README.md): only cloud-euw1a-01, cloud-use1b-01, onprem-dc1-02,
onprem-dc1-legacy and edge-s2-01, and on them only what the role manages (/etc/changeward-drift,
cw-drift-svc, cw-drift-probe, /var/cache/changeward/drift, net.ipv4.ip_forward, snapshots of DRM-TEST-*; on
cloud-use1b-01 also /etc/sysctl.d/60-changeward.conf and net.ipv4.conf.all.log_martians, restored afterwards).
The unreachable edge host is a host of an inventory copy, edge-s9-01 at 198.18.109.10, where nothing
answers: the real edge hosts belong to another feature's fault tests. Edge links may be flaky: SSH here
retries connection failures and Ansible retries per ansible.cfg.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml
from conftest import INVENTORY_DIR, REPO, ansible_env

sys.path.insert(0, str(REPO / "collections"))

from ansible_collections.changeward.hybrid.plugins.plugin_utils.drift import schema
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger

REAL = ["cloud-euw1a-01", "cloud-use1b-01", "onprem-dc1-02", "onprem-dc1-legacy", "edge-s2-01"]
FAKE_EDGE = "edge-s9-01"
FAKE_ADDRESS = "198.18.109.10"
DIR = "/etc/changeward-drift"
DEB = "/var/cache/changeward/drift/cw-drift-probe_1.0-1_all.deb"
PLAYBOOK = REPO / ".venv" / "bin" / "ansible-playbook"
POLICY = {
    "api_version": "changeward.hybrid/v1",
    "drift": {"auto_remediate": {"classes": ["file", "package", "service", "sysctl", "port"]}},
}

# What the injection below does, as each detector must report it.
SCAN_EXPECTED = {
    "cloud-euw1a-01": {("file", f"{DIR}/app.conf", "sha256"), ("file", f"{DIR}/motd", "mode")},
    "onprem-dc1-02": {
        ("file", f"{DIR}/conf.d/10-limits.conf", "state"),
        ("service", "cw-drift-svc", "state"),
        ("port", "tcp/9107@127.0.0.1", "state"),
        ("sysctl", "net.ipv4.ip_forward", "value"),
    },
    "edge-s2-01": {("package", "cw-drift-probe", "version")},
}
CHECK_EXPECTED = {
    "cloud-euw1a-01": {("file", f"{DIR}/app.conf"), ("file", f"{DIR}/motd")},
    "onprem-dc1-02": {
        ("file", f"{DIR}/conf.d/10-limits.conf"),
        ("service", "cw-drift-svc"),
        ("sysctl", "net.ipv4.ip_forward"),
    },
    "edge-s2-01": {("package", DEB)},
}

pytestmark = [
    pytest.mark.skipif(not PLAYBOOK.exists(), reason="needs .venv with ansible-playbook"),
    pytest.mark.reservation("whole-lab"),  # REAL spans cloud, on-prem and edge; see reservations.py
]


# ---------------------------------------------------------------- helpers


def ssh(lab, host, script, timeout=120, check=True):
    """A bash script on a host over real SSH; connection failures (rc 255) are retried on flaky links."""
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


def settle(lab, hosts, limit=120):
    """Wait until no host has a link outage in progress and each answers SSH (other features set faults)."""
    deadline = time.monotonic() + limit
    for host in hosts:
        while time.monotonic() < deadline:
            outage = (lab.faults().get(host) or {}).get("outage") or {}
            if outage.get("remaining", 0) <= 0 and ssh(lab, host, "true", check=False).returncode == 0:
                break
            time.sleep(3)


def unreachable_real(stdout: str, report: dict | None) -> list:
    """Hosts of this test that a run could not reach: the play recap, or the report (ignore_unreachable)."""
    down = set()
    for line in stdout.splitlines():
        m = re.match(r"^(\S+)\s+: ok=\d+ .*unreachable=(\d+)", line)
        if m and m.group(1) in REAL and int(m.group(2)) > 0:
            down.add(m.group(1))
    if report:
        down |= {h for h in REAL if h in report["hosts"] and report["hosts"][h]["reachable"] is False}
    return sorted(down)


def put(lab, host, path, data: bytes):
    """Copy bytes to a file on a host over SSH (retried like ssh())."""
    for attempt in range(6):
        proc = subprocess.run(
            lab.ssh_argv(host, f"cat > {path}", connect_timeout=15),
            input=data,
            capture_output=True,
            timeout=120,
            check=False,
        )
        if proc.returncode != 255:
            break
        time.sleep(2 + attempt)
    assert proc.returncode == 0, proc.stderr[-2000:]


def build_deb(workdir: Path, version: str) -> Path:
    root = workdir / f"deb-{version}"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "usr/share/cw-drift-probe").mkdir(parents=True)
    (root / "DEBIAN/control").write_text(
        f"Package: cw-drift-probe\nVersion: {version}\nArchitecture: all\n"
        "Maintainer: changeward tests <tests@changeward.invalid>\nDescription: drift test package\n"
    )
    (root / "usr/share/cw-drift-probe/VERSION").write_text(f"{version}\n")
    out = workdir / f"cw-drift-probe_{version}_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-b", str(root), str(out)], check=True, capture_output=True)
    return out


class World:
    """Everything one test run shares: the inventory copy, the ledger, the report directory."""

    def __init__(self, lab, base: Path):
        self.lab = lab
        self.base = base
        self.inventory = base / "inventory"
        shutil.copytree(INVENTORY_DIR, self.inventory)
        sites = yaml.safe_load((self.inventory / "edge_sites.yml").read_text())
        sites["sites"].append(
            {
                "site": "edge-site-9",
                "region": "edge-eu",
                "subnet": "198.18.109.0/24",
                "provider": "bare-metal",
                "hosts": [
                    {
                        "name": FAKE_EDGE,
                        "address": FAKE_ADDRESS,
                        "labels": {"rollback_capability": "full", "services": ["demo"]},
                    }
                ],
            }
        )
        (self.inventory / "edge_sites.yml").write_text(yaml.safe_dump(sites, sort_keys=False))
        # Nothing answers there: fail fast instead of riding out the flaky-link retries of ansible.cfg.
        (self.inventory / "host_vars").mkdir(exist_ok=True)
        (self.inventory / "host_vars" / f"{FAKE_EDGE}.yml").write_text(
            yaml.safe_dump({"ansible_ssh_retries": 0, "ansible_ssh_args": "-o ConnectTimeout=4 -o ControlMaster=no"})
        )
        # the drift policy is the operator's: pinned in the inventory, as -e cannot give it
        # and so is the declared state: every host of the lab is the demo's drift_baseline
        group_all = self.inventory / "group_vars" / "all.yml"
        shared = yaml.safe_load(group_all.read_text()) or {}
        group_all.write_text(
            yaml.safe_dump(
                {
                    **shared,
                    "changeward_policy": POLICY,
                    "changeward_drift_state": [{"role": "changeward.hybrid.drift_baseline"}],
                }
            )
        )
        self.ledger = base / "ledger.db"
        self.reports = base / "reports"
        self.artifacts = base / "artifacts"
        self.roles = base / "roles"
        # A role of the declared state with a task that cannot run in check mode, on one host only.
        tasks = self.roles / "cw_drift_nocheck" / "tasks"
        tasks.mkdir(parents=True)
        (tasks / "main.yml").write_text(
            yaml.safe_dump(
                [
                    {
                        "name": "A step without check-mode support",
                        "ansible.builtin.raw": "true",
                        "when": "inventory_hostname == 'onprem-dc1-legacy'",
                        "changed_when": False,
                    }
                ]
            )
        )

    def env(self, drift=True, **extra):
        roles = ":".join([str(self.roles), str(REPO / "roles"), str(REPO / "examples" / "roles")])
        if not drift:
            return ansible_env(ANSIBLE_ROLES_PATH=roles, **extra)
        env = ansible_env(
            CHANGEWARD_LEDGER=str(self.ledger),
            CHANGEWARD_LEDGER_CHECKPOINT_INTERVAL="0",
            CHANGEWARD_DRIFT_REPORT_DIR=str(self.reports),
            CHANGEWARD_DRIFT_OUTPUT_DIR=str(self.base / "evidence"),
            CHANGEWARD_DRIFT_DETAILED_EXITCODE="1",
            ANSIBLE_ROLES_PATH=roles,
            **extra,
        )
        # the callbacks are ansible.cfg's: the collector beside the window guard and the change closer
        env.pop("ANSIBLE_CALLBACKS_ENABLED", None)
        return env

    def playbook(self, book, hosts, extra=None, timeout=1200, drift=True, fresh=None):
        """Run a playbook; when a lab host of this test was unreachable (a link outage someone else set),
        wait for the link and run it again - up to 3 times. ``fresh`` renews extra vars per attempt."""
        for attempt in range(3):
            variables = {"drift_targets": ",".join(hosts), "drift_baseline_artifact_dir": str(self.artifacts)}
            variables.update(extra or {})
            variables.update(fresh() if fresh else {})
            self.last_vars = variables
            settle(self.lab, [h for h in hosts if h in REAL])
            cmd = [str(PLAYBOOK), "-i", str(self.inventory / "hybrid.yml"), "-e", json.dumps(variables), str(book)]
            started = time.time()
            proc = subprocess.run(
                cmd, cwd=REPO, env=self.env(drift), capture_output=True, text=True, timeout=timeout, check=False
            )
            latest = self.reports / "latest.json"
            report = self.report() if latest.exists() and latest.stat().st_mtime >= started else None
            if not unreachable_real(proc.stdout, report) or attempt == 2:
                return proc
            time.sleep(5)
        return proc

    def report(self):
        return json.loads((self.reports / "latest.json").read_text())

    def detect(self, hosts, detectors="scan,check", roles=None):
        extra = {"drift_detectors": detectors}
        if roles:
            extra["drift_roles"] = roles
        proc = self.playbook(REPO / "playbooks" / "drift_detect.yml", hosts, extra)
        return proc, self.report()

    def events(self):
        with open_ledger(str(self.ledger), create=False, readonly=True) as ledger:
            return [e.event for e in ledger.entries()]

    def change(self, change_id):
        with open_ledger(str(self.ledger), create=False, readonly=True) as ledger:
            return ledger.get_change(change_id)


def out(proc):
    return f"rc {proc.returncode}\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"


def scan_set(report, host):
    return {
        (f["class"], f["item"], f["attribute"]) for f in report["hosts"][host]["findings"] if f["detector"] == "scan"
    }


def check_set(report, host):
    return {(f["class"], f["item"]) for f in report["hosts"][host]["findings"] if f["detector"] == "check"}


def new_change_id():
    return {"drift_change_id": f"DRM-TEST-{uuid.uuid4().hex[:8]}"}


# ---------------------------------------------------------------- fixture


@pytest.fixture(scope="module")
def world(lab, tmp_path_factory):
    w = World(lab, tmp_path_factory.mktemp("drift"))
    setup = w.base / "apply.yml"
    setup.write_text(
        yaml.safe_dump(
            [
                {
                    "name": "Apply",
                    "hosts": ",".join(REAL),
                    "gather_facts": False,
                    "roles": ["changeward.hybrid.drift_baseline"],
                }
            ]
        )
    )
    proc = w.playbook(setup, REAL, drift=False)
    assert proc.returncode == 0, out(proc)
    yield w
    for host in REAL:
        ssh(lab, host, "rm -rf /var/lib/changeward/snapshots/DRM-TEST-* /tmp/cw-drift-probe_*.deb", check=False)


def inject(lab, deb2: Path):
    ssh(
        lab,
        "cloud-euw1a-01",
        f"set -e; echo 'max_connections = 9999  # hand fix' >> {DIR}/app.conf; chmod 0600 {DIR}/motd",
    )
    ssh(
        lab,
        "onprem-dc1-02",
        f"set -e; rm {DIR}/conf.d/10-limits.conf; /etc/init.d/cw-drift-svc stop; sysctl -qw net.ipv4.ip_forward=1",
    )
    put(lab, "edge-s2-01", f"/tmp/{deb2.name}", deb2.read_bytes())
    version = ssh(
        lab,
        "edge-s2-01",
        f"set -e; dpkg -i /tmp/{deb2.name} >/dev/null; dpkg-query -W -f '${{Version}}' cw-drift-probe",
    )
    assert version.stdout == "2.0-1"


# ---------------------------------------------------------------- tests


def test_the_declared_state_just_applied_is_in_sync_for_both_detectors(world):
    proc, report = world.detect(REAL)
    assert proc.returncode == 0, out(proc)
    assert report["status"] == "in_sync" and report["detectors"] == ["scan", "check"]
    for host in REAL:
        assert report["hosts"][host]["detectors"] == {"scan": "in_sync", "check": "in_sync"}, host
    assert schema.validate(report) == []


def test_injected_drift_is_found_exactly_unreachable_and_unevaluable_are_unknown(world):
    deb2 = build_deb(world.base, "2.0-1")
    inject(world.lab, deb2)
    hosts = [*REAL, FAKE_EDGE]
    proc, report = world.detect(hosts, roles=["changeward.hybrid.drift_baseline", "cw_drift_nocheck"])
    # something is unknown (the unreachable edge host, the raw task): exit 1, as for terraform's errors
    assert proc.returncode == 1, out(proc)
    assert schema.validate(report) == []
    status = {h: report["hosts"][h]["status"] for h in hosts}
    assert status == {
        "cloud-euw1a-01": "drifted",
        "cloud-use1b-01": "in_sync",
        "onprem-dc1-02": "drifted",
        "onprem-dc1-legacy": "unknown",
        "edge-s2-01": "drifted",
        FAKE_EDGE: "unknown",
    }
    for host in REAL:
        assert scan_set(report, host) == SCAN_EXPECTED.get(host, set()), host
        assert check_set(report, host) == CHECK_EXPECTED.get(host, set()), host
    # all three env types drifted
    assert {report["hosts"][h]["env_type"] for h in SCAN_EXPECTED} == {"cloud", "onprem", "edge"}
    # the unevaluable task: no finding, but never in sync
    legacy = report["hosts"]["onprem-dc1-legacy"]
    assert legacy["findings"] == [] and legacy["detectors"] == {"scan": "in_sync", "check": "unknown"}
    assert any("not evaluable in check mode" in u["reason"] for u in legacy["unknown"])
    fake = report["hosts"][FAKE_EDGE]
    assert fake["reachable"] is False and fake["env_type"] == "edge" and fake["findings"] == []
    # the check-mode diff shows the hand edit
    app = next(
        f
        for f in report["hosts"]["cloud-euw1a-01"]["findings"]
        if f["detector"] == "check" and f["item"].endswith("app.conf")
    )
    assert "max_connections = 9999" in app["diff"]
    # every finding is in the ledger, under this run
    recorded = {
        f["id"]
        for e in world.events()
        if e["type"] == "io.changeward.drift.detected" and e["subject"] == report["run_id"]
        for f in e["data"]["findings"]
    }
    assert recorded == {f["id"] for h in report["hosts"].values() for f in h["findings"]}
    assert (world.reports / f"drift-{report['run_id']}.md").read_text().count("**DRIFTED**") == 3


def test_only_drift_exits_2(world):
    proc, report = world.detect(["cloud-euw1a-01", "cloud-use1b-01"], detectors="scan")
    assert proc.returncode == 2, out(proc)
    assert report["status"] == "drifted"


def test_remediation_inside_a_blackout_window_is_refused(world):
    now = dt.datetime.now(dt.UTC)
    calendar = {
        "name": "drift-test-freeze",
        "windows": [
            {
                "name": "freeze for the drift test",
                "start": (now - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
                "duration": "PT3H",
                "tz": "UTC",
            }
        ],
    }
    before = ssh(world.lab, "cloud-euw1a-01", f"sha256sum {DIR}/app.conf").stdout
    proc = world.playbook(
        REPO / "playbooks" / "drift_remediation.yml",
        REAL,
        {"drift_calendars": [calendar]},
        fresh=new_change_id,
    )
    change_id = world.last_vars["drift_change_id"]
    assert proc.returncode != 0, out(proc)
    assert "refused" in proc.stdout and "drift-test-freeze" in proc.stdout
    record = world.change(change_id)
    assert record["status"] == "closed" and record["outcome"] == "aborted"
    assert {g["gate"]: g["decision"] for g in record["gate_decisions"]}["blackout"] == "fail"
    # nothing was touched
    assert ssh(world.lab, "cloud-euw1a-01", f"sha256sum {DIR}/app.conf").stdout == before
    assert "TASK [Snapshot what the role manages]" not in proc.stdout


def test_remediation_restores_the_declared_state_and_defers_the_offline_edge_host(world):
    calendar = {"name": "next-year", "windows": [{"name": "far away", "start": "2099-12-20T00:00", "duration": "P1D"}]}
    proc = world.playbook(
        REPO / "playbooks" / "drift_remediation.yml",
        [*REAL, FAKE_EDGE],
        {"drift_calendars": [calendar]},
        fresh=new_change_id,
    )
    change_id = world.last_vars["drift_change_id"]
    # the offline edge host is deferred, not failed: the run succeeds
    assert proc.returncode == 0, out(proc)
    record = world.change(change_id)
    assert record["status"] == "closed" and record["outcome"] == "successful", record
    assert sorted(record["targets"]) == sorted(SCAN_EXPECTED)
    assert sorted(s["host"] for s in record["snapshots"]) == sorted(SCAN_EXPECTED)
    deferred = [e for e in world.events() if e["type"] == "io.changeward.drift.deferred"]
    assert deferred and deferred[-1]["data"]["change_id"] == change_id
    assert [d["host"] for d in deferred[-1]["data"]["hosts"]] == [FAKE_EDGE]
    # an independent re-scan with both detectors: everything is back
    proc, report = world.detect(REAL)
    assert proc.returncode == 0, out(proc)
    assert all(h["status"] == "in_sync" for h in report["hosts"].values())
    version = ssh(world.lab, "edge-s2-01", "dpkg-query -W -f '${Version}' cw-drift-probe").stdout
    assert version == "1.0-1"
    assert ssh(world.lab, "onprem-dc1-02", "cat /proc/sys/net/ipv4/ip_forward").stdout.strip() == "0"


@pytest.mark.skipif(not (REPO / ".venv313" / "bin" / "ansible-playbook").exists(), reason="no ansible-core 2.21 venv")
def test_scan_detection_on_the_highest_ansible_core(world):
    cmd = [
        str(REPO / ".venv313" / "bin" / "ansible-playbook"),
        "-i",
        str(world.inventory / "hybrid.yml"),
        "-e",
        json.dumps({"drift_targets": ",".join(REAL), "drift_baseline_artifact_dir": str(world.artifacts)}),
        str(REPO / "playbooks" / "drift_detect.yml"),
    ]
    proc = subprocess.run(cmd, cwd=REPO, env=world.env(), capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, out(proc)
    assert world.report()["status"] == "in_sync"


SYSCTL_HOST = "cloud-use1b-01"
SYSCTL_FILE = "/etc/sysctl.d/60-changeward.conf"
SYSCTL_NAME = "net.ipv4.conf.all.log_martians"


def test_a_declared_state_from_examples_roles_is_detected_remediated_and_verified_in_check_mode(world):
    """The inventory declares cloud-use1b-01's state as the sysctl_setting example role with its variables; a
    remediation run with the check detector finds the missing drop-in, snapshots what the role declares it
    touches (meta/changeward.yml), runs that role with those variables, and verifies by running it again in
    check mode. The window guard and change closer are enabled all along (ansible.cfg)."""
    before = ssh(world.lab, SYSCTL_HOST, f"cat /proc/sys/{SYSCTL_NAME.replace('.', '/')}").stdout.strip()
    wanted = "0" if before == "1" else "1"
    # another suite's sysctl change may have left its drop-in: put it aside, so the host starts without one
    ssh(world.lab, SYSCTL_HOST, f"if [ -e {SYSCTL_FILE} ]; then mv {SYSCTL_FILE} /root/cw-drift-test.conf; fi")
    host_vars = world.inventory / "host_vars" / f"{SYSCTL_HOST}.yml"
    host_vars.write_text(
        yaml.safe_dump(
            {
                "changeward_drift_state": [
                    {"role": "sysctl_setting", "vars": {"sysctl_setting_values": {SYSCTL_NAME: wanted}}}
                ]
            }
        )
    )
    calendar = {"name": "next-year", "windows": [{"name": "far away", "start": "2099-12-20T00:00", "duration": "P1D"}]}
    try:
        proc = world.playbook(
            REPO / "playbooks" / "drift_remediation.yml",
            [SYSCTL_HOST],
            {"drift_calendars": [calendar], "drift_detectors": "check"},
            fresh=new_change_id,
        )
        change_id = world.last_vars["drift_change_id"]
        assert proc.returncode == 0, out(proc)
        report = world.report()
        finding = report["hosts"][SYSCTL_HOST]["findings"]
        assert [(f["detector"], f["class"], f["item"]) for f in finding] == [("check", "file", SYSCTL_FILE)]
        record_ = world.change(change_id)
        assert record_["status"] == "closed" and record_["outcome"] == "successful", record_
        assert record_["targets"] == [SYSCTL_HOST] and [s["host"] for s in record_["snapshots"]] == [SYSCTL_HOST]
        verified = [
            e["data"]["verification"]
            for e in world.events()
            if e["type"] == "io.changeward.drift.verified" and e["subject"] == change_id
        ]
        assert verified and verified[-1]["hosts"][SYSCTL_HOST]["status"] == "in_sync"
        # the role ran with the declared variables: the file and, through its handler, the live value
        assert f"{SYSCTL_NAME} = {wanted}" in ssh(world.lab, SYSCTL_HOST, f"cat {SYSCTL_FILE}").stdout
        live = ssh(world.lab, SYSCTL_HOST, f"cat /proc/sys/{SYSCTL_NAME.replace('.', '/')}").stdout.strip()
        assert live == wanted
        assert "TASK [changeward window guard]" not in proc.stdout  # no batch stopped by the guard
    finally:
        host_vars.unlink()
        ssh(
            world.lab,
            SYSCTL_HOST,
            f"rm -f {SYSCTL_FILE}; if [ -e /root/cw-drift-test.conf ]; then mv /root/cw-drift-test.conf {SYSCTL_FILE}; "
            f"fi; sysctl -qw {SYSCTL_NAME}={before}",
            check=False,
        )
