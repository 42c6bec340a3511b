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
      - The desired state, a mapping with any of the sections below, each a list. Unknown sections and keys are
        refused; a value that cannot be used fails the task with the item and key named (C(files[2].mode)).
      - Values are checked by the module, not converted by Ansible, so V('0644') and the YAML integer 0644 are the
        same mode, and an owner may be a name or a numeric id.
    type: dict
    required: true
    suboptions:
      files:
        description: Files, directories, links and paths that must not exist.
        type: list
        elements: dict
        suboptions:
          path:
            description: Absolute path (required).
            type: raw
          state:
            description: V(file), V(directory), V(link) or V(absent); V(file) when not given.
            type: raw
          sha256:
            description: sha256 of the content (files).
            type: raw
          mode:
            description: Octal mode, such as V('0644').
            type: raw
          owner:
            description: Owner, a name or a numeric id.
            type: raw
          group:
            description: Group, a name or a numeric id.
            type: raw
          target:
            description: Where a link points.
            type: raw
      trees:
        description: Directory trees compared entry by entry.
        type: list
        elements: dict
        suboptions:
          path:
            description: Absolute path of the directory (required).
            type: raw
          mode:
            description: Octal mode of the directory.
            type: raw
          owner:
            description: Owner of the directory.
            type: raw
          group:
            description: Group of the directory.
            type: raw
          entries:
            description:
              - Relative path to its attributes - C(type) (V(file), V(directory), V(link)), C(sha256), C(mode),
                C(owner), C(group), C(target).
            type: raw
          exact:
            description: Anything in the tree that is not declared is drift; V(true) when not given.
            type: raw
          ignore:
            description: Glob patterns of entries that are never drift.
            type: raw
      packages:
        description: Installed packages (dpkg or rpm).
        type: list
        elements: dict
        suboptions:
          name:
            description: Package name (required).
            type: raw
          state:
            description: V(present) or V(absent); V(present) when not given.
            type: raw
          version:
            description: The exact installed version.
            type: raw
      services:
        description: Services - running and enabled at boot; at least one of C(state) and C(enabled).
        type: list
        elements: dict
        suboptions:
          name:
            description: Service name (required).
            type: raw
          state:
            description: V(running) or V(stopped).
            type: raw
          enabled:
            description: Whether it starts at boot (a boolean).
            type: raw
      sysctls:
        description: Kernel parameters read from C(/proc/sys).
        type: list
        elements: dict
        suboptions:
          name:
            description: Parameter name, dotted or slash form (required).
            type: raw
          value:
            description: Its value, compared with whitespace normalised.
            type: raw
      ports:
        description: Listening ports (C(/proc/net/tcp), C(udp) and their IPv6 twins).
        type: list
        elements: dict
        suboptions:
          port:
            description: Port number (required).
            type: raw
          protocol:
            description: V(tcp) or V(udp); V(tcp) when not given.
            type: raw
          address:
            description: This address exactly; any address when not given.
            type: raw
          state:
            description: V(listening) or V(closed); V(listening) when not given.
            type: raw
      users:
        description: Local users (C(/etc/passwd)).
        type: list
        elements: dict
        suboptions:
          name:
            description: User name (required).
            type: raw
          state:
            description: V(present) or V(absent); V(present) when not given.
            type: raw
          uid:
            description: User id.
            type: raw
          gid:
            description: Primary group id.
            type: raw
          home:
            description: Home directory.
            type: raw
          shell:
            description: Login shell.
            type: raw
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


def _section(*keys):
    # raw: the module_utils spec checks and normalises every value itself (a YAML 0644 is the mode 0644, not "420")
    return {"type": "list", "elements": "dict", "options": {key: {"type": "raw"} for key in keys}}


BASELINE_OPTIONS = {
    "files": _section("path", "state", "sha256", "mode", "owner", "group", "target"),
    "trees": _section("path", "mode", "owner", "group", "entries", "exact", "ignore"),
    "packages": _section("name", "state", "version"),
    "services": _section("name", "state", "enabled"),
    "sysctls": _section("name", "value"),
    "ports": _section("port", "protocol", "address", "state"),
    "users": _section("name", "state", "uid", "gid", "home", "shell"),
}

ARGUMENT_SPEC = {
    "ledger": {"type": "str"},  # module_defaults of the group; its action never sends it
    "key": {"type": "str", "no_log": True},
    "baseline": {"type": "dict", "required": True, "options": BASELINE_OPTIONS},
    "command_timeout": {"type": "int", "default": 20},
}


def declared(value):
    """The baseline as the task wrote it: Ansible fills every suboption the task left out with None."""
    if isinstance(value, dict):
        return {k: declared(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [declared(v) for v in value]
    return value


def ensure_scanned(module):
    """The scan result; reading is all this module does, in or out of check mode."""
    baseline = declared(module.params["baseline"])
    return scan(baseline, run=Runner(module.run_command), timeout=module.params["command_timeout"])


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
