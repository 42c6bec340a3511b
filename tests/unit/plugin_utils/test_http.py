"""plugin_utils.http: proxies and CA bundles from the environment, the one back-off, failures in words - against
real local servers (plain HTTP, a TLS server with its own CA, a forwarding proxy)."""

import http.server
import logging
import ssl
import subprocess
import threading
import time

import pytest

from ansible_collections.changeward.hybrid.plugins.plugin_utils import http as cwhttp
from ansible_collections.changeward.hybrid.plugins.plugin_utils.prometheus import (
    PrometheusClient,
    PrometheusUnreachable,
)
from ansible_collections.changeward.hybrid.plugins.plugin_utils.redirects import RedirectRefused

PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


class Server:
    """A threaded HTTP(S) server answering every GET with ``self.answer(handler)`` -> (status, headers, body),
    recording each request line."""

    def __init__(self, context=None):
        self.lines = []
        self.answer = lambda handler: (200, {}, b"ok")
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.lines.append(self.requestline)
                status, headers, body = outer.answer(self)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.do_GET()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if context is not None:
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        scheme = "https" if context is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    srv = Server()
    yield srv
    srv.close()


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 (its own CA) and an unrelated one."""
    base = tmp_path_factory.mktemp("certs")
    for name in ("server", "other"):
        key, pem = str(base / f"{name}.key"), str(base / f"{name}.pem")
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                key,
                "-out",
                pem,
                "-days",
                "2",
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
            ],
            check=True,
            capture_output=True,
        )
    return base


@pytest.fixture
def tls_server(certs):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certs / "server.pem", certs / "server.key")
    srv = Server(ctx)
    yield srv
    srv.close()


def closed_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the back-off ---------------------------------------------------------------------------------------------
def test_backoff_doubles_is_capped_and_jittered_into_half_to_full():
    def low():
        return 0.0

    def high():
        return 0.999999

    assert [cwhttp.backoff_delay(n, 0.5, 3.0, low) for n in (1, 2, 3, 4, 5)] == [0.25, 0.5, 1.0, 1.5, 1.5]
    assert cwhttp.backoff_delay(3, 0.5, 3.0, high) == pytest.approx(2.0, abs=1e-5)
    assert cwhttp.backoff_delay(0, 0.5, 3.0, high) == 0.0


def test_the_retry_waits_the_backoff_from_the_first_retry_on(server):
    server.answer = lambda h: (503, {}, b"busy")
    session = cwhttp.session(retries=2, backoff=0.3, max_backoff=10)
    started = time.monotonic()
    resp = session.get(server.url + "/x", timeout=2)
    elapsed = time.monotonic() - started
    assert resp.status_code == 503 and len(server.lines) == 3
    assert 0.15 + 0.3 <= elapsed < 2.0  # urllib3's own policy would not wait before the first retry


def test_retry_after_is_honoured_only_up_to_the_cap(server):
    server.answer = lambda h: (503, {"Retry-After": "3600"}, b"busy")
    session = cwhttp.session(retries=1, backoff=0.01, max_backoff=0.2)
    started = time.monotonic()
    assert session.get(server.url + "/x", timeout=2).status_code == 503
    assert time.monotonic() - started < 2.0 and len(server.lines) == 2


def test_only_the_methods_given_are_retried_on_a_status(server):
    server.answer = lambda h: (503, {}, b"busy")
    session = cwhttp.session(retries=2, backoff=0.01, methods=("GET",))
    assert session.post(server.url + "/x", data=b"{}", timeout=2).status_code == 503
    assert server.lines == ["POST /x HTTP/1.1"]  # a POST is not repeated by the GET policy


# -- proxies and CA bundles from the environment -------------------------------------------------------------
def test_http_proxy_from_the_environment_carries_the_request(server, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", server.url)  # the test server answers as a forwarding proxy would
    resp = cwhttp.session().get("http://calendar.example.invalid:8080/team.ics?x=1", timeout=2)
    assert resp.status_code == 200
    assert server.lines == ["GET http://calendar.example.invalid:8080/team.ics?x=1 HTTP/1.1"]


def test_no_proxy_skips_the_proxy(server, monkeypatch):
    proxy = Server()
    try:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        assert cwhttp.session().get(server.url + "/direct", timeout=2).status_code == 200
        assert proxy.lines == [] and server.lines == ["GET /direct HTTP/1.1"]
    finally:
        proxy.close()


def test_an_unknown_ca_is_a_tls_failure_in_words(tls_server):
    with pytest.raises(cwhttp.ERRORS) as err:
        cwhttp.session().get(tls_server.url + "/x", timeout=2)
    failure = cwhttp.describe(err.value, 2)
    assert failure.kind == "tls" and failure.text.startswith("TLS certificate not trusted (")


def test_requests_ca_bundle_is_used_when_no_ca_file_is_given(tls_server, certs, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certs / "server.pem"))
    assert cwhttp.session().get(tls_server.url + "/x", timeout=2).status_code == 200


def test_a_configured_ca_file_or_verify_false_wins_over_requests_ca_bundle(tls_server, certs, monkeypatch):
    # requests alone lets REQUESTS_CA_BUNDLE replace a session's verify setting
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certs / "other.pem"))
    assert cwhttp.session(ca_file=str(certs / "server.pem")).get(tls_server.url, timeout=2).status_code == 200
    assert cwhttp.session(verify=False).get(tls_server.url, timeout=2).status_code == 200
    with pytest.raises(cwhttp.ERRORS):
        cwhttp.session().get(tls_server.url, timeout=2)  # the environment's (wrong) bundle for the default


def test_prometheus_behind_an_unknown_ca_names_ca_path(tls_server):
    with pytest.raises(PrometheusUnreachable) as err:
        PrometheusClient(tls_server.url, retries=0, timeout=2).instant("up")
    message = str(err.value)
    assert message.startswith(f"Prometheus at {tls_server.url} is unreachable: TLS certificate not trusted (")
    assert "set ca_path" in message and "SSLError" not in message and "query" not in message.split(";", maxsplit=1)[0]


# -- failures in words, no query in logs ----------------------------------------------------------------------
def test_connection_refused_in_words_and_no_retry_warning_with_the_query(caplog):
    url = f"http://127.0.0.1:{closed_port()}/api/v1/query?query=secret_metric&token=t0ken"
    caplog.set_level(logging.DEBUG)
    with pytest.raises(cwhttp.ERRORS) as err:
        cwhttp.session(retries=1, backoff=0.01).get(url, timeout=2)
    assert cwhttp.describe(err.value, 2) == cwhttp.Failure("refused", "connection refused")
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and "t0ken" in r.getMessage()]


def test_a_silent_server_is_a_timeout_in_words():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        with pytest.raises(cwhttp.ERRORS) as err:
            cwhttp.session().get(f"http://127.0.0.1:{sock.getsockname()[1]}/", timeout=0.3)
    assert cwhttp.describe(err.value, 0.3) == cwhttp.Failure("timeout", "no answer within 0.3s")


def test_credentials_in_the_url_are_never_redirected_to_another_origin(server):
    other = Server()
    try:
        server.answer = lambda h: (302, {"Location": other.url + "/cal.ics"}, b"")
        url = server.url.replace("http://", "http://user:pw@") + "/cal.ics"
        with pytest.raises(RedirectRefused, match="another origin"):
            cwhttp.get_checked(cwhttp.session(), url, timeout=2)
        assert other.lines == []
    finally:
        other.close()
