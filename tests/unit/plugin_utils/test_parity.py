"""PII access-control parity: a staging PII host guarded more loosely than production is named control by
control; production hosts that disagree, or none at all, leave no baseline and are an error."""

import pytest

from ansible_collections.changeward.hybrid.plugins.plugin_utils.parity import (
    ParityError,
    check,
    parse_firewall,
    parse_sshd,
)

SSHD = (
    "port 22\npermitrootlogin prohibit-password\npasswordauthentication no\npubkeyauthentication yes\n"
    "allowgroups ops dba\n"
)


def controls(sshd=SSHD, policy="DROP"):
    return {**parse_sshd(sshd), **parse_firewall(f"-P INPUT {policy}\n-A INPUT -p tcp --dport 22 -j ACCEPT\n")}


def host(name, stage, data_class="pii", **kwargs):
    return {"name": name, "stage": stage, "data_class": data_class, "controls": controls(**kwargs)}


def test_staging_that_matches_production_passes_and_hosts_without_pii_are_not_compared():
    result = check(
        [
            host("p1", "production"),
            host("p2", "production"),
            host("s1", "staging"),
            host("s2", "staging", data_class="none", policy="ACCEPT"),
        ]
    )
    assert result["passed"] and result["staging_hosts"] == ["s1"]
    assert result["baseline"]["sshd.allowgroups"] == "dba ops"


def test_a_looser_staging_host_is_named_control_by_control():
    loose = SSHD.replace("passwordauthentication no", "passwordauthentication yes").replace("allowgroups ops dba\n", "")
    result = check([host("p1", "production"), host("s1", "staging", sshd=loose, policy="ACCEPT")])
    assert not result["passed"]
    assert [(f["host"], f["control"], f["production"], f["staging"]) for f in result["findings"]] == [
        ("s1", "firewall.input_policy", "DROP", "ACCEPT"),
        ("s1", "sshd.allowgroups", "dba ops", "(unset)"),
        ("s1", "sshd.passwordauthentication", "no", "yes"),
    ]


def test_no_baseline_is_an_error_not_a_pass():
    with pytest.raises(ParityError, match="no production host with data_class pii"):
        check([host("s1", "staging")])
    with pytest.raises(ParityError, match=r"disagree on firewall\.input_policy"):
        check([host("p1", "production"), host("p2", "production", policy="ACCEPT"), host("s1", "staging")])
    with pytest.raises(ParityError, match="no policy line"):
        parse_firewall("")


def test_the_action_reads_labels_stages_and_gathered_output_and_fails_on_a_difference():
    from action_runner import run_action

    from ansible_collections.changeward.hybrid.plugins.action.pii_parity import ActionModule

    def hv(stage, data_class="pii", policy="DROP", gathered=True):
        out = {"changeward_stage": stage, "changeward_labels": {"data_class": data_class}}
        if gathered:
            out["changeward_sshd"] = {"stdout": SSHD}
            out["changeward_firewall"] = {"stdout": f"-P INPUT {policy}\n"}
        return out

    hostvars = {
        "p1": hv("production"),
        "s1": hv("staging", policy="ACCEPT"),
        "s2": hv("staging", "none", gathered=False),
    }
    result = run_action(ActionModule, "pii_parity", {"hosts": ["p1", "s1", "s2"]}, {"hostvars": hostvars})
    assert result["failed"]
    assert result["msg"] == (
        "pii_parity: staging PII hosts guarded unlike production: s1 firewall.input_policy=ACCEPT (production DROP)"
    )
    hostvars["s1"] = hv("staging", gathered=False)
    missing = run_action(ActionModule, "pii_parity", {"hosts": ["p1", "s1"]}, {"hostvars": hostvars})
    assert missing["failed"] and "s1 holds pii but has no changeward_sshd" in missing["msg"]
