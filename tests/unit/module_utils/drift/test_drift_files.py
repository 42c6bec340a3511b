"""Files and trees against a scratch root: every kind of difference, and nothing on an untouched tree."""

import hashlib
import os
import pwd

from drifthelpers import findings, write

from ansible_collections.changeward.hybrid.plugins.module_utils.drift.scan import scan

ME = pwd.getpwuid(os.getuid()).pw_name


def sha(text):
    return hashlib.sha256(text.encode()).hexdigest()


def baseline():
    return {
        "files": [
            {"path": "/etc/app.conf", "sha256": sha("a=1\n"), "mode": "0644", "owner": ME},
            {"path": "/etc/secret", "sha256": sha("s\n"), "mode": "0600", "owner": os.getuid()},
            {"path": "/etc/gone", "state": "absent"},
            {"path": "/etc/link", "state": "link", "target": "app.conf"},
            {"path": "/var/data", "state": "directory", "mode": "0750"},
        ],
        "trees": [
            {
                "path": "/etc/conf.d",
                "mode": "0755",
                "entries": {
                    "10-a.conf": {"sha256": sha("x\n"), "mode": "0644"},
                    "sub": {"type": "directory"},
                    "sub/20-b.conf": {"sha256": sha("y\n")},
                },
                "ignore": ["*.swp"],
            }
        ],
    }


def make(root):
    write(root / "etc/app.conf", "a=1\n", 0o644)
    write(root / "etc/secret", "s\n", 0o600)
    os.symlink("app.conf", root / "etc/link")
    os.makedirs(root / "var/data")
    os.chmod(root / "var/data", 0o750)  # noqa: S103 - a scratch tree with declared modes
    os.makedirs(root / "etc/conf.d/sub")
    os.chmod(root / "etc/conf.d", 0o755)  # noqa: S103
    write(root / "etc/conf.d/10-a.conf", "x\n")
    write(root / "etc/conf.d/sub/20-b.conf", "y\n")
    write(root / "etc/conf.d/.10-a.conf.swp", "editor swap")


def test_untouched_tree_is_in_sync(tmp_path):
    make(tmp_path)
    result = scan(baseline(), root=str(tmp_path))
    assert result["findings"] == [] and result["unknown"] == []
    assert result["status"] == "in_sync"
    assert result["checked"]["file"] == 9


def test_content_mode_owner_type_link_absence_and_extras_are_found(tmp_path):
    make(tmp_path)
    write(tmp_path / "etc/app.conf", "a=2\n", 0o644)  # content
    os.chmod(tmp_path / "etc/secret", 0o644)  # mode
    write(tmp_path / "etc/gone", "back")  # should be absent
    os.unlink(tmp_path / "etc/link")
    os.symlink("secret", tmp_path / "etc/link")  # link target
    os.rmdir(tmp_path / "var/data")
    write(tmp_path / "var/data", "now a file")  # type
    os.unlink(tmp_path / "etc/conf.d/sub/20-b.conf")  # missing tree entry
    write(tmp_path / "etc/conf.d/99-extra.conf", "z")  # extra tree entry
    os.makedirs(tmp_path / "etc/conf.d/newdir/deeper")  # extra directory: reported once
    result = scan(baseline(), root=str(tmp_path))
    got = {(f["item"], f["attribute"]): (f["expected"], f["actual"]) for f in result["findings"]}
    assert got == {
        ("/etc/app.conf", "sha256"): (sha("a=1\n"), sha("a=2\n")),
        ("/etc/secret", "mode"): ("0600", "0644"),
        ("/etc/gone", "state"): ("absent", "file"),
        ("/etc/link", "target"): ("app.conf", "secret"),
        ("/var/data", "type"): ("directory", "file"),
        ("/etc/conf.d/sub/20-b.conf", "state"): ("file", "absent"),
        ("/etc/conf.d/99-extra.conf", "state"): ("absent", "file"),
        ("/etc/conf.d/newdir", "state"): ("absent", "directory"),
    }
    assert result["status"] == "drifted"


def test_removed_file_and_removed_tree(tmp_path):
    make(tmp_path)
    os.unlink(tmp_path / "etc/app.conf")
    for p in ("sub/20-b.conf", "10-a.conf", ".10-a.conf.swp"):
        os.unlink(tmp_path / "etc/conf.d" / p)
    os.rmdir(tmp_path / "etc/conf.d/sub")
    os.rmdir(tmp_path / "etc/conf.d")
    result = scan(baseline(), root=str(tmp_path))
    assert findings(result, item="/etc/app.conf", attribute="state") == [
        {"class": "file", "item": "/etc/app.conf", "attribute": "state", "expected": "file", "actual": "absent"}
    ]
    # the missing tree is one finding, not one per declared entry
    assert [f["item"] for f in result["findings"] if f["item"].startswith("/etc/conf.d")] == ["/etc/conf.d"]


def test_owner_by_name_and_by_id(tmp_path):
    make(tmp_path)
    b = baseline()
    b["files"][0]["owner"] = "nobody-such-user-xyz"
    b["files"][1]["owner"] = os.getuid() + 12345
    result = scan(b, root=str(tmp_path))
    assert findings(result, item="/etc/app.conf", attribute="owner")[0]["actual"] == ME
    assert findings(result, item="/etc/secret", attribute="owner")[0]["actual"] == os.getuid()


def test_not_exact_tree_ignores_extras(tmp_path):
    make(tmp_path)
    write(tmp_path / "etc/conf.d/99-extra.conf", "z")
    b = baseline()
    b["trees"][0]["exact"] = False
    assert scan(b, root=str(tmp_path))["status"] == "in_sync"


def test_a_file_that_cannot_be_examined_is_unknown_not_in_sync(tmp_path):
    make(tmp_path)
    # a name longer than NAME_MAX cannot even be stat'ed (ENAMETOOLONG), also not by root
    result = scan({"files": [{"path": "/etc/" + "n" * 300, "mode": "0644"}]}, root=str(tmp_path))
    assert result["findings"] == []
    assert result["status"] == "unknown"
    assert "cannot stat" in result["unknown"][0]["reason"]


def test_a_fifo_where_a_file_is_declared_is_drift_of_its_type(tmp_path):
    make(tmp_path)
    os.unlink(tmp_path / "etc/app.conf")
    os.mkfifo(tmp_path / "etc/app.conf")
    result = scan({"files": [{"path": "/etc/app.conf", "sha256": sha("a=1\n")}]}, root=str(tmp_path))
    assert findings(result, attribute="type") == [
        {"class": "file", "item": "/etc/app.conf", "attribute": "type", "expected": "file", "actual": "other"}
    ]
