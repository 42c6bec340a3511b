"""A small in-process stand-in for Alertmanager's silence API and a pushgateway, on a real local socket, so the
monitoring clients are tested over real HTTP (redirects included) without the lab."""

import json
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeServices:
    def __init__(self):
        self.silences = {}
        self.groups = {}
        self.requests = []  # (method, path, Authorization header)
        self.redirect_to = None  # every request answers 307 to this base URL when set
        self.fail_with = None  # every request answers this HTTP status when set
        handler = self._handler()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self, code, body=None, headers=None):
                data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
                self.send_response(code)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self):
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _route(self, method):
                fake.requests.append((method, self.path, self.headers.get("Authorization")))
                body = self._body()
                if fake.fail_with:
                    return self._reply(fake.fail_with, {"error": "failing on purpose"})
                if fake.redirect_to:
                    return self._reply(307, headers={"Location": fake.redirect_to + self.path})
                path = self.path.split("?")[0]
                if method == "POST" and path == "/api/v2/silences":
                    sid = str(uuid.uuid4())
                    fake.silences[sid] = json.loads(body) | {"id": sid, "status": {"state": "active"}}
                    return self._reply(200, {"silenceID": sid})
                if method == "GET" and path == "/api/v2/silences":
                    return self._reply(200, list(fake.silences.values()))
                m = re.fullmatch(r"/api/v2/silence/([\w-]+)", path)
                if m and m.group(1) not in fake.silences:
                    return self._reply(404, {"error": "not found"})
                if m and method == "GET":
                    return self._reply(200, fake.silences[m.group(1)])
                if m and method == "DELETE":
                    fake.silences[m.group(1)]["status"] = {"state": "expired"}
                    return self._reply(200)
                if path.startswith("/metrics/job/") and method == "PUT":
                    fake.groups[path] = body.decode()
                    return self._reply(200)
                if path.startswith("/metrics/job/") and method == "DELETE":
                    fake.groups.pop(path, None)
                    return self._reply(202)
                return self._reply(404, {"error": "no such endpoint"})

            def do_GET(self):
                self._route("GET")

            def do_POST(self):
                self._route("POST")

            def do_PUT(self):
                self._route("PUT")

            def do_DELETE(self):
                self._route("DELETE")

            def log_message(self, *_args):
                pass

        return Handler
