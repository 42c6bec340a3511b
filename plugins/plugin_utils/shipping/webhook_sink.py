# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""HTTP JSON webhook sink, signed with HMAC-SHA256.

Each batch is one POST of ``{"ledger_id", "sent_at", "items": [...]}`` (items as base.Item.body) with

- ``X-Changeward-Signature: sha256=<hex HMAC-SHA256 of the raw body under the shared secret>``
- ``X-Changeward-Event-Id: <id>, <id>, ...`` the dedupe ids of the items, in order
- ``X-Changeward-Batch: <first seq>-<last seq>``

Any 2xx answer means the receiver has taken the whole batch. The same items may arrive again after a
lost answer; receivers deduplicate on the ids.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from ..ledger.model import utc_now
from . import httpclient
from .base import Option, Sink, check_readable, check_transport, resolve_secret
from .errors import SinkConfigError

SIGNATURE_HEADER = "X-Changeward-Signature"
EVENT_ID_HEADER = "X-Changeward-Event-Id"
BATCH_HEADER = "X-Changeward-Batch"
RESERVED = {
    h.lower() for h in (SIGNATURE_HEADER, EVENT_ID_HEADER, BATCH_HEADER, "content-type", "content-length", "host")
}
MIN_SECRET_BYTES = 16


def sign(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify_signature(secret: bytes, body: bytes, header: str) -> bool:
    """What a receiver does (used by the tests' receiver too)."""
    return isinstance(header, str) and hmac.compare_digest(sign(secret, body), header.strip())


class WebhookSink(Sink):
    TYPE = "webhook"
    OPTIONS = {
        "url": Option("str"),
        "secret": Option("str", None, secret=True),
        "secret_env": Option("str", None),
        "headers": Option("dict", {}),
        "ca_file": Option("str", None),
        "verify_tls": Option("bool", True),
        "allow_insecure_transport": Option("bool", False),
    }

    def __init__(self, spec):
        super().__init__(spec)
        self.url = httpclient.check_url(self.name, "url", spec["url"])
        check_transport(spec, "url", self.url.lower().startswith("https:"), httpclient.host_of(self.url))
        secret = resolve_secret(spec, "secret", required=True)
        if len(secret.encode("utf-8")) < MIN_SECRET_BYTES:
            raise SinkConfigError(self.name, "secret", f"must be at least {MIN_SECRET_BYTES} bytes")
        self._secret = secret.encode("utf-8")
        for header in spec["headers"]:
            if header.lower() in RESERVED:
                raise SinkConfigError(self.name, "headers", f"{header} is set by the sink itself")
        self.headers = dict(spec["headers"])
        check_readable(spec, "ca_file")
        self._http = httpclient.session(spec["ca_file"], spec["verify_tls"])

    def describe(self) -> str:
        return httpclient.safe_url(self.url)

    def payload(self, items) -> bytes:
        doc = {"ledger_id": self.ledger_id, "sent_at": utc_now(), "items": [i.body for i in items]}
        return json.dumps(doc, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode("utf-8")

    def deliver(self, items, deadline):
        body = self.payload(items)
        headers = {
            **self.headers,
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(self._secret, body),
            EVENT_ID_HEADER: ", ".join(i.id for i in items),
            BATCH_HEADER: f"{items[0].seq}-{items[-1].seq}",
        }
        what = f"sink {self.name!r} (webhook)"
        resp = httpclient.post(self._http, self.url, body, headers, timeout=self.timeout, deadline=deadline, what=what)
        if not 200 <= resp.status < 300:
            raise httpclient.status_error(what, self.url, resp)

    def __repr__(self):  # the secret stays out of reprs and tracebacks
        return f"<WebhookSink {self.name} -> {self.describe()}>"
