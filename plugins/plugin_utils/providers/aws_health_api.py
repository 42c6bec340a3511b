# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The AWS Health API itself: DescribeEvents and DescribeAffectedEntities through boto3, for a feed whose ``src`` is
``aws:health`` (docs/calendars-across-providers.md).

boto3 signs each request (SigV4) with the credentials of the usual chain: the environment (AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), AWS_PROFILE or the entry's ``profile``, web identity, the container or
instance role. The Health API is global: its endpoint region is us-east-1 (boto3's global endpoint,
global.health.amazonaws.com); ``endpoint_url`` names another one (us-east-2 when us-east-1 is impaired, a VPC
endpoint, a test server), its signing region read from a ``health.<region>.`` host name.

The answers are put together as one document - ``{"events": [...], "entities": [...]}``, times in epoch seconds -
which feeds.parse_aws reads exactly like a recorded one. Any failure (no credentials, no Business/Enterprise
support subscription, access denied, no answer) is SourceUnreachable: the gate cannot decide.
"""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import urlsplit

from .fetch import SourceUnreachable

API_SRC = "aws:health"
API_KEYS = ("endpoint_url", "profile")
DEFAULT_REGION = "us-east-1"
EVENT_FILTER = {"eventTypeCategories": ["scheduledChange"], "eventStatusCodes": ["open", "upcoming"]}
ARNS_PER_CALL = 10  # DescribeAffectedEntities takes at most 10 event ARNs per filter
PAGE = 100
_REGION_HOST = re.compile(r"(?:^|\.)health\.([a-z]{2}(?:-[a-z]+)+-\d)\.")


def is_api(src) -> bool:
    return isinstance(src, str) and src.strip().lower() == API_SRC


def signing_region(endpoint_url: str | None) -> str:
    """us-east-1, or the region a regional Health endpoint's host name says (health.us-east-2.amazonaws.com)."""
    if not endpoint_url:
        return DEFAULT_REGION
    found = _REGION_HOST.search(urlsplit(endpoint_url).hostname or "")
    return found.group(1) if found else DEFAULT_REGION


def _plain(value):
    """boto3's answer as JSON values: datetimes become epoch seconds, as the Health API sends them."""
    if isinstance(value, dt.datetime):
        return value.timestamp()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def client(entry, timeout: float):
    """A Health client of boto3 for the entry (profile, endpoint_url), retrying like the collection's HTTP client."""
    try:
        import boto3
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError
    except ImportError as exc:
        raise SourceUnreachable(f"reading the AWS Health API needs boto3 on the controller ({exc})") from None
    config = Config(
        connect_timeout=timeout,
        read_timeout=timeout,
        retries={"max_attempts": 3, "mode": "standard"},
        user_agent_extra="changeward-conflicts",
    )
    try:
        session = boto3.session.Session(profile_name=entry.get("profile") or None)
        return session.client(
            "health",
            region_name=signing_region(entry.get("endpoint_url")),
            endpoint_url=entry.get("endpoint_url") or None,
            config=config,
        )
    except (BotoCoreError, ValueError) as exc:  # ProfileNotFound, a refused credential source: never a secret
        raise SourceUnreachable(f"AWS Health API: {type(exc).__name__}: {exc}") from None


def describe(entry, timeout: float = 10.0, health=None) -> dict:
    """{"events": [...], "entities": [...]}: the account's open and upcoming scheduled changes and their entities."""
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError as exc:
        raise SourceUnreachable(f"reading the AWS Health API needs boto3 on the controller ({exc})") from None
    health = health or client(entry, timeout)
    where = f"AWS Health API ({health.meta.endpoint_url})"
    try:
        events = []
        for page in health.get_paginator("describe_events").paginate(
            filter=EVENT_FILTER, PaginationConfig={"PageSize": PAGE}
        ):
            events += page.get("events") or []
        arns = [e["arn"] for e in events if e.get("arn")]
        entities = []
        for i in range(0, len(arns), ARNS_PER_CALL):
            for page in health.get_paginator("describe_affected_entities").paginate(
                filter={"eventArns": arns[i : i + ARNS_PER_CALL]}, PaginationConfig={"PageSize": PAGE}
            ):
                entities += page.get("entities") or []
    except ClientError as exc:
        error = exc.response.get("Error") or {}
        code = error.get("Code") or "error"
        hint = (
            " (the Health API needs a Business, Enterprise On-Ramp or Enterprise support plan)"
            if code == "SubscriptionRequiredException"
            else ""
        )
        raise SourceUnreachable(f"{where}: {code}: {error.get('Message') or ''}{hint}".rstrip(": ")) from None
    except (BotoCoreError, ValueError) as exc:
        # no credentials, a credential source botocore refuses (ValueError), no answer, a broken answer: say which,
        # never a secret
        raise SourceUnreachable(f"{where}: {type(exc).__name__}: {exc}") from None
    return {"events": _plain(events), "entities": _plain(entities)}
