#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: snapshot
author: changeward maintainers (!UNKNOWN)
version_added: "0.1.0"
short_description: Snapshot what a change will touch on a host, so the change can be rolled back
description:
  - Captures, for a change id, a declared scope on the target host into a snapshot store on that host
    (file-level backend).
  - Files and directory trees are captured with content, mode, owner and group, symlink targets, all
    extended attributes (SELinux context, ACLs, file capabilities) and mtime. A scope path that does not
    exist is recorded as absent, so rollback removes it (and any parent directories the change created).
    Directories are captured exactly; rollback removes anything the change added inside them.
  - Package versions (dpkg or rpm) are captured together with a way back to them; the package archive is
    copied into the snapshot when one is found.
  - Service states (running, enabled at boot) are captured with systemd when it is PID 1, otherwise with
    the LSB fallback (C(/etc/init.d/<svc> status), C(/etc/rc2.d/S*) links).
  - Verification commands are run and their exit code and a sha256 of their output are recorded;
    M(changeward.hybrid.rollback) runs them again and compares.
  - The manifest (sha256 per item) is written last and the snapshot directory is renamed into place only
    after it is on disk, so an interrupted snapshot is never used.
  - Free space is measured before anything is written; with too little room the module fails and the
    store is left untouched.
  - Whatever cannot be captured is listed in RV(not_covered) with the reason, and RV(coverage) says
    C(partial). A host labelled O(rollback_capability=none) is reported as not restorable and nothing is
    captured.
  - To keep a copy off the host (for a host whose disk may be lost), set O(archive=true) and fetch
    RV(archive) with M(ansible.builtin.fetch) (C(flat=true)). To restore from that copy, put the file back
    as C(<store>/<snapshot_id>.tar) and run M(changeward.hybrid.rollback) with
    O(changeward.hybrid.rollback#module:snapshot_id).
options:
  change_id:
    description:
      - Id of the change record the snapshot belongs to. Letters, digits, C(.), C(_) and C(-).
    type: str
    required: true
  scope:
    description: What the change touches.
    type: dict
    required: true
    suboptions:
      paths:
        description:
          - Absolute paths of files or directories. Directories are captured recursively without following
            symlinks; a symlink is captured as a link.
          - Paths that do not exist are captured as absent.
        type: list
        elements: path
        default: []
      packages:
        description: Names of packages whose installed version (or absence) is captured.
        type: list
        elements: str
        default: []
      services:
        description: Names of services whose running and boot-enabled state is captured.
        type: list
        elements: str
        default: []
      verify_commands:
        description:
          - Shell commands whose exit code and output are recorded now and compared after a rollback,
            for example a schema version query. Only a sha256 of the output is stored.
          - Do not put secrets on the command line; read them from a file or the environment.
        type: list
        elements: dict
        default: []
        suboptions:
          name:
            description: Name of the check, used in results.
            type: str
            required: true
          cmd:
            description: Command line, run with C(/bin/sh -c).
            type: str
            required: true
          timeout:
            description: Seconds before the command is killed and the snapshot fails.
            type: int
            default: 60
  store:
    description:
      - Directory on the target that holds the snapshots. Created with mode 0700 if missing.
      - Must not overlap any scope path.
    type: path
    default: /var/lib/changeward/snapshots
  min_free:
    description:
      - Free space that must remain in the file system of O(store) after the snapshot, as bytes,
        a size (V(512M), V(2G)) or a percentage of the file system (V(10%)).
    type: str
    default: 5%
  archive:
    description:
      - Also write the snapshot as one tar file (RV(archive)) to fetch to the controller. Its size counts
        in the space check.
    type: bool
    default: false
  rollback_capability:
    description:
      - The host's C(rollback_capability) label. V(none) captures nothing and reports the host as not
        restorable; V(partial) captures but never claims full coverage; V(full) lets the module report
        the coverage it actually achieved.
      - When the task does not give it, the host's label is used - C(changeward_labels.rollback_capability),
        else the host variable C(rollback_capability) (the collection's one label lookup); V(full) for a host
        that has neither - it captures, and reports the coverage it actually achieved.
    type: str
    choices: [full, partial, none]
    default: full
  package_dirs:
    description:
      - Directories searched for package archives (C(.deb), C(.rpm)) of the installed versions, besides
        C(/var/cache/apt/archives).
    type: list
    elements: path
    default: []
  existing:
    description:
      - V(reuse) returns the existing (oldest) snapshot of the change when there is one, so a rerun of a
        half-failed change does not capture the changed state; it fails when that snapshot has a different
        scope. V(new) always takes a new snapshot.
    type: str
    choices: [reuse, new]
    default: reuse
extends_documentation_fragment:
  - changeward.hybrid.ledger.target
notes:
  - Check mode walks the scope, queries packages and services and checks the space, and reports what
    would be captured and its size; it writes nothing and does not run the verification commands.
  - Hard links are captured as independent files; fifos, sockets and device files are not captured (and
    left alone by rollback). Both are listed in RV(not_covered).
  - Directory mtimes are not restored.
attributes:
  check_mode:
    support: full
    description: Reports what would be captured and its size; nothing is written.
  diff_mode:
    support: full
    description:
      - The snapshot store before and after - the new snapshot with its id (in check mode, the one that would be
        taken), the counts of what it captures, its coverage and what it does not cover; for a reused snapshot
        whose archive is written, the archive. No diff when nothing changes.
  platform:
    support: full
    platforms: posix
    description: Linux targets; Python 3.8 or later.
seealso:
  - module: changeward.hybrid.rollback
  - module: changeward.hybrid.snapshot_prune
"""

EXAMPLES = r"""
- name: Snapshot what the change touches
  changeward.hybrid.snapshot:
    change_id: "{{ change_id }}"
    scope:
      paths: [/etc/nginx, /etc/default/nginx, /var/www/release]
      packages: [nginx]
      services: [nginx]
      verify_commands:
        - name: config
          cmd: nginx -T 2>/dev/null | sha256sum
    min_free: 10%
    archive: true
  register: snap

- name: Keep a copy on the controller
  ansible.builtin.fetch:
    src: "{{ snap.archive }}"
    dest: "snapshots/{{ inventory_hostname }}/"
    flat: true
  when: snap.archive is truthy

- name: Stop when the host cannot be rolled back
  ansible.builtin.assert:
    that: snap.restorable
    fail_msg: "{{ inventory_hostname }} is not restorable: {{ snap.not_covered | map(attribute='reason') | list }}"
"""

RETURN = r"""
snapshot_id:
  description: Id of the snapshot taken or reused; null in check mode and when nothing was captured.
  returned: always
  type: str
  sample: CHG-42.20250101T120000000000Z.a1b2c3
manifest:
  description: Path of the manifest on the target.
  returned: always
  type: str
  sample: /var/lib/changeward/snapshots/CHG-42.20250101T120000000000Z.a1b2c3/manifest.json
archive:
  description: Path of the tar archive to fetch, when O(archive=true).
  returned: always
  type: str
  sample: /var/lib/changeward/snapshots/CHG-42.20250101T120000000000Z.a1b2c3.tar
store:
  description: The snapshot store.
  returned: always
  type: str
  sample: /var/lib/changeward/snapshots
change_id:
  description: The change id.
  returned: always
  type: str
  sample: CHG-42
item_count:
  description: Number of captured items (files, directories, links, absent paths, packages, services).
  returned: always
  type: int
  sample: 18
bytes:
  description: Bytes of content stored (files and package archives, counted once per distinct content).
  returned: always
  type: int
  sample: 40960
captured:
  description: Counts per kind of what was (or would be) captured.
  returned: when something was captured or planned
  type: dict
  sample: {files: 12, dirs: 3, symlinks: 1, absent: 1, packages: 1, services: 1, verify_commands: 1, bytes: 40960}
not_covered:
  description: What the snapshot cannot restore, each with kind, name and reason.
  returned: always
  type: list
  elements: dict
  sample: [{kind: package, name: nginx, reason: "no archive of nginx 1.22.1-9 (amd64) ..."}]
coverage:
  description: V(full) when everything in scope is covered, V(partial) when something is not (or the host is
    labelled partial), V(none) for a host labelled none.
  returned: always
  type: str
  sample: full
restorable:
  description: False when the host is labelled rollback_capability none.
  returned: always
  type: bool
  sample: true
rollback_capability:
  description: The label value the module was given.
  returned: always
  type: str
  sample: full
reused:
  description: True when an existing snapshot of the change was returned instead of a new one.
  returned: always
  type: bool
  sample: false
space:
  description: Free, needed and headroom bytes of the store's file system at the space check.
  returned: when a snapshot was taken or planned
  type: dict
  sample: {free_bytes: 8589934592, needed_bytes: 61440, headroom_bytes: 536870912, total_bytes: 10737418240}
method:
  description:
    - How file contents were stored. V(reflink) when every file was cloned (the store and the files share
      a btrfs or XFS reflink file system, so no data was copied), V(copy) when every file was copied,
      V(mixed) when some clones were refused and those files were copied, V(none) when nothing was written
      (check mode, a reused snapshot, a host labelled none).
  returned: always
  type: str
  sample: reflink
method_counts:
  description: Number of files (and package archives) stored by each method.
  returned: always
  type: dict
  sample: {reflink: 1000, copy: 0}
duration_seconds:
  description: Time the module took.
  returned: always
  type: float
  sample: 0.412
ledger_event:
  description:
    - CloudEvents-shaped event for the change's ledger (type C(io.changeward.snapshot.taken), or
      C(io.changeward.snapshot.not_restorable) for a host labelled none); null when nothing was recorded
      (check mode, reused snapshot).
  returned: always
  type: dict
  sample:
    specversion: "1.0"
    id: 0b6f3c1e-2f4d-4c8e-9a1b-5d7e8f9a0b1c
    source: changeward.hybrid/web-01
    type: io.changeward.snapshot.taken
    time: "2025-01-01T12:00:01.123456Z"
    subject: CHG-42
    datacontenttype: application/json
    data: {snapshot_id: CHG-42.20250101T120000000000Z.a1b2c3, coverage: full, item_count: 18, bytes: 40960,
           not_covered: 0, archive: true, duration_seconds: 0.412}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot import capture
from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot.errors import SnapshotError, SpaceError
from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot.manifest import DEFAULT_STORE
from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot.proc import Runner


def ensure_present(module):
    params = module.params
    return capture.take(
        change_id=params["change_id"],
        scope=params["scope"],
        store=params["store"],
        min_free=params["min_free"],
        archive=params["archive"],
        rollback_capability=params["rollback_capability"],
        package_dirs=params["package_dirs"],
        existing=params["existing"],
        check_mode=module.check_mode,
        runner=Runner(module.run_command),
    )


def run(module):
    try:
        return ensure_present(module)
    except SpaceError as exc:
        module.fail_json(
            msg=str(exc), error="SpaceError", needed_bytes=exc.needed, free_bytes=exc.free, headroom_bytes=exc.headroom
        )
    except SnapshotError as exc:
        module.fail_json(msg=str(exc), error=type(exc).__name__)
    except OSError as exc:
        module.fail_json(msg="snapshot failed: %s" % exc, error="OSError")


def main():
    module = AnsibleModule(
        argument_spec={
            "ledger": {"type": "str"},  # module_defaults of the group; its action never sends it
            "key": {"type": "str", "no_log": True},
            "change_id": {"type": "str", "required": True},
            "scope": {
                "type": "dict",
                "required": True,
                "options": {
                    "paths": {"type": "list", "elements": "path", "default": []},
                    "packages": {"type": "list", "elements": "str", "default": []},
                    "services": {"type": "list", "elements": "str", "default": []},
                    "verify_commands": {
                        "type": "list",
                        "elements": "dict",
                        "default": [],
                        "options": {
                            "name": {"type": "str", "required": True},
                            "cmd": {"type": "str", "required": True},
                            "timeout": {"type": "int", "default": 60},
                        },
                    },
                },
            },
            "store": {"type": "path", "default": DEFAULT_STORE},
            "min_free": {"type": "str", "default": "5%"},
            "archive": {"type": "bool", "default": False},
            "rollback_capability": {"type": "str", "choices": ["full", "partial", "none"], "default": "full"},
            "package_dirs": {"type": "list", "elements": "path", "default": []},
            "existing": {"type": "str", "choices": ["reuse", "new"], "default": "reuse"},
        },
        supports_check_mode=True,
    )
    module.exit_json(**run(module))


if __name__ == "__main__":
    main()
