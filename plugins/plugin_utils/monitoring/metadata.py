# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Change metadata where people look: metrics that say which change is on which host, in which ring.

While a change runs, its metrics sit in a Prometheus pushgateway under the grouping key
``job="changeward", change_id="<id>"`` (or in a node-exporter textfile, the same text):

- ``changeward_change_info{change_id, service, ring, version, host, owner_team} 1`` per target host: PromQL and
  dashboards join on it (``... * on (host) group_left (change_id) changeward_change_info``), so an alert or a
  panel of a host names the change that is on it;
- ``changeward_change_rings_total{change_id, service}`` and ``changeward_change_rings_completed{...}``: progress;
- ``changeward_change_ring_status{change_id, service, ring, status} 1``: each ring's state (planned, started,
  passed, rolled_back, held, halted, unreachable).

The group is deleted when the change closes, so the info metric exists exactly during the change's window -
which is what makes "an alert on a change's host during its window" a join, and what dashboards annotate.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import quote

from ansible_collections.changeward.hybrid.plugins.plugin_utils.monitoring.http import HttpService, MonitoringError

JOB = "changeward"
INFO = "changeward_change_info"
RINGS_TOTAL = "changeward_change_rings_total"
RINGS_COMPLETED = "changeward_change_rings_completed"
RING_STATUS = "changeward_change_ring_status"
COMPLETED = ("passed", "rolled_back", "held", "halted", "unreachable")
PUBLISHED = "io.changeward.metadata.published"
WITHDRAWN = "io.changeward.metadata.withdrawn"
_VERSION_KEY = re.compile(r"^(.+_)?version$")


def _escape(value) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _series(name: str, labels: Mapping, value: float) -> str:
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
    return f"{name}{{{inner}}} {value:g}"


def release_version(explicit, apply: Mapping | None) -> str:
    """The version the change puts on its hosts: ``explicit``, else the one apply var named version or
    ``<something>_version``; 'unknown' when there is none or several (never a guess between two)."""
    if explicit not in (None, ""):
        return str(explicit)
    found = [str(v) for k, v in ((apply or {}).get("vars") or {}).items() if _VERSION_KEY.match(str(k))]
    return found[0] if len(found) == 1 else "unknown"


def exposition(
    change_id: str,
    service: str,
    version: str,
    rings: Iterable[Mapping],
    teams: Mapping[str, str],
    results: Iterable[Mapping] = (),
) -> str:
    """The text exposition format of the change's metrics. rings: the plan's rings ({name, hosts}); teams: host ->
    owner_team; results: the ring results recorded so far ({name, status})."""
    rings = [dict(r) for r in rings]
    if not rings:
        raise MonitoringError(f"change {change_id}: no rings to publish")
    status = {str(r.get("name")): str(r.get("status")) for r in results}
    base = {"change_id": change_id, "service": service}
    lines = [
        f"# HELP {INFO} A change in progress on a host: its id, service, ring and version.",
        f"# TYPE {INFO} gauge",
    ]
    for ring in rings:
        for host in ring.get("hosts") or []:
            labels = {**base, "ring": ring["name"], "version": version, "host": host, "owner_team": teams.get(host, "")}
            lines.append(_series(INFO, labels, 1))
    done = sum(1 for r in rings if status.get(r["name"]) in COMPLETED)
    lines += [
        f"# HELP {RINGS_TOTAL} Rings the change is planned in.",
        f"# TYPE {RINGS_TOTAL} gauge",
        _series(RINGS_TOTAL, base, len(rings)),
        f"# HELP {RINGS_COMPLETED} Rings of the change that have a verdict.",
        f"# TYPE {RINGS_COMPLETED} gauge",
        _series(RINGS_COMPLETED, base, done),
        f"# HELP {RING_STATUS} The state of each ring of the change.",
        f"# TYPE {RING_STATUS} gauge",
    ]
    for ring in rings:
        lines.append(
            _series(RING_STATUS, {**base, "ring": ring["name"], "status": status.get(ring["name"], "planned")}, 1)
        )
    return "\n".join(lines) + "\n"


def group_path(change_id: str) -> str:
    """The pushgateway path of the change's group (label values URL-encoded; never an empty segment)."""
    if not change_id:
        raise MonitoringError("a change's metrics need its change id")
    return f"/metrics/job/{JOB}/change_id/{quote(change_id, safe='')}"


class Pushgateway(HttpService):
    def __init__(self, url: str, **kwargs):
        super().__init__(url, "pushgateway", **kwargs)

    def replace(self, change_id: str, text: str) -> None:
        """PUT: the group holds exactly these metrics afterwards."""
        self.request("PUT", group_path(change_id), data=text.encode(), ok=(200, 202))

    def delete(self, change_id: str) -> None:
        self.request("DELETE", group_path(change_id), ok=(200, 202))
