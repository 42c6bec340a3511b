# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sink configuration: where it comes from and how it is checked.

Sinks are a list of mappings, each with a unique ``name`` (also the name of its cursor in the ledger) and a
``type`` (syslog, webhook, splunk_hec, jsonl), given as JSON text (``CHANGEWARD_SINKS``) and/or a YAML or
JSON file (``CHANGEWARD_SINKS_FILE``) holding a list or ``{sinks: [...]}``. Secrets are given directly or,
better, as ``secret_env`` / ``token_env`` naming an environment variable (AWX credential types inject
those). Every error names the sink and the field.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

from .base import validate_options
from .errors import SinkConfigError
from .jsonl_sink import JsonlSink
from .splunk_hec_sink import SplunkHecSink
from .syslog_sink import SyslogSink
from .webhook_sink import WebhookSink

ENV_SINKS = "CHANGEWARD_SINKS"
ENV_SINKS_FILE = "CHANGEWARD_SINKS_FILE"
SINK_TYPES = {cls.TYPE: cls for cls in (SyslogSink, WebhookSink, SplunkHecSink, JsonlSink)}


def _as_list(doc, origin: str) -> list:
    if isinstance(doc, Mapping) and "sinks" in doc:
        doc = doc["sinks"]
    if doc is None:
        return []
    if not isinstance(doc, list):
        raise SinkConfigError(None, None, f"{origin} must be a list of sinks (or a mapping with a 'sinks' list)")
    for i, entry in enumerate(doc):
        if not isinstance(entry, Mapping):
            raise SinkConfigError(None, None, f"{origin}: entry {i} must be a mapping, got {type(entry).__name__}")
    return [dict(e) for e in doc]


def parse_sinks_text(text: str, origin: str = ENV_SINKS) -> list:
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise SinkConfigError(None, None, f"{origin} is not valid JSON: {exc.msg} at line {exc.lineno}") from None
    return _as_list(doc, origin)


def load_sinks_file(path: str) -> list:
    path = os.path.expanduser(path)
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise SinkConfigError(None, None, f"cannot read sinks file {path}: {exc.strerror}") from None
    if path.endswith(".json"):
        return parse_sinks_text(text, f"sinks file {path}")
    import yaml

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SinkConfigError(None, None, f"sinks file {path} is not valid YAML: {exc}") from None
    return _as_list(doc, f"sinks file {path}")


def collect(sinks=None, sinks_file: str | None = None) -> list:
    """Raw sink mappings from a list / JSON text and a file (both may be given; names must be unique)."""
    raw = []
    if isinstance(sinks, str):
        if sinks.strip():
            raw += parse_sinks_text(sinks)
    elif sinks is not None:
        raw += _as_list(list(sinks), "sinks")
    if sinks_file:
        raw += load_sinks_file(sinks_file)
    return raw


def from_env() -> list:
    return collect(os.environ.get(ENV_SINKS), os.environ.get(ENV_SINKS_FILE))


def validate(raw: list) -> list:
    """Check every sink mapping; returns them with defaults filled (secrets still unresolved)."""
    specs, names = [], set()
    for i, entry in enumerate(raw):
        name = entry.get("name")
        kind = entry.get("type")
        label = name if isinstance(name, str) and name else f"#{i}"
        if kind not in SINK_TYPES:
            raise SinkConfigError(label, "type", f"must be one of {', '.join(sorted(SINK_TYPES))}, got {kind!r}")
        if not isinstance(name, str) or not name:
            raise SinkConfigError(label, "name", "is required")
        spec = validate_options(entry, SINK_TYPES[kind].all_options())
        if spec["name"] in names:
            raise SinkConfigError(spec["name"], "name", "is used by two sinks; cursors are per name")
        names.add(spec["name"])
        specs.append(spec)
    return specs


def build_sinks(raw: list) -> list:
    """Validated, ready sinks (secrets resolved, TLS material loaded) for the enabled entries."""
    return [SINK_TYPES[s["type"]](s) for s in validate(raw) if s["enabled"]]
