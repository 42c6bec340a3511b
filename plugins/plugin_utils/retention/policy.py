# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The retention policy: how long an event stays in the live ledger, and how long its archive is kept.

It is the operator's, like the gate policy: the inventory variable ``changeward_retention_policy`` (pinned, see
policy/pinning.py), never something a run supplies::

    api_version: changeward.hybrid/v1
    default: {live: 400d, archive: 7y}          # both required
    data_classes:                               # the data_class label of the change's target hosts
      pii: {live: 90d, archive: 6y}
    record_types:                               # event types, fnmatch patterns
      "io.changeward.run.*": {live: 30d}
      "io.changeward.approval.*": {archive: 10y}
    archive: {lock_mode: COMPLIANCE}            # S3 Object Lock mode: COMPLIANCE (default) or GOVERNANCE
    legal_hold:
      allowed_signers: /etc/changeward/legal_signers   # OpenSSH allowed-signers of who may release a hold
      release_by: [counsel@example.com]

Every rule that applies to an event counts and the longest wins: the default, the rule of each data class of
the hosts its change targets, and each record-type pattern its type matches. ``live`` is how long an event
stays in the live ledger at least (it may be pruned after that, once archived); ``archive`` how long the archive
holding it is kept (its Object Lock retain-until date: the latest event time plus the longest archive period
of the events in it). An event of a change whose targets the policy cannot see - its record is no longer in
the live ledger - gets the longest period of every rule: unknown never means shorter.
"""

from __future__ import annotations

import datetime
import fnmatch
import re
from collections.abc import Iterable, Mapping

from ansible_collections.changeward.hybrid.plugins.module_utils.timeparse import TimeFormatError, parse_duration
from ansible_collections.changeward.hybrid.plugins.plugin_utils.control_events import digest
from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import ChangewardError

API_VERSION = "changeward.hybrid/v1"
POLICY_VAR = "changeward_retention_policy"
PERIODS = ("live", "archive")
LOCK_MODES = ("COMPLIANCE", "GOVERNANCE")
TOP_KEYS = ("api_version", "default", "data_classes", "record_types", "archive", "legal_hold")
_CLASS = re.compile(r"^[a-z0-9][a-z0-9._@-]*$")


class RetentionError(ChangewardError):
    """A retention decision that cannot be made (bad policy, no verified archive, unreadable store...)."""


class RetentionRefused(RetentionError):
    """A retention control refused: a legal hold covers the range, an archive does not verify."""

    CONTROL = "retention"


def _rule(value, where: str, required: bool = False) -> dict:
    if not isinstance(value, Mapping):
        raise RetentionError(f"retention policy {where} must be a mapping with live and/or archive")
    extra = sorted(set(value) - set(PERIODS))
    if extra:
        raise RetentionError(f"retention policy {where} has unknown key(s) {', '.join(map(str, extra))}")
    rule = {}
    for period in PERIODS:
        if period not in value:
            if required:
                raise RetentionError(f"retention policy {where} must set {period}")
            continue
        try:
            rule[period] = parse_duration(value[period], f"retention policy {where}.{period}")
        except TimeFormatError as exc:
            raise RetentionError(str(exc)) from None
    if not rule:
        raise RetentionError(f"retention policy {where} sets neither live nor archive")
    return rule


class RetentionPolicy:
    """A validated retention policy (see the module docstring)."""

    def __init__(self, document):
        if not isinstance(document, Mapping):
            raise RetentionError(
                f"no retention policy: set {POLICY_VAR} in the inventory (group_vars) - pruning never runs on defaults"
            )
        extra = sorted(set(document) - set(TOP_KEYS))
        if extra:
            raise RetentionError(f"retention policy has unknown key(s) {', '.join(map(str, extra))}")
        if document.get("api_version") != API_VERSION:
            raise RetentionError(f"retention policy api_version must be {API_VERSION}")
        self.document = dict(document)
        self.default = _rule(document.get("default"), "default", required=True)
        self.classes = {}
        for name, value in (document.get("data_classes") or {}).items():
            if not isinstance(name, str) or not _CLASS.match(name):
                raise RetentionError(f"retention policy data class {name!r} is not a label value")
            self.classes[name] = _rule(value, f"data_classes.{name}")
        self.types = []
        for pattern, value in (document.get("record_types") or {}).items():
            if not isinstance(pattern, str) or not pattern.startswith("io.changeward."):
                raise RetentionError(f"retention policy record type {pattern!r} must be an io.changeward.* pattern")
            self.types.append((pattern, _rule(value, f"record_types.{pattern}")))
        archive = document.get("archive") or {}
        if not isinstance(archive, Mapping) or set(archive) - {"lock_mode"}:
            raise RetentionError("retention policy archive may set only lock_mode")
        self.lock_mode = archive.get("lock_mode", "COMPLIANCE")
        if self.lock_mode not in LOCK_MODES:
            raise RetentionError(f"retention policy archive.lock_mode must be one of {', '.join(LOCK_MODES)}")
        hold = document.get("legal_hold") or {}
        if not isinstance(hold, Mapping) or set(hold) - {"allowed_signers", "release_by"}:
            raise RetentionError("retention policy legal_hold may set only allowed_signers and release_by")
        self.hold_signers = hold.get("allowed_signers")
        self.release_by = list(hold.get("release_by") or [])
        if not all(isinstance(p, str) and p for p in self.release_by):
            raise RetentionError("retention policy legal_hold.release_by must be a list of principals")
        self.digest = digest(self.document)
        rules = [self.default, *self.classes.values(), *(r for _p, r in self.types)]
        self.longest = {p: max(r.get(p, 0.0) for r in rules) for p in PERIODS}

    def periods(self, event_type: str, classes: Iterable[str] | None) -> dict:
        """{live, archive} seconds for an event of this type whose change targets hosts of these data classes.

        classes None: not known (the change's record is not in the live ledger) - the longest of every rule."""
        if classes is None:
            return dict(self.longest)
        rules = [self.default]
        rules += [self.classes[c] for c in classes if c in self.classes]
        rules += [rule for pattern, rule in self.types if fnmatch.fnmatchcase(event_type, pattern)]
        return {p: max(r.get(p, 0.0) for r in rules) for p in PERIODS}

    def summary(self) -> dict:
        return {
            "digest": self.digest,
            "default": self.document.get("default"),
            "data_classes": sorted(self.classes),
            "record_types": [p for p, _r in self.types],
            "lock_mode": self.lock_mode,
        }


def parse_time(text) -> datetime.datetime | None:
    """An event's RFC 3339 time as an aware datetime, or None when it is not one."""
    if not isinstance(text, str):
        return None
    try:
        value = datetime.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        return None
    return value if value.tzinfo is not None else None


def rfc3339(value: datetime.datetime) -> str:
    return value.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
