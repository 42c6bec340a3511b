#!/usr/bin/env python3
"""Serve the recorded provider maintenance feeds and status pages (examples/lab/providers) on the lab's artifact
server (scripts/services/nginx.sh, http://198.18.0.1:8088/providers/<name>/), replayed at a chosen time.

The documents are as the providers send them (AWS Health DescribeEvents and EventBridge, Azure Scheduled Events,
GCP instance and maintenance-event, Statuspage v2 summary.json). They were recorded around a maintenance that
starts at 2026-12-08T02:00:00Z; --at moves every time in them by the same amount, each in its own format (epoch
seconds, RFC 1123, ISO 8601), so that maintenance starts at the given instant instead:

    .venv/bin/python examples/lab/provider_feeds.py --at now+10m        # under /providers/demo/
    .venv/bin/python examples/lab/provider_feeds.py --at 2026-12-09T08:00:00Z --name replay-1

Prints the base URL. Paths: <state>/edge-nginx/artifacts/providers/<name>/, <state> being CW_STATE_DIR (default
/var/lib/changeward-test) as for the lab's other services.
"""

from __future__ import annotations

import argparse
import datetime as dt
import email.utils
import json
import os
import re
import sys
from pathlib import Path

RECORDED = Path(__file__).resolve().parent / "providers"
ANCHOR = dt.datetime(2026, 12, 8, 2, 0, tzinfo=dt.UTC)  # the recorded maintenance's start
STATE = Path(os.environ.get("CW_STATE_DIR", "/var/lib/changeward-test"))
ROOT = STATE / "edge-nginx" / "artifacts" / "providers"
BASE = "http://198.18.0.1:8088/providers"
TIME_KEYS = {
    "startTime",
    "endTime",
    "lastUpdatedTime",
    "time",
    "NotBefore",
    "windowStartTime",
    "windowEndTime",
    "earliest",
    "latest",
    "scheduled_for",
    "scheduled_until",
    "created_at",
    "updated_at",
    "started_at",
}
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")


def shift_value(value, delta: dt.timedelta):
    """One time moved by delta, kept in the format it was recorded in."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value + delta.total_seconds()
    if not isinstance(value, str) or not value:
        return value
    if value[:3].isalpha():  # RFC 1123: Tue, 08 Dec 2026 02:00:00 GMT
        moved = email.utils.parsedate_to_datetime(value) + delta
        return email.utils.format_datetime(moved.astimezone(dt.UTC), usegmt=True)
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    moved = (parsed + delta).astimezone(dt.UTC)
    millis = "." in value
    text = moved.strftime("%Y-%m-%dT%H:%M:%S") + (f".{moved.microsecond // 1000:03d}" if millis else "")
    return text + ("Z" if value.endswith("Z") else "+00:00")


def shift(doc, delta: dt.timedelta):
    if isinstance(doc, dict):
        return {k: shift_value(v, delta) if k in TIME_KEYS else shift(v, delta) for k, v in doc.items()}
    if isinstance(doc, list):
        return [shift(v, delta) for v in doc]
    return doc


def parse_at(text: str) -> dt.datetime:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    match = re.fullmatch(r"now(?:([+-])(\d+)([smhd]))?", text)
    if match:
        if not match.group(1):
            return now
        amount = int(match.group(2)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(3)]
        return now + dt.timedelta(seconds=amount if match.group(1) == "+" else -amount)
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(dt.UTC)


def publish(at: dt.datetime, name: str = "demo", root: Path = ROOT) -> str:
    """Write every recorded document, replayed so the recorded maintenance starts at `at`; returns the base URL."""
    if not NAME_RE.match(name):
        raise SystemExit(f"--name {name!r}: lowercase letters, digits, '.', '_' or '-'")
    out = root / name
    out.mkdir(parents=True, exist_ok=True)
    for directory in (root.parent, root, out):
        directory.chmod(0o755)  # nginx's workers read them
    delta = at - ANCHOR
    for source in sorted(RECORDED.iterdir()):
        if source.suffix == ".json":
            data = (json.dumps(shift(json.loads(source.read_text()), delta), indent=2) + "\n").encode()
        else:
            data = source.read_bytes()
        partial = out / f".{source.name}.{os.getpid()}.tmp"
        partial.write_bytes(data)
        partial.chmod(0o644)
        partial.replace(out / source.name)  # readers see the old file or the new one, never half of one
    return f"{BASE}/{name}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument(
        "--at", default="now+10m", help="when the recorded maintenance starts (ISO 8601 or now[+-]N[smhd])"
    )
    parser.add_argument("--name", default="demo", help="directory under /providers/ (default demo)")
    args = parser.parse_args(argv)
    print(publish(parse_at(args.at), args.name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
