"""The change spec: schema errors name the field, targets by pattern and labels, snapshot scope from the spec,
the role or an edge release, paths, and every example spec the project ships."""

import re
from datetime import UTC, datetime
from pathlib import Path
from random import Random

import pytest
import yaml

from ansible_collections.changeward.hybrid.plugins.plugin_utils.change_spec import (
    ChangeSpecError,
    new_change_id,
    normalize,
    validate,
)

REPO = Path(__file__).resolve().parents[3]
HOSTVARS = {
    "c1": {"env_type": "cloud", "region": "eu-west-1", "az": "eu-west-1a", "services": ["demo", "web"]},
    "c2": {"env_type": "cloud", "region": "us-east-1", "az": "us-east-1a", "services": ["demo"]},
    "o1": {"env_type": "onprem", "region": "eu-central", "site": "dc1"},
    "e1": {"changeward_labels": {"env_type": "edge", "region": "edge-eu", "site": "edge-site-1"}},
}


def spec(**over):
    base = {
        "summary": "raise somaxconn",
        "targets": {"pattern": "all"},
        "apply": {"tasks": "tasks.yml"},
        "service": "demo",
        "snapshot": {"paths": ["/etc/sysctl.d/60-changeward.conf"]},
    }
    base.update(over)
    return base


@pytest.fixture
def base(tmp_path):
    for name in ("tasks.yml", "gates.yml", "tolerance.yml"):
        (tmp_path / name).write_text("---\n")
    return tmp_path


def resolve(data, base, hosts=None, **kw):
    kw.setdefault("requester", "alice")
    kw.setdefault("policies", {"gate": "gates.yml", "tolerance": {"demo": "tolerance.yml"}})
    hosts = list(HOSTVARS) if hosts is None else hosts
    return normalize(data, pattern_hosts=hosts, hostvars=HOSTVARS, base_dir=str(base), **kw)


@pytest.mark.parametrize(
    "data, field",
    [
        ({"targets": {"pattern": "all"}}, "change_spec: 'summary' is a required property"),
        (spec(type="urgent"), "change_spec.type: 'urgent' is not one of"),
        (spec(apply={"role": "r", "tasks": "t.yml"}), "change_spec.apply: give exactly one of role, tasks or edge"),
        (spec(apply={}), "change_spec.apply: give exactly one of role, tasks or edge"),
        (spec(targets={}), "change_spec.targets: {} should be non-empty"),
        (spec(snapshot={"paths": ["etc/x"]}), "change_spec.snapshot.paths[0]: 'etc/x' does not match"),
        (spec(health_checks=[{"url": "http://x/", "command": ["true"]}]), "change_spec.health_checks[0]: a health"),
        (spec(bake_times={"canary": None}), "change_spec.bake_times.canary"),
        (spec(policy={"gate": "g.yml"}), "change_spec.policy: a change cannot choose the policies it runs under"),
        (spec(colour="blue"), "Additional properties are not allowed ('colour' was unexpected)"),
        (spec(apply={"role": "r", "vars": {"ansible_user": "x"}}), "change_spec.apply.vars: 'ansible_user' does not"),
        (spec(apply={"role": "r", "vars": {"changeward_change": {}}}), "'changeward_change' does not match"),
        (spec(id="bad id"), "change_spec.id: 'bad id' does not match"),
    ],
)
def test_an_invalid_spec_names_the_field(data, field):
    with pytest.raises(ChangeSpecError) as err:
        validate(data)
    assert field in str(err.value)


def test_a_spec_that_is_not_a_mapping_is_refused():
    with pytest.raises(ChangeSpecError, match=re.escape("change_spec: must be a mapping")):
        validate("summary: x")


def test_every_wrong_field_is_named_at_once():
    with pytest.raises(ChangeSpecError) as err:
        validate(spec(type="urgent", ring_steps=[2]))
    assert "change_spec.type" in str(err.value) and "change_spec.ring_steps[0]" in str(err.value)


def test_targets_by_labels_narrow_the_pattern(base):
    change = resolve(spec(targets={"pattern": "all", "labels": {"env_type": "cloud", "region": ["us-east-1"]}}), base)
    assert change["targets"] == ["c2"]
    # a list label (services) matches when any wanted value is one of the host's
    change = resolve(spec(targets={"labels": {"services": "web"}}), base)
    assert change["targets"] == ["c1"]
    # labels set by the hybrid inventory (changeward_labels) count too
    assert resolve(spec(targets={"labels": {"env_type": "edge"}}), base)["targets"] == ["e1"]


def test_no_matching_host_and_unknown_labels_are_refused(base):
    with pytest.raises(
        ChangeSpecError, match=re.escape("change_spec.targets: no host matches pattern 'all' with labels")
    ):
        resolve(spec(targets={"labels": {"region": "mars-1"}}), base)
    with pytest.raises(ChangeSpecError, match=re.escape("change_spec.targets.labels: unknown label colour")):
        resolve(spec(targets={"labels": {"colour": "red"}}), base)
    with pytest.raises(ChangeSpecError, match=re.escape("no host matches pattern 'nothing'")):
        resolve(spec(targets={"pattern": "nothing"}), base, hosts=[])


def test_nothing_to_snapshot_is_refused(base):
    data = spec()
    del data["snapshot"]
    with pytest.raises(ChangeSpecError, match=re.escape("change_spec.snapshot: nothing to snapshot")):
        resolve(data, base)
    with pytest.raises(ChangeSpecError, match=re.escape("nothing to snapshot")):
        resolve(spec(snapshot={"verify_commands": [{"name": "v", "cmd": "true"}]}), base)


