"""Package versions with a real rpm: tiny noarch packages built here with rpmbuild, installed into a
scratch root (``rpm --root``, its own database), so the machine's own packages are never touched."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from snaphelpers import RUNNER, fingerprint

from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot import capture, packages, restore
from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot.errors import CommandError

HAVE_RPM = bool(shutil.which("rpm") and shutil.which("rpmbuild"))
# CI installs rpm (scripts/bootstrap.sh), so there a missing rpm fails these tests instead of hiding them.
pytestmark = pytest.mark.skipif(
    not HAVE_RPM and not os.environ.get("CI"),
    reason="rpm and rpmbuild are not installed (Debian package rpm, installed by scripts/bootstrap.sh)",
)
PKG = "cw-rpm-demo"
EXTRA = "cw-rpm-extra"
DBPATH = "/var/lib/rpm"  # where the tests' own rpm commands keep the scratch root's database

SPEC = """\
Name: {name}
Version: {version}
Release: 1
Summary: snapshot test package
License: GPL-3.0-or-later
BuildArch: noarch
%description
snapshot test package
%install
mkdir -p %{{buildroot}}{dir}/etc
echo {version} > %{{buildroot}}{dir}/version
echo 'setting = {version}' > %{{buildroot}}{dir}/etc/app.conf
%files
{owned}{dir}
"""


def rpmbuild(out, name, version, source=False):
    # cw-rpm-extra's files are per version (like kernels), so two of its versions can be installed at once
    pkg_dir = f"/opt/{name}/{version}" if name == EXTRA else f"/opt/{name}"
    top = out / "build"
    spec = out / f"{name}-{version}.spec"
    owned = f"%dir /opt/{name}\n" if name == EXTRA else ""
    spec.write_text(SPEC.format(name=name, version=version, dir=pkg_dir, owned=owned))
    argv = ["rpmbuild", "-bs" if source else "-bb", str(spec)]
    # rpmbuild opens an rpm database: keep it in the build dir rather than the user's home.
    for macro in (f"_topdir {top}", f"_tmppath {out}", f"_dbpath {out}/builddb"):
        argv[1:1] = ["--define", macro]
    subprocess.run(argv, check=True, capture_output=True)
    sub = "SRPMS" if source else "RPMS/noarch"
    suffix = "src" if source else "noarch"
    return top / sub / f"{name}-{version}-1.{suffix}.rpm"


@pytest.fixture(scope="module")
def rpms(tmp_path_factory):
    """Package files: (name, version) -> path, plus ('src', '1.0') for the source package of 1.0."""
    out = tmp_path_factory.mktemp("rpms")
    built = {(PKG, v): rpmbuild(out, PKG, v) for v in ("1.0", "2.0")}
    built.update({(EXTRA, v): rpmbuild(out, EXTRA, v) for v in ("1.0", "2.0")})
    built[("src", "1.0")] = rpmbuild(out, PKG, "1.0", source=True)
    return built


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "host"
    r.mkdir()
    rpm_cmd(r, "--initdb")
    return r


def rpm_cmd(root, *args):
    return subprocess.run(
        ["rpm", "--root", str(root), "--dbpath", DBPATH, *args], check=True, capture_output=True, text=True
    )


def rpm_install(root, path, *flags):
    rpm_cmd(root, "-i", *flags, str(path))


def installed(root, name):
    """The test's own reading of the scratch database: ['version-release.arch', ...] of name."""
    proc = subprocess.run(
        ["rpm", "--root", str(root), "--dbpath", DBPATH, "-q", "--qf", "%{VERSION}-%{RELEASE}.%{ARCH}\\n", name],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode == 1 and "is not installed" in proc.stdout:
        return []
    assert proc.returncode == 0, proc.stderr
    return sorted(proc.stdout.split())


def copy(src, dest_dir, name=None):
    dest_dir.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(src, dest_dir / (name or src.name)))


