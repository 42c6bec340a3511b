"""The shipped example change specs, each run end to end through playbooks/change.yml on real lab hosts.

Every claim is checked outside Ansible: the hosts are asked over SSH (or HTTP) what they run now, and the
ledger is read for the snapshots and the outcome. The specs are the shipped ones, narrowed to a few hosts
and with short bake times (the canary judge needs 100 s of data; the bake watch judges the rings here).
"""

import json
import subprocess
import sys
import time
import urllib.request

import pytest
from conftest import INVENTORY_DIR, REPO, ansible_env
from governance_lab import check_report, checklist_blocks_until_acknowledged, drafted_pir
from retention_lab import archive_prune_with_hold
from specs import change_vars, example

sys.path.insert(0, str(REPO / "tests" / "lab"))
sys.path.insert(0, str(REPO / "collections"))
from cwlab.lab import Lab

LEDGER_KEY = "hmac:change-specs-test-key-0123456789"
INVENTORY = INVENTORY_DIR / "hybrid.yml"
FAST_BAKE = {"canary": "15s", "default": "5s"}


@pytest.fixture(scope="module")
def spec_lab(lab):
    return Lab.load()


# The releases and the emergency change below share one ledger, which the quarter's compliance report is built
# from (governance_lab.py); each test still reads only its own changes' events.
SHARED = {}  # change id -> what the report must say of it


@pytest.fixture(scope="module")
def shared_ledger_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("shared-ledger")


