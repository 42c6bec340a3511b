"""Ring planner: canary placement, growth by steps, one new failure domain per ring, env order, pins."""

import random

import pytest

from ansible_collections.changeward.hybrid.plugins.plugin_utils.rings import (
    Host,
    PlanError,
    baseline_for,
    host_from_vars,
    plan,
)


def cloud(name, az, region=None, **kw):
    kw.setdefault("rollback_capability", "full")
    return Host(name, "cloud", region or az[:-1], az, **kw)


def site(name, env, site_name, region, **kw):
    kw.setdefault("rollback_capability", "full")
    return Host(name, env, region, site_name, **kw)


def lab_fleet():
    """The 12-host lab: labels as cwlab gives them."""
    return [
        cloud("cloud-euw1a-01", "eu-west-1a", criticality="critical"),
        cloud("cloud-euw1b-01", "eu-west-1b", criticality="high"),
        cloud("cloud-use1a-01", "us-east-1a", criticality="low"),
        cloud("cloud-use1b-01", "us-east-1b", data_class="pii"),
        cloud("cloud-euw1a-02", "eu-west-1a", criticality="high"),
        cloud("cloud-euw1b-02", "eu-west-1b", criticality="low"),
        site("onprem-dc1-01", "onprem", "dc1", "onprem-eu"),
        site("onprem-dc1-02", "onprem", "dc1", "onprem-eu", criticality="high", data_class="pii"),
        site("onprem-dc1-legacy", "onprem", "dc1", "onprem-eu", criticality="high", rollback_capability="none"),
        site("edge-s1-01", "edge", "edge-site-1", "edge-eu", rollback_capability="partial"),
        site("edge-s2-01", "edge", "edge-site-2", "edge-us", criticality="high"),
        site("edge-s3-01", "edge", "edge-site-3", "edge-eu", criticality="low", data_class="pii"),
    ]


def random_fleet(rng, n):
    hosts = []
    for i in range(n):
        env = rng.choice(["cloud", "cloud", "onprem", "edge"])
        region = f"{env}-r{rng.randrange(3)}"
        domain = f"{region}-d{rng.randrange(3)}"
        hosts.append(
            Host(
                f"h{i:03d}",
                env,
                region,
                domain,
                tenant=rng.choice(["acme", "globex"]),
                rollback_capability=rng.choice(["full", "full", "partial", "none"]),
                criticality=rng.choice(["low", "medium", "high", "critical"]),
            )
        )
    return hosts


def by_name(hosts):
    return {h.name: h for h in hosts}


def check_invariants(hosts, result, max_new_domains=1, max_new_regions=1):
    """What every plan must satisfy, whatever the fleet."""
    names = by_name(hosts)
    placed = [h for r in result["rings"] for h in r["hosts"]]
    assert sorted(placed) == sorted(names), "every host exactly once"
    assert result["order"] == placed
    assert result["sizes"] == [r["size"] for r in result["rings"]]
    seen_domains, seen_regions = set(), set()
    env_seq = []
    for ring in result["rings"]:
        members = [names[h] for h in ring["hosts"]]
        assert ring["hosts"], "no empty ring"
        assert len({h.env_type for h in members}) == 1, f"{ring['name']} mixes env types"
        env_seq.append(members[0].env_type)
        new_domains = {(h.env_type, h.domain) for h in members} - seen_domains
        new_regions = {h.region for h in members} - seen_regions
        if ring["index"] == 0:
            assert len(new_domains) == 1, "the canary sits in one failure domain"
            assert all(h.rollback_capability != "none" for h in members), "a canary must be able to go back"
        assert len(new_domains) <= max_new_domains, f"{ring['name']} brings {new_domains}"
        assert len(new_regions) <= max_new_regions, f"{ring['name']} brings {new_regions}"
        seen_domains |= {(h.env_type, h.domain) for h in members}
        seen_regions |= {h.region for h in members}
    order = ["cloud", "onprem", "edge"]
    assert env_seq == sorted(env_seq, key=order.index), "env types in order, edge last"


