# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small Prometheus HTTP API client: instant and range queries with bounded timeouts and retries.

HTTP goes through plugin_utils.http: proxies from HTTPS_PROXY/NO_PROXY, REQUESTS_CA_BUNDLE unless ca_path is given,
keep-alive, and the collection's one retry policy (connection errors, timeouts, HTTP 429/5xx).

Typed errors let callers fail closed precisely:
  PrometheusUnreachable    no answer (connection, timeout, TLS, proxy) after the retries
  PrometheusServerError    an HTTP 5xx answer after the retries (a PrometheusUnreachable: no usable answer)
  PrometheusBadQuery       Prometheus rejected the query (HTTP 400/422, errorType bad_data/execution)
  PrometheusEmptyResult    the query ran and matched no series: empty is NOT zero
  PrometheusResponseError  the answer is not the Prometheus API format
Messages never contain the bearer token or credentials embedded in the URL.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from ansible_collections.changeward.hybrid.plugins.module_utils import timeparse
from ansible_collections.changeward.hybrid.plugins.plugin_utils import http
from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import ChangewardError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.redirects import RedirectRefused, safe

# What to change for each kind of failure (the changeward.hybrid.prometheus option names).
FIX = {
    "refused": "check prometheus_url and that Prometheus is running",
    "dns": "check the host name in prometheus_url",
    "timeout": "check that Prometheus is up, or raise prometheus_timeout",
    "tls": "set ca_path to the CA that signed its certificate (or REQUESTS_CA_BUNDLE), or check prometheus_url",
    "proxy": "check HTTPS_PROXY/HTTP_PROXY, or add the host to NO_PROXY",
    "connection": "check prometheus_url and the network to it",
    "http": "check the Prometheus server's log, or prometheus_url if it points at something else",
}


class PrometheusError(ChangewardError):
    """Base of every error of this client."""


class PrometheusUnreachable(PrometheusError):
    """No usable answer from Prometheus within the timeouts and retries."""


class PrometheusServerError(PrometheusUnreachable):
    """Prometheus (or what prometheus_url points at) answered HTTP 5xx on every attempt."""


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
        if http.IMPORT_ERROR is not None:
            raise PrometheusError(
                f"the Prometheus client needs the requests library on the controller: {http.IMPORT_ERROR}"
            )
        parts = urlsplit(url or "")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PrometheusError(f"prometheus URL must be http(s)://host[:port][/path], got {redact_url(url or '')!r}")
        if not (isinstance(timeout, (int, float)) and math.isfinite(timeout) and timeout > 0):
            raise PrometheusError(f"timeout must be a number of seconds > 0, got {timeout!r}")
        if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 10:
            raise PrometheusError(f"retries must be an integer from 0 to 10, got {retries!r}")
        self.url = url.rstrip("/")
        self.safe_url = safe(self.url)  # no credentials, no query: what messages name
        self.timeout = float(timeout)
        self.retries = retries
        self._session = session or http.session(
            verify=validate_certs, ca_file=ca_path, retries=retries, backoff=backoff, methods=("GET",)
        )
        if token:
            self._session.headers["Authorization"] = f"Bearer {token}"

    def _attempts(self) -> str:
        return f"{self.retries + 1} attempts" if self.retries else "1 attempt"

    def _get(self, path: str, params: Mapping) -> dict:
        try:
            # redirects checked hop by hop (plugin_utils.redirects): never https -> http, never the token elsewhere
            resp = http.get_checked(
                self._session, f"{self.url}/api/v1/{path}", params=dict(params), timeout=self.timeout
            )
        except RedirectRefused as exc:
            raise PrometheusResponseError(f"Prometheus at {self.safe_url}: {exc}") from None
        except http.ERRORS as exc:  # said in words, without the library's text (it has the query)
            failure = http.describe(exc, self.timeout)
            raise PrometheusUnreachable(
                f"Prometheus at {self.safe_url} is unreachable: {failure.text} ({self._attempts()}); "
                f"{FIX[failure.kind]}"
            ) from None
        if resp.status_code >= 500:
            raise PrometheusServerError(
                f"Prometheus at {self.safe_url} answered HTTP {resp.status_code}{self._api_error(resp)} "
                f"({self._attempts()}); {FIX['http']}"
            )
        return self._decode(resp)

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
