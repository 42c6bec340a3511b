"""The plain-Python core of the hybrid inventory: readers, subnet derivation, merging, defaults, errors."""

import copy

import pytest
from hybrid_fixtures import CLOUD_EXPORT, EDGE, ONPREM

from ansible_collections.changeward.hybrid.plugins.plugin_utils import inventory_sources as S


def build(lab, sources, subnets=None, label_defaults=None):
    specs = S.parse_source_specs(sources, str(lab.root))
    defaults = S.parse_defaults(label_defaults, "option label_defaults")
    return S.build_inventory(specs, subnets_option=subnets, label_defaults=defaults)


def only_errors(result, host):
    assert host not in result.hosts
    return "\n".join(result.errors[host])


def test_standard_sources_build_every_host_with_labels(lab):
    result = build(lab, lab.standard())
    assert result.errors == {}
    assert set(result.hosts) == {"cloud-euw1a-01", "cloud-euw1b-01", "onprem-dc1-01", "edge-s1-01"}
    cloud = result.hosts["cloud-euw1a-01"]
    assert cloud.address == "198.18.11.10"
    assert cloud.labels["env_type"] == "cloud"
    assert cloud.labels["provider"] == "aws"
    assert cloud.labels["services"] == ["demo", "web"]
    assert cloud.labels["owner_team"] == "sre-eu"
    onprem = result.hosts["onprem-dc1-01"].labels
    assert (onprem["env_type"], onprem["site"], onprem["region"], onprem["provider"]) == (
        "onprem",
        "dc1",
        "onprem-eu",
        "vmware",
    )
    edge = result.hosts["edge-s1-01"].labels
    assert (edge["env_type"], edge["site"], edge["provider"], edge["ring"]) == ("edge", "edge-site-1", "bare-metal", 1)


def test_az_is_derived_from_the_instance_subnet(lab):
    result = build(lab, lab.standard())
    assert result.hosts["cloud-euw1a-01"].labels["az"] == "eu-west-1a"
    assert result.hosts["cloud-euw1b-01"].labels["az"] == "eu-west-1b"


def test_az_comes_from_the_longest_matching_prefix(lab):
    export = copy.deepcopy(CLOUD_EXPORT)
    # A /16 declared first and a /25 inside the /24: the most specific one must win either way round.
    export["subnets"] = [
        {"cidr": "198.18.0.0/16", "region": "eu-west-1", "az": "eu-west-1c"},
        {"cidr": "198.18.11.0/24", "region": "eu-west-1", "az": "eu-west-1a"},
        {"cidr": "198.18.11.0/28", "region": "eu-west-1", "az": "eu-west-1b"},
    ]
    export["instances"][0]["private_ip"] = "198.18.11.10"  # in the /28
    export["instances"][1]["private_ip"] = "198.18.11.200"  # in the /24, not the /28
    extra = dict(export["instances"][1], name="cloud-other", private_ip="198.18.77.1")  # only the /16
    export["instances"].append(extra)
    result = build(lab, [{"type": "cloud_export", "path": lab.json("aws.json", export)}])
    assert result.errors == {}
    assert result.hosts["cloud-euw1a-01"].labels["az"] == "eu-west-1b"
    assert result.hosts["cloud-euw1b-01"].labels["az"] == "eu-west-1a"
    assert result.hosts["cloud-other"].labels["az"] == "eu-west-1c"


def test_subnet_table_matches_ipv4_and_ipv6_by_longest_prefix():
    table = S.SubnetTable()
    for cidr, az in [("0.0.0.0/0", "v4-any"), ("198.18.0.0/15", "v4-lab"), ("2001:db8::/32", "v6-wide")]:
        table.add(S.Subnet(S.parse_network(cidr, "t"), {"az": az}, cidr))
    table.add(S.Subnet(S.parse_network("2001:db8:0:1::/64", "t"), {"az": "v6-narrow"}, "narrow"))
    assert table.match("198.19.255.1").labels["az"] == "v4-lab"
    assert table.match("203.0.113.9").labels["az"] == "v4-any"
    assert table.match("2001:db8:0:1::5").labels["az"] == "v6-narrow"
    assert table.match("2001:db8:0:2::5").labels["az"] == "v6-wide"
    assert table.match("2001:db9::1") is None
    assert table.match("db.example.internal") is None


