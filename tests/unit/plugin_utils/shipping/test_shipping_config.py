"""Sink configuration: every error names the sink and the field."""

import json

import pytest

from ansible_collections.changeward.hybrid.plugins.plugin_utils.shipping import config
from ansible_collections.changeward.hybrid.plugins.plugin_utils.shipping.errors import SinkConfigError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.shipping.jsonl_sink import JsonlSink
from ansible_collections.changeward.hybrid.plugins.plugin_utils.shipping.splunk_hec_sink import SplunkHecSink
from ansible_collections.changeward.hybrid.plugins.plugin_utils.shipping.syslog_sink import SyslogSink
from ansible_collections.changeward.hybrid.plugins.plugin_utils.shipping.webhook_sink import WebhookSink

SECRET = "0123456789abcdef-secret"


def good(tmp_path):
    return [
        {"name": "siem", "type": "syslog", "host": "127.0.0.1", "port": 6514, "tls": True},
        {"name": "hook", "type": "webhook", "url": "https://example.com/in", "secret": SECRET},
        {"name": "splunk", "type": "splunk_hec", "url": "https://splunk:8088", "token": "t"},
        {"name": "audit", "type": "jsonl", "path": str(tmp_path / "audit.jsonl")},
    ]


def test_builds_every_sink_type_with_defaults(tmp_path):
    sinks = config.build_sinks(good(tmp_path))
    assert [type(s) for s in sinks] == [SyslogSink, WebhookSink, SplunkHecSink, JsonlSink]
    assert sinks[0].batch_size == 100 and sinks[0].timeout == 5.0
    assert sinks[0].describe() == "tls://127.0.0.1:6514"
    assert sinks[2].describe() == "https://splunk:8088/services/collector/event"


def test_disabled_sinks_are_shape_checked_but_not_built(tmp_path):
    raw = good(tmp_path)
    raw[1].update(enabled=False, secret=None, secret_env="CW_NOT_SET_YET")  # not usable yet: fine while disabled
    assert [s.name for s in config.build_sinks(raw)] == ["siem", "splunk", "audit"]
    raw[1]["batch_size"] = "many"
    with pytest.raises(SinkConfigError, match="sink 'hook': batch_size: must be an integer"):
        config.build_sinks(raw)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"name": "x", "type": "kafka"}, r"sink 'x': type: must be one of jsonl, splunk_hec, syslog, webhook"),
        ({"type": "jsonl", "path": "/tmp/x"}, r"sink '#0': name: is required"),
        ({"name": "bad name", "type": "jsonl", "path": "/tmp/x"}, r"sink 'bad name': name: must be 1-64"),
        ({"name": "x", "type": "syslog"}, r"sink 'x': host: is required"),
        ({"name": "x", "type": "syslog", "host": "h", "port": 70000}, r"sink 'x': port: must be at most 65535"),
        ({"name": "x", "type": "syslog", "host": "h", "port": "514"}, r"sink 'x': port: must be an integer"),
        ({"name": "x", "type": "syslog", "host": "h", "tls": "yes"}, r"sink 'x': tls: must be true or false"),
        ({"name": "x", "type": "syslog", "host": "h", "facility": "l0"}, r"sink 'x': facility: must be one of"),
        ({"name": "x", "type": "syslog", "host": "h", "colour": 1}, r"sink 'x': colour: unknown field"),
        ({"name": "x", "type": "syslog", "host": "h", "key_file": "/etc/hostname"}, r"sink 'x': key_file: needs"),
        ({"name": "x", "type": "syslog", "host": "h", "ca_file": "/nonexistent"}, r"sink 'x': ca_file: file"),
        ({"name": "x", "type": "webhook", "url": "ftp://h/x", "secret": SECRET}, r"sink 'x': url: must be an http"),
        ({"name": "x", "type": "webhook", "url": "https://u:p@h/x", "secret": SECRET}, r"url: must not carry cred"),
        ({"name": "x", "type": "webhook", "url": "https://h/x"}, r"sink 'x': secret: is required"),
        ({"name": "x", "type": "webhook", "url": "https://h/x", "secret": "short"}, r"secret: must be at least 16"),
        (
            {"name": "x", "type": "webhook", "url": "https://h/x", "secret": SECRET, "headers": {"Host": "y"}},
            r"sink 'x': headers: Host is set by the sink",
        ),
        ({"name": "x", "type": "webhook", "url": "https://h/x", "secret_env": "CW_UNSET_VAR"}, r"secret_env: env"),
        (
            {"name": "x", "type": "webhook", "url": "https://h/x", "secret": SECRET, "secret_env": "A"},
            r"secret: give either secret or secret_env",
        ),
        ({"name": "x", "type": "splunk_hec", "url": "https://h"}, r"sink 'x': token: is required"),
        ({"name": "x", "type": "splunk_hec", "url": "https://h", "token": "t", "channel": "c"}, r"channel: must be"),
        ({"name": "x", "type": "jsonl", "path": "/tmp", "batch_size": 0}, r"sink 'x': batch_size: must be at least 1"),
        ({"name": "x", "type": "jsonl", "path": "/tmp"}, r"sink 'x': path: /tmp is a directory"),
        ({"name": "x", "type": "jsonl", "path": "/tmp/x", "timeout": -1}, r"timeout: must be at least 0.1"),
    ],
)
def test_invalid_config_names_sink_and_field(entry, message):
    with pytest.raises(SinkConfigError, match=message):
        config.build_sinks([entry])


