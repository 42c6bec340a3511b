"""A small orders API for the shadow lab test (run on lab hosts): every answer carries a fresh request id and
timestamp - noise - and the release (argv[2]: decimals of the total) is the one real difference."""

import json
import sys
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, DECIMALS = int(sys.argv[1]), int(sys.argv[2])


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        order = self.path.rsplit("/", 1)[-1].split("?")[0]
        request_id = str(uuid.uuid4())
        amount = 12.5 * (sum(map(ord, order)) % 7 + 1)
        body = {
            "order": order,
            "total": f"{amount:.{DECIMALS}f}",
            "currency": "EUR",
            "request_id": request_id,
            "served_at": datetime.now(UTC).isoformat(),
        }
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Request-Id", request_id)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


ThreadingHTTPServer(("0.0.0.0", PORT), Handler).serve_forever()  # noqa: S104 - the lab's service
