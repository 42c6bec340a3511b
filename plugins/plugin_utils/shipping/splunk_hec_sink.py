# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Splunk HTTP Event Collector sink, with indexer acknowledgement.

A batch is one POST to ``/services/collector/event`` of newline-separated HEC event objects
(``time``, ``host``, ``source``, ``sourcetype``, optional ``index``, ``event``) with
``Authorization: Splunk <token>`` and ``X-Splunk-Request-Channel: <channel>``. With ``ack: true`` (the
default) the answer's ``ackId`` is polled at ``/services/collector/ack`` until Splunk reports it indexed;
only then does the batch count as delivered. An ack that does not come within ``ack_timeout`` leaves the
batch pending: it is sent again later, and searches deduplicate on ``event.id``.
"""

from __future__ import annotations

import json
import socket
import time
import uuid
from datetime import datetime, timezone

from . import httpclient
from .base import Option, Sink, check_readable, check_transport, resolve_secret
from .errors import DeliveryError, SinkConfigError

EVENT_PATH = "/services/collector/event"
ACK_PATH = "/services/collector/ack"


def to_epoch(rfc3339: str) -> float:
    """Seconds since the epoch of an RFC 3339 UTC time like 2026-01-31T12:00:00.123456Z (HEC's ``time``)."""
    text = rfc3339[:-1] if rfc3339.endswith("Z") else rfc3339
    head, frac = text.partition(".")[::2]
    seconds = datetime.strptime(head, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc).timestamp()
    return round(seconds + (float("0." + frac[:6]) if frac else 0.0), 6)


class SplunkHecSink(Sink):
    TYPE = "splunk_hec"
    OPTIONS = {
        "url": Option("str"),
        "token": Option("str", None, secret=True),
        "token_env": Option("str", None),
        "index": Option("str", None),
        "source": Option("str", "changeward"),
        "sourcetype": Option("str", "changeward:event"),
        "host": Option("str", None),
        "ack": Option("bool", True),
        "ack_timeout": Option("float", 30.0, 0.1, 600.0),
        "ack_poll_interval": Option("float", 0.5, 0.01, 30.0),
        "channel": Option("str", None),
        "ca_file": Option("str", None),
        "verify_tls": Option("bool", True),
        "allow_insecure_transport": Option("bool", False),
    }

    def __init__(self, spec):
        super().__init__(spec)
        base = httpclient.check_url(self.name, "url", spec["url"]).rstrip("/")
        check_transport(spec, "url", base.lower().startswith("https:"), httpclient.host_of(base))
        for suffix in (EVENT_PATH, "/services/collector"):
            if base.endswith(suffix):
                base = base[: -len(suffix)]
                break
        self.base = base
        self._token = resolve_secret(spec, "token", required=True)
        channel = spec["channel"] or str(uuid.uuid4())
        try:
            self.channel = str(uuid.UUID(channel))
        except ValueError:
            raise SinkConfigError(self.name, "channel", "must be a GUID (Splunk request channel)") from None
        check_readable(spec, "ca_file")
        self._http = httpclient.session(spec["ca_file"], spec["verify_tls"])
        self.host = spec["host"] or socket.gethostname()

    def describe(self) -> str:
        return httpclient.safe_url(self.base + EVENT_PATH)

    def _headers(self) -> dict:
        return {
            "Authorization": f"Splunk {self._token}",
            "X-Splunk-Request-Channel": self.channel,
            "Content-Type": "application/json",
        }

    def hec_event(self, item) -> dict:
        doc = {
            "time": to_epoch(item.time),
            "host": self.host,
            "source": self.spec["source"],
            "sourcetype": self.spec["sourcetype"] if item.kind == "event" else self.spec["sourcetype"] + ":checkpoint",
            "event": item.body,
        }
        if self.spec["index"]:
            doc["index"] = self.spec["index"]
        return doc

    def payload(self, items) -> bytes:
        lines = (json.dumps(self.hec_event(i), separators=(",", ":"), sort_keys=True) for i in items)
        return "\n".join(lines).encode("utf-8")

    def deliver(self, items, deadline):
        what = f"sink {self.name!r} (splunk_hec)"
        url = self.base + EVENT_PATH
        kw = {"timeout": self.timeout, "deadline": deadline, "what": what}
        resp = httpclient.post(self._http, url, self.payload(items), self._headers(), **kw)
        answer = resp.json()
        if not 200 <= resp.status < 300 or not isinstance(answer, dict) or answer.get("code", 0) != 0:
            if 200 <= resp.status < 300:
                raise DeliveryError(f"{what}: unexpected answer from {httpclient.safe_url(url)}: {resp.body[:200]!r}")
            raise httpclient.status_error(what, url, resp)
        if not self.spec["ack"]:
            return
        ack_id = answer.get("ackId")
        if isinstance(ack_id, bool) or not isinstance(ack_id, int):
            raise DeliveryError(
                f"{what}: Splunk returned no ackId; enable indexer acknowledgement on the HEC token or set ack: false",
                retryable=False,
            )
        self._wait_ack(ack_id, deadline, what)

    def _wait_ack(self, ack_id: int, deadline: float, what: str) -> None:
        url = f"{self.base}{ACK_PATH}?channel={self.channel}"
        give_up = min(deadline, time.monotonic() + self.spec["ack_timeout"])
        body = json.dumps({"acks": [ack_id]}).encode()
        interval = self.spec["ack_poll_interval"]
        while True:
            resp = httpclient.post(
                self._http, url, body, self._headers(), timeout=self.timeout, deadline=give_up, what=what
            )
            if not 200 <= resp.status < 300:
                raise httpclient.status_error(what, url, resp)
            acks = (resp.json() or {}).get("acks")
            if not isinstance(acks, dict):
                raise DeliveryError(f"{what}: ack answer without acks: {resp.body[:200]!r}")
            if acks.get(str(ack_id)) is True:
                return
            left = give_up - time.monotonic()
            if left <= interval:
                raise DeliveryError(f"{what}: ackId {ack_id} not acknowledged by the indexers in time; will resend")
            time.sleep(interval)
            interval = min(interval * 1.5, 5.0)

    def __repr__(self):
        return f"<SplunkHecSink {self.name} -> {self.describe()}>"