def test_lab_fleet_plan():
    result = plan(lab_fleet(), canary_percent=5)
    rings = [(r["name"], r["hosts"]) for r in result["rings"]]
    assert rings == [
        ("canary", ["cloud-euw1b-02"]),  # low criticality, full rollback, no pii; its AZ first
        ("ring-1", ["cloud-euw1b-01", "cloud-euw1a-02"]),  # 25 % of 12 = 3; eu-west-1a is the one new AZ
        ("ring-2", ["cloud-euw1a-01", "cloud-use1a-01"]),  # us-east-1a would be followed by a second new AZ
        ("ring-3", ["cloud-use1b-01"]),
        ("ring-4", ["onprem-dc1-01", "onprem-dc1-02", "onprem-dc1-legacy"]),  # cannot-roll-back last
        ("ring-5", ["edge-s3-01"]),
        ("ring-6", ["edge-s1-01"]),  # same region as the proven edge-site-3 before the new region
        ("ring-7", ["edge-s2-01"]),
    ]
    assert result["rings"][-1]["percent"] == 100.0
    assert result["rings"][4]["rollback_capability"] == "none"
    assert result["warnings"] == []
    check_invariants(lab_fleet(), result)


def test_growth_follows_the_steps_in_one_domain():
    hosts = [cloud(f"h{i:03d}", "eu-west-1a") for i in range(100)]
    result = plan(hosts)
    assert result["sizes"] == [1, 4, 20, 75]  # 1 %, 5 %, 25 %, 100 % cumulative
    assert [r["percent"] for r in result["rings"]] == [1.0, 5.0, 25.0, 100.0]


def test_custom_steps_and_canary_percent():
    hosts = [cloud(f"h{i:02d}", "eu-west-1a") for i in range(20)]
    result = plan(hosts, steps=[10, 50, 100], canary_percent=10)
    assert result["sizes"] == [2, 8, 10]


def test_canary_never_leaves_its_domain_even_when_bigger_is_asked():
    hosts = [cloud("a1", "eu-west-1a"), cloud("b1", "eu-west-1b"), cloud("b2", "eu-west-1b")]
    result = plan(hosts, canary_percent=100)
    assert len({by_name(hosts)[h].domain for h in result["rings"][0]["hosts"]}) == 1
    check_invariants(hosts, result)


def test_canary_avoids_hosts_that_cannot_roll_back_and_prefers_low_risk():
    hosts = [
        cloud("crit", "eu-west-1a", criticality="critical"),
        cloud("legacy", "eu-west-1b", criticality="low", rollback_capability="none"),
        cloud("pii", "eu-west-1c", criticality="low", data_class="pii"),
        cloud("plain", "eu-west-1d", criticality="low"),
    ]
    assert plan(hosts)["rings"][0]["hosts"] == ["plain"]


def test_no_possible_canary_is_an_error():
    hosts = [cloud("legacy", "eu-west-1a", rollback_capability="none")]
    with pytest.raises(PlanError, match="can be a canary"):
        plan(hosts)


def test_canary_scope_tenant_keeps_one_tenant():
    hosts = [cloud(f"h{i}", "eu-west-1a", tenant=t) for i, t in enumerate(["acme", "globex", "acme", "globex"])]
    result = plan(hosts, canary_percent=50, canary_scope="tenant")
    canary = result["rings"][0]["hosts"]
    assert len(canary) == 2
    assert len({by_name(hosts)[h].tenant for h in canary}) == 1
    domain_only = plan(hosts, canary_percent=50)["rings"][0]["hosts"]
    assert len({by_name(hosts)[h].tenant for h in domain_only}) == 2


def test_one_new_domain_and_region_per_ring_unless_configured():
    hosts = [cloud(f"{az}-{i}", az) for az in ("eu-west-1a", "eu-west-1b", "eu-west-1c") for i in range(3)]
    strict = plan(hosts, steps=[10, 100])
    check_invariants(hosts, strict)
    assert len(strict["rings"]) == 3  # canary in 1a (+ the rest of 1a), then 1b, then 1c
    loose = plan(hosts, steps=[10, 100], max_new_domains=2)
    check_invariants(hosts, loose, max_new_domains=2)
    assert len(loose["rings"]) == 2


