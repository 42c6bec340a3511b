"""The AWS Health API read with boto3 against a local endpoint answering the AWS JSON 1.1 protocol with the recorded
DescribeEvents / DescribeAffectedEntities answers: every request is SigV4-signed with the credentials of the
environment (the signature recomputed here with the secret), pages are followed, and the events become
maintenances on hosts exactly as the recorded document does. Failures are "cannot decide", never "no event"."""

from __future__ import annotations

import http.server
import json
import threading
from pathlib import Path

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from ansible_collections.changeward.hybrid.plugins.module_utils.timeparse import parse_instant
from ansible_collections.changeward.hybrid.plugins.plugin_utils.providers import aws_health_api, feeds

RECORDED = Path(__file__).resolve().parents[4] / "examples" / "lab" / "providers"
KEY_ID, SECRET = "AKIDCHANGEWARDTEST01", "unit-test-secret-key-not-a-real-one/0123456"
NOW = parse_instant("2026-12-07T21:00:00Z")
HOSTS = {
    "web-1": {"provider": "aws", "region": "eu-west-1", "az": "eu-west-1a", "instance_id": "i-0a1b2c3d4e5f60718"},
    "web-2": {"provider": "aws", "region": "eu-west-1", "az": "eu-west-1a", "instance_id": "i-0fffffffffffffff0"},
}


def recorded():
    doc = json.loads((RECORDED / "aws-health-describe-events.json").read_text())
    return doc["events"], doc.get("entities") or []


class Health(http.server.BaseHTTPRequestHandler):
    """AWSHealth_20160804 over JSON 1.1: POST /, the operation in X-Amz-Target."""

    requests: list = []
    answers: dict = {}

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        Health.requests.append({"headers": dict(self.headers.items()), "body": body, "path": self.path})
        operation = (self.headers.get("X-Amz-Target") or "").split(".")[-1]
        status, answer = Health.answers[operation](json.loads(body or b"{}"))
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def endpoint(monkeypatch, tmp_path):
    # the environment's credentials, nothing from this machine's AWS files
    for name in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_CA_BUNDLE",
        "AWS_ENDPOINT_URL",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Health.requests = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def paged(events, entities):
    """DescribeEvents in pages of one (nextToken), DescribeAffectedEntities for the ARNs asked."""

    def describe_events(body):
        index = int((body.get("nextToken") or "page0").removeprefix("page"))
        page = {"events": events[index : index + 1]}
        if index + 1 < len(events):
            page["nextToken"] = f"page{index + 1}"
        return 200, page

    def describe_entities(body):
        arns = set(body["filter"]["eventArns"])
        return 200, {"entities": [e for e in entities if e["eventArn"] in arns]}

    return {"DescribeEvents": describe_events, "DescribeAffectedEntities": describe_entities}


def check_signed(request, url):
    """The request carries a SigV4 signature of the health service in us-east-1 by KEY_ID that SECRET reproduces."""
    headers = request["headers"]
    auth = headers["Authorization"]
    assert auth.startswith(f"AWS4-HMAC-SHA256 Credential={KEY_ID}/")
    scope = auth.split("Credential=", 1)[1].split(",", 1)[0]
    assert scope.endswith("/us-east-1/health/aws4_request")
    signed = auth.split("SignedHeaders=", 1)[1].split(",", 1)[0].split(";")
    assert {"host", "x-amz-date", "x-amz-target"} <= set(signed)
    stamp = headers["X-Amz-Date"]
    again = AWSRequest(
        method="POST",
        url=url + request["path"],
        data=request["body"],
        headers={name: value for name, value in headers.items() if name.lower() in signed},
    )
    again.context["timestamp"] = stamp
    signer = SigV4Auth(Credentials(KEY_ID, SECRET), "health", "us-east-1")
    canonical = signer.canonical_request(again)
    expected = signer.signature(signer.string_to_sign(again, canonical), again)
    assert auth.endswith(f"Signature={expected}")
    assert SECRET not in json.dumps(headers)


