#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: rollback
author: changeward maintainers (!UNKNOWN)
version_added: "0.1.0"
short_description: Roll a host back to a snapshot taken by changeward.hybrid.snapshot, and verify it
description:
  - Restores a snapshot taken by M(changeward.hybrid.snapshot) on the same host, in this order -
    stops the services that were stopped at snapshot time; puts package versions back (dpkg from the
    archive in the snapshot or with C(apt-get install pkg=version), rpm from the archive in the snapshot;
    removes packages that were not installed); puts files back (removes what the change added,
    recreates what it removed, rewrites what it modified, with mode, owner, xattrs and mtime);
    restores service boot enablement; starts the services that were running, restarting those that
    kept running while their files or packages were restored; then verifies every item against the
    manifest and runs the verification commands again.
  - Files are replaced atomically (temp file in the same directory, synced to disk, then renamed).
    Only files whose content differs are rewritten; a file is trusted to be unchanged while its device,
    inode, size, mtime and ctime match those recorded when it was hashed (by the snapshot or an earlier
    rollback), as ctime cannot be set back by user space.
  - Idempotent - every step compares first and does nothing when the state already matches, so a second
    run reports C(changed=false). A run that was killed half-way is completed by the next run.
  - With O(deadline_seconds) the module fails as soon as the deadline passes (a rerun continues) and also
    when a completed rollback took longer than the deadline; RV(duration_seconds) reports the time.
options:
  change_id:
    description:
      - Change whose snapshot to restore; the oldest complete snapshot of the change is used (the state
        before the change). With O(snapshot_id), must match the snapshot's change.
    type: str
  snapshot_id:
    description:
      - Exact snapshot to restore. When only C(<store>/<snapshot_id>.tar) exists (copied back from the
        controller), it is unpacked first.
    type: str
  store:
    description: Directory on the target that holds the snapshots.
    type: path
    default: /var/lib/changeward/snapshots
  deadline_seconds:
    description: Time budget for the whole rollback, in seconds.
    type: float
  read_back_clones:
    description:
      - Whether a file restored by cloning (RV(method=reflink)) is read back and its sha256 checked before it
        replaces the current file.
      - V(auto) skips that read only where it proves nothing more - the snapshot copy is on btrfs with data
        checksums (not mounted C(nodatasum)/C(nodatacow), file not NOCOW) and still has the identity (device,
        inode, size, mtime, ctime) the snapshot recorded when it wrote and hashed it. Any write to the copy
        changes its ctime, and btrfs refuses to return data that fails its checksum. What media damage it
        leaves then shows as a read error on the restored file, not during the rollback.
      - V(always) reads back every clone, so media damage under the snapshot copy fails the rollback itself.
    type: str
    choices: [auto, always]
    default: auto
extends_documentation_fragment:
  - changeward.hybrid.ledger.target
notes:
  - Check mode reports what would be restored without changing anything.
  - The module fails when anything could not be restored or does not verify; the result still carries
    RV(restored), RV(cannot_restore), RV(failed) and RV(verification).
attributes:
  check_mode:
    support: full
    description: Reports what would be restored; nothing is changed.
  diff_mode:
    support: full
    description:
      - Before, every item that differs from the snapshot (what is, or in check mode would be, restored); after,
        what still differs - in check mode what cannot be restored, after a real run what failed, cannot be
        restored or does not verify. No diff when the host already matches the snapshot.
  platform:
    support: full
    platforms: posix
    description: Linux targets; Python 3.8 or later.
seealso:
  - module: changeward.hybrid.snapshot
  - module: changeward.hybrid.snapshot_prune
"""

EXAMPLES = r"""
- name: Roll the change back within five minutes
  changeward.hybrid.rollback:
    change_id: "{{ change_id }}"
    deadline_seconds: 300
  register: rb

- name: Restore a host from the copy kept on the controller
  block:
    - name: Put the archive back into the store
      ansible.builtin.copy:
        src: "snapshots/{{ inventory_hostname }}/{{ snapshot_id }}.tar"
        dest: "/var/lib/changeward/snapshots/{{ snapshot_id }}.tar"
        mode: "0600"
    - name: Roll back from it
      changeward.hybrid.rollback:
        snapshot_id: "{{ snapshot_id }}"
"""

RETURN = r"""
snapshot_id:
  description: The snapshot restored.
  returned: when a snapshot was found
  type: str
  sample: CHG-42.20250101T120000000000Z.a1b2c3
change_id:
  description: Its change.
  returned: when a snapshot was found
  type: str
  sample: CHG-42
store:
  description: The snapshot store.
  returned: when a snapshot was found
  type: str
  sample: /var/lib/changeward/snapshots
restored:
  description: What was (or in check mode would be) restored, one line per item, with what differed.
  returned: when a snapshot was found
  type: list
  elements: str
  sample: ["file:/etc/app/app.conf (content, mtime)", "added:/etc/app/new.conf (removed: the change added it)"]
