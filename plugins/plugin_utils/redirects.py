# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which HTTP redirects a controller client may follow without leaking what it sends.

The rule every controller HTTP client applies (calendars, Prometheus, fetched edge manifests; the audit sinks
follow no redirect at all):

- https -> http is refused, whatever the request carries: it would send the request (and the answer
  that decides a gate) in clear text;
- to another origin (scheme, host or port) a request that carries credentials (an Authorization header, any
  configured header, a token) is refused rather than followed without them: a token meant for one server
  must not reach another, and the same request without it would answer something else;
- a request without credentials may follow a redirect to another origin (http -> https included);
- at most MAX_HOPS redirects.

Refusing instead of stripping keeps the outcome plain: the operator points the client at the final URL.
"""

from __future__ import annotations

import urllib.parse

from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import ChangewardError

MAX_HOPS = 5
DEFAULT_PORTS = {"http": 80, "https": 443}
REDIRECT_CODES = (301, 302, 303, 307, 308)


class RedirectRefused(ChangewardError):
    """A redirect the client will not follow (downgrade to http, credentials to another origin, too many)."""


def origin(url: str) -> tuple:
    parts = urllib.parse.urlsplit(url)
    scheme = (parts.scheme or "").lower()
    return scheme, (parts.hostname or "").lower(), parts.port or DEFAULT_PORTS.get(scheme)


def safe(url: str) -> str:
    """scheme://host[:port]/path of a URL, for messages (no credentials, no query string)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def next_hop(current: str, location: str | None, *, credentials: bool, hops: int = 0) -> str:
    """The absolute URL to follow from ``current`` to ``location``, or RedirectRefused saying why not."""
    if not location:
        raise RedirectRefused(f"{safe(current)} redirected without a Location")
    if hops >= MAX_HOPS:
        raise RedirectRefused(f"more than {MAX_HOPS} redirects from {safe(current)}")
    target = urllib.parse.urljoin(current, location.strip())
    src, dst = origin(current), origin(target)
    if dst[0] not in ("http", "https") or not dst[1]:
        raise RedirectRefused(f"{safe(current)} redirected to a URL that is not http(s): refused")
    if src[0] == "https" and dst[0] == "http":
        raise RedirectRefused(f"{safe(current)} redirected from https to http ({safe(target)}): refused")
    if credentials and src != dst:
        raise RedirectRefused(
            f"{safe(current)} redirected to another origin ({safe(target)}); the request carries credentials "
            "or configured headers, which are never sent to another origin: refused (use the final URL)"
        )
    return target
