# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Signed checkpoints: {seq, hash, time, count, ...} signed with HMAC-SHA256 or Ed25519.

A checkpoint vouches for the whole chain up to ``seq`` (the entry hash covers every earlier entry). It is
stored in the ledger and shipped to sinks; the copy a sink holds is the anchor that exposes a truncated
or rewritten ledger.

Key material (a string, e.g. from CHANGEWARD_LEDGER_KEY or Ansible Vault), surrounding whitespace ignored:

- ``-----BEGIN PRIVATE KEY-----`` / ``-----BEGIN PUBLIC KEY-----``: an Ed25519 key in PEM;
- ``ed25519:<base64 of the 32-byte private seed>`` or ``ed25519-pub:<base64 of the 32-byte public key>``;
- anything else (optionally prefixed ``hmac:``) is an HMAC-SHA256 secret of at least 16 bytes.

An Ed25519 public key can verify but not sign, so auditors need no secret.

A verifier's key ring (``load_keys``) is one key, or a list across rotations whose items are key material
or ``{key | public_key | path, not_before, not_after}``: a signature counts only when the signed time lies in
its key's validity range. The same signing scheme signs export headers (``sign_object``/``check_signature``).
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import hmac
from collections.abc import Mapping

from .canonical import canonical_bytes
from .chain import is_hash
from .errors import LedgerConfigError, LedgerInvalidInput, LedgerKeyError
from .model import TIME_RE, check_time, utc_now

ALG_HMAC = "HMAC-SHA256"
ALG_ED25519 = "Ed25519"
ALGORITHMS = (ALG_HMAC, ALG_ED25519)
MIN_HMAC_BYTES = 16
CHECKPOINT_FIELDS = ("alg", "count", "hash", "interval", "key_id", "ledger_id", "seq", "sig", "time")


class HmacKey:
    alg = ALG_HMAC
    can_sign = True
    not_before = not_after = None  # validity range (RFC 3339), set by load_keys

    def __init__(self, secret: bytes):
        if len(secret) < MIN_HMAC_BYTES:
            raise LedgerConfigError(
                f"the HMAC checkpoint key is too short: at least {MIN_HMAC_BYTES} bytes are required"
            )
        self._secret = secret
        self.key_id = "hmac-" + hmac.new(secret, b"changeward ledger key id", hashlib.sha256).hexdigest()[:16]

    def sign(self, message: bytes) -> bytes:
        return hmac.new(self._secret, message, hashlib.sha256).digest()

    def verify(self, message: bytes, sig: bytes) -> bool:
        return hmac.compare_digest(self.sign(message), sig)

    def __repr__(self):  # never show the secret
        return f"<HmacKey {self.key_id}>"


class Ed25519Key:
    alg = ALG_ED25519
    not_before = not_after = None

    def __init__(self, private=None, public=None):
        from cryptography.hazmat.primitives import serialization

        self._private = private
        self._public = public if public is not None else private.public_key()
        raw = self._public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.key_id = "ed25519-" + hashlib.sha256(raw).hexdigest()[:16]
        self.can_sign = private is not None

    def sign(self, message: bytes) -> bytes:
        if self._private is None:
            raise LedgerKeyError(f"key {self.key_id} is an Ed25519 public key; signing needs the private key")
        return self._private.sign(message)

    def verify(self, message: bytes, sig: bytes) -> bool:
        from cryptography.exceptions import InvalidSignature

        try:
            self._public.verify(sig, message)
        except InvalidSignature:
            return False
        return True

    def public_text(self) -> str:
        """The public key as ``ed25519-pub:<base64>`` (safe to record and publish)."""
        from cryptography.hazmat.primitives import serialization

        raw = self._public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return "ed25519-pub:" + base64.b64encode(raw).decode()

    def __repr__(self):
        return f"<Ed25519Key {self.key_id}{' private' if self.can_sign else ''}>"


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise LedgerConfigError(f"{what} is not valid base64") from None