def test_query_reports_an_installed_version_and_an_absent_package(root, rpms):
    rpm_install(root, rpms[(PKG, "1.0")])
    rpm = packages.Rpm(root=str(root), runner=RUNNER)

    assert installed(root, PKG) == ["1.0-1.noarch"]
    assert rpm.query(PKG) == {
        "name": PKG,
        "state": "installed",
        "version": "0:1.0-1",
        "arch": "noarch",
        "status": "installed",
    }
    assert rpm.query(EXTRA) == {"name": EXTRA, "state": "absent", "version": None, "arch": None, "status": None}
    assert packages.Rpm.available(str(root)) is True
    # a scratch root holds no dpkg database, so the rpm backend is the one found there
    assert isinstance(packages.detect(root=str(root), runner=RUNNER), packages.Rpm)


def test_no_database_is_not_taken_for_not_installed(tmp_path):
    # rpm itself answers "package X is not installed" here (and creates an empty database).
    bare = tmp_path / "bare"
    (bare / "var/lib/rpm").mkdir(parents=True)  # what Debian's rpm package leaves: an empty directory
    assert packages.Rpm.available(str(bare)) is False
    with pytest.raises(CommandError, match="no rpm database under"):
        packages.Rpm(root=str(bare), runner=RUNNER).query(PKG)
    assert not any(Path(bare, "var/lib/rpm").iterdir()), "nothing may be created in the root"


def test_damaged_database_is_an_error_not_an_absent_package(tmp_path):
    broken = tmp_path / "broken"
    (broken / "var/lib/rpm").mkdir(parents=True)
    (broken / "var/lib/rpm/rpmdb.sqlite").write_bytes(b"not a database" * 512)
    with pytest.raises(CommandError, match="rpm -q cw-rpm-demo failed"):
        packages.Rpm(root=str(broken), runner=RUNNER).query(PKG)


def test_a_name_version_pattern_is_not_taken_for_a_package_name(root, rpms):
    rpm_install(root, rpms[(PKG, "1.0")])
    # rpm -q cw-rpm-demo-1.0 finds cw-rpm-demo 1.0 - and rpm -e cw-rpm-demo-1.0 would remove it
    with pytest.raises(CommandError, match="matched other packages"):
        packages.Rpm(root=str(root), runner=RUNNER).query(f"{PKG}-1.0")
    assert installed(root, PKG) == ["1.0-1.noarch"]


def test_find_archive_matches_name_version_and_arch_not_the_file_name(root, rpms, tmp_path):
    sources = copy(rpms[("src", "1.0")], tmp_path / "a-sources")  # same name, version and arch: not installable
    (tmp_path / "a-sources/garbage.rpm").write_bytes(b"not an rpm")
    repo = tmp_path / "b-repo"
    copy(rpms[(PKG, "2.0")], repo)
    v1 = copy(rpms[(PKG, "1.0")], repo, "renamed-by-someone.rpm")
    dirs = [str(tmp_path / "missing"), str(sources.parent), str(repo)]
    rpm = packages.Rpm(root=str(root), package_dirs=dirs, runner=RUNNER)

    assert rpm.find_archive(PKG, "0:1.0-1", "noarch") == str(v1)
    assert rpm.find_archive(PKG, "0:2.0-1", "noarch") == str(repo / rpms[(PKG, "2.0")].name)
    assert rpm.find_archive(PKG, "0:1.0-1", "x86_64") is None
    assert rpm.find_archive(PKG, "1:1.0-1", "noarch") is None
    assert rpm.find_archive(PKG, "0:3.0-1", "noarch") is None
    only_sources = packages.Rpm(root=str(root), package_dirs=[str(sources.parent)], runner=RUNNER)
    assert only_sources.find_archive(PKG, "0:1.0-1", "noarch") is None


