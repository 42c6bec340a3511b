# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Canonical JSON (RFC 8785, JSON Canonicalization Scheme) for hashing and signing, by the rfc8785 package.

Objects have their members sorted by the UTF-16 code units of the names, there is no whitespace, strings are
escaped as ECMAScript's JSON.stringify does and the text is UTF-8; integers must fit an IEEE double exactly
(|n| <= 2**53 - 1) and floats are written in ECMAScript's shortest form. Anything JSON cannot say losslessly
(NaN, infinities, non-string names, lone surrogates, other types) is refused rather than coerced, so two parties
always hash the same bytes. The package gives the bytes the ledger's earlier hand-written encoder gave, so every
ledger written before still verifies (tests: test_ledger_jcs_equivalence.py). Controller-only: the target-side
module_utils hash their own sorted-key JSON with the standard library and never need this form.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from .errors import LedgerInvalidInput

try:
    import rfc8785
except ImportError as exc:  # ansible-test's import check has no rfc8785; callers get a clear error instead
    rfc8785 = None
    IMPORT_ERROR: ImportError | None = exc
else:
    IMPORT_ERROR = None

MAX_SAFE_INTEGER = 2**53 - 1


def _plain(o):
    """o with every mapping a dict (the package encodes only dicts, lists and tuples as containers)."""
    if isinstance(o, Mapping):
        return {k: _plain(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_plain(v) for v in o]
    return o


def canonical_bytes(obj) -> bytes:
    """The RFC 8785 canonical JSON of ``obj`` as UTF-8 bytes."""
    if rfc8785 is None:
        raise ImportError(f"the ledger needs the rfc8785 package on the controller: {IMPORT_ERROR}")
    try:
        try:
            return rfc8785.dumps(obj)
        except rfc8785.CanonicalizationError as exc:
            if not str(exc).startswith("unsupported type"):
                raise
            return rfc8785.dumps(_plain(obj))  # a mapping that is not a dict (rare): encode it as one
    except rfc8785.IntegerDomainError:
        raise LedgerInvalidInput(
            f"an integer is outside the range JSON numbers carry exactly (|n| <= {MAX_SAFE_INTEGER})"
        ) from None
    except rfc8785.FloatDomainError:
        raise LedgerInvalidInput("NaN and Infinity cannot be canonicalised") from None
    except rfc8785.CanonicalizationError as exc:
        raise LedgerInvalidInput(f"value cannot be canonicalised as JSON: {exc}") from None
    except UnicodeError:  # a lone surrogate in an object member name
        raise LedgerInvalidInput("an object member name is not valid Unicode (lone surrogate)") from None


def canonical_text(obj) -> str:
    """The RFC 8785 canonical JSON text of ``obj`` (a str; encode as UTF-8 to hash)."""
    return canonical_bytes(obj).decode("utf-8")


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
