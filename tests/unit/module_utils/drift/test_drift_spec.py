"""Baseline validation: canonical form, defaults and located errors."""

import pytest

from ansible_collections.changeward.hybrid.plugins.module_utils.drift.errors import BaselineError
from ansible_collections.changeward.hybrid.plugins.module_utils.drift.spec import digest, normalise


def test_defaults_are_filled_and_every_section_present():
    spec = normalise({"files": [{"path": "/etc//motd/", "mode": 0o644}], "packages": [{"name": "nginx"}]})
    assert spec["files"] == [
        {
            "path": "/etc/motd",
            "state": "file",
            "mode": "0644",
            "owner": None,
            "group": None,
            "sha256": None,
            "target": None,
        }
    ]
    assert spec["packages"] == [{"name": "nginx", "state": "present", "version": None}]
    assert spec["services"] == [] and spec["users"] == [] and spec["ports"] == []


@pytest.mark.parametrize("mode, text", [("0644", "0644"), ("644", "0644"), (0o600, "0600"), ("2755", "2755")])
def test_modes(mode, text):
    assert normalise({"files": [{"path": "/x", "mode": mode}]})["files"][0]["mode"] == text


@pytest.mark.parametrize(
    "baseline, where",
    [
        ({"filez": []}, "unknown section"),
        ({"files": [{"path": "relative"}]}, "files[0].path"),
        ({"files": [{"path": "/a/../b"}]}, "files[0].path"),
        ({"files": [{"path": "/x", "mode": "rw-r--r--"}]}, "files[0].mode"),
        ({"files": [{"path": "/x", "mode": True}]}, "files[0].mode"),
        ({"files": [{"path": "/x", "sha256": "abc"}]}, "files[0].sha256"),
        ({"files": [{"path": "/x", "colour": "red"}]}, "unknown key"),
        ({"files": [{"path": "/x", "state": "absent", "mode": "0644"}]}, "an absent file"),
        ({"files": [{"path": "/x"}, {"path": "/x/"}]}, "already declared"),
        ({"files": [{"path": "/d/f"}], "trees": [{"path": "/d"}]}, "inside the declared tree"),
        ({"trees": [{"path": "/d", "entries": {"a/b": {}}}]}, "parent 'a' is not declared"),
        ({"trees": [{"path": "/d", "entries": {"../x": {}}}]}, "relative path inside the tree"),
        ({"services": [{"name": "nginx"}]}, "neither state nor enabled"),
        ({"services": [{"name": "nginx", "state": "started"}]}, "services[0].state"),
        ({"sysctls": [{"name": "net.ipv4.ip_forward"}]}, "sysctls[0].value"),
        ({"ports": [{"port": 70000}]}, "ports[0].port"),
        ({"ports": [{"port": 80, "address": "not-an-ip"}]}, "ports[0].address"),
        ({"users": [{"name": "app", "state": "absent", "uid": 5}]}, "an absent user"),
        ({"packages": [{"name": "x", "state": "absent", "version": "1"}]}, "an absent package"),
        ([], "must be a mapping"),
    ],
)
def test_malformed_baselines_are_refused_with_the_place(baseline, where):
    with pytest.raises(BaselineError, match=".*" + __import__("re").escape(where)):
        normalise(baseline)


def test_digest_is_stable_and_tracks_content():
    a = normalise({"files": [{"path": "/x", "mode": "644"}]})
    b = normalise({"files": [{"path": "/x/", "mode": 0o644}]})
    c = normalise({"files": [{"path": "/x", "mode": "600"}]})
    assert digest(a) == digest(b) != digest(c)
