"""The device trusts only pinned publisher keys, rotates them only through signed releases, and refuses
older releases without a signed downgrade authorisation - each refusal recorded, the slots untouched."""

import json
import os
import shutil

import pytest
from edgehelpers import Source, keypair, release, sign

from ansible_collections.changeward.hybrid.plugins.module_utils.edge import manifest as mf
from ansible_collections.changeward.hybrid.plugins.module_utils.edge import trust
from ansible_collections.changeward.hybrid.plugins.module_utils.edge.device import Device, release_status
from ansible_collections.changeward.hybrid.plugins.module_utils.edge.errors import (
    DowngradeError,
    ManifestError,
    SignatureError,
    TrustError,
)

pytestmark = pytest.mark.skipif(not mf.openssl_can_verify(), reason="no OpenSSL 3 here")
HEALTH = {"url": "http://127.0.0.1:9/healthz", "interval": 0, "healthy_after": 1, "start_period": 0, "deadline": 60}


def ok(_spec):
    return {"ok": True, "detail": "scripted", "seconds": 0}


class Env:
    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.key, self.pem = keypair()
        self.trust_file = str(tmp_path / "trust" / "trusted-keys.json")
        trust.provision(self.trust_file, [self.pem])
        self.device = Device(str(tmp_path / "edge"), "demo", host="dev1", trust_file=self.trust_file)
        self.config = tmp_path / "config.json"
        self.config.write_text('{"version": "0.9.0"}')
        self.sources = []

    def manifest(self, version, rotate=None):
        data, text = release(self.tmp, version)
        if rotate:
            doc = json.loads(text)
            doc["trust"] = rotate
            text = mf.dumps(doc).decode()
        source = Source(data)
        self.sources.append(source)
        return text, source.url

    def request(self, text, url, key=None, sent=None, **kw):
        return self.device.request_staging(
            text, sign(key or self.key, text), sent, url, "CHG-1", signature_check="required", **kw
        )

    def install(self, version, **kw):
        text, url = self.manifest(version)
        self.request(text, url, **kw)
        assert self.device.run_transfer() == "staged"
        rid = mf.release_id(mf.parse(text)[0])
        self.device.activate(rid, "CHG-1", {str(self.config): "config.json"}, [], HEALTH)
        assert self.device.run_watchdog(sleep=lambda s: None, check=ok) == "committed"
        return rid

    def authorisation(self, key, **fields):
        doc = {"format": trust.DOWNGRADE_FORMAT, "app": "demo", "hosts": ["dev1"]}
        doc.update(fields)
        text = json.dumps(doc, sort_keys=True)
        return {"downgrade": text, "downgrade_signature": sign(key, text)}

    def untouched(self, before):
        """The refusal changed nothing but the event log: same staging, current, activation and slots."""
        after = self.device.read()
        for key in ("staging", "current", "activation", "slots"):
            assert after[key] == before[key], key
        assert self.device.events("CHG-1")[-1]["type"] == "staging_refused"

    def close(self):
        for s in self.sources:
            s.close()


@pytest.fixture
def env(tmp_path):
    e = Env(tmp_path)
    yield e
    e.close()


# -- provisioning ---------------------------------------------------------------------------------------
def test_provisioning_pins_once_and_refuses_other_keys_afterwards(tmp_path):
    _key, pem = keypair()
    _other, other_pem = keypair()
    path = str(tmp_path / "t" / "trusted-keys.json")
    changed, keys = trust.provision(path, [pem])
    assert changed and [k["id"] for k in keys] == [trust.key_id(pem)]
    assert oct(os.stat(path).st_mode & 0o777) == "0o644"
    assert trust.provision(path, [pem])[0] is False
    with pytest.raises(TrustError, match="provisioned already"):
        trust.provision(path, [other_pem])
    assert [k["id"] for k in trust.load(path)] == [trust.key_id(pem)]


def test_a_pin_others_could_rewrite_is_not_trusted(tmp_path):
    _key, pem = keypair()
    path = str(tmp_path / "trusted-keys.json")
    trust.provision(path, [pem])
    os.chmod(path, 0o666)  # noqa: S103 - the loose mode under test
    with pytest.raises(TrustError, match="writable by group/others"):
        trust.load(path)


def test_an_unprovisioned_device_refuses_every_release(env, tmp_path):
    os.unlink(env.trust_file)
    text, url = env.manifest("1.0.0")
    before = env.device.read()
    with pytest.raises(TrustError, match="no pinned publisher keys"):
        env.request(text, url, sent=env.pem)
    env.untouched(before)


# -- the controller's key is not trusted by itself --------------------------------------------------------
def test_a_release_signed_by_the_key_the_controller_sends_is_refused(env):
    rogue, rogue_pem = keypair()
    text, url = env.manifest("1.0.0")
    before = env.device.read()
    with pytest.raises(SignatureError, match="does not pin"):
        env.request(text, url, key=rogue, sent=rogue_pem)
    env.untouched(before)
    # without naming the key: still no pinned key verifies it
    with pytest.raises(SignatureError, match="any of the 1 publisher key"):
        env.request(text, url, key=rogue)
    refused = env.device.events("CHG-1")[-1]
    assert refused["data"]["kind"] == "signature" and env.device.read()["staging"] is None


def test_a_pinned_key_verifies_with_or_without_the_sent_key(env):
    text, url = env.manifest("1.0.0")
    env.request(text, url)
    started = env.device.events("CHG-1")[-1]
    assert started["type"] == "staging_started"
    assert started["data"]["signed_by"] == trust.key_id(env.pem) and started["data"]["signature"] == "verified"


