"""The lab's demo service: a small HTTP service whose behaviour is its release configuration.

GET /         JSON {host, version, status}; 200, or 500 with probability error_rate, or 503 while
              the `kill-switch` feature flag is on. Latency: latency_ms +/- latency_jitter_ms.
GET /healthz  200 when the config says healthy (and is valid), else 500.
GET /metrics  Prometheus text format (requests to / only, so probes and scrapes do not dilute it).

/etc/demo-service/config.json is re-read whenever it changes, so writing it switches the release
at once. A config that cannot be read or is invalid makes the service fail (500 on / and /healthz):
a broken release is a bad release. /etc/demo-service/flags.json is optional and uses the flagd flag
file format; only each flag's state and defaultVariant are evaluated (no targeting). An invalid
flags file is ignored in favour of the last good one, as flagd does, and reported by the
demo_flags_valid gauge. A built-in load generator sends ~5 requests/s to / so metrics always move.

Upstreams: /etc/demo-service/upstreams.json (optional, re-read when it changes), e.g.
{"upstreams": [{"url": "http://198.18.12.10:8080/healthz"}], "interval": 1}, makes the service call each
upstream once per interval over one kept-alive connection (so the host's connection table shows it) and
count the calls in demo_upstream_requests_total{upstream="<host:port>",code="..."} - a client metric as an
HTTP client library exports it. Without the file the service calls nothing.
"""

import json
import os
import random
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPConnection, HTTPException
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

CONFIG_PATH = os.environ.get("DEMO_CONFIG", "/etc/demo-service/config.json")
FLAGS_PATH = os.environ.get("DEMO_FLAGS", "/etc/demo-service/flags.json")
UPSTREAMS_PATH = os.environ.get("DEMO_UPSTREAMS", "/etc/demo-service/upstreams.json")
PORT = int(os.environ.get("DEMO_PORT", "8080"))
LOAD_RPS = float(os.environ.get("DEMO_LOAD_RPS", "5"))
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
HOST = socket.gethostname()


def _stamp(path):
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def validate_config(data):
    if not isinstance(data, dict):
        raise ValueError("config must be a JSON object")
    version = data.get("version")
    if not isinstance(version, str) or not version:
        raise ValueError("version must be a non-empty string")
    out = {"version": version}
    for key, default, lo, hi in (
        ("error_rate", 0.0, 0.0, 1.0),
        ("latency_ms", 20, 0, 60000),
        ("latency_jitter_ms", 5, 0, 60000),
    ):
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
            raise ValueError(f"{key} must be a number in [{lo}, {hi}]")
        out[key] = float(value)
    healthy = data.get("healthy", True)
    if not isinstance(healthy, bool):
        raise ValueError("healthy must be true or false")
    out["healthy"] = healthy
    return out


def evaluate_flags(data):
    """flagd file format -> {flag: value} for flags that are ENABLED."""
    flags = data.get("flags") if isinstance(data, dict) else None
    if not isinstance(flags, dict):
        raise ValueError("flags file needs a 'flags' object")
    values = {}
    for key, flag in flags.items():
        if not isinstance(flag, dict) or not isinstance(flag.get("variants"), dict):
            raise ValueError(f"flag {key} needs variants")
        if flag.get("state", "ENABLED") != "ENABLED":
            continue
        default = flag.get("defaultVariant")
        if default not in flag["variants"]:
            raise ValueError(f"flag {key}: defaultVariant {default!r} is not a variant")
        values[key] = flag["variants"][default]
    return values


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.config = None
        self.config_error = "not loaded yet"
        self.config_stamp = "unset"
        self.flags = {}
        self.flags_valid = True
        self.flags_stamp = "unset"
        self.requests = {"200": 0, "500": 0}
        self.buckets = [0] * len(BUCKETS)
        self.duration_sum = 0.0
        self.duration_count = 0
        self.upstream_calls = {}  # (host:port, code) -> count

    def refresh(self):
        stamp = _stamp(CONFIG_PATH)
        if stamp != self.config_stamp:
            try:
                with open(CONFIG_PATH) as fh:
                    config, error = validate_config(json.load(fh)), None
            except (OSError, ValueError) as exc:
                config, error = None, f"{CONFIG_PATH}: {exc}"
            with self.lock:
                self.config, self.config_error, self.config_stamp = config, error, stamp
        stamp = _stamp(FLAGS_PATH)
        if stamp != self.flags_stamp:
            if stamp is None:
                flags, valid = {}, True
            else:
                try:
                    with open(FLAGS_PATH) as fh:
                        flags, valid = evaluate_flags(json.load(fh)), True
                except (OSError, ValueError):
                    flags, valid = self.flags, False
            with self.lock:
                self.flags, self.flags_valid, self.flags_stamp = flags, valid, stamp

    def observe(self, code, seconds):
        with self.lock:
            key = str(code)
            self.requests[key] = self.requests.get(key, 0) + 1
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    self.buckets[i] += 1
            self.duration_sum += seconds
            self.duration_count += 1

    def metrics(self):
        with self.lock:
            version = self.config["version"] if self.config else "invalid"
            lines = [
                "# HELP demo_http_requests_total Requests to / by status code.",
                "# TYPE demo_http_requests_total counter",
            ]
            lines += [f'demo_http_requests_total{{code="{c}"}} {n}' for c, n in sorted(self.requests.items())]
            lines += [
                "# HELP demo_http_request_duration_seconds Time to serve a request to /.",
                "# TYPE demo_http_request_duration_seconds histogram",
            ]
            lines += [
                f'demo_http_request_duration_seconds_bucket{{le="{b}"}} {n}'
                for b, n in zip(BUCKETS, self.buckets, strict=True)
            ]
            lines += [
                f'demo_http_request_duration_seconds_bucket{{le="+Inf"}} {self.duration_count}',
                f"demo_http_request_duration_seconds_sum {self.duration_sum:.6f}",
                f"demo_http_request_duration_seconds_count {self.duration_count}",
                "# HELP demo_build_info The release the service runs.",
                "# TYPE demo_build_info gauge",
                'demo_build_info{{version="{}"}} 1'.format(version.replace("\\", "\\\\").replace('"', '\\"')),
                "# HELP demo_config_valid 1 when config.json is valid.",
                "# TYPE demo_config_valid gauge",
                f"demo_config_valid {1 if self.config else 0}",
                "# HELP demo_flags_valid 0 when flags.json is present but invalid (last good flags kept).",
                "# TYPE demo_flags_valid gauge",
                f"demo_flags_valid {1 if self.flags_valid else 0}",
                "# HELP demo_kill_switch 1 while the kill-switch flag is on.",
                "# TYPE demo_kill_switch gauge",
                "demo_kill_switch {}".format(1 if self.flags.get("kill-switch") is True else 0),
                "# HELP demo_upstream_requests_total Calls to upstream services by upstream and status code.",
                "# TYPE demo_upstream_requests_total counter",
            ]
            lines += [
                f'demo_upstream_requests_total{{upstream="{u}",code="{c}"}} {n}'
                for (u, c), n in sorted(self.upstream_calls.items())
            ]
        return "\n".join(lines) + "\n"


