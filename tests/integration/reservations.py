"""Which lab hosts and shared services each integration suite reserves, so suites run side by side on one lab.

A test states its group with a marker, usually once per module:

    pytestmark = pytest.mark.reservation("edge")

conftest.py turns the group into an `xdist_group` (all tests of a group run in one worker, one after the
other, in file order) and holds the lab for the group's tests: shared for a group of hosts, exclusive
for `whole-lab`. Groups that are not exclusive must not share a host or a service (the unit test
tests/unit/lab/test_reservations.py holds them to that), so any two of them can run at the same time.
A test that uses the lab and states no group is refused at collection. Tests that need no lab host and
no shared service state nothing and go to whichever worker is free.

Pure data and pure functions: no pytest, no lab; the unit test imports it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lab"))

from cwlab.fleet import plan_fleet

# The default 12-host fleet (tests/lab/README.md), by environment type.
FLEET = [h.name for h in plan_fleet(12)]
CLOUD = frozenset(h.name for h in plan_fleet(12) if h.env_type == "cloud")
ONPREM = frozenset(h.name for h in plan_fleet(12) if h.env_type == "onprem")
EDGE = frozenset(h.name for h in plan_fleet(12) if h.env_type == "edge")


@dataclass(frozen=True)
class Group:
    name: str
    why: str
    hosts: frozenset = field(default_factory=frozenset)
    services: frozenset = field(default_factory=frozenset)
    exclusive: bool = False  # the whole lab, alone: nothing else uses the lab meanwhile


GROUPS = {
    g.name: g
    for g in (
        Group(
            "cloud-onprem",
            "test_rollout (change.yml on cloud:onprem: every cloud and on-prem host's release, Prometheus "
            "series per host, outages on ring hosts), test_window_guard_lab (a serial rollout over every "
            "cloud host), the cloud and on-prem example specs of test_change_specs, test_regional_path "
            "(docs/regional-teams.md: its change on cloud-euw1b-01 and cloud-euw1a-02), test_monitoring_lab (the "
            "bad release and a failing journey on cloud-euw1a-01 and cloud-euw1b-01), test_dashboard_queries, "
            "test_check_diff_lab (--check --diff of the sysctl spec on cloud-euw1a-01 and cloud-euw1b-01)",
            hosts=CLOUD | ONPREM,
        ),
        Group(
            "edge",
            "test_edge_update (loss, rate limits, outages and a power cycle on every edge host; the artifact "
            "server, nginx on 198.18.0.1:8088, and its access log), the edge example spec of test_change_specs and "
            "test_conflicts_lab (provider documents it publishes on that server; its changes are refused before "
            "any ring, so it touches no host)",
            hosts=EDGE,
            services=frozenset({"edge-nginx"}),
        ),
        Group(
            "postgres",
            "the PostgreSQL suites (test_ledger_postgres, test_recorder_postgres, test_ledger_integrity, "
            "test_ee_lab) on one worker; the run starts the tests' server once and stops it at its very end "
            "(conftest.pg_dsn), so a whole-lab suite (test_concurrency_lab) may use it too, in a schema of its own",
            services=frozenset({"postgresql"}),
        ),
        Group(
            "whole-lab",
            "suites that span cloud, on-prem and edge hosts or act on the lab itself: test_lab (every host, "
            "power, down/up), test_change_playbook (every host, flaky edge), test_molecule, test_drift, "
            "test_snapshot_lab, test_dependencies_lab (demo services calling a service on another host, across "
            "cloud and on-prem), test_pre_implementation_lab (a partition between a cloud and an on-prem host, "
            "its controller killed), test_concurrency_lab (every host under four names, four jobs at once). They "
            "run alone on the lab, one after the other",
            hosts=frozenset(FLEET),
            exclusive=True,
        ),
    )
}

# Groups in the order they are handed to workers: the longest host group first, so it starts at once;
# work that needs no lab fills the other worker; the exclusive group last, when the shared ones are done.
ORDER = ("cloud-onprem", "edge", "postgres", None, "whole-lab")


def conflicts(groups) -> dict:
    """{host or service: [group names]} claimed by more than one group that is not exclusive."""
    claims: dict = {}
    for g in groups:
        if g.exclusive:
            continue
        for thing in sorted(g.hosts) + [f"service:{s}" for s in sorted(g.services)]:
            claims.setdefault(thing, []).append(g.name)
    return {thing: names for thing, names in claims.items() if len(names) > 1}


def unknown_hosts(groups, fleet=tuple(FLEET)) -> dict:
    """{group: [hosts]} a group names that the default fleet does not have."""
    out = {g.name: sorted(set(g.hosts) - set(fleet)) for g in groups}
    return {name: hosts for name, hosts in out.items() if hosts}


def access(name) -> str | None:
    """How a test of group `name` holds the lab: "exclusive", "shared" (its own hosts) or None (no host)."""
    if name is None:
        return None
    group = GROUPS[name]
    if group.exclusive:
        return "exclusive"
    return "shared" if group.hosts else None


def rank(name) -> int:
    return ORDER.index(name)
