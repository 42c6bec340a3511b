# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One small HTTP client for the monitoring services (Alertmanager, pushgateway, blackbox exporter).

The rules every controller HTTP client follows (plugin_utils.redirects, as the Prometheus client and the
calendar sources do): each redirect is checked before it is followed - never https to http, never a bearer token
to another origin; bounded timeouts; retries only for transport errors and HTTP 5xx; messages without the token
or credentials in the URL.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from urllib.parse import urlsplit

from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import ChangewardError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.redirects import (
    REDIRECT_CODES,
    RedirectRefused,
    next_hop,
    safe,
)

try:
    import requests
except ImportError as exc:  # ansible-test's import check has no requests; callers get a clear error instead
    requests = None
    _IMPORT_ERROR: ImportError | None = exc
else:
    _IMPORT_ERROR = None


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
        if _IMPORT_ERROR is not None and session is None:
            raise MonitoringError(f"{what}: the requests library is needed on the controller: {_IMPORT_ERROR}")
        parts = urlsplit(url or "")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise MonitoringError(f"{what} URL must be http(s)://host[:port][/path], got {safe(url or '')!r}")
        if not (isinstance(timeout, (int, float)) and math.isfinite(timeout) and timeout > 0):
            raise MonitoringError(f"{what}: timeout must be a number of seconds > 0, got {timeout!r}")
        if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 10:
            raise MonitoringError(f"{what}: retries must be an integer from 0 to 10, got {retries!r}")
        self.what = what
        self.url = url.rstrip("/")
        self.safe_url = safe(self.url)
        self.timeout, self.retries, self.backoff = float(timeout), retries, max(0.0, float(backoff))
        self._session = session or requests.Session()
        self._session.verify = ca_path if (validate_certs and ca_path) else bool(validate_certs)
        self._credentials = bool(token)
        if token:
            self._session.headers["Authorization"] = f"Bearer {token}"

    def request(self, method: str, path: str, *, params: Mapping | None = None, json=None, data=None, ok=(200,)):
        """The response of METHOD url+path whose status is in ``ok``; typed errors otherwise."""
        last = "no attempt made"
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                resp = self._follow(method, self.url + path, params, json, data)
            except RedirectRefused as exc:
                raise ServiceRefused(f"{self.what} at {self.safe_url}: {exc}") from None
            except Exception as exc:  # requests' transport errors; never the URL's credentials in the message
                if requests is not None and not isinstance(exc, requests.RequestException):
                    raise
                last = f"{type(exc).__name__}: {str(exc).replace(self.url, self.safe_url)}"
                continue
            if resp.status_code >= 500:
                last = f"HTTP {resp.status_code}: {_text(resp)}"
                continue
            if resp.status_code not in ok:
                raise ServiceRefused(
                    f"{self.what} at {self.safe_url} answered {method} {path} with HTTP {resp.status_code}: "
                    + _text(resp)
                )
            return resp
        raise ServiceUnreachable(
            f"{self.what} at {self.safe_url} unreachable after {self.retries + 1} attempt(s): {last}"
        )

    def _follow(self, method, url, params, json, data):
        hops = 0
        while True:
            resp = self._session.request(
                method, url, params=params, json=json, data=data, timeout=self.timeout, allow_redirects=False
            )
            if resp.status_code not in REDIRECT_CODES:
                return resp
            url = next_hop(resp.url or url, resp.headers.get("Location"), credentials=self._credentials, hops=hops)
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
