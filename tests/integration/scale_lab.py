"""A fleet larger than the lab, and concurrent ansible-runner jobs on one ledger (test_concurrency_lab and
bench/scale_bench.py).

The lab has 12 real hosts. A fleet of 12 * k hosts gives every lab host k inventory names
(`<lab host>-v1` .. `-vk`) with the lab host's address and labels; each name is a target of its own for Ansible
(its own connection, facts, results, ring and ledger events) and changes a file of its own
(`/var/lib/cw-scale/<job>/<name>.conf`, tests/integration/playbooks/tasks/scale_setting.yml). What the names of one
lab host share is that host: its sshd, CPU, the demo service and its metrics, and the change marker
(/etc/changeward/last_change.json). docs/awx.md says what that measures and what it does not.

Jobs are run as AWX runs them: ansible-runner with a private data directory holding the job's inventory (the
job's slice of the fleet, as AWX job slicing hands each slice job its hosts) and extra vars (with `awx_job_id`,
as AWX injects it), the ledger DSN and key in the environment (as the changeward ledger credential injects them).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import yaml
from conftest import INVENTORY_DIR, REPO, ansible_env

TASKS = REPO / "tests" / "integration" / "playbooks" / "tasks" / "scale_setting.yml"
STATE_ROOT = "/var/lib/cw-scale"
DEMO_TOLERANCE = REPO / "docs" / "examples" / "policies" / "demo.yml"
PUSHGATEWAY = "http://198.18.0.1:9091"  # the lab's, scraped by its Prometheus with honor_labels
# The watch reads each ring host's series by its inventory name (the `host` label); the demo service's series carry
# the lab hosts' names, so the extra names have none. Each name gets a series of its own on the lab's Pushgateway
# (publish_host_series): a constant 1, the host's "up", which the watch queries per name as it would a real host's.
HOST_METRIC = {
    "name": "host_up",
    "description": "1 while the inventory name is up (published per name by the scale tests).",
    "query": "min by (host) (cw_scale_host_up{${selector}})",
    "direction": "decrease",
    "critical": True,
    "allowance": {"absolute": 0},
    "nodata": "fail",
}


def lab_hosts():
    """[(group, lab host, host vars)] of the lab's plain inventory, in its order."""
    data = yaml.safe_load((INVENTORY_DIR / "lab_hosts.yml").read_text())
    return [
        (group, name, dict(hostvars or {}))
        for group, body in data["all"]["children"].items()
        for name, hostvars in (body.get("hosts") or {}).items()
    ]


def fleet(names_per_host):
    """[{name, group, lab_host, vars}]: names_per_host inventory names for every lab host, host by host."""
    return [
        {"name": f"{lab}-v{k}", "group": group, "lab_host": lab, "vars": hostvars}
        for group, lab, hostvars in lab_hosts()
        for k in range(1, names_per_host + 1)
    ]


def slices(hosts, count):
    """AWX job slicing: slice i of count gets hosts[i::count]. With the fleet listed host by host and count equal to
    the names per lab host, every slice holds one name of every lab host."""
    return [hosts[i::count] for i in range(count)]


def tolerance_policy(directory):
    """The demo tolerance policy with the watch on each name's published series (HOST_METRIC)."""
    policy = yaml.safe_load(DEMO_TOLERANCE.read_text())
    policy["metrics"] = [HOST_METRIC]
    path = Path(directory) / "demo-tolerance.yml"
    path.write_text(yaml.safe_dump(policy, sort_keys=False))
    return path


def group_vars(gate_policy, tolerance_path):
    """The lab's connection and monitoring variables, with the pinned gate policy and demo tolerance policy."""
    out = yaml.safe_load((INVENTORY_DIR / "group_vars" / "all.yml").read_text())
    out["changeward_policy"] = gate_policy
    out["changeward_tolerance_policies"] = {"demo": str(tolerance_path)}
    return out


def _pushgateway(method, group, body=b""):
    url = f"{PUSHGATEWAY}/metrics/job/cw_scale/run/{group}"
    req = urllib.request.Request(url, data=body or None, method=method)  # noqa: S310 - the lab's fixed http URL
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
        return resp.status


@contextlib.contextmanager
def published_host_series(hosts, group, settle=6.0):
    """Each host's `cw_scale_host_up` series on the lab's Pushgateway while the block runs (a scrape or so after
    it is pushed, Prometheus has it); deleted afterwards."""
    lines = ["# TYPE cw_scale_host_up gauge"] + [f'cw_scale_host_up{{host="{h["name"]}"}} 1' for h in hosts]
    _pushgateway("PUT", group, ("\n".join(lines) + "\n").encode())
    time.sleep(settle)
    try:
        yield
    finally:
        _pushgateway("DELETE", group)


def inventory(hosts, defects=()):
    """A plain YAML inventory of `hosts` in the lab's groups; names in `defects` carry scale_defect."""
    children = {}
    for h in hosts:
        hostvars = {**h["vars"], "cw_scale_lab_host": h["lab_host"]}
        if h["name"] in defects:
            hostvars["scale_defect"] = True
        children.setdefault(h["group"], {"hosts": {}})["hosts"][h["name"]] = hostvars
    return {"all": {"children": children}}


