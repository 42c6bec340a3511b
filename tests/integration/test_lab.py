"""The lab itself, tested for real: namespaces, SSH, copy-on-write disks, Prometheus, faults, power.

Needs root. The `lab` session fixture (cwlab.pytest_fixtures) brings the lab up when it is not
running and takes it down at the end only if it started it. The last test simulates a crash and
brings the lab back up so the rest of a session still finds it.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "lab"))

from cwlab import Lab, LabError, probe_http, probe_ssh  # noqa: E402
from cwlab.net import lab_links, lab_netns  # noqa: E402
from cwlab.prom import is_ready, query  # noqa: E402
from cwlab.sysutil import alive, run  # noqa: E402

# Every test here may touch any host or the lab itself (faults, power, down/up): they run alone on the lab.
# The fleet plan (no lab needed) is tested in tests/unit/lab/test_fleet_plan.py.
pytestmark = pytest.mark.reservation("whole-lab")


def connects(address: str, port: int = 8080, attempts: int = 40, timeout: float = 0.2) -> int:
    """How many of `attempts` TCP connects succeed (a dropped SYN or SYN-ACK times out)."""
    ok = 0
    for _attempt in range(attempts):
        try:
            socket.create_connection((address, port), timeout=timeout).close()
            ok += 1
        except OSError:
            pass
    return ok


def pick(lab: Lab, env_type: str, i: int = 0):
    """The i-th host of an env_type; each test uses its own host so faults never overlap."""
    return [h for h in lab.hosts() if h.env_type == env_type][i]


def wait_for(predicate, timeout: float, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def ssh_ok(lab: Lab, host: str, command: str, timeout: float = 30, input: str | None = None) -> str:
    res = lab.ssh(host, command, timeout=timeout, input=input)
    assert res.returncode == 0, f"{host}: {command!r} failed ({res.returncode}): {res.stderr}"
    return res.stdout


# ---------------------------------------------------------------- the running lab


def test_every_host_has_its_own_hostname_over_ssh(lab):
    hosts = lab.hosts()
    with ThreadPoolExecutor(max_workers=6) as pool:
        names = list(pool.map(lambda h: ssh_ok(lab, h.name, "hostname").strip(), hosts))
    assert names == [h.name for h in hosts]
    assert len(set(names)) == len(hosts)


def test_ssh_accepts_only_the_lab_key(lab, tmp_path):
    host = lab.hosts()[0]
    assert ssh_ok(lab, host.name, "id -u").strip() == "0"
    other = tmp_path / "other_key"
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)])
    argv = lab.ssh_argv(host.name, "true")
    argv[argv.index("-i") + 1] = str(other)
    res = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert res.returncode == 255 and "Permission denied" in res.stderr


def test_hosts_cannot_see_the_lab_state(lab):
    host = lab.hosts()[0]
    assert lab.key_path.exists()
    assert ssh_ok(lab, host.name, f"ls -A {lab.labdir}").strip() == ""


def test_each_root_is_copy_on_write(lab):
    a, b = lab.hosts()[0], lab.hosts()[1]
    token = secrets.token_hex(8)
    path = f"/root/cow-{token}"
    original = Path("/etc/issue.net").read_bytes()
    try:
        ssh_ok(lab, a.name, f"echo {token} > {path} && echo {token} >> /etc/issue.net")
        assert ssh_ok(lab, a.name, f"cat {path}").strip() == token
        assert lab.ssh(b.name, f"test -e {path}").returncode == 1
        assert token not in ssh_ok(lab, b.name, "cat /etc/issue.net")
        assert not Path(path).exists()
        assert Path("/etc/issue.net").read_bytes() == original
        assert (lab.upper_dir(a.name) / path.lstrip("/")).read_text().strip() == token
        assert not (lab.upper_dir(b.name) / path.lstrip("/")).exists()
    finally:
        lab.ssh(a.name, f"rm -f {path}; cp /dev/null /etc/issue.net; cat >> /etc/issue.net", input=original.decode())


def test_demo_metrics_reach_prometheus(lab):
    hosts = {h.name: h for h in lab.hosts()}
    up_demo = 'up{job="demo"}'

    def all_scraped():
        ups = query(up_demo)
        counts = query('sum by (host) (demo_http_requests_total{code="200"})')
        if len(ups) == len(hosts) and all(r["value"][1] == "1" for r in ups) and len(counts) == len(hosts):
            return ups, counts
        return None

    result = wait_for(all_scraped, timeout=40, interval=1)
    assert result, f"Prometheus did not scrape all {len(hosts)} hosts: {query(up_demo)}"
    ups, counts = result
    for r in ups:
        m = r["metric"]
        h = hosts[m["host"]]
        assert m["instance"] == f"{h.address}:8080"
        assert m["env_type"] == h.env_type and m["region"] == h.labels["region"]
        assert m.get("az") == h.labels.get("az") and m.get("site") == h.labels.get("site")
    assert all(float(r["value"][1]) > 0 for r in counts)
    assert len(query("demo_build_info")) == len(hosts)
    assert len(query("demo_http_request_duration_seconds_bucket")) >= len(hosts) * 11


def test_demo_service_is_an_lsb_service(lab):
    host = pick(lab, "cloud", 3)
    try:
        assert probe_http(host.address) == 200
        ssh_ok(lab, host.name, "service demo-service stop")
        assert lab.ssh(host.name, "service demo-service status").returncode == 3
        assert probe_http(host.address) is None
        ssh_ok(lab, host.name, "service demo-service start")
        assert wait_for(lambda: probe_http(host.address) == 200, timeout=10)
        assert lab.ssh(host.name, "/etc/init.d/demo-service status").returncode == 0
        # config.json drives health; a flagd kill-switch turns / into 503.
        ssh_ok(lab, host.name, "sed -i 's/\"healthy\": true/\"healthy\": false/' /etc/demo-service/config.json")
        assert wait_for(lambda: probe_http(host.address) == 500, timeout=5)
        flag = {"state": "ENABLED", "variants": {"on": True, "off": False}, "defaultVariant": "on"}
        ssh_ok(lab, host.name, "cat > /etc/demo-service/flags.json", input=json.dumps({"flags": {"kill-switch": flag}}))
        assert wait_for(lambda: probe_http(host.address, "/") == 503, timeout=5)
    finally:
        lab.ssh(
            host.name,
            "rm -f /etc/demo-service/flags.json; service demo-service start >/dev/null; "
            "sed -i 's/\"healthy\": false/\"healthy\": true/' /etc/demo-service/config.json",
        )
    assert wait_for(lambda: probe_http(host.address) == 200 and probe_http(host.address, "/") == 200, timeout=5)


def test_ansible_service_module_controls_lab_services(lab):
    host = pick(lab, "onprem", 0)
    inventory = lab.inventory_dir / "lab_hosts.yml"
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    env.pop("PYTHONPATH", None)

    def service(state):
        argv = [str(REPO / ".venv/bin/ansible"), host.name, "-i", str(inventory), "-m", "ansible.builtin.service"]
        res = subprocess.run(
            [*argv, "-a", f"name=demo-service state={state}"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert res.returncode == 0, res.stdout + res.stderr

    try:
        service("stopped")
        assert probe_http(host.address) is None
    finally:
        service("started")
    assert wait_for(lambda: probe_http(host.address) == 200, timeout=10)


def test_loss_fault_drops_connections_and_clear_restores(lab):
    host = pick(lab, "cloud", 1)
    try:
        assert connects(host.address) >= 38
        lab.fault(host.name, loss=0.4)  # per direction: a connect survives with ~0.36
        assert lab.faults()[host.name]["loss"] == 0.4
        assert connects(host.address) <= 28
    finally:
        lab.clear_faults(host.name)
    assert host.name not in lab.faults()
    assert connects(host.address) >= 38


def test_outage_blocks_then_lifts_by_itself(lab):
    host = pick(lab, "edge", 0)
    t0 = time.monotonic()
    lab.fault(host.name, outage=3)
    assert connects(host.address, attempts=5, timeout=0.3) == 0
    assert not probe_ssh(host.address, timeout=0.5)
    time.sleep(max(0.0, 3.5 - (time.monotonic() - t0)))
    assert wait_for(lambda: connects(host.address, attempts=1, timeout=0.5) == 1, timeout=5)
    assert connects(host.address, attempts=10) == 10
    assert wait_for(lambda: host.name not in lab.faults(), timeout=3)  # the timer has finished

    # A long outage is ended by `clear`, and its timer process goes with it.
    lab.fault(host.name, outage=300)
    timer = json.loads(lab.state_path.read_text())["hosts"][host.name]["faults"]["outage"]
    assert alive(timer["pid"], timer["start"])
    assert connects(host.address, attempts=3, timeout=0.3) == 0
    lab.clear_faults(host.name)
    assert connects(host.address, attempts=10) == 10
    assert wait_for(lambda: not alive(timer["pid"], timer["start"]), timeout=3)


def test_rate_limit_slows_transfers_both_ways(lab):
    host = pick(lab, "cloud", 2)
    size = 400_000
    pid = ssh_ok(
        lab,
        host.name,
        f"head -c {size} /dev/urandom > /tmp/blob; cd /tmp; "
        "nohup python3 -m http.server 8099 >/dev/null 2>&1 </dev/null & echo $!",
    ).strip()
    url = f"http://{host.address}:8099/blob"
    payload = os.urandom(size // 2)

    def download() -> float:
        out = run(["curl", "-sS", "-m", "30", "-o", "/dev/null", "-w", "%{time_total} %{size_download}", url])
        seconds, got = out.split()
        assert int(got) == size
        return float(seconds)

    def upload() -> float:
        t = time.monotonic()
        res = lab.ssh(host.name, "cat > /dev/null", input=payload.decode("latin-1"), timeout=60)
        assert res.returncode == 0
        return time.monotonic() - t

    try:
        assert wait_for(lambda: connects(host.address, 8099, attempts=1) == 1, timeout=5)
        base_down, base_up = download(), upload()
        lab.fault(host.name, rate="1mbit")
        slow_down, slow_up = download(), upload()
    finally:
        lab.clear_faults(host.name)
        lab.ssh(host.name, f"kill {pid}; rm -f /tmp/blob")
    expected = size * 8 / 1_000_000  # 3.2 s at 1 mbit/s
    assert slow_down >= 0.6 * expected and slow_down > 5 * base_down, (base_down, slow_down)
    # The upload goes host-ward through the controller-side veth's shaper; ssh adds a fixed cost.
    assert slow_up - base_up >= 0.6 * expected / 2, (base_up, slow_up)


def test_power_stop_is_a_power_loss_and_the_disk_survives(lab):
    host = pick(lab, "onprem", 1)
    token = secrets.token_hex(8)
    ssh_ok(lab, host.name, f"echo {token} > /root/power-{token} && sync")
    fingerprint = ssh_ok(lab, host.name, "ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub")
    host_pids = [int(p) for p in run(["ip", "netns", "pids", host.netns]).split()]
    assert len(host_pids) >= 3  # init, sshd, demo service at least
    lab.power("stop", host.name)
    try:
        assert lab.host_pid(host.name) is None
        assert run(["ip", "netns", "pids", host.netns]).split() == []
        assert not any(alive(p) for p in host_pids)
        assert not probe_ssh(host.address) and probe_http(host.address) is None
        assert (lab.upper_dir(host.name) / f"root/power-{token}").read_text().strip() == token
        assert next(h for h in lab.status()["hosts"] if h["name"] == host.name)["state"] == "off"
    finally:
        lab.power("start", host.name)
    assert lab.host_pid(host.name) not in (None, *host_pids)
    assert ssh_ok(lab, host.name, f"cat /root/power-{token}").strip() == token
    assert ssh_ok(lab, host.name, "ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub") == fingerprint
    assert ssh_ok(lab, host.name, "hostname").strip() == host.name
    assert wait_for(lambda: probe_http(host.address) == 200, timeout=10)
    ssh_ok(lab, host.name, f"rm -f /root/power-{token}")


def test_up_twice_is_harmless(lab):
    before = {h.name: lab.host_pid(h.name) for h in lab.hosts()}
    prom_before = lab.status()["prometheus"]["pid"]
    assert all(before.values())
    summary = lab.up()
    assert summary["started"] == []
    assert {h.name: lab.host_pid(h.name) for h in lab.hosts()} == before
    assert lab.status()["prometheus"]["pid"] == prom_before
    with pytest.raises(LabError, match="run `cwlab down`"):
        lab.up(len(before) + 4)


def test_down_after_a_crash_still_cleans_everything(lab):
    hosts = lab.hosts()
    pids = [lab.host_pid(h.name) for h in hosts]
    lab.fault(hosts[-1].name, outage=300)
    state = json.loads(lab.state_path.read_text())
    timer = state["hosts"][hosts[-1].name]["faults"]["outage"]
    prom_pid = (state["prometheus"]["pid"], state["prometheus"]["start"])
    lab.state_path.unlink()  # the lab's memory is gone, as after a crash
    try:
        Lab.load().down()
        assert lab_netns() == []
        assert lab_links() == []
        assert not any(alive(p) for p in pids)
        assert not alive(timer["pid"], timer["start"])
        assert not alive(*prom_pid) and not is_ready()
        assert not lab.hosts_dir.exists()
    finally:
        lab.up(len(hosts))  # the rest of the session expects a running lab
