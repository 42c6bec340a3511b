# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Accepted drift: known, intentional deviations, each with an approver, a reason and an expiry.

An entry matches findings by host (glob), class, item (glob) and optionally attribute and the exact
actual value (so a deviation that changes again is drift again). Active entries move matching findings
to the host's ``accepted`` list: reported separately, not remediated. Expired entries accept nothing;
their findings are drift again and name the expired acceptance. A malformed entry is an error (an
acceptance nobody can read must not silently accept, nor silently stop accepting).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import hashlib
import json
import re
from collections.abc import Iterable, Mapping

from ansible_collections.changeward.hybrid.plugins.module_utils import timeparse
from ansible_collections.changeward.hybrid.plugins.plugin_utils.drift.errors import AcceptanceError

CLASSES = ("file", "package", "service", "sysctl", "port", "user", "task", "*")
FIELDS = ("id", "host", "class", "item", "attribute", "actual", "approver", "reason", "expires", "reference")
REQUIRED = ("host", "class", "item", "approver", "reason", "expires")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DEFAULT_MAX_DAYS = 90


def parse_time(value, where: str) -> dt.datetime:
    """RFC 3339 with an offset, or a date (the acceptance ends at 00:00 UTC that day)."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise AcceptanceError(f"{where}: a time without a UTC offset is ambiguous: {value.isoformat()}")
        return value.astimezone(dt.timezone.utc)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.timezone.utc)
    if not isinstance(value, str) or not value.strip():
        raise AcceptanceError(f"{where}: must be an RFC 3339 time with an offset or a date, got {value!r}")
    text = value.strip()
    if DATE_RE.match(text):
        try:
            day = dt.date.fromisoformat(text)
        except ValueError:
            raise AcceptanceError(f"{where}: {text!r} is not a date") from None
        return dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)
    try:
        return timeparse.instant(text, where)
    except timeparse.TimeFormatError as exc:
        raise AcceptanceError(str(exc)) from None


def iso(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _text(entry: Mapping, key: str, where: str, optional: bool = False):
    value = entry.get(key)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
        raise AcceptanceError(f"{where}.{key}: must be a non-empty string, got {value!r}")
    return str(value).strip()


def normalise(entries, now: dt.datetime, max_days: int = DEFAULT_MAX_DAYS) -> list:
    """Validated acceptances with ``id``, ``expires`` (UTC text) and ``active`` (not yet expired)."""
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise AcceptanceError(f"accepted drift must be a list, got {type(entries).__name__}")
    out, ids = [], set()
    for i, entry in enumerate(entries):
        where = f"accepted[{i}]"
        if not isinstance(entry, Mapping):
            raise AcceptanceError(f"{where}: must be a mapping")
        unknown = sorted(set(map(str, entry)) - set(FIELDS))
        if unknown:
            raise AcceptanceError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(FIELDS)}")
        for key in REQUIRED:
            if entry.get(key) in (None, ""):
                raise AcceptanceError(f"{where}: {key} is required (who approved it, why and until when)")
        norm = {k: _text(entry, k, where) for k in ("host", "item", "approver", "reason")}
        norm["class"] = _text(entry, "class", where)
        if norm["class"] not in CLASSES:
            raise AcceptanceError(f"{where}.class: must be one of {', '.join(CLASSES)}, got {norm['class']!r}")
        norm["attribute"] = _text(entry, "attribute", where, optional=True)
        norm["reference"] = _text(entry, "reference", where, optional=True)
        norm["actual"] = entry.get("actual")
        expires = parse_time(entry.get("expires"), f"{where}.expires")
        if max_days and expires > now + dt.timedelta(days=max_days):
            raise AcceptanceError(
                f"{where}.expires: {iso(expires)} is more than {max_days} days away; accepted drift must be "
                "reviewed again within the policy's acceptance_max_days"
            )
        norm["expires"] = iso(expires)
        norm["active"] = now < expires
        ident = (
            _text(entry, "id", where, optional=True)
            or "ACC-"
            + hashlib.sha256(
                json.dumps({k: norm[k] for k in ("host", "class", "item", "attribute")}, sort_keys=True).encode()
            ).hexdigest()[:10]
        )
        if ident in ids:
            raise AcceptanceError(f"{where}: id {ident} is used twice")
        ids.add(ident)
        norm["id"] = ident
        out.append(norm)
    return out


def matches(acceptance: Mapping, host: str, finding: Mapping) -> bool:
    if not fnmatch.fnmatchcase(host, acceptance["host"]):
        return False
    if acceptance["class"] != "*" and acceptance["class"] != finding.get("class"):
        return False
    if not fnmatch.fnmatchcase(str(finding.get("item", "")), acceptance["item"]):
        return False
    if acceptance["attribute"] is not None and acceptance["attribute"] != finding.get("attribute"):
        return False
    if acceptance["actual"] is not None and acceptance["actual"] != finding.get("actual"):
        return False
    return True


def apply(host: str, findings: Iterable[Mapping], acceptances: list) -> tuple:
    """(drift, accepted, used ids). Drift findings matched only by expired entries name them."""
    drift, accepted, used = [], [], set()
    for finding in findings:
        active = [a for a in acceptances if a["active"] and matches(a, host, finding)]
        if active:
            accepted.append(dict(finding, accepted_by=active[0]["id"]))
            used.add(active[0]["id"])
            continue
        expired = [a["id"] for a in acceptances if not a["active"] and matches(a, host, finding)]
        drift.append(dict(finding, acceptance_expired=expired) if expired else dict(finding))
        used.update(expired)
    return drift, accepted, used
