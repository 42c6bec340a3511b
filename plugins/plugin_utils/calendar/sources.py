# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Calendar specs (path, http(s) URL, or a dict) and reading them. Nothing here guesses: a source
that cannot be read, answers anything but 200, or holds no event is an error, never "no window"."""

from __future__ import annotations

import os
import urllib.parse
from dataclasses import dataclass, field

import yaml

from ansible_collections.changeward.hybrid.plugins.plugin_utils import http
from ansible_collections.changeward.hybrid.plugins.plugin_utils.redirects import RedirectRefused

from .errors import CalendarFormatError, CalendarSourceError, GateInputError
from .ics import load_ics
from .localtime import get_zone
from .model import check_kind
from .shorthand import load_shorthand

SPEC_KEYS = ("src", "windows", "kind", "name", "tz", "format", "allow_empty", "headers")
FORMATS = ("ics", "yaml")
MAX_BYTES = 10 * 1024 * 1024
DEFAULT_TIMEOUT = 10.0
RETRIES = 2  # extra attempts after a connection error, timeout or HTTP 429/5xx (plugin_utils.http's back-off)
# What to change for each kind of failure of a calendar URL.
FIX = {
    "tls": "; set REQUESTS_CA_BUNDLE to the CA that signed its certificate",
    "proxy": "; check HTTPS_PROXY/HTTP_PROXY, or add the host to NO_PROXY",
    "timeout": "; check the server, or raise http_timeout",
}


@dataclass
class CalendarSpec:
    name: str
    src: str | None = None
    windows: list | None = None  # inline YAML shorthand
    kind: str | None = None  # None: the calendar's own default, else blackout
    tz: object = None  # tzinfo for floating times, None: the calendar's own, else the default
    format: str | None = None
    allow_empty: bool = False
    headers: dict = field(default_factory=dict, repr=False)  # may hold credentials: never shown

    @property
    def is_url(self):
        return bool(self.src) and self.src.lower().startswith(("http://", "https://"))


def display_name(src):
    """A name for messages: URLs lose credentials, query and fragment (tokens live there)."""
    if not src.lower().startswith(("http://", "https://")):
        return src
    parts = urllib.parse.urlsplit(src)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def parse_spec(item, index):
    """One entry of `calendars` -> CalendarSpec; GateInputError names the entry and the problem."""
    where = f"calendars[{index}]"
    if isinstance(item, str):
        if not item.strip():
            raise GateInputError(f"{where} is empty")
        return CalendarSpec(name=display_name(item.strip()), src=item.strip())
    if not isinstance(item, dict):
        raise GateInputError(f"{where} must be a path, an http(s) URL or a mapping with src or windows")
    unknown = sorted(str(k) for k in item if k not in SPEC_KEYS)
    if unknown:
        raise GateInputError(f"{where}: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(SPEC_KEYS)})")
    if bool(item.get("src")) == (item.get("windows") is not None):
        raise GateInputError(f"{where} needs exactly one of src (path or URL) or windows (inline YAML calendar)")
    try:
        kind = check_kind(item["kind"]) if item.get("kind") else None
        tz = get_zone(item["tz"]) if item.get("tz") else None
    except (CalendarFormatError, GateInputError) as exc:
        raise GateInputError(f"{where}: {exc}") from None
    fmt = item.get("format")
    if fmt is not None and fmt not in FORMATS:
        raise GateInputError(f"{where}.format must be one of {', '.join(FORMATS)}")
    headers = item.get("headers") or {}
    if not isinstance(headers, dict):
        raise GateInputError(f"{where}.headers must be a mapping")
    src = str(item["src"]).strip() if item.get("src") else None
    name = str(item.get("name") or (display_name(src) if src else f"inline#{index}"))
    return CalendarSpec(
        name=name,
        src=src,
        windows=item.get("windows"),
        kind=kind,
        tz=tz,
        format=fmt,
        allow_empty=bool(item.get("allow_empty", False)),
        headers={str(k): str(v) for k, v in headers.items()},
    )


def fetch(spec, timeout=DEFAULT_TIMEOUT, resolve_path=None):
    """Bytes of a path or URL source; CalendarSourceError when they cannot be had."""
    if spec.is_url:
        body = _get(spec, timeout)
    else:
        if spec.src.lower().startswith(("file:", "ftp:", "ftps:")):
            raise CalendarSourceError("only local paths and http(s) URLs are supported", spec.name)
        path = resolve_path(spec.src) if resolve_path else spec.src
        try:
            with open(path, "rb") as handle:
                body = handle.read(MAX_BYTES + 1)
        except OSError as exc:
            raise CalendarSourceError(f"unreadable ({exc.strerror or exc})", spec.name) from None
    if len(body) > MAX_BYTES:
        raise CalendarSourceError(f"larger than {MAX_BYTES} bytes", spec.name)
    return body


def _get(spec, timeout):
    """Bytes of a calendar URL (only a 200 answer counts), with the environment's proxies and CA bundle and
    RETRIES retries; redirects checked hop by hop (never https -> http, never the headers to another origin)."""
    attempts = f"{RETRIES + 1} attempts"
    try:
        with http.session(retries=RETRIES, user_agent="changeward-blackout") as session:
            resp = http.get_checked(session, spec.src, headers=spec.headers, timeout=timeout, stream=True)
            with resp:
                if resp.status_code != 200:
                    why = f"HTTP {resp.status_code} {resp.reason or ''}".rstrip()
                    why += f" ({attempts})" if resp.status_code in http.RETRY_STATUS else ""
                    raise CalendarSourceError(f"{why}: only 200 is accepted", spec.name)
                return resp.raw.read(MAX_BYTES + 1, decode_content=True) or b""
    except RedirectRefused as exc:
        raise CalendarSourceError(str(exc).replace(spec.src, spec.name), spec.name) from None
    except http.ERRORS as exc:  # refused, DNS, TLS, proxy, timeout: said in words, never the library's text
        failure = http.describe(exc, timeout)
        raise CalendarSourceError(
            f"unreachable ({failure.text}, {attempts}; timeout {timeout:g}s){FIX.get(failure.kind, '')}", spec.name
        ) from None


def _format(spec, body):
    if spec.format:
        return spec.format
    path = urllib.parse.urlsplit(spec.src).path if spec.is_url else spec.src
    ext = os.path.splitext(path)[1].lower()
    if ext in (".ics", ".ical", ".icalendar"):
        return "ics"
    if ext in (".yml", ".yaml"):
        return "yaml"
    return "ics" if body.lstrip().upper().startswith(b"BEGIN:") else "yaml"


def _yaml(body, spec):
    try:
        doc = yaml.safe_load(body)
    except yaml.YAMLError as exc:
        raise CalendarFormatError(f"not valid YAML: {exc}".splitlines()[0], spec.name) from None
    if not isinstance(doc, dict) or "windows" not in doc:
        raise CalendarFormatError(
            "neither iCalendar (BEGIN:VCALENDAR) nor a YAML calendar (a mapping with windows)", spec.name
        )
    return doc


def load_calendar(spec, default_tz, timeout=DEFAULT_TIMEOUT, resolve_path=None):
    """Read and compile one calendar into EventRules. Raises a CalendarError subclass."""
    if spec.windows is not None:
        rules = load_shorthand({"windows": spec.windows}, spec, default_tz)
    else:
        body = fetch(spec, timeout, resolve_path)
        if _format(spec, body) == "ics":
            rules = load_ics(body, spec, default_tz)
        else:
            rules = load_shorthand(_yaml(body, spec), spec, default_tz)
    if not rules and not spec.allow_empty:
        raise CalendarFormatError(
            "holds no event; an empty calendar is refused because it usually means a broken export "
            "(set allow_empty: true if it is meant to be empty)",
            spec.name,
        )
    return rules
