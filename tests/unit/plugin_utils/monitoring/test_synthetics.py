"""Journeys (plugin_utils/monitoring/synthetics.py): validation, the exporter modules they become, reading a probe and
judging each step - status, body, latency, no answer - and a journey stopping at its first failing step."""

import shutil
import subprocess

import pytest
import yaml

from ansible_collections.changeward.hybrid.plugins.plugin_utils.monitoring import synthetics

JOURNEY = {
    "name": "status page",
    "port": 8080,
    "steps": [
        {"name": "home", "path": "/", "contains": '"version": "1.2"', "max_latency": "500ms"},
        {"name": "health", "path": "/healthz"},
    ],
}
PROBE_TEXT = """\
# HELP probe_success Displays whether or not the probe was a success
# TYPE probe_success gauge
probe_dns_lookup_time_seconds 0
probe_duration_seconds 0.0213
probe_failed_due_to_regex 0
probe_http_status_code 200
probe_http_duration_seconds{phase="connect"} 0.0002
probe_success 1
"""


def probe(status=200, seconds=0.02, regex_failed=0, success=None):
    ok = success if success is not None else int(status in (200,) and not regex_failed)
    return {
        "probe_success": ok,
        "probe_http_status_code": status,
        "probe_duration_seconds": seconds,
        "probe_failed_due_to_regex": regex_failed,
    }


def test_validate_fills_defaults_and_reads_durations():
    (j,) = synthetics.validate([JOURNEY])
    assert (j["scheme"], j["port"], j["timeout"]) == ("http", 8080, 10.0)
    assert j["steps"][0]["max_latency"] == 0.5
    assert j["steps"][1] | {} == {"name": "health", "path": "/healthz", "method": "GET", "status": [200]}


@pytest.mark.parametrize(
    ("journeys", "why"),
    [
        ([{"name": "x", "steps": []}], r"synthetic_checks\[0\]\.steps"),
        ([{"name": "x", "steps": [{"name": "a", "path": "no-slash"}]}], r"synthetic_checks\[0\]\.steps\[0\]\.path"),
        ([{"name": "x", "steps": [{"name": "a", "path": "/", "status": [99]}]}], r"status\[0\]"),
        ([{"name": "x", "steps": [{"name": "a", "path": "/", "max_latency": "soon"}]}], "max_latency"),
        ([{"name": "x", "timeout": "1s", "steps": [{"name": "a", "path": "/", "max_latency": "2s"}]}], "timeout"),
        ([JOURNEY, JOURNEY], "unique"),
    ],
)
def test_invalid_journeys_name_the_field(journeys, why):
    with pytest.raises(synthetics.JourneyError, match=why):
        synthetics.validate(journeys)


def test_each_step_is_an_exporter_module_named_by_what_it_checks():
    (j,) = synthetics.validate([JOURNEY])
    modules = synthetics.modules([j])
    home, health = (synthetics.module_name(j, s) for s in j["steps"])
    assert home != health and set(modules) == {home, health}
    assert modules[home]["http"]["fail_if_body_not_matches_regexp"] == [r'"version":\ "1\.2"']
    assert modules[health]["http"]["valid_status_codes"] == [200]
    assert modules[home]["http"]["no_follow_redirects"] is True
    config, changed = synthetics.merged_config({"modules": {"http_2xx": {"prober": "http"}}}, [j])
    assert changed and set(config["modules"]) == {"http_2xx", home, health}
    assert synthetics.merged_config(config, [j]) == (config, False)


@pytest.mark.skipif(not shutil.which("prometheus-blackbox-exporter"), reason="blackbox exporter not installed")
def test_the_exporter_accepts_the_generated_modules(tmp_path):
    (j,) = synthetics.validate([JOURNEY])
    path = tmp_path / "blackbox.yml"
    path.write_text(yaml.safe_dump(synthetics.merged_config({}, [j])[0]))
    proc = subprocess.run(
        ["prometheus-blackbox-exporter", "--config.check", f"--config.file={path}"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def test_parse_probe_reads_the_unlabelled_samples_and_refuses_what_is_not_a_probe():
    got = synthetics.parse_probe(PROBE_TEXT)
    assert got["probe_success"] == 1 and got["probe_http_status_code"] == 200
    assert "probe_http_duration_seconds" not in got
    with pytest.raises(synthetics.ProbeError):
        synthetics.parse_probe("<html>not metrics</html>")


@pytest.mark.parametrize(
    ("metrics", "problems"),
    [
        (probe(), []),
        (probe(status=500), ["status 500, expected 200"]),
        (probe(regex_failed=1), ["body does not contain '\"version\": \"1.2\"'"]),
        (probe(seconds=0.9), ["took 900 ms, more than 500 ms"]),
        (probe(status=0), ["no HTTP answer (connection failed or timed out)"]),
        (probe(success=0), ["the exporter reported the probe failed"]),
    ],
)
def test_judge_step_names_every_missed_expectation(metrics, problems):
    (j,) = synthetics.validate([JOURNEY])
    got = synthetics.judge_step(j["steps"][0], metrics)
    assert got["problems"] == problems
    assert got["passed"] is (not problems)


def test_a_journey_stops_at_its_first_failing_step_and_the_ring_fails_on_any_host():
    (j,) = synthetics.validate([JOURNEY])
    asked = []

    def fake_probe(module, url):
        asked.append(url)
        return probe(status=500) if url.startswith("http://10.0.0.2") else probe()

    result = synthetics.evaluate([j], {"a": "10.0.0.1", "b": "10.0.0.2"}, fake_probe)
    assert result["verdict"] == "fail"
    assert asked == ["http://10.0.0.1:8080/", "http://10.0.0.1:8080/healthz", "http://10.0.0.2:8080/"]
    (failed,) = [r for r in result["journeys"] if not r["passed"]]
    assert (failed["host"], failed["not_run"]) == ("b", ["health"])
    assert result["reasons"] == ["b: journey status page failed at step home: status 500, expected 200"]
    assert synthetics.evaluate([j], {"a": "10.0.0.1"}, lambda m, u: probe())["verdict"] == "pass"


def test_nothing_to_run_is_an_error_not_a_pass():
    (j,) = synthetics.validate([JOURNEY])
    with pytest.raises(synthetics.JourneyError):
        synthetics.evaluate([], {"a": "10.0.0.1"}, lambda m, u: probe())
    with pytest.raises(synthetics.JourneyError):
        synthetics.evaluate([j], {}, lambda m, u: probe())
