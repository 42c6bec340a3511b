"""edge_rollout reads a manifest, signature or key given by URL through the collection's one HTTP client
(plugin_utils/http.py): the environment's proxy, the redirect rule (plugin_utils/redirects.py), HTTP errors and
size named in words. Served over real local sockets."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from unittest import mock
from urllib.parse import urlsplit

import pytest

from ansible_collections.changeward.hybrid.plugins.action import edge_rollout

MANIFEST = '{"name": "demo", "version": "1.2.0"}'


class Server:
    """Answers GET /manifest.json with MANIFEST, /moved with a redirect to Location ``moved_to``, /big with more
    than the limit, anything else 404. As an HTTP proxy it sees absolute URLs, recorded in ``seen``."""

    def __init__(self):
        self.seen = []
        self.moved_to = "/manifest.json"
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.seen.append(self.path)
                path = urlsplit(self.path).path.lstrip("/")
                if path == "manifest.json":
                    self._reply(200, MANIFEST.encode())
                elif path == "moved":
                    self.send_response(302)
                    self.send_header("Location", server.moved_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif path == "big":
                    self._reply(200, b"x" * (edge_rollout.MAX_FETCHED + 1))
                else:
                    self._reply(404, b"no")

            def _reply(self, code, body):
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    srv = Server()
    yield srv
    srv.close()


def action():
    act = edge_rollout.ActionModule(mock.MagicMock(), mock.MagicMock(), mock.MagicMock(), None, None, None)
    act._args = {"validate_certs": True}
    act._deadline = mock.MagicMock(remaining=lambda: 10.0)
    return act


def fetch(url):
    return action()._content(url, lambda s: False, "manifest")


def test_a_manifest_by_url_is_read_and_a_redirect_on_the_same_origin_followed(server):
    assert fetch(f"{server.url}/manifest.json") == MANIFEST
    assert fetch(f"{server.url}/moved?token=s3cret") == MANIFEST
    assert server.seen == ["/manifest.json", "/moved?token=s3cret", "/manifest.json"]


@pytest.mark.parametrize(
    ("path", "moved_to", "words"),
    [
        ("/missing", None, "HTTP 404"),
        ("/big", None, "larger than 1 MiB"),
        ("/moved", "ftp://127.0.0.1/manifest.json", "not http(s): refused"),
    ],
)
def test_what_cannot_be_fetched_is_named_without_the_query(server, monkeypatch, path, moved_to, words):
    monkeypatch.setattr(edge_rollout, "MAX_FETCHED", 1024 * 1024)  # 16 MiB in use; a smaller limit tests faster
    if moved_to:
        server.moved_to = moved_to
    with pytest.raises(edge_rollout.EdgeRolloutError) as info:
        fetch(f"{server.url}{path}?token=s3cret")
    assert f"cannot fetch manifest from {server.url}{path}" in str(info.value) and words in str(info.value)
    assert "s3cret" not in str(info.value)


def test_a_refused_connection_is_said_in_words(server):
    url = server.url
    server.close()
    with pytest.raises(edge_rollout.EdgeRolloutError, match="connection refused"):
        fetch(f"{url}/manifest.json")
    server.httpd = mock.MagicMock()  # closed already


def test_the_environment_proxy_is_used(server, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", server.url)
    monkeypatch.delenv("NO_PROXY")
    assert fetch("http://releases.example.invalid/manifest.json") == MANIFEST
    assert server.seen == ["http://releases.example.invalid/manifest.json"]