def test_subnets_option_derives_labels_for_hosts_of_any_source(lab):
    static = {"hosts": {"lab-db-01": {"address": "198.18.40.5", "labels": {"provider": "kvm"}}}}
    sources = [{"type": "static", "path": lab.yaml("static.yml", static), "env_type": "onprem"}]
    result = build(lab, sources, subnets={"198.18.40.0/24": {"region": "onprem-eu", "site": "dc2"}})
    assert result.errors == {}
    labels = result.hosts["lab-db-01"].labels
    assert (labels["region"], labels["site"]) == ("onprem-eu", "dc2")


def test_cloud_host_outside_every_subnet_has_no_az_and_is_an_error(lab):
    export = copy.deepcopy(CLOUD_EXPORT)
    export["instances"][1]["private_ip"] = "198.18.99.9"
    result = build(lab, [{"type": "cloud_export", "path": lab.json("aws.json", export)}])
    message = only_errors(result, "cloud-euw1b-01")
    assert "'az'" in message
    assert "env_type cloud" in message
    assert "198.18.99.9" in message
    assert "cloud-euw1a-01" in result.hosts


def test_explicit_az_that_contradicts_the_subnet_is_a_conflict(lab):
    export = copy.deepcopy(CLOUD_EXPORT)
    export["instances"][0]["tags"]["az"] = "eu-west-1b"
    result = build(lab, [{"type": "cloud_export", "path": lab.json("aws.json", export)}])
    message = only_errors(result, "cloud-euw1a-01")
    assert "'az'" in message
    assert "eu-west-1b" in message
    assert "eu-west-1a" in message
    assert "198.18.11.0/24" in message


def test_explicit_az_that_agrees_with_the_subnet_is_fine(lab):
    export = copy.deepcopy(CLOUD_EXPORT)
    export["instances"][0]["tags"]["az"] = "EU-WEST-1A"
    result = build(lab, [{"type": "cloud_export", "path": lab.json("aws.json", export)}])
    assert result.errors == {}
    assert result.hosts["cloud-euw1a-01"].labels["az"] == "eu-west-1a"


@pytest.mark.parametrize(
    ("kind", "env_type"), [("cloud_export", "cloud"), ("onprem_yaml", "onprem"), ("edge_sites", "edge")]
)
def test_env_type_comes_from_the_source_type(lab, kind, env_type):
    sources = {s["type"]: s for s in lab.standard()}
    result = build(lab, [sources[kind]])
    assert result.hosts
    assert {h.labels["env_type"] for h in result.hosts.values()} == {env_type}


def test_source_env_type_overrides_the_type(lab):
    edge_as_onprem = {"type": "edge_sites", "path": lab.yaml("edge.yml", EDGE), "env_type": "onprem"}
    result = build(lab, [edge_as_onprem])
    assert result.hosts["edge-s1-01"].labels["env_type"] == "onprem"


def test_a_host_label_contradicting_the_source_env_type_is_a_conflict(lab):
    onprem = copy.deepcopy(ONPREM)
    onprem["datacenters"]["dc1"]["hosts"]["onprem-dc1-01"]["labels"]["env_type"] = "edge"
    result = build(lab, [{"type": "onprem_yaml", "path": lab.yaml("onprem.yml", onprem)}])
    message = only_errors(result, "onprem-dc1-01")
    assert "'env_type' conflicts" in message


def test_documented_defaults_apply_to_unlabelled_hosts(lab):
    export = copy.deepcopy(CLOUD_EXPORT)
    export["instances"][1]["tags"] = {}
    result = build(lab, [{"type": "cloud_export", "path": lab.json("aws.json", export)}])
    labels = result.hosts["cloud-euw1b-01"].labels
    assert labels["rollback_capability"] == "none"
    assert labels["criticality"] == "medium"
    assert labels["data_class"] == "none"
    assert labels["services"] == []
    assert labels["tenant"] is None
    assert labels["ring"] is None


