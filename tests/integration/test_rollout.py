"""Progressive rollout on the lab (cloud and on-prem hosts only; the edge hosts belong to other tests).

The main job (playbooks/change.yml) runs for real over SSH. Every claim is checked outside Ansible's own
report: the demo service of each host is asked which release it serves, Prometheus' raw samples say when
the regression showed, the host's file system says when the rollback rewrote the release, and the ledger
(opened read-only here) says which rings ran and what the breaker did.
"""

import itertools
import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml
from conftest import REPO, ansible_env, on_core
from specs import change_vars, demo_release

from cwlab.lab import Lab

sys.path.insert(0, str(REPO / "collections"))

from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger

TARGETS = "cloud:onprem"
PROMETHEUS = "http://198.18.0.1:9090"
SCRAPE_INTERVAL = 5.0
KEY = "hmac:rollout-integration-test-key-0123456789"
BAKE_FAST = {"canary": "60s", "default": "10s"}
CGROUP_ROOT = Path("/sys/fs/cgroup/unified")

pytestmark = pytest.mark.reservation("cloud-onprem")  # lab hosts: tests/integration/reservations.py


@pytest.fixture(scope="module")
def rollout_lab(request):
    """The lab. When it is up already it is used as it is: the session fixture's up() waits for every host,
    and the edge hosts may be in another engineer's timed outage right now. Otherwise the session fixture
    brings it up (and down at the end)."""
    handle = Lab.load()
    if handle.is_up():
        return handle
    return request.getfixturevalue("lab")


# -- helpers --------------------------------------------------------------------------------------------------
def hosts(lab, pattern=TARGETS):
    out = []
    for group in pattern.split(":"):
        out += lab.select(group)
    return {h.name: h.address for h in out}


def served_version(address):
    """The release the service runs, from its metrics (/ may answer 500 or 503 on purpose)."""
    with urllib.request.urlopen(f"http://{address}:8080/metrics", timeout=10) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith("demo_build_info{"):
                return line.split('version="', 1)[1].split('"', 1)[0]
    raise AssertionError(f"{address}: no demo_build_info")


def versions(targets):
    return {name: served_version(addr) for name, addr in targets.items()}


def prom(query, at=None):
    params = {"query": query}
    if at is not None:
        params["time"] = f"{at:.3f}"
    url = f"{PROMETHEUS}/api/v1/query?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - a fixed http URL
        return json.load(resp)["data"]["result"]


def change_cmd(bindir, extra, inventory=()):
    sources = [a for path in inventory for a in ("-i", str(path))]
    return [str(bindir / "ansible-playbook"), *sources, "playbooks/change.yml", "-e", json.dumps(extra)]


def concurrent_changes_allowed(tmp_path):
    """Inventory sources whose pinned gate policy is the lab's with other open changes of the service a warning,
    not a refusal (the conflicts gate would otherwise stop the second change before the breaker is ever asked),
    as an operator would pin it for a service that rolls out per region at once."""
    lab_policy = REPO / "examples" / "policies" / "lab-gates.yml"
    policy = yaml.safe_load(lab_policy.read_text())
    for calendar in policy.get("blackout", {}).get("calendars", []):
        if "src" in calendar and not str(calendar["src"]).startswith(("/", "http")):
            calendar["src"] = str(lab_policy.parent / calendar["src"])
    policy.setdefault("conflicts", {}).setdefault("decisions", {})["changes"] = "warn"
    overlay = tmp_path / "concurrent"
    (overlay / "group_vars").mkdir(parents=True)
    (overlay / "group_vars" / "all.yml").write_text(yaml.safe_dump({"changeward_policy": policy}))
    (overlay / "hosts.yml").write_text("all: {}\n")
    return [REPO / "inventories" / "lab" / "generated" / "hybrid.yml", overlay / "hosts.yml"]


def run_env(ledger):
    return ansible_env(CHANGEWARD_LEDGER=str(ledger), CHANGEWARD_LEDGER_KEY=KEY)


