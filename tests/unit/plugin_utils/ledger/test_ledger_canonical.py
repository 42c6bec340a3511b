"""Canonical JSON (RFC 8785) and the chain hash built on it."""

import hashlib
import math
import struct

import pytest

from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.canonical import (
    canonical_bytes,
    canonical_text,
    parse_json,
)
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.chain import (
    GENESIS_HASH,
    entry_hash,
    entry_hash_of,
    finish,
    hash_prefix,
)
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.errors import LedgerInvalidInput


# RFC 8785 appendix B: IEEE 754 values and their ECMAScript serialisation.
@pytest.mark.parametrize(
    ("bits", "expected"),
    [
        (0x0000000000000000, "0"),
        (0x8000000000000000, "0"),
        (0x0000000000000001, "5e-324"),
        (0x8000000000000001, "-5e-324"),
        (0x7FEFFFFFFFFFFFFF, "1.7976931348623157e+308"),
        (0x4340000000000000, "9007199254740992"),
        (0x4430000000000000, "295147905179352830000"),
        (0x44B52D02C7E14AF5, "9.999999999999997e+22"),
        (0x44B52D02C7E14AF6, "1e+23"),
        (0x444B1AE4D6E2EF4E, "999999999999999700000"),
        (0x444B1AE4D6E2EF50, "1e+21"),
        (0x3EB0C6F7A0B5ED8D, "0.000001"),
        (0x3EB0C6F7A0B5ED8E, "0.0000010000000000000002"),
        (0x3E7AD7F29ABCAF48, "1e-7"),
        (0x41B3DE4355555553, "333333333.3333332"),
        (0x3FD5555555555555, "0.3333333333333333"),
    ],
)
def test_numbers_follow_ecmascript(bits, expected):
    value = struct.unpack(">d", bits.to_bytes(8, "big"))[0]
    assert canonical_text(value) == expected


def test_rfc8785_sorting_is_by_utf16_code_units():
    # From RFC 8785 section 3.2.3: names sorted by UTF-16 code units, not code points.
    obj = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    keys = list(parse_json(canonical_text(obj)))
    assert keys == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


def test_structure_whitespace_and_escaping():
    obj = {"b": [1, True, None, "x\n\"\\\u0001\u007f\u00e9"], "a": {"z": 0, "y": -1.5}}
    assert canonical_text(obj) == '{"a":{"y":-1.5,"z":0},"b":[1,true,null,"x\\n\\"\\\\\\u0001\u007f\u00e9"]}'
    assert canonical_bytes(obj) == canonical_text(obj).encode("utf-8")


def test_float_that_is_integral_prints_as_integer_and_roundtrips():
    assert canonical_text({"n": 100.0}) == '{"n":100}'
    assert canonical_text(parse_json(canonical_text({"r": 0.1, "big": 1e21}))) == '{"big":1e+21,"r":0.1}'


@pytest.mark.parametrize(
    "bad",
    [math.nan, math.inf, -math.inf, 2**53, -(2**53), {1: "int key"}, {"s": "\ud800"}, {"x": {1, 2}}, b"bytes"],
)
def test_values_json_cannot_carry_exactly_are_refused(bad):
    with pytest.raises(LedgerInvalidInput):
        canonical_text(bad)


def test_subclasses_encode_as_their_json_base_type():
    class Tagged(str):
        pass

    class Dict(dict):
        pass

    assert canonical_text(Dict({Tagged("k"): [Tagged("v"), 1]})) == '{"k":["v",1]}'


@pytest.mark.parametrize("text", ['{"a":1,"a":2}', '{"a":NaN}', '{"a":Infinity}', "{bad"])
def test_strict_parse_refuses_ambiguous_json(text):
    with pytest.raises(LedgerInvalidInput):
        parse_json(text)


def test_entry_hash_shortcut_equals_the_definition():
    event = {"id": "x", "data": {"k": [1, 2.5, "é"]}, "type": "t"}
    prev = hashlib.sha256(b"prev").hexdigest()
    expected = hashlib.sha256(canonical_bytes({"seq": 7, "prev_hash": prev, "event": event})).hexdigest()
    assert entry_hash_of(7, prev, event) == expected
    assert entry_hash(7, prev, canonical_text(event)) == expected
    assert finish(hash_prefix(prev, canonical_text(event)), 7) == expected
    assert entry_hash(8, prev, canonical_text(event)) != expected
    assert entry_hash(7, GENESIS_HASH, canonical_text(event)) != expected


def test_hash_of_a_known_entry_is_the_one_existing_ledgers_hold():
    # Computed with the hand-written encoder the ledger used before the rfc8785 package: a ledger written then
    # verifies only while the same event still hashes to the same value (names sorted by UTF-16 code unit,
    # non-ASCII text unescaped, 1e21 and 1e-7 in exponent notation, the largest exact integer).
    event = {
        "id": "0b7c6a52-8f0e-4c9e-9d43-2f1d6a3b5e10",
        "type": "io.changeward.change.opened",
        "subject": "CHG-42",
        "time": "2026-01-05T10:00:00Z",
        "data": {
            "record": {
                "summary": "Release demo 1.0.2 \u2013 caf\u00e9 \U0001f680",
                "targets": ["cloud-use1a-01"],
                "risk": 0.35,
                "big": 1e21,
                "small": 1e-7,
                "n": 9007199254740991,
            },
            "\u20ac": 1,
            "\U0001f600": 2,
            "\ufb33": 3,
        },
    }
    assert entry_hash_of(1, GENESIS_HASH, event) == "f1a690527c71c047ceface328ee28daa4b85b9ff4a007612200bbd3cb4dbade7"


def test_a_mapping_that_is_not_a_dict_encodes_as_an_object():
    from types import MappingProxyType

    assert canonical_text({"m": MappingProxyType({"b": 1, "a": (2,)})}) == '{"m":{"a":[2],"b":1}}'
