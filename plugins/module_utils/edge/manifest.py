# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Release manifests: what an artifact is (size, sha256, per-chunk sha256), signed with Ed25519.

The signature covers the manifest's exact bytes. Trust chain (docs/edge-updates.md): the controller
verifies the signature with the publisher's public key before it sends anything to a device; the device
verifies it again with ``openssl pkeyutl -verify -rawin`` where OpenSSL 3 is present, against the keys
pinned on the device (trust.py), never against a key the controller sends, then checks every chunk and the
whole artifact against the hashes in that manifest. A device trusts bytes only through it.

subprocess is used directly (pylint ansible-bad-function disabled at each call): this code also runs in the
detached agent, where there is no AnsibleModule.run_command.
"""

import base64
import binascii
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile

from . import trust
from .errors import ManifestError, SignatureError, TrustError

FORMAT = "changeward-edge-manifest/1"
NAME_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
HEX64_RE = re.compile(r"\A[0-9a-f]{64}\Z")
ARTIFACT_TYPES = ("tar", "file")
MIN_CHUNK = 4096
MAX_CHUNK = 64 * 1024 * 1024
DEFAULT_CHUNK = 256 * 1024


def parse(text):
    """Validate a manifest (text or bytes); returns (manifest dict, canonical bytes that were signed)."""
    raw = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ManifestError("the manifest is not valid JSON: %s" % exc) from None
    validate(data)
    return data, raw


def validate(data):
    if not isinstance(data, dict):
        raise ManifestError("the manifest must be a JSON object")
    if data.get("format") != FORMAT:
        raise ManifestError("manifest format must be %r, got %r" % (FORMAT, data.get("format")))
    for key in ("name", "version"):
        if not isinstance(data.get(key), str) or not NAME_RE.match(data[key]):
            raise ManifestError("manifest %s must match %s, got %r" % (key, NAME_RE.pattern, data.get(key)))
    art = data.get("artifact")
    if not isinstance(art, dict):
        raise ManifestError("manifest artifact must be an object")
    if art.get("type") not in ARTIFACT_TYPES:
        raise ManifestError("artifact type must be one of %s, got %r" % (", ".join(ARTIFACT_TYPES), art.get("type")))
    if art["type"] == "file" and not (isinstance(art.get("filename"), str) and NAME_RE.match(art["filename"])):
        raise ManifestError("a file artifact needs a plain filename, got %r" % art.get("filename"))
    size, chunk = art.get("size"), art.get("chunk_size")
    for key, value in (("size", size), ("chunk_size", chunk)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ManifestError("artifact %s must be a positive integer, got %r" % (key, value))
    if not MIN_CHUNK <= chunk <= MAX_CHUNK:
        raise ManifestError("artifact chunk_size must be between %d and %d" % (MIN_CHUNK, MAX_CHUNK))
    if not isinstance(art.get("sha256"), str) or not HEX64_RE.match(art["sha256"]):
        raise ManifestError("artifact sha256 must be 64 lowercase hex digits")
    chunks = art.get("chunks")
    expected = (size + chunk - 1) // chunk
    if not isinstance(chunks, list) or len(chunks) != expected:
        raise ManifestError("artifact chunks must list %d sha256 values (size / chunk_size)" % expected)
    for index, value in enumerate(chunks):
        if not isinstance(value, str) or not HEX64_RE.match(value):
            raise ManifestError("artifact chunks[%d] must be 64 lowercase hex digits" % index)
    if "trust" in data:
        trust.rotation(data)  # a key rotation the release carries (trust.py): its shape is checked here
    return data


def release_id(manifest):
    """A file-name-safe id of the release: name, version and the start of the artifact's sha256."""
    return "%s-%s-%s" % (manifest["name"], manifest["version"], manifest["artifact"]["sha256"][:12])


def chunk_range(manifest, index):
    """(offset, length) of chunk index."""
    art = manifest["artifact"]
    offset = index * art["chunk_size"]
    return offset, min(art["chunk_size"], art["size"] - offset)


def build(path, name, version, chunk_size=DEFAULT_CHUNK, artifact_type="tar", filename=None):
    """The manifest of a local artifact file (for publishers, tests and the benchmark)."""
    whole = hashlib.sha256()
    chunks = []
    size = 0
    with open(path, "rb") as handle:
        while True:
            block = handle.read(chunk_size)
            if not block:
                break
            whole.update(block)
            chunks.append(hashlib.sha256(block).hexdigest())
            size += len(block)
    art = {"type": artifact_type, "size": size, "sha256": whole.hexdigest(), "chunk_size": chunk_size, "chunks": chunks}
    if artifact_type == "file":
        art["filename"] = filename or os.path.basename(path)
    return validate({"format": FORMAT, "name": name, "version": version, "artifact": art})


