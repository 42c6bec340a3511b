"""Shadow comparison (Diffy's three instances): a release that changes one response field is caught, while
timestamps and request ids - which differ between two copies of the old release too - are not reported."""

import itertools
import json

import pytest

from ansible_collections.changeward.hybrid.plugins.plugin_utils.shadow import ShadowError, compare, verdict

CLOCK = itertools.count(1_700_000_000)
IDS = itertools.count(1000)


def answer(order, currency="EUR", status=200):
    body = {
        "order": order,
        "total": {"amount": 42.5, "currency": currency},
        "items": [{"sku": "A1", "line_id": next(IDS)}, {"sku": "B2", "line_id": next(IDS)}],
        "served_at": next(CLOCK),
        "request_id": f"req-{next(IDS)}",
    }
    return {
        "status": status,
        "headers": {"X-Request-Id": f"r{next(IDS)}", "Content-Type": "application/json"},
        "body": json.dumps(body),
    }


def sample(n, candidate_currency="EUR", changed_every=1):
    return [
        {
            "request": f"GET /orders/{i}",
            "primary": answer(i),
            "secondary": answer(i),
            "candidate": answer(i, candidate_currency if i % changed_every == 0 else "EUR"),
        }
        for i in range(n)
    ]


def test_a_changed_field_is_caught_and_timestamps_and_request_ids_are_noise():
    result = compare(sample(20, candidate_currency="USD"), headers=["X-Request-Id", "Content-Type"])
    assert result["differing"] == 20 and result["difference_rate"] == 1.0
    assert result["fields"] == {"total.currency": 20}
    assert {"served_at", "request_id", "header.x-request-id", "items[].line_id"} <= set(result["noise"])
    example = result["examples"][0]
    assert example["fields"] == {"total.currency": {"primary": "EUR", "candidate": "USD"}}
    passed, msg = verdict(result, max_rate=0.01)
    assert not passed and "differing fields: total.currency (20)" in msg


def test_the_same_release_shows_no_difference():
    result = compare(sample(20), headers=["X-Request-Id"])
    assert result["differing"] == 0
    assert verdict(result, max_rate=0.0)[0]


def test_the_rate_is_the_share_of_requests_that_differ():
    result = compare(sample(20, candidate_currency="USD", changed_every=4), max_examples=2)
    assert result["differing"] == 5 and result["difference_rate"] == 0.25
    assert len(result["examples"]) == 2
    assert verdict(result, max_rate=0.3)[0] and not verdict(result, max_rate=0.2)[0]


def test_a_status_change_is_a_difference():
    rows = sample(3)
    rows[1]["candidate"] = answer(1, status=500)
    result = compare(rows)
    assert result["fields"] == {"status": 1}


def test_no_traffic_or_a_silent_instance_is_an_error():
    with pytest.raises(ShadowError, match="without traffic proves nothing"):
        compare([])
    rows = sample(2)
    rows[0]["candidate"] = None
    with pytest.raises(ShadowError, match="no answer from the candidate"):
        compare(rows)


