"""changeward.hybrid.hybrid loaded the way Ansible loads it, parsing fixture sources end to end."""

import copy

import pytest
from ansible.errors import AnsibleParserError
from ansible.inventory.data import InventoryData
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.template import is_trusted_as_template
from hybrid_fixtures import CLOUD_EXPORT, ONPREM


class RecordingDisplay:
    def __init__(self, real):
        self.real = real
        self.warnings = []

    def warning(self, msg, *args, **kwargs):
        self.warnings.append(msg)

    def __getattr__(self, name):
        return getattr(self.real, name)


def parse(inventory_loader, config):
    plugin = inventory_loader.get("changeward.hybrid.hybrid")
    plugin.display = RecordingDisplay(plugin.display)
    inventory = InventoryData()
    plugin.parse(inventory, DataLoader(), config, cache=False)
    return inventory, plugin.display.warnings


def hostvars(inventory, name):
    return inventory.get_host(name).get_vars()


def members(inventory, group):
    return sorted(h.name for h in inventory.groups[group].get_hosts())


@pytest.mark.parametrize(
    ("name", "accepted"),
    [
        ("lab.hybrid.yml", True),
        ("hybrid.yaml", True),
        ("prod.changeward.yml", True),
        ("changeward.yaml", True),
        ("hosts.yml", False),
        ("hybrid.json", False),
        ("hybrid.yml.bak", False),
    ],
)
def test_verify_file_accepts_only_the_documented_names(inventory_loader, lab, name, accepted):
    path = lab.config(lab.standard(), name=name)
    assert inventory_loader.get("changeward.hybrid.hybrid").verify_file(path) is accepted


def test_verify_file_refuses_a_missing_file(inventory_loader, lab):
    assert inventory_loader.get("changeward.hybrid.hybrid").verify_file(str(lab.root / "none.hybrid.yml")) is False


def test_hosts_get_address_labels_and_changeward_labels(inventory_loader, lab):
    inventory, warnings = parse(inventory_loader, lab.config(lab.standard()))
    assert warnings == []
    assert set(inventory.hosts) == {"cloud-euw1a-01", "cloud-euw1b-01", "onprem-dc1-01", "edge-s1-01"}
    cloud = hostvars(inventory, "cloud-euw1a-01")
    assert cloud["ansible_host"] == "198.18.11.10"
    assert cloud["az"] == "eu-west-1a"
    assert cloud["env_type"] == "cloud"
    assert cloud["services"] == ["demo", "web"]
    assert cloud["rollback_capability"] == "full"
    assert cloud["changeward_labels"]["az"] == "eu-west-1a"
    assert cloud["changeward_labels"]["site"] is None
    assert "site" not in cloud  # unset labels do not shadow group_vars
    edge = hostvars(inventory, "edge-s1-01")
    assert edge["ring"] == 1
    assert edge["rollback_capability"] == "none"  # the documented default
    assert set(edge["changeward_labels"]) == {
        "env_type",
        "provider",
        "region",
        "az",
        "site",
        "tenant",
        "ring",
        "data_class",
        "rollback_capability",
        "criticality",
        "owner_team",
        "services",
        "instance_id",
    }


def test_default_groups_are_created_with_safe_names(inventory_loader, lab):
    inventory, _unused = parse(inventory_loader, lab.config(lab.standard()))
    assert members(inventory, "cloud") == ["cloud-euw1a-01", "cloud-euw1b-01"]
    assert members(inventory, "onprem") == ["onprem-dc1-01"]
    assert members(inventory, "edge") == ["edge-s1-01"]
    assert members(inventory, "region_eu_west_1") == ["cloud-euw1a-01", "cloud-euw1b-01"]
    assert members(inventory, "az_eu_west_1a") == ["cloud-euw1a-01"]
    assert members(inventory, "az_eu_west_1b") == ["cloud-euw1b-01"]
    assert members(inventory, "site_dc1") == ["onprem-dc1-01"]
    assert members(inventory, "site_edge_site_1") == ["edge-s1-01"]
    assert members(inventory, "tenant_acme") == ["cloud-euw1a-01", "cloud-euw1b-01", "onprem-dc1-01"]
    assert members(inventory, "provider_bare_metal") == ["edge-s1-01"]
    assert members(inventory, "criticality_critical") == ["onprem-dc1-01"]
    assert members(inventory, "data_class_none") == sorted(inventory.hosts)
    assert members(inventory, "rollback_full") == ["cloud-euw1a-01"]
    assert members(inventory, "rollback_partial") == ["onprem-dc1-01"]
    assert members(inventory, "service_web") == ["cloud-euw1a-01", "cloud-euw1b-01"]
    assert members(inventory, "service_agent") == ["edge-s1-01"]
    assert members(inventory, "ring_1") == ["edge-s1-01"]
    assert not [g for g in inventory.groups if g.startswith("ring_") and g != "ring_1"]


def test_constructed_options_work_on_top_of_the_labels(inventory_loader, lab):
    config = lab.config(
        lab.standard(),
        compose={"ansible_user": "'edge' if env_type == 'edge' else 'ops'"},
        groups={"canary_candidates": "rollback_capability == 'full'"},
        keyed_groups=[{"key": "changeward_labels.owner_team", "prefix": "team", "default_value": "unowned"}],
    )
    inventory, _unused = parse(inventory_loader, config)
    assert hostvars(inventory, "edge-s1-01")["ansible_user"] == "edge"
    assert hostvars(inventory, "onprem-dc1-01")["ansible_user"] == "ops"
    assert members(inventory, "canary_candidates") == ["cloud-euw1a-01"]
    assert members(inventory, "team_sre_eu") == ["cloud-euw1a-01"]
    assert members(inventory, "team_unowned") == ["cloud-euw1b-01", "edge-s1-01", "onprem-dc1-01"]


