"""The gate policy's conflicts section: defaults, schema, and a regional layer that may only tighten it."""

import pytest

from ansible_collections.changeward.hybrid.plugins.plugin_utils.policy import conflicts_policy
from ansible_collections.changeward.hybrid.plugins.plugin_utils.policy import gate_policy as gp

CENTRAL = {
    "api_version": gp.API_VERSION,
    "conflicts": {
        "decisions": {"blackout": "warn"},
        "change_duration": "2h",
        "feeds": [{"name": "aws", "format": "aws_health", "src": "https://feeds.example/aws.json"}],
        "saas_dependencies": {"payfast": {"statuspage": "https://status.payfast.example/api/v2/summary.json"}},
    },
}


def test_defaults_refuse_maintenance_changes_and_saas_and_warn_otherwise():
    decisions = gp.effective_policy(None).conflicts["decisions"]
    assert decisions == {
        "provider_maintenance": "refuse",
        "changes": "refuse",
        "blackout": "warn",
        "saas": "refuse",
        "unchecked_providers": "warn",
    }


def test_a_regional_layer_tightens_and_adds_feeds_and_dependencies():
    local = {
        "conflicts": {
            "decisions": {"blackout": "refuse"},
            "change_duration": "4h",
            "feeds": [{"format": "azure_scheduled_events", "src": "https://imds-relay.example/westeurope.json"}],
            "saas_dependencies": {"search": {"health": "https://search.example/healthz"}},
        }
    }
    section = gp.effective_policy(CENTRAL, [(local, "eu layer")]).conflicts
    assert section["decisions"]["blackout"] == "refuse"
    assert section["change_duration"] == "4h"
    assert [f["format"] for f in section["feeds"]] == ["aws_health", "azure_scheduled_events"]
    assert sorted(section["saas_dependencies"]) == ["payfast", "search"]


@pytest.mark.parametrize(
    ("local", "message"),
    [
        (
            {"conflicts": {"decisions": {"changes": "warn"}}},
            r"eu layer\.conflicts\.decisions\.changes: warn - a regional layer may only tighten a decision to refuse, "
            r"never relax one \(the central policy says refuse; only the central policy may warn\)",
        ),
        ({"conflicts": {"change_duration": "30m"}}, "may only lengthen it"),
        ({"conflicts": {"http_timeout": 60}}, "may not set http_timeout"),
        ({"conflicts": {"saas_dependencies": {"payfast": {"health": "https://x.example/"}}}}, "not change one"),
    ],
)
def test_a_regional_layer_cannot_loosen(local, message):
    with pytest.raises(gp.PolicyError, match=message):
        gp.effective_policy(CENTRAL, [(local, "eu layer")])


def test_a_regional_warn_is_refused_with_its_reason_even_where_the_central_policy_warns():
    central = {**CENTRAL, "conflicts": {"decisions": {"blackout": "warn"}}}
    with pytest.raises(gp.PolicyError, match="the central policy says warn; only the central policy may warn") as err:
        gp.effective_policy(central, [({"conflicts": {"decisions": {"blackout": "warn"}}}, "eu layer")])
    assert "is not one of" not in str(err.value)


def test_combining_never_merges_a_relaxed_decision():
    merged = {"conflicts": conflicts_policy.with_defaults(None)}
    problems = conflicts_policy.combine(merged, {"conflicts": {"decisions": {"changes": "warn"}}}, "eu layer")
    assert problems == ["eu layer.conflicts.decisions: changes - a regional layer may only set refuse"]
    assert merged["conflicts"]["decisions"]["changes"] == "refuse"


def test_the_aws_health_api_keys_are_in_the_schema():
    api = {"name": "health", "format": "aws_health", "src": "aws:health", "profile": "ops"}
    api["endpoint_url"] = "https://health.us-east-2.amazonaws.com"
    section = gp.effective_policy({**CENTRAL, "conflicts": {"feeds": [api]}}).conflicts
    assert section["feeds"] == [api]
    bad = {**CENTRAL, "conflicts": {"feeds": [{**api, "endpoint_url": "health.example"}]}}
    with pytest.raises(gp.PolicyError, match=r"endpoint_url"):
        gp.effective_policy(bad)


def test_an_unknown_feed_format_is_refused_by_the_schema():
    bad = {**CENTRAL, "conflicts": {"feeds": [{"format": "oci_events", "src": "x"}]}}
    with pytest.raises(gp.PolicyError, match=r"conflicts\.feeds\[0\]\.format"):
        gp.effective_policy(bad)
