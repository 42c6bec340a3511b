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
