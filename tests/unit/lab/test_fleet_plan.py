"""The lab's fleet plan (cwlab.fleet): pure, no lab needed. Moved here from tests/integration/test_lab.py."""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "lab"))

from cwlab import plan_fleet
from cwlab.fleet import LAB_NET, select


def test_default_fleet_has_the_documented_shape():
    hosts = plan_fleet()
    names = [h.name for h in hosts]
    assert len(hosts) == 12 and len(set(names)) == 12
    by_env = {e: [h for h in hosts if h.env_type == e] for e in ("cloud", "onprem", "edge")}
    assert [len(v) for v in by_env.values()] == [6, 3, 3]
    assert {h.labels["az"] for h in by_env["cloud"]} == {"eu-west-1a", "eu-west-1b", "us-east-1a", "us-east-1b"}
    assert [h.name for h in hosts if h.labels["rollback_capability"] == "none"] == ["onprem-dc1-legacy"]
    assert len([h for h in by_env["edge"] if h.labels["rollback_capability"] == "partial"]) == 1
    assert sorted(h.labels["site"] for h in by_env["edge"]) == ["edge-site-1", "edge-site-2", "edge-site-3"]
    assert {h.labels["provider"] for h in hosts} == {"aws", "vmware", "bare-metal"}
    assert sum("billing" in h.labels["services"] for h in hosts) == 1
    assert sum("auth" in h.labels["services"] for h in hosts) == 1
    assert {h.labels["tenant"] for h in hosts} == {"acme", "globex"}
    assert {h.labels["data_class"] for h in hosts} == {"pii", "none"}
    assert all("ring" not in h.labels for h in hosts)


@pytest.mark.parametrize("n", [8, 12, 48])
def test_fleet_addresses_follow_the_plan(n):
    hosts = plan_fleet(n)
    assert len(hosts) == n
    assert len({h.address for h in hosts}) == n
    for h in hosts:
        addr = ipaddress.ip_address(h.address)
        assert addr in LAB_NET and addr in ipaddress.ip_network(h.subnet)
        assert int(h.address.rsplit(".", 1)[1]) >= 10
        assert len(h.veth) <= 15 and h.netns.startswith("cwh-")
    legacy = [h for h in hosts if h.labels["rollback_capability"] == "none"]
    assert [h.name for h in legacy] == ["onprem-dc1-legacy"]
    per_site = {}
    for h in hosts:
        if h.env_type == "edge":
            per_site[h.labels["site"]] = per_site.get(h.labels["site"], 0) + 1
    assert max(per_site.values()) <= 2


def test_fleet_refuses_what_it_cannot_plan():
    with pytest.raises(ValueError, match="outside"):
        plan_fleet(7)
    with pytest.raises(ValueError, match="no lab host matches"):
        select(plan_fleet(), "edge-site-99")
