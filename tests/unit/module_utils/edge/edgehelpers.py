"""A local HTTP server with Range support whose misbehaviour each test chooses, and release builders."""

import base64
import io
import json
import os
import re
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ansible_collections.changeward.hybrid.plugins.module_utils.edge import manifest as mf

CHUNK = 4096


class Source:
    """Serves one artifact. Knobs: corrupt (offset), ignore_range, drop_after (bytes of the body of the
    first N responses), stall_after (total body bytes after which it stops sending and holds the socket)."""

    def __init__(self, data):
        self.data = data
        self.corrupt = None
        self.ignore_range = False
        self.drops = []  # body bytes to send before dropping, one entry per response to cut
        self.stall_after = None
        self.requests = []
        self.body_sent = 0
        self.lock = threading.Lock()
        source = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                m = re.match(r"bytes=(\d+)-(\d+)", self.headers.get("Range", ""))
                with source.lock:
                    source.requests.append((int(m.group(1)), int(m.group(2))) if m else None)
                    drop = source.drops.pop(0) if source.drops else None
                payload = source.data
                if source.corrupt is not None:
                    payload = bytearray(payload)
                    payload[source.corrupt] ^= 0xFF
                    payload = bytes(payload)
                if m and not source.ignore_range:
                    start, end = int(m.group(1)), int(m.group(2))
                    body = payload[start : end + 1]
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{end}/{len(payload)}")
                else:
                    body = payload
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if drop is not None:
                    self.wfile.write(body[:drop])
                    source.body_sent += drop
                    self.close_connection = True
                    self.wfile.flush()
                    self.connection.shutdown(2)
                    return
                if source.stall_after is not None and source.body_sent + len(body) > source.stall_after:
                    part = max(0, source.stall_after - source.body_sent)
                    self.wfile.write(body[:part])
                    source.body_sent += part
                    self.wfile.flush()
                    threading.Event().wait(3)
                    self.close_connection = True
                    return
                self.wfile.write(body)
                source.body_sent += len(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.handle_error = lambda *args: None  # a client that hangs up is part of the tests
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/artifact.tar"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def make_tar(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def release(tmp_path, version="1.0.0", healthy=True, size=50000, name="demo"):
    """(artifact bytes, manifest text) of a demo release."""
    data = make_tar(
        {
            "config.json": json.dumps({"version": version, "healthy": healthy}).encode() + b"\n",
            "payload.bin": os.urandom(size),
        }
    )
    path = tmp_path / f"{name}-{version}.tar"
    path.write_bytes(data)
    manifest = mf.build(str(path), name, version, CHUNK)
    return data, mf.dumps(manifest).decode()


def keypair():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return key, pem.decode()


def sign(key, text):
    return base64.b64encode(key.sign(text.encode())).decode()
