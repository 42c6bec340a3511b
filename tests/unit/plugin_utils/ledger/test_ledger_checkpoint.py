"""Signed checkpoints: HMAC-SHA256 and Ed25519, and what makes one invalid."""

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import checkpoint as cpm
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.errors import LedgerConfigError, LedgerKeyError

H = "ab" * 32


def make(key, **kw):
    args = {"ledger_id": "L1", "seq": 100, "entry_hash": H, "interval": 10} | kw
    return cpm.make_checkpoint(key, **args)


def test_hmac_checkpoint_roundtrip_and_fields():
    cp = make("s" * 20)
    assert set(cp) == set(cpm.CHECKPOINT_FIELDS)
    assert cp["alg"] == "HMAC-SHA256" and cp["count"] == cp["seq"] == 100 and cp["hash"] == H
    assert cpm.verify_checkpoint(cp, cpm.load_keys("s" * 20)) is None


@pytest.mark.parametrize(
    ("field", "value"),
    [("seq", 99), ("hash", "cd" * 32), ("time", "2020-01-01T00:00:00Z"), ("interval", 0), ("ledger_id", "L2")],
)
def test_any_changed_field_breaks_the_signature(field, value):
    cp = make("s" * 20)
    cp[field] = value
    if field == "seq":
        cp["count"] = value
    why = cpm.verify_checkpoint(cp, cpm.load_keys("s" * 20))
    assert why is not None and "signature does not verify" in why


def test_wrong_key_unknown_key_and_garbage():
    cp = make("s" * 20)
    assert "not a verification key" in cpm.verify_checkpoint(cp, cpm.load_keys("t" * 20))
    assert "not a verification key" in cpm.verify_checkpoint(cp, {})
    bad = dict(cp, sig="!!!")
    assert "base64" in cpm.verify_checkpoint(bad, cpm.load_keys("s" * 20))
    assert "count" in cpm.verify_checkpoint(dict(cp, count=5), cpm.load_keys("s" * 20))
    assert "lacks" in cpm.verify_checkpoint({"seq": 1}, {})


def test_ed25519_signs_with_private_verifies_with_public_only():
    private, public = cpm.generate_ed25519()
    cp = make(private)
    assert cp["alg"] == "Ed25519"
    pub_ring = cpm.load_keys(public)
    assert cpm.verify_checkpoint(cp, pub_ring) is None
    with pytest.raises(LedgerKeyError):
        make(public)
    tampered = dict(cp, hash="cd" * 32)
    assert "does not verify" in cpm.verify_checkpoint(tampered, pub_ring)


def test_pem_keys_load():
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    pub = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    cp = make(pem + "\n")
    assert cpm.verify_checkpoint(cp, cpm.load_keys(pub.decode())) is None


def test_key_rotation_ring_verifies_old_and_new():
    old, new = "o" * 20, "n" * 20
    ring = cpm.load_keys([old, new])
    assert cpm.verify_checkpoint(make(old), ring) is None and cpm.verify_checkpoint(make(new), ring) is None


@pytest.mark.parametrize(
    "material", ["", "   ", "short", "ed25519:notbase64!", "ed25519:" + "QUFB", "-----BEGIN PUBLIC KEY-----\nxx"]
)
def test_bad_key_material_is_a_clear_error(material):
    with pytest.raises(LedgerConfigError):
        cpm.load_key(material)


def test_key_never_shows_in_repr_or_errors():
    secret = "hmac:" + "VERYSECRETVALUE-" * 2
    key = cpm.load_key(secret)
    assert "VERYSECRET" not in repr(key) and key.key_id.startswith("hmac-")
    with pytest.raises(LedgerConfigError) as err:
        cpm.load_key("hmac:SECRETSHORT")
    assert "SECRETSHORT" not in str(err.value)
