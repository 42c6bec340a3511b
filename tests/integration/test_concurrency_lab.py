"""Many jobs, one truth: four ansible-runner jobs at once on a 48-host fleet, one PostgreSQL ledger.

The 12 lab hosts carry four inventory names each (tests/integration/scale_lab.py; docs/awx.md says what that
measures). Three jobs are slices of one job template (AWX job slicing: slice i holds hosts[i::4]), the fourth an
independent template of the same service on the remaining names. One slice's hosts refuse the change: its canary
is rolled back and opens the service's circuit breaker; the other slices, baking their canary meanwhile, must be
halted at their next ring, and so must the independent template unless it had finished. Then, outside Ansible: the
ledger verifies, its sequence has no gap and no event twice, every event a job reported appending is in it where
the job saw it, no ring of any job started after the breaker opened, the breaker's events name the slice that
opened it and the jobs it halted, and the risk history the next change of the service is scored on holds every
job's record.
"""

import sys
import time

import pytest
import scale_lab
import yaml
from conftest import REPO
from test_rollout import concurrent_changes_allowed

sys.path.insert(0, str(REPO / "collections"))

from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger
from ansible_collections.changeward.hybrid.plugins.plugin_utils.risk import closed_records, history_from_records

pytestmark = pytest.mark.reservation("whole-lab")  # every lab host (each under four names); reservations.py

KEY = "hmac:concurrency-lab-test-key-0123456789"
NAMES_PER_HOST = 4
JOBS = 4


@pytest.fixture
def ran(lab, pg_dsn, schema, tmp_path):
    """The four jobs, run at once to their end; their lab state is removed afterwards."""
    hosts = scale_lab.fleet(NAMES_PER_HOST)
    first, bad, third, own = scale_lab.slices(hosts, JOBS)
    # the lab's gate policy with other open changes of the service a warning: the slices are open at once
    concurrent_changes_allowed(tmp_path)
    gate_policy = yaml.safe_load((tmp_path / "concurrent" / "group_vars" / "all.yml").read_text())["changeward_policy"]
    group_vars = scale_lab.group_vars(gate_policy, scale_lab.tolerance_policy(tmp_path))
    env = {"CHANGEWARD_LEDGER": pg_dsn, "CHANGEWARD_LEDGER_KEY": KEY, "CHANGEWARD_LEDGER_PG_SCHEMA": schema}
    stamp = f"{int(time.time())}"
    # the sliced template bakes its canary long enough for the bad slice to fail and open the breaker meanwhile
    sliced = scale_lab.spec("sliced template", f"s{stamp}", {"canary": "40s", "default": "5s"}, check_retries=1)
    single = scale_lab.spec("own template", f"o{stamp}", {"canary": "5s", "default": "5s"}, ring_steps=(1.0,))
    # one failed host opens the breaker (the operator's threshold, the same for every job)
    extra = {"ring_rollout_breaker_max_failed_hosts": 1}
    names = {h["name"] for h in bad}
    jobs = [
        scale_lab.Job(tmp_path, f"slice1-{stamp}", first, f"CHG-SL1-{stamp}", sliced, group_vars, env, extra=extra),
        scale_lab.Job(tmp_path, f"slice2-{stamp}", bad, f"CHG-SL2-{stamp}", sliced, group_vars, env, names, extra),
        scale_lab.Job(tmp_path, f"slice3-{stamp}", third, f"CHG-SL3-{stamp}", sliced, group_vars, env, extra=extra),
        scale_lab.Job(tmp_path, f"own-{stamp}", own, f"CHG-OWN-{stamp}", single, group_vars, env, extra=extra),
    ]
    try:
        with scale_lab.published_host_series(hosts, stamp):
            scale_lab.run_jobs(jobs, REPO / ".venv" / "bin", timeout=600)
        yield jobs, pg_dsn, schema
    finally:
        scale_lab.clean_state(hosts, jobs)