def run(tmp_path, spec, change_id, timeout=900, extra=None, inventories=()):
    """ansible-playbook playbooks/change.yml with the spec, on a fresh ledger; (process, ledger path).
    inventories: further inventory sources on top of the lab's."""
    ledger = tmp_path / "ledger.db"
    vars_file = tmp_path / f"{change_id}.json"
    vars_file.write_text(json.dumps(change_vars(spec, change_id, judge=False, **(extra or {}))))
    argv = [str(REPO / ".venv" / "bin" / "ansible-playbook"), "playbooks/change.yml", "-e", f"@{vars_file}"]
    if inventories:
        argv += ["-i", str(INVENTORY), *[arg for inv in inventories for arg in ("-i", str(inv))]]
    proc = subprocess.run(
        argv,
        cwd=REPO,
        env=ansible_env(CHANGEWARD_LEDGER=str(ledger), CHANGEWARD_LEDGER_KEY=LEDGER_KEY),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    print(proc.stdout[-6000:], proc.stderr[-3000:])
    return proc, ledger


def events(ledger, change_id):
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger

    with open_ledger(str(ledger), create=False, readonly=True) as handle:
        return [e.event for e in handle.entries() if e.event["subject"] == change_id]


def outcome(evs):
    (closed,) = [e for e in evs if e["type"] == "io.changeward.change.closed"]
    return closed["data"]["record"]["outcome"]


def snapshotted(evs):
    return {e["source"].rsplit("/", 1)[-1] for e in evs if e["type"] == "io.changeward.snapshot.taken"}


def narrowed(name, pattern, **fields):
    spec = example(name)
    spec["targets"] = {"pattern": pattern}
    spec["bake_times"] = FAST_BAKE
    spec.update(fields)
    return spec


def ssh(lab, host, command):
    proc = lab.ssh(host, command, timeout=60)
    assert proc.returncode == 0, (host, command, proc.stderr)
    return proc.stdout.strip()


# -- cloud and on-prem hosts ---------------------------------------------------------------------------------------
NGINX_HOSTS = ["cloud-use1a-01", "cloud-use1b-01"]
SYSCTL_HOSTS = ["cloud-euw1a-01", "cloud-euw1b-01"]
PACKAGE_HOSTS = ["onprem-dc1-01", "onprem-dc1-02"]


@pytest.mark.reservation("cloud-onprem")
def test_config_file_with_a_handler(spec_lab, tmp_path):
    change_id = f"CHG-SPEC-NGINX-{int(time.time())}"
    release = f"1.1.{int(time.time())}"
    spec = narrowed("nginx-site", ":".join(NGINX_HOSTS))
    spec["apply"]["vars"]["nginx_site_release"] = release
    spec["health_checks"][0]["contains"] = f"release {release}"
    proc, ledger = run(tmp_path, spec, change_id)
    assert proc.returncode == 0
    evs = events(ledger, change_id)
    assert outcome(evs) == "successful"
    assert snapshotted(evs) == set(NGINX_HOSTS)
    for host in NGINX_HOSTS:
        # the handler reloaded nginx: the running server (not only the file) serves the new release
        address = spec_lab.host(host).address
        with urllib.request.urlopen(f"http://{address}:8081/", timeout=10) as resp:
            assert resp.read().decode().strip() == f"release {release}"
            assert resp.headers["X-Release"] == release
        assert "keepalive_timeout 15;" in ssh(spec_lab, host, "cat /etc/nginx/conf.d/changeward-example.conf")


@pytest.mark.reservation("cloud-onprem")
def test_sysctl(spec_lab, tmp_path):
    change_id = f"CHG-SPEC-SYSCTL-{int(time.time())}"
    value = 6000 + int(time.time()) % 2000  # a value no earlier run left in force
    spec = narrowed("sysctl-somaxconn", ":".join(SYSCTL_HOSTS))
    spec["apply"]["vars"]["sysctl_setting_values"] = {"net.core.somaxconn": value}
    spec["health_checks"][0]["command"] = ["sh", "-c", f'test "$(sysctl -n net.core.somaxconn)" = {value}']
    proc, ledger = run(tmp_path, spec, change_id)
    assert proc.returncode == 0
    evs = events(ledger, change_id)
    assert outcome(evs) == "successful"
    assert snapshotted(evs) == set(SYSCTL_HOSTS)
    for host in SYSCTL_HOSTS:
        assert ssh(spec_lab, host, "sysctl -n net.core.somaxconn") == str(value)
        assert f"net.core.somaxconn = {value}" in ssh(spec_lab, host, "cat /etc/sysctl.d/60-changeward.conf")


def package_state(lab, host):
    return {
        "version": ssh(lab, host, "dpkg-query -W -f '${Version}' cw-example-tool"),
        "tool": ssh(lab, host, "cw-example-tool --version"),
        "conf": ssh(lab, host, "cat /etc/cw-example-tool.conf"),
    }


@pytest.fixture
def package_repo(spec_lab):
    subprocess.run([str(REPO / ".venv/bin/python"), str(REPO / "examples/lab/prepare.py")], check=True, timeout=300)
    for host in PACKAGE_HOSTS:  # start from a host without the package
        spec_lab.ssh(host, "dpkg --purge cw-example-tool >/dev/null 2>&1; true", timeout=120)


@pytest.mark.reservation("cloud-onprem")
def test_package_upgrade_and_its_bad_variant_rolled_back(spec_lab, shared_ledger_dir, tmp_path, package_repo):
    stamp = int(time.time())
    good_id, bad_id = f"CHG-SPEC-PKG-{stamp}", f"CHG-SPEC-PKGBAD-{stamp}"
    proc, ledger = run(shared_ledger_dir, narrowed("package-upgrade", ":".join(PACKAGE_HOSTS)), good_id)
    assert proc.returncode == 0
    evs = events(ledger, good_id)
    assert outcome(evs) == "successful" and snapshotted(evs) == set(PACKAGE_HOSTS)
    before = {host: package_state(spec_lab, host) for host in PACKAGE_HOSTS}
    assert {s["version"] for s in before.values()} == {"1.1.0"}
    assert {s["tool"] for s in before.values()} == {"1.1.0"}

    # 1.2.0 fails its self-test: the canary ring is rolled back - version, program and configuration file -
    # the breaker opens and the second ring is never changed
    proc, ledger = run(shared_ledger_dir, narrowed("package-upgrade-bad", ":".join(PACKAGE_HOSTS)), bad_id)
    assert proc.returncode != 0
    evs = events(ledger, bad_id)
    assert outcome(evs) == "rolled_back"
    assert snapshotted(evs) == set(PACKAGE_HOSTS)
    rolled = [e for e in evs if e["type"] == "io.changeward.ring.rolled_back"]
    assert len(rolled) == 1
    canary = rolled[0]["data"]["hosts"]
    assert len(canary) == 1 and canary[0] in PACKAGE_HOSTS
    assert "cw-example-tool self-test" in json.dumps(rolled[0]["data"])
    for host in PACKAGE_HOSTS:
        assert package_state(spec_lab, host) == before[host], host
    completed = [e for e in evs if e["type"] == "io.changeward.rollback.completed"]
    assert [e["source"].rsplit("/", 1)[-1] for e in completed] == canary
    # the main job opened the rollback's review at close (playbooks/review.yml drafts its PIR)
    assert [e["data"]["kind"] for e in evs if e["type"] == "io.changeward.review.opened"] == ["rollback"]
    SHARED[good_id] = {"outcome": "successful", "type": "standard"}
    SHARED[bad_id] = {"outcome": "rolled_back", "type": "standard", "exceptions": ["failed close"]}
    check_report(ledger, LEDGER_KEY, tmp_path, SHARED)
    pir = drafted_pir(ledger, LEDGER_KEY, bad_id, tmp_path)
    assert f"# Post-incident review: {bad_id}" in pir and "| Why this review | rolled back (" in pir
    assert "| rolled_back |" in pir and "## Rollback timing" in pir and "No ring was rolled back." not in pir
    # retention (on a copy): a legal hold on the rolled-back change stops pruning at its first event; what lies before
    # is archived to an S3 bucket with Object Lock, read back, verified and pruned; the archive verifies on its own
    archive_prune_with_hold(ledger, LEDGER_KEY, bad_id, tmp_path)
    # the learning loop: the held review's checklist item blocks a similar change until dana acknowledges it
    learned = checklist_blocks_until_acknowledged(ledger, LEDGER_KEY, bad_id, tmp_path)
    gate = [e for e in events(learned, f"{bad_id}-NEXT") if e["type"] == "io.changeward.gate.decided"]
    assert [e["data"]["decision"]["decision"] for e in gate] == ["fail", "pass"]


# -- edge hosts --------------------------------------------------------------------------------------------------------
EDGE_HOSTS = ["edge-s1-01", "edge-s2-01", "edge-s3-01"]


@pytest.fixture
def flaky_edge(spec_lab):
    import edge_lab

    subprocess.run([str(REPO / ".venv/bin/python"), str(REPO / "examples/lab/prepare.py")], check=True, timeout=300)
    for host in EDGE_HOSTS:
        edge_lab.reset_device(spec_lab, host)
    spec_lab.fault("edge", profile="flaky")
    yield
    spec_lab.clear_faults("edge")
    for host in EDGE_HOSTS:
        edge_lab.reset_device(spec_lab, host)


@pytest.mark.reservation("edge")
def test_edge_release_staged_over_the_flaky_link_and_activated_by_rings(spec_lab, tmp_path, flaky_edge):
    change_id = f"CHG-SPEC-EDGE-{int(time.time())}"
    proc, ledger = run(tmp_path, narrowed("edge-release", "edge"), change_id, timeout=1500)
    assert proc.returncode == 0
    evs = events(ledger, change_id)
    assert outcome(evs) == "successful"
    assert snapshotted(evs) == set(EDGE_HOSTS)
    types = [e["type"] for e in evs]
    assert "io.changeward.edge.manifest_verified" in types, types
    # activation went ring by ring: every ring started after the previous one ended
    starts = [e for e in evs if e["type"] == "io.changeward.ring.started"]
    assert len(starts) >= 2
    for host in EDGE_HOSTS:
        version = json.loads(ssh(spec_lab, host, "curl -s -m 5 http://127.0.0.1:8080/"))["version"]
        assert version == "2.0.0", host


# -- regional calendars and the emergency override, through the main job ------------------------------------------
OVERRIDE_HOSTS = ["cloud-euw1a-02", "cloud-euw1b-02"]


def frozen_region(tmp_path, hosts):
    """An inventory that puts hosts in a group whose group_vars carry a regional calendar (the regional policy
    layer, changeward_policy_local) with a blackout over the next hours - as a regional team would."""
    import datetime

    now = datetime.datetime.now(datetime.UTC)
    path = tmp_path / "regional-freeze.yml"
    path.write_text(
        json.dumps(
            {
                "name": "eu-regional-freeze",
                "kind": "blackout",
                "tz": "UTC",
                "windows": [
                    {
                        "name": "EU regional freeze",
                        "uid": "eu-freeze@test",
                        "start": (now - datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
                        "end": (now + datetime.timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M"),
                    }
                ],
            }
        )
    )
    inventory = tmp_path / "region"
    (inventory / "group_vars").mkdir(parents=True)
    (inventory / "hosts.yml").write_text(json.dumps({"eu_frozen": {"hosts": dict.fromkeys(hosts)}}))
    local = {"blackout": {"calendars": [{"src": str(path)}]}}
    (inventory / "group_vars" / "eu_frozen.yml").write_text(json.dumps({"changeward_policy_local": local}))
    return inventory / "hosts.yml"


def signed_override(tmp_path, spec, change_id, reference, inventories=()):
    """dana's emergency override of the change, signed with her lab ssh key (examples/lab/prepare.py): the change
    digest from playbooks/approve.yml (the change spec validated as the main job will), the override statement
    written beside its .sig as ssh-keygen -Y sign leaves it."""
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.approval import statement_text
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar.override import override_statement

    keys = json.loads(
        subprocess.run(
            [str(REPO / ".venv/bin/python"), str(REPO / "examples/lab/prepare.py"), "--approvers"],
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
    )["approvers"]["keys"]
    vars_file = tmp_path / f"{change_id}.approve.json"
    vars_file.write_text(json.dumps(change_vars(spec, change_id, approver="dana", role="incident-commander")))
    argv = [str(REPO / ".venv/bin/ansible-playbook"), "playbooks/approve.yml", "-e", f"@{vars_file}"]
    argv += ["-e", f"approval_dir={tmp_path}"]
    if inventories:
        argv += ["-i", str(INVENTORY), *[arg for inv in inventories for arg in ("-i", str(inv))]]
    proc = subprocess.run(argv, cwd=REPO, env=ansible_env(), capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:]
    digest = json.loads((tmp_path / f"{change_id}.dana.json").read_text())["change_digest"]
    # the lab policy lets an override exempt the change from the error budget too (override.exemptions), which
    # a fix during an incident needs when the incident has spent the budget
    stmt = override_statement(
        change_id,
        digest,
        "dana",
        "incident-commander",
        reference,
        "regional freeze, but the fix cannot wait",
        ["error_budget"],
    )
    path = tmp_path / f"{change_id}.override.json"
    path.write_text(statement_text(stmt))
    subprocess.run(
        ["ssh-keygen", "-q", "-Y", "sign", "-f", keys["dana"], "-n", "changeward-approval", str(path)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return {"file": str(path)}


@pytest.mark.reservation("cloud-onprem")
def test_a_regional_calendar_blocks_and_an_emergency_override_runs_to_the_end(spec_lab, shared_ledger_dir, tmp_path):
    region = frozen_region(tmp_path, OVERRIDE_HOSTS)
    stamp = int(time.time())
    value = 6000 + stamp % 2000
    spec = narrowed("sysctl-somaxconn", ":".join(OVERRIDE_HOSTS))
    spec["apply"]["vars"]["sysctl_setting_values"] = {"net.core.somaxconn": value}
    spec["health_checks"][0]["command"] = ["sh", "-c", f'test "$(sysctl -n net.core.somaxconn)" = {value}']

    blocked_id = f"CHG-SPEC-FROZEN-{stamp}"
    proc, ledger = run(shared_ledger_dir, spec, blocked_id, inventories=[region])
    assert proc.returncode != 0
    evs = events(ledger, blocked_id)
    assert outcome(evs) == "aborted"
    assert "EU regional freeze" in json.dumps([e for e in evs if e["type"] == "io.changeward.gate.decided"])
    for host in OVERRIDE_HOSTS:
        assert ssh(spec_lab, host, "sysctl -n net.core.somaxconn") != str(value), "a blocked change changed a host"

    override_id = f"CHG-SPEC-OVERRIDE-{stamp}"
    spec["type"] = "emergency"
    override = signed_override(tmp_path, spec, override_id, f"INC-{stamp}", inventories=[region])
    proc, ledger = run(
        shared_ledger_dir, spec, override_id, extra={"changeward_override": override}, inventories=[region]
    )
    assert proc.returncode == 0
    evs = events(ledger, override_id)
    assert outcome(evs) == "successful"
    overrides = [e for e in evs if e["type"] == "io.changeward.gate.override"]
    assert len(overrides) == 1 and overrides[0]["subject"] == override_id
    assert overrides[0]["data"]["approver"] == "dana"
    reviews = [e for e in evs if e["type"] == "io.changeward.review.opened"]
    assert [r["data"]["override_event_id"] for r in reviews] == [overrides[0]["id"]]
    for host in OVERRIDE_HOSTS:
        assert ssh(spec_lab, host, "sysctl -n net.core.somaxconn") == str(value)
    SHARED[blocked_id] = {"outcome": "aborted", "type": "standard", "exceptions": ["failed close"]}
    SHARED[override_id] = {"outcome": "successful", "type": "emergency", "exceptions": ["override", "emergency change"]}
    report = check_report(ledger, LEDGER_KEY, tmp_path, SHARED)
    emergency = next(c for c in report["changes"] if c["change_id"] == override_id)
    assert emergency["overrides"][0]["approver"] == "dana" and emergency["reviews"][0]["status"] == "open"
