#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: edge_rollout
author: changeward maintainers (!UNKNOWN)
version_added: "0.1.0"
short_description: Controller side of staged edge updates - verify, stage, activate, poll, judge waves
description:
  - The controller half of an edge rollout; M(changeward.hybrid.edge_update) is the device half, which this
    action runs on the task's host. Every state change the device reports, and every decision taken here,
    is appended to the change ledger as a CloudEvent of O(change_id) (type C(io.changeward.edge.<what>)).
    Device events keep the device's timestamp and event id, so an outcome learned late is recorded with
    the time it happened, once.
  - V(verify) (run once, on the controller) checks the manifest's Ed25519 signature with the publisher's
    public key (cryptography) and records C(manifest_verified) or C(manifest_refused). A manifest that does not
    verify fails the task and nothing is sent to any device. Every other step verifies it again before it
    contacts a device.
  - V(stage) asks the device to download the artifact into its inactive slot (the download runs detached on
    the device) and polls until it is staged, failed or refused, or O(deadline) passes.
  - V(activate) switches the device to the staged release and polls until the device's own watchdog has
    committed it or rolled it back.
  - V(status) asks what the device decided (without waiting on the device) and records what the ledger does not
    hold yet; use it after a link came back to learn outcomes decided while the controller was away. It gives
    up after O(poll) seconds (or O(deadline), when shorter).
  - While polling, a host that cannot be reached is C(unknown) and retried every O(poll) seconds until
    O(deadline); then the host's RV(outcome) is C(pending) (not failed, recorded as C(host_pending)).
  - O(deadline) bounds the whole step, including a call to the device that hangs because the link dropped
    in the middle of it - the controller stops waiting for it at the deadline, resets the connection, and
    reports it in RV(in_flight) (recorded with C(host_pending)); the device may still carry out a request
    that reached it, and its own journal tells what it did at the next call.
  - Progress (the device's status, unreachable spells, time left, the outcome) is printed at the default
    verbosity while the step runs - on every change and otherwise about four times per O(deadline).
  - V(judge) (run once) decides a wave from the hosts' outcomes, like hawkBit's groups - C(continue) when at
    least O(success_threshold) % committed, C(stop) when more than O(error_threshold) % failed or were
    rolled back, else C(hold) (pending hosts keep it back) - and records C(wave_judged).
  - Device outcomes are returned in RV(outcome), not as task failures, so a wave can be judged over all its
    hosts; the task fails for bad input, an unverifiable manifest or a ledger that cannot be written.
options:
  step:
    description: What to do (see the description).
    type: str
    required: true
    choices: [verify, stage, activate, status, judge]
  change_id:
    description: The change record the rollout belongs to; it must be in the ledger (see O(change)).
    type: str
    required: true
  change:
    description: With O(step=verify), open the change in the ledger when it is not there yet.
    type: dict
    suboptions:
      type:
        description: Change type.
        type: str
        choices: [standard, normal, emergency]
        default: normal
      summary:
        description: Summary of the change.
        type: str
        required: true
      requester:
        description: Who asked for it.
        type: str
        required: true
      targets:
        description: Host names.
        type: list
        elements: str
        default: []
  ledger:
    description:
      - The ledger (SQLite path or C(postgresql://) DSN); the option, else E(CHANGEWARD_LEDGER), else
        C(changeward/ledger.db) under E(XDG_STATE_HOME) - the collection's one rule (docs/ledger.md).
    type: str
  key:
    description:
      - Checkpoint signing key of the ledger; defaults to E(CHANGEWARD_LEDGER_KEY). Never shown or recorded.
      - Accepted for every action of the C(changeward.hybrid.hybrid) group, so C(module_defaults) can set it.
    type: str
    aliases: [ledger_key]
  manifest:
    description:
      - The signed release manifest - a URL, a path on the controller, or the JSON text itself.
      - A URL (here, in O(signature), O(public_key) and O(downgrade_authorization)) is read on the controller by
        the collection's HTTP client - C(HTTPS_PROXY), C(NO_PROXY) and C(REQUESTS_CA_BUNDLE) apply, a redirect from
        https to http is refused, and the answer must be HTTP 200, UTF-8 and at most 16 MiB.
    type: str
  signature:
    description: Base64 Ed25519 signature of the manifest - a URL, a path on the controller, or the text itself.
    type: str
  public_key:
    description:
      - The publisher's Ed25519 public key (PEM text or a path on the controller) the controller verifies the
        manifest with. Devices do not trust it by itself - each verifies with the keys pinned on it (see
        M(changeward.hybrid.edge_update) O(changeward.hybrid.edge_update#module:trust_file)) and refuses a key it
        does not pin (outcome C(refused)).
    type: str
  downgrade_authorization:
    description:
      - For V(stage) of a release older than the one a device runs - the signed downgrade authorisation (JSON
        text, a path on the controller or a URL) naming the app, release, version and the devices' host names.
        Passed to the device, which alone decides on it (M(changeward.hybrid.edge_update)); without it a device
        refuses the older release (outcome C(refused), device event C(staging_refused)).
    type: str
  downgrade_signature:
    description: Base64 Ed25519 signature over O(downgrade_authorization) by a key the devices pin (text, path or URL).
    type: str
  app:
    description: Application name on the device; defaults to the manifest's name and must match it.
    type: str
  url:
    description: Where devices download the artifact from (HTTP(S) with Range support). Required for V(stage).
    type: str
  deadline:
    description:
      - Seconds the whole step may take, from its start - polling, retrying an unreachable host, and a call in
        flight when the link drops (the step returns within the deadline plus a moment to record the outcome).
        Then the outcome is C(pending).
      - The device's answer must come back within it, so keep it above the time one call takes on the link.
    type: float
    default: 1800
  poll:
    description:
      - Seconds between calls (counted from the start of one to the start of the next); each call of V(stage)
        and V(activate) waits on the device up to this long for progress, less near the deadline.
    type: float
    default: 10
  outcomes:
    description:
      - For V(judge) - a mapping of host to outcome (C(committed), C(rolled_back), C(failed), C(refused);
        anything else is pending).
    type: dict
  wave:
    description: Name of the wave, for the ledger.
    type: str
  gate:
    description:
      - For V(judge) - the registered result of M(changeward.hybrid.blackout) for the wave; its decision is
        recorded with the wave's.
    type: dict
  success_threshold:
    description: Percentage of a wave that must have committed for the rollout to continue.
    type: float
    default: 100
  error_threshold:
    description: The rollout stops when more than this percentage of a wave failed.
    type: float
    default: 0
  root_dir:
    description: Passed to M(changeward.hybrid.edge_update).
    type: path
    default: /var/lib/changeward/edge
  signature_check:
    description: Passed to M(changeward.hybrid.edge_update).
    type: str
    choices: [required, auto]
    default: required
  validate_certs:
    description: Verify HTTPS certificates (manifest download here, artifact download on the device).
    type: bool
    default: true
  ca_path:
    description: Passed to M(changeward.hybrid.edge_update).
    type: path
  transfer:
    description: Passed to M(changeward.hybrid.edge_update).
    type: dict
    default: {}
  restart_failed:
    description: Passed to M(changeward.hybrid.edge_update).
    type: bool
    default: false
  links:
    description: Passed to M(changeward.hybrid.edge_update).
    type: dict
    default: {}
  restart_command:
    description: Passed to M(changeward.hybrid.edge_update).
    type: list
    elements: str
    default: []
  health:
    description: Passed to M(changeward.hybrid.edge_update); required for V(activate).
    type: dict
    default: {}
  install_boot_hook:
    description: Passed to M(changeward.hybrid.edge_update).
    type: bool
    default: true
notes:
  - Activation is only allowed inside change windows; run M(changeward.hybrid.blackout) before V(activate)
    (playbooks/edge_rollout.yml does). Staging may happen any time.
  - Check mode verifies and asks the device what it would do; it records nothing.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
attributes:
  action:
    support: full
  action_group:
    description: Part of the action group, so C(module_defaults) for C(group/changeward.hybrid.hybrid) apply.
    support: full
    membership: [changeward.hybrid.hybrid]
  async:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
    details: Nothing is changed on devices and nothing is recorded.
  diff_mode:
    support: none
  platform:
    platforms: posix
    details: Runs on the controller (needs cryptography there) and drives M(changeward.hybrid.edge_update) on the host.
seealso:
  - module: changeward.hybrid.edge_update
  - module: changeward.hybrid.blackout
"""

EXAMPLES = r"""
- name: Verify the release and open the change
  changeward.hybrid.edge_rollout:
    step: verify
    change_id: "{{ change_id }}"
    change: {summary: "demo 1.2.0 to the edge", requester: alice}
    manifest: http://198.18.0.1:8088/demo-1.2.0.tar.manifest.json
    signature: http://198.18.0.1:8088/demo-1.2.0.tar.manifest.json.sig
    public_key: files/release-signing.pub.pem
  run_once: true
  delegate_to: localhost

- name: Stage on every device; unreachable hosts become pending after an hour
  changeward.hybrid.edge_rollout:
    step: stage
    change_id: "{{ change_id }}"
    manifest: http://198.18.0.1:8088/demo-1.2.0.tar.manifest.json
    signature: http://198.18.0.1:8088/demo-1.2.0.tar.manifest.json.sig
    public_key: files/release-signing.pub.pem
    url: http://198.18.0.1:8088/demo-1.2.0.tar
    deadline: 3600
  register: staged

- name: Judge the wave
  changeward.hybrid.edge_rollout:
    step: judge
    change_id: "{{ change_id }}"
    wave: "{{ ansible_play_batch | join(',') }}"
    outcomes: "{{ dict(ansible_play_batch | zip(ansible_play_batch | map('extract', hostvars, ['act', 'outcome']))) }}"
    success_threshold: 80
    error_threshold: 10
  run_once: true
  delegate_to: localhost
"""

RETURN = r"""
outcome:
  description:
    - For V(stage) - C(staged), C(failed), C(refused) or C(pending). For V(activate) and V(status) -
      C(committed), C(rolled_back), C(failed), C(refused), C(pending) (V(status) may also return the device's
      release status, for example C(staged) or C(activated)).
  returned: stage, activate, status
  type: str
  sample: committed
release:
  description: Release id.
  returned: verify, stage, activate, status
  type: str
  sample: demo-1.2.0-3f2a9c1b0d4e
release_status:
  description: The device's last answer about the release (see M(changeward.hybrid.edge_update)).
  returned: stage, activate, status
  type: str
  sample: committed
device:
  description: The device's current, activation, staging, transfer and watchdog as last reported.
  returned: stage, activate, status
  type: dict
  sample:
    current: {slot: b, release: demo-1.2.0-3f2a9c1b0d4e, version: 1.2.0}
    activation: {release: demo-1.2.0-3f2a9c1b0d4e, slot: b, state: committed, previous: demo-1.1.0-9e8d7c6b5a4f,
                 activated_at: "2025-01-01T12:03:10Z", committed_at: "2025-01-01T12:04:10Z"}
    staging: {release: demo-1.2.0-3f2a9c1b0d4e, slot: b, status: staged, signature: verified}
    transfer: {size: 10485760, offset: 10485760, verified_chunks: 10, bytes_received: 10485760, requests: 12,
               reconnects: 2, runs: 1, running: false}
    watchdog: {checks: 6, consecutive_ok: 6, consecutive_failed: 0}
events:
  description: Device events this step recorded in the ledger (type, time, id).
  returned: stage, activate, status
  type: list
  elements: dict
  sample:
    - type: io.changeward.edge.committed
      time: "2025-01-01T12:04:10.201000Z"
      id: 7c9e6679-7425-40de-944b-e07fc1f90ae7
attempts:
  description: Calls made to the device (including unreachable ones).
  returned: stage, activate, status
  type: int
  sample: 4
unreachable_seconds:
  description:
    - Time the host did not answer during this step, counted from the start of the first call that was not
      answered (a call that hangs for a minute before it fails counts that minute) to the start of the next
      call that was answered, or to the end of the step.
  returned: stage, activate, status
  type: float
  sample: 31.5
in_flight:
  description:
    - The call to the device that was still running when the deadline passed (the controller stopped waiting
      for it), else V(null). Its effect is unknown - the device may have carried it out.
  returned: stage, activate, status
  type: dict
  sample: {state: activated, began_at: "2025-01-01T12:03:05Z", began_seconds_ago: 12.4}
  contains:
    state:
      description: The C(state) the call asked M(changeward.hybrid.edge_update) for.
      type: str
    began_at:
      description: When the call began (ISO 8601 UTC).
      type: str
    began_seconds_ago:
      description: Seconds from its start to the deadline.
      type: float
elapsed:
  description: Seconds the step took.
  returned: stage, activate, status
  type: float
  sample: 74.2
manifest:
  description: The verified manifest's release, name, version, size, sha256, chunk_size, chunks and key_id.
  returned: verify
  type: dict
  sample: {release: demo-1.2.0-3f2a9c1b0d4e, name: demo, version: 1.2.0, size: 10485760,
           sha256: 3f2a9c1b0d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccddeeff, chunk_size: 1048576,
           chunks: 10, key_id: ed25519-8a1f2b3c4d5e6f70}
manifest_text:
  description: The manifest exactly as signed, to pass on to later steps.
  returned: verify
  type: str
  sample: '{"app":"demo","release":"demo-1.2.0-3f2a9c1b0d4e","version":"1.2.0","size":10485760,...}'
signature:
  description: The signature, to pass on to later steps.
  returned: verify
  type: str
  sample: 9Zb3kQ1vR3s0n2p5Xw7u8yT6c4e2a0B1d3F5h7J9l1N3p5R7t9V1x3Z5b7D9f1H3j5L7n9P1r3T5v7X9z1B3D==
public_key:
  description: The public key (PEM), to pass on to later steps.
  returned: verify
  type: str
  sample: "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA...\n-----END PUBLIC KEY-----\n"
key_id:
  description: C(ed25519-) and the first 16 hex digits of the sha256 of the raw public key.
  returned: verify
  type: str
  sample: ed25519-8a1f2b3c4d5e6f70
decision:
  description: C(continue), C(hold) or C(stop).
  returned: judge
  type: str
  sample: continue
reason:
  description: Why.
  returned: judge
  type: str
  sample: "66.7% of the wave succeeded (threshold 50%)"
succeeded_hosts:
  description: Hosts that committed.
  returned: judge
  type: list
  elements: str
  sample: [edge-s1-01, edge-s2-01]
failed_hosts:
  description: Hosts that failed, were refused or rolled back.
  returned: judge
  type: list
  elements: str
  sample: [edge-s3-01]
pending_hosts:
  description: Hosts without an outcome.
  returned: judge
  type: list
  elements: str
  sample: []
ledger_seq:
  description: Ledger sequence number of the event recorded by V(verify) or V(judge).
  returned: verify, judge
  type: int
  sample: 1842
"""