def test_the_role_declares_the_snapshot_scope(base):
    role = base / "roles" / "site"
    (role / "meta").mkdir(parents=True)
    (role / "meta" / "changeward.yml").write_text(yaml.safe_dump({"snapshot": {"paths": ["/etc/site.conf"]}}))
    data = spec(apply={"role": "site", "vars": {"site_port": 81}})
    del data["snapshot"]
    change = resolve(data, base, role_path=str(role))
    assert change["snapshot"]["paths"] == ["/etc/site.conf"] and change["snapshot"]["source"] == "role"
    assert change["apply"] == {"kind": "role", "role": "site", "role_path": str(role), "vars": {"site_port": 81}}
    # the spec's own scope wins over the role's
    change = resolve(spec(apply={"role": "site"}), base, role_path=str(role))
    assert (
        change["snapshot"]["paths"] == ["/etc/sysctl.d/60-changeward.conf"] and change["snapshot"]["source"] == "spec"
    )
    # a role's declaration is checked like the spec
    (role / "meta" / "changeward.yml").write_text(yaml.safe_dump({"snapshot": {"paths": ["relative"]}}))
    with pytest.raises(ChangeSpecError, match=re.escape("snapshot.paths[0]: 'relative' does not match")):
        resolve(data, base, role_path=str(role))


def test_a_role_ansible_cannot_find_is_refused(base):
    with pytest.raises(ChangeSpecError, match=re.escape("change_spec.apply.role: role 'nope' not found")):
        resolve(spec(apply={"role": "nope"}), base, role_path=None)


def test_paths_are_read_from_the_base_dir_and_must_exist(base):
    change = resolve(spec(), base)
    assert change["apply"]["tasks"] == str(base / "tasks.yml")
    assert change["gate_policy"] == str(base / "gates.yml") and change["tolerance_policy"] == str(
        base / "tolerance.yml"
    )
    with pytest.raises(
        ChangeSpecError, match=re.escape("the gate policy missing.yml (changeward_policy in the inventory) does not")
    ):
        resolve(spec(), base, policies={"gate": "missing.yml", "tolerance": {"demo": "tolerance.yml"}})
    with pytest.raises(ChangeSpecError, match=re.escape("change_spec.apply.tasks: nope.yml does not exist")):
        resolve(spec(apply={"tasks": "nope.yml"}), base)


def test_the_service_needs_a_tolerance_policy_the_operator_pinned(base):
    assert resolve(spec(), base)["service"] == "demo"
    with pytest.raises(
        ChangeSpecError,
        match=re.escape("change_spec.service: no tolerance policy for service 'web'; the operator pins one per"),
    ):
        resolve(spec(service="web"), base)
    with pytest.raises(ChangeSpecError, match=re.escape("no gate policy: the operator pins it as changeward_policy")):
        resolve(spec(), base, policies={"gate": None, "tolerance": {"demo": "tolerance.yml"}})


def test_an_id_from_the_launcher_wins_over_the_specs(base):
    assert resolve(spec(id="CHG-7"), base, change_id="CHG-9")["id"] == "CHG-9"


EDGE = {
    "manifest": "http://198.18.0.1:8088/r.manifest.json",
    "signature": "http://198.18.0.1:8088/r.manifest.json.sig",
    "public_key": "/etc/keys/release.pub.pem",
    "url": "http://198.18.0.1:8088/r.tar",
    "links": {"/etc/demo-service/config.json": "config.json"},
}


def test_an_edge_release_goes_to_edge_hosts_and_snapshots_its_links(base):
    data = spec(apply={"edge": EDGE}, targets={"labels": {"env_type": "edge"}})
    del data["snapshot"]
    change = resolve(data, base)
    assert change["apply"]["kind"] == "edge" and change["change_kind"] == "package"
    assert change["snapshot"]["paths"] == ["/etc/demo-service/config.json"]
    with pytest.raises(ChangeSpecError, match=re.escape("edge hosts only; not edge: c1, c2, o1")):
        resolve(spec(apply={"edge": EDGE}), base)
    with pytest.raises(ChangeSpecError, match=re.escape("change_spec.apply.vars: only for a role or tasks file")):
        resolve(spec(apply={"edge": EDGE, "vars": {"x": 1}}, targets={"labels": {"env_type": "edge"}}), base)


def test_health_checks_are_normalised(base):
    change = resolve(
        spec(health_checks=[{"url": "http://127.0.0.1:8080/healthz"}, {"command": ["true"], "retries": 0}]), base
    )
    url, cmd = change["health_checks"]
    assert url["kind"] == "url" and url["status"] == [200] and url["retries"] == 10 and url["name"].startswith("http")
    assert cmd == {"kind": "command", "command": ["true"], "name": "true", "retries": 0, "delay": 2, "index": 1}


def test_ring_steps_are_fractions_and_the_planner_gets_percentages(base):
    change = resolve(spec(ring_steps=[0.25, 1.0]), base)
    assert change["ring_steps"] == [0.25, 1.0] and change["ring_percents"] == [25.0, 100.0]
    assert resolve(spec(), base)["ring_percents"] == []


def test_ids_are_generated_or_kept(base):
    assert resolve(spec(id="CHG-7"), base)["id"] == "CHG-7"
    now = datetime(2026, 12, 7, 12, 0, 0, tzinfo=UTC)
    assert new_change_id(now, Random(1)) == f"CHG-20261207120000-{Random(1).randrange(10**6):06d}"
    assert resolve(spec(), base)["id"].startswith("CHG-")


@pytest.mark.parametrize("path", sorted((REPO / "examples" / "changes").glob("*.yml")), ids=lambda p: p.name)
def test_every_shipped_example_is_valid(path):
    doc = yaml.safe_load(path.read_text())
    assert set(doc) == {"change_spec"}
    validate(doc["change_spec"])
    assert "policy" not in doc["change_spec"]
