"""The manifest seal: any edit to any item, or to the manifest itself, is detected."""

import copy

import pytest

from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot import manifest as mf
from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot.errors import ManifestError, ScopeError


def sample():
    return mf.seal(
        {
            "format": mf.FORMAT,
            "snapshot_id": "CHG-1.20250101T000000000000Z.abcdef",
            "change_id": "CHG-1",
            "created": "2025-01-01T00:00:00.000000Z",
            "created_epoch": 1735689600.0,
            "items": [{"kind": "file", "path": "/etc/a", "mode": 0o644, "uid": 0, "gid": 0, "sha256": "0" * 64}],
            "packages": [{"name": "nginx", "state": "installed", "version": "1.22"}],
            "services": [{"name": "nginx", "active": True}],
            "verify": [{"name": "v", "cmd": "true", "rc": 0, "stdout_sha256": "1" * 64}],
        }
    )


def test_sealed_manifest_checks_out():
    m = sample()
    assert mf.check(copy.deepcopy(m), "x") == m
    assert all(len(i["digest"]) == 64 for s in ("items", "packages", "services", "verify") for i in m[s])


@pytest.mark.parametrize(
    "edit",
    [
        lambda m: m["items"][0].update(mode=0o777),
        lambda m: m["packages"][0].update(version="1.24"),
        lambda m: m["services"][0].update(active=False),
        lambda m: m["verify"][0].update(rc=1),
        lambda m: m.update(change_id="CHG-2"),
        lambda m: m["items"].append(dict(m["items"][0], path="/etc/b")),
        lambda m: m.update(complete=False),
        lambda m: m.update(format="changeward.snapshot/0"),
    ],
)
def test_any_edit_is_detected(edit):
    m = sample()
    edit(m)
    with pytest.raises(ManifestError):
        mf.check(m, "x")


def test_new_snapshot_ids_are_usable_and_unique():
    ids = {mf.new_snapshot_id("CHG-1") for _unused in range(50)}
    assert len(ids) == 50
    for sid in ids:
        assert mf.check_snapshot_id(sid) == sid and sid.startswith("CHG-1.")


@pytest.mark.parametrize("bad", ["../x", "a/b", "x.partial", "x.tar", "", ".x"])
def test_unusable_snapshot_ids_are_refused(bad):
    with pytest.raises(ScopeError):
        mf.check_snapshot_id(bad)
