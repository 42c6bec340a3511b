# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# pylint: disable=unused-import  # astroid's brain for a module named http adds unused enum/namedtuple imports
"""Controller HTTP: one way to build a client session, one retry policy, one way to say what failed.

- ``session()``: a requests session that takes proxies from HTTP_PROXY / HTTPS_PROXY / NO_PROXY, verifies TLS
  with ``ca_file`` or else REQUESTS_CA_BUNDLE (or the bundled CAs), and keeps connections alive;
- the retry policy: ``backoff_delay`` (exponential from ``backoff``, capped at ``max_backoff``, jittered into
  [50 %, 100 %) so clients that failed together do not retry together), applied by ``JitteredRetry`` (urllib3
  Retry) to connection errors, timeouts and HTTP 429/5xx of the methods given, and by the audit outbox between
  sink deliveries. A Retry-After answer is honoured up to the cap;
- ``describe()``: what went wrong in words - connection refused, host name not found, timeout, TLS, proxy -
  never the library's text, which carries the full URL with its query string.

Redirects stay with the caller (``get_checked`` for GET clients; the audit sinks follow none): the rule is
plugin_utils.redirects.
"""

from __future__ import annotations

import logging
import random
import socket
import ssl
from typing import NamedTuple
from urllib.parse import urlsplit

from ansible_collections.changeward.hybrid.plugins.plugin_utils.redirects import REDIRECT_CODES, next_hop

try:
    import requests
    import urllib3.exceptions
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry
except ImportError as exc:  # ansible-test's import check has no requests; callers get a clear error instead
    requests = urllib3 = None
    HTTPAdapter = Retry = object
    IMPORT_ERROR: ImportError | None = exc
else:
    IMPORT_ERROR = None

# What a request may raise for a network or protocol failure (for an ``except``; empty without requests).
ERRORS = (requests.exceptions.RequestException, urllib3.exceptions.HTTPError) if requests is not None else ()

RETRY_STATUS = frozenset((429, 500, 502, 503, 504))
DEFAULT_BACKOFF = 0.5
DEFAULT_MAX_BACKOFF = 10.0
USER_AGENT = "changeward/1"


def backoff_delay(failures: int, backoff: float, max_backoff: float, jitter=random.random) -> float:
    """Seconds to wait after the ``failures``-th failure in a row (1, 2, ...): the one back-off of the collection."""
    if failures < 1:
        return 0.0
    return min(backoff * 2 ** (failures - 1), max_backoff) * (0.5 + jitter() / 2)


class JitteredRetry(Retry):
    """urllib3's Retry waiting ``backoff_delay`` between attempts (urllib3's own waits none before the first
    retry and has no jitter), with Retry-After honoured only up to ``backoff_max``."""

    def get_backoff_time(self) -> float:
        failures = sum(1 for h in self.history if h.redirect_location is None)
        return backoff_delay(failures, self.backoff_factor, self.backoff_max)

    def get_retry_after(self, response):
        after = super().get_retry_after(response)
        return None if after is None else min(after, self.backoff_max)


def require_requests(what: str) -> None:
    if IMPORT_ERROR is not None:
        raise ImportError(f"{what} needs the requests library on the controller: {IMPORT_ERROR}")


def _as_configured(request):
    """The session's auth: leaves a request as configured. Without one requests adds ~/.netrc credentials
    (replacing e.g. a Splunk Authorization header); proxies and CA bundles still come from the environment."""
    return request


class _Session(requests.Session if requests is not None else object):
    def request(self, method, url, **kwargs):
        # requests lets REQUESTS_CA_BUNDLE override a session's verify (even False or a ca_file); passing it on
        # every request keeps the configured choice and lets the environment's bundle apply only to the default.
        kwargs.setdefault("verify", self.verify)
        return super().request(method, url, **kwargs)


def session(
    *,
    verify: bool = True,
    ca_file: str | None = None,
    retries: int = 0,
    backoff: float = DEFAULT_BACKOFF,
    max_backoff: float = DEFAULT_MAX_BACKOFF,
    methods=("GET",),
    user_agent: str = USER_AGENT,
):
    """A session with the environment's proxies, ``ca_file`` (else REQUESTS_CA_BUNDLE) for TLS, keep-alive, and
    ``retries`` extra attempts of ``methods`` on connection errors, timeouts and HTTP 429/5xx."""
    require_requests("the HTTP client")
    http = _Session()
    http.verify = ca_file if (verify and ca_file) else bool(verify)
    http.auth = _as_configured
    http.headers["User-Agent"] = user_agent
    policy = JitteredRetry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        other=0,
        redirect=0,
        raise_on_redirect=False,  # redirects are the caller's (plugin_utils.redirects)
        raise_on_status=False,  # the last answer comes back; the caller names its status
        status_forcelist=RETRY_STATUS,
        allowed_methods=frozenset(m.upper() for m in methods),
        backoff_factor=max(0.0, float(backoff)),
        backoff_max=max(0.0, float(max_backoff)),
        respect_retry_after_header=True,
    )
    adapter = HTTPAdapter(max_retries=policy)
    http.mount("http://", adapter)
    http.mount("https://", adapter)
    return http


