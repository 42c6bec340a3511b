"""The real snapshot, rollback and snapshot_prune modules, run by ansible-playbook against localhost
(-c local) on a scratch directory. No mocks: the change is made by ordinary Ansible tasks, and the tree
is compared with a fingerprint this test computes before and after."""

import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
TARGET_PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable

pytestmark = pytest.mark.skipif(not PLAYBOOK.exists(), reason="ansible-playbook not in this venv")


def fingerprint(*roots):
    out = {}
    for root in roots:
        if not os.path.lexists(root):
            out[root] = ("absent",)
            continue
        stack = [root]
        while stack:
            path = stack.pop()
            st = os.lstat(path)
            ids = (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
            if stat.S_ISLNK(st.st_mode):
                out[path] = ("link", st.st_uid, st.st_gid, os.readlink(path))
            elif stat.S_ISDIR(st.st_mode):
                out[path] = ("dir", *ids)
                stack.extend(os.path.join(path, n) for n in os.listdir(path))
            else:
                out[path] = ("file", *ids, hashlib.sha256(Path(path).read_bytes()).hexdigest())
    return out


def play(tmp_path, tasks, name="play"):
    """Run the tasks on localhost; every task registers r_<i> and the results come back as a dict."""
    results = tmp_path / f"{name}-results.json"
    body = []
    names = []
    for i, task in enumerate(tasks):
        reg = task.pop("register", f"r_{i}")
        names.append(reg)
        body.append({"name": f"step {i}", **task, "register": reg, "ignore_errors": task.get("ignore_errors", True)})
    collect = "{{ {" + ", ".join(f"'{n}': {n} | default(None)" for n in names) + "} | to_json }}"
    body.append({"name": "collect", "ansible.builtin.copy": {"dest": str(results), "content": collect, "mode": "0600"}})
    book = tmp_path / f"{name}.yml"
    book.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": body}]))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(
        [
            str(PLAYBOOK),
            "-i",
            "localhost,",
            "-c",
            "local",
            "-e",
            f"ansible_python_interpreter={TARGET_PYTHON}",
            str(book),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert results.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(results.read_text())


def make_tree(base):
    tree = base / "srv"
    (tree / "conf.d").mkdir(parents=True)
    (tree / "conf.d/10-log.conf").write_text("level = info\n")
    (tree / "conf.d/20-tls.conf").write_text("tls = on\n")
    (tree / "app.conf").write_text("port = 8080\n")
    (tree / "keys").mkdir(mode=0o700)
    (tree / "keys/server.key").write_bytes(os.urandom(64))
    os.chmod(tree / "keys/server.key", 0o600)
    os.symlink("conf.d/10-log.conf", tree / "current.conf")
    return tree


def test_change_made_by_ansible_is_rolled_back_identically_and_twice_is_a_no_op(tmp_path):
    tree = make_tree(tmp_path)
    store = tmp_path / "store"
    new_dir = tmp_path / "opt/newapp"
    roots = (str(tree), str(tmp_path / "opt"))
    before = fingerprint(*roots)
    snapshot = {
        "changeward.hybrid.snapshot": {
            "change_id": "CHG-LOCAL-1",
            "scope": {
                "paths": [str(tree), str(new_dir)],
                # Not installed here: captured as absent, so dpkg-query runs through the module's runner.
                "packages": ["cw-not-installed-pkg"],
                "verify_commands": [{"name": "conf", "cmd": f"sha256sum {tree / 'app.conf'}"}],
            },
            "store": str(store),
            "min_free": "0",
            "archive": True,
        },
        "register": "snap",
    }
    change = [
        {"ansible.builtin.copy": {"dest": str(tree / "app.conf"), "content": "port = 9090\n", "mode": "0644"}},
        {"ansible.builtin.file": {"path": str(tree / "conf.d/20-tls.conf"), "state": "absent"}},
        {"ansible.builtin.copy": {"dest": str(tree / "conf.d/30-new.conf"), "content": "new\n", "mode": "0644"}},
        {"ansible.builtin.file": {"path": str(tree / "keys"), "state": "absent"}},
        {"ansible.builtin.file": {"path": str(new_dir / "etc"), "state": "directory", "mode": "0755"}},
        {"ansible.builtin.file": {"path": str(tree / "conf.d"), "mode": "0777"}},
        {
            "ansible.builtin.file": {
                "path": str(tree / "current.conf"),
                "src": "/etc/hostname",
                "state": "link",
                "force": True,
            }
        },
    ]
    rollback = {
        "changeward.hybrid.rollback": {"change_id": "CHG-LOCAL-1", "store": str(store), "deadline_seconds": 120}
    }
    r = play(tmp_path, [snapshot, *change, dict(rollback, register="rb1"), dict(rollback, register="rb2")])

    assert r["snap"]["changed"] is True and r["snap"]["coverage"] == "full", r["snap"]
    assert r["snap"]["captured"]["packages"] == 1 and r["snap"]["captured"]["verify_commands"] == 1
    assert os.path.isfile(r["snap"]["archive"])
    assert r["snap"]["ledger_event"]["type"] == "io.changeward.snapshot.taken"
    assert all(not r[f"r_{i}"].get("failed") for i in range(1, 1 + len(change)))
    assert r["rb1"]["changed"] is True and r["rb1"]["verified"] is True, r["rb1"]
    assert r["rb1"]["ledger_event"]["type"] == "io.changeward.rollback.completed"
    assert "package:cw-not-installed-pkg" in r["rb1"]["unchanged"]
    assert r["rb2"]["changed"] is False and r["rb2"]["restored"] == []
    assert fingerprint(*roots) == before


def test_check_mode_writes_nothing(tmp_path):
    tree = make_tree(tmp_path)
    store = tmp_path / "store"
    r = play(
        tmp_path,
        [
            {
                "changeward.hybrid.snapshot": {
                    "change_id": "CHG-LOCAL-2",
                    "scope": {"paths": [str(tree)]},
                    "store": str(store),
                    "min_free": "0",
                },
                "check_mode": True,
                "register": "snap",
            }
        ],
    )
    assert not store.exists()
    assert r["snap"]["captured"]["files"] == 4
    assert r["snap"]["snapshot_id"] is None
    assert r["snap"]["changed"] is True


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_too_little_disk_fails_before_writing(tmp_path):
    tree = make_tree(tmp_path)
    (tree / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], check=True)
    try:
        r = play(
            tmp_path,
            [
                {
                    "changeward.hybrid.snapshot": {
                        "change_id": "CHG-LOCAL-3",
                        "scope": {"paths": [str(tree)]},
                        "store": str(mnt / "snapshots"),
                        "min_free": "0",
                    },
                    "register": "snap",
                }
            ],
        )
        assert os.listdir(mnt) == []
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
    assert r["snap"]["failed"] is True
    assert r["snap"]["error"] == "SpaceError"
    assert "not enough free space" in r["snap"]["msg"] and "nothing was written" in r["snap"]["msg"]
    assert r["snap"]["needed_bytes"] > r["snap"]["free_bytes"]


def test_legacy_host_is_reported_not_restorable_and_deadline_and_prune_work(tmp_path):
    tree = make_tree(tmp_path)
    store = tmp_path / "store"
    scope = {"paths": [str(tree)]}

    def snap(change_id, **kw):
        return {
            "changeward.hybrid.snapshot": {
                "change_id": change_id,
                "scope": scope,
                "store": str(store),
                "min_free": "0",
                **kw,
            }
        }

    r = play(
        tmp_path,
        [
            dict(snap("CHG-LEGACY", rollback_capability="none"), register="legacy"),
            dict(snap("CHG-A"), register="a"),
            dict(snap("CHG-B"), register="b"),
            {"ansible.builtin.copy": {"dest": str(tree / "app.conf"), "content": "changed\n", "mode": "0644"}},
            {
                "changeward.hybrid.rollback": {"change_id": "CHG-A", "store": str(store), "deadline_seconds": 1e-6},
                "register": "late",
            },
            {"changeward.hybrid.rollback": {"change_id": "CHG-A", "store": str(store)}, "register": "rerun"},
            {
                "changeward.hybrid.snapshot_prune": {
                    "store": str(store),
                    "max_count": 0,
                    "protected_change_ids": ["CHG-A"],
                },
                "register": "prune",
            },
            {"changeward.hybrid.snapshot_prune": {"store": str(store), "max_count": 0}, "register": "no_open_list"},
        ],
    )
    assert r["legacy"]["restorable"] is False and r["legacy"]["coverage"] == "none"
    assert r["legacy"]["snapshot_id"] is None
    assert "rollback_capability=none" in r["legacy"]["not_covered"][0]["reason"]

    assert r["late"]["failed"] is True and r["late"]["error"] == "DeadlineExceeded"
    assert "deadline" in r["late"]["msg"] and r["late"]["elapsed_seconds"] > 0
    assert r["rerun"]["verified"] is True and "file:%s (content, mtime)" % (tree / "app.conf") in r["rerun"]["restored"]
    assert (tree / "app.conf").read_text() == "port = 8080\n"

    assert [p["snapshot_id"] for p in r["prune"]["pruned"]] == [r["b"]["snapshot_id"]]
    assert r["prune"]["protected"] == [r["a"]["snapshot_id"]]
    assert sorted(os.listdir(store)) == [r["a"]["snapshot_id"]]
    assert r["no_open_list"]["failed"] is True and "protected_change_ids" in r["no_open_list"]["msg"]
