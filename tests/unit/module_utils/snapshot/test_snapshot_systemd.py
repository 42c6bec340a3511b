"""Boot enablement with a real systemctl against a scratch root (``systemctl --root``): no running
systemd is needed for unit file state. Whether a unit runs needs the manager and is not tested here."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from snaphelpers import RUNNER, write

from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot import capture, services
from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot.errors import CommandError

HAVE_SYSTEMCTL = bool(shutil.which("systemctl"))
# CI installs systemd (scripts/bootstrap.sh), so there a missing systemctl fails these tests instead of hiding them.
pytestmark = pytest.mark.skipif(
    not HAVE_SYSTEMCTL and not os.environ.get("CI"),
    reason="systemctl is not installed (Debian package systemd, installed by scripts/bootstrap.sh)",
)
SVC = "cw-demo"
UNIT = """\
[Unit]
Description=snapshot test unit
[Service]
ExecStart=/bin/true
[Install]
WantedBy=multi-user.target
"""


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "host"
    write(str(r / f"usr/lib/systemd/system/{SVC}.service"), UNIT)
    write(str(r / "usr/lib/systemd/system/cw-static.service"), "[Service]\nExecStart=/bin/true\n")
    (r / "etc/systemd/system").mkdir(parents=True)
    return r


def systemctl(root, *args):
    subprocess.run(["systemctl", f"--root={root}", *args], check=True, capture_output=True)


def boot_links(root):
    """The test's own reading: every symlink under /etc/systemd/system, relative path -> target."""
    base = Path(root, "etc/systemd/system")
    return {str(p.relative_to(base)): os.readlink(p) for p in sorted(base.rglob("*")) if p.is_symlink()}


def test_unit_file_states_are_read_under_a_root(root):
    sd = services.Systemd(root=str(root), runner=RUNNER)
    assert sd.unit_file_state(SVC) == "disabled"
    assert sd.unit_file_state("cw-static") == "static"
    assert sd.unit_file_state("cw-missing") == "not-found"

    systemctl(root, "enable", SVC)
    wants = "multi-user.target.wants/cw-demo.service"
    assert boot_links(root) == {wants: f"/usr/lib/systemd/system/{SVC}.service"}
    assert sd.enablement(SVC) == {
        "name": SVC,
        "backend": "systemd",
        "present": True,
        "enabled": True,
        "unit_file_state": "enabled",
        "links": [[f"/etc/systemd/system/{wants}", f"/usr/lib/systemd/system/{SVC}.service"]],
    }
    systemctl(root, "mask", SVC)
    assert sd.unit_file_state(SVC) == "masked"
    assert sd.enablement("cw-missing")["present"] is False


def test_running_state_needs_the_manager_and_is_refused_under_a_root(root):
    sd = services.Systemd(root=str(root), runner=RUNNER)
    for call in (sd.query, sd.start, sd.stop):
        with pytest.raises(CommandError, match="needs the running service manager"):
            call(SVC)
    # and the core never picks systemd for a scratch root
    assert services.Systemd.available(str(root)) is False


@pytest.mark.parametrize(
    ("before", "change"),
    [
        ("enabled", ["disable"]),
        ("disabled", ["enable"]),
        ("enabled", ["mask"]),
        ("masked", ["unmask", "enable"]),
        ("disabled", ["mask"]),
        ("masked", ["unmask"]),
    ],
)
def test_enablement_is_restored_exactly(root, before, change):
    setup = {"enabled": ["enable"], "disabled": [], "masked": ["mask"]}[before]
    for verb in setup:
        systemctl(root, verb, SVC)
    sd = services.Systemd(root=str(root), runner=RUNNER)
    target = sd.enablement(SVC)
    assert target["unit_file_state"] == before
    links_before = boot_links(root)
    for verb in change:
        systemctl(root, verb, SVC)
    assert boot_links(root) != links_before
    assert not sd.enablement_matches(target, sd.enablement(SVC))

    sd.set_enablement(target)

    assert boot_links(root) == links_before
    assert sd.unit_file_state(SVC) == before
    assert sd.enablement_matches(target, sd.enablement(SVC))


