"""Reading calendars fails closed: broken, unreachable or empty sources block and are named."""

import http.server
import socket
import threading
from pathlib import Path

import pytest
from calendar_testlib import fixture_path

from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar import gate
from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar.override import CheckedOverride
from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar.sources import display_name

GOOD = Path(fixture_path("edges.ics")).read_bytes()
AT_BLOCKED = "2025-01-13T22:00:00Z"  # inside the nightly window of edges.ics
AT_FREE = "2025-01-13T12:00:00Z"


class _Handler(http.server.BaseHTTPRequestHandler):
    routes = {}

    def do_GET(self):
        status, body = self.routes.get(self.path.split("?")[0], (404, b"not found"))
        self.send_response(status)
        self.send_header("Content-Type", "text/calendar")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    _Handler.routes = {
        "/good.ics": (200, GOOD),
        "/broken.ics": (500, b"boom"),
        "/empty.ics": (200, b""),
        "/moved.ics": (204, b""),
    }
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _unused_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def check(calendars, at=AT_FREE, **kw):
    return gate.check(calendars=calendars, at=at, **kw)


def assert_blocked_by_error(result, *fragments):
    assert result["blocked"] is True
    assert result["failed"] is True
    assert result["next_allowed_at"] is None
    assert len(result["errors"]) == 1
    for fragment in fragments:
        assert fragment in result["errors"][0]
        assert fragment in result["msg"]


def test_url_calendar_is_fetched_and_evaluated(server):
    assert check([f"{server}/good.ics"])["blocked"] is False
    result = check([f"{server}/good.ics"], at=AT_BLOCKED)
    assert result["blocked"] is True
    assert result["active_windows"][0]["calendar"] == f"{server}/good.ics"


def test_unreachable_url_blocks():
    url = f"http://127.0.0.1:{_unused_port()}/calendar.ics"
    assert_blocked_by_error(check([url], timeout=2), url, "unreachable")


def test_http_404_and_500_block(server):
    assert_blocked_by_error(check([f"{server}/missing.ics"]), "HTTP 404")
    assert_blocked_by_error(check([f"{server}/broken.ics"]), "HTTP 500")


def test_http_other_than_200_blocks(server):
    assert_blocked_by_error(check([f"{server}/moved.ics"]), "HTTP 204")


def test_empty_answer_blocks(server):
    assert_blocked_by_error(check([f"{server}/empty.ics"]), "empty file")


def test_silent_server_times_out_and_blocks():
    with socket.socket() as sock:  # accepts connections, never answers
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/slow.ics"
        result = check([url], timeout=1)
    assert_blocked_by_error(result, "unreachable", "timeout 1s")


def test_one_broken_calendar_blocks_even_when_others_allow(server):
    result = check([fixture_path("month_end.ics"), f"{server}/broken.ics"], scope={"service": "search"})
    assert result["blocked"] is True
    assert result["calendars"] == [{"name": fixture_path("month_end.ics"), "events": 3}]


def test_override_covers_a_broken_calendar_in_an_emergency(server):
    result = check(
        [f"{server}/broken.ics"],
        change_type="emergency",
        # as check_override passes a verified one on (verification: test_override.py)
        override=CheckedOverride({"reference": "INC-1", "approver": "alice", "role": "incident-commander"}),
        policy={"blackout": {"override_roles": ["incident-commander"]}},
    )
    assert result["overridden"] is True
    assert result["ledger_event"]["data"]["errors"] == result["errors"]


def test_missing_file_blocks(tmp_path):
    missing = str(tmp_path / "nope.ics")
    assert_blocked_by_error(check([missing]), missing, "unreadable")


def test_credentials_and_query_never_appear(server):
    url = f"http://user:s3cret@127.0.0.1:{_unused_port()}/cal.ics?token=s3cret"
    result = check([{"src": url, "headers": {"Authorization": "Bearer s3cret"}}], timeout=2)
    assert result["blocked"] is True
    assert "s3cret" not in repr(result)
    assert display_name(url).endswith("/cal.ics")


def test_no_calendars_at_all_is_refused():
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar.errors import GateInputError

    with pytest.raises(GateInputError, match="no calendars"):
        check([])


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("malformed_truncated.ics", "missing END:VEVENT"),
        ("malformed_dtstart.ics", "DTSTART"),
        ("malformed_rrule.ics", "RRULE"),
        ("malformed_garbage.ics", "no BEGIN:VCALENDAR"),
    ],
)
def test_malformed_ics_blocks(name, fragment):
    assert_blocked_by_error(check([fixture_path(name)]), fixture_path(name), fragment)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("BEGIN:VCALENDAR\nVERSION:2.0\nEND:VCALENDAR\n", "holds no event"),
        (
            "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:x\nDTSTART:20250101T000000Z\nEND:VEVENT\nEND:VCALENDAR\n",
            "neither DTEND nor DURATION",
        ),
        (
            "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:x\nDTSTART:20250101T000000Z\nDTEND:20250101T010000Z\n"
            "DURATION:PT1H\nEND:VEVENT\nEND:VCALENDAR\n",
            "both DTEND and DURATION",
        ),
        (
            "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:x\nDTSTART;TZID=Mars/Olympus:20250101T000000\nDURATION:PT1H\n"
            "END:VEVENT\nEND:VCALENDAR\n",
            "Mars/Olympus",
        ),
        (
            "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:x\nDTSTART:20250101T000000Z\nDURATION:PT1H\n"
            "X-CHANGEWARD-KIND:sometimes\nEND:VEVENT\nEND:VCALENDAR\n",
            "X-CHANGEWARD-KIND",
        ),
        (
            "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:x\nDTSTART:20250101T000000Z\nDTEND:20241231T000000Z\n"
            "END:VEVENT\nEND:VCALENDAR\n",
            "not after DTSTART",
        ),
        (
            "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:x\nDTSTART:20250101T000000Z\nEND:VTODO\nEND:VCALENDAR\n",
            "END:VTODO but VEVENT is open",
        ),
        (
            "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:x\nDTSTART:20250101T000000Z\nDURATION:soon\nEND:VEVENT\n"
            "END:VCALENDAR\n",
            "DURATION",
        ),
    ],
    ids=[
        "no-events",
        "zero-length",
        "dtend-and-duration",
        "unknown-tzid",
        "bad-kind",
        "end-before-start",
        "mismatched-end",
        "bad-duration",
    ],
)
def test_more_malformed_ics_blocks(tmp_path, body, fragment):
    path = tmp_path / "cal.ics"
    path.write_text(body)
    assert_blocked_by_error(check([str(path)]), fragment)


def test_empty_calendar_allowed_when_declared(tmp_path):
    path = tmp_path / "cal.ics"
    path.write_text("BEGIN:VCALENDAR\nVERSION:2.0\nEND:VCALENDAR\n")
    result = check([{"src": str(path), "allow_empty": True}])
    assert result["blocked"] is False
