# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Provider maintenance feeds in the providers' own formats, normalised into maintenance windows on hosts.

Formats (docs/calendars-across-providers.md):

- ``aws_health``: the AWS Health API's DescribeEvents answer (``{"events": [...]}``), optionally with the
  DescribeAffectedEntities answer(s) in the same document (``"entities"``), or EventBridge ``aws.health`` events
  (one, or a list); ``src: aws:health`` reads the API itself (providers/aws_health_api.py, the same document).
  Only the ``scheduledChange`` category is maintenance; closed events are over.
- ``azure_scheduled_events``: the instance metadata service's Scheduled Events document
  (``{"DocumentIncarnation": n, "Events": [...]}``): Reboot, Redeploy, Freeze, Preempt, Terminate with
  ``NotBefore``, ``DurationInSeconds`` and ``Resources``.
- ``gcp_maintenance``: a Compute Engine instance resource (or an instance list) with its ``upcomingMaintenance``
  window, or the metadata server's ``instance/maintenance-event`` value (text: NONE, MIGRATE_ON_HOST_MAINTENANCE,
  TERMINATE_ON_HOST_MAINTENANCE) for the one instance the feed entry names.

A window is [start, end); ``end`` None is open-ended (an instance retired or terminated does not come back).
Hosts are matched by their labels: ``provider``, then ``instance_id`` against the event's affected resources,
else (an event naming no resource) ``region`` and ``az``. A host of the provider without an ``instance_id``
cannot be matched against an event that names resources in its region: it is reported as unmapped, which the
conflicts gate treats as "cannot decide".
"""

from __future__ import annotations

import email.utils
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from ansible_collections.changeward.hybrid.plugins.module_utils.timeparse import TimeFormatError, parse_instant
from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar.localtime import iso_utc
from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import ChangewardError

from . import aws_health_api, fetch

FORMATS = ("aws_health", "azure_scheduled_events", "gcp_maintenance")
PROVIDER_OF = {"aws_health": "aws", "azure_scheduled_events": "azure", "gcp_maintenance": "gcp"}
AZURE_TYPES = ("Reboot", "Redeploy", "Freeze", "Preempt", "Terminate")
AZURE_FINAL = ("Preempt", "Terminate")  # the VM is gone afterwards: open-ended
GCP_EVENTS = ("MIGRATE_ON_HOST_MAINTENANCE", "TERMINATE_ON_HOST_MAINTENANCE")
DEFAULT_UNKNOWN_DURATION = 3600.0
METADATA_HEADERS = {"azure_scheduled_events": {"Metadata": "true"}, "gcp_maintenance": {"Metadata-Flavor": "Google"}}
FEED_KEYS = ("name", "format", "src", "headers", "instance_id", "region", *aws_health_api.API_KEYS)


class FeedError(ChangewardError):
    """A feed document that is not what its format says: the gate cannot decide."""


@dataclass(frozen=True)
class Maintenance:
    """One provider maintenance, normalised."""

    feed: str
    provider: str
    event_id: str
    kind: str
    status: str
    start: float
    end: float | None
    region: str | None = None
    az: str | None = None
    resources: tuple = ()
    description: str = ""

    @property
    def title(self) -> str:
        return f"{self.provider} {self.kind} {self.event_id}"

    def overlap(self, start: float, end: float):
        """(start, end) of the overlap with [start, end), or None."""
        lo = max(self.start, start)
        hi = end if self.end is None else min(self.end, end)
        return (lo, hi) if lo < hi else None

    def as_dict(self) -> dict:
        return {
            "feed": self.feed,
            "provider": self.provider,
            "event_id": self.event_id,
            "kind": self.kind,
            "status": self.status,
            "start": iso_utc(self.start),
            "end": None if self.end is None else iso_utc(self.end),
            "region": self.region,
            "az": self.az,
            "resources": list(self.resources),
            "description": self.description,
        }


# -- times ------------------------------------------------------------------------------------------------------
def when(value, where: str) -> float:
    """Unix seconds from what providers send: epoch numbers (the Health API), ISO 8601 with an offset (the CLI,
    GCP), or RFC 1123 (EventBridge details, Azure's NotBefore)."""
    if isinstance(value, bool) or value in (None, ""):
        raise FeedError(f"{where}: no time")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise FeedError(f"{where}: {value!r} is not a time")
        return float(value)
    text = str(value).strip()
    try:
        return parse_instant(text, where)
    except TimeFormatError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise FeedError(f"{where}: {text!r} is not a time with a zone (ISO 8601, RFC 1123 or epoch seconds)")
    return parsed.timestamp()


def _ids(values) -> tuple:
    return tuple(sorted({str(v).strip().lower() for v in values if isinstance(v, (str, int)) and str(v).strip()}))


def _text(value) -> str:
    if isinstance(value, list):
        value = " ".join(str(v.get("latestDescription", v)) if isinstance(v, Mapping) else str(v) for v in value)
    return str(value or "").strip()[:500]


# -- AWS Health -------------------------------------------------------------------------------------------------
def parse_aws(doc, feed: str) -> tuple[list, int]:
    """(maintenances, ignored) from a DescribeEvents answer (with entities) or EventBridge aws.health events."""
    if isinstance(doc, list):
        events = doc
    elif isinstance(doc, Mapping) and isinstance(doc.get("events"), list):
        return _aws_describe(doc, feed)
    elif isinstance(doc, Mapping) and "detail" in doc:
        events = [doc]
    else:
        raise FeedError(
            f"{feed}: not an AWS Health document (DescribeEvents 'events' or EventBridge aws.health events)"
        )
    out, ignored = [], 0
    for i, event in enumerate(events):
        where = f"{feed}[{i}]"
        if (
            not isinstance(event, Mapping)
            or event.get("source") != "aws.health"
            or not isinstance(event.get("detail"), Mapping)
        ):
            raise FeedError(f"{where}: not an EventBridge aws.health event")
        detail = event["detail"]
        if (
            detail.get("eventTypeCategory") != "scheduledChange"
            or str(detail.get("statusCode", "")).lower() == "closed"
        ):
            ignored += 1
            continue
        entities = [e.get("entityValue") for e in detail.get("affectedEntities") or [] if isinstance(e, Mapping)]
        resources = [r.rsplit("/", 1)[-1] for r in event.get("resources") or [] if isinstance(r, str)]
        out.append(
            _aws_event(
                detail,
                feed,
                where + ".detail",
                _ids(entities + resources),
                region=detail.get("eventRegion") or event.get("region"),
            )
        )
    return out, ignored


def _aws_event(event: Mapping, feed: str, where: str, resources: tuple, region=None) -> Maintenance:
    arn = event.get("eventArn") or event.get("arn")
    if not arn:
        raise FeedError(f"{where}: no eventArn")
    start = when(event.get("startTime"), f"{where}.startTime")
    end = when(event["endTime"], f"{where}.endTime") if event.get("endTime") else None
    if end is not None and end <= start:
        raise FeedError(f"{where}: endTime is not after startTime")
    return Maintenance(
        feed=feed,
        provider="aws",
        event_id=str(arn),
        kind=str(event.get("eventTypeCode") or "AWS_SCHEDULED_CHANGE"),
        status=str(event.get("statusCode") or "upcoming").lower(),
        start=start,
        end=end,
        region=(str(region or event.get("region") or "").lower() or None),
        az=(str(event.get("availabilityZone") or "").lower() or None),
        resources=resources,
        description=_text(event.get("eventDescription") or event.get("service")),
    )


def _aws_describe(doc: Mapping, feed: str) -> tuple[list, int]:
    entities = doc.get("entities") or []
    if not isinstance(entities, list):
        raise FeedError(f"{feed}.entities: must be a list (the DescribeAffectedEntities answer)")
    by_event: dict = {}
    for entity in entities:
        if isinstance(entity, Mapping) and str(entity.get("statusCode", "")).upper() != "RESOLVED":
            by_event.setdefault(entity.get("eventArn"), []).append(entity.get("entityValue"))
    out, ignored = [], 0
    for i, event in enumerate(doc["events"]):
        where = f"{feed}.events[{i}]"
        if not isinstance(event, Mapping):
            raise FeedError(f"{where}: not an event")
        if event.get("eventTypeCategory") != "scheduledChange" or str(event.get("statusCode", "")).lower() == "closed":
            ignored += 1
            continue
        out.append(_aws_event(event, feed, where, _ids(by_event.get(event.get("arn"), []))))
    return out, ignored


# -- Azure Scheduled Events -------------------------------------------------------------------------------------
def parse_azure(doc, feed: str, now: float, unknown_duration: float) -> tuple[list, int]:
    if not isinstance(doc, Mapping) or not isinstance(doc.get("Events"), list):
        raise FeedError(f"{feed}: not an Azure Scheduled Events document (no Events list)")
    out, ignored = [], 0
    for i, event in enumerate(doc["Events"]):
        where = f"{feed}.Events[{i}]"
        if not isinstance(event, Mapping) or not event.get("EventId"):
            raise FeedError(f"{where}: not a scheduled event (no EventId)")
        status = str(event.get("EventStatus") or "Scheduled")
        if status not in ("Scheduled", "Started"):
            ignored += 1
            continue
        kind = str(event.get("EventType") or "")
        if kind not in AZURE_TYPES:
            # an event type this reader does not know is still a maintenance: kept, never dropped
            kind = kind or "Unknown"
        not_before = event.get("NotBefore")
        start = when(not_before, f"{where}.NotBefore") if not_before else now
        duration = event.get("DurationInSeconds")
        if isinstance(duration, (int, float)) and not isinstance(duration, bool) and duration > 0:
            end = start + float(duration)
        elif kind in AZURE_FINAL:
            end = None
        else:
            end = start + unknown_duration
        resources = event.get("Resources") or []
        if not isinstance(resources, list):
            raise FeedError(f"{where}.Resources: must be a list")
        out.append(
            Maintenance(
                feed=feed,
                provider="azure",
                event_id=str(event["EventId"]),
                kind=kind,
                status=status.lower(),
                start=start,
                end=end,
                resources=_ids(resources),
                description=_text(event.get("Description")),
            )
        )
    return out, ignored


# -- GCP --------------------------------------------------------------------------------------------------------
_ZONE = re.compile(r"(?:^|/)zones/([a-z0-9-]+)$")


def parse_gcp(doc, feed: str, now: float, unknown_duration: float, instance_id=None) -> tuple[list, int]:
    if isinstance(doc, str):
        return _gcp_metadata(doc, feed, now, unknown_duration, instance_id)
    if isinstance(doc, Mapping) and "items" in doc:
        items = doc["items"]
        if isinstance(items, Mapping):  # aggregatedList: {"zones/x": {"instances": [...]}}
            items = [
                i for scoped in items.values() if isinstance(scoped, Mapping) for i in scoped.get("instances") or []
            ]
        if not isinstance(items, list):
            raise FeedError(f"{feed}.items: must be a list of instances")
    elif isinstance(doc, Mapping) and doc.get("kind") == "compute#instance":
        items = [doc]
    else:
        raise FeedError(f"{feed}: not a Compute Engine instance, instance list or maintenance-event value")
    out, ignored = [], 0
    for i, inst in enumerate(items):
        where = f"{feed}.items[{i}]"
        if not isinstance(inst, Mapping) or not (inst.get("id") or inst.get("name")):
            raise FeedError(f"{where}: not an instance (no id or name)")
        upcoming = inst.get("upcomingMaintenance")
        if not upcoming:
            ignored += 1
            continue
        if not isinstance(upcoming, Mapping):
            raise FeedError(f"{where}.upcomingMaintenance: must be a mapping")
        window = upcoming.get("startTimeWindow") or {}
        start_raw = upcoming.get("windowStartTime") or window.get("earliest")
        end_raw = upcoming.get("windowEndTime") or window.get("latest")
        start = when(start_raw, f"{where}.upcomingMaintenance.windowStartTime")
        end = when(end_raw, f"{where}.upcomingMaintenance.windowEndTime") if end_raw else start + unknown_duration
        if end <= start:
            raise FeedError(f"{where}.upcomingMaintenance: the window ends before it starts")
        zone = _ZONE.search(str(inst.get("zone") or ""))
        az = zone.group(1) if zone else None
        out.append(
            Maintenance(
                feed=feed,
                provider="gcp",
                event_id=f"{inst.get('name') or inst.get('id')}/upcomingMaintenance",
                kind=str(upcoming.get("type") or "SCHEDULED"),
                status=str(upcoming.get("maintenanceStatus") or "pending").lower(),
                start=start,
                end=end,
                region=az.rsplit("-", 1)[0] if az else None,
                az=az,
                resources=_ids([inst.get("id"), inst.get("name")]),
                description="canReschedule" if upcoming.get("canReschedule") else "",
            )
        )
    return out, ignored


def _gcp_metadata(text: str, feed: str, now: float, unknown_duration: float, instance_id) -> tuple[list, int]:
    value = text.strip()
    if value == "NONE":
        return [], 0
    if value not in GCP_EVENTS:
        raise FeedError(f"{feed}: maintenance-event value {value[:60]!r} is not NONE or one of {', '.join(GCP_EVENTS)}")
    if not instance_id:
        raise FeedError(
            f"{feed}: a maintenance-event value is about one instance; the feed entry must name instance_id"
        )
    end = None if value.startswith("TERMINATE") else now + unknown_duration
    return [
        Maintenance(
            feed=feed,
            provider="gcp",
            event_id=f"{instance_id}/maintenance-event",
            kind=value,
            status="started",
            start=now,
            end=end,
            resources=_ids([instance_id]),
            description="host maintenance in progress (metadata server)",
        )
    ], 0


# -- reading a feed entry ---------------------------------------------------------------------------------------
def check_feed(entry, index: int) -> dict:
    """A feed entry of the policy (conflicts.feeds[i]) -> a plain dict; FeedError names what is wrong."""
    where = f"conflicts.feeds[{index}]"
    if not isinstance(entry, Mapping):
        raise FeedError(f"{where}: must be a mapping with format and src")
    unknown = sorted(str(k) for k in entry if k not in FEED_KEYS)
    if unknown:
        raise FeedError(f"{where}: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(FEED_KEYS)})")
    if entry.get("format") not in FORMATS:
        raise FeedError(f"{where}.format must be one of {', '.join(FORMATS)}")
    if not isinstance(entry.get("src"), str) or not entry["src"].strip():
        raise FeedError(f"{where}.src: a path or http(s) URL is required")
    api = aws_health_api.is_api(entry["src"])
    if api and entry["format"] != "aws_health":
        raise FeedError(f"{where}.src: {aws_health_api.API_SRC} is the AWS Health API, a feed of format aws_health")
    given = [k for k in aws_health_api.API_KEYS if entry.get(k) is not None]
    if given and not api:
        raise FeedError(f"{where}: {', '.join(given)} only for src {aws_health_api.API_SRC} (the AWS Health API)")
    out = dict(entry)
    out["name"] = entry.get("name") or fetch.display(entry["src"])
    return out


def parse(fmt: str, body: bytes, feed: str, now: float, unknown_duration=DEFAULT_UNKNOWN_DURATION, instance_id=None):
    """(maintenances, ignored count) of one feed document."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise FeedError(f"{feed}: not UTF-8 text") from None
    try:
        doc = json.loads(text)
    except ValueError:
        if fmt != "gcp_maintenance":
            raise FeedError(f"{feed}: not JSON") from None
        doc = text
    if fmt == "aws_health":
        return parse_aws(doc, feed)
    if fmt == "azure_scheduled_events":
        return parse_azure(doc, feed, now, unknown_duration)
    if fmt == "gcp_maintenance":
        return parse_gcp(doc, feed, now, unknown_duration, instance_id)
    raise FeedError(f"{feed}: unknown format {fmt!r}")


def read_feeds(entries, now: float, *, unknown_duration=DEFAULT_UNKNOWN_DURATION, timeout=10.0, resolve_path=None):
    """Read every feed: (maintenances, feeds read [{name, format, provider, events, ignored}], errors).
    A feed that cannot be read or parsed becomes an error naming it; the others are still read."""
    maintenances, read, errors = [], [], []
    for index, raw in enumerate(entries or ()):
        try:
            entry = check_feed(raw, index)
        except FeedError as exc:
            errors.append(str(exc))
            continue
        name = entry["name"]
        try:
            if aws_health_api.is_api(entry["src"]):
                # signed API calls (boto3); their answers put together are read as a recorded document is
                found, ignored = parse_aws(aws_health_api.describe(entry, timeout), name)
            else:
                # Azure's IMDS refuses a request without Metadata: true, GCP's metadata server one without
                # Metadata-Flavor: Google; the operator's headers come on top
                headers = dict(METADATA_HEADERS.get(entry["format"], {})) if fetch.is_url(entry["src"]) else {}
                headers.update(entry.get("headers") or {})
                body = fetch.get_ok(entry["src"], headers=headers, timeout=timeout, resolve_path=resolve_path)
                found, ignored = parse(entry["format"], body, name, now, unknown_duration, entry.get("instance_id"))
        except (fetch.SourceUnreachable, FeedError) as exc:
            errors.append(f"feed {name}: {exc}" if not str(exc).startswith(name) else f"feed {exc}")
            continue
        region = (entry.get("region") or "").lower() or None
        if region:  # a per-region document that does not say its region itself (Azure's IMDS)
            found = [m if m.region else _with_region(m, region) for m in found]
        maintenances.extend(found)
        read.append(
            {
                "name": name,
                "format": entry["format"],
                "provider": PROVIDER_OF[entry["format"]],
                "events": len(found),
                "ignored": ignored,
            }
        )
    return maintenances, read, errors


def _with_region(m: Maintenance, region: str) -> Maintenance:
    return Maintenance(**{**m.__dict__, "region": region})


# -- hosts ------------------------------------------------------------------------------------------------------
def affected_hosts(m: Maintenance, hosts: Mapping) -> tuple[list, list]:
    """(affected, unmapped) host names among hosts ({name: labels}) for one maintenance."""
    affected, unmapped = [], []
    for name, labels in sorted(hosts.items()):
        if str(labels.get("provider") or "").lower() != m.provider:
            continue
        region = str(labels.get("region") or "").lower()
        az = str(labels.get("az") or "").lower()
        if m.region and region and region != m.region:
            continue
        if m.az and az and az != m.az:
            continue
        if not m.resources:
            affected.append(name)
            continue
        instance = str(labels.get("instance_id") or "").lower()
        if not instance:
            unmapped.append(name)
        elif instance in m.resources:
            affected.append(name)
    return affected, unmapped