def run_change(bindir, ledger, extra, timeout=1200, inventory=()):
    proc = subprocess.run(
        change_cmd(bindir, extra, inventory),
        cwd=REPO,
        env=run_env(ledger),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    print(proc.stdout[-6000:])
    return proc


def events(ledger, change_id=None):
    with open_ledger(str(ledger), create=False) as led:
        out = [e.event for e in led.entries()]
    return [e for e in out if change_id is None or e["subject"] == change_id]


def record(ledger, change_id):
    with open_ledger(str(ledger), create=False) as led:
        return led.get_change(change_id)


def ring_events(evs, kind):
    return [e["data"] for e in evs if e["type"] == f"io.changeward.ring.{kind}"]


def breaker_events(ledger, service="demo"):
    return [e for e in events(ledger) if e["subject"] == f"breaker:{service}"]


def new_change(prefix):
    return f"CHG-{prefix}-{int(time.time())}-{uuid.uuid4().hex[:6]}"


def report_lines(stdout):
    return [line for line in stdout.splitlines() if "ring" in line or "timing" in line or "rollback:" in line]


# -- a good release ------------------------------------------------------------------------------------------------
@on_core("2.21")
def test_good_release_reaches_every_ring(rollout_lab, venv, tmp_path):
    bindir, core = venv
    targets = hosts(rollout_lab)
    version = f"3.{core.replace('.', '')}.{int(time.time())}"
    change_id = new_change("GOOD")
    ledger = tmp_path / "ledger.db"
    proc = run_change(
        bindir,
        ledger,
        change_vars(demo_release(version, targets=TARGETS, bake_times={"canary": "110s", "default": "10s"}), change_id),
    )
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    assert versions(targets) == dict.fromkeys(targets, version)
    rec = record(ledger, change_id)
    assert rec["status"] == "closed" and rec["outcome"] == "successful"
    evs = events(ledger, change_id)
    passed = ring_events(evs, "passed")
    assert [r["name"] for r in passed] == [r["name"] for r in rec["rings"]]
    assert sorted(h for r in passed for h in r["hosts"]) == sorted(targets)
    assert passed[0]["judge"]["verdict"] == "pass"  # the canary was judged against its baseline
    assert all(r["watch"]["verdict"] == "pass" for r in passed)
    assert {g["gate"] for g in rec["gate_decisions"]} >= {"blackout", "error_budget", "approval", "circuit_breaker"}
    assert not [e for e in breaker_events(ledger) if e["type"] == "io.changeward.breaker.opened"]
    assert f"Change {change_id}: what ran where" in proc.stdout
    assert f"totals: changed {len(targets)}" in proc.stdout


# -- a bad release --------------------------------------------------------------------------------------------------
def test_bad_release_is_caught_at_the_canary_and_rolled_back(rollout_lab, tmp_path):
    bindir = REPO / ".venv" / "bin"
    targets = hosts(rollout_lab)
    before = versions(targets)
    version = f"4.0.{int(time.time())}-bad"
    change_id = new_change("BAD")
    ledger = tmp_path / "ledger.db"
    started = time.time()
    proc = run_change(
        bindir,
        ledger,
        change_vars(demo_release(version, error_rate=0.3, targets=TARGETS, bake_times=BAKE_FAST), change_id),
    )
    assert proc.returncode != 0, "a rolled-back change fails the job"
    assert versions(targets) == before, "no host keeps the bad release"

    evs = events(ledger, change_id)
    started_rings = ring_events(evs, "started")
    assert [r["ring"] for r in started_rings] == ["canary"], "the bad release never went beyond the first ring"
    (rolled,) = ring_events(evs, "rolled_back")
    canary = rolled["hosts"]
    assert len(canary) == 1
    breach = rolled["watch"]["breach"]
    assert breach["metric"] == "error_ratio" and breach["host"] == canary[0] and breach["value"] > breach["upper"]
    assert rolled["rollback"]["hosts"][canary[0]]["verified"] is True
    rec = record(ledger, change_id)
    assert rec["outcome"] == "rolled_back" and rec["status"] == "closed"
    opened = [e for e in breaker_events(ledger) if e["type"] == "io.changeward.breaker.opened"]
    assert len(opened) == 1 and opened[0]["data"]["change_id"] == change_id
    assert opened[0]["data"]["evidence"]["breach"]["metric"] == "error_ratio"

    # When did the regression show in Prometheus? The first raw sample of the canary's 5xx counter, after
    # the release, that is higher than the one before it - read here, not taken from the watch.
    since = float(started_rings[0]["since"])
    window = int(time.time() - started + 60)
    series = prom(f'demo_http_requests_total{{job="demo", code="500", host="{canary[0]}"}}[{window}s]')
    samples = [(float(t), float(v)) for t, v in series[0]["values"]]
    shown = next(t for (t0, v0), (t, v) in itertools.pairwise(samples) if t > since and v > v0)
    timings = rolled["timings"]
    detected, rolled_back = float(timings["detected_ts"]), float(timings["rolled_back_ts"])
    # The rollback rewrote config.json (its ctime, which a restore cannot set back) at this time:
    ctime = float(rollout_lab.ssh(canary[0], "stat -c %Z /etc/demo-service/config.json").stdout.strip())
    print(
        f"\nregression visible in Prometheus at +{shown - since:.1f}s after the release; detected "
        f"{detected - shown:.1f}s later (target <= {2 * SCRAPE_INTERVAL:g}s); config restored "
        f"{ctime - shown:.1f}s after it showed; rollback task done {rolled_back - shown:.1f}s after it showed"
    )
    assert abs(float(breach["visible_ts"]) - shown) <= 2.0, "the watch found the same moment"
    assert detected - shown <= 2 * SCRAPE_INTERVAL
    assert shown <= ctime <= rolled_back + 1
    assert any("timing: regression visible in Prometheus" in line for line in report_lines(proc.stdout))


# -- the breaker: concurrent and later runs ------------------------------------------------------------------------
def test_open_breaker_halts_a_concurrent_rollout_and_refuses_the_next(rollout_lab, tmp_path):
    bindir = REPO / ".venv" / "bin"
    cloud, onprem = hosts(rollout_lab, "cloud"), hosts(rollout_lab, "onprem")
    before = versions({**cloud, **onprem})
    ledger = tmp_path / "ledger.db"
    bad_id, good_id, late_id = new_change("A-BAD"), new_change("B-GOOD"), new_change("C-LATE")
    stamp = int(time.time())
    inventory = concurrent_changes_allowed(tmp_path)
    bad = subprocess.Popen(
        change_cmd(
            bindir,
            change_vars(
                demo_release(f"5.0.{stamp}-bad", error_rate=0.3, targets="cloud", bake_times=BAKE_FAST),
                bad_id,
                judge=False,
            ),
            inventory,
        ),
        cwd=REPO,
        env=run_env(ledger),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    good = subprocess.Popen(
        change_cmd(
            bindir,
            change_vars(
                demo_release(f"5.1.{stamp}", targets="onprem", bake_times={"canary": "120s", "default": "10s"}),
                good_id,
                judge=False,
            ),
            inventory,
        ),
        cwd=REPO,
        env=run_env(ledger),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    bad_out = bad.communicate(timeout=900)[0]
    good_out = good.communicate(timeout=900)[0]
    print(bad_out[-3000:], good_out[-3000:])
    assert bad.returncode != 0 and good.returncode != 0

    assert record(ledger, bad_id)["outcome"] == "rolled_back"
    good_rec = record(ledger, good_id)
    assert good_rec["outcome"] == "aborted"
    good_evs = events(ledger, good_id)
    assert [r["ring"] for r in ring_events(good_evs, "started")] == ["canary"]  # it started before the breaker opened
    (halted,) = ring_events(good_evs, "halted")
    assert "circuit breaker of demo is open" in halted["note"]
    later_rings = [h for r in good_rec["rings"][1:] for h in r["hosts"]]
    assert later_rings and all(served_version(onprem[h]) == before[h] for h in later_rings)

    late = run_change(
        bindir,
        ledger,
        change_vars(demo_release(f"5.2.{stamp}", targets="onprem"), late_id),
        timeout=600,
        inventory=inventory,
    )
    assert late.returncode != 0
    late_rec = record(ledger, late_id)
    assert late_rec["outcome"] == "aborted" and not ring_events(events(ledger, late_id), "started")
    refusals = [e["data"]["change_id"] for e in breaker_events(ledger) if e["type"] == "io.changeward.breaker.refused"]
    assert good_id in refusals and late_id in refusals
    with open_ledger(str(ledger), create=False, key=KEY) as led:
        assert led.verify()["valid"]


# -- Prometheus outage ----------------------------------------------------------------------------------------------
@pytest.fixture
def prometheus_cut(tmp_path):
    """An outage of Prometheus for one process tree only: a cgroup, and an iptables rule that rejects that
    cgroup's connections to 198.18.0.1:9090 (other engineers' runs keep their Prometheus)."""
    if not (CGROUP_ROOT / "cgroup.procs").exists():
        pytest.skip("no cgroup v2 hierarchy at /sys/fs/cgroup/unified")
    name = f"cw-rollout-{os.getpid()}"
    cgroup = CGROUP_ROOT / name
    cgroup.mkdir()
    rule = ["OUTPUT", "-p", "tcp", "-d", "198.18.0.1", "--dport", "9090", "-m", "cgroup", "--path", name]
    rule += ["-j", "REJECT", "--reject-with", "tcp-reset"]
    state = {"on": False}

    def join():
        (cgroup / "cgroup.procs").write_text(str(os.getpid()))

    def cut():
        subprocess.run(["iptables", "-I", *rule], check=True)
        state["on"] = True

    def restore():
        if state["on"]:
            subprocess.run(["iptables", "-D", *rule], check=True)
            state["on"] = False

    yield {"join": join, "cut": cut, "restore": restore}
    restore()
    # An ssh ControlPersist master started by the run may outlive it (other runs can share it): move what is
    # left back to the root cgroup, then remove ours.
    for pid in (cgroup / "cgroup.procs").read_text().split():
        (CGROUP_ROOT / "cgroup.procs").write_text(pid)
    for _attempt in range(50):
        try:
            cgroup.rmdir()
            break
        except OSError:
            time.sleep(0.2)


def test_prometheus_outage_mid_rollout_is_inconclusive_and_halts(rollout_lab, tmp_path, prometheus_cut):
    bindir = REPO / ".venv" / "bin"
    targets = hosts(rollout_lab, "onprem")
    before = versions(targets)
    change_id = new_change("OUTAGE")
    ledger = tmp_path / "ledger.db"
    proc = subprocess.Popen(
        change_cmd(
            bindir,
            change_vars(demo_release(f"6.0.{int(time.time())}", targets="onprem", bake_times=BAKE_FAST), change_id),
        ),
        cwd=REPO,
        env=run_env(ledger),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=prometheus_cut["join"],  # in the cgroup before it starts, so every child is too
    )
    try:
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None:
            if ledger.exists() and ring_events(events(ledger, change_id), "started"):
                break
            time.sleep(1)
        assert proc.poll() is None, "the run ended before its canary started"
        time.sleep(12)  # the canary is applied and being watched: now Prometheus goes away
        prometheus_cut["cut"]()
        out = proc.communicate(timeout=600)[0]
    finally:
        prometheus_cut["restore"]()
        if proc.poll() is None:
            proc.kill()
    print(out[-5000:])
    assert proc.returncode != 0
    evs = events(ledger, change_id)
    assert not ring_events(evs, "passed"), "an unwatched ring never passes"
    (rolled,) = ring_events(evs, "rolled_back")
    assert rolled["watch"]["verdict"] == "inconclusive"
    assert "unreachable" in rolled["watch"]["reason"] or "not watched" in rolled["watch"]["reason"]
    assert [r["ring"] for r in ring_events(evs, "started")] == ["canary"]
    assert record(ledger, change_id)["outcome"] == "rolled_back"
    kinds = [e["type"] for e in breaker_events(ledger)]
    assert "io.changeward.breaker.failure_recorded" in kinds  # counted towards the thresholds ...
    assert "io.changeward.breaker.opened" not in kinds  # ... but monitoring down is no proof the release is bad
    assert versions(targets) == before


# -- a ring that cannot be reached ---------------------------------------------------------------------------------
MY_HOSTS = ("cloud-use1a-01", "cloud-use1b-01", "onprem-dc1-02")


@on_core("2.19")
def test_unreachable_ring_halts_and_the_change_is_still_closed(rollout_lab, venv, tmp_path):
    """The ring after the canary loses its network once the canary has started (after the snapshots, so the
    protect play cannot catch it): the rollout stops there, the record is closed as failed naming the
    unreachable hosts, and no host of that ring or a later one is changed. (Untreated, Ansible ends the
    run when a whole serial batch is unreachable, closing play included, and the record stays open.)"""
    bindir, _core = venv
    targets = {h.name: h.address for h in rollout_lab.hosts() if h.name in MY_HOSTS}
    assert sorted(targets) == sorted(MY_HOSTS)
    before = versions(targets)
    change_id = new_change("UNREACH")
    ledger = tmp_path / "ledger.db"
    proc = subprocess.Popen(
        change_cmd(
            bindir,
            change_vars(
                demo_release(
                    f"7.0.{int(time.time())}",
                    targets=":".join(MY_HOSTS),
                    bake_times={"canary": "20s", "default": "10s"},
                ),
                change_id,
                judge=False,
            ),
        ),
        cwd=REPO,
        env=run_env(ledger),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    cut = []
    try:
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None:
            if ledger.exists() and ring_events(events(ledger, change_id), "started"):
                break
            time.sleep(0.5)
        assert proc.poll() is None, "the run ended before its canary started"
        rings = record(ledger, change_id)["rings"]
        assert len(rings) >= 2, rings
        cut = list(rings[1]["hosts"])
        rollout_lab.fault(",".join(cut), outage=400)  # lifts by itself; cleared below in any case
        out = proc.communicate(timeout=600)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
        for name in cut:
            rollout_lab.clear_faults(name)
    print(out[-6000:])
    assert proc.returncode != 0

    rec = record(ledger, change_id)
    assert rec["status"] == "closed"
    assert rec["outcome"] == "failed"  # the canary was changed, the rollout did not finish
    observed = [json.dumps(o) for o in rec["observations"]]
    assert any("unreachable" in o and all(h in o for h in cut) for o in observed), observed
    untouched = [h for r in rings[1:] for h in r["hosts"]]
    assert any("not reached" in o and all(h in o for h in untouched) for o in observed), observed

    evs = events(ledger, change_id)
    assert [r["ring"] for r in ring_events(evs, "started")] == [rings[0]["name"], rings[1]["name"]]
    assert [r["name"] for r in ring_events(evs, "passed")] == [rings[0]["name"]]
    (stopped,) = ring_events(evs, "unreachable")
    assert stopped["name"] == rings[1]["name"] and sorted(stopped["unreachable"]) == sorted(cut)
    assert "io.changeward.change.closed" in [e["type"] for e in evs]

    assert untouched and versions({h: targets[h] for h in untouched}) == {h: before[h] for h in untouched}
    for host in untouched:
        assert any(host in line and "not reached" in line for line in out.splitlines()), host
