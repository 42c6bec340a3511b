#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: snapshot_prune
author: changeward maintainers (!UNKNOWN)
version_added: "0.1.0"
short_description: Prune a host's snapshot store by age and count, never touching open changes
description:
  - Removes snapshots taken by M(changeward.hybrid.snapshot) from the host's store when they are older than
    O(max_age) or beyond the newest O(max_count).
  - A snapshot whose change id is in O(protected_change_ids) is never removed. Pass the ledger's open
    changes there; the option is required so that forgetting it cannot prune what an open change needs.
  - Damaged snapshots (unreadable manifest) are reported and kept. Captures that were interrupted and
    are no longer running are removed.
  - A snapshot is first renamed out of the way and then deleted, so an interrupted prune never leaves
    something that looks like a complete snapshot.
options:
  store:
    description: Directory on the target that holds the snapshots.
    type: path
    default: /var/lib/changeward/snapshots
  max_age:
    description:
      - Remove unprotected snapshots older than this - a duration such as V(14d) or V(1d12h) (units V(s), V(m),
        V(h), V(d), V(w), V(y), largest first) or a number of seconds; V(0) removes every unprotected one.
    type: str
  max_count:
    description:
      - Keep at most this many unprotected snapshots (the newest); protected snapshots are kept in
        addition.
    type: int
  protected_change_ids:
    description:
      - Change ids whose snapshots must be kept, normally the open changes from the ledger. Use V([]) when
        there are none.
    type: list
    elements: str
    required: true
extends_documentation_fragment:
  - changeward.hybrid.ledger.target
attributes:
  check_mode:
    support: full
    description: Reports what would be pruned; nothing is removed.
  diff_mode:
    support: none
    description: Not supported.
  platform:
    support: full
    platforms: posix
    description: Linux targets; Python 3.8 or later.
seealso:
  - module: changeward.hybrid.snapshot
  - module: changeward.hybrid.rollback
"""

EXAMPLES = r"""
- name: Keep two weeks and at most ten snapshots, except for open changes
  changeward.hybrid.snapshot_prune:
    max_age: 14d
    max_count: 10
    protected_change_ids: "{{ open_change_ids }}"
"""

RETURN = r"""
store:
  description: The snapshot store.
  returned: always
  type: str
  sample: /var/lib/changeward/snapshots
pruned:
  description: Snapshots removed (or that would be), with snapshot_id, change_id, created and reason.
  returned: always
  type: list
  elements: dict
  sample: [{snapshot_id: CHG-40.20241201T080000000000Z.9f8e7d, change_id: CHG-40, created: "2024-12-01T08:00:00Z",
            reason: "older than max_age (2678400s > 2592000s)"}]
kept:
  description: Ids of unprotected snapshots kept.
  returned: always
  type: list
  elements: str
  sample: [CHG-41.20241215T100000000000Z.1a2b3c]
protected:
  description: Ids of snapshots kept because their change is open.
  returned: always
  type: list
  elements: str
  sample: [CHG-42.20250101T120000000000Z.a1b2c3]
damaged:
  description: Snapshots whose manifest does not check out, with the error; never removed automatically.
  returned: always
  type: list
  elements: dict
  sample: [{snapshot_id: CHG-39.20241130T090000000000Z.4d5e6f, error: "manifest.json: sha256 of item 3 does not match"}]
abandoned:
  description: Interrupted captures and archive temp files removed.
  returned: always
  type: list
  elements: str
  sample: [/var/lib/changeward/snapshots/CHG-43.20250102T090000000000Z.7a8b9c.partial]
freed_bytes:
  description: Bytes freed (or that would be).
  returned: always
  type: int
  sample: 1048576
ledger_events:
  description: One CloudEvents-shaped C(io.changeward.snapshot.pruned) event per change whose snapshots were removed.
  returned: always
  type: list
  elements: dict
  sample:
    - specversion: "1.0"
      id: 0b6f3c1e-2f4d-4c8e-9a1b-5d7e8f9a0b1c
      source: changeward.hybrid/web-01
      type: io.changeward.snapshot.pruned
      time: "2025-01-01T12:00:01.123456Z"
      subject: CHG-40
      datacontenttype: application/json
      data: {snapshot_ids: [CHG-40.20241201T080000000000Z.9f8e7d], store: /var/lib/changeward/snapshots}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot import retention
from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot.errors import SnapshotError
from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot.manifest import DEFAULT_STORE


def ensure_pruned(module):
    params = module.params
    max_age = retention.parse_duration(params["max_age"]) if params["max_age"] is not None else None
    return retention.prune(
        store=params["store"],
        protected_change_ids=params["protected_change_ids"],
        max_age_seconds=max_age,
        max_count=params["max_count"],
        check_mode=module.check_mode,
    )


def run(module):
    try:
        return ensure_pruned(module)
    except SnapshotError as exc:
        module.fail_json(msg=str(exc), error=type(exc).__name__)
    except OSError as exc:
        module.fail_json(msg="prune failed: %s" % exc, error="OSError")


def main():
    module = AnsibleModule(
        argument_spec={
            "ledger": {"type": "str"},  # module_defaults of the group; its action never sends it
            "key": {"type": "str", "no_log": True},
            "store": {"type": "path", "default": DEFAULT_STORE},
            "max_age": {"type": "str"},
            "max_count": {"type": "int"},
            "protected_change_ids": {"type": "list", "elements": "str", "required": True},
        },
        required_one_of=[["max_age", "max_count"]],
        supports_check_mode=True,
    )
    module.exit_json(**run(module))


if __name__ == "__main__":
    main()
