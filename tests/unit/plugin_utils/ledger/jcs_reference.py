"""The hand-written RFC 8785 encoder the ledger hashed with before it used the rfc8785 package, kept as a test
oracle: every ledger written before the switch must still verify, so the package has to produce the same bytes
(test_ledger_jcs_equivalence.py). Not used by the collection."""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from json.encoder import encode_basestring

MAX_SAFE_INTEGER = 2**53 - 1


def _es_number(x: float) -> str:
    """ECMAScript Number::toString for a finite double (what RFC 8785 section 3.2.2.3 requires)."""
    if not math.isfinite(x):
        raise ValueError("NaN and Infinity cannot be canonicalised")
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
                raise ValueError(f"object member names must be strings, got {type(k).__name__}")
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
            raise ValueError(f"integer {o} is outside the range JSON numbers carry exactly (2**53 - 1)")
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
        raise ValueError(f"value of type {t.__name__} cannot be canonicalised as JSON")


def canonical_text(obj) -> str:
    """The RFC 8785 canonical JSON text of ``obj`` (a str; encode as UTF-8 to hash)."""
    out: list = []
    _encode(obj, out)
    text = "".join(out)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"string is not valid Unicode (lone surrogate at {exc.start})") from None
    return text


def canonical_bytes(obj) -> bytes:
    """The RFC 8785 canonical JSON of ``obj`` as UTF-8 bytes."""
    return canonical_text(obj).encode("utf-8")