def test_the_action_replays_only_safe_requests_from_the_log_against_three_live_servers(tmp_path):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from action_runner import run_action

    from ansible_collections.changeward.hybrid.plugins.action.shadow_diff import ActionModule

    def server(currency):
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                data = json.dumps({"path": self.path, "currency": currency, "at": next(CLOCK)}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        return srv, f"http://127.0.0.1:{srv.server_address[1]}"

    servers = [server("EUR"), server("EUR"), server("USD")]
    log = tmp_path / "mirror.log"
    log.write_text(
        '1.2.3.4 - - [07/Dec/2026:21:00:00 +0000] "GET /orders/1 HTTP/1.1" 200 12 "-" "curl"\n'
        '1.2.3.4 - - [07/Dec/2026:21:00:01 +0000] "POST /orders HTTP/1.1" 201 12 "-" "curl"\n'
        '1.2.3.4 - - [07/Dec/2026:21:00:02 +0000] "GET /orders/2 HTTP/1.1" 200 12 "-" "curl"\n'
    )
    try:
        args = {
            "primary": servers[0][1],
            "secondary": servers[1][1],
            "candidate": servers[2][1],
            "access_log": str(log),
        }
        result = run_action(ActionModule, "shadow_diff", args)
        assert result["failed"] and result["requests"] == 2  # the POST was not replayed
        assert result["fields"] == {"currency": 2} and "at" in result["noise"]
        args["candidate"] = servers[1][1]
        assert run_action(ActionModule, "shadow_diff", args)["passed"]
    finally:
        for srv, _url in servers:
            srv.shutdown()


def test_a_change_spec_names_its_shadow_instances_and_requests():
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.change_spec import ChangeSpecError, validate

    spec = {
        "summary": "s",
        "service": "demo",
        "targets": {"pattern": "all"},
        "apply": {"role": "demo_release"},
        "shadow": {
            "primary": "http://a:8080",
            "secondary": "http://b:8080",
            "candidate": "http://c:8080",
            "requests": ["/"],
            "max_rate": 0.01,
        },
    }
    validate(spec)
    del spec["shadow"]["requests"]
    with pytest.raises(ChangeSpecError, match="shadow"):
        validate(spec)  # neither requests nor an access log: nothing to shadow
    spec["shadow"]["listen"] = "198.18.0.1:8099"
    with pytest.raises(ChangeSpecError, match="mirror_from"):
        validate(spec)  # a listening gate takes mirrored requests only from the mirroring proxies
    spec["shadow"]["mirror_from"] = ["198.18.11.11"]
    validate(spec)


def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _mirror(port, requests, delay=0.2):
    """Send requests as nginx's mirror does (to the listening gate), once it is up; the answers it got."""
    import http.client
    import time

    answers = []
    deadline = time.monotonic() + 10
    for method, path in requests:
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request(method, path, headers={"X-Tenant": "t1"})
                answers.append(conn.getresponse().status)
                conn.close()
                break
            except ConnectionRefusedError:
                assert time.monotonic() < deadline, "the gate never listened"
                time.sleep(delay)
    return answers


def test_the_listening_gate_compares_mirrored_live_requests_with_their_headers():
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from action_runner import run_action

    from ansible_collections.changeward.hybrid.plugins.action.shadow_diff import ActionModule

    tenants = []

    def server(rounding):
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                tenants.append(self.headers.get("X-Tenant"))
                body = {
                    "path": self.path,
                    "total": f"{12.5:.{rounding}f}",
                    "served_at": next(CLOCK),
                    "request_id": f"req-{next(IDS)}",
                }
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("X-Request-Id", f"r{next(IDS)}")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        return srv, f"http://127.0.0.1:{srv.server_address[1]}"

    servers = [server(2), server(2), server(1)]
    port = _free_port()
    sent = [("GET", "/orders/1"), ("POST", "/orders"), ("GET", "/orders/2"), ("GET", "/orders/3"), ("GET", "/x")]
    answers = []
    sender = threading.Thread(target=lambda: answers.extend(_mirror(port, sent)))
    sender.start()
    try:
        args = {
            "primary": servers[0][1],
            "secondary": servers[1][1],
            "candidate": servers[2][1],
            "listen": f"127.0.0.1:{port}",
            "mirror_from": ["127.0.0.1"],
            "sample": 3,
            "duration": 20,
            "headers": ["X-Request-Id"],
        }
        result = run_action(ActionModule, "shadow_diff", args)
        sender.join(10)
    finally:
        for srv, _url in servers:
            srv.shutdown()
    assert answers == [204] * 5  # the mirror is answered at once, whatever happens to the copy
    assert result["failed"] and result["requests"] == 3
    assert result["fields"] == {"total": 3}  # one changed field
    assert tenants == ["t1"] * 9  # the mirrored request's headers reach the three instances
    assert {"served_at", "request_id", "header.x-request-id"} <= set(result["noise"])
    assert result["mirrored"] == {"refused": 0, "skipped_methods": 1, "beyond_sample": 1}
    assert result["examples"][0]["fields"] == {"total": {"primary": "12.50", "candidate": "12.5"}}


def test_the_listening_gate_refuses_senders_it_does_not_know_and_fails_closed_without_traffic():
    import threading

    from action_runner import run_action

    from ansible_collections.changeward.hybrid.plugins.action.shadow_diff import ActionModule

    port = _free_port()
    answers = []
    sender = threading.Thread(target=lambda: answers.extend(_mirror(port, [("GET", "/orders/1")], delay=0.05)))
    sender.start()
    args = {
        "primary": "http://127.0.0.1:9",
        "secondary": "http://127.0.0.1:9",
        "candidate": "http://127.0.0.1:9",
        "listen": f"127.0.0.1:{port}",
        "mirror_from": ["198.18.31.10"],
        "duration": 2,
    }
    result = run_action(ActionModule, "shadow_diff", args)
    sender.join(10)
    assert answers == [403]
    assert result["failed"] and "none mirrored in 2 s" in result["msg"] and "'refused': 1" in result["msg"]
