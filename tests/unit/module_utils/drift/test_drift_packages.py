"""Packages: dpkg-query and rpm output parsing, errors as unknown, and a real read-only dpkg query."""

import shutil

import pytest
from drifthelpers import run

from ansible_collections.changeward.hybrid.plugins.module_utils.drift import packages
from ansible_collections.changeward.hybrid.plugins.module_utils.drift.errors import CommandError
from ansible_collections.changeward.hybrid.plugins.module_utils.drift.findings import Findings


class Fake:
    def __init__(self, rc, out, err=""):
        self.answer = (rc, out, err)
        self.calls = []

    def __call__(self, argv, timeout=10):
        self.calls.append(argv)
        return self.answer


def test_dpkg_versions_states_and_unknown_names():
    fake = Fake(
        1, "nginx\tii \t1.22.1-9\nold\trc \t2.0\nheld\thi \t3.1\n", "dpkg-query: no packages found matching gone\n"
    )
    assert packages.query_dpkg(fake, ["nginx", "old", "held", "gone"], 5, "/usr/bin/dpkg-query") == {
        "nginx": "1.22.1-9",
        "old": None,  # config files only: not installed
        "held": "3.1",
        "gone": None,
    }
    assert fake.calls[0][-4:] == ["nginx", "old", "held", "gone"]


def test_dpkg_other_errors_are_errors():
    with pytest.raises(CommandError):
        packages.query_dpkg(Fake(1, "", "dpkg-query: error: database is locked\n"), ["x"], 5, "dpkg-query")
    with pytest.raises(CommandError):
        packages.query_dpkg(Fake(2, "", "boom"), ["x"], 5, "dpkg-query")


def test_rpm_epochs_and_missing_packages():
    fake = Fake(1, "bash\t(none)\t5.1.8-6.el9\nkernel\t1\t5.14-1\nzlib\t0\t1.2-3\npackage gone is not installed\n")
    found = packages.query_rpm(fake, ["bash", "kernel", "zlib", "gone"], 5, "rpm")
    assert found == {"bash": "5.1.8-6.el9", "kernel": "1:5.14-1", "zlib": "0:1.2-3", "gone": None}
    assert packages.version_matches("1.2-3", found["zlib"])
    assert not packages.version_matches("5.14-1", found["kernel"])
    with pytest.raises(CommandError):
        packages.query_rpm(Fake(3, "bash\t(none)\t1-1\n"), ["bash"], 5, "rpm")  # rc says 3 missing, saw 0


def test_check_packages_findings(monkeypatch):
    monkeypatch.setattr(
        packages, "which", lambda name, path=None: "/usr/bin/dpkg-query" if name == "dpkg-query" else None
    )
    fake = Fake(1, "a\tii \t1.0-1\nb\tii \t2.0\n", "dpkg-query: no packages found matching c\n")
    out = Findings()
    packages.check_packages(
        out,
        [
            {"name": "a", "state": "present", "version": "2.0-1"},
            {"name": "b", "state": "absent", "version": None},
            {"name": "c", "state": "present", "version": None},
        ],
        fake,
    )
    assert out.drift == [
        {"class": "package", "item": "a", "attribute": "version", "expected": "2.0-1", "actual": "1.0-1"},
        {"class": "package", "item": "b", "attribute": "state", "expected": "absent", "actual": "present"},
        {"class": "package", "item": "c", "attribute": "state", "expected": "present", "actual": "absent"},
    ]


def test_no_package_manager_is_unknown(monkeypatch):
    monkeypatch.setattr(packages, "which", lambda name, path=None: None)
    out = Findings()
    packages.check_packages(out, [{"name": "a", "state": "present", "version": None}], Fake(0, ""))
    assert out.drift == [] and out.status() == "unknown"
    assert "no package manager" in out.unknown[0]["reason"]


@pytest.mark.skipif(not shutil.which("dpkg-query"), reason="needs dpkg")
def test_real_dpkg_query_reads_this_machine():
    out = Findings()
    bash = run(["dpkg-query", "-W", "-f", "${Version}", "bash"])[1]
    packages.check_packages(
        out,
        [
            {"name": "bash", "state": "present", "version": bash},
            {"name": "cw-no-such-package-xyz", "state": "absent", "version": None},
        ],
        run,
    )
    assert out.drift == [] and out.unknown == []
    packages.check_packages(out, [{"name": "bash", "state": "present", "version": bash + "x"}], run)
    assert out.drift[0]["actual"] == bash
