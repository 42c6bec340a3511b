"""PII masking: deterministic under one key, different under another, format kept where asked, nothing of the
original left, nested fields found; a short key or a non-address fails without echoing the value."""

import re

import pytest

from ansible_collections.changeward.hybrid.plugins.plugin_utils.masking import MaskingError, mask

KEY = "staging-masking-key-0123456789"
FIELDS = {"email": "email", "phone": "digits", "name": "name", "customer_id": "token"}
ROWS = [
    {
        "customer_id": 4711,
        "name": "Alice",
        "email": "alice@bank.example.com",
        "phone": "+49 30 1234-5678",
        "orders": [{"id": 1, "email": "alice@bank.example.com"}],
        "country": "DE",
    },
    {"customer_id": 4712, "name": "Bob", "email": "bob@corp.example", "phone": "+49 30 1234-5679", "country": "DE"},
]


def test_the_same_value_masks_the_same_way_so_joins_still_match():
    out = mask(ROWS, FIELDS, KEY)
    assert out == mask(ROWS, FIELDS, KEY)
    assert out[0]["email"] == out[0]["orders"][0]["email"]  # nested, and consistent across places
    assert out[0]["email"] != out[1]["email"]
    assert mask(ROWS, FIELDS, KEY + "-other")[0]["email"] != out[0]["email"]


def test_formats_are_kept_where_asked_and_nothing_of_the_original_is_left():
    row = mask(ROWS, FIELDS, KEY)[0]
    assert re.fullmatch(r"\+\d\d \d\d \d{4}-\d{4}", row["phone"]) and row["phone"] != ROWS[0]["phone"]
    assert re.fullmatch(r"[a-z0-9]{6}@[a-z]{8}\.example\.invalid", row["email"])
    assert re.fullmatch(r"[A-Z][a-z]{4}", row["name"]) and row["name"] != "Alice"
    assert re.fullmatch(r"tok_[a-z2-7]{20}", row["customer_id"])
    assert row["country"] == "DE"  # not a PII field: untouched
    text = repr(row)
    assert "alice" not in text.lower() and "4711" not in text and "bank" not in text


def test_a_short_key_and_a_bad_address_fail_without_echoing_the_value():
    with pytest.raises(MaskingError, match="at least 16 bytes"):
        mask(ROWS, FIELDS, "short")
    with pytest.raises(MaskingError) as info:
        mask({"email": "not-an-address"}, FIELDS, KEY)
    assert "not-an-address" not in str(info.value) and KEY not in str(info.value)
    with pytest.raises(MaskingError, match="kind must be one of"):
        mask(ROWS, {"email": "hash"}, KEY)
