# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shadow comparison of a release, in the manner of Diffy: every sampled request is answered by three
instances - the running release (primary), a second copy of it (secondary) and the new release (candidate).

What differs between primary and secondary is noise - timestamps, request ids, host names, anything the release
does not decide - and is learned per field across the sample. A field where the candidate differs from the
primary and that is not noise is a real difference. The rollout is gated on the share of requests with a real
difference, and examples of differing responses are kept for the people who decide.

Responses are compared as status, selected headers and the JSON body flattened to paths (``a.b[0].c``); a body
that is not JSON is compared whole as ``body``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import ChangewardError

MISSING = "<missing>"


class ShadowError(ChangewardError, ValueError):
    """A comparison that cannot be made (no requests, an instance that did not answer)."""


def flatten(response: Mapping, headers: Iterable = ()) -> dict:
    """{path: value} of a response {status, headers, body}."""
    out = {"status": response.get("status")}
    given = {str(k).lower(): v for k, v in (response.get("headers") or {}).items()}
    for name in headers:
        out[f"header.{name.lower()}"] = given.get(name.lower(), MISSING)
    body = response.get("body")
    if isinstance(body, (str, bytes)):
        try:
            body = json.loads(body)
        except ValueError:
            out["body"] = body if isinstance(body, str) else body.decode("utf-8", "replace")
            return out

    def walk(value, path):
        if isinstance(value, Mapping):
            if not value:
                out[path or "body"] = {}
            for k, v in value.items():
                walk(v, f"{path}.{k}" if path else str(k))
        elif isinstance(value, list):
            if not value:
                out[path or "body"] = []
            for i, v in enumerate(value):
                walk(v, f"{path}[{i}]")
        else:
            out[path or "body"] = value

    if body is not None:
        walk(body, "")
    return out


def _diff(a: Mapping, b: Mapping) -> set:
    return {k for k in set(a) | set(b) if a.get(k, MISSING) != b.get(k, MISSING)}


def _generic(path: str) -> str:
    """items[3].id -> items[].id: noise learned on one element counts for all."""
    out, skip = [], False
    for ch in path:
        if ch == "[":
            out.append("[]")
            skip = True
        elif ch == "]":
            skip = False
        elif not skip:
            out.append(ch)
    return "".join(out)


def compare(samples: Iterable, headers: Iterable = (), max_examples: int = 5, noise=()) -> dict:
    """samples: [{request, primary, secondary, candidate}] (responses as {status, headers, body}).

    Returns noise (fields where primary and secondary differ anywhere in the sample), the requests whose candidate
    differs in a field that is not noise, the difference rate and examples."""
    samples = list(samples)
    if not samples:
        raise ShadowError("no sampled request to compare: a shadow comparison without traffic proves nothing")
    flat = []
    for i, s in enumerate(samples):
        for role in ("primary", "secondary", "candidate"):
            if not isinstance(s.get(role), Mapping) or s[role].get("status") is None:
                raise ShadowError(f"request {i} ({s.get('request')}): no answer from the {role}")
        flat.append({role: flatten(s[role], headers) for role in ("primary", "secondary", "candidate")})
    learned = set(noise)
    for f in flat:
        learned |= {_generic(p) for p in _diff(f["primary"], f["secondary"])}
    differing = []
    fields: dict = {}
    for s, f in zip(samples, flat, strict=True):
        real = sorted(p for p in _diff(f["primary"], f["candidate"]) if _generic(p) not in learned)
        if not real:
            continue
        for p in real:
            fields[_generic(p)] = fields.get(_generic(p), 0) + 1
        differing.append(
            {
                "request": s.get("request"),
                "fields": {
                    p: {"primary": f["primary"].get(p, MISSING), "candidate": f["candidate"].get(p, MISSING)}
                    for p in real
                },
            }
        )
    return {
        "requests": len(samples),
        "differing": len(differing),
        "difference_rate": round(len(differing) / len(samples), 4),
        "noise": sorted(learned),
        "fields": dict(sorted(fields.items())),
        "examples": differing[:max_examples],
    }


def verdict(result: Mapping, max_rate: float) -> tuple:
    """(passed, message) for a difference-rate limit."""
    rate = result["difference_rate"]
    fields = ", ".join(f"{k} ({v})" for k, v in result["fields"].items()) or "none"
    msg = (
        f"{result['differing']} of {result['requests']} shadowed request(s) differ ({rate:.1%}, limit {max_rate:.1%}); "
        f"differing fields: {fields}; noise ignored: {', '.join(result['noise']) or 'none'}"
    )
    return rate <= max_rate, msg


# -- live mirrored traffic -------------------------------------------------------------------------------------------
# Request headers that belong to one connection, not to the request: never forwarded to the three instances.
HOP_BY_HOP = frozenset(
    (
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    )
)
REPLAYED_METHODS = ("GET", "HEAD")


def parse_listen(listen: str) -> tuple:
    """'198.18.0.1:8099' -> ('198.18.0.1', 8099)."""
    host, sep, port = str(listen).rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ShadowError(f"listen {listen!r}: give address:port where the mirror can reach this controller")
    return host.strip("[]"), int(port)


def collect_mirrored(listen: str, mirror_from, sample: int, duration: float, fetch) -> dict:
    """Act as the shadow proxy an nginx ``mirror`` sends copies of live requests to, as Diffy does: each mirrored
    GET or HEAD is answered at once (204: the mirror's answer is thrown away by nginx, and live traffic must not
    wait for the comparison) and then sent to the three instances by ``fetch(role, path, headers)``.

    Collects until ``sample`` requests are in or ``duration`` seconds have passed. Only addresses in
    ``mirror_from`` may send (others get 403): whoever can reach the port could otherwise choose the sample.
    Returns {samples, refused, skipped_methods, beyond_sample}."""
    import queue
    import threading
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    allowed = {str(a) for a in mirror_from or ()}
    if not allowed:
        raise ShadowError("mirror_from: name the address(es) of the mirroring proxy; refusing to take any sender")
    inbox: queue.Queue = queue.Queue()
    counts = {"refused": 0, "skipped_methods": 0, "beyond_sample": 0, "queued": 0}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format, *args):
            pass

        def _answer(self, code):
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _mirrored(self):
            if self.client_address[0] not in allowed:
                with lock:
                    counts["refused"] += 1
                return self._answer(403)
            self._answer(204)
            with lock:
                if self.command not in REPLAYED_METHODS:
                    # a POST sent three more times would be three more orders
                    counts["skipped_methods"] += 1
                    return None
                if counts["queued"] >= sample:
                    counts["beyond_sample"] += 1
                    return None
                counts["queued"] += 1
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            inbox.put((self.command, self.path, headers))
            return None

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _mirrored

    try:
        server = ThreadingHTTPServer(parse_listen(listen), Handler)
    except OSError as exc:
        raise ShadowError(f"cannot listen on {listen} for mirrored requests: {exc.strerror}") from None
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    thread.start()
    samples = []
    deadline = time.monotonic() + duration
    try:
        while len(samples) < sample:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                method, path, headers = inbox.get(timeout=min(left, 0.5))
            except queue.Empty:
                continue
            samples.append(
                {
                    "request": f"{method} {path}",
                    **{role: fetch(role, method, path, headers) for role in ("primary", "secondary", "candidate")},
                }
            )
    finally:
        server.shutdown()
        server.server_close()
    with lock:
        return {"samples": samples, **{k: v for k, v in counts.items() if k != "queued"}}
