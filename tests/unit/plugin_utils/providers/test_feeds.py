"""Provider maintenance feeds: the recorded documents of each provider, normalised into windows on hosts."""

import json
from pathlib import Path

import pytest

from ansible_collections.changeward.hybrid.plugins.module_utils.timeparse import parse_instant
from ansible_collections.changeward.hybrid.plugins.plugin_utils.providers import feeds

RECORDED = Path(__file__).resolve().parents[4] / "examples" / "lab" / "providers"
START = parse_instant("2026-12-08T02:00:00Z")
END = parse_instant("2026-12-08T04:00:00Z")
NOW = parse_instant("2026-12-07T21:00:00Z")
ARN = (
    "arn:aws:health:eu-west-1::event/EC2/AWS_EC2_INSTANCE_REBOOT_MAINTENANCE_SCHEDULED/"
    "AWS_EC2_INSTANCE_REBOOT_MAINTENANCE_SCHEDULED_7c1d0f5e-2b1e-4a8e-9f55-3d6a2c0e9b41"
)
HOSTS = {
    "web-1": {"provider": "aws", "region": "eu-west-1", "az": "eu-west-1a", "instance_id": "i-0a1b2c3d4e5f60718"},
    "web-2": {"provider": "aws", "region": "eu-west-1", "az": "eu-west-1a", "instance_id": "i-0fffffffffffffff0"},
    "web-3": {"provider": "aws", "region": "us-east-1", "az": "us-east-1a", "instance_id": "i-0a1b2c3d4e5f60718"},
    "vm-1": {"provider": "azure", "region": "westeurope", "instance_id": "cw-az-vm-01"},
    "dc-1": {"provider": "vmware", "region": "onprem-eu", "site": "dc1"},
}


def parse(name, fmt, **kwargs):
    return feeds.parse(fmt, (RECORDED / name).read_bytes(), name, NOW, **kwargs)


def test_aws_describe_events_keeps_scheduled_changes_with_their_instances():
    found, ignored = parse("aws-health-describe-events.json", "aws_health")
    assert ignored == 2  # the issue and the closed retirement
    (m,) = found
    assert (m.provider, m.event_id, m.kind) == ("aws", ARN, "AWS_EC2_INSTANCE_REBOOT_MAINTENANCE_SCHEDULED")
    assert (m.start, m.end, m.region, m.az) == (START, END, "eu-west-1", "eu-west-1a")
    assert m.resources == ("i-0a1b2c3d4e5f60718",)
    assert feeds.affected_hosts(m, HOSTS) == (["web-1"], [])


def test_aws_eventbridge_event_reads_rfc1123_times_and_affected_entities():
    (m,), ignored = parse("aws-health-eventbridge.json", "aws_health")
    assert ignored == 0
    assert (m.event_id, m.start, m.end, m.region) == (ARN, START, END, "eu-west-1")
    assert m.resources == ("i-0a1b2c3d4e5f60718",)
    assert "scheduled for a reboot" in m.description


def test_aws_event_without_entities_affects_the_whole_az():
    doc = json.loads((RECORDED / "aws-health-describe-events.json").read_text())
    doc.pop("entities")
    (m,), _unused = feeds.parse_aws(doc, "f")
    assert feeds.affected_hosts(m, HOSTS) == (["web-1", "web-2"], [])


def test_a_host_without_instance_id_in_the_events_zone_is_unmapped_not_clear():
    (m,), _unused = parse("aws-health-describe-events.json", "aws_health")
    hosts = {"web-9": {"provider": "aws", "region": "eu-west-1", "az": "eu-west-1a"}}
    assert feeds.affected_hosts(m, hosts) == ([], ["web-9"])


def test_azure_freeze_and_reboot_of_unknown_length():
    found, _unused = parse("azure-scheduled-events.json", "azure_scheduled_events", unknown_duration=1800)
    freeze, reboot = found
    assert (freeze.kind, freeze.start, freeze.end) == ("Freeze", START, START + 9)
    assert freeze.resources == ("cw-az-vm-01",)
    assert feeds.affected_hosts(freeze, HOSTS) == (["vm-1"], [])
    assert reboot.kind == "Reboot" and reboot.end - reboot.start == 1800  # DurationInSeconds -1: policy's length