def test_four_concurrent_jobs_on_48_hosts_keep_one_linear_verified_ledger(ran, monkeypatch):
    jobs, dsn, schema = ran
    slice1, slice2, slice3, own = jobs
    for job in jobs:
        print(job.ident, job.status(), f"{job.wall:.0f}s", job.stdout(2500))
    assert sum(len(job.hosts) for job in jobs) == 48 and len({h for job in jobs for h in job.hosts}) == 48
    assert slice1.status() == slice2.status() == slice3.status() == "failed"

    monkeypatch.setenv("CHANGEWARD_LEDGER_PG_SCHEMA", schema)
    with open_ledger(dsn, create=False, readonly=True) as led:
        verdict = led.verify(key=KEY)
        entries = list(led.entries())
        records = {job.ident: led.get_change(job.change_id) for job in jobs}
        closed = closed_records(led)

    # one linear chain that verifies: seq 1..N without a gap, each event once
    assert verdict["valid"] is True, verdict["problems"][:3]
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    by_id = {e.event["id"]: e.seq for e in entries}
    assert len(by_id) == len(entries), "an event id is in the ledger twice"
    # nothing lost: every event a job's actions reported appending is there, at the seq the job was told
    reported = {pair for job in jobs for ev in job.events() for pair in scale_lab.appended_in(ev.get("event_data"))}
    assert len(reported) > 4 * 10
    assert all(by_id.get(event_id) == seq for seq, event_id in reported)
    # every job's events are there, each under its own change
    for job in jobs:
        assert records[job.ident]["status"] == "closed", records[job.ident]
        assert sum(e.event["subject"] == job.change_id for e in entries) > 10

    # the bad slice was rolled back and opened the breaker, once
    assert records[slice2.ident]["outcome"] == "rolled_back"
    breaker = [e for e in entries if e.event["subject"] == "breaker:demo"]
    (opened,) = [e for e in breaker if e.event["type"] == "io.changeward.breaker.opened"]
    assert opened.event["data"]["change_id"] == slice2.change_id
    # one truth: no ring of any job started after the breaker opened in the ledger's order
    late = [e.seq for e in entries if e.event["type"] == "io.changeward.ring.started" and e.seq > opened.seq]
    assert late == []
    # the other slices, baking their canary meanwhile, were refused at their next ring and closed as aborted
    refused = {e.event["data"]["change_id"] for e in breaker if e.event["type"] == "io.changeward.breaker.refused"}
    for job in (slice1, slice3):
        assert job.change_id in refused and records[job.ident]["outcome"] == "aborted"
        evs = [e.event for e in entries if e.event["subject"] == job.change_id]
        started = [e["data"]["ring"] for e in evs if e["type"] == "io.changeward.ring.started"]
        (halted,) = [e["data"] for e in evs if e["type"] == "io.changeward.ring.halted"]
        assert started == ["canary"] and "circuit breaker of demo is open" in halted["note"]
    # the independent template of the service was halted at its next ring too, unless it had finished before
    assert records[own.ident]["outcome"] == ("aborted" if own.change_id in refused else "successful")
    assert refused <= {slice1.change_id, slice3.change_id, own.change_id}

    # risk history: every job's closed record is there with its risk inputs, for the next demo change to be scored
    # on; it counts the finished changes (the rolled-back slice; an aborted change is evidence of neither)
    mine = {r["id"]: r for r in closed if r["id"] in {job.change_id for job in jobs}}
    assert set(mine) == {job.change_id for job in jobs}
    assert all("demo" in r["risk"]["services"] for r in mine.values())
    history = history_from_records(closed, ["demo"], None, {"alpha": 1, "beta": 1}, source="ledger")
    finished = {job.change_id: records[job.ident]["outcome"] for job in jobs}
    assert {m["change"]: m["outcome"] for m in history.matches} == {
        cid: outcome for cid, outcome in finished.items() if outcome != "aborted"
    }