def test_source_defaults_then_label_defaults_then_builtin_defaults(lab):
    export = copy.deepcopy(CLOUD_EXPORT)
    export["instances"][1]["tags"] = {}
    sources = [
        {
            "type": "cloud_export",
            "path": lab.json("aws.json", export),
            "defaults": {"criticality": "low", "tenant": "from-source"},
        }
    ]
    result = build(
        lab, sources, label_defaults={"tenant": "from-option", "owner_team": "platform", "data_class": "pii"}
    )
    tagged = result.hosts["cloud-euw1a-01"].labels
    untagged = result.hosts["cloud-euw1b-01"].labels
    assert (tagged["criticality"], tagged["tenant"], tagged["data_class"]) == ("high", "acme", "none")
    assert (untagged["criticality"], untagged["tenant"], untagged["owner_team"]) == ("low", "from-source", "platform")
    assert untagged["data_class"] == "pii"
    assert untagged["rollback_capability"] == "none"


@pytest.mark.parametrize(
    ("label", "bad", "allowed"),
    [
        ("env_type", "hybrid", "cloud, onprem, edge"),
        ("rollback_capability", "sometimes", "full, partial, none"),
        ("criticality", "urgent", "low, medium, high, critical"),
        ("data_class", "secret", "none, internal, pii, pci, phi"),
    ],
)
def test_invalid_label_values_name_host_label_value_and_allowed(lab, label, bad, allowed):
    onprem = copy.deepcopy(ONPREM)
    onprem["datacenters"]["dc1"]["hosts"]["onprem-dc1-01"]["labels"][label] = bad
    result = build(lab, [{"type": "onprem_yaml", "path": lab.yaml("onprem.yml", onprem)}])
    message = only_errors(result, "onprem-dc1-01")
    assert "host 'onprem-dc1-01'" in message
    assert repr(label) in message
    assert repr(bad) in message
    assert allowed in message
    assert "onprem.yml" in message


def test_unknown_label_in_a_host_labels_mapping_is_an_error(lab):
    onprem = copy.deepcopy(ONPREM)
    onprem["datacenters"]["dc1"]["hosts"]["onprem-dc1-01"]["labels"]["critcality"] = "high"
    result = build(lab, [{"type": "onprem_yaml", "path": lab.yaml("onprem.yml", onprem)}])
    assert "critcality" in only_errors(result, "onprem-dc1-01")


def test_cloud_tags_outside_the_vocabulary_are_ignored_but_tag_keys_match_case_insensitively(lab):
    export = copy.deepcopy(CLOUD_EXPORT)
    export["instances"][1]["tags"] = {"Tenant": "Globex", "CostCenter": "42", "Services": "b, a"}
    result = build(lab, [{"type": "cloud_export", "path": lab.json("aws.json", export)}])
    labels = result.hosts["cloud-euw1b-01"].labels
    assert labels["tenant"] == "globex"
    assert labels["services"] == ["a", "b"]


def test_the_same_host_in_two_sources_is_merged(lab):
    static = {"hosts": {"edge-s1-01": {"address": "198.18.101.10", "labels": {"owner_team": "edge-ops"}}}}
    sources = [*lab.standard(), {"type": "static", "path": lab.yaml("static.yml", static), "env_type": "edge"}]
    result = build(lab, sources)
    assert result.errors == {}
    labels = result.hosts["edge-s1-01"].labels
    assert labels["owner_team"] == "edge-ops"
    assert labels["site"] == "edge-site-1"
    assert len(result.hosts["edge-s1-01"].sources) == 2


def test_services_from_two_sources_are_united(lab):
    static = {"hosts": {"edge-s1-01": {"address": "198.18.101.10", "labels": {"services": "metrics"}}}}
    sources = [*lab.standard(), {"type": "static", "path": lab.yaml("static.yml", static), "env_type": "edge"}]
    result = build(lab, sources)
    assert result.hosts["edge-s1-01"].labels["services"] == ["agent", "metrics"]


def test_conflicting_labels_across_two_sources_name_both_sources(lab):
    static = {"hosts": {"edge-s1-01": {"address": "198.18.101.10"}}}
    sources = [*lab.standard(), {"type": "static", "path": lab.yaml("static.yml", static), "env_type": "cloud"}]
    result = build(lab, sources)
    message = only_errors(result, "edge-s1-01")
    assert "'env_type' conflicts" in message
    assert "edge.yml" in message
    assert "static.yml" in message
    assert "'edge'" in message
    assert "'cloud'" in message