def test_plan_entries_say_how_to_get_back(root, rpms, tmp_path):
    repo = tmp_path / "repo"
    archive = copy(rpms[(PKG, "1.0")], repo)
    rpm_install(root, archive)

    with_archive = packages.Rpm(root=str(root), package_dirs=[str(repo)], runner=RUNNER)
    assert with_archive.plan(PKG) == {
        "name": PKG,
        "state": "installed",
        "version": "0:1.0-1",
        "arch": "noarch",
        "status": "installed",
        "manager": "rpm",
        "source": {"method": "archive", "path": str(archive), "size": archive.stat().st_size},
    }
    assert with_archive.plan(EXTRA)["source"] == {"method": "remove"}

    without = packages.Rpm(root=str(root), runner=RUNNER).plan(PKG)
    assert without["source"] == {"method": "none"}
    assert without["reason"] == "no archive of cw-rpm-demo 0:1.0-1 (noarch) in package_dirs (none given)"

    copy(rpms[(EXTRA, "1.0")], repo)
    rpm_install(root, rpms[(EXTRA, "1.0")])
    rpm_install(root, rpms[(EXTRA, "2.0")])  # two versions side by side
    assert installed(root, EXTRA) == ["1.0-1.noarch", "2.0-1.noarch"]
    two = with_archive.plan(EXTRA)
    assert two["state"] == "broken" and two["source"] == {"method": "none"}
    assert (
        two["reason"]
        == "cw-rpm-extra has 2 versions (0:1.0-1.noarch, 0:2.0-1.noarch) installed; that state cannot be restored"
    )


def test_matches_compares_version_and_arch():
    rpm = packages.Rpm()
    target = {"name": PKG, "state": "installed", "version": "0:1.0-1", "arch": "noarch"}
    assert rpm.matches(target, dict(target, status="installed"))
    assert not rpm.matches(target, dict(target, version="0:2.0-1"))
    assert not rpm.matches(target, dict(target, arch="x86_64"))
    assert not rpm.matches(target, {"state": "absent", "version": None, "arch": None})
    gone = {"name": PKG, "state": "absent", "version": None, "arch": None}
    assert rpm.matches(gone, {"state": "absent", "version": None, "arch": None})
    assert not rpm.matches(gone, dict(target))
    assert not rpm.matches(gone, {"state": "broken", "version": None, "arch": None})


def test_restore_downgrades_from_the_archive(root, rpms, tmp_path):
    rpm_install(root, rpms[(PKG, "1.0")])
    rpm = packages.Rpm(root=str(root), package_dirs=[str(rpms[(PKG, "1.0")].parent)], runner=RUNNER)
    target = rpm.plan(PKG)
    # the snapshot keeps archives as blobs named by their sha256, without the .rpm suffix
    blob = copy(rpms[(PKG, "1.0")], tmp_path / "blobs", "0f3a9c")
    rpm_cmd(root, "-U", str(rpms[(PKG, "2.0")]))
    assert installed(root, PKG) == ["2.0-1.noarch"]
    assert not rpm.matches(target, rpm.query(PKG))

    rpm.restore(target, archive_path=str(blob))

    assert installed(root, PKG) == ["1.0-1.noarch"]
    assert Path(root, f"opt/{PKG}/version").read_text() == "1.0\n"
    assert rpm.matches(target, rpm.query(PKG))


def test_restore_leaves_only_the_captured_version_when_the_change_added_another(root, rpms):
    rpm_install(root, rpms[(EXTRA, "1.0")])
    rpm = packages.Rpm(root=str(root), package_dirs=[str(rpms[(EXTRA, "1.0")].parent)], runner=RUNNER)
    target = rpm.plan(EXTRA)
    rpm_install(root, rpms[(EXTRA, "2.0")])  # installed next to 1.0, as kernels are
    assert rpm.query(EXTRA)["state"] == "broken"

    rpm.restore(target, archive_path=str(rpms[(EXTRA, "1.0")]))

    assert installed(root, EXTRA) == ["1.0-1.noarch"]
    assert not Path(root, f"opt/{EXTRA}/2.0").exists()
    assert Path(root, f"opt/{EXTRA}/1.0/version").read_text() == "1.0\n"


