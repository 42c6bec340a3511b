"""A real HTTP server on 127.0.0.1 (random port) that answers like Prometheus' HTTP API (/api/v1/query and
/api/v1/query_range). Tests register answers per query string; unknown queries get an empty result, as a
real Prometheus gives for a metric it does not have."""

from __future__ import annotations

import json
import math
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


def fmt(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


class FakePrometheus:
    def __init__(self):
        self.range_answers: dict[str, list[list[float]]] = {}
        self.instant_answers: dict[str, list[float]] = {}
        self.errors: dict[str, tuple[int, str, str]] = {}
        self.requests: list[dict] = []
        self.unavailable = 0  # answer this many requests with HTTP 503 first
        self.delay = 0.0  # seconds to wait before answering
        self._server = None
        self._thread = None

    # --- what to answer ---
    def on_range(self, query: str, *series: list[float]) -> None:
        """Each series is one host's values, one per step from the request's start."""
        self.range_answers[query] = [list(s) for s in series]

    def on_instant(self, query: str, *values: float) -> None:
        """One series per value; no values means an empty vector."""
        self.instant_answers[query] = list(values)

    def on_error(self, query: str, status: int = 400, error_type: str = "bad_data", error: str = "parse error") -> None:
        self.errors[query] = (status, error_type, error)

    # --- server ---
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakePrometheus:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                parts = urlsplit(self.path)
                params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                fake.requests.append(
                    {"path": parts.path, "params": params, "authorization": self.headers.get("Authorization")}
                )
                if fake.delay:
                    time.sleep(fake.delay)
                if fake.unavailable > 0:
                    fake.unavailable -= 1
                    return self._send(503, {"status": "error", "errorType": "unavailable", "error": "starting up"})
                status, body = fake.answer(parts.path, params)
                self._send(status, body)

            def _send(self, status, body):
                raw = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                try:
                    self.wfile.write(raw)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def answer(self, path: str, params: dict):
        query = params.get("query", "")
        if query in self.errors:
            status, error_type, error = self.errors[query]
            return status, {"status": "error", "errorType": error_type, "error": error}
        if path == "/api/v1/query_range":
            start, step = float(params["start"]), float(params["step"])
            result = [
                {
                    "metric": {"__name__": "m", "instance": f"host-{i}:9100"},
                    "values": [[start + j * step, fmt(v)] for j, v in enumerate(series)],
                }
                for i, series in enumerate(self.range_answers.get(query, []))
            ]
            return 200, {"status": "success", "data": {"resultType": "matrix", "result": result}}
        if path == "/api/v1/query":
            at = float(params.get("time", time.time()))
            result = [
                {"metric": {"series": str(i)}, "value": [at, fmt(v)]}
                for i, v in enumerate(self.instant_answers.get(query, []))
            ]
            return 200, {"status": "success", "data": {"resultType": "vector", "result": result}}
        return 404, {"status": "error", "errorType": "not_found", "error": f"no route {path}"}

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def closed_port_url() -> str:
    """URL of a port nothing listens on (bound, then closed)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"
