"""Credentials and configured headers never follow a redirect to another origin, and no client follows https ->
http: the calendar fetch, the Prometheus client and the HTTP sinks, each against real local HTTP servers - one
that redirects, and one on another port (another origin) that records what reached it."""

import http.server
import json
import threading
import time

import pytest

from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar.errors import CalendarSourceError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar.sources import fetch, parse_spec
from ansible_collections.changeward.hybrid.plugins.plugin_utils.prometheus import (
    PrometheusClient,
    PrometheusResponseError,
)
from ansible_collections.changeward.hybrid.plugins.plugin_utils.redirects import RedirectRefused, next_hop
from ansible_collections.changeward.hybrid.plugins.plugin_utils.shipping.base import event_item
from ansible_collections.changeward.hybrid.plugins.plugin_utils.shipping.config import build_sinks
from ansible_collections.changeward.hybrid.plugins.plugin_utils.shipping.errors import DeliveryError

TOKEN = "Bearer s3cret-token-0123456789"
CALENDAR = b"windows:\n  - name: nightly\n    start: '2025-01-13T22:00'\n    duration: PT2H\n"
PROM_OK = json.dumps({"status": "success", "data": {"resultType": "vector", "result": [
    {"metric": {}, "value": [1, "0.5"]}]}}).encode()  # fmt: skip


class Server:
    """A real HTTP server on 127.0.0.1: ``routes`` maps a path to (status, headers, body); every request's
    method, path and headers are recorded."""

    def __init__(self):
        self.routes = {}
        self.requests = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                owner.requests.append({"method": self.command, "path": self.path, "headers": dict(self.headers)})
                status, headers, body = owner.routes.get(self.path.split("?")[0], (404, {}, b"not found"))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def saw(self, needle):
        return any(needle in json.dumps(r["headers"]) for r in self.requests)


@pytest.fixture
def servers():
    first, other = Server(), Server()
    yield first, other
    first.close()
    other.close()


def redirect(server, path, to, code=302):
    server.routes[path] = (code, {"Location": to}, b"")


# -- the rule ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "current, location, credentials, expected",
    [
        ("https://a.example/x", "http://a.example/x", False, "https to http"),
        ("https://a.example/x", "http://a.example/x", True, "https to http"),
        ("https://a.example/x", "https://b.example/x", True, "another origin"),
        ("https://a.example/x", "https://a.example:8443/x", True, "another origin"),
        ("http://a.example/x", "https://a.example/x", True, "another origin"),  # scheme is part of the origin
        ("https://a.example/x", "ftp://a.example/x", False, "not http"),
        ("https://a.example/x", None, False, "without a Location"),
    ],
)
def test_refused_redirects(current, location, credentials, expected):
    with pytest.raises(RedirectRefused, match=expected):
        next_hop(current, location, credentials=credentials)


def test_followed_redirects():
    assert next_hop("https://a.example/x", "/y?z=1", credentials=True) == "https://a.example/y?z=1"
    assert next_hop("https://a.example/x", "https://A.example:443/y", credentials=True) == "https://A.example:443/y"
    assert next_hop("http://a.example/x", "https://b.example/y", credentials=False) == "https://b.example/y"
    with pytest.raises(RedirectRefused, match="more than"):
        next_hop("https://a.example/x", "/y", credentials=False, hops=5)


# -- calendars ---------------------------------------------------------------------------------------------
def test_calendar_headers_never_reach_another_origin(servers):
    first, other = servers
    other.routes["/cal.yml"] = (200, {}, CALENDAR)
    redirect(first, "/cal.yml", f"{other.url}/cal.yml")
    spec = parse_spec({"src": f"{first.url}/cal.yml", "headers": {"Authorization": TOKEN}}, 0)
    with pytest.raises(CalendarSourceError, match="another origin"):
        fetch(spec, timeout=5)
    assert other.requests == [] and not other.saw("s3cret")
    # without configured headers there is nothing to leak: the redirect is followed
    plain = parse_spec({"src": f"{first.url}/cal.yml"}, 0)
    assert fetch(plain, timeout=5) == CALENDAR
    assert len(other.requests) == 1


def test_calendar_headers_follow_a_redirect_on_the_same_origin(servers):
    first, _other = servers
    first.routes["/new.yml"] = (200, {}, CALENDAR)
    redirect(first, "/old.yml", "/new.yml", code=301)
    spec = parse_spec({"src": f"{first.url}/old.yml", "headers": {"Authorization": TOKEN}}, 0)
    assert fetch(spec, timeout=5) == CALENDAR
    assert [r["path"] for r in first.requests] == ["/old.yml", "/new.yml"]
    assert first.requests[1]["headers"].get("Authorization") == TOKEN


# -- Prometheus --------------------------------------------------------------------------------------------
def test_prometheus_token_never_reaches_another_origin(servers):
    first, other = servers
    other.routes["/api/v1/query"] = (200, {"Content-Type": "application/json"}, PROM_OK)
    redirect(first, "/api/v1/query", f"{other.url}/api/v1/query?query=up", code=307)
    client = PrometheusClient(first.url, token="s3cret-token-0123456789", timeout=5, retries=0)
    with pytest.raises(PrometheusResponseError, match="another origin"):
        client.instant("up")
    assert other.requests == []
    # no token: followed (the answer comes from the other server)
    assert PrometheusClient(first.url, timeout=5, retries=0).instant("up")[0].floats == [0.5]
    assert len(other.requests) == 1 and not other.saw("s3cret")


def test_prometheus_token_follows_a_redirect_on_the_same_origin(servers):
    first, _other = servers
    first.routes["/prom/api/v1/query"] = (200, {"Content-Type": "application/json"}, PROM_OK)
    redirect(first, "/api/v1/query", f"{first.url}/prom/api/v1/query?query=up")
    client = PrometheusClient(first.url, token="s3cret-token-0123456789", timeout=5, retries=0)
    assert client.instant("up")[0].floats == [0.5]
    assert first.requests[-1]["headers"].get("Authorization") == "Bearer s3cret-token-0123456789"


# -- sinks: they follow no redirect at all ------------------------------------------------------------------
class _Entry:
    def __init__(self):
        self.seq, self.prev_hash, self.hash = 1, "0" * 64, "1" * 64
        self.event = {"id": "e-1", "time": "2026-01-01T00:00:00Z", "type": "t", "subject": "CHG-1"}


@pytest.mark.parametrize("kind", ["webhook", "splunk_hec"])
def test_sinks_do_not_follow_a_redirect_with_their_credentials(servers, kind, monkeypatch):
    first, other = servers
    monkeypatch.setenv("T_SECRET", "s3cret-token-0123456789")
    if kind == "webhook":
        raw = {"name": "w", "type": "webhook", "url": f"{first.url}/in", "secret_env": "T_SECRET"}
        raw["headers"] = {"X-Api-Key": "s3cret-header-value"}
        path = "/in"
    else:
        raw = {"name": "h", "type": "splunk_hec", "url": first.url, "token_env": "T_SECRET"}
        path = "/services/collector/event"
    redirect(first, path, f"{other.url}{path}", code=307)
    (sink,) = build_sinks([raw])
    sink.ledger_id = "L"
    with pytest.raises(DeliveryError, match="307"):
        sink.deliver([event_item("L", _Entry())], time.monotonic() + 5)
    assert other.requests == []