def test_describe_reads_signed_pages_and_entities_like_the_recorded_document(endpoint):
    events, entities = recorded()
    Health.answers = paged(events * 2 if len(events) == 1 else events, entities)
    doc = aws_health_api.describe({"endpoint_url": endpoint}, timeout=5)
    targets = [r["headers"]["X-Amz-Target"] for r in Health.requests]
    assert targets[0] == "AWSHealth_20160804.DescribeEvents"
    assert targets.count("AWSHealth_20160804.DescribeEvents") >= 2  # the nextToken page was asked for
    assert targets[-1] == "AWSHealth_20160804.DescribeAffectedEntities"
    first = json.loads(Health.requests[0]["body"])
    assert first["filter"] == {"eventTypeCategories": ["scheduledChange"], "eventStatusCodes": ["open", "upcoming"]}
    assert Health.requests[0]["headers"]["Content-Type"] == "application/x-amz-json-1.1"
    for request in Health.requests:
        check_signed(request, endpoint)
    assert doc["entities"] == entities
    found, _ignored = feeds.parse_aws(doc, "aws-api")
    from_file, _unused = feeds.parse(
        "aws_health", (RECORDED / "aws-health-describe-events.json").read_bytes(), "f", NOW
    )
    assert {(m.event_id, m.start, m.end, m.resources) for m in found} == {
        (m.event_id, m.start, m.end, m.resources) for m in from_file
    }
    assert feeds.affected_hosts(found[0], HOSTS) == (["web-1"], [])


def test_read_feeds_takes_src_aws_health_and_maps_the_event_to_its_instance(endpoint):
    events, entities = recorded()
    Health.answers = paged(events, entities)
    entries = [{"name": "aws-api", "format": "aws_health", "src": "aws:health", "endpoint_url": endpoint}]
    found, read, errors = feeds.read_feeds(entries, NOW, timeout=5)
    assert errors == []
    # this server ignores the filter: the reader still keeps only open/upcoming scheduled changes
    assert read == [{"name": "aws-api", "format": "aws_health", "provider": "aws", "events": 1, "ignored": 2}]
    assert any(feeds.affected_hosts(m, HOSTS)[0] == ["web-1"] for m in found)


def test_no_support_subscription_cannot_be_decided_and_says_why(endpoint):
    Health.answers = {
        "DescribeEvents": lambda body: (
            400,
            {"__type": "SubscriptionRequiredException", "message": "This account is not subscribed"},
        )
    }
    entries = [{"name": "aws-api", "format": "aws_health", "src": "aws:health", "endpoint_url": endpoint}]
    found, read, errors = feeds.read_feeds(entries, NOW, timeout=5)
    assert (found, read) == ([], [])
    assert "feed aws-api: AWS Health API" in errors[0] and "SubscriptionRequiredException" in errors[0]
    assert "support plan" in errors[0]


def test_without_credentials_nothing_is_sent_and_the_feed_cannot_be_decided(endpoint, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    Health.answers = paged(*recorded())
    entries = [{"format": "aws_health", "src": "aws:health", "endpoint_url": endpoint}]
    found, _read, errors = feeds.read_feeds(entries, NOW, timeout=5)
    assert found == [] and Health.requests == []
    assert "NoCredentialsError" in errors[0]


def test_a_credential_source_botocore_refuses_cannot_be_decided(endpoint, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://198.51.100.7/credentials")
    Health.answers = paged(*recorded())
    entries = [{"format": "aws_health", "src": "aws:health", "endpoint_url": endpoint}]
    found, _read, errors = feeds.read_feeds(entries, NOW, timeout=5)
    assert found == [] and Health.requests == []
    assert "AWS Health API" in errors[0] and "Unsupported host" in errors[0]


def test_an_unknown_profile_cannot_be_decided():
    with pytest.raises(feeds.fetch.SourceUnreachable, match="ProfileNotFound"):
        aws_health_api.describe({"profile": "no-such-profile-changeward"}, timeout=1)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"format": "azure_scheduled_events", "src": "aws:health"}, "a feed of format aws_health"),
        ({"format": "aws_health", "src": "https://x.example/h.json", "profile": "ops"}, "only for src aws:health"),
    ],
)
def test_api_keys_belong_to_the_api_feed(entry, message):
    with pytest.raises(feeds.FeedError, match=message):
        feeds.check_feed(entry, 0)


def test_the_signing_region_is_us_east_1_unless_a_regional_endpoint_says_otherwise():
    assert aws_health_api.signing_region(None) == "us-east-1"
    assert aws_health_api.signing_region("https://global.health.amazonaws.com") == "us-east-1"
    assert aws_health_api.signing_region("https://health.us-east-2.amazonaws.com") == "us-east-2"
    assert aws_health_api.signing_region("http://127.0.0.1:9999") == "us-east-1"