def test_restore_of_absent_removes_every_installed_version(root, rpms):
    rpm = packages.Rpm(root=str(root), runner=RUNNER)
    targets = [rpm.plan(EXTRA), rpm.plan(PKG)]
    assert [t["source"] for t in targets] == [{"method": "remove"}] * 2
    rpm_install(root, rpms[(PKG, "1.0")])
    rpm_install(root, rpms[(EXTRA, "1.0")])
    rpm_install(root, rpms[(EXTRA, "2.0")])
    assert installed(root, EXTRA) == ["1.0-1.noarch", "2.0-1.noarch"]

    for target in targets:
        rpm.restore(target)

    assert installed(root, EXTRA) == [] and installed(root, PKG) == []
    assert not Path(root, f"opt/{EXTRA}").exists() and not Path(root, f"opt/{PKG}").exists()


def test_restore_without_an_archive_refuses(root, rpms):
    rpm_install(root, rpms[(PKG, "1.0")])
    rpm = packages.Rpm(root=str(root), runner=RUNNER)
    target = rpm.plan(PKG)
    with pytest.raises(CommandError, match=r"no way back to cw-rpm-demo 0:1\.0-1"):
        rpm.restore(target, archive_path=str(rpms[(PKG, "1.0")]))
    with pytest.raises(CommandError, match="failed"):
        rpm.restore(dict(target, source={"method": "archive"}), archive_path=str(root / "no-such-archive"))


def test_round_trip_snapshot_change_rollback(root, rpms, tmp_path):
    repo = tmp_path / "repo"
    archive = copy(rpms[(PKG, "1.0")], repo)
    rpm_install(root, archive)
    before = fingerprint(str(root / "opt"))
    store = str(tmp_path / "store")
    taken = capture.take(
        "CHG-RPM",
        {"packages": [PKG, EXTRA]},
        store=store,
        min_free=0,
        package_dirs=[str(repo)],
        root=str(root),
        runner=RUNNER,
    )
    assert taken["coverage"] == "full", taken["not_covered"]
    archive.unlink()  # the way back is now only the copy inside the snapshot
    # the change: an upgrade and a new package
    rpm_cmd(root, "-U", str(rpms[(PKG, "2.0")]))
    rpm_install(root, rpms[(EXTRA, "1.0")])
    assert installed(root, PKG) == ["2.0-1.noarch"] and installed(root, EXTRA) == ["1.0-1.noarch"]
    assert fingerprint(str(root / "opt")) != before

    result = restore.rollback(store=store, change_id="CHG-RPM", root=str(root), runner=RUNNER)

    assert installed(root, PKG) == ["1.0-1.noarch"] and installed(root, EXTRA) == []
    assert fingerprint(str(root / "opt")) == before
    assert result["verified"] is True, result
    assert sorted(result["restored"]) == [
        f"package:{PKG} (0:2.0-1 -> 0:1.0-1)",
        f"package:{EXTRA} (0:1.0-1 -> not installed)",
    ]
    again = restore.rollback(store=store, change_id="CHG-RPM", root=str(root), runner=RUNNER)
    assert again["changed"] is False
    assert sorted(again["unchanged"]) == [f"package:{PKG}", f"package:{EXTRA}"]


def test_round_trip_without_an_archive_is_reported_and_not_faked(root, rpms, tmp_path):
    rpm_install(root, rpms[(PKG, "1.0")])  # from a file outside package_dirs
    store = str(tmp_path / "store")
    taken = capture.take(
        "CHG-RPM",
        {"packages": [PKG]},
        store=store,
        min_free=0,
        package_dirs=[str(tmp_path)],
        root=str(root),
        runner=RUNNER,
    )
    assert taken["coverage"] == "partial"
    [gap] = taken["not_covered"]
    assert gap["kind"] == "package" and gap["name"] == PKG
    assert gap["reason"].startswith("no archive of cw-rpm-demo 0:1.0-1 (noarch) in package_dirs")
    rpm_cmd(root, "-U", str(rpms[(PKG, "2.0")]))

    result = restore.rollback(store=store, change_id="CHG-RPM", root=str(root), runner=RUNNER)

    assert installed(root, PKG) == ["2.0-1.noarch"]
    assert result["verified"] is False
    assert [c["item"] for c in result["cannot_restore"]] == [f"package:{PKG}"]
    assert "is 0:2.0-1, snapshot had 0:1.0-1" in result["cannot_restore"][0]["reason"]