STATE = State()


class Handler(BaseHTTPRequestHandler):
    server_version = "demo-service"
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass

    def _send(self, code, body, ctype="application/json"):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        STATE.refresh()
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._send(200, STATE.metrics(), "text/plain; version=0.0.4")
        elif path == "/healthz":
            with STATE.lock:
                config, error = STATE.config, STATE.config_error
            ok = bool(config and config["healthy"])
            body = {"status": "ok" if ok else "unhealthy"}
            if error:
                body["error"] = error
            self._send(200 if ok else 500, json.dumps(body))
        elif path == "/":
            self._serve_root()
        else:
            self._send(404, json.dumps({"error": "not found"}))

    def _serve_root(self):
        t0 = time.monotonic()
        with STATE.lock:
            config, error, kill = STATE.config, STATE.config_error, STATE.flags.get("kill-switch") is True
        if config is None:
            code, body = 500, {"host": HOST, "version": "invalid", "status": "config-error", "error": error}
        else:
            delay = config["latency_ms"] + random.uniform(-1, 1) * config["latency_jitter_ms"]
            time.sleep(max(delay, 0) / 1000.0)
            if kill:
                code, status = 503, "disabled"
            elif random.random() < config["error_rate"]:
                code, status = 500, "error"
            else:
                code, status = 200, "ok"
            body = {"host": HOST, "version": config["version"], "status": status}
        self._send(code, json.dumps(body))
        STATE.observe(code, time.monotonic() - t0)


def load_generator():
    interval = 1.0 / LOAD_RPS
    in_flight = threading.BoundedSemaphore(8)

    def one():
        try:
            conn = HTTPConnection("127.0.0.1", PORT, timeout=10)
            conn.request("GET", "/")
            conn.getresponse().read()
            conn.close()
        except OSError:
            pass
        finally:
            in_flight.release()

    with ThreadPoolExecutor(max_workers=8) as pool:
        nxt = time.monotonic()
        while True:
            # With a very slow release, skip ticks rather than queue requests without bound.
            if in_flight.acquire(blocking=False):
                pool.submit(one)
            nxt += interval
            time.sleep(max(0.0, nxt - time.monotonic()))


def read_upstreams():
    """[(host, port, path)] and the interval from upstreams.json; none when absent or invalid."""
    try:
        with open(UPSTREAMS_PATH) as fh:
            data = json.load(fh)
        out = []
        for item in data.get("upstreams") or []:
            parsed = urlsplit(item["url"])
            if parsed.scheme != "http" or not parsed.hostname:
                continue
            out.append((parsed.hostname, parsed.port or 80, parsed.path or "/"))
        return out, max(0.1, float(data.get("interval", 1)))
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return [], 1.0


def upstream_caller():
    conns = {}
    stamp, upstreams, interval = "unset", [], 1.0
    while True:
        if _stamp(UPSTREAMS_PATH) != stamp:
            stamp = _stamp(UPSTREAMS_PATH)
            upstreams, interval = read_upstreams()
            for conn in conns.values():
                conn.close()
            conns = {}
        for host, port, path in upstreams:
            key = f"{host}:{port}"
            code = "error"
            try:
                conn = conns.get(key) or conns.setdefault(key, HTTPConnection(host, port, timeout=5))
                conn.request("GET", path)
                response = conn.getresponse()
                response.read()
                code = str(response.status)
            except (OSError, HTTPException):
                broken = conns.pop(key, None)
                if broken is not None:
                    broken.close()
            with STATE.lock:
                STATE.upstream_calls[(key, code)] = STATE.upstream_calls.get((key, code), 0) + 1
        time.sleep(interval)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    # A listen backlog like a real service's: the default of 5 drops SYNs under a burst of connects.
    request_queue_size = 128


def main():
    STATE.refresh()
    server = Server(("0.0.0.0", PORT), Handler)  # noqa: S104 - the service's whole point
    if LOAD_RPS > 0:
        threading.Thread(target=load_generator, daemon=True).start()
    threading.Thread(target=upstream_caller, daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
