# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""End a change's monitoring state from its ledger alone: the silences it created and the metadata it published.

The main job does this before it closes a change (alert_silence state=absent, change_metadata state=absent); the
change_closer callback calls ``withdraw`` for a change a run left open, so a run that breaks off leaves no silence
behind. Where to reach Alertmanager and the pushgateway is in the change's own events (their URLs without
credentials); tokens come from the environment (CHANGEWARD_ALERTMANAGER_TOKEN, CHANGEWARD_PUSHGATEWAY_TOKEN).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from ansible_collections.changeward.hybrid.plugins.plugin_utils.monitoring import alerts, metadata
from ansible_collections.changeward.hybrid.plugins.plugin_utils.monitoring.http import MonitoringError

ENV_PUSHGATEWAY_TOKEN = "CHANGEWARD_PUSHGATEWAY_TOKEN"  # noqa: S105 - the name of a variable, not a secret
TYPES = (alerts.SILENCED, alerts.UNSILENCED, metadata.PUBLISHED, metadata.WITHDRAWN)


def pending(events) -> dict:
    """What a change's events leave to undo: {alertmanager: [urls], silences: [ids], pushgateways: [urls]}."""
    events = [e for e in events if isinstance(e, Mapping)]
    managers = list(dict.fromkeys(e["data"]["alertmanager"] for e in events if e.get("type") == alerts.SILENCED))
    published, withdrawn = [], set()
    for e in events:
        where = (e.get("data") or {}).get("pushgateway")
        if where and e.get("type") == metadata.PUBLISHED:
            published.append(where)
        elif where and e.get("type") == metadata.WITHDRAWN:
            withdrawn.add(where)
    return {
        "alertmanager": managers,
        "silences": alerts.change_silence_ids(events),
        "pushgateways": [p for p in dict.fromkeys(published) if p not in withdrawn],
    }


def withdraw(ledger, change_id: str, env: Mapping | None = None) -> list[str]:
    """Expire the change's silences and delete its metadata, recording each in the ledger; returns the problems
    (empty when everything was undone). Silences end by themselves at the end of their window either way."""
    env = os.environ if env is None else env
    todo = pending(e.event for e in ledger.events(subject=change_id, types=list(TYPES)))
    problems = []
    for url in todo["alertmanager"]:
        try:
            client = alerts.Alertmanager(url, token=env.get(alerts.ENV_TOKEN), retries=1)
            done = alerts.expire_change_silences(client, change_id, todo["silences"])
        except MonitoringError as exc:
            problems.append(f"silences of {change_id} not removed: {exc}")
            continue
        if any(done.values()):
            ledger.record(alerts.UNSILENCED, change_id, {"alertmanager": client.safe_url, **done})
    for url in todo["pushgateways"]:
        try:
            metadata.Pushgateway(url, token=env.get(ENV_PUSHGATEWAY_TOKEN), retries=1).delete(change_id)
        except MonitoringError as exc:
            problems.append(f"metadata of {change_id} not withdrawn: {exc}")
            continue
        ledger.record(metadata.WITHDRAWN, change_id, {"pushgateway": url})
    return problems
