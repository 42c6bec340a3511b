# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading a provider feed or a status page: a local path (a recorded document) or an http(s) URL.

Redirects follow the rule of every controller HTTP client (plugin_utils/redirects.py): never https -> http, never
configured headers (tokens) to another origin. Anything but an HTTP 200 answer is a SourceUnreachable: the
caller cannot decide, which blocks - a status page that does not answer is not a healthy one.
"""

from __future__ import annotations

from ansible_collections.changeward.hybrid.plugins.plugin_utils import http as cwhttp
from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import ChangewardError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.redirects import RedirectRefused, safe

try:
    import requests
except ImportError as exc:  # ansible-test's import check has no requests; callers get a clear error instead
    requests = None
    _IMPORT_ERROR: ImportError | None = exc
else:
    _IMPORT_ERROR = None

MAX_BYTES = 5 * 1024 * 1024
DEFAULT_TIMEOUT = 10.0
USER_AGENT = "changeward-conflicts"


class SourceUnreachable(ChangewardError):
    """A feed or status source that gave no usable answer: nobody can say whether it is clear."""


def is_url(src: str) -> bool:
    return isinstance(src, str) and src.lower().startswith(("http://", "https://"))


def display(src: str) -> str:
    """A name for messages and results: URLs without credentials or query string (tokens live there)."""
    return safe(src) if is_url(src) else src


def get(src: str, *, headers: dict | None = None, timeout: float = DEFAULT_TIMEOUT, resolve_path=None, session=None):
    """(status, body bytes) of a URL, or (200, bytes) of a file. Transport failures are SourceUnreachable;
    an HTTP status is returned for the caller to judge (a health check compares it)."""
    if not is_url(src):
        if ":" in src.split("/", 1)[0] and not src.startswith(("/", ".")):
            raise SourceUnreachable(f"{display(src)}: only local paths and http(s) URLs are supported")
        path = resolve_path(src) if resolve_path else src
        try:
            with open(path, "rb") as handle:
                body = handle.read(MAX_BYTES + 1)
        except OSError as exc:
            raise SourceUnreachable(f"{src}: unreadable ({exc.strerror or exc})") from None
        if len(body) > MAX_BYTES:
            raise SourceUnreachable(f"{src}: larger than {MAX_BYTES} bytes")
        return 200, body
    if requests is None:
        raise SourceUnreachable(f"reading {display(src)} needs the requests library on the controller: {_IMPORT_ERROR}")
    headers = {str(k): str(v) for k, v in (headers or {}).items()}
    # the collection's one HTTP client: its session (proxies, CA bundle) and its checked redirects
    http = session or cwhttp.session(user_agent=USER_AGENT)
    try:
        resp = cwhttp.get_checked(http, src, headers=headers, timeout=timeout, stream=True)
        with resp:
            body = resp.raw.read(MAX_BYTES + 1, decode_content=True) if resp.raw is not None else resp.content
            status = resp.status_code
    except RedirectRefused as exc:
        raise SourceUnreachable(str(exc).replace(src, display(src))) from None
    except requests.Timeout:
        raise SourceUnreachable(f"{display(src)}: unreachable (no answer within {timeout:g}s)") from None
    except requests.RequestException as exc:
        # the exception text can carry the URL with its query string: name the class only
        raise SourceUnreachable(f"{display(src)}: unreachable ({type(exc).__name__})") from None
    if len(body) > MAX_BYTES:
        raise SourceUnreachable(f"{display(src)}: larger than {MAX_BYTES} bytes")
    return status, body


def get_ok(src: str, **kwargs) -> bytes:
    """The body of a source that must answer 200 (a feed, a status page)."""
    status, body = get(src, **kwargs)
    if status != 200:
        raise SourceUnreachable(f"{display(src)}: HTTP {status} (only 200 is accepted)")
    return body
