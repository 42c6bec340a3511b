# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Masking personal data copied to staging: deterministic keyed tokenisation, format-preserving where needed.

Every value of a PII field is replaced by a value derived from HMAC-SHA256 under a key the operator holds, so
the same input always masks to the same output (joins between tables and files still match), nobody without the
key can recompute the mapping, and nothing of the original is kept. Kinds:

- ``token``: ``tok_`` and 20 base32 characters - any value, shape not kept;
- ``digits``: every digit replaced by a derived digit, everything else (separators, a leading +) kept - phone
  numbers, account and card numbers keep their length and layout;
- ``email``: the local part replaced by derived letters and digits of the same length (at least 6), the domain by
  a derived label under ``example.invalid`` (RFC 2606/6761: never deliverable);
- ``name``: derived letters of the same length, capital first.

Fields are matched by key name (case-insensitive) anywhere in nested mappings and lists.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import ChangewardError

KINDS = ("token", "digits", "email", "name")
MIN_KEY = 16
ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
LETTERS = "abcdefghijklmnopqrstuvwxyz"


class MaskingError(ChangewardError, ValueError):
    """A key, field map or value that cannot be masked; the message never holds the key or the value."""


def _stream(key: bytes, kind: str, field: str, value: str, n: int) -> bytes:
    out, counter = b"", 0
    while len(out) < n:
        msg = b"\0".join([kind.encode(), field.encode(), value.encode("utf-8"), str(counter).encode()])
        out += hmac.new(key, msg, hashlib.sha256).digest()
        counter += 1
    return out[:n]


def _pick(stream: bytes, alphabet: str) -> str:
    return "".join(alphabet[b % len(alphabet)] for b in stream)


def mask_value(value, kind: str, key: bytes, field: str = "") -> str:
    if value is None:
        return None
    text = str(value)
    if kind == "token":
        return "tok_" + base64.b32encode(_stream(key, kind, field, text, 15)).decode().lower()[:20]
    if kind == "digits":
        digits = [c for c in text if c.isdigit()]
        stream = iter(_pick(_stream(key, kind, field, text, max(1, len(digits))), "0123456789"))
        return "".join(next(stream) if c.isdigit() else c for c in text)
    if kind == "email":
        local, sep, domain = text.rpartition("@")
        if not sep or not local or not domain:
            raise MaskingError(f"field {field}: a value is not an e-mail address")
        masked = _pick(_stream(key, kind, field, text.lower(), max(6, len(local))), ALNUM)
        label = _pick(_stream(key, kind + "-domain", field, domain.lower(), 8), LETTERS)
        return f"{masked}@{label}.example.invalid"
    if kind == "name":
        masked = _pick(_stream(key, kind, field, text, max(1, len(text))), LETTERS)
        return masked[0].upper() + masked[1:]
    raise MaskingError(f"field {field}: kind must be one of {', '.join(KINDS)}, got {kind!r}")


def _key(key) -> bytes:
    if isinstance(key, str):
        key = key.encode("utf-8")
    if not isinstance(key, bytes) or len(key) < MIN_KEY:
        raise MaskingError(f"the masking key must be at least {MIN_KEY} bytes (keep it in a vault, not in the data)")
    return key


def mask(data, fields: Mapping, key):
    """A copy of data with every field named in ``fields`` ({name: kind}) masked, at any depth."""
    key = _key(key)
    if not isinstance(fields, Mapping) or not fields:
        raise MaskingError("fields must map field names to kinds (token, digits, email, name)")
    wanted = {}
    for name, kind in fields.items():
        if kind not in KINDS:
            raise MaskingError(f"field {name}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
        wanted[str(name).lower()] = kind

    def walk(value):
        if isinstance(value, Mapping):
            out = {}
            for k, v in value.items():
                kind = wanted.get(str(k).lower())
                if kind and not isinstance(v, (Mapping, list, tuple)):
                    out[k] = mask_value(v, kind, key, str(k).lower())
                elif kind and isinstance(v, (list, tuple)):
                    out[k] = [
                        walk(i) if isinstance(i, (Mapping, list)) else mask_value(i, kind, key, str(k).lower())
                        for i in v
                    ]
                else:
                    out[k] = walk(v)
            return out
        if isinstance(value, (list, tuple)):
            return [walk(v) for v in value]
        return value

    return walk(data)
