"""The Prometheus client against a real HTTP server thread that speaks the Prometheus API format."""

import math
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "judge"))  # the fake server lives beside the judge tests
from fake_prometheus import FakePrometheus, closed_port_url

from ansible_collections.changeward.hybrid.plugins.plugin_utils.prometheus import (
    PrometheusBadQuery,
    PrometheusClient,
    PrometheusEmptyResult,
    PrometheusError,
    PrometheusResponseError,
    PrometheusServerError,
    PrometheusUnreachable,
    format_duration,
    parse_duration,
    redact_url,
)


@pytest.fixture
def prom():
    with FakePrometheus() as fake:
        yield fake


def client(url, **kw):
    kw.setdefault("timeout", 2.0)
    kw.setdefault("backoff", 0.01)
    return PrometheusClient(url, **kw)


def test_range_query_returns_every_series_with_its_values_and_sends_the_window(prom):
    prom.on_range("up", [1, 2, 3], [4, 5, 6])
    series = client(prom.url).range("up", 1000.0, 1030.0, 15.0)
    assert [s.floats for s in series] == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    assert series[0].labels["instance"] == "host-0:9100"
    assert series[0].values[1][0] == 1015.0
    params = prom.requests[-1]["params"]
    assert prom.requests[-1]["path"] == "/api/v1/query_range"
    assert (float(params["start"]), float(params["end"]), float(params["step"])) == (1000.0, 1030.0, 15.0)


def test_nan_and_infinities_come_through_as_floats_not_errors(prom):
    prom.on_range("q", [float("nan"), float("inf"), -float("inf"), 1.5])
    (s,) = client(prom.url).range("q", 0.0, 60.0, 15.0)
    assert math.isnan(s.floats[0]) and s.floats[1] == math.inf and s.floats[2] == -math.inf and s.floats[3] == 1.5


def test_instant_query_vector_and_time_parameter(prom):
    prom.on_instant("ratio", 0.25)
    (s,) = client(prom.url).instant("ratio", at=1234.5)
    assert s.floats == [0.25]
    assert float(prom.requests[-1]["params"]["time"]) == 1234.5


@pytest.mark.parametrize("kind", ["range", "instant"])
def test_empty_result_is_an_empty_result_error_not_zero(prom, kind):
    c = client(prom.url)
    with pytest.raises(PrometheusEmptyResult, match="no data"):
        c.range("absent", 0.0, 60.0, 15.0) if kind == "range" else c.instant("absent")


def test_series_without_points_is_empty_too(prom):
    prom.on_range("q", [])
    with pytest.raises(PrometheusEmptyResult):
        client(prom.url).range("q", 0.0, 60.0, 15.0)


def test_rejected_query_is_a_bad_query_with_prometheus_message_and_no_retry(prom):
    prom.on_error("rate(x[", status=400, error_type="bad_data", error='1:8: parse error: unclosed "["')
    with pytest.raises(PrometheusBadQuery, match="unclosed"):
        client(prom.url, retries=3).instant("rate(x[")
    assert len(prom.requests) == 1


def test_execution_error_422_is_a_bad_query(prom):
    prom.on_error("q", status=422, error_type="execution", error="many-to-many matching not allowed")
    with pytest.raises(PrometheusBadQuery, match="many-to-many"):
        client(prom.url).instant("q")


def test_503_is_retried_then_answered(prom):
    prom.on_instant("q", 1.0)
    prom.unavailable = 2
    (s,) = client(prom.url, retries=2).instant("q")
    assert s.floats == [1.0]
    assert len(prom.requests) == 3


def test_persistent_503_is_a_server_error_after_the_retries_not_unreachable(prom):
    prom.unavailable = 100
    with pytest.raises(PrometheusServerError) as err:
        client(prom.url, retries=2).instant("q")
    assert len(prom.requests) == 3
    message = str(err.value)
    assert message.startswith(f"Prometheus at {prom.url} answered HTTP 503")
    assert "(3 attempts)" in message and "unreachable" not in message
    assert isinstance(err.value, PrometheusUnreachable)  # callers still get "no usable answer"


