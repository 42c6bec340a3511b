"""The lab's stand-in for the ops and team receivers: an HTTP server that appends every POST body (an
Alertmanager webhook notification) to <dir>/<receiver>.jsonl, the receiver being the URL's last path segment.

python3 webhook_sink.py <dir> <address> <port>   (stdlib only; the lab's keeper runs it)
"""

import json
import os
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/-/ready" else 404)
        self.end_headers()

    def do_POST(self):
        name = self.path.rstrip("/").rsplit("/", 1)[-1]
        if not re.fullmatch(r"[A-Za-z0-9._-]+", name):
            self.send_response(404)
            self.end_headers()
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            doc = json.loads(body or b"{}")
        except ValueError:
            self.send_response(400)
            self.end_headers()
            return
        with LOCK, open(os.path.join(self.server.outdir, name + ".jsonl"), "a") as fh:
            fh.write(json.dumps(doc, sort_keys=True) + "\n")
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_args):
        pass


def main():
    outdir, address, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    os.makedirs(outdir, exist_ok=True)
    server = ThreadingHTTPServer((address, port), Handler)
    server.outdir = outdir
    server.serve_forever()


if __name__ == "__main__":
    main()
