import pytest

from ansible_collections.changeward.hybrid.plugins.plugin_utils import labels as L


@pytest.mark.parametrize(
    ("label", "raw", "expected"),
    [
        ("env_type", " Cloud ", "cloud"),
        ("env_type", "EDGE", "edge"),
        ("rollback_capability", "Partial", "partial"),
        ("criticality", "CRITICAL", "critical"),
        ("data_class", "PII", "pii"),
        ("region", " EU-West-1 ", "eu-west-1"),
        ("provider", "bare-metal", "bare-metal"),
        ("owner_team", "SRE-EU@example.com", "sre-eu@example.com"),
        ("ring", 0, 0),
        ("ring", "2", 2),
        ("ring", " Canary ", "canary"),
    ],
)
def test_normalize_label_canonical_forms(label, raw, expected):
    assert L.normalize_label(label, raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("demo,web", ["demo", "web"]),
        ("web, demo ,WEB,,", ["demo", "web"]),
        (["web", "Demo", "web"], ["demo", "web"]),
        ("", []),
        ([], []),
    ],
)
def test_services_become_a_sorted_unique_list(raw, expected):
    assert L.normalize_label("services", raw) == expected


@pytest.mark.parametrize(
    ("label", "raw", "allowed_part"),
    [
        ("env_type", "hybrid", "cloud, onprem, edge"),
        ("rollback_capability", "maybe", "full, partial, none"),
        ("rollback_capability", False, "full, partial, none"),  # YAML `no`
        ("criticality", "urgent", "low, medium, high, critical"),
        ("data_class", "secret", "none, internal, pii, pci, phi"),
        ("region", "eu west 1", "lowercase letters"),
        ("tenant", "{{ lookup('pipe', 'id') }}", "lowercase letters"),
        ("ring", -1, "integer >= 0"),
        ("ring", True, "integer >= 0"),
        ("ring", "-3", "integer >= 0"),
        ("services", "web,bad name", "list of names"),
        ("services", 5, "list of names"),
        ("services", ["web", 3], "list of names"),
    ],
)
def test_invalid_values_name_label_value_and_allowed(label, raw, allowed_part):
    with pytest.raises(L.LabelError) as err:
        L.normalize_label(label, raw)
    message = str(err.value.with_context(host="h1", origin="file x"))
    assert "host 'h1'" in message
    assert repr(label) in message
    assert allowed_part in message
    assert "file x" in message
    assert err.value.label == label


def test_invalid_message_contains_the_bad_value():
    with pytest.raises(L.LabelError) as err:
        L.normalize_label("rollback_capability", "maybe")
    assert "'maybe'" in str(err.value)


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_empty_values_are_refused(raw):
    with pytest.raises(L.LabelError):
        L.normalize_label("tenant", raw)


def test_unknown_label_is_refused():
    with pytest.raises(L.LabelError, match="not a known label"):
        L.normalize_label("critcality", "high")


def test_normalize_labels_collects_every_error_and_keeps_the_good_ones():
    labels, errors = L.normalize_labels(
        {"Tenant": "ACME", "criticality": "urgent", "colour": "blue", "rollback_capability": "full"}, host="h1"
    )
    assert labels == {"tenant": "acme", "rollback_capability": "full"}
    assert sorted(e.label for e in errors) == ["colour", "criticality"]
    assert all(e.host == "h1" for e in errors)


def test_normalize_labels_can_ignore_keys_outside_the_vocabulary():
    labels, errors = L.normalize_labels({"Name": "web-1", "CostCenter": "42", "tenant": "acme"}, ignore_unknown=True)
    assert labels == {"tenant": "acme"}
    assert errors == []


def test_normalize_labels_refuses_a_key_given_twice_with_different_values():
    _unused, errors = L.normalize_labels({"Tenant": "acme", "tenant": "globex"}, host="h1")
    assert [e.label for e in errors] == ["tenant"]
    assert "acme" in str(errors[0])
    assert "globex" in str(errors[0])


def test_normalize_labels_refuses_a_non_mapping():
    labels, errors = L.normalize_labels(["tenant"], host="h1")
    assert labels == {}
    assert len(errors) == 1


def test_every_default_is_applied_and_documented_values_hold():
    complete, errors = L.complete_labels({"env_type": "onprem", "provider": "vmware", "region": "r", "site": "dc1"})
    assert errors == []
    assert complete["rollback_capability"] == "none"
    assert complete["criticality"] == "medium"
    assert complete["data_class"] == "none"
    assert complete["services"] == []
    for optional in ("az", "tenant", "ring", "owner_team"):
        assert complete[optional] is None
    assert list(complete) == list(L.LABELS)


def test_explicit_values_beat_defaults():
    complete, errors = L.complete_labels(
        {
            "env_type": "edge",
            "provider": "p",
            "region": "r",
            "site": "s",
            "rollback_capability": "full",
            "criticality": "low",
            "data_class": "pii",
            "services": ["web"],
        }
    )
    assert errors == []
    assert (complete["rollback_capability"], complete["criticality"], complete["data_class"]) == ("full", "low", "pii")
    assert complete["services"] == ["web"]


def test_default_services_list_is_not_shared_between_hosts():
    first, _unused = L.complete_labels({"env_type": "edge"})
    first["services"].append("web")
    second, _unused = L.complete_labels({"env_type": "edge"})
    assert second["services"] == []


@pytest.mark.parametrize(
    ("env_type", "missing"),
    [("cloud", "az"), ("onprem", "site"), ("edge", "site")],
)
def test_required_labels_depend_on_env_type(env_type, missing):
    labels = {"env_type": env_type, "provider": "p", "region": "r", "az": "a", "site": "s"}
    del labels[missing]
    _unused, errors = L.complete_labels(labels, host="h1")
    assert [e.label for e in errors] == [missing]
    assert f"env_type {env_type}" in str(errors[0])
    assert "host 'h1'" in str(errors[0])


def test_env_type_provider_and_region_are_always_required():
    _unused, errors = L.complete_labels({}, host="h1")
    assert sorted(e.label for e in errors) == ["env_type", "provider", "region"]


def test_default_group_names():
    complete, _unused = L.complete_labels(
        {
            "env_type": "cloud",
            "provider": "aws",
            "region": "eu-west-1",
            "az": "eu-west-1a",
            "tenant": "acme",
            "ring": 0,
            "services": ["demo", "web"],
        }
    )
    assert sorted(L.default_group_names(complete)) == sorted(
        [
            "cloud",
            "region_eu-west-1",
            "az_eu-west-1a",
            "tenant_acme",
            "provider_aws",
            "criticality_medium",
            "data_class_none",
            "rollback_none",
            "ring_0",
            "service_demo",
            "service_web",
        ]
    )


def test_no_group_for_unset_optional_labels():
    complete, _unused = L.complete_labels({"env_type": "edge", "provider": "p", "region": "r", "site": "s"})
    names = L.default_group_names(complete)
    assert not [n for n in names if n.startswith(("ring_", "tenant_", "az_", "service_"))]
    assert "site_s" in names