def test_conflicting_addresses_across_two_sources_are_an_error(lab):
    static = {"hosts": {"edge-s1-01": {"address": "198.18.101.11"}}}
    sources = [*lab.standard(), {"type": "static", "path": lab.yaml("static.yml", static), "env_type": "edge"}]
    message = only_errors(build(lab, sources), "edge-s1-01")
    assert "address conflicts" in message
    assert "198.18.101.10" in message
    assert "198.18.101.11" in message


def test_conflicting_defaults_of_two_sources_for_one_host_are_an_error(lab):
    static = {"hosts": {"edge-s1-01": {"address": "198.18.101.10"}}}
    sources = lab.standard()
    sources[2]["defaults"] = {"owner_team": "a"}
    sources.append(
        {"type": "static", "path": lab.yaml("s.yml", static), "env_type": "edge", "defaults": {"owner_team": "b"}}
    )
    assert "'owner_team' conflicts" in only_errors(build(lab, sources), "edge-s1-01")


def test_static_host_without_address_keeps_its_name_and_labels(lab):
    static = {"hosts": {"db.example.internal": {"labels": {"provider": "kvm", "region": "r1", "site": "dc9"}}}}
    result = build(lab, [{"type": "static", "path": lab.yaml("s.yml", static), "env_type": "onprem"}])
    host = result.hosts["db.example.internal"]
    assert host.address is None
    assert host.labels["site"] == "dc9"


@pytest.mark.parametrize("address", ["198.18.11.300", "not an address", 42])
def test_invalid_addresses_are_host_errors(lab, address):
    onprem = copy.deepcopy(ONPREM)
    onprem["datacenters"]["dc1"]["hosts"]["onprem-dc1-01"]["address"] = address
    result = build(lab, [{"type": "onprem_yaml", "path": lab.yaml("onprem.yml", onprem)}])
    assert "address" in only_errors(result, "onprem-dc1-01")


def test_cloud_private_ip_must_be_an_ip(lab):
    export = copy.deepcopy(CLOUD_EXPORT)
    export["instances"][0]["private_ip"] = "ip-198-18-11-10.internal"
    result = build(lab, [{"type": "cloud_export", "path": lab.json("aws.json", export)}])
    assert "not an IP address" in only_errors(result, "cloud-euw1a-01")


# --- fatal source problems --------------------------------------------------------------------


def test_missing_file_is_fatal_and_names_the_file(lab):
    with pytest.raises(S.SourceError, match=r"cannot read .*nowhere\.json"):
        build(lab, [{"type": "cloud_export", "path": "nowhere.json"}])


def test_malformed_json_is_fatal_and_names_the_file(lab):
    path = lab.text("aws.json", '{"provider": "aws", "instances": [')
    with pytest.raises(S.SourceError, match=r"aws\.json is not valid JSON"):
        build(lab, [{"type": "cloud_export", "path": path}])


def test_malformed_yaml_is_fatal_and_names_the_file(lab):
    path = lab.text("onprem.yml", "datacenters:\n  dc1: [unclosed\n")
    with pytest.raises(S.SourceError, match=r"onprem\.yml is not valid YAML"):
        build(lab, [{"type": "onprem_yaml", "path": path}])


@pytest.mark.parametrize(
    ("name", "text"),
    [
        (
            "onprem.yml",
            "datacenters:\n  dc1:\n    hosts:\n      a: {address: 198.18.31.1}\n      a: {address: 198.18.31.2}\n",
        ),
        ("aws.json", '{"provider": "aws", "provider": "gcp", "instances": []}'),
    ],
)
def test_duplicate_keys_are_fatal(lab, name, text):
    kind = "onprem_yaml" if name.endswith(".yml") else "cloud_export"
    with pytest.raises(S.SourceError, match="duplicate key"):
        build(lab, [{"type": kind, "path": lab.text(name, text)}])


@pytest.mark.parametrize("text", ["", "   \n", "- just\n- a list\n", "42\n"])
def test_empty_or_non_mapping_documents_are_fatal(lab, text):
    with pytest.raises(S.SourceError, match=r"static\.yml"):
        build(lab, [{"type": "static", "path": lab.text("static.yml", text), "env_type": "edge"}])