unchanged:
  description: Items that already matched the snapshot.
  returned: when a snapshot was found
  type: list
  elements: str
  sample: ["file:/etc/app/tls.conf", "dir:/etc/app"]
cannot_restore:
  description:
    - Items the host cannot be brought back to (for example a package version with no archive), with the reason.
  returned: when a snapshot was found
  type: list
  elements: dict
  sample: [{item: "package:nginx", reason: "is 1.22.1-9, snapshot had 1.22.1-8: no archive of nginx 1.22.1-8"}]
failed:
  description: Items whose restore failed, with the error.
  returned: when a snapshot was found
  type: list
  elements: dict
  sample: [{item: "file:/etc/app/app.conf", error: "[Errno 28] No space left on device"}]
verification:
  description: Every difference between the host and the manifest found after the rollback (empty when verified).
  returned: when the rollback ran to the end
  type: list
  elements: dict
  sample: [{item: "file:/etc/app/app.conf", problem: "differs from the snapshot: content"}]
verified:
  description: True when every item matches the snapshot and nothing failed or was left unrestorable.
  returned: when a snapshot was found
  type: bool
  sample: true
resumed:
  description: True when an earlier run of this rollback did not finish and this run completed it.
  returned: when a snapshot was found
  type: bool
  sample: false
method:
  description:
    - How the contents of restored files were written. V(reflink) when every one was cloned from the snapshot
      (same btrfs or XFS reflink file system, so only metadata was written), V(copy) when every one was
      copied, V(mixed) when some clones were refused and those files were copied, V(none) when no content
      was written (nothing changed, or check mode).
  returned: when a snapshot was found
  type: str
  sample: reflink
method_counts:
  description: Number of files whose content was restored by each method.
  returned: when a snapshot was found
  type: dict
  sample: {reflink: 900, copy: 0}
unread_clones:
  description: Clones trusted without reading them back (see O(read_back_clones)).
  returned: when a snapshot was found
  type: int
  sample: 900
duration_seconds:
  description: Time the rollback took.
  returned: when a snapshot was found
  type: float
  sample: 1.207
deadline_seconds:
  description: The deadline it ran under.
  returned: when a snapshot was found
  type: float
  sample: 300.0
ledger_event:
  description:
    - CloudEvents-shaped event for the change's ledger, C(io.changeward.rollback.completed) or
      C(io.changeward.rollback.failed); null in check mode.
  returned: when a snapshot was found
  type: dict
  sample:
    specversion: "1.0"
    id: 0b6f3c1e-2f4d-4c8e-9a1b-5d7e8f9a0b1c
    source: changeward.hybrid/web-01
    type: io.changeward.rollback.completed
    time: "2025-01-01T12:00:01.123456Z"
    subject: CHG-42
    datacontenttype: application/json
    data: {snapshot_id: CHG-42.20250101T120000000000Z.a1b2c3, restored: 2, unchanged: 16, cannot_restore: 0,
           failed: 0, verified: true, duration_seconds: 1.207, deadline_seconds: 300.0, resumed: false}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot import restore
from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot.errors import DeadlineExceeded, SnapshotError
from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot.manifest import DEFAULT_STORE
from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot.proc import Runner


def ensure_restored(module):
    params = module.params
    return restore.rollback(
        store=params["store"],
        change_id=params["change_id"],
        snapshot_id=params["snapshot_id"],
        deadline_seconds=params["deadline_seconds"],
        read_back_clones=params["read_back_clones"] == "always",
        check_mode=module.check_mode,
        runner=Runner(module.run_command),
    )


def run(module):
    try:
        result = ensure_restored(module)
    except DeadlineExceeded as exc:
        module.fail_json(
            msg=str(exc), error="DeadlineExceeded", elapsed_seconds=round(exc.elapsed, 3), **getattr(exc, "result", {})
        )
    except SnapshotError as exc:
        module.fail_json(msg=str(exc), error=type(exc).__name__)
    except OSError as exc:
        module.fail_json(msg="rollback failed: %s" % exc, error="OSError")
    if not module.check_mode and not result["verified"]:
        problems = result["failed"] + result["cannot_restore"] + result["verification"]
        module.fail_json(
            msg="rollback of %s is incomplete: %d item(s) could not be restored or do not verify"
            % (result["snapshot_id"], len(problems)),
            error="NotVerified",
            **result,
        )
    return result


def main():
    module = AnsibleModule(
        argument_spec={
            "ledger": {"type": "str"},  # module_defaults of the group; its action never sends it
            "key": {"type": "str", "no_log": True},
            "change_id": {"type": "str"},
            "snapshot_id": {"type": "str"},
            "store": {"type": "path", "default": DEFAULT_STORE},
            "deadline_seconds": {"type": "float"},
            "read_back_clones": {"type": "str", "default": "auto", "choices": ["auto", "always"]},
        },
        required_one_of=[["change_id", "snapshot_id"]],
        supports_check_mode=True,
    )
    module.exit_json(**run(module))


if __name__ == "__main__":
    main()
