"""The one label lookup: changeward_labels.<label>, else the host variable, else the default - for every plugin."""

from ansible_collections.changeward.hybrid.plugins.plugin_utils.labels import host_label, host_labels
from ansible_collections.changeward.hybrid.plugins.plugin_utils.rings import host_from_vars
from ansible_collections.changeward.hybrid.plugins.plugin_utils.risk import target_from_vars

HV = {
    "changeward_labels": {"env_type": "cloud", "region": "eu-west-1", "az": "", "rollback_capability": "full"},
    "az": "eu-west-1a",  # changeward_labels has it empty: the plain variable counts
    "criticality": "high",  # not in changeward_labels at all
    "rollback_capability": "none",  # changeward_labels wins
}


def test_changeward_labels_first_then_the_variable_then_the_default():
    assert host_label(HV, "rollback_capability") == "full"
    assert host_label(HV, "az") == "eu-west-1a"
    assert host_label(HV, "criticality") == "high"
    assert host_label(HV, "site") is None
    assert host_label(HV, "site", "none") == "none"
    assert host_label({"changeward_labels": None, "region": "x"}, "region") == "x"


def test_host_labels_collects_what_the_host_has():
    assert host_labels(HV, ("env_type", "az", "site")) == {"env_type": "cloud", "az": "eu-west-1a"}


def test_rings_and_risk_read_labels_the_same_way():
    host = host_from_vars("h1", HV)
    target = target_from_vars("h1", HV)
    assert (host.rollback_capability, target.labels["rollback_capability"]) == ("full", "full")
    assert target.labels["criticality"] == "high"  # the risk score read only changeward_labels before
    assert target.labels["az"] == "eu-west-1a"
