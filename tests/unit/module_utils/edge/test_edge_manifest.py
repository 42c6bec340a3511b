import json
import shutil

import pytest
from edgehelpers import keypair, release, sign

from ansible_collections.changeward.hybrid.plugins.module_utils.edge import manifest as mf
from ansible_collections.changeward.hybrid.plugins.module_utils.edge import trust
from ansible_collections.changeward.hybrid.plugins.module_utils.edge.errors import ManifestError, SignatureError

needs_openssl = pytest.mark.skipif(not mf.openssl_can_verify(), reason="no OpenSSL 3 here")


def test_build_lists_every_chunk_and_round_trips(tmp_path):
    data, text = release(tmp_path, size=10000)
    manifest, raw = mf.parse(text)
    assert raw == text.encode()
    art = manifest["artifact"]
    assert art["size"] == len(data) and len(art["chunks"]) == -(-len(data) // art["chunk_size"])
    assert mf.chunk_range(manifest, len(art["chunks"]) - 1)[1] == len(data) - (len(art["chunks"]) - 1) * 4096
    assert mf.release_id(manifest) == "demo-1.0.0-" + art["sha256"][:12]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m.update(format="other/1"), "format"),
        (lambda m: m.update(name="../etc"), "name"),
        (lambda m: m["artifact"].update(size=0), "size"),
        (lambda m: m["artifact"].update(chunk_size=10), "chunk_size"),
        (lambda m: m["artifact"]["chunks"].pop(), "chunks"),
        (lambda m: m["artifact"].update(sha256="ABC"), "sha256"),
        (lambda m: m["artifact"].update(type="zip"), "type"),
    ],
)
def test_malformed_manifests_are_refused(tmp_path, change, message):
    _data, text = release(tmp_path)
    manifest = json.loads(text)
    change(manifest)
    with pytest.raises(ManifestError, match=message):
        mf.parse(json.dumps(manifest))


def test_not_json_is_refused():
    with pytest.raises(ManifestError, match="not valid JSON"):
        mf.parse("{nope")


@needs_openssl
def test_openssl_verifies_the_publishers_signature_only(tmp_path):
    key, pem = keypair()
    other, _other_pem = keypair()
    _data, text = release(tmp_path)
    assert mf.verify_with_openssl(text.encode(), sign(key, text), pem)
    with pytest.raises(SignatureError, match="does not verify"):
        mf.verify_with_openssl(text.encode(), sign(other, text), pem)
    tampered = text.replace('"version":"1.0.0"', '"version":"1.0.1"')
    assert tampered != text
    with pytest.raises(SignatureError, match="does not verify"):
        mf.verify_with_openssl(tampered.encode(), sign(key, text), pem)


def test_signature_shape_is_checked_before_openssl_runs():
    with pytest.raises(SignatureError, match="base64"):
        mf.decode_signature("not base64 !!")
    with pytest.raises(SignatureError, match="64 bytes"):
        mf.decode_signature("AAAA")


def test_required_check_fails_closed_without_openssl(tmp_path, monkeypatch):
    key, pem = keypair()
    pinned = [{"id": trust.key_id(pem), "pem": pem}]
    _data, text = release(tmp_path)
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    with pytest.raises(SignatureError, match="required"):
        mf.device_verify(text.encode(), sign(key, text), pinned, "required", sent_key=pem)
    assert mf.device_verify(text.encode(), sign(key, text), pinned, "auto", sent_key=pem) == (
        "skipped",
        trust.key_id(pem),
    )
    # auto without OpenSSL still never trusts a key the device does not pin, and needs to know which one
    _other, other_pem = keypair()
    with pytest.raises(SignatureError, match="does not pin"):
        mf.device_verify(text.encode(), sign(key, text), pinned, "auto", sent_key=other_pem)
    with pytest.raises(SignatureError, match="public_key"):
        mf.device_verify(text.encode(), sign(key, text), pinned, "auto")
    with pytest.raises(SignatureError, match="needed"):
        mf.device_verify(text.encode(), "", pinned, "auto", sent_key=pem)
