"""Wire formats: RFC 5424 + RFC 6587 octet counting, the signed webhook body, Splunk HEC events."""

import json
import re
from datetime import UTC, datetime

import pytest

from ansible_collections.changeward.hybrid.plugins.plugin_utils.shipping import config
from ansible_collections.changeward.hybrid.plugins.plugin_utils.shipping.base import Item
from ansible_collections.changeward.hybrid.plugins.plugin_utils.shipping.errors import DeliveryError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.shipping.splunk_hec_sink import to_epoch
from ansible_collections.changeward.hybrid.plugins.plugin_utils.shipping.syslog_sink import frame
from ansible_collections.changeward.hybrid.plugins.plugin_utils.shipping.webhook_sink import sign, verify_signature

EVENT = {
    "id": "0b5e2c57-6f0a-4d2e-9a54-3f1b2c3d4e5f",
    "type": "io.changeward.task.result",
    "subject": 'CHG-1"]x',
    "time": "2026-01-31T12:00:00.123456789Z",
    "data": {"status": "ok", "note": "caf\u00e9"},
}
ITEM = Item(
    "event",
    7,
    EVENT["id"],
    EVENT["time"],
    {"kind": "event", "id": EVENT["id"], "ledger_id": "L1", "seq": 7, "prev_hash": "a" * 64, "hash": "b" * 64,
     "event": EVENT},
)  # fmt: skip
HEADER_RE = re.compile(
    r"<(?P<pri>\d{1,3})>1 (?P<ts>\S+) (?P<host>\S+) (?P<app>\S+) (?P<procid>\S+) (?P<msgid>\S+) (?P<sd>\[.*?[^\\]\]) "
)


def build(entry):
    return config.build_sinks([entry])[0]


def test_syslog_frame_is_octet_counted_rfc5424():
    sink = build({"name": "s", "type": "syslog", "host": "localhost", "hostname": "ctl 01", "facility": "local3"})
    data = sink.frames([ITEM, ITEM])
    first_len, rest = data.split(b" ", 1)
    msg = rest[: int(first_len)]
    assert rest[int(first_len) :].startswith(b"%d " % len(msg))  # the second frame follows directly
    text = msg.decode("ascii")
    m = HEADER_RE.match(text)
    assert m, text
    assert int(m["pri"]) == 19 * 8 + 6
    assert m["ts"] == "2026-01-31T12:00:00.123456Z"  # at most 6 fractional digits
    assert m["host"] == "ctl_01" and m["app"] == "changeward" and m["msgid"] == "event"
    assert 'id="0b5e2c57-6f0a-4d2e-9a54-3f1b2c3d4e5f"' in m["sd"]
    assert 'subject="CHG-1\\"\\]x"' in m["sd"]  # SD-PARAM escaping of " and ]
    assert json.loads(text[m.end() :]) == ITEM.body  # the JSON body is ASCII-escaped and intact


def test_frame_counts_octets():
    assert frame(b"abc") == b"3 abc"


def test_syslog_refuses_oversized_messages_without_retrying():
    sink = build({"name": "s", "type": "syslog", "host": "localhost", "max_message_bytes": 480})
    big = ITEM._replace(body={**ITEM.body, "event": {**EVENT, "data": {"x": "y" * 1000}}})
    with pytest.raises(DeliveryError) as err:
        sink.frames([big])
    assert not err.value.retryable and "max_message_bytes" in str(err.value)


def test_webhook_body_signature_and_headers():
    sink = build({"name": "w", "type": "webhook", "url": "http://127.0.0.1/in", "secret": "s" * 20})
    sink.bind("L1", 100)
    body = sink.payload([ITEM])
    doc = json.loads(body)
    assert doc["ledger_id"] == "L1" and doc["items"] == [ITEM.body]
    header = sign(b"s" * 20, body)
    assert re.fullmatch(r"sha256=[0-9a-f]{64}", header)
    assert verify_signature(b"s" * 20, body, header)
    assert not verify_signature(b"t" * 20, body, header)
    assert not verify_signature(b"s" * 20, body + b" ", header)


def test_hec_events_are_newline_separated_with_epoch_time():
    sink = build({"name": "h", "type": "splunk_hec", "url": "https://s:8088/services/collector", "token": "t",
                  "index": "audit", "host": "ctl"})  # fmt: skip
    cp = Item("checkpoint", 7, "cid", "2026-01-31T12:00:01Z", {"kind": "checkpoint", "id": "cid"})
    lines = sink.payload([ITEM, cp]).decode().split("\n")
    first, second = (json.loads(line) for line in lines)
    assert first["event"] == ITEM.body and first["index"] == "audit" and first["host"] == "ctl"
    assert first["sourcetype"] == "changeward:event" and second["sourcetype"] == "changeward:event:checkpoint"
    expected = datetime(2026, 1, 31, 12, 0, 0, 123456, tzinfo=UTC).timestamp()
    assert first["time"] == pytest.approx(expected, abs=1e-6)
    assert sink.base == "https://s:8088"
    assert sink._headers()["Authorization"] == "Splunk t"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1970-01-01T00:00:00Z", 0.0), ("1970-01-01T00:00:01.5Z", 1.5), ("2000-01-01T00:00:00.000001Z", 946684800.000001)],
)
def test_to_epoch(text, expected):
    assert to_epoch(text) == pytest.approx(expected, abs=1e-6)
