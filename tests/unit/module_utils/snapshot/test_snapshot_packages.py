"""Package versions with a real dpkg: read-only queries on this machine, and full round trips in a
scratch root (``dpkg --root``) with packages built here by dpkg-deb, so the machine is never touched."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from snaphelpers import RUNNER, write

from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot import capture, packages, restore

pytestmark = pytest.mark.skipif(
    not (shutil.which("dpkg") and shutil.which("dpkg-deb") and os.path.isfile("/var/lib/dpkg/status")),
    reason="needs dpkg",
)
PKG = "cw-snapshot-demo"


def build_deb(out_dir, version):
    src = Path(out_dir, f"src-{version}")
    write(
        str(src / "DEBIAN/control"),
        f"Package: {PKG}\nVersion: {version}\nArchitecture: all\n"
        "Maintainer: changeward <ops@example.invalid>\nDescription: snapshot test package\n",
    )
    write(str(src / f"usr/share/{PKG}/version"), version + "\n")
    deb = Path(out_dir, f"{PKG}_{version}_all.deb")
    subprocess.run(["dpkg-deb", "-b", str(src), str(deb)], check=True, capture_output=True)
    return str(deb)


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "host"
    for d in ("var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers", "var/cache/apt/archives"):
        (r / d).mkdir(parents=True)
    (r / "var/lib/dpkg/status").touch()
    (r / "var/lib/dpkg/available").touch()
    return str(r)


def dpkg_install(root, deb):
    subprocess.run(["dpkg", f"--root={root}", "-i", deb], check=True, capture_output=True)


def installed_version(root):
    status = Path(root, "var/lib/dpkg/status").read_text()
    for block in status.split("\n\n"):
        if re.search(rf"^Package: {PKG}$", block, re.M) and re.search(r"^Status: install ok installed$", block, re.M):
            return re.search(r"^Version: (.+)$", block, re.M).group(1)
    return None


def system_status(name):
    """The test's own reading of /var/lib/dpkg/status for one package: (version, arch) or None."""
    for block in Path("/var/lib/dpkg/status").read_text().split("\n\n"):
        if re.search(rf"^Package: {re.escape(name)}$", block, re.M):
            if not re.search(r"^Status: install ok installed$", block, re.M):
                return None
            return (
                re.search(r"^Version: (.+)$", block, re.M).group(1),
                re.search(r"^Architecture: (.+)$", block, re.M).group(1),
            )
    return None


def test_query_of_a_real_installed_package_matches_the_status_file():
    dpkg = packages.Dpkg(runner=RUNNER)
    state = dpkg.query("dpkg")
    assert (state["version"], state["arch"]) == system_status("dpkg")
    assert state["state"] == "installed"
    assert dpkg.query("cw-surely-not-installed-pkg")["state"] == "absent"


def test_plan_for_a_real_package_reports_its_way_back_or_why_not():
    dpkg = packages.Dpkg(runner=RUNNER)
    entry = dpkg.plan("dpkg")
    version, arch = system_status("dpkg")
    cached = Path("/var/cache/apt/archives", "dpkg_{}_{}.deb".format(version.replace(":", "%3a"), arch))
    if cached.is_file():
        assert entry["source"]["method"] == "archive"
    else:
        assert entry["source"]["method"] in ("apt", "none")
        if entry["source"]["method"] == "none":
            assert version in entry["reason"] and "no archive" in entry["reason"]


def test_version_is_restored_from_the_archive_copied_into_the_snapshot(root, tmp_path):
    v1 = build_deb(str(tmp_path), "1.0-1")
    v2 = build_deb(str(tmp_path), "2.0-1")
    cached = shutil.copy(v1, os.path.join(root, "var/cache/apt/archives"))
    dpkg_install(root, cached)
    store = str(tmp_path / "store")
    taken = capture.take("CHG-PKG", {"packages": [PKG]}, store=store, min_free=0, root=root, runner=RUNNER)
    assert taken["coverage"] == "full", taken["not_covered"]
    os.unlink(cached)  # apt-get clean: the snapshot holds its own copy
    dpkg_install(root, v2)
    assert installed_version(root) == "2.0-1"

    result = restore.rollback(store=store, change_id="CHG-PKG", root=root, runner=RUNNER)

    assert installed_version(root) == "1.0-1"
    assert Path(root, f"usr/share/{PKG}/version").read_text() == "1.0-1\n"
    assert result["verified"] is True
    assert f"package:{PKG} (2.0-1 -> 1.0-1)" in result["restored"]
    again = restore.rollback(store=store, change_id="CHG-PKG", root=root, runner=RUNNER)
    assert again["changed"] is False and again["unchanged"] == [f"package:{PKG}"]


def test_version_without_any_archive_is_reported_and_not_faked(root, tmp_path):
    v1 = build_deb(str(tmp_path), "1.0-1")
    v2 = build_deb(str(tmp_path), "2.0-1")
    dpkg_install(root, v1)  # installed from a file that is neither in the apt cache nor in package_dirs
    store = str(tmp_path / "store")
    taken = capture.take("CHG-PKG", {"packages": [PKG]}, store=store, min_free=0, root=root, runner=RUNNER)
    assert taken["coverage"] == "partial"
    [gap] = taken["not_covered"]
    assert gap["kind"] == "package" and gap["name"] == PKG
    assert "no archive of cw-snapshot-demo 1.0-1" in gap["reason"]
    dpkg_install(root, v2)

    result = restore.rollback(store=store, change_id="CHG-PKG", root=root, runner=RUNNER)

    assert installed_version(root) == "2.0-1"
    assert result["verified"] is False
    assert [c["item"] for c in result["cannot_restore"]] == [f"package:{PKG}"]
    assert "is 2.0-1, snapshot had 1.0-1" in result["cannot_restore"][0]["reason"]


def test_package_dirs_are_searched_for_the_archive(root, tmp_path):
    repo = tmp_path / "local-repo"
    repo.mkdir()
    v1 = build_deb(str(repo), "1.0-1")
    dpkg_install(root, v1)
    entry = packages.Dpkg(root=root, package_dirs=[str(repo)], runner=RUNNER).plan(PKG)
    assert entry["source"] == {"method": "archive", "path": v1, "size": os.path.getsize(v1)}


def test_package_installed_by_the_change_is_purged(root, tmp_path):
    store = str(tmp_path / "store")
    taken = capture.take("CHG-PKG", {"packages": [PKG]}, store=store, min_free=0, root=root, runner=RUNNER)
    assert taken["coverage"] == "full"
    dpkg_install(root, build_deb(str(tmp_path), "2.0-1"))

    result = restore.rollback(store=store, change_id="CHG-PKG", root=root, runner=RUNNER)

    assert installed_version(root) is None
    assert not Path(root, f"usr/share/{PKG}/version").exists()
    assert result["verified"] is True


def test_repository_lookup_is_only_for_the_real_root(root):
    assert packages.Dpkg(root=root, runner=RUNNER).repo_offers("dpkg", "1.0") is False
    assert packages.Dpkg(runner=RUNNER).repo_offers("dpkg", "0.0~not-a-real-version") is False


def test_no_package_manager_means_not_covered(tmp_path):
    result = capture.take(
        "CHG-PKG", {"packages": ["nginx"]}, store=str(tmp_path / "s"), min_free=0, root=str(tmp_path / "empty-root")
    )
    assert result["not_covered"] == [{"kind": "package", "name": "nginx", "reason": "no dpkg or rpm on this host"}]
    assert result["coverage"] == "partial"