def load_key(material):
    """A signing/verifying key from key material (see the module docstring). Never echoes the material."""
    if isinstance(material, (HmacKey, Ed25519Key)):
        return material
    if isinstance(material, bytes):
        material = material.decode("utf-8")
    if not isinstance(material, str) or not material.strip():
        raise LedgerKeyError("the checkpoint key is empty")
    text = material.strip()
    if text.startswith("[") and text.endswith("]"):
        # What a list becomes when it is passed to a string option: never take it for an HMAC secret.
        raise LedgerConfigError(
            "the checkpoint key looks like a list of keys turned into text; pass several keys as a list (the keys "
            "option), one key as a string (an HMAC secret that really is bracketed: prefix it with hmac:)"
        )
    if text.startswith("-----BEGIN"):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519

        try:
            if "PRIVATE KEY" in text.splitlines()[0]:
                key = serialization.load_pem_private_key(text.encode(), password=None)
                if not isinstance(key, ed25519.Ed25519PrivateKey):
                    raise LedgerConfigError("the PEM checkpoint key is not an Ed25519 key")
                return Ed25519Key(private=key)
            key = serialization.load_pem_public_key(text.encode())
        except (ValueError, TypeError):
            raise LedgerConfigError(
                "the PEM checkpoint key cannot be loaded (not an unencrypted Ed25519 key)"
            ) from None
        if not isinstance(key, ed25519.Ed25519PublicKey):
            raise LedgerConfigError("the PEM checkpoint key is not an Ed25519 key")
        return Ed25519Key(public=key)
    if text.startswith(("ed25519:", "ed25519-pub:")):
        from cryptography.hazmat.primitives.asymmetric import ed25519

        prefix, b64 = text.split(":", 1)
        raw = _b64(b64, f"the {prefix} key")
        if len(raw) != 32:
            raise LedgerConfigError(f"the {prefix} key must be 32 bytes, got {len(raw)}")
        if prefix == "ed25519":
            return Ed25519Key(private=ed25519.Ed25519PrivateKey.from_private_bytes(raw))
        return Ed25519Key(public=ed25519.Ed25519PublicKey.from_public_bytes(raw))
    if text.startswith("hmac:"):
        text = text[len("hmac:") :]
    return HmacKey(text.encode("utf-8"))


KEY_SPEC_FIELDS = ("key", "public_key", "path", "not_before", "not_after")


def _spec_key(spec: Mapping, n: int):
    """One key of a ring from ``{key | public_key | path, not_before, not_after}``."""
    what = f"keys[{n}]"
    unknown = sorted(set(spec) - set(KEY_SPEC_FIELDS))
    if unknown:
        raise LedgerConfigError(f"{what}: unknown field(s) {', '.join(map(str, unknown))} (allowed: {KEY_SPEC_FIELDS})")
    given = [f for f in ("key", "public_key", "path") if spec.get(f) not in (None, "")]
    if len(given) != 1:
        raise LedgerConfigError(f"{what}: give exactly one of key, public_key or path")
    if given[0] == "path":
        import os

        try:
            with open(os.path.expanduser(str(spec["path"])), encoding="utf-8") as fh:
                material = fh.read()
        except OSError as exc:
            raise LedgerConfigError(f"{what}: cannot read key file {spec['path']}: {exc.strerror}") from None
    else:
        material = spec[given[0]]
    key = copy.copy(load_key(material))
    for field in ("not_before", "not_after"):
        value = spec.get(field)
        if value not in (None, ""):
            try:
                check_time(value, f"{what}.{field}")
            except LedgerInvalidInput as exc:
                raise LedgerConfigError(str(exc)) from None
            setattr(key, field, value)
    if key.not_before and key.not_after and instant(key.not_after) < instant(key.not_before):
        raise LedgerConfigError(f"{what}: not_after {key.not_after} is before not_before {key.not_before}")
    return key


def load_keys(material) -> dict:
    """A key ring {key_id: key} from one key, or a list of keys (old and new, across a rotation).

    Items are key material (a string or a loaded key) or ``{key | public_key | path, not_before, not_after}``.
    A key given twice is an error (its validity would be ambiguous).
    """
    if material is None:
        return {}
    items = material if isinstance(material, (list, tuple)) else [material]
    ring = {}
    for n, item in enumerate(items):
        key = _spec_key(item, n) if isinstance(item, Mapping) else load_key(item)
        if key.key_id in ring:
            raise LedgerConfigError(f"key {key.key_id} is given twice in the key list")
        ring[key.key_id] = key
    return ring


def instant(value: str) -> tuple:
    """An RFC 3339 UTC time as a tuple that orders correctly (fractions of any length)."""
    m = TIME_RE.match(value)
    if m is None:
        raise LedgerInvalidInput(f"not an RFC 3339 UTC time: {value!r}")
    *whole, frac = m.groups()
    return (*(int(g) for g in whole), int(((frac or ".")[1:] + "000000000")[:9]))


def key_valid_at(key, when) -> str | None:
    """None when ``when`` lies in the key's validity range; else why not."""
    if key.not_before is None and key.not_after is None:
        return None
    try:
        t = instant(when)
    except (LedgerInvalidInput, TypeError):
        return f"its time {when!r} is not an RFC 3339 UTC time"
    if key.not_before is not None and t < instant(key.not_before):
        return f"signed at {when}, before key {key.key_id} is valid (not_before {key.not_before})"
    if key.not_after is not None and t > instant(key.not_after):
        return f"signed at {when}, after key {key.key_id} expired (not_after {key.not_after})"
    return None