# -- rotation -----------------------------------------------------------------------------------------------
def test_rotation_only_through_a_release_signed_by_a_pinned_key(env):
    new, new_pem = keypair()
    # a release signed by an unpinned key cannot pin itself
    text, url = env.manifest("1.0.0", rotate={"add": [new_pem]})
    with pytest.raises(SignatureError):
        env.request(text, url, key=new)
    assert [k["id"] for k in trust.load(env.trust_file)] == [trust.key_id(env.pem)]
    # signed by the pinned key, the same rotation is applied, and the old key can be dropped by the next one
    text, url = env.manifest("1.0.0", rotate={"add": [new_pem]})
    env.request(text, url)
    rotated = [e for e in env.device.events("CHG-1") if e["type"] == "trust_rotated"]
    assert rotated and rotated[0]["data"]["added"] == [trust.key_id(new_pem)]
    assert {k["id"] for k in trust.load(env.trust_file)} == {trust.key_id(env.pem), trust.key_id(new_pem)}
    assert env.device.run_transfer() == "staged"
    text, url = env.manifest("2.0.0", rotate={"remove": [trust.key_id(env.pem)]})
    env.request(text, url, key=new)
    assert [k["id"] for k in trust.load(env.trust_file)] == [trust.key_id(new_pem)]
    # the old key is no longer trusted
    env.device.run_transfer()
    text, url = env.manifest("3.0.0")
    with pytest.raises(SignatureError):
        env.request(text, url)


def test_a_rotation_that_leaves_no_key_or_is_malformed_is_refused(env):
    text, url = env.manifest("1.0.0", rotate={"remove": [trust.key_id(env.pem)]})
    with pytest.raises(TrustError, match="without any pinned key"):
        env.request(text, url)
    assert [k["id"] for k in trust.load(env.trust_file)] == [trust.key_id(env.pem)]
    malformed, _url = env.manifest("1.0.1", rotate={"add": ["not a key"]})
    with pytest.raises(ManifestError, match=r"trust\.add"):
        mf.parse(malformed)


def test_rotation_is_refused_when_the_device_cannot_verify_it(env, monkeypatch):
    _new, new_pem = keypair()
    text, url = env.manifest("1.0.0", rotate={"add": [new_pem]})
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    with pytest.raises(TrustError, match="must be verified on this device"):
        env.device.request_staging(text, sign(env.key, text), env.pem, url, "CHG-1", signature_check="auto")
    assert len(trust.load(env.trust_file)) == 1


# -- downgrades ---------------------------------------------------------------------------------------------
def test_an_older_release_is_refused_without_an_authorisation_and_the_slots_stay(env):
    env.install("2.0.0")
    text, url = env.manifest("1.0.0")
    before = env.device.read()
    with pytest.raises(DowngradeError, match=r"older than the running version 2\.0\.0"):
        env.request(text, url)
    env.untouched(before)
    assert env.device.events("CHG-1")[-1]["data"]["kind"] == "downgrade"
    assert json.loads(env.config.read_text())["version"] == "2.0.0"


@pytest.mark.parametrize(
    "change, match",
    [
        ({"hosts": ["dev2"]}, "does not name this device"),
        ({"version": "1.0.1"}, "names version"),
        ({"release": "demo-1.0.0-000000000000"}, "names release"),
        ({"app": "other"}, "names app"),
        ({"not_after": "2001-01-01T00:00:00Z"}, "expired"),
    ],
)
def test_an_authorisation_for_something_else_does_not_count(env, change, match):
    env.install("2.0.0")
    text, url = env.manifest("1.0.0")
    rid = mf.release_id(mf.parse(text)[0])
    auth = env.authorisation(env.key, **dict({"release": rid, "version": "1.0.0"}, **change))
    with pytest.raises(DowngradeError, match=match):
        env.request(text, url, **auth)


def test_an_authorisation_signed_by_an_unpinned_key_does_not_count(env):
    env.install("2.0.0")
    rogue, _pem = keypair()
    text, url = env.manifest("1.0.0")
    rid = mf.release_id(mf.parse(text)[0])
    with pytest.raises(DowngradeError, match="not signed by a pinned key"):
        env.request(text, url, **env.authorisation(rogue, release=rid, version="1.0.0"))


def test_a_signed_authorisation_naming_the_release_and_device_allows_the_downgrade(env):
    env.install("2.0.0")
    text, url = env.manifest("1.0.0")
    rid = mf.release_id(mf.parse(text)[0])
    auth = env.authorisation(env.key, release=rid, version="1.0.0", not_after="2999-01-01T00:00:00Z")
    changed, _state = env.request(text, url, **auth)
    assert changed and release_status(env.device.summary(), rid) == "staging"
    assert env.device.events("CHG-1")[-1]["data"]["downgrade_authorised_by"] == trust.key_id(env.pem)


def test_an_unverifiable_downgrade_is_refused(env, monkeypatch):
    env.install("2.0.0")
    text, url = env.manifest("1.0.0")
    rid = mf.release_id(mf.parse(text)[0])
    auth = env.authorisation(env.key, release=rid, version="1.0.0")
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    with pytest.raises(DowngradeError, match="cannot be verified without OpenSSL 3"):
        env.device.request_staging(
            text,
            sign(env.key, text),
            env.pem,
            url,
            "CHG-1",
            signature_check="auto",
            downgrade=auth["downgrade"],
            downgrade_signature=auth["downgrade_signature"],
        )


@pytest.mark.parametrize(
    "lower, higher",
    [("1.9.0", "1.10.0"), ("1.0", "1.0.1"), ("2.0.0-rc1", "2.0.0-rc2"), ("9", "10"), ("1.0.0", "1.0.1")],
)
def test_versions_compare_component_by_component(lower, higher):
    assert trust.is_downgrade(lower, higher) and not trust.is_downgrade(higher, lower)
    assert not trust.is_downgrade(higher, higher) and not trust.is_downgrade(lower, None)