def dumps(manifest):
    """The bytes a publisher signs and ships (compact, sorted keys)."""
    return json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode("utf-8")


def decode_signature(signature):
    try:
        raw = base64.b64decode((signature or "").strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("the signature is not base64") from None
    if len(raw) != 64:
        raise SignatureError("an Ed25519 signature is 64 bytes, this one is %d" % len(raw))
    return raw


def openssl_can_verify(openssl="openssl"):
    """True when an OpenSSL with Ed25519 raw-input verification (3.0+) is on PATH."""
    path = shutil.which(openssl)
    if not path:
        return False
    try:
        out = subprocess.run(  # pylint: disable=ansible-bad-function
            [path, "version"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return False
    match = re.match(rb"OpenSSL (\d+)\.", out.stdout)
    return bool(match) and int(match.group(1)) >= 3


def verify_with_openssl(data, signature, public_key_pem, openssl="openssl"):
    """Verify an Ed25519 signature over data with the openssl binary; SignatureError when it does not verify."""
    sig = decode_signature(signature)
    if "BEGIN PUBLIC KEY" not in (public_key_pem or ""):
        raise SignatureError("public_key must be a PEM public key (-----BEGIN PUBLIC KEY-----)")
    workdir = tempfile.mkdtemp(prefix="cw-edge-sig-")
    try:
        paths = {}
        for name, content in (("data", data), ("sig", sig), ("key.pem", public_key_pem.encode("ascii"))):
            paths[name] = os.path.join(workdir, name)
            with open(paths[name], "wb") as handle:
                handle.write(content)
        argv = [openssl, "pkeyutl", "-verify", "-rawin", "-pubin", "-inkey", paths["key.pem"]]
        argv += ["-in", paths["data"], "-sigfile", paths["sig"]]
        try:
            proc = subprocess.run(  # pylint: disable=ansible-bad-function
                argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30, check=False
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise SignatureError("cannot run openssl to verify the manifest: %s" % exc) from None
        if proc.returncode != 0 or b"Signature Verified Successfully" not in proc.stdout:
            detail = (proc.stdout + proc.stderr).decode("utf-8", "replace").strip().splitlines()
            raise SignatureError(
                "the manifest signature does not verify with the configured public key (%s)"
                % (detail[0] if detail else "openssl exit %d" % proc.returncode)
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return True


def device_verify(data, signature, keys, mode, sent_key=None):
    """Device-side signature check against the keys pinned on the device (trust.load).

    mode required: must verify here; auto: verify when openssl can. ``sent_key`` (the PEM the controller
    sent, optional) is never trusted by itself: when given it must be one of the pinned keys.
    Returns (result, key id): ('verified', id of the pinned key that verified) or ('skipped', id of the
    pinned key the controller verified with - auto without a capable openssl, where the controller's check
    with that key stands).
    """
    if mode not in ("required", "auto"):
        raise SignatureError("signature_check must be required or auto, got %r" % (mode,))
    if not signature:
        raise SignatureError("a signature is needed to stage a release")
    decode_signature(signature)
    pinned = {k["id"] for k in keys}
    sent_id = None
    if sent_key:
        try:
            sent_id = trust.key_id(sent_key)
        except TrustError as exc:
            raise SignatureError("public_key: %s" % exc) from None
        if sent_id not in pinned:
            raise SignatureError(
                "the controller sent publisher key %s, which this device does not pin; a device trusts only the "
                "keys installed at provisioning or rotated in by a signed release" % sent_id
            )
    if not openssl_can_verify():
        if mode == "required":
            raise SignatureError("signature_check=required but no OpenSSL 3 (openssl pkeyutl -rawin) on this device")
        if sent_id is None:
            raise SignatureError(
                "signature_check=auto without OpenSSL 3 relies on the controller's check, which needs the "
                "publisher key it used (public_key) to be one this device pins"
            )
        return "skipped", sent_id
    entry = trust.verify_pinned(data, signature, keys, verify_with_openssl)
    return "verified", entry["id"]


def main(argv=None):
    """python -m ...module_utils.edge.manifest ARTIFACT NAME VERSION [CHUNK_SIZE] [tar|file]: print a manifest."""
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 3:
        sys.stderr.write("usage: manifest.py ARTIFACT NAME VERSION [CHUNK_SIZE] [tar|file]\n")
        return 2
    chunk = int(args[3]) if len(args) > 3 else DEFAULT_CHUNK
    kind = args[4] if len(args) > 4 else "tar"
    sys.stdout.write(dumps(build(args[0], args[1], args[2], chunk, kind)).decode("utf-8"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