def test_links_outside_the_install_section_are_put_back(root):
    # an administrator's own link: enable alone would not recreate it
    os.makedirs(root / "etc/systemd/system/graphical.target.wants")
    os.symlink(
        f"/usr/lib/systemd/system/{SVC}.service", root / f"etc/systemd/system/graphical.target.wants/{SVC}.service"
    )
    systemctl(root, "enable", SVC)
    sd = services.Systemd(root=str(root), runner=RUNNER)
    target = sd.enablement(SVC)
    links_before = boot_links(root)
    assert len(links_before) == 2
    systemctl(root, "disable", SVC)
    assert boot_links(root) == {}

    sd.set_enablement(target)

    assert boot_links(root) == links_before
    assert sd.enablement_matches(target, sd.enablement(SVC))


def test_a_unit_the_change_added_is_no_longer_pulled_in(root):
    sd = services.Systemd(root=str(root), runner=RUNNER)
    target = sd.enablement("cw-new")
    assert target["present"] is False and target["unit_file_state"] == "not-found"
    write(str(root / "etc/systemd/system/cw-new.service"), UNIT)
    systemctl(root, "enable", "cw-new")
    assert not sd.enablement_matches(target, sd.enablement("cw-new"))

    sd.set_enablement(target)

    assert boot_links(root) == {}  # the unit file itself is for the files step, as with an LSB script
    assert sd.enablement_matches(target, sd.enablement("cw-new"))


def test_links_left_by_a_removed_unit_file_are_removed(root):
    # rollback restores files before enablement: the unit file is gone, its wants link is not
    sd = services.Systemd(root=str(root), runner=RUNNER)
    target = sd.enablement("cw-new")
    write(str(root / "usr/lib/systemd/system/cw-new.service"), UNIT)
    systemctl(root, "enable", "cw-new")
    os.unlink(root / "usr/lib/systemd/system/cw-new.service")
    assert sd.unit_file_state("cw-new") == "not-found"
    assert sd.links("cw-new")  # dangling
    assert not sd.enablement_matches(target, sd.enablement("cw-new"))

    sd.set_enablement(target)

    assert boot_links(root) == {}
    assert sd.enablement_matches(target, sd.enablement("cw-new"))


def test_a_missing_unit_recorded_as_unknown_by_older_snapshots_counts_as_not_found(root):
    sd = services.Systemd(root=str(root), runner=RUNNER)
    old = {"name": "cw-new", "backend": "systemd", "present": False, "active": False, "enabled": False}
    old["unit_file_state"] = "unknown"
    write(str(root / "usr/lib/systemd/system/cw-new.service"), UNIT)
    systemctl(root, "enable", "cw-new")
    assert not sd.enablement_matches(old, sd.enablement("cw-new"))
    sd.set_enablement(old)
    assert sd.unit_file_state("cw-new") == "disabled" and boot_links(root) == {}


def test_states_that_cannot_be_set_are_left_alone(root):
    sd = services.Systemd(root=str(root), runner=RUNNER)
    target = sd.enablement("cw-static")
    assert target["unit_file_state"] == "static"
    sd.set_enablement(target)
    assert boot_links(root) == {}
    assert sd.enablement_matches(target, sd.enablement("cw-static"))


def test_a_state_rollback_cannot_set_is_reported_not_covered(root, monkeypatch):
    # A unit file linked in from outside the unit paths is "linked": enable/disable cannot recreate that.
    write(str(root / "opt/app/cw-linked.service"), UNIT.replace("snapshot test unit", "linked unit"))
    systemctl(root, "link", "/opt/app/cw-linked.service")
    sd = services.Systemd(root=str(root), runner=RUNNER)
    linked = sd.enablement("cw-linked")
    assert linked["unit_file_state"] == "linked"
    assert "'linked'" in sd.not_restorable(linked)
    for name in (SVC, "cw-static", "cw-missing"):  # disabled, static, not-found: nothing withheld
        assert sd.not_restorable(sd.enablement(name)) is None

    # The capture lists it in not_covered and still keeps the service's entry (its running state).
    def query(svc):
        return dict(sd.enablement(svc), active=False)

    monkeypatch.setattr(sd, "query", query)
    monkeypatch.setattr(capture.sv, "detect", lambda root="/", runner=None: sd)
    planned = capture.plan({"services": ["cw-linked", SVC]}, store=str(root / "store"))
    assert sorted(s["name"] for s in planned["services"]) == sorted(["cw-linked", SVC])
    assert [(n["kind"], n["name"]) for n in planned["not_covered"]] == [("service", "cw-linked")]
