# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small Prometheus HTTP API client: instant and range queries with bounded timeouts and retries.

Typed errors let callers fail closed precisely:
  PrometheusUnreachable    no answer (connection, timeout, HTTP 5xx) after the retries
  PrometheusBadQuery       Prometheus rejected the query (HTTP 400/422, errorType bad_data/execution)
  PrometheusEmptyResult    the query ran and matched no series: empty is NOT zero
  PrometheusResponseError  the answer is not the Prometheus API format
Messages never contain the bearer token or credentials embedded in the URL.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from ansible_collections.changeward.hybrid.plugins.module_utils import timeparse
from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import ChangewardError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.redirects import (
    REDIRECT_CODES,
    RedirectRefused,
    next_hop,
)

try:
    import requests
except ImportError as exc:  # ansible-test's import check has no requests; callers get a clear error instead
    requests = None
    _IMPORT_ERROR: ImportError | None = exc
else:
    _IMPORT_ERROR = None


class PrometheusError(ChangewardError):
    """Base of every error of this client."""


class PrometheusUnreachable(PrometheusError):
    """Prometheus did not answer within the timeouts and retries."""


class PrometheusBadQuery(PrometheusError):
    """Prometheus rejected the query."""


class PrometheusEmptyResult(PrometheusError):
    """The query matched no series (no data, which is not the same as zero)."""


class PrometheusResponseError(PrometheusError):
    """The answer is not in the Prometheus HTTP API format."""


@dataclass(frozen=True)
class Series:
    labels: dict
    values: list  # [(unix_time, float)], float may be NaN or +/-Inf as Prometheus sent it

    @property
    def floats(self) -> list[float]:
        return [pair[1] for pair in self.values]


