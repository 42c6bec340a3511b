# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One small HTTP client for the monitoring services (Alertmanager, the pushgateway, the blackbox exporter).

Built on the collection's one HTTP session (plugin_utils.http: the environment's proxies, the CA bundle, keep-alive,
the jittered retry policy - applied to the idempotent methods only, so a silence is never created twice) and the
rules every controller HTTP client follows (plugin_utils.redirects): each redirect is checked before it is followed
- never https to http, never a token or URL credentials to another origin; bounded timeouts; failures said in words
(plugin_utils.http.describe), without the token, the query or credentials in the URL.
"""

from __future__ import annotations

import math
from urllib.parse import urlsplit

from ansible_collections.changeward.hybrid.plugins.plugin_utils import http as controller_http
from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import ChangewardError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.redirects import (
    REDIRECT_CODES,
    RedirectRefused,
    next_hop,
    safe,
)

IDEMPOTENT = ("GET", "HEAD", "PUT", "DELETE")


class MonitoringError(ChangewardError):
    """Base of the monitoring errors: a service that cannot be used as asked."""


class ServiceUnreachable(MonitoringError):
    """No answer (connection error, timeout, HTTP 5xx) after the retries."""


class ServiceRefused(MonitoringError):
    """The service answered, but not with success (HTTP 4xx, a refused redirect, a body that is not JSON)."""


class HttpService:
    """A JSON/text HTTP API at ``url`` (no trailing slash): ``what`` names it in messages."""

    def __init__(
        self,
        url: str,
        what: str,
        *,
        token: str | None = None,
        timeout: float = 10.0,
        retries: int = 2,
        backoff: float = 0.5,
        validate_certs: bool = True,
        ca_path: str | None = None,
        session=None,
    ):
        parts = urlsplit(url or "")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise MonitoringError(f"{what} URL must be http(s)://host[:port][/path], got {safe(url or '')!r}")
        if not (isinstance(timeout, (int, float)) and math.isfinite(timeout) and timeout > 0):
            raise MonitoringError(f"{what}: timeout must be a number of seconds > 0, got {timeout!r}")
        if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 10:
            raise MonitoringError(f"{what}: retries must be an integer from 0 to 10, got {retries!r}")
        if session is None:
            try:
                session = controller_http.session(
                    verify=validate_certs, ca_file=ca_path, retries=retries, backoff=backoff, methods=IDEMPOTENT
                )
            except ImportError as exc:
                raise MonitoringError(f"{what}: {exc}") from None
        self.what = what
        self.url = url.rstrip("/")
        self.safe_url = safe(self.url)
        self.timeout = float(timeout)
        self._session = session
        # URL credentials count as credentials: requests sends them as basic auth
        self._credentials = bool(token) or "@" in parts.netloc
        if token:
            self._session.headers["Authorization"] = f"Bearer {token}"

    def request(self, method: str, path: str, *, params=None, json=None, data=None, ok=(200,)):
        """The response of METHOD url+path whose status is in ``ok``; typed errors otherwise."""
        try:
            resp = self._follow(method, self.url + path, params, json, data)
        except RedirectRefused as exc:
            raise ServiceRefused(f"{self.what} at {self.safe_url}: {exc}") from None
        except controller_http.ERRORS as exc:
            failure = controller_http.describe(exc, self.timeout)
            raise ServiceUnreachable(f"{self.what} at {self.safe_url} could not be reached: {failure.text}") from None
        if resp.status_code >= 500:
            raise ServiceUnreachable(
                f"{self.what} at {self.safe_url} answered {method} {path} with HTTP {resp.status_code}: {_text(resp)}"
            )
        if resp.status_code not in ok:
            raise ServiceRefused(
                f"{self.what} at {self.safe_url} answered {method} {path} with HTTP {resp.status_code}: " + _text(resp)
            )
        return resp

    def _follow(self, method, url, params, json, data):
        hops = 0
        while True:
            resp = self._session.request(
                method, url, params=params, json=json, data=data, timeout=self.timeout, allow_redirects=False
            )
            if resp.status_code not in REDIRECT_CODES:
                return resp
            location = resp.headers.get("Location")
            resp.close()
            url = next_hop(resp.url or url, location, credentials=self._credentials, hops=hops)
            params, hops = None, hops + 1

    def json(self, method: str, path: str, **kwargs):
        resp = self.request(method, path, **kwargs)
        try:
            return resp.json()
        except ValueError:
            raise ServiceRefused(f"{self.what} at {self.safe_url}: {method} {path} did not answer JSON") from None


def _text(resp, limit: int = 300) -> str:
    body = (getattr(resp, "text", "") or "").strip().replace("\n", " ")
    return body[:limit] or "no body"
