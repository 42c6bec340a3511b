import json
import os
import time

import pytest
from edgehelpers import Source, keypair, make_tar, release, sign

from ansible_collections.changeward.hybrid.plugins.module_utils.edge import manifest as mf
from ansible_collections.changeward.hybrid.plugins.module_utils.edge import slots, trust
from ansible_collections.changeward.hybrid.plugins.module_utils.edge.device import Device, release_status
from ansible_collections.changeward.hybrid.plugins.module_utils.edge.errors import (
    ArtifactError,
    SignatureError,
    SlotError,
)

HEALTH = {
    "url": "http://127.0.0.1:9/healthz",
    "interval": 0,
    "healthy_after": 3,
    "fail_after": 2,
    "start_period": 0,
    "deadline": 60,
}


class Env:
    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.key, self.pem = keypair()
        self.trust_file = str(tmp_path / "trust" / "trusted-keys.json")
        trust.provision(self.trust_file, [self.pem])  # the device pins the publisher's key at provisioning
        self.device = Device(str(tmp_path / "edge"), "demo", host="dev1", trust_file=self.trust_file)
        self.config = tmp_path / "etc" / "config.json"
        self.config.parent.mkdir()
        self.config.write_text('{"version": "0.9.0"}')
        self.links = {str(self.config): "config.json"}
        self.sources = []

    def stage(self, version, healthy=True, check="auto"):
        data, text = release(self.tmp, version, healthy)
        source = Source(data)
        self.sources.append(source)
        self.device.request_staging(
            text,
            sign(self.key, text),
            self.pem,
            source.url,
            "CHG-1",
            signature_check=check,
            transfer_options={"retry_min_delay": 0.01},
        )
        assert self.device.run_transfer() == "staged"
        return mf.release_id(mf.parse(text)[0])

    def version(self):
        return json.loads(self.config.read_text())["version"]

    def close(self):
        for s in self.sources:
            s.close()


@pytest.fixture
def env(tmp_path):
    e = Env(tmp_path)
    yield e
    e.close()


def checks(*results):
    seq = list(results)
    return lambda spec: {"ok": seq.pop(0), "detail": "scripted", "seconds": 0}


def test_stage_activate_and_commit_switches_the_service_file(env):
    rid = env.stage("1.0.0")
    assert release_status(env.device.summary(), rid) == "staged"
    env.device.activate(rid, "CHG-1", env.links, [], HEALTH)
    assert env.version() == "1.0.0" and os.path.islink(str(env.config))
    assert env.device.run_watchdog(sleep=lambda s: None, check=checks(True, True, True)) == "committed"
    kinds = [e["type"] for e in env.device.events("CHG-1")]
    assert kinds == ["staging_started", "staged", "activated", "committed"]
    assert [e["seq"] for e in env.device.events("CHG-1", since=2)] == [3, 4]


def test_failing_health_reverts_to_the_previous_slot(env):
    first = env.stage("1.0.0")
    env.device.activate(first, "CHG-1", env.links, [], HEALTH)
    env.device.run_watchdog(sleep=lambda s: None, check=checks(True, True, True))
    second = env.stage("2.0.0", healthy=False)
    assert env.device.read()["staging"]["slot"] == "b"
    env.device.activate(second, "CHG-1", env.links, [], HEALTH)
    assert env.version() == "2.0.0"
    assert env.device.run_watchdog(sleep=lambda s: None, check=checks(True, False, False)) == "rolled_back"
    assert env.version() == "1.0.0" and slots.current_slot(env.device.root) == "a"
    last = env.device.events("CHG-1")[-1]
    assert last["type"] == "rolled_back" and "2 times" in last["data"]["reason"] and last["data"]["to"] == first


