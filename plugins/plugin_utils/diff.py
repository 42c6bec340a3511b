# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Diff mode (``--diff``) for the modules that run on managed hosts, built on the controller from their results.

Each diff is a before/after pair of mappings, as servicenow.itsm's modules return for a record: Ansible prints
it as a unified diff of the two. The functions only read a module result, so the module stays the same in and
out of check mode and the diff of a check run says exactly what the real run would do.
"""

from __future__ import annotations


def _names(entries, key="item"):
    return sorted(str(entry.get(key, entry)) if isinstance(entry, dict) else str(entry) for entry in entries or ())


def snapshot_diff(result: dict) -> dict | None:
    """The store before and after changeward.hybrid.snapshot: the new snapshot and what it captures.

    None when the task changed nothing (a reused snapshot, a host labelled rollback_capability none)."""
    if not result.get("changed"):
        return None
    store, change_id = result.get("store"), result.get("change_id")
    if result.get("reused"):
        # Only the archive of an existing snapshot was (or would be) written.
        sid = result.get("snapshot_id")
        before = {"snapshot_id": sid, "archive": None}
        after = {"snapshot_id": sid, "archive": result.get("archive") or f"{store}/{sid}.tar (would be written)"}
    else:
        before = {"change_id": change_id, "snapshot": None}
        after = {
            "change_id": change_id,
            "snapshot": {
                "snapshot_id": result.get("snapshot_id") or "(a new snapshot: check mode)",
                "captured": result.get("captured") or {},
                "coverage": result.get("coverage"),
                "not_covered": _names(result.get("not_covered"), "name"),
            },
        }
    return {"before": before, "after": after, "before_header": store, "after_header": store}


def rollback_diff(result: dict, check_mode: bool) -> dict | None:
    """The host against its snapshot before and after changeward.hybrid.rollback.

    Before: every item that differs from the snapshot (what is, or would be, restored). After: what still
    differs - in check mode what cannot be restored, after a real run what failed, cannot be restored or does
    not verify. None when nothing differed."""
    restored = list(result.get("restored") or ())
    if not restored:
        return None
    remaining = _names(result.get("cannot_restore"))
    if not check_mode:
        remaining = sorted(set(remaining) | set(_names(result.get("failed"))) | set(_names(result.get("verification"))))
    sid = result.get("snapshot_id")
    header = f"{result.get('store')}/{sid}"
    return {
        "before": {"snapshot_id": sid, "differs_from_snapshot": restored},
        "after": {"snapshot_id": sid, "differs_from_snapshot": remaining},
        "before_header": header,
        "after_header": header,
    }


def drift_diff(result: dict) -> dict | None:
    """The host as it is (before) and as the baseline declares it (after), for each drifted attribute: what a
    remediation would change. None when the host is in sync."""
    before, after = {}, {}
    for finding in result.get("findings") or ():
        item = f"{finding.get('class')}:{finding.get('item')}"
        attribute = str(finding.get("attribute"))
        before.setdefault(item, {})[attribute] = finding.get("actual")
        after.setdefault(item, {})[attribute] = finding.get("expected")
    if not before:
        return None
    return {"before": before, "after": after, "before_header": "host", "after_header": "baseline"}
