#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: fault_inject
short_description: Apply a fault on a staging host for a bounded time, undone by the host itself
version_added: "0.1.0"
author: changeward maintainers (!UNKNOWN)
description:
  - Runs on the managed host. Applies network loss, latency, a partition from given peers, a process kill or a
    service stop for O(duration), and starts a detached sleeper on the host - its own session, not a child of the
    SSH connection or of Ansible - that undoes the fault when the time is up. The fault therefore ends on time even
    when the controller that started it is killed or loses the host.
  - "Network faults use iptables (C(-m statistic) for loss, DROP rules per peer for a partition, every rule tagged
    C(changeward-fault-<id>)) and C(tc qdisc ... tbf) for latency (sch_netem is not needed)."
  - O(state=absent) undoes a fault now (its record in C(/var/lib/changeward/faults/<id>.json)); the sleeper then
    finds nothing to do.
  - A fault is for staging. C(playbooks/rehearsal.yml) only runs on hosts the inventory marks with
    C(changeward_rehearsal_allowed); the module itself refuses nothing but unbounded durations (at most 24 h).
  - Requires root on the host (iptables, tc, service).
options:
  id:
    description: The fault's name (letters, digits, C(.), C(_), C(-)); its record and iptables tag use it.
    type: str
    required: true
  state:
    description: V(present) applies the fault and arms the sleeper; V(absent) undoes it now.
    type: str
    choices: [present, absent]
    default: present
  kind:
    description: The fault.
    type: str
    choices: [loss, latency, partition, kill, stop]
  duration:
    description: How long the fault lasts, in seconds (at most 86400). Required with O(state=present).
    type: float
  peers:
    description: Addresses or CIDRs cut off from this host in both directions (V(partition)).
    type: list
    elements: str
    default: []
  probability:
    description: Share of packets dropped in each direction (V(loss)), more than 0, at most 1.
    type: float
  delay_ms:
    description: The most a packet is delayed (V(latency)); the token bucket's C(latency).
    type: float
  rate:
    description: The token bucket's rate (V(latency)), for example V(512kbit).
    type: str
    default: 1mbit
  interface:
    description: The interface shaped for V(latency).
    type: str
    default: eth0
  process:
    description: The process name to signal (V(kill)), matched exactly.
    type: str
  signal:
    description: The signal sent (V(kill)).
    type: str
    choices: [TERM, KILL, INT, HUP, STOP]
    default: KILL
  restart_command:
    description: A command (argv) that brings a killed process back when the fault ends (V(kill)).
    type: list
    elements: str
  service:
    description: The init service stopped, and started again at the end (V(stop)).
    type: str
  ledger:
    description: Accepted so C(module_defaults) of the action group can set it; never sent to the host.
    type: str
  key:
    description: Accepted so C(module_defaults) of the action group can set it; never sent to the host.
    type: str
attributes:
  check_mode:
    support: full
    description: Returns the commands it would run; applies nothing.
  diff_mode:
    support: none
    description: Returns no diff; RV(fault) holds the commands applied and the ones that undo them.
  platform:
    support: full
    platforms: posix
    description: Linux targets with iptables and tc, as root; Python 3.8 or later.
seealso:
  - module: changeward.hybrid.snapshot
"""

EXAMPLES = r"""
- name: Cut the canary off from its database for two minutes
  changeward.hybrid.fault_inject:
    id: rehearsal-db-partition
    kind: partition
    peers: [198.18.31.10]
    duration: 120

- name: Lose 20 % of packets for a minute
  changeward.hybrid.fault_inject:
    id: rehearsal-loss
    kind: loss
    probability: 0.2
    duration: 60

- name: End the partition early
  changeward.hybrid.fault_inject:
    id: rehearsal-db-partition
    state: absent