def test_health_not_reached_by_the_deadline_reverts_to_the_original_files(env):
    rid = env.stage("1.0.0")
    env.device.activate(rid, "CHG-1", env.links, [], dict(HEALTH, deadline=10))
    now = [time.time()]

    def clock():
        now[0] += 4
        return now[0]

    # Failures inside the start period never count; the deadline still applies.
    spec = dict(HEALTH, deadline=10, start_period=100)
    state = env.device.read()
    state["activation"]["health"] = spec
    state["activation"]["start_period_end"] = time.time() + 100
    from ansible_collections.changeward.hybrid.plugins.module_utils.edge import fsutil

    fsutil.write_json(env.device.state_path, state)
    outcome = env.device.run_watchdog(sleep=lambda s: None, clock=clock, check=checks(*[False] * 10))
    assert outcome == "rolled_back"
    assert env.version() == "0.9.0" and not os.path.islink(str(env.config))
    assert slots.current_slot(env.device.root) is None
    assert "within 10" in env.device.events("CHG-1")[-1]["data"]["reason"]


def test_staging_is_refused_while_health_is_undecided(env):
    first = env.stage("1.0.0")
    env.device.activate(first, "CHG-1", env.links, [], HEALTH)
    _data, text = release(env.tmp, "2.0.0")
    with pytest.raises(SlotError, match="not decided"):
        env.device.request_staging(
            text, sign(env.key, text), env.pem, "http://127.0.0.1:9/x", "CHG-1", signature_check="auto"
        )


def test_unstaged_release_cannot_be_activated(env):
    with pytest.raises(SlotError, match="not staged"):
        env.device.activate("demo-9.9.9-000000000000", "CHG-1", env.links, [], HEALTH)


def test_wrong_signature_is_refused_and_recorded(env):
    if not mf.openssl_can_verify():
        pytest.skip("no OpenSSL 3 here")
    other, _pem = keypair()
    _data, text = release(env.tmp, "1.0.0")
    with pytest.raises(SignatureError):
        env.device.request_staging(text, sign(other, text), env.pem, "http://127.0.0.1:9/x", "CHG-1")
    assert [e["type"] for e in env.device.events("CHG-1")] == ["staging_refused"]
    assert env.device.read()["staging"] is None


def test_controller_commit_needs_health_now_and_rollback_undoes_a_commit(env):
    first = env.stage("1.0.0")
    env.device.activate(first, "CHG-1", env.links, [], HEALTH)
    env.device.run_watchdog(sleep=lambda s: None, check=checks(True, True, True))
    second = env.stage("2.0.0")
    env.device.activate(second, "CHG-1", env.links, [], HEALTH)
    with pytest.raises(SlotError, match="not healthy"):
        env.device.commit_now(second, check=checks(False))
    assert env.device.commit_now(second, check=checks(True)) is True
    assert env.device.run_watchdog(sleep=lambda s: None, check=checks()) == "committed"
    assert env.device.rollback_now(second, "operator") is True
    assert env.version() == "1.0.0"
    assert env.device.rollback_now(second, "again") is False


def test_unsafe_tar_members_are_refused(tmp_path):
    for name in ("../escape", "/etc/passwd"):
        artifact = tmp_path / "bad.tar"
        artifact.write_bytes(make_tar({name: b"x"}))
        manifest = mf.build(str(artifact), "demo", "1.0.0", 4096)
        with pytest.raises(ArtifactError, match="unsafe"):
            slots.unpack(str(artifact), manifest, str(tmp_path / "root"), "a", "r")
    assert not (tmp_path / "escape").exists()


def test_a_torn_state_file_is_an_error_not_an_empty_device(env):
    env.stage("1.0.0")
    with open(env.device.state_path, "w") as handle:
        handle.write('{"version": 1, "app"')
    from ansible_collections.changeward.hybrid.plugins.module_utils.edge.errors import StateError

    with pytest.raises(StateError, match="not valid JSON"):
        env.device.summary()


def test_the_agent_package_runs_without_the_collection(tmp_path):
    """The detached agent is this package copied to the device alone: it must import with the standard library."""
    import subprocess
    import sys

    from ansible_collections.changeward.hybrid.plugins.module_utils.edge import agent

    base = agent.install(str(tmp_path))
    code = "import sys; sys.path.insert(0, sys.argv[1]); import cwedge.agent, cwedge.device; print('ok')"
    proc = subprocess.run([sys.executable, "-I", "-c", code, base], capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
