"""Service states with the LSB fallback, driven through real init scripts in a scratch root.

The scripts keep their state in files under the scratch root and log every action together with the
configuration they saw, so the tests can check the order rollback uses: stop before files, start after.
"""

import os
from pathlib import Path

import pytest
from snaphelpers import RUNNER, fingerprint, write

from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot import capture, restore, services

SCRIPT = """#!/bin/sh
R={root}
S={name}
conf() {{ cat "$R/etc/$S/$S.conf" 2>/dev/null || echo none; }}
case "$1" in
  start) conf > "$R/run/$S.running"; echo "start $S $(conf)" >> "$R/actions.log" ;;
  stop) rm -f "$R/run/$S.running"; echo "stop $S $(conf)" >> "$R/actions.log" ;;
  status) [ -f "$R/run/$S.running" ] && exit 0; exit 3 ;;
  *) exit 2 ;;
esac
"""


def install(root, name, conf="v1", enabled=True, running=True):
    write(os.path.join(root, "etc/init.d", name), SCRIPT.format(root=root, name=name), 0o755)
    write(os.path.join(root, "etc", name, name + ".conf"), conf + "\n")
    os.makedirs(os.path.join(root, "run"), exist_ok=True)
    for d in ("rc0.d", "rc2.d", "rc3.d"):
        os.makedirs(os.path.join(root, "etc", d), exist_ok=True)
    if enabled:
        os.symlink("../init.d/" + name, os.path.join(root, "etc/rc2.d/S20" + name))
        os.symlink("../init.d/" + name, os.path.join(root, "etc/rc3.d/S20" + name))
        os.symlink("../init.d/" + name, os.path.join(root, "etc/rc0.d/K01" + name))
    if running:
        services.Lsb(root=root, runner=RUNNER).start(name)


def log(root):
    path = Path(root, "actions.log")
    return path.read_text().splitlines() if path.exists() else []


def take(root, names):
    paths = [os.path.join(root, "etc", n) for n in names]
    return capture.take(
        "CHG-SVC",
        {"paths": paths, "services": names},
        store=os.path.join(root, "store"),
        min_free=0,
        root=root,
        runner=RUNNER,
    )


def rollback(root):
    return restore.rollback(store=os.path.join(root, "store"), change_id="CHG-SVC", root=root, runner=RUNNER)


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "host"
    (r / "etc/init.d").mkdir(parents=True)
    return str(r)


def test_lsb_query_reads_status_and_rc_links(root):
    install(root, "demo")
    lsb = services.Lsb(root=root, runner=RUNNER)
    state = lsb.query("demo")
    assert state["present"] and state["active"] and state["enabled"]
    assert state["links"] == [
        ["rc0.d", "K01demo", "../init.d/demo"],
        ["rc2.d", "S20demo", "../init.d/demo"],
        ["rc3.d", "S20demo", "../init.d/demo"],
    ]
    lsb.stop("demo")
    assert lsb.query("demo")["active"] is False
    assert lsb.query("nosuch") == {
        "name": "nosuch",
        "backend": "lsb",
        "present": False,
        "active": False,
        "enabled": False,
        "links": [],
    }


def test_detect_falls_back_to_lsb_without_systemd(root):
    # This machine's PID 1 is not systemd, and a scratch root never gets the systemd backend.
    assert isinstance(services.detect(root=root), services.Lsb)


def test_unknown_status_is_not_covered(root):
    write(os.path.join(root, "etc/init.d/weird"), "#!/bin/sh\nexit 4\n", 0o755)
    result = take(root, ["weird"])
    assert [(n["kind"], n["name"]) for n in result["not_covered"]] == [("service", "weird")]
    assert "unknown state" in result["not_covered"][0]["reason"]


def test_stopped_and_disabled_service_is_restored_after_its_files(root):
    install(root, "demo", conf="v1")
    before = fingerprint(os.path.join(root, "etc"))
    take(root, ["demo"])
    lsb = services.Lsb(root=root, runner=RUNNER)
    lsb.stop("demo")
    write(os.path.join(root, "etc/demo/demo.conf"), "v2\n")
    os.unlink(os.path.join(root, "etc/rc2.d/S20demo"))
    os.unlink(os.path.join(root, "etc/rc3.d/S20demo"))
    mark = len(log(root))

    result = rollback(root)

    assert result["verified"] is True
    assert log(root)[mark:] == ["start demo v1"]
    assert Path(root, "run/demo.running").read_text() == "v1\n"
    assert fingerprint(os.path.join(root, "etc")) == before
    assert "service:demo (enablement)" in result["restored"]


def test_running_service_is_restarted_when_its_files_are_restored(root):
    install(root, "demo", conf="v1")
    take(root, ["demo"])
    write(os.path.join(root, "etc/demo/demo.conf"), "v2\n")
    lsb = services.Lsb(root=root, runner=RUNNER)
    lsb.stop("demo")
    lsb.start("demo")
    mark = len(log(root))

    result = rollback(root)

    assert log(root)[mark:] == ["stop demo v1", "start demo v1"]
    assert Path(root, "run/demo.running").read_text() == "v1\n"
    assert result["verified"] is True


def test_service_started_by_the_change_is_stopped_before_files_are_restored(root):
    install(root, "demo", conf="v1", enabled=False, running=False)
    take(root, ["demo"])
    write(os.path.join(root, "etc/demo/demo.conf"), "v2\n")
    services.Lsb(root=root, runner=RUNNER).start("demo")
    os.symlink("../init.d/demo", os.path.join(root, "etc/rc2.d/S20demo"))
    mark = len(log(root))

    result = rollback(root)

    # The stop saw the changed configuration: it ran before the files were put back.
    assert log(root)[mark:] == ["stop demo v2"]
    assert not Path(root, "run/demo.running").exists()
    assert services.Lsb(root=root, runner=RUNNER).links("demo") == []
    assert result["verified"] is True


def test_service_added_by_the_change_is_stopped_and_removed(root):
    script = os.path.join(root, "etc/init.d/newsvc")
    result = capture.take(
        "CHG-SVC",
        {"paths": [script, os.path.join(root, "etc/newsvc")], "services": ["newsvc"]},
        store=os.path.join(root, "store"),
        min_free=0,
        root=root,
        runner=RUNNER,
    )
    assert result["coverage"] == "full"
    install(root, "newsvc", conf="v9")
    mark = len(log(root))

    out = rollback(root)

    assert log(root)[mark:] == ["stop newsvc v9"]
    assert not os.path.exists(script)
    assert services.Lsb(root=root, runner=RUNNER).links("newsvc") == []
    assert out["verified"] is True


def test_second_rollback_touches_no_service(root):
    install(root, "demo", conf="v1")
    take(root, ["demo"])
    write(os.path.join(root, "etc/demo/demo.conf"), "v2\n")
    services.Lsb(root=root, runner=RUNNER).stop("demo")
    rollback(root)
    mark = len(log(root))

    again = rollback(root)

    assert again["changed"] is False
    assert log(root)[mark:] == []
    assert "service:demo" in again["unchanged"]


def test_failing_start_is_reported_and_not_verified(root):
    install(root, "demo", conf="v1")
    take(root, ["demo"])
    services.Lsb(root=root, runner=RUNNER).stop("demo")
    write(os.path.join(root, "etc/init.d/demo"), "#!/bin/sh\n[ \"$1\" = status ] && exit 3\nexit 1\n", 0o755)

    result = rollback(root)

    # The init script is outside the captured paths, so rollback cannot repair it and says so.
    assert result["verified"] is False
    assert any(f["item"] == "service:demo" and "start failed" in f["error"] for f in result["failed"])
