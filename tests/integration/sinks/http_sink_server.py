"""A real HTTP receiver for the shipping tests: a signed-webhook endpoint and a Splunk HEC endpoint with acks.

Run as its own process:

    python http_sink_server.py --state DIR --port N --secret S --token T

It writes DIR/server.pid and DIR/port when it listens, and appends what it receives to
DIR/webhook.jsonl and DIR/hec.jsonl (one line per received item, in arrival order, duplicates kept, so
the tests can check loss, order and deduplication) and every raw request body to DIR/raw.log (for the
canary checks). DIR/mode (ok | error500 | error400 | hang | noack), re-read on every request, makes it
misbehave on purpose.

Splunk HEC, as far as the tests need it: POST /services/collector/event with ``Authorization: Splunk
<token>`` and ``X-Splunk-Request-Channel`` answers ``{"text": "Success", "code": 0, "ackId": n}`` (ackIds
count per channel); POST /services/collector/ack?channel=... with ``{"acks": [n]}`` answers
``{"acks": {"n": true|false}}``; an ack turns true ``--ack-delay`` seconds after the batch arrived (never in
mode noack). Items are logged to hec.jsonl only when their batch is acknowledged (as an indexer would).
"""

import argparse
import hashlib
import hmac
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

LOCK = threading.RLock()
ACKS = {}  # channel -> {ack_id: (ready_at, items)}
COUNTERS = {}


class Handler(BaseHTTPRequestHandler):
    server_version = "changeward-test-sink/1"
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep the test output clean
        pass

    # -- helpers ------------------------------------------------------------------------------------
    def _mode(self):
        try:
            with open(os.path.join(STATE, "mode"), encoding="utf-8") as fh:
                return fh.read().strip() or "ok"
        except OSError:
            return "ok"

    def _reply(self, status, doc):
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _append(self, name, lines):
        with LOCK, open(os.path.join(STATE, name), "a", encoding="utf-8") as fh:
            for line in lines:
                fh.write(json.dumps(line, sort_keys=True) + "\n")

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        with LOCK, open(os.path.join(STATE, "raw.log"), "ab") as fh:
            fh.write(self.path.encode() + b"\n" + bytes(self.headers) + body + b"\n")
        return body

    def _misbehave(self, mode):
        if mode == "hang":
            time.sleep(3600)
        if mode == "error500":
            self._reply(503, {"text": "Server is busy", "code": 9})
            return True
        if mode == "error400":
            self._reply(400, {"text": "Invalid data format", "code": 6})
            return True
        return False

    # -- endpoints --------------------------------------------------------------------------------------
    def do_POST(self):
        mode = self._mode()
        body = self._body()
        path = urlsplit(self.path).path
        if path == "/webhook":
            self._webhook(body, mode)
        elif path == "/services/collector/event":
            self._hec_event(body, mode)
        elif path == "/services/collector/ack":
            self._hec_ack(body)
        else:
            self._reply(404, {"text": "not found"})

    def _webhook(self, body, mode):
        expected = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, self.headers.get("X-Changeward-Signature", "")):
            self._reply(401, {"error": "bad signature"})
            return
        if self._misbehave(mode):
            return
        doc = json.loads(body)
        ids = [i.strip() for i in self.headers.get("X-Changeward-Event-Id", "").split(",")]
        if ids != [item["id"] for item in doc["items"]]:
            self._reply(400, {"error": "event id header does not match the items"})
            return
        self._append("webhook.jsonl", ({"id": i["id"], "kind": i["kind"], "seq": i["seq"]} for i in doc["items"]))
        self._reply(200, {"accepted": len(doc["items"])})

    def _hec_event(self, body, mode):
        if self.headers.get("Authorization") != f"Splunk {TOKEN}":
            self._reply(403, {"text": "Invalid token", "code": 4})
            return
        channel = self.headers.get("X-Splunk-Request-Channel")
        if not channel:
            self._reply(400, {"text": "Data channel is missing", "code": 10})
            return
        if self._misbehave(mode):
            return
        decoder, text, pos, items = json.JSONDecoder(), body.decode("utf-8"), 0, []
        while pos < len(text):
            while pos < len(text) and text[pos].isspace():
                pos += 1
            if pos >= len(text):
                break
            obj, pos = decoder.raw_decode(text, pos)
            if "event" not in obj or not isinstance(obj.get("time"), (int, float)):
                self._reply(400, {"text": "Event field is required", "code": 12})
                return
            items.append({"id": obj["event"]["id"], "kind": obj["event"]["kind"], "seq": obj["event"]["seq"]})
        with LOCK:
            ack_id = COUNTERS.get(channel, 0)
            COUNTERS[channel] = ack_id + 1
            ready = float("inf") if mode == "noack" else time.monotonic() + ACK_DELAY
            ACKS.setdefault(channel, {})[ack_id] = [ready, items, False]
        self._reply(200, {"text": "Success", "code": 0, "ackId": ack_id})

    def _hec_ack(self, body):
        if self.headers.get("Authorization") != f"Splunk {TOKEN}":
            self._reply(403, {"text": "Invalid token", "code": 4})
            return
        channel = parse_qs(urlsplit(self.path).query).get("channel", [None])[0] or self.headers.get(
            "X-Splunk-Request-Channel"
        )
        answer = {}
        now = time.monotonic()
        for ack_id in json.loads(body).get("acks", []):
            with LOCK:
                entry = ACKS.get(channel, {}).get(ack_id)
                done = entry is not None and now >= entry[0]
                if done and not entry[2]:
                    entry[2] = True
                    self._append("hec.jsonl", entry[1])
            answer[str(ack_id)] = done
        self._reply(200, {"acks": answer})


def main():
    global STATE, SECRET, TOKEN, ACK_DELAY
    parser = argparse.ArgumentParser()
    parser.add_argument("--state", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--ack-delay", type=float, default=0.2)
    args = parser.parse_args()
    STATE, SECRET, TOKEN, ACK_DELAY = args.state, args.secret.encode(), args.token, args.ack_delay
    os.makedirs(STATE, exist_ok=True)
    ThreadingHTTPServer.allow_reuse_address = True
    ThreadingHTTPServer.daemon_threads = True
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    with open(os.path.join(STATE, "server.pid"), "w", encoding="utf-8") as fh:
        fh.write(str(os.getpid()))
    with open(os.path.join(STATE, "port.tmp"), "w", encoding="utf-8") as fh:
        fh.write(str(server.server_address[1]))
    os.replace(os.path.join(STATE, "port.tmp"), os.path.join(STATE, "port"))
    server.serve_forever()


STATE = SECRET = TOKEN = ACK_DELAY = None

if __name__ == "__main__":
    main()