def test_a_source_without_hosts_is_fatal(lab):
    export = dict(CLOUD_EXPORT, instances=[])
    with pytest.raises(S.SourceError, match="contains no hosts"):
        build(lab, [{"type": "cloud_export", "path": lab.json("aws.json", export)}])


@pytest.mark.parametrize(
    ("kind", "doc", "match"),
    [
        ("cloud_export", {"instances": []}, "needs a top-level provider"),
        ("cloud_export", {"provider": "aws", "instances": {"a": 1}}, "instances must be a list"),
        ("cloud_export", {"provider": "aws", "subnets": [{"cidr": "198.18.11.5/24"}], "instances": []}, "host bits"),
        ("cloud_export", {"provider": "aws", "subnets": [{"cidr": "banana"}], "instances": []}, "not a CIDR"),
        ("onprem_yaml", {"datacenter": {}}, "unknown keys datacenter"),
        ("onprem_yaml", {"datacenters": {"dc1": {"hosts": {"h": {"adress": "1.2.3.4"}}}}}, "unknown keys adress"),
        ("onprem_yaml", {"datacenters": {"dc1": {"site": "dc2", "hosts": {}}}}, "site is its name"),
        ("edge_sites", {"sites": [{"region": "r", "hosts": []}]}, "no site name"),
        ("edge_sites", {"sites": [{"site": "s", "hosts": [{"address": "198.18.101.1"}]}]}, "no valid host name"),
        ("static", {"hosts": ["a", "b"]}, "hosts must be a mapping"),
    ],
)
def test_malformed_structure_is_fatal(lab, kind, doc, match):
    source = {"type": kind, "path": lab.yaml("src.yml", doc)}
    if kind == "static":
        source["env_type"] = "onprem"
    with pytest.raises(S.SourceError, match=match):
        build(lab, [source])


def test_one_subnet_declared_twice_with_different_labels_is_fatal(lab):
    with pytest.raises(S.SourceError, match=r"198\.18\.11\.0/24.*'az'"):
        build(lab, lab.standard(), subnets={"198.18.11.0/24": {"az": "eu-west-1c"}})


def test_one_subnet_declared_twice_with_compatible_labels_is_merged(lab):
    result = build(lab, lab.standard(), subnets={"198.18.11.0/24": {"tenant": "acme", "az": "eu-west-1a"}})
    assert result.errors == {}
    assert result.hosts["cloud-euw1a-01"].labels["az"] == "eu-west-1a"


@pytest.mark.parametrize(
    ("sources", "match"),
    [
        ([], "non-empty list"),
        ([{"type": "csv", "path": "x"}], "type 'csv'"),
        ([{"type": "static", "path": "x"}], "static needs env_type"),
        ([{"type": "static", "path": "x", "env_type": "space"}], "'env_type'"),
        ([{"type": "cloud_export"}], "needs a path"),
        ([{"type": "cloud_export", "path": "x", "extra": 1}], "unknown keys extra"),
        ([{"type": "cloud_export", "path": "x", "defaults": {"env_type": "edge"}}], "env_type cannot be a default"),
        ([{"type": "cloud_export", "path": "x", "defaults": {"criticality": "urgent"}}], "'criticality'"),
    ],
)
def test_invalid_source_options_are_fatal(lab, sources, match):
    with pytest.raises(S.SourceError, match=match):
        S.parse_source_specs(sources, str(lab.root))


def test_invalid_label_defaults_are_fatal():
    with pytest.raises(S.SourceError, match="rollback_capability"):
        S.parse_defaults({"rollback_capability": "yes"}, "option label_defaults")


def test_relative_source_paths_resolve_against_the_config_directory(lab):
    specs = S.parse_source_specs([{"type": "cloud_export", "path": "exports/aws.json"}], "/srv/inv")
    assert specs[0].path == "/srv/inv/exports/aws.json"
    specs = S.parse_source_specs([{"type": "cloud_export", "path": "/abs/aws.json"}], "/srv/inv")
    assert specs[0].path == "/abs/aws.json"
