"""SaaS health: Statuspage v2 summaries and HTTP health checks, judged for a change window."""

import http.server
import json
import threading
from pathlib import Path

import pytest

from ansible_collections.changeward.hybrid.plugins.module_utils.timeparse import parse_instant
from ansible_collections.changeward.hybrid.plugins.plugin_utils.providers import fetch, saas

RECORDED = Path(__file__).resolve().parents[4] / "examples" / "lab" / "providers"
MAINT_START = parse_instant("2026-12-08T02:00:00Z")
HOUR = 3600.0


def summary(name):
    return json.loads((RECORDED / name).read_text())


def test_a_degraded_component_and_its_incident_are_findings():
    found = saas.judge_summary("payfast", summary("statuspage-degraded.json"), ["API"], (0, HOUR))
    assert [(f["kind"], f["what"]) for f in found] == [
        ("degraded", "component API is degraded performance"),
        ("degraded", "incident 'Elevated API latency' (minor, investigating)"),
    ]


def test_an_unused_component_does_not_count():
    assert saas.judge_summary("payfast", summary("statuspage-degraded.json"), ["Dashboard"], (0, HOUR)) == []


def test_a_scheduled_maintenance_counts_only_when_it_overlaps_the_window():
    doc = summary("statuspage-operational.json")
    assert saas.judge_summary("payfast", doc, ["API"], (MAINT_START - 2 * HOUR, MAINT_START)) == []
    (found,) = saas.judge_summary("payfast", doc, ["API"], (MAINT_START - HOUR, MAINT_START + 1))
    assert found["kind"] == "maintenance" and "Database upgrade" in found["what"]
    assert found["start"] == "2026-12-08T02:00:00Z"


def test_a_component_the_page_does_not_list_cannot_be_decided():
    with pytest.raises(saas.FeedError, match="lists no component 'Payouts'"):
        saas.judge_summary("payfast", summary("statuspage-operational.json"), ["Payouts"], (0, HOUR))


def test_dependencies_named_by_the_change_and_by_the_service():
    described = {"payfast": {"statuspage": "x", "services": ["billing"]}, "search": {"health": "y"}}
    assert saas.dependencies(["search"], "billing", described) == ["search", "payfast"]
    assert saas.dependencies([], "demo", described) == []
    # what the dependency map says the service consumes, where the policy describes it
    assert saas.dependencies([], "demo", described, consumed=["mailer", "payfast"]) == ["payfast"]
    with pytest.raises(saas.SaasInputError, match="'mailer' is not described"):
        saas.dependencies(["mailer"], "demo", described)


class Handler(http.server.BaseHTTPRequestHandler):
    routes: dict = {}
    seen: list = []

    def do_GET(self):
        Handler.seen.append((self.path, self.headers.get("Authorization")))
        status, headers, body = Handler.routes.get(self.path, (404, {}, b""))
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def servers():
    made = []
    for _unused in range(2):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        made.append(server)
    Handler.seen.clear()
    yield [f"http://127.0.0.1:{s.server_address[1]}" for s in made]
    for server in made:
        server.shutdown()


def test_check_reads_a_live_status_page_and_health_url(servers):
    one, _unused = servers
    Handler.routes = {
        "/api/v2/summary.json": (200, {}, (RECORDED / "statuspage-degraded.json").read_bytes()),
        "/healthz": (503, {}, b"down"),
    }
    entry = {"statuspage": f"{one}/api/v2/summary.json", "components": ["API"], "health": f"{one}/healthz"}
    result = saas.check("payfast", entry, (0, HOUR))
    assert result["cannot_decide"] is None
    kinds = [f["what"] for f in result["findings"]]
    assert kinds[0] == "component API is degraded performance"
    assert kinds[-1].endswith("answered HTTP 503, not 200")


def test_an_unreachable_status_page_cannot_be_decided(servers):
    one, _unused = servers
    Handler.routes = {}
    result = saas.check("payfast", {"statuspage": f"{one}/missing.json"}, (0, HOUR))
    assert "HTTP 404" in result["cannot_decide"]
    result = saas.check("payfast", {"statuspage": "http://127.0.0.1:9/summary.json"}, (0, HOUR), timeout=2)
    assert "unreachable" in result["cannot_decide"]


def test_a_token_is_never_sent_to_another_origin(servers):
    one, two = servers
    Handler.routes = {"/summary.json": (302, {"Location": f"{two}/summary.json"}, b"")}
    with pytest.raises(fetch.SourceUnreachable, match="another origin"):
        fetch.get_ok(f"{one}/summary.json", headers={"Authorization": "OAuth secret-token"})
    assert Handler.seen == [("/summary.json", "OAuth secret-token")]  # the second server was never asked
    # without credentials the redirect is followed
    Handler.routes["/summary.json"] = (302, {"Location": f"{two}/real.json"}, b"")
    Handler.routes["/real.json"] = (200, {}, b"{}")
    assert fetch.get_ok(f"{one}/summary.json") == b"{}"
