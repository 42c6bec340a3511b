#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: edge_update
author: changeward maintainers (!UNKNOWN)
version_added: "0.1.0"
short_description: Stage, activate, commit or roll back a release on an edge device with A/B slots
description:
  - Runs on the edge device. Keeps two slots per application (C(<root_dir>/<app>/slots/a) and C(b)) and an
    atomic C(current) symlink; managed paths (O(links), for example the service's config file) are symlinks
    into C(current), so one rename switches the release.
  - V(staged) downloads the release artifact into the inactive slot from an HTTP(S) source with Range
    requests, one chunk at a time, checking each chunk's sha256 against the signed manifest and the whole
    artifact's sha256 at the end. The download runs in a detached process on the device and persists its
    resume state after every verified chunk, so it survives the SSH session ending, link outages of any
    length (up to O(transfer.deadline)), the process being killed and the device restarting; it resumes
    from the last verified chunk, never from zero.
  - The manifest's Ed25519 signature is checked on the device with C(openssl pkeyutl -verify -rawin) before
    anything is downloaded (O(signature_check)), against the publisher keys pinned on the device
    (O(trust_file)), never against a key the controller sends. A manifest that does not verify, a chunk or
    artifact that does not match it, is refused and never activated.
  - V(provisioned) pins the publisher keys (O(trusted_keys)) on a device that has none yet. After that the
    pinned set changes only through a release signed with a pinned key whose manifest carries the new key
    (C(trust.add)) or the id of one to drop (C(trust.remove)); the device applies it when it accepts that
    release and records C(trust_rotated).
  - A release whose version is lower than the running one is refused (C(staging_refused), kind
    C(downgrade)) unless O(downgrade_authorization) is signed by a pinned key and names this app, this
    release and version, and this device (its host name).
  - V(activated) switches C(current) to the staged slot, runs O(restart_command) and starts a detached
    watchdog on the device that runs the O(health) check. The watchdog commits the release when it is
    healthy and reverts to the previous slot when the check fails or health is not reached within
    O(health.deadline) - without the controller. Losing the controller never reverts a healthy release.
  - V(committed) commits an activated release that is healthy now (the watchdog normally does this);
    V(rolled_back) reverts to the previous slot (or the files the managed paths held before the first
    activation). V(status) only reports.
  - Every state change is appended to the device's event log (C(events.jsonl)) with the device's timestamp
    and an event id; RV(events) returns those of O(change_id) so the controller can record them in the
    change ledger when it learns them (M(changeward.hybrid.edge_rollout) does).
  - Each call returns within about O(wait) seconds, so it works under C(async) and when polled over a link
    that comes and goes.
options:
  app:
    description: Name of the application (letters, digits, C(.), C(_), C(-)); its state lives in C(<root_dir>/<app>).
    type: str
    required: true
  state:
    description: The state to reach.
    type: str
    choices: [provisioned, staged, activated, committed, rolled_back, status]
    default: status
  root_dir:
    description: Directory holding every application's slots and state on the device.
    type: path
    default: /var/lib/changeward/edge
  change_id:
    description:
      - Change record the step belongs to; stored with every device event. Required for every state but
        V(status) and V(provisioned).
    type: str
  manifest:
    description:
      - The release manifest, exactly as it was signed (JSON text). Required for V(staged); for the other
        states it (or O(release)) names the release.
    type: str
  signature:
    description: Base64 Ed25519 signature over the manifest's bytes. Required for V(staged).
    type: str
  public_key:
    description:
      - The publisher's Ed25519 public key (PEM) the controller verified the manifest with. Optional and never
        trusted by itself - the device verifies with its pinned keys; when given, it must be one of them
        (and with O(signature_check=auto) on a device without OpenSSL 3 it is required - the controller's
        check with that pinned key then stands).
    type: str
  trust_file:
    description:
      - The device's pinned publisher keys (JSON, written by V(provisioned) and by signed key rotations). Must
        not be writable by group or others.
    type: path
    default: /etc/changeward/edge/trusted-keys.json
  trusted_keys:
    description:
      - Publisher public keys (PEM) to pin, for V(provisioned). Refused on a device that is provisioned and
        does not pin all of them already.
    type: list
    elements: str
    default: []
  downgrade_authorization:
    description:
      - >-
        For V(staged) of a release older than the running one. JSON text
        C({"format": "changeward-edge-downgrade/1", "app": ..., "release": ..., "version": ..., "hosts": [...],
        "not_after": "YYYY-MM-DDTHH:MM:SSZ"}) (C(not_after) optional), naming this app, the release id,
        its version and this device's host name.
    type: str
  downgrade_signature:
    description: Base64 Ed25519 signature over O(downgrade_authorization)'s exact bytes, by a pinned key.
    type: str
  signature_check:
    description:
      - V(required) verifies the manifest signature on the device with OpenSSL 3 and refuses to stage when
        that is not possible. V(auto) verifies when OpenSSL 3 is present and otherwise relies on the
        controller's check (M(changeward.hybrid.edge_rollout) always verifies before it calls this module).
    type: str
    choices: [required, auto]
    default: required
  release:
    description:
      - Release id (RV(release)) for V(activated), V(committed), V(rolled_back) and V(status) without
        O(manifest).
    type: str
  url:
    description:
      - Where the device downloads the artifact from (C(http://) or C(https://), must honour Range requests).
        Required for V(staged). Credentials and query strings are never shown in results.
    type: str
  validate_certs:
    description: Verify the HTTPS source's certificate.
    type: bool
    default: true
  ca_path:
    description: CA bundle on the device for an HTTPS source.
    type: path
  transfer:
    description: Transfer tuning.
    type: dict
    default: {}
    suboptions:
      connect_timeout:
        description: Seconds to wait for a connection to the source.
        type: float
        default: 5
      read_timeout:
        description: Seconds without data before the connection is dropped and the rest of the chunk is asked for again.
        type: float
        default: 10
      retry_max_delay:
        description: Longest pause between reconnection attempts (the pause doubles from 0.5 s up to this).
        type: float
        default: 5
      chunk_retries:
        description: How many times a chunk that does not match its sha256 is fetched again before the staging fails.
        type: int
        default: 3
      deadline:
        description:
          - Seconds from the start of the staging after which the transfer gives up (status C(expired)). The
            resume state is kept; the next V(staged) call continues from the last verified chunk.
        type: float
        default: 86400
  restart_failed:
    description:
      - Start a staging again that failed (for example after the source was fixed). Without it a failed
        staging is reported, not retried.
    type: bool
    default: false
  links:
    description:
      - "Managed paths on the device mapped to a file inside the release (relative path), for example
        C({/etc/demo-service/config.json: config.json}). Each becomes a symlink to C(<root>/current/<file>).
        What a path held before the first activation is kept and restored if that release is rolled back."
    type: dict
    default: {}
  restart_command:
    description:
      - Command (argv list) that restarts the service after a switch, for example
        C([service, demo-service, restart]).
    type: list
    elements: str
    default: []
  health:
    description:
      - The local health check the watchdog runs after activation. A URL or a command (or both) is
        required for V(activated).
    type: dict
    default: {}
    suboptions:
      url:
        description: URL fetched on the device (no proxy); healthy when it answers O(health.expect_status).
        type: str
      expect_status:
        description: HTTP status that means healthy.
        type: int
        default: 200
      command:
        description: Command (argv list) that exits 0 when healthy.
        type: list
        elements: str
      timeout:
        description: Seconds one check may take.
        type: float
        default: 5
      interval:
        description: Seconds between checks.
        type: float
        default: 2
      healthy_after:
        description: Consecutive passing checks that commit the release.
        type: int
        default: 3
      fail_after:
        description: Consecutive failing checks (after O(health.start_period)) that revert it.
        type: int
        default: 3
      start_period:
        description: Seconds after activation during which failing checks do not count (the service starts).
        type: float
        default: 10
      deadline:
        description: Seconds after activation by which the release must be healthy; otherwise it is reverted.
        type: float
        default: 120
  wait:
    description:
      - Seconds to wait for the running transfer (V(staged)) or the watchdog (V(activated)) to reach an outcome
        before returning. V(0) returns at once; poll with V(status).
    type: float
    default: 0
  since:
    description: Only return device events with a sequence number above this.
    type: int
    default: 0
  install_boot_hook:
    description:
      - Install C(/etc/init.d/changeward-edge) (and its C(S99) link in C(/etc/rc2.d)) so a pending transfer or
        watchdog is resumed after the device restarts.
    type: bool
    default: true
notes:
  - Check mode reports what would be done and changes nothing.
  - The source only needs to serve byte ranges; the device never trusts it, only the signed manifest.
  - Staging is refused while an activated release's health is undecided, because the inactive slot is the
    one it falls back to. After a release is committed, staging the next one overwrites the previous slot.
extends_documentation_fragment:
  - changeward.hybrid.ledger.target
  - ansible.builtin.action_common_attributes
attributes:
  action_group:
    description: Part of the action group, so C(module_defaults) for C(group/changeward.hybrid.hybrid) apply.
    support: full
    membership: [changeward.hybrid.hybrid]
  check_mode:
    support: full
    details: Nothing is written, downloaded, switched or started.
  diff_mode:
    support: none
  platform:
    platforms: posix
    details: Linux devices with Python 3.8 or later; OpenSSL 3 for the device-side signature check.
seealso:
  - module: changeward.hybrid.edge_rollout
"""

EXAMPLES = r"""
- name: Pin the publisher key (once, when the device is provisioned)
  changeward.hybrid.edge_update:
    app: demo
    state: provisioned
    trusted_keys:
      - "{{ lookup('ansible.builtin.file', 'release-signing.pub.pem') }}"

- name: Stage the release (returns at once; the device keeps downloading)
  changeward.hybrid.edge_update:
    app: demo
    state: staged
    change_id: CHG-42
    manifest: "{{ lookup('ansible.builtin.file', 'demo-1.2.0.tar.manifest.json') }}"
    signature: "{{ lookup('ansible.builtin.file', 'demo-1.2.0.tar.manifest.json.sig') }}"
    url: http://198.18.0.1:8088/demo-1.2.0.tar

- name: Activate it; the device's watchdog commits or reverts by itself
  changeward.hybrid.edge_update:
    app: demo
    state: activated
    change_id: CHG-42
    release: "{{ staged.release }}"
    links: {/etc/demo-service/config.json: config.json}
    restart_command: [service, demo-service, restart]
    health: {url: "http://127.0.0.1:8080/healthz", deadline: 120}
    wait: 30
  register: activated

- name: Ask later what the device decided
  changeward.hybrid.edge_update:
    app: demo
    state: status
    release: "{{ staged.release }}"
    change_id: CHG-42
"""

RETURN = r"""
release:
  description: Release id (name-version-first 12 hex digits of the artifact sha256).
  returned: when a release is named
  type: str
  sample: demo-1.2.0-3f2a9c1b0d4e
release_status:
  description:
    - Where the named release stands on the device - C(staging), C(staged), C(failed), C(expired),
      C(activated), C(committed), C(rolled_back), C(current) (running, activated earlier) or C(absent).
  returned: when a release is named
  type: str
  sample: committed
current:
  description: The release C(current) points at (slot, release, version), or null when the original files are in place.
  returned: always
  type: dict
  sample:
    slot: b
    release: demo-1.2.0-0123456789ab
    version: 1.2.0
staging:
  description: The staging in progress or finished (release, slot, status, error, deadline, signature check result).
  returned: always
  type: dict
  sample:
    release: demo-1.2.0-0123456789ab
    slot: b
    status: staged
    error: null
    deadline: '2026-01-05T11:00:00Z'
    signature: verified
    change_id: CHG-42
    url: https://releases.example.com/demo-1.2.0.tar
activation:
  description:
    - The last activation (release, slot, state, previous, activated_at, committed_at, rolled_back_at,
      reason, decided_by).
  returned: always
  type: dict
  sample:
    release: demo-1.2.0-0123456789ab
    slot: b
    state: committed
    previous: demo-1.1.0-fedcba987654
    activated_at: '2026-01-05T10:20:00Z'
    committed_at: '2026-01-05T10:21:30Z'
    rolled_back_at: null
    reason: healthy 3 times in a row
    decided_by: watchdog
transfer:
  description:
    - Progress of the transfer (size, offset, verified_chunks, bytes_received, requests, reconnects, runs,
      resumed_from, running).
  returned: while a staging exists
  type: dict
  sample:
    size: 52428800
    offset: 52428800
    verified_chunks: 50
    bytes_received: 54525952
    requests: 57
    reconnects: 6
    runs: 2
    resumed_from:
    - 20971520
    running: false
watchdog:
  description: The watchdog's last check (checks, consecutive_ok, consecutive_failed, last).
  returned: always
  type: dict
  sample:
    checks: 5
    consecutive_ok: 3
    consecutive_failed: 0
    last:
      ok: true
      detail: HTTP 200
      seconds: 0.012
events:
  description:
    - Device events of O(change_id) after O(since) - each with seq, id (uuid4), type, time (device clock,
      UTC), host, app, release, change_id and data. Types are staging_started, staging_resumed,
      chunk_refused, staging_refused, staging_failed, staging_expired, staged, activated, committed,
      rolled_back, trust_rotated.
  returned: always
  type: list
  sample:
    - seq: 7
      id: 0b7c6a52-8f0e-4c9e-9d43-2f1d6a3b5e10
      type: committed
      time: '2026-01-05T10:21:30Z'
      host: edge-s1-01
      app: demo
      release: demo-1.2.0-0123456789ab
      change_id: CHG-42
      data:
        checks: 5
  elements: dict
event_seq:
  description: Highest device event sequence number.
  returned: always
  type: int
  sample: 7
signature:
  description: Result of the device-side signature check (C(verified), or C(skipped) with O(signature_check=auto)).
  returned: when O(state=staged)
  type: str
  sample: verified
trusted_keys:
  description: Ids (C(sha256:<hex of the key's DER>)) of the publisher keys pinned on the device; null when none are.
  returned: always
  type: list
  sample:
    - sha256:4f1c2a9e0b8d7c6b5a4938271605f4e3d2c1b0a99f8e7d6c5b4a3928170665f4
  elements: str
"""

import os
import time
import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.changeward.hybrid.plugins.module_utils.edge import agent, trust
from ansible_collections.changeward.hybrid.plugins.module_utils.edge import manifest as mf
from ansible_collections.changeward.hybrid.plugins.module_utils.edge.device import Device, release_status
from ansible_collections.changeward.hybrid.plugins.module_utils.edge.errors import EdgeError

HEALTH_SPEC = {
    "url": {"type": "str"},
    "expect_status": {"type": "int", "default": 200},
    "command": {"type": "list", "elements": "str"},
    "timeout": {"type": "float", "default": 5},
    "interval": {"type": "float", "default": 2},
    "healthy_after": {"type": "int", "default": 3},
    "fail_after": {"type": "int", "default": 3},
    "start_period": {"type": "float", "default": 10},
    "deadline": {"type": "float", "default": 120},
}
TRANSFER_SPEC = {
    "connect_timeout": {"type": "float", "default": 5},
    "read_timeout": {"type": "float", "default": 10},
    "retry_max_delay": {"type": "float", "default": 5},
    "chunk_retries": {"type": "int", "default": 3},
    "deadline": {"type": "float", "default": 86400},
}
ARGUMENT_SPEC = {
    "ledger": {"type": "str"},  # module_defaults of the group; its action never sends it
    "key": {"type": "str", "no_log": True},
    "app": {"type": "str", "required": True},
    "state": {
        "type": "str",
        "default": "status",
        "choices": ["provisioned", "staged", "activated", "committed", "rolled_back", "status"],
    },
    "root_dir": {"type": "path", "default": "/var/lib/changeward/edge"},
    "change_id": {"type": "str"},
    "manifest": {"type": "str"},
    "signature": {"type": "str"},
    "public_key": {"type": "str"},
    "trust_file": {"type": "path", "default": "/etc/changeward/edge/trusted-keys.json"},
    "trusted_keys": {"type": "list", "elements": "str", "default": [], "no_log": False},  # public keys
    "downgrade_authorization": {"type": "str"},
    "downgrade_signature": {"type": "str"},
    "signature_check": {"type": "str", "default": "required", "choices": ["required", "auto"]},
    "release": {"type": "str"},
    "url": {"type": "str"},
    "validate_certs": {"type": "bool", "default": True},
    "ca_path": {"type": "path"},
    "transfer": {"type": "dict", "default": {}, "options": TRANSFER_SPEC},
    "restart_failed": {"type": "bool", "default": False},
    "links": {"type": "dict", "default": {}},
    "restart_command": {"type": "list", "elements": "str", "default": []},
    "health": {"type": "dict", "default": {}, "options": HEALTH_SPEC},
    "wait": {"type": "float", "default": 0},
    "since": {"type": "int", "default": 0},
    "install_boot_hook": {"type": "bool", "default": True},
}
POLL = 0.5


class EdgeUpdate(object):
    """main -> run -> ensure_<state>; every method returns the result dict or raises an EdgeError."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.device = Device(self.params["root_dir"], self.params["app"], trust_file=self.params["trust_file"])
        self.release = self.params["release"]
        if self.params["manifest"]:
            manifest, _raw = mf.parse(self.params["manifest"])
            named = mf.release_id(manifest)
            if self.release and self.release != named:
                raise EdgeError("release %s does not match the manifest's release %s" % (self.release, named))
            self.release = named

    def run(self):
        state = self.params["state"]
        if state not in ("status", "provisioned") and not self.params["change_id"]:
            raise EdgeError("change_id is required for state=%s: every state change is an event of a change" % state)
        if state in ("activated", "committed", "rolled_back") and not self.release:
            raise EdgeError("state=%s needs the release (release or manifest)" % state)
        changed = getattr(self, "ensure_" + state)()
        return self.report(changed)

    def prepare_agent(self):
        agent.install(self.params["root_dir"])
        if self.params["install_boot_hook"]:
            agent.install_boot_hook(self.params["root_dir"])

    def ensure_staged(self):
        params = self.params
        for key in ("manifest", "signature", "url"):
            if not params[key]:
                raise EdgeError("state=staged needs %s" % key)
        if self.module.check_mode:
            done = ("staged", "activated", "committed", "current")
            return release_status(self.device.summary(), self.release) not in done
        options = dict(params["transfer"])
        deadline = options.pop("deadline")
        options.update(validate_certs=params["validate_certs"], ca_path=params["ca_path"])
        changed, _state = self.device.request_staging(
            params["manifest"],
            params["signature"],
            params["public_key"],
            params["url"],
            params["change_id"],
            signature_check=params["signature_check"],
            transfer_options=options,
            deadline=deadline,
            restart_failed=params["restart_failed"],
            downgrade=params["downgrade_authorization"],
            downgrade_signature=params["downgrade_signature"],
        )
        self.ensure_agent("transfer")
        self.wait_while(("staging",))
        return changed

    def ensure_provisioned(self):
        wanted = self.params["trusted_keys"]
        if self.module.check_mode:
            return not os.path.lexists(self.params["trust_file"]) and bool(wanted)
        changed, _keys = trust.provision(self.params["trust_file"], wanted)
        return changed

    def ensure_activated(self):
        params = self.params
        if not params["health"].get("url") and not params["health"].get("command"):
            raise EdgeError("state=activated needs health.url or health.command: the device judges the release itself")
        if self.module.check_mode:
            return release_status(self.device.summary(), self.release) not in ("activated", "committed", "current")
        self.prepare_agent()
        changed, _state = self.device.activate(
            self.release, params["change_id"], params["links"], params["restart_command"], params["health"]
        )
        self.ensure_agent("watchdog")
        self.wait_while(("activated",))
        return changed

    def ensure_committed(self):
        if self.module.check_mode:
            return release_status(self.device.summary(), self.release) != "committed"
        changed = self.device.commit_now(self.release)
        return changed

    def ensure_rolled_back(self):
        if self.module.check_mode:
            return release_status(self.device.summary(), self.release) in ("activated", "committed")
        return self.device.rollback_now(self.release, "rollback requested by the controller")

    def ensure_status(self):
        # A status poll also restarts a transfer or watchdog that died (killed, device restarted).
        if not self.module.check_mode and os.path.isfile(self.device.state_path):
            self.ensure_agent("transfer")
            self.ensure_agent("watchdog")
        self.wait_while(("staging", "activated"))
        return False

    def ensure_agent(self, what):
        """Start the detached transfer or watchdog when there is work for it and none is running."""
        summary = self.device.summary()
        if what == "transfer":
            needed = (summary.get("staging") or {}).get("status") == "staging" and not summary["transfer_running"]
        else:
            needed = (summary.get("activation") or {}).get("state") == "activated" and not summary["watchdog_running"]
        if needed:
            self.prepare_agent()
            agent.spawn(self.params["root_dir"], what, self.params["app"])
            # The new process takes its lock within moments; waiting for it keeps a second call from starting another.
            deadline = time.monotonic() + 5
            running = self.device.transfer_running if what == "transfer" else self.device.watchdog_running
            while time.monotonic() < deadline and not running():
                time.sleep(0.05)
        return needed

    def wait_while(self, statuses):
        if not self.release:
            return
        deadline = time.monotonic() + max(0.0, self.params["wait"])
        while time.monotonic() < deadline:
            if release_status(self.device.summary(), self.release) not in statuses:
                return
            time.sleep(POLL)

    def report(self, changed):
        summary = self.device.summary()
        result = dict(summary, changed=bool(changed))
        if self.release:
            result["release"] = self.release
            result["release_status"] = release_status(summary, self.release)
        if self.params["state"] == "staged":
            result["signature"] = (summary.get("staging") or {}).get("signature")
        result["events"] = self.device.events(self.params["change_id"], self.params["since"])
        try:
            result["trusted_keys"] = [k["id"] for k in trust.load(self.params["trust_file"])]
        except EdgeError:
            result["trusted_keys"] = None
        status = result.get("release_status")
        if self.params["state"] == "staged" and status in ("failed",):
            result["failed"] = True
            result["msg"] = "staging of %s failed: %s" % (self.release, (summary.get("staging") or {}).get("error"))
        return result


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    update = None
    try:
        update = EdgeUpdate(module)
        result = update.run()
    except EdgeError as exc:
        # A refusal is a device event too: return it, so the controller records it in the ledger.
        events = []
        if update is not None and module.params["change_id"]:
            try:
                events = update.device.events(module.params["change_id"], module.params["since"])
            except EdgeError:
                events = []
        module.fail_json(msg="edge_update: %s" % exc, error_kind=exc.kind, events=events)
    except (OSError, ValueError) as exc:
        module.fail_json(msg="edge_update: %s" % exc, exception=traceback.format_exc())
    if result.pop("failed", False):
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