def test_nothing_listening_says_connection_refused_with_the_option_and_no_library_text():
    url = closed_port_url()
    with pytest.raises(PrometheusUnreachable) as err:
        client(url, retries=1).instant('sum(rate(http_requests_total{job="demo"}[5m]))')
    message = str(err.value)
    assert message == (
        f"Prometheus at {url} is unreachable: connection refused (2 attempts); "
        "check prometheus_url and that Prometheus is running"
    )
    for raw in ("Max retries", "api/v1", "query=", "http_requests_total", "HTTPConnectionPool", "urllib3"):
        assert raw not in message


def test_slow_server_is_cut_off_by_the_timeout_within_bounds(prom):
    prom.on_instant("q", 1.0)
    prom.delay = 1.0
    t0 = time.monotonic()
    with pytest.raises(
        PrometheusUnreachable, match=r"no answer within 0\.2s \(2 attempts\); .* raise prometheus_timeout"
    ):
        client(prom.url, timeout=0.2, retries=1).instant("q")
    # two attempts of 0.2 s plus a 0.01 s back-off: well under the server's delay of 2 x 1 s
    assert time.monotonic() - t0 < 1.5


def test_not_the_api_format_is_a_response_error(prom):
    prom.answer = lambda path, params: (200, b"<html>proxy login</html>")
    with pytest.raises(PrometheusResponseError):
        client(prom.url).instant("q")


def test_wrong_result_type_is_a_response_error(prom):
    prom.answer = lambda path, params: (200, {"status": "success", "data": {"resultType": "string", "result": []}})
    with pytest.raises(PrometheusResponseError, match="expected a vector or scalar"):
        client(prom.url).instant("q")


def test_scalar_result_is_one_series_without_labels(prom):
    prom.answer = lambda path, params: (
        200,
        {"status": "success", "data": {"resultType": "scalar", "result": [1, "7"]}},
    )
    (s,) = client(prom.url).instant("scalar(1)")
    assert s.labels == {} and s.floats == [7.0]


def test_token_is_sent_as_bearer_and_never_in_errors(prom):
    prom.on_instant("q", 1.0)
    client(prom.url, token="s3cr3t-token").instant("q")
    assert prom.requests[-1]["authorization"] == "Bearer s3cr3t-token"
    prom.unavailable = 10
    with pytest.raises(PrometheusUnreachable) as err:
        client(prom.url, token="s3cr3t-token", retries=0).instant("q")
    assert "s3cr3t-token" not in str(err.value)


def test_credentials_in_the_url_are_redacted_from_errors():
    url = closed_port_url().replace("http://", "http://admin:hunter2@")
    with pytest.raises(PrometheusUnreachable) as err:
        client(url, retries=0).instant("q")
    assert "hunter2" not in str(err.value)
    assert redact_url("https://u:p@prom.example:9090/x") == "https://prom.example:9090/x"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"url": "ftp://x"}, "http"),
        ({"url": ""}, "http"),
        ({"url": "http://x", "timeout": 0}, "timeout"),
        ({"url": "http://x", "retries": -1}, "retries"),
    ],
)
def test_bad_client_settings_are_refused(kwargs, match):
    with pytest.raises(PrometheusError, match=match):
        PrometheusClient(**kwargs)


def test_range_window_is_checked_before_asking(prom):
    c = client(prom.url)
    with pytest.raises(PrometheusError, match="start < end"):
        c.range("q", 100.0, 100.0, 15.0)
    with pytest.raises(PrometheusError, match="11000"):
        c.range("q", 0.0, 86400.0 * 7, 1.0)
    assert prom.requests == []


@pytest.mark.parametrize(
    "text, seconds", [("90s", 90), ("5m", 300), ("1h30m", 5400), ("3d", 259200), ("250ms", 0.25), (42, 42)]
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5 minutes", "-5m", "0s", True, "5x"])
def test_parse_duration_refuses_nonsense(text):
    with pytest.raises(PrometheusError):
        parse_duration(text)


def test_format_duration_picks_the_largest_whole_unit():
    assert [format_duration(s) for s in (300, 3600, 259200, 90, 5400)] == ["5m", "1h", "3d", "90s", "90m"]