def redact_url(url: str) -> str:
    """The URL without user:password@ (for messages)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def _float(raw, where: str) -> float:
    try:
        return float(raw)
    except (TypeError, ValueError):
        raise PrometheusResponseError(f"{where}: sample value {raw!r} is not a number") from None


def _sample(pair, where: str) -> tuple[float, float]:
    if not isinstance(pair, (list, tuple)) or len(pair) != 2:
        raise PrometheusResponseError(f"{where}: sample {pair!r} is not [time, value]")
    return _float(pair[0], where), _float(pair[1], where)


class PrometheusClient:
    """Query one Prometheus server. ``timeout`` bounds each attempt; ``retries`` extra attempts back off."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        timeout: float = 10.0,
        retries: int = 2,
        backoff: float = 0.5,
        validate_certs: bool = True,
        ca_path: str | None = None,
        session=None,
    ):
        if _IMPORT_ERROR is not None:
            raise PrometheusError(
                f"the Prometheus client needs the requests library on the controller: {_IMPORT_ERROR}"
            )
        parts = urlsplit(url or "")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PrometheusError(f"prometheus URL must be http(s)://host[:port][/path], got {redact_url(url or '')!r}")
        if not (isinstance(timeout, (int, float)) and math.isfinite(timeout) and timeout > 0):
            raise PrometheusError(f"timeout must be a number of seconds > 0, got {timeout!r}")
        if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 10:
            raise PrometheusError(f"retries must be an integer from 0 to 10, got {retries!r}")
        self.url = url.rstrip("/")
        self.safe_url = redact_url(self.url)
        self.timeout = float(timeout)
        self.retries = retries
        self.backoff = max(0.0, float(backoff))
        self._session = session or requests.Session()
        self._session.verify = ca_path if (validate_certs and ca_path) else bool(validate_certs)
        if token:
            self._session.headers["Authorization"] = f"Bearer {token}"

    def _get(self, path: str, params: Mapping) -> dict:
        endpoint = f"{self.url}/api/v1/{path}"
        last = "no attempt made"
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                resp = self._follow(endpoint, params)
            except RedirectRefused as exc:
                raise PrometheusResponseError(f"Prometheus at {self.safe_url}: {exc}") from None
            except requests.Timeout:
                last = f"no answer within {self.timeout:g}s"
                continue
            except requests.RequestException as exc:
                # the exception text can carry the URL; name the error class and redact the rest
                last = f"{type(exc).__name__}: {str(exc).replace(self.url, self.safe_url)}"
                continue
            if resp.status_code >= 500:
                last = f"HTTP {resp.status_code}{self._api_error(resp)}"
                continue
            return self._decode(resp)
        raise PrometheusUnreachable(
            f"Prometheus at {self.safe_url} unreachable after {self.retries + 1} attempt(s): {last}"
        )

    def _follow(self, endpoint: str, params: Mapping):
        """GET with each redirect checked first (redirects.next_hop): never https -> http, and never the
        bearer token to another origin - requests alone would follow both (dropping only Authorization)."""
        url, query, hops = endpoint, dict(params), 0
        credentials = bool(self._session.headers.get("Authorization")) or self._session.auth is not None
        while True:
            resp = self._session.get(url, params=query, timeout=self.timeout, allow_redirects=False)
            if resp.status_code not in REDIRECT_CODES:
                return resp
            url = next_hop(resp.url or url, resp.headers.get("Location"), credentials=credentials, hops=hops)
            query, hops = None, hops + 1

    @staticmethod
    def _api_error(resp) -> str:
        try:
            body = resp.json()
        except ValueError:
            return ""
        if isinstance(body, Mapping) and body.get("error"):
            return f" ({body.get('errorType', 'error')}: {body['error']})"
        return ""

    def _decode(self, resp) -> dict:
        try:
            body = resp.json()
        except ValueError:
            body = None
        if resp.status_code in (400, 422):
            raise PrometheusBadQuery(f"Prometheus rejected the query (HTTP {resp.status_code}{self._api_error(resp)})")
        if resp.status_code != 200:
            raise PrometheusResponseError(
                f"Prometheus at {self.safe_url} answered HTTP {resp.status_code}{self._api_error(resp)}"
            )
        if (
            not isinstance(body, Mapping)
            or body.get("status") != "success"
            or not isinstance(body.get("data"), Mapping)
        ):
            raise PrometheusResponseError(f"Prometheus at {self.safe_url} sent a body that is not an API success")
        return body["data"]

    def _series(self, data: Mapping, expect: tuple[str, ...], query: str) -> list[Series]:
        kind = data.get("resultType")
        result = data.get("result")
        if kind not in expect:
            raise PrometheusResponseError(f"query {query!r}: expected a {' or '.join(expect)} result, got {kind!r}")
        if kind == "scalar":
            return [Series({}, [_sample(result, f"query {query!r}")])]
        if not isinstance(result, list):
            raise PrometheusResponseError(f"query {query!r}: result is not a list")
        out = []
        for item in result:
            if not isinstance(item, Mapping):
                raise PrometheusResponseError(f"query {query!r}: series {item!r} is not an object")
            labels = dict(item.get("metric") or {})
            if kind == "vector":
                out.append(Series(labels, [_sample(item.get("value"), f"query {query!r}")]))
            else:
                values = item.get("values")
                if not isinstance(values, list):
                    raise PrometheusResponseError(f"query {query!r}: series without values")
                out.append(Series(labels, [_sample(v, f"query {query!r}") for v in values]))
        if not out or not any(s.values for s in out):
            raise PrometheusEmptyResult(f"query {query!r} returned no data (no matching series in the window)")
        return out

    def instant(self, query: str, at: float | None = None) -> list[Series]:
        """Series of an instant query (a scalar comes back as one series without labels)."""
        params = {"query": query}
        if at is not None:
            params["time"] = f"{float(at):.3f}"
        return self._series(self._get("query", params), ("vector", "scalar"), query)

    def range(self, query: str, start: float, end: float, step: float) -> list[Series]:
        """Series of a range query over [start, end] every ``step`` seconds."""
        if not (math.isfinite(start) and math.isfinite(end) and end > start):
            raise PrometheusError(f"range query needs start < end, got start={start} end={end}")
        if not (math.isfinite(step) and step > 0):
            raise PrometheusError(f"range query needs a step > 0 seconds, got {step}")
        if (end - start) / step > 11000:
            raise PrometheusError(
                f"range query of {end - start:g}s at step {step:g}s exceeds Prometheus' 11000 points per series"
            )
        params = {"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        return self._series(self._get("query_range", params), ("matrix",), query)


def parse_duration(text, what: str = "duration") -> float:
    """Seconds of a duration ('90s', '5m', '1h30m', '3d') or a plain number of seconds (the one duration parser,
    module_utils.timeparse)."""
    try:
        return timeparse.parse_duration(text, what)
    except timeparse.TimeFormatError as exc:
        raise PrometheusError(str(exc)) from None


def format_duration(seconds: float) -> str:
    """A Prometheus duration for a whole number of seconds, e.g. 3600 -> '1h', 90 -> '90s'."""
    secs = round(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs % size == 0:
            return f"{secs // size}{unit}"
    return f"{secs}s"
