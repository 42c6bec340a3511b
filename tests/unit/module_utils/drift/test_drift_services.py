"""Services: LSB init scripts (real scripts in a scratch root) and systemd (systemctl output)."""

import os

from drifthelpers import run, write

from ansible_collections.changeward.hybrid.plugins.module_utils.drift import services
from ansible_collections.changeward.hybrid.plugins.module_utils.drift.findings import Findings


def lsb_root(tmp_path, status_rc, enabled=True, name="svc"):
    write(tmp_path / f"etc/init.d/{name}", f"#!/bin/sh\n[ \"$1\" = status ] && exit {status_rc}\nexit 0\n", 0o755)
    os.makedirs(tmp_path / "etc/rc2.d", exist_ok=True)
    if enabled:
        os.symlink(f"../init.d/{name}", tmp_path / f"etc/rc2.d/S01{name}")
    else:
        os.symlink(f"../init.d/{name}", tmp_path / f"etc/rc2.d/K01{name}")
    return str(tmp_path)


def check(root, specs, runner=run):
    out = Findings()
    services.check_services(out, specs, runner, root=root)
    return out


def test_lsb_running_and_enabled_is_in_sync(tmp_path):
    out = check(lsb_root(tmp_path, 0), [{"name": "svc", "state": "running", "enabled": True}])
    assert out.drift == [] and out.unknown == [] and out.checked["service"] == 1


def test_lsb_stopped_and_disabled_are_drift(tmp_path):
    out = check(lsb_root(tmp_path, 3, enabled=False), [{"name": "svc", "state": "running", "enabled": True}])
    assert out.drift == [
        {"class": "service", "item": "svc", "attribute": "state", "expected": "running", "actual": "stopped"},
        {"class": "service", "item": "svc", "attribute": "enabled", "expected": True, "actual": False},
    ]


def test_lsb_status_outside_the_standard_is_unknown(tmp_path):
    out = check(lsb_root(tmp_path, 4), [{"name": "svc", "state": "running", "enabled": None}])
    assert out.drift == [] and out.status() == "unknown"
    assert "exited 4" in out.unknown[0]["reason"]


def test_missing_service(tmp_path):
    os.makedirs(tmp_path / "etc/init.d")
    out = check(str(tmp_path), [{"name": "ghost", "state": "running", "enabled": None}])
    assert out.drift == [
        {"class": "service", "item": "ghost", "attribute": "state", "expected": "running", "actual": "absent"}
    ]
    # absent satisfies stopped and disabled
    out = check(str(tmp_path), [{"name": "ghost", "state": "stopped", "enabled": False}])
    assert out.drift == [] and out.unknown == []


def test_systemd_show_output(tmp_path, monkeypatch):
    os.makedirs(tmp_path / "run/systemd/system")
    monkeypatch.setattr(services, "which", lambda name, path=None: "/bin/systemctl")
    blocks = [
        "Id=nginx.service\nLoadState=loaded\nActiveState=active\nUnitFileState=enabled",
        "Id=cron.service\nLoadState=loaded\nActiveState=inactive\nUnitFileState=disabled",
        "Id=ghost.service\nLoadState=not-found\nActiveState=inactive\nUnitFileState=",
        "Id=odd.service\nLoadState=loaded\nActiveState=weird\nUnitFileState=bad",
    ]
    calls = []

    def fake(argv, timeout=10):
        calls.append(argv)
        return 0, "\n\n".join(blocks) + "\n", ""

    specs = [
        {"name": "nginx", "state": "running", "enabled": True},
        {"name": "cron", "state": "running", "enabled": True},
        {"name": "ghost", "state": "running", "enabled": None},
        {"name": "odd", "state": "running", "enabled": True},
    ]
    out = Findings()
    services.check_services(out, specs, fake, root=str(tmp_path))
    assert calls[0][-4:] == ["nginx.service", "cron.service", "ghost.service", "odd.service"]
    assert [(f["item"], f["attribute"], f["actual"]) for f in out.drift] == [
        ("cron", "state", "stopped"),
        ("cron", "enabled", False),
        ("ghost", "state", "absent"),
    ]
    assert {(u["item"]) for u in out.unknown} == {"odd"}


def test_systemctl_failure_makes_every_service_unknown(tmp_path, monkeypatch):
    os.makedirs(tmp_path / "run/systemd/system")
    monkeypatch.setattr(services, "which", lambda name, path=None: "/bin/systemctl")
    out = Findings()
    services.check_services(
        out,
        [{"name": "a", "state": "running", "enabled": None}],
        lambda argv, timeout=10: (1, "", "no bus"),
        root=str(tmp_path),
    )
    assert out.drift == [] and [u["item"] for u in out.unknown] == ["a"]