@pytest.mark.parametrize("seed", range(30))
def test_invariants_hold_on_random_fleets(seed):
    rng = random.Random(seed)
    hosts = random_fleet(rng, rng.randrange(1, 120))
    if all(h.rollback_capability == "none" for h in hosts if h.env_type == hosts[0].env_type):
        hosts.append(Host("spare", hosts[0].env_type, "x", "y", rollback_capability="full"))
    order = [e for e in ("cloud", "onprem", "edge") if any(h.env_type == e for h in hosts)]
    first = [h for h in hosts if h.env_type == order[0]]
    if all(h.rollback_capability == "none" for h in first):
        pytest.skip("no possible canary in this draw")
    result = plan(hosts, canary_percent=rng.choice([1, 5, 10]))
    check_invariants(hosts, result)


def test_plan_does_not_depend_on_input_order():
    hosts = lab_fleet()
    shuffled = hosts[:]
    random.Random(7).shuffle(shuffled)
    assert plan(hosts) == plan(shuffled)


def test_env_order_is_configurable_but_edge_stays_last():
    hosts = lab_fleet()
    result = plan(hosts, env_order=["onprem", "cloud", "edge"])
    assert result["rings"][0]["hosts"] == ["onprem-dc1-01"]
    with pytest.raises(PlanError, match="edge must come last"):
        plan(hosts, env_order=["edge", "cloud", "onprem"])
    with pytest.raises(PlanError, match="not in env_order"):
        plan(hosts, env_order=["cloud", "edge"])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"steps": [5, 25]}, "last step must be 100"),
        ({"steps": [25, 5, 100]}, "increase strictly"),
        ({"steps": []}, "must not be empty"),
        ({"canary_percent": 0}, "canary_percent"),
        ({"canary_scope": "region"}, "canary_scope"),
        ({"max_new_domains": 0}, "max_new_domains"),
    ],
)
def test_bad_settings_are_errors(kwargs, match):
    with pytest.raises(PlanError, match=match):
        plan(lab_fleet(), **kwargs)


def test_no_hosts_and_duplicates_are_errors():
    with pytest.raises(PlanError, match="no hosts"):
        plan([])
    with pytest.raises(PlanError, match="more than once"):
        plan([cloud("a", "eu-west-1a"), cloud("a", "eu-west-1b")])


def test_pins_are_honoured_and_reported():
    hosts = lab_fleet()
    names = by_name(hosts)
    pinned = [h if h.name != "cloud-use1a-01" else Host(**{**h.__dict__, "pin": 0}) for h in hosts]
    pinned = [h if h.name != "cloud-euw1b-02" else Host(**{**h.__dict__, "pin": "last"}) for h in pinned]
    result = plan(pinned)
    assert result["rings"][0]["hosts"] == ["cloud-use1a-01"]
    assert "cloud-euw1b-02" in result["rings"][-1]["hosts"]
    assert result["rings"][-1]["pinned"] == ["cloud-euw1b-02"]
    assert any("cloud-euw1b-02" in w for w in result["warnings"])  # a cloud host in the edge ring
    assert names["cloud-use1a-01"].pin is None  # the original fleet is untouched


def test_host_from_vars_reads_labels_and_fails_closed():
    hv = {
        "changeward_labels": {
            "env_type": "cloud",
            "region": "eu-west-1",
            "az": "eu-west-1a",
            "rollback_capability": "full",
            "criticality": "low",
            "ring": None,
        }
    }
    host = host_from_vars("web1", hv)
    assert (host.domain, host.rollback_capability, host.pin) == ("eu-west-1a", "full", None)
    plain = host_from_vars("web2", {"env_type": "edge", "region": "edge-eu", "site": "s1", "ring": "2"})
    assert (plain.domain, plain.rollback_capability, plain.pin) == ("s1", "none", 2)
    with pytest.raises(PlanError, match=r"web3 lacks the label\(s\) az"):
        host_from_vars("web3", {"env_type": "cloud", "region": "eu-west-1"})
    with pytest.raises(PlanError, match="ring label"):
        host_from_vars("web4", {"env_type": "edge", "region": "r", "site": "s", "ring": "soon"})
    with pytest.raises(PlanError, match="criticality"):
        host_from_vars("web5", {"env_type": "edge", "region": "r", "site": "s", "criticality": "extreme"})


def test_baseline_is_what_the_change_has_not_reached():
    result = plan(lab_fleet(), canary_percent=5)
    assert baseline_for(result, 0) == result["order"][1:]
    assert baseline_for(result, len(result["rings"]) - 1) == []
