# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The HTTP(S) POST of the webhook and Splunk HEC sinks, over a plugin_utils.http session.

The session takes proxies from HTTPS_PROXY/HTTP_PROXY/NO_PROXY and verifies TLS with the sink's ca_file (else
REQUESTS_CA_BUNDLE, else the bundled CAs), and keeps the connection alive across a pass's batches and ack polls.
It retries nothing itself: the outbox retries a whole delivery with the collection's back-off
(plugin_utils.http.backoff_delay) within the pass's deadline, and nothing is lost in between. Sinks follow no
redirect (a 3xx is a refused delivery): their credentials and configured headers go only to the configured URL.
"""

from __future__ import annotations

import json
import ssl
from typing import NamedTuple
from urllib.parse import urlsplit, urlunsplit

from .. import http
from .base import remaining
from .errors import DeliveryError, SinkConfigError

MAX_RESPONSE_BYTES = 1024 * 1024
USER_AGENT = "changeward-shipper/1"


class Response(NamedTuple):
    status: int
    body: bytes

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None


def check_url(sink: str, field: str, url) -> str:
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise SinkConfigError(sink, field, "must be an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise SinkConfigError(sink, field, "must not carry credentials; use the secret/token fields")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise SinkConfigError(sink, field, "has an invalid port") from None
    return url


def host_of(url: str) -> str:
    return urlsplit(url).hostname or ""


def safe_url(url: str) -> str:
    """The URL without query string (which may carry tokens) for messages."""
    p = urlsplit(url)
    return urlunsplit((p.scheme, p.netloc.rpartition("@")[2], p.path, "", ""))


def tls_context(ca_file=None, verify=True, cert_file=None, key_file=None) -> ssl.SSLContext:
    """The TLS context of the syslog sink's socket (the HTTP sinks' TLS is the session's)."""
    ctx = ssl.create_default_context(cafile=ca_file)
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if cert_file:
        ctx.load_cert_chain(cert_file, key_file)
    return ctx


def session(ca_file=None, verify=True):
    """The sink's session: no retries at this layer (the outbox's), only POST."""
    return http.session(verify=verify, ca_file=ca_file, retries=0, methods=("POST",), user_agent=USER_AGENT)


def post(session, url: str, body: bytes, headers: dict, *, timeout: float, deadline: float, what: str) -> Response:
    """POST ``body``; any network problem or timeout becomes a retryable DeliveryError naming ``what``."""
    wait = remaining(deadline, what, timeout)
    try:
        resp = session.post(url, data=body, headers=headers, timeout=wait, allow_redirects=False, stream=True)
        try:
            data = resp.raw.read(MAX_RESPONSE_BYTES, decode_content=True)
        finally:
            resp.close()
    except http.ERRORS as exc:
        failure = http.describe(exc, wait)
        hint = " (check HTTPS_PROXY/HTTP_PROXY and NO_PROXY)" if failure.kind == "proxy" else ""
        hint = " (set ca_file to the CA that signed it, or REQUESTS_CA_BUNDLE)" if failure.kind == "tls" else hint
        raise DeliveryError(f"{what}: cannot deliver to {safe_url(url)}: {failure.text}{hint}") from None
    return Response(resp.status_code, data or b"")


def status_error(what: str, url: str, resp: Response) -> DeliveryError:
    """DeliveryError for a non-2xx answer: 408/429/5xx are worth retrying, other 4xx are not."""
    snippet = resp.body[:200].decode("utf-8", "replace").strip()
    retryable = resp.status >= 500 or resp.status in (408, 425, 429)
    return DeliveryError(f"{what}: {safe_url(url)} answered HTTP {resp.status} {snippet}".rstrip(), retryable=retryable)