def generate_ed25519() -> tuple[str, str]:
    """A new Ed25519 key pair as (private 'ed25519:...', public 'ed25519-pub:...') strings."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    private = ed25519.Ed25519PrivateKey.generate()
    seed = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    pub = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519:" + base64.b64encode(seed).decode(), "ed25519-pub:" + base64.b64encode(pub).decode()


def signed_part(checkpoint: Mapping, without: str = "sig") -> bytes:
    """The bytes a signature covers: the canonical object without its signature member."""
    return canonical_bytes({k: v for k, v in checkpoint.items() if k != without})


def sign_object(key, obj: Mapping) -> dict:
    """``{alg, key_id, sig}`` over the canonical JSON of ``obj`` (an export header, a key endorsement)."""
    key = load_key(key)
    if not key.can_sign:
        raise LedgerKeyError(f"key {key.key_id} can only verify; signing needs a signing key")
    return {"alg": key.alg, "key_id": key.key_id, "sig": base64.b64encode(key.sign(canonical_bytes(obj))).decode()}


def check_signature(message: bytes, signature, keys: Mapping, when=None) -> str | None:
    """None when ``signature`` ({alg, key_id, sig}) signs ``message`` with a key of ``keys`` valid at ``when``."""
    if not isinstance(signature, Mapping) or not all(
        isinstance(signature.get(f), str) for f in ("alg", "key_id", "sig")
    ):
        return "the signature is missing or malformed (alg, key_id and sig strings)"
    if signature["alg"] not in ALGORITHMS:
        return f"unknown signature algorithm {signature['alg']!r}"
    key = keys.get(signature["key_id"])
    if key is None:
        have = ", ".join(sorted(keys)) or "none"
        return f"signed with key {signature['key_id']}, which is not a verification key given (have: {have})"
    if key.alg != signature["alg"]:
        return f"alg {signature['alg']} does not match key {key.key_id} ({key.alg})"
    try:
        sig = base64.b64decode(signature["sig"], validate=True)
    except (binascii.Error, ValueError):
        return "signature is not valid base64"
    if not key.verify(message, sig):
        return f"signature does not verify with key {key.key_id}"
    if when is not None:
        return key_valid_at(key, when)
    return None


ROTATION_FIELDS = ("ledger_id", "previous_key_id", "key_id", "alg", "public_key", "time")


def rotation_statement(data: Mapping) -> dict:
    """What both keys of a rotation sign: the ledger, the key retired, the key taking over and when."""
    return {"statement": "changeward ledger key rotation", **{f: data.get(f) for f in ROTATION_FIELDS}}


def make_checkpoint(key, *, ledger_id: str, seq: int, entry_hash: str, interval: int, time: str | None = None) -> dict:
    """A signed checkpoint for the chain ending at ``seq`` with hash ``entry_hash``."""
    key = load_key(key)
    if not key.can_sign:
        raise LedgerKeyError(f"key {key.key_id} can only verify; checkpoints need a signing key")
    checkpoint = {
        "alg": key.alg,
        "count": seq,
        "hash": entry_hash,
        "interval": interval,
        "key_id": key.key_id,
        "ledger_id": ledger_id,
        "seq": seq,
        "time": time or utc_now(),
    }
    checkpoint["sig"] = base64.b64encode(key.sign(signed_part(checkpoint))).decode()
    return checkpoint


def check_checkpoint_shape(checkpoint) -> None:
    """Raise LedgerInvalidInput unless ``checkpoint`` has the checkpoint fields with sane types."""
    if not isinstance(checkpoint, Mapping):
        raise LedgerInvalidInput(f"a checkpoint must be an object, got {type(checkpoint).__name__}")
    missing = [f for f in CHECKPOINT_FIELDS if f not in checkpoint]
    if missing:
        raise LedgerInvalidInput(f"checkpoint lacks {', '.join(missing)}")
    for f in ("seq", "count", "interval"):
        if isinstance(checkpoint[f], bool) or not isinstance(checkpoint[f], int) or checkpoint[f] < 0:
            raise LedgerInvalidInput(f"checkpoint {f} must be a non-negative integer, got {checkpoint[f]!r}")
    if not is_hash(checkpoint["hash"]):
        raise LedgerInvalidInput("checkpoint hash must be 64 lowercase hex digits")
    for f in ("alg", "key_id", "ledger_id", "sig"):
        if not isinstance(checkpoint[f], str):
            raise LedgerInvalidInput(f"checkpoint {f} must be a string")
    check_time(checkpoint["time"], "checkpoint time")


def verify_checkpoint(checkpoint, keys: Mapping) -> str | None:
    """None when ``checkpoint`` is well-formed and correctly signed by a key in ``keys``; else why not."""
    try:
        check_checkpoint_shape(checkpoint)
    except LedgerInvalidInput as exc:
        return str(exc)
    if checkpoint["alg"] not in ALGORITHMS:
        return f"unknown signature algorithm {checkpoint['alg']!r}"
    if checkpoint["count"] != checkpoint["seq"]:
        return f"count {checkpoint['count']} does not equal seq {checkpoint['seq']}"
    signature = {f: checkpoint[f] for f in ("alg", "key_id", "sig")}
    return check_signature(signed_part(checkpoint), signature, keys, when=checkpoint["time"])
