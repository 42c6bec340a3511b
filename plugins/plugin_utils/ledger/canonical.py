# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Canonical JSON (RFC 8785, JSON Canonicalization Scheme) for hashing and signing.

Objects have their members sorted by the UTF-16 code units of the names, there is no whitespace,
strings are escaped as ECMAScript's JSON.stringify does (only ``"``, ``\\`` and control characters)
and the text is UTF-8. Numbers follow I-JSON: integers must fit an IEEE double exactly
(|n| <= 2**53 - 1) and floats are written in ECMAScript's shortest form. Anything JSON cannot say
losslessly (NaN, infinities, non-string keys, lone surrogates, other types) is refused rather than
coerced, so two parties always hash the same bytes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from decimal import Decimal
from json.encoder import encode_basestring  # the ensure_ascii=False escaper, as JCS wants

from .errors import LedgerInvalidInput

MAX_SAFE_INTEGER = 2**53 - 1


def _es_number(x: float) -> str:
    """ECMAScript Number::toString for a finite double (what RFC 8785 section 3.2.2.3 requires)."""
    if not math.isfinite(x):
        raise LedgerInvalidInput("NaN and Infinity cannot be canonicalised")
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    # repr gives the shortest digits that round-trip, which is the digit string ECMAScript uses.
    parts = Decimal(repr(abs(x))).as_tuple()
    digits, exp = parts.digits, parts.exponent
    ds = "".join(map(str, digits)).rstrip("0")
    exp += len(digits) - len(ds)
    k = len(ds)
    n = exp + k
    if k <= n <= 21:
        body = ds + "0" * (n - k)
    elif 0 < n <= 21:
        body = ds[:n] + "." + ds[n:]
    elif -6 < n <= 0:
        body = "0." + "0" * (-n) + ds
    else:
        e = n - 1
        mant = ds if k == 1 else ds[0] + "." + ds[1:]
        body = f"{mant}e{'+' if e >= 0 else '-'}{abs(e)}"
    return sign + body


def _utf16_key(name: str) -> bytes:
    return name.encode("utf-16-be", "surrogatepass")


def _encode(o, out: list) -> None:
    t = type(o)
    if t is str:
        out.append(encode_basestring(o))
    elif t is dict:
        ascii_only = True
        for k in o:
            if not isinstance(k, str):
                raise LedgerInvalidInput(f"object member names must be strings, got {type(k).__name__}")
            if k.__class__ is not str:  # a str subclass: re-key with plain strings
                _encode({str.__str__(n): v for n, v in o.items()}, out)
                return
            if ascii_only and not k.isascii():
                ascii_only = False
        out.append("{")
        first = True
        # Code point order is UTF-16 order for ASCII names; only others need the slower key.
        for k in sorted(o) if ascii_only else sorted(o, key=_utf16_key):
            if not first:
                out.append(",")
            first = False
            out.append(encode_basestring(k))
            out.append(":")
            _encode(o[k], out)
        out.append("}")
    elif t is list or t is tuple:
        out.append("[")
        for i, v in enumerate(o):
            if i:
                out.append(",")
            _encode(v, out)
        out.append("]")
    elif o is None:
        out.append("null")
    elif o is True:
        out.append("true")
    elif o is False:
        out.append("false")
    elif t is int:
        if -MAX_SAFE_INTEGER <= o <= MAX_SAFE_INTEGER:
            out.append(str(o))
        else:
            raise LedgerInvalidInput(f"integer {o} is outside the range JSON numbers carry exactly (2**53 - 1)")
    elif t is float:
        out.append(_es_number(o))
    # Subclasses (e.g. Ansible's tagged str/dict/list values) are encoded as their base JSON type.
    elif isinstance(o, str):
        _encode(str.__str__(o), out)
    elif isinstance(o, Mapping):
        _encode(dict(o.items()), out)
    elif isinstance(o, (list, tuple)):
        _encode(list(o), out)
    elif isinstance(o, bool):
        _encode(bool(o), out)
    elif isinstance(o, int):
        _encode(int(o), out)
    elif isinstance(o, float):
        _encode(float(o), out)
    else:
        raise LedgerInvalidInput(f"value of type {t.__name__} cannot be canonicalised as JSON")


def canonical_text(obj) -> str:
    """The RFC 8785 canonical JSON text of ``obj`` (a str; encode as UTF-8 to hash)."""
    out: list = []
    _encode(obj, out)
    text = "".join(out)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise LedgerInvalidInput(f"string is not valid Unicode (lone surrogate at {exc.start})") from None
    return text


def canonical_bytes(obj) -> bytes:
    """The RFC 8785 canonical JSON of ``obj`` as UTF-8 bytes."""
    return canonical_text(obj).encode("utf-8")


def _no_duplicates(pairs):
    obj = {}
    for k, v in pairs:
        if k in obj:
            raise LedgerInvalidInput(f"duplicate member name {k!r} in JSON object")
        obj[k] = v
    return obj


def _reject_constant(name):
    raise LedgerInvalidInput(f"{name} is not valid JSON")


_STRICT = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)


def parse_json(text: str):
    """Parse JSON strictly: duplicate member names and NaN/Infinity are errors, not silently resolved."""
    try:
        return _STRICT.decode(text)
    except ValueError as exc:
        if isinstance(exc, LedgerInvalidInput):
            raise
        raise LedgerInvalidInput(f"not valid JSON: {exc}") from None