def test_strict_constructed_expression_errors_are_fatal(inventory_loader, lab):
    config = lab.config(lab.standard(), keyed_groups=[{"key": "no_such_var", "prefix": "x"}])
    with pytest.raises(AnsibleParserError, match="no_such_var"):
        parse(inventory_loader, config)


def bad_sources(lab):
    sources = lab.standard()
    onprem = copy.deepcopy(ONPREM)
    onprem["datacenters"]["dc1"]["hosts"]["onprem-dc1-01"]["labels"]["rollback_capability"] = "maybe"
    sources[1]["path"] = lab.yaml("onprem.yml", onprem)
    export = copy.deepcopy(CLOUD_EXPORT)
    export["instances"][1]["private_ip"] = "198.18.99.9"
    sources[0]["path"] = lab.json("aws.json", export)
    return sources


def test_strict_fails_the_inventory_listing_every_bad_host(inventory_loader, lab):
    with pytest.raises(AnsibleParserError) as err:
        parse(inventory_loader, lab.config(bad_sources(lab)))
    message = str(err.value)
    assert "2 host(s)" in message
    assert "onprem-dc1-01" in message
    assert "'maybe'" in message
    assert "full, partial, none" in message
    assert "cloud-euw1b-01" in message
    assert "'az'" in message


def test_strict_false_warns_and_skips_only_the_bad_hosts(inventory_loader, lab):
    inventory, warnings = parse(inventory_loader, lab.config(bad_sources(lab), strict=False))
    assert set(inventory.hosts) == {"cloud-euw1a-01", "edge-s1-01"}
    assert len(warnings) == 2
    assert any("skipping host onprem-dc1-01" in w and "'maybe'" in w for w in warnings)
    assert any("skipping host cloud-euw1b-01" in w and "'az'" in w for w in warnings)


def test_strict_false_with_every_host_bad_is_still_an_error(inventory_loader, lab):
    onprem = copy.deepcopy(ONPREM)
    onprem["datacenters"]["dc1"]["hosts"]["onprem-dc1-01"]["labels"]["criticality"] = "urgent"
    config = lab.config([{"type": "onprem_yaml", "path": lab.yaml("onprem.yml", onprem)}], strict=False)
    with pytest.raises(AnsibleParserError, match="no usable hosts"):
        parse(inventory_loader, config)


@pytest.mark.parametrize("strict", [True, False])
def test_unreadable_sources_fail_even_when_not_strict(inventory_loader, lab, strict):
    sources = lab.standard()
    sources[0]["path"] = lab.text("aws.json", "{not json")
    with pytest.raises(AnsibleParserError, match=r"aws\.json is not valid JSON"):
        parse(inventory_loader, lab.config(sources, strict=strict))


def test_unknown_config_options_are_fatal(inventory_loader, lab):
    config = lab.config(lab.standard(), label_default={"criticality": "low"})
    with pytest.raises(AnsibleParserError, match="unknown options label_default"):
        parse(inventory_loader, config)


def test_invalid_label_defaults_option_is_fatal(inventory_loader, lab):
    config = lab.config(lab.standard(), label_defaults={"criticality": "urgent"})
    with pytest.raises(AnsibleParserError, match="label_defaults"):
        parse(inventory_loader, config)


def test_subnets_option_reaches_the_plugin(inventory_loader, lab):
    static = {"hosts": {"lab-db-01": {"address": "198.18.40.5", "labels": {"provider": "kvm"}}}}
    sources = [{"type": "static", "path": lab.yaml("static.yml", static), "env_type": "onprem"}]
    config = lab.config(sources, subnets={"198.18.40.0/24": {"region": "onprem-eu", "site": "dc2"}})
    inventory, _unused = parse(inventory_loader, config)
    assert members(inventory, "site_dc2") == ["lab-db-01"]


def test_inventory_manager_end_to_end(inventory_loader, lab):
    manager = InventoryManager(loader=DataLoader(), sources=[lab.config(lab.standard())])
    assert sorted(h.name for h in manager.get_hosts("edge:onprem")) == ["edge-s1-01", "onprem-dc1-01"]
    assert [h.name for h in manager.get_hosts("az_eu_west_1a")] == ["cloud-euw1a-01"]
    host = manager.get_host("cloud-euw1b-01")
    assert host.vars["ansible_host"] == "198.18.12.10"
    assert host.vars["changeward_labels"]["tenant"] == "acme"


def test_inventory_manager_reads_a_changeward_yaml_name(inventory_loader, lab):
    manager = InventoryManager(loader=DataLoader(), sources=[lab.config(lab.standard(), name="site.changeward.yaml")])
    assert len(manager.get_hosts("all")) == 4


def test_values_are_plain_trusted_strings_because_template_syntax_cannot_pass_validation(inventory_loader, lab):
    sources = lab.standard()
    export = copy.deepcopy(CLOUD_EXPORT)
    export["instances"][1]["tags"]["owner_team"] = "{{ lookup('pipe', 'id') }}"
    sources[0]["path"] = lab.json("aws.json", export)
    manager = InventoryManager(loader=DataLoader(), sources=[lab.config(sources, strict=False)])
    assert manager.get_host("cloud-euw1b-01") is None  # refused, not rendered
    host = manager.get_host("cloud-euw1a-01")
    assert is_trusted_as_template(host.vars["ansible_host"])
    assert is_trusted_as_template(host.vars["changeward_labels"]["tenant"])
