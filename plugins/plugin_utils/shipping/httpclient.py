# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small HTTP(S) POST with bounded waits, shared by the webhook and Splunk HEC sinks.

Standard library only (http.client), one connection per request: batches are large and rare enough that
keep-alive buys little, and a fresh connection never inherits a half-broken one.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
from typing import NamedTuple
from urllib.parse import urlsplit, urlunsplit

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
    ctx = ssl.create_default_context(cafile=ca_file)
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if cert_file:
        ctx.load_cert_chain(cert_file, key_file)
    return ctx


def post(url: str, body: bytes, headers: dict, *, timeout: float, deadline: float, context=None, what: str) -> Response:
    """POST ``body``; any network problem or timeout becomes a retryable DeliveryError naming ``what``."""
    parts = urlsplit(url)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    wait = remaining(deadline, what, timeout)
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=wait, context=context)
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=wait)
    try:
        conn.request("POST", path, body=body, headers={"User-Agent": USER_AGENT, **headers})
        if conn.sock is not None:  # the request may have used up part of the budget
            conn.sock.settimeout(remaining(deadline, what, timeout))
        resp = conn.getresponse()
        data = resp.read(MAX_RESPONSE_BYTES)
        return Response(resp.status, data)
    except (TimeoutError, socket.timeout):
        raise DeliveryError(f"{what}: no answer from {safe_url(url)} within {wait:.1f}s") from None
    except ssl.SSLError as exc:
        raise DeliveryError(f"{what}: TLS error with {safe_url(url)}: {exc.reason or exc}") from None
    except (OSError, http.client.HTTPException) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise DeliveryError(f"{what}: cannot reach {safe_url(url)}: {reason}") from None
    finally:
        conn.close()


def status_error(what: str, url: str, resp: Response) -> DeliveryError:
    """DeliveryError for a non-2xx answer: 408/429/5xx are worth retrying, other 4xx are not."""
    snippet = resp.body[:200].decode("utf-8", "replace").strip()
    retryable = resp.status >= 500 or resp.status in (408, 425, 429)
    return DeliveryError(f"{what}: {safe_url(url)} answered HTTP {resp.status} {snippet}".rstrip(), retryable=retryable)