def test_azure_started_event_without_not_before_starts_now_and_terminate_is_open_ended():
    doc = {
        "DocumentIncarnation": 1,
        "Events": [
            {
                "EventId": "x",
                "EventStatus": "Started",
                "EventType": "Terminate",
                "Resources": ["cw-az-vm-01"],
                "NotBefore": "",
            }
        ],
    }
    (m,), _unused = feeds.parse_azure(doc, "f", NOW, 3600)
    assert (m.start, m.end) == (NOW, None)
    assert m.overlap(NOW + 10, NOW + 20) == (NOW + 10, NOW + 20)


def test_gcp_instance_upcoming_maintenance_and_metadata_value():
    (m,), _unused = parse("gcp-instance.json", "gcp_maintenance")
    assert (m.start, m.end, m.az, m.region) == (START, END, "europe-west1-b", "europe-west1")
    assert m.resources == ("4567890123456789012", "cw-gce-01")
    (live,), _unused = parse(
        "gcp-maintenance-event.txt", "gcp_maintenance", unknown_duration=600, instance_id="cw-gce-01"
    )
    assert (live.kind, live.start, live.end) == ("MIGRATE_ON_HOST_MAINTENANCE", NOW, NOW + 600)
    assert feeds.parse("gcp_maintenance", b"NONE", "f", NOW) == ([], 0)
    with pytest.raises(feeds.FeedError, match="must name instance_id"):
        parse("gcp-maintenance-event.txt", "gcp_maintenance")


@pytest.mark.parametrize(
    ("fmt", "body", "message"),
    [
        ("aws_health", b"<html>", "not JSON"),
        ("aws_health", b'{"foo": 1}', "not an AWS Health document"),
        ("aws_health", b'{"events": [{"arn": "a", "eventTypeCategory": "scheduledChange"}]}', "no time"),
        ("azure_scheduled_events", b'{"Events": {}}', "no Events list"),
        ("azure_scheduled_events", b'{"Events": [{"EventId": "a", "NotBefore": "soon"}]}', "not a time"),
        ("gcp_maintenance", b"REBOOTING", "is not NONE"),
    ],
)
def test_documents_that_are_not_what_their_format_says_are_errors(fmt, body, message):
    with pytest.raises(feeds.FeedError, match=message):
        feeds.parse(fmt, body, "f", NOW)


def test_read_feeds_reports_an_unreadable_feed_as_an_error_and_reads_the_others(tmp_path):
    entries = [
        {"name": "aws", "format": "aws_health", "src": str(RECORDED / "aws-health-eventbridge.json")},
        {"name": "azure", "format": "azure_scheduled_events", "src": str(tmp_path / "missing.json")},
        {"format": "nope", "src": "x"},
    ]
    found, read, errors = feeds.read_feeds(entries, NOW)
    assert [m.event_id for m in found] == [ARN]
    assert [r["name"] for r in read] == ["aws"]
    assert len(errors) == 2
    assert "azure" in errors[0] and "unreadable" in errors[0]
    assert "format must be one of" in errors[1]


def test_metadata_servers_get_the_header_they_require(tmp_path):
    """GCP's metadata server refuses a request without Metadata-Flavor: Google, Azure's IMDS one without
    Metadata: true: each feed URL of those formats sends its header (the entry's own headers too)."""
    import http.server
    import threading

    seen = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen[self.path] = dict(self.headers.items())
            body = (
                b"MIGRATE_ON_HOST_MAINTENANCE"
                if self.path.startswith("/computeMetadata")
                else (RECORDED / "azure-scheduled-events.json").read_bytes()
            )
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    gcp = "/computeMetadata/v1/instance/maintenance-event"
    entries = [
        {"name": "gce", "format": "gcp_maintenance", "src": base + gcp, "instance_id": "cw-gce-01"},
        {
            "name": "az",
            "format": "azure_scheduled_events",
            "src": base + "/metadata/scheduledevents",
            "headers": {"X-T": "1"},
        },
    ]
    try:
        found, _read, errors = feeds.read_feeds(entries, NOW)
    finally:
        server.shutdown()
        server.server_close()
    assert errors == []
    assert seen[gcp]["Metadata-Flavor"] == "Google" and "Metadata" not in seen[gcp]
    azure = seen["/metadata/scheduledevents"]
    assert azure["Metadata"] == "true" and azure["X-T"] == "1" and "Metadata-Flavor" not in azure
    assert {m.provider for m in found} == {"gcp", "azure"}