"""

RETURN = r"""
fault:
  description: The fault - C(id), C(kind), C(started_at) and C(ends_at) (unix seconds), the C(apply) and C(undo)
    commands, and the sleeper's C(pid).
  returned: state present
  type: dict
  sample:
    id: rehearsal-db-partition
    kind: partition
    started_at: 1767607200.0
    ends_at: 1767607320.0
    apply:
    - - iptables
      - -w
      - -I
      - INPUT
      - -s
      - 198.18.31.10
      - -m
      - comment
      - --comment
      - changeward-fault-rehearsal-db-partition
      - -j
      - DROP
    - - iptables
      - -w
      - -I
      - OUTPUT
      - -d
      - 198.18.31.10
      - -m
      - comment
      - --comment
      - changeward-fault-rehearsal-db-partition
      - -j
      - DROP
    undo:
    - - iptables
      - -w
      - -D
      - INPUT
      - -s
      - 198.18.31.10
      - -m
      - comment
      - --comment
      - changeward-fault-rehearsal-db-partition
      - -j
      - DROP
    - - iptables
      - -w
      - -D
      - OUTPUT
      - -d
      - 198.18.31.10
      - -m
      - comment
      - --comment
      - changeward-fault-rehearsal-db-partition
      - -j
      - DROP
    pid: 4242
undone:
  description: The undo commands run and their return codes (V(state=absent)).
  returned: state absent
  type: list
  sample:
    - argv:
      - iptables
      - -w
      - -D
      - INPUT
      - -s
      - 198.18.31.10
      - -m
      - comment
      - --comment
      - changeward-fault-rehearsal-db-partition
      - -j
      - DROP
      rc: 0
      stderr: ''
  elements: dict
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.changeward.hybrid.plugins.module_utils import fault as core


def present(module, params):
    try:
        apply, undo = core.plan(
            params["kind"],
            params["id"],
            params["duration"],
            peers=params["peers"],
            probability=params["probability"],
            rate=params["rate"],
            delay_ms=params["delay_ms"],
            interface=params["interface"],
            process=params["process"],
            signal=params["signal"],
            service=params["service"],
            restart_command=params["restart_command"],
        )
    except core.FaultError as exc:
        module.fail_json(msg="fault_inject: %s" % exc)
    now = time.time()
    record = {
        "id": params["id"],
        "kind": params["kind"],
        "started_at": now,
        "ends_at": now + params["duration"],
        "apply": apply,
        "undo": undo,
    }
    if os.path.exists(core.record_path(params["id"])):
        module.fail_json(msg="fault_inject: fault %s is already applied; undo it first (state absent)" % params["id"])
    if module.check_mode:
        return {"changed": True, "fault": record}
    # the sleeper first: whatever happens after this line, the host undoes the fault on time
    record["pid"] = core.arm(record, python=module.get_bin_path("python3") or None)
    results = core.run_all(apply, module.run_command)
    failed = [r for r in results if r[1] != 0]
    if failed:
        core.undo(core.record_path(params["id"]), module.run_command)
        module.fail_json(
            msg="fault_inject: %s failed (rc %d): %s; what was applied is undone"
            % (" ".join(failed[0][0]), failed[0][1], failed[0][2]),
            fault=record,
        )
    return {"changed": True, "fault": record}


def absent(module, params):
    path = core.record_path(params["id"])
    if not os.path.exists(path):
        return {"changed": False, "undone": []}
    if module.check_mode:
        return {"changed": True, "undone": []}
    done = core.undo(path, module.run_command)
    return {"changed": True, "undone": [{"argv": argv, "rc": rc, "stderr": err} for argv, rc, err in done]}


def main():
    module = AnsibleModule(
        argument_spec={
            "ledger": {"type": "str"},  # module_defaults of the group; its action never sends it
            "key": {"type": "str", "no_log": True},
            "id": {"type": "str", "required": True},
            "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
            "kind": {"type": "str", "choices": list(core.KINDS)},
            "duration": {"type": "float"},
            "peers": {"type": "list", "elements": "str", "default": []},
            "probability": {"type": "float"},
            "delay_ms": {"type": "float"},
            "rate": {"type": "str", "default": "1mbit"},
            "interface": {"type": "str", "default": "eth0"},
            "process": {"type": "str"},
            "signal": {"type": "str", "default": "KILL", "choices": list(core.SIGNALS)},
            "restart_command": {"type": "list", "elements": "str"},
            "service": {"type": "str"},
        },
        required_if=[["state", "present", ["kind", "duration"]]],
        supports_check_mode=True,
    )
    params = module.params
    result = present(module, params) if params["state"] == "present" else absent(module, params)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
