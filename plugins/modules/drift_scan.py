#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: drift_scan
short_description: Compare a host with a declared baseline in one module call
version_added: "0.1.0"
author: changeward maintainers (!UNKNOWN)
description:
  - Checks a declared baseline on the target in one pass and returns item-level differences - files (type,
    sha256, mode, owner, group, link target), directory trees (declared entries, and with C(exact) anything
    undeclared), package versions (dpkg or rpm), services (running and enabled; systemd, or the LSB init
    script and C(/etc/rc2.d) links on hosts without systemd), sysctl values (C(/proc/sys)), listening ports
    (C(/proc/net/tcp), C(udp) and their IPv6 twins) and local users (C(/etc/passwd)).
  - Read-only. The module never changes the host, so it runs the same in check mode.
  - Fails closed. An item that cannot be evaluated (unreadable file, missing package manager, an init script
    whose status is not an LSB answer) is listed in RV(unknown) with the reason and makes RV(status)
    V(unknown) unless drift was found; it is never counted as in sync. A malformed baseline fails the task.
  - The role C(changeward.hybrid.drift_baseline) renders this baseline from the same variables it enforces,
    so this scan and a check-mode run of the role agree on what "desired" is. See docs/drift.md.
options:
  baseline:
    description:
      - The desired state, a mapping with any of the sections C(files), C(trees), C(packages), C(services),
        C(sysctls), C(ports) and C(users), each a list. Unknown sections and keys are refused.
      - "C(files): C(path) (absolute), C(state) (V(file), V(directory), V(link) or V(absent); default V(file)),
        C(sha256), C(mode) (octal string such as V('0644')), C(owner), C(group) (names or numeric ids),
        C(target) (links)."
      - "C(trees): C(path), C(mode), C(owner), C(group) of the directory, C(entries) (relative path to
        C(type) (V(file), V(directory), V(link)), C(sha256), C(mode), C(owner), C(group), C(target)),
        C(exact) (default V(true): anything not declared is drift) and C(ignore) (glob patterns)."
      - "C(packages): C(name), C(state) (V(present) or V(absent)), C(version) (exact installed version)."
      - "C(services): C(name), C(state) (V(running) or V(stopped)), C(enabled) (boolean); at least one of the two."
      - "C(sysctls): C(name) (dotted or slash form), C(value) (compared with whitespace normalised)."
      - "C(ports): C(port), C(protocol) (V(tcp) or V(udp)), C(address) (optional: this address exactly),
        C(state) (V(listening) or V(closed))."
      - "C(users): C(name), C(state) (V(present) or V(absent)), C(uid), C(gid), C(home), C(shell)."
    type: dict
    required: true
  command_timeout:
    description: Seconds each external query (dpkg-query, rpm, systemctl, an init script's status) may take.
    type: int
    default: 20
extends_documentation_fragment:
  - changeward.hybrid.ledger.target
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: The scan only reads; it behaves the same in check mode.
  diff_mode:
    support: partial
    details:
      - The result's C(diff) holds each drifted attribute as the host has it (before) and as the baseline declares
        it (after) - what a remediation would change. The scan changes nothing, so Ansible prints no diff for it;
        a registered result or a callback reads it.
  platform:
    platforms: posix
notes:
  - Services are queried with C(systemctl show) when systemd is the running init, else with
    C(/etc/init.d/<name> status) (LSB exit codes 0 running, 1-3 stopped, anything else unknown); "enabled"
    there means an C(S<NN><name>) link in C(/etc/rc2.d).
  - A service that does not exist counts as stopped and disabled. A sysctl the kernel does not have is
    unknown, not drift.
seealso:
  - module: changeward.hybrid.drift_report
  - name: Drift detection and remediation
    description: Baseline format, the two detectors, report, exit codes, accepted drift, remediation.
    link: https://github.com/changeward/hybrid/blob/main/docs/drift.md
"""

EXAMPLES = r"""
- name: Render the declared baseline from the role's variables
  ansible.builtin.include_role:
    name: changeward.hybrid.drift_baseline
    tasks_from: render

- name: Scan
  changeward.hybrid.drift_scan:
    baseline: "{{ drift_baseline_spec }}"
  register: drift_scan_result

- name: Scan a hand-written baseline
  changeward.hybrid.drift_scan:
    baseline:
      files:
        - {path: /etc/motd, sha256: "{{ lookup('ansible.builtin.file', 'motd') | hash('sha256') }}", mode: "0644"}
        - {path: /etc/cron.d/legacy, state: absent}
      trees:
        - path: /etc/app/conf.d
          entries: {"10-main.conf": {mode: "0644"}, "20-tls.conf": {mode: "0600", owner: app}}
      packages:
        - {name: nginx, version: 1.22.1-9}
      services:
        - {name: nginx, state: running, enabled: true}
      sysctls:
        - {name: net.ipv4.ip_forward, value: 0}
      ports:
        - {port: 443, protocol: tcp}
      users:
        - {name: app, uid: 990, shell: /usr/sbin/nologin}
"""

RETURN = r"""
status:
  description: V(in_sync), V(drifted) (any finding) or V(unknown) (no finding, but something could not be evaluated).
  returned: success
  type: str
  sample: drifted
findings:
  description: Differences, one per item and attribute.
  returned: success
  type: list
  elements: dict
  sample:
    - {class: file, item: /etc/app/app.conf, attribute: sha256, expected: "9f86d0...", actual: "e3b0c4..."}
    - {class: service, item: nginx, attribute: state, expected: running, actual: stopped}
unknown:
  description: Items that could not be evaluated, with the reason.
  returned: success
  type: list
  elements: dict
  sample: [{class: package, item: nginx, reason: "no package manager found (dpkg-query or rpm)"}]
checked:
  description: Number of items compared per class (file, package, service, sysctl, port, user).
  returned: success
  type: dict
  sample: {file: 6, package: 1, service: 1, sysctl: 1, port: 1, user: 0}
checked_total:
  description: Total number of items compared.
  returned: success
  type: int
  sample: 10
baseline_sha256:
  description: sha256 of the canonical baseline, naming the desired state this result was judged against.
  returned: success
  type: str
  sample: 5d41402abc4b2a76b9719d911017c592ae3a2b4c6ad26d7fa0d0c3d5c1f0e4a7
elapsed:
  description: Seconds the scan took on the target.
  returned: success
  type: float
  sample: 0.042
error:
  description: Class of the error when the module failed (V(BaselineError) for a malformed baseline).
  returned: failure
  type: str
  sample: BaselineError
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.changeward.hybrid.plugins.module_utils.drift.errors import BaselineError, DriftError
from ansible_collections.changeward.hybrid.plugins.module_utils.drift.proc import Runner
from ansible_collections.changeward.hybrid.plugins.module_utils.drift.scan import scan

ARGUMENT_SPEC = {
    "ledger": {"type": "str"},  # module_defaults of the group; its action never sends it
    "key": {"type": "str", "no_log": True},
    "baseline": {"type": "dict", "required": True},
    "command_timeout": {"type": "int", "default": 20},
}


def ensure_scanned(module):
    """The scan result; reading is all this module does, in or out of check mode."""
    return scan(module.params["baseline"], run=Runner(module.run_command), timeout=module.params["command_timeout"])


def run(module):
    if module.params["command_timeout"] <= 0:
        raise BaselineError("command_timeout must be positive")
    return ensure_scanned(module)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    try:
        result = run(module)
    except BaselineError as exc:
        module.fail_json(msg=str(exc), error="BaselineError")
    except DriftError as exc:
        module.fail_json(msg=str(exc), error=type(exc).__name__)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