def test_secret_values_never_appear_in_errors():
    entry = {"name": "x", "type": "webhook", "url": "https://h/x", "secret": "tiny-SECRET"}
    with pytest.raises(SinkConfigError) as err:
        config.build_sinks([entry])
    assert "tiny-SECRET" not in str(err.value)


def test_duplicate_names_are_refused(tmp_path):
    raw = [*good(tmp_path), {"name": "siem", "type": "jsonl", "path": str(tmp_path / "b.jsonl")}]
    with pytest.raises(SinkConfigError, match="sink 'siem': name: is used by two sinks"):
        config.validate(raw)


def test_secrets_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("CW_HOOK_SECRET", SECRET)
    sink = config.build_sinks([{"name": "h", "type": "webhook", "url": "https://h/x", "secret_env": "CW_HOOK_SECRET"}])[
        0
    ]
    assert SECRET not in repr(sink)


def test_text_and_file_sources_combine(tmp_path, monkeypatch):
    (tmp_path / "sinks.yml").write_text(f"sinks:\n  - name: f\n    type: jsonl\n    path: {tmp_path}/f.jsonl\n")
    (tmp_path / "sinks.json").write_text(json.dumps([{"name": "g", "type": "jsonl", "path": str(tmp_path / "g")}]))
    text = json.dumps([{"name": "e", "type": "jsonl", "path": str(tmp_path / "e.jsonl")}])
    assert [s["name"] for s in config.collect(text, str(tmp_path / "sinks.yml"))] == ["e", "f"]
    assert [s["name"] for s in config.collect(None, str(tmp_path / "sinks.json"))] == ["g"]
    monkeypatch.setenv(config.ENV_SINKS, text)
    monkeypatch.setenv(config.ENV_SINKS_FILE, str(tmp_path / "sinks.yml"))
    assert [s["name"] for s in config.from_env()] == ["e", "f"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[{", "CHANGEWARD_SINKS is not valid JSON"),
        ('{"a": 1}', "CHANGEWARD_SINKS must be a list of sinks"),
        ("[1]", "entry 0 must be a mapping"),
    ],
)
def test_malformed_sink_text(text, message):
    with pytest.raises(SinkConfigError, match=message):
        config.collect(text)


def test_unreadable_or_invalid_sink_files(tmp_path):
    with pytest.raises(SinkConfigError, match="cannot read sinks file"):
        config.collect(None, str(tmp_path / "missing.yml"))
    (tmp_path / "bad.yml").write_text("sinks: [\n")
    with pytest.raises(SinkConfigError, match="is not valid YAML"):
        config.collect(None, str(tmp_path / "bad.yml"))


@pytest.mark.parametrize(
    "entry",
    [
        {"name": "w", "type": "webhook", "url": "http://198.18.0.1:8080/in", "secret": SECRET},
        {"name": "w", "type": "webhook", "url": "http://audit.example.org/in", "secret": SECRET},
        {"name": "s", "type": "splunk_hec", "url": "http://10.0.0.5:8088", "token": "t"},
        {"name": "y", "type": "syslog", "host": "198.18.0.1", "port": 601},
    ],
)
def test_plain_transport_to_another_host_needs_the_operators_explicit_allowance(entry):
    with pytest.raises(SinkConfigError, match=r"without TLS.*allow_insecure_transport"):
        config.build_sinks([entry])
    assert config.build_sinks([dict(entry, allow_insecure_transport=True)])


@pytest.mark.parametrize(
    "entry",
    [
        {"name": "w", "type": "webhook", "url": "http://127.0.0.1:8080/in", "secret": SECRET},
        {"name": "w", "type": "webhook", "url": "http://[::1]:8080/in", "secret": SECRET},
        {"name": "w", "type": "webhook", "url": "http://localhost/in", "secret": SECRET},
        {"name": "w", "type": "webhook", "url": "https://audit.example.org/in", "secret": SECRET},
        {"name": "y", "type": "syslog", "host": "127.0.0.2", "port": 601},
        {"name": "y", "type": "syslog", "host": "audit.example.org", "tls": True},
    ],
)
def test_loopback_and_tls_need_no_allowance(entry):
    assert config.build_sinks([entry])