def spec(template, value, bake_times, ring_steps=(0.25, 1.0), check_retries=3):
    """The change spec of one job template: the setting change over every host of the job's inventory."""
    return {
        "summary": f"Scale setting {value} ({template})",
        "type": "standard",
        "service": "demo",
        "change_kind": "config",
        "targets": {"pattern": "all:!localhost"},
        "apply": {
            "tasks": str(TASKS),
            "vars": {
                # the job's own directory on every host: awx_job_id differs between jobs, slices included
                "scale_dir": STATE_ROOT + "/{{ awx_job_id }}",
                "scale_value": value,
                "scale_check_retries": check_retries,
            },
        },
        "snapshot": {"paths": [STATE_ROOT + "/{{ awx_job_id }}"]},
        "bake_times": dict(bake_times),
        "ring_steps": list(ring_steps),
    }


class Job:
    """One ansible-runner job of playbooks/change.yml: its private data directory, process and artifacts."""

    def __init__(self, base, ident, hosts, change_id, job_spec, group_vars_doc, ledger_env, defects=(), extra=None):
        self.ident, self.change_id, self.hosts = ident, change_id, [h["name"] for h in hosts]
        self.dir = Path(base) / ident
        inv = self.dir / "inventory"
        (inv / "group_vars").mkdir(parents=True)
        (inv / "hosts.yml").write_text(yaml.safe_dump(inventory(hosts, defects), sort_keys=False))
        (inv / "group_vars" / "all.yml").write_text(yaml.safe_dump(group_vars_doc, sort_keys=False))
        (self.dir / "env").mkdir()
        extravars = {
            "change_spec": job_spec,
            "changeward_change_id": change_id,
            "awx_job_id": ident,
            "ring_rollout_judge_rings": [],
            **(extra or {}),
        }
        (self.dir / "env" / "extravars").write_text(yaml.safe_dump(extravars, sort_keys=False))
        self.env = ledger_env
        self.proc = None
        self.started = self.wall = self.cpu = None

    def start(self, bindir):
        argv = [str(Path(bindir) / "ansible-runner"), "run", str(self.dir), "-p", "playbooks/change.yml"]
        argv += ["--project-dir", str(REPO), "--ident", self.ident]
        env = ansible_env(PATH=f"{bindir}:{os.environ['PATH']}", **self.env)
        self.started = time.monotonic()
        self.proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        return self

    @property
    def artifacts(self):
        return self.dir / "artifacts" / self.ident

    def status(self):
        path = self.artifacts / "status"
        return path.read_text().strip() if path.exists() else None

    def events(self):
        out = [json.loads(p.read_text()) for p in (self.artifacts / "job_events").glob("*.json")]
        return sorted(out, key=lambda e: e["counter"])

    def stdout(self, tail=6000):
        path = self.artifacts / "stdout"
        return path.read_text()[-tail:] if path.exists() else ""


def run_jobs(jobs, bindir, timeout):
    """Start every job at once and wait for all; each job's wall time and CPU seconds (the runner, ansible-playbook
    and its workers: the controller's share of the job; not the ledger server's, not ssh multiplexers')."""
    for job in jobs:
        job.start(bindir)
    waiting = {job.proc.pid: job for job in jobs}
    deadline = time.monotonic() + timeout
    while waiting:
        pid, _status, usage = os.wait4(-1, os.WNOHANG)
        if pid == 0:
            if time.monotonic() > deadline:
                for job in waiting.values():
                    job.proc.kill()
                raise TimeoutError(f"jobs still running after {timeout} s: {sorted(j.ident for j in waiting.values())}")
            time.sleep(0.2)
            continue
        job = waiting.pop(pid, None)
        if job is not None:
            job.proc.returncode = 0  # reaped here: Popen must not wait for it again
            job.wall = time.monotonic() - job.started
            job.cpu = usage.ru_utime + usage.ru_stime
    return jobs


def appended_in(value):
    """Every {seq, event_id} an action reported appending, anywhere in a job event's result."""
    if isinstance(value, dict):
        if isinstance(value.get("seq"), int) and isinstance(value.get("event_id"), str):
            yield value["seq"], value["event_id"]
        for item in value.values():
            yield from appended_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from appended_in(item)


def clean_state(hosts, jobs):
    """Remove the jobs' setting directories from the lab hosts (one ssh per lab host)."""
    hostvars = {lab: hv for _name, lab, hv in lab_hosts()}
    allvars = yaml.safe_load((INVENTORY_DIR / "group_vars" / "all.yml").read_text())
    labs = sorted({h["lab_host"] for h in hosts})
    dirs = [f"{STATE_ROOT}/{job.ident}" for job in jobs]
    for lab in labs:
        cmd = ["ssh", "-i", allvars["ansible_ssh_private_key_file"], "-o", "StrictHostKeyChecking=no"]
        cmd += ["-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10"]
        cmd += [f"root@{hostvars[lab]['ansible_host']}", "rm", "-rf", "--", *dirs]
        subprocess.run(cmd, capture_output=True, timeout=60, check=False)


def remove(path):
    shutil.rmtree(path, ignore_errors=True)