def get_checked(http, url: str, *, params=None, headers=None, timeout: float, stream: bool = False):
    """GET ``url``, each redirect checked by redirects.next_hop first (never https -> http; never the session's or
    these headers to another origin - requests alone would follow both, dropping only Authorization)."""
    headers = dict(headers or {})
    credentials = (
        bool(headers)
        or bool(http.headers.get("Authorization"))
        or http.auth not in (None, _as_configured)
        or "@" in urlsplit(url).netloc  # user:password@ in the URL: requests sends it as basic auth
    )
    hops = 0
    while True:
        resp = http.get(url, params=params, headers=headers, timeout=timeout, allow_redirects=False, stream=stream)
        if resp.status_code not in REDIRECT_CODES:
            return resp
        location = resp.headers.get("Location")
        resp.close()
        url = next_hop(resp.url or url, location, credentials=credentials, hops=hops)
        params, hops = None, hops + 1


class Failure(NamedTuple):
    kind: str  # refused, dns, timeout, tls, proxy, connection
    text: str  # in words, without URL or library text


def _chain(exc):
    """exc and every exception it wraps (requests -> urllib3 MaxRetryError.reason -> the socket's OSError)."""
    seen, todo = [], [exc]
    while todo:
        cur = todo.pop(0)
        if not isinstance(cur, BaseException) or any(cur is s for s in seen):
            continue
        seen.append(cur)
        todo += [getattr(cur, "reason", None), cur.__cause__, cur.__context__]
        todo += [a for a in getattr(cur, "args", ()) if isinstance(a, BaseException)]
    return seen


def describe(exc, timeout: float | None = None) -> Failure:
    """What a requests/urllib3 exception means, for a message that names the server itself."""
    chain = _chain(exc)

    def has(*types):
        return next((e for e in chain if isinstance(e, types)), None)

    within = f" within {timeout:g}s" if timeout else ""
    cert = has(ssl.SSLCertVerificationError)
    if cert is not None:
        return Failure("tls", f"TLS certificate not trusted ({cert.verify_message or 'verification failed'})")
    if requests is not None and has(requests.exceptions.ProxyError):
        refused = " (connection refused)" if has(ConnectionRefusedError) else ""
        return Failure("proxy", f"the HTTP proxy could not be used{refused}")
    if has(ssl.SSLError) or (requests is not None and has(requests.exceptions.SSLError)):
        err = has(ssl.SSLError)
        return Failure("tls", f"TLS handshake failed ({getattr(err, 'reason', None) or 'protocol error'})")
    if has(ConnectionRefusedError):
        return Failure("refused", "connection refused")
    if has(socket.gaierror) or (urllib3 is not None and has(urllib3.exceptions.NameResolutionError)):
        return Failure("dns", "host name not found")
    if has(ConnectionResetError):
        return Failure("connection", "connection reset by the server")
    if requests is not None and has(requests.exceptions.ConnectTimeout):
        return Failure("timeout", f"no connection{within}")
    # urllib3's NewConnectionError is a ConnectTimeoutError too (for old callers): not a timeout here
    timeouts = [e for e in chain if isinstance(e, (TimeoutError, socket.timeout))]
    if requests is not None:
        timeouts += [
            e
            for e in chain
            if isinstance(e, (requests.exceptions.Timeout, urllib3.exceptions.TimeoutError))
            and not isinstance(e, urllib3.exceptions.NewConnectionError)
        ]
    if timeouts:
        return Failure("timeout", f"no answer{within}")
    err = next((e for e in chain if isinstance(e, OSError) and e.strerror), None)
    if err is not None:
        return Failure("connection", err.strerror[:1].lower() + err.strerror[1:])
    if requests is not None and has(requests.exceptions.ConnectionError):
        return Failure("connection", "the connection failed")
    return Failure("connection", f"the request failed ({type(exc).__name__})")


class _NoRetryWarnings(logging.Filter):
    """urllib3 logs each retry with the request's path and query string (which may carry a token) at WARNING,
    which reaches stderr through logging's last-resort handler: the failure is reported by the caller instead."""

    def filter(self, record):
        return not str(record.msg).startswith("Retrying (")


_LOG = logging.getLogger("urllib3.connectionpool")
if not any(isinstance(f, _NoRetryWarnings) for f in _LOG.filters):
    _LOG.addFilter(_NoRetryWarnings())
