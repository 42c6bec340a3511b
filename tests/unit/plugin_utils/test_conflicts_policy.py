"""The gate policy's conflicts section: defaults, schema, and a regional layer that may only tighten it."""

import pytest

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
        ({"conflicts": {"decisions": {"changes": "warn"}}}, r"changes: 'warn' is not one of \['refuse'\]"),
        ({"conflicts": {"change_duration": "30m"}}, "may only lengthen it"),
        ({"conflicts": {"http_timeout": 60}}, "may not set http_timeout"),
        ({"conflicts": {"saas_dependencies": {"payfast": {"health": "https://x.example/"}}}}, "not change one"),
    ],
)
def test_a_regional_layer_cannot_loosen(local, message):
    with pytest.raises(gp.PolicyError, match=message):
        gp.effective_policy(CENTRAL, [(local, "eu layer")])


def test_an_unknown_feed_format_is_refused_by_the_schema():
    bad = {**CENTRAL, "conflicts": {"feeds": [{"format": "oci_events", "src": "x"}]}}
    with pytest.raises(gp.PolicyError, match=r"conflicts\.feeds\[0\]\.format"):
        gp.effective_policy(bad)
