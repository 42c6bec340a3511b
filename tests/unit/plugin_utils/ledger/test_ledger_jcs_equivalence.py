"""The rfc8785 package and the hand-written encoder the ledger used before agree byte for byte.

Every event of a ledger written before the switch was hashed over the hand-written encoder's bytes
(jcs_reference.py); the ledger still verifies only if the package produces the same bytes for every document
the ledger can hold. 20,000 random documents (seeded, so a failure reproduces) cover what ledger events carry:
nested objects and arrays, names that sort differently by UTF-16 code unit than by code point, strings with
escapes, control characters and characters beyond the BMP, integers up to 2**53 - 1 and doubles of every
magnitude (including the ECMAScript notation boundaries 1e21 and 1e-7).
"""

import math
import random
import struct

import jcs_reference
import pytest
import rfc8785

from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import canonical
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.errors import LedgerInvalidInput

DOCUMENTS = 20_000
SEED = 8785

# code points a string is drawn from: plain ASCII, what JSON escapes, DEL and C1, Latin-1, the BMP above the
# surrogates (sorts after non-BMP by UTF-16 code unit), line/paragraph separators, a BOM, and beyond the BMP
POOLS = (
    [chr(c) for c in range(0x20, 0x7F)],
    ['"', "\\", "\b", "\f", "\n", "\r", "\t", "\x00", "\x01", "\x1f", "/"],
    ["\x7f", "\x80", "\x9f", "\u00e9", "\u00f6", "\u00ff"],
    ["\u2028", "\u2029", "\ufeff", "\u20ac", "\ufb33", "\uffff", "\ue000"],
    ["\U0001f600", "\U00010000", "\U0010ffff", "\U0001d11e"],
)


def rand_str(rng, size=8):
    return "".join(rng.choice(rng.choice(POOLS)) for _char in range(rng.randint(0, size)))


def rand_float(rng):
    kind = rng.randrange(6)
    if kind == 0:  # any finite double, from its bits
        while True:
            value = struct.unpack(">d", rng.getrandbits(64).to_bytes(8, "big"))[0]
            if math.isfinite(value):
                return value
    if kind == 1:  # a decimal as people write it
        return round(rng.uniform(-1e6, 1e6), rng.randint(0, 6))
    if kind == 2:  # around the switch to exponent notation (1e21 up, 1e-7 down)
        return rng.choice((1, -1)) * rng.uniform(1, 10) * 10.0 ** rng.choice((-8, -7, -6, -5, 19, 20, 21, 22))
    if kind == 3:  # an integral double
        return float(rng.randint(-(2**53), 2**53))
    if kind == 4:  # tiny and huge magnitudes
        return rng.choice((1, -1)) * rng.uniform(1, 10) * 10.0 ** rng.randint(-320, 307)
    return rng.random()


def rand_scalar(rng):
    kind = rng.randrange(7)
    if kind == 0:
        return rng.randint(-(2**53) + 1, 2**53 - 1)
    if kind == 1:
        return rng.randint(-1000, 1000)
    if kind == 2:
        return rand_float(rng)
    if kind == 3:
        return rng.choice((True, False, None))
    return rand_str(rng, 24)


def rand_doc(rng, depth=0):
    kind = rng.randrange(10) if depth < 4 else 9
    if kind < 4:
        return {rand_str(rng, 6): rand_doc(rng, depth + 1) for _key in range(rng.randint(0, 6))}
    if kind < 6:
        return [rand_doc(rng, depth + 1) for _item in range(rng.randint(0, 5))]
    return rand_scalar(rng)


def test_package_and_hand_written_encoder_agree_on_random_documents():
    rng = random.Random(SEED)
    kinds = set()
    for n in range(DOCUMENTS):
        doc = rand_doc(rng)
        kinds.add(type(doc).__name__)
        expected = jcs_reference.canonical_bytes(doc)
        assert rfc8785.dumps(doc) == expected, (n, doc)
        assert canonical.canonical_bytes(doc) == expected, (n, doc)
    assert kinds == {"dict", "list", "int", "float", "str", "bool", "NoneType"}


@pytest.mark.parametrize(
    "bad", [math.nan, math.inf, 2**53, -(2**53), {1: "int key"}, {"s": "\ud800"}, {"\udc00": 1}, {"x": {1, 2}}]
)
def test_both_refuse_what_json_cannot_carry_exactly(bad):
    with pytest.raises(ValueError):
        jcs_reference.canonical_bytes(bad)
    with pytest.raises(LedgerInvalidInput):
        canonical.canonical_bytes(bad)
