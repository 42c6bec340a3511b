# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: drift_report
short_description: Build the drift report, record it in the ledger, plan and verify remediation
version_added: "0.1.0"
author: changeward maintainers (!UNKNOWN)
description:
  - Runs on the controller (it is an action plugin). Three phases share one report model.
  - V(report) builds one report from the two detectors - the C(changeward.hybrid.drift_scan) results
    registered on each target and the check-mode evidence the C(changeward.hybrid.drift_collector) callback
    collected in this run - with per host V(in_sync), V(drifted) or V(unknown), grouped by env_type, region and
    site. It writes the JSON report (schema docs/schemas/drift-report.schema.json) and a Markdown summary, and
    records every finding in the change ledger.
  - V(plan) sorts the hosts of a report by the policy's C(drift) section into those remediated automatically,
    those that need a person and those deferred (unreachable hosts of a deferred env_type), opens the
    remediation change record in the ledger, and refuses - closing the record as aborted - when a gate (at
    least the blackout gate) blocks. Each host for a person gets one open review record (C(DRIFT-REVIEW-<host>));
    a host whose open review already lists every finding gets nothing more, new findings are added to it, so a
    nightly run - refused or not - never piles up reviews.
  - With the drift playbooks' declared state (O(declared_var)), V(plan) also leaves to a person a host whose
    declared state has a role that declares no snapshot scope (C(meta/changeward.yml) C(snapshot:)), or no
    declared state at all, and returns the scope of every role (RV(role_scopes)).
  - V(verify) compares the re-scan (detector V(scan)) and/or the re-check (detector V(check), the segment
    O(recheck_segment) of the C(drift_collector) evidence) of the remediated hosts, records the snapshots and the
    verification and closes the change record with its outcome.
  - "Host status: V(drifted) when any finding is left after accepted drift; else V(unknown) when anything could
    not be evaluated (unreachable, no result, a task without check-mode support, a skipped command/shell, an
    error, an unreadable item); else V(in_sync). A target without evidence from a detector is unknown: no data is
    never in sync."
  - "Exit code (RV(exit_code)), as C(terraform plan -detailed-exitcode): V(0) all in sync, V(2) drift and nothing
    unknown, V(1) anything unknown. The C(drift_collector) callback can make ansible-playbook exit with it."
options:
  phase:
    description: What to do.
    type: str
    choices: [report, plan, verify]
    default: report
  targets:
    description:
      - Host names the report is about (phase V(report)). Every one must be in the inventory. Labels come from
        each host's C(changeward_labels) (or host variables of the same names).
    type: list
    elements: str
  detectors:
    description: The detectors whose evidence makes the report (phase V(report)) or verifies the remediation
      (phase V(verify)).
    type: list
    elements: str
    default: [scan]
  scan_var:
    description: Host variable holding each target's registered C(changeward.hybrid.drift_scan) result.
    type: str
    default: drift_scan_result
  check_results:
    description:
      - Path of the check-mode evidence written by the C(changeward.hybrid.drift_collector) callback. By default
        the file of the callback of this very run (found through the environment the callback sets); results of
        another run are refused as stale.
    type: path
  run_id:
    description:
      - Id of this drift run (subject of its ledger events). Defaults to the callback's run id, else a new one.
    type: str
  accepted:
    description:
      - Accepted drift, a list or the path of a YAML file holding one. Each entry has C(host) (glob), C(class)
        (V(file), V(package), V(service), V(sysctl), V(port), V(user), V(task) or V(*)), C(item) (glob), optionally
        C(attribute) and C(actual) (only this exact value is accepted), and the required C(approver), C(reason)
        and C(expires) (RFC 3339 with an offset, or a date meaning 00:00 UTC that day). Optional C(id) and
        C(reference).
      - Active entries move matching findings to the host's C(accepted) list; expired ones accept nothing and
        are listed. An expiry further away than the policy's C(drift.acceptance_max_days) is refused.
    type: raw
  policy:
    description:
      - The changeward policy (a mapping or a YAML path); only its C(drift) section is read. Defaults to the
        C(changeward_policy) variable. Without one nothing is remediated automatically.
    type: raw
  output_dir:
    description:
      - Directory for C(drift-<run_id>.json), C(drift-<run_id>.md), C(latest.json) and C(latest.md)
        (mode 0600; the JSON holds diffs). Nothing is written in check mode.
      - When omitted, C(CHANGEWARD_DRIFT_REPORT_DIR); else, when ansible-runner runs the job (AWX/AAP,
        ansible-navigator), C(changeward-drift) in the job's artifact directory (C(AWX_ISOLATED_DATA_DIR));
        else C(~/.local/state/changeward/drift). A job in a container with none of these is refused - its home
        directory is thrown away with it.
    type: path
  include_diffs:
    description: Keep check-mode diffs in the report (masked for secret patterns; never in the ledger).
    type: bool
    default: true
  title:
    description: Title of the Markdown summary.
    type: str
  record:
    description:
      - Record in the ledger. Every finding is recorded, so with V(true) a missing ledger is an error. V(false)
        for a report that is only looked at. Phases V(plan) and V(verify) always need the ledger.
    type: bool
    default: true
  report:
    description: Phase V(plan) - the RV(report) of phase V(report) of this run.
    type: dict
  change_id:
    description: Phases V(plan) and V(verify) - id of the remediation change record.
    type: str
  requester:
    description: Phase V(plan) - who requests the remediation. Defaults to the run's identity (AWX user, env, OS).
    type: str
  gates:
    description:
      - Phase V(plan) - gate name to the registered result of that gate. C(blackout) (a
        C(changeward.hybrid.blackout) result, registered with C(enforce=false)) is required. A gate result that
        does not plainly say C(blocked=false) counts as blocking.
    type: dict
  remediated:
    description: Phase V(verify) - the hosts the plan remediated (RV(remediate) of phase V(plan)).
    type: list
    elements: str
  rescan_var:
    description: Phase V(verify) - host variable with each remediated host's re-scan result.
    type: str
    default: drift_rescan_result
  snapshot_var:
    description: Phase V(verify) - host variable with each host's C(changeward.hybrid.snapshot) result.
    type: str
    default: drift_snapshot_result
  error_var:
    description: Phase V(verify) - host variable set to a message when remediation of that host failed.
    type: str
    default: drift_remediation_error
  declared_var:
    description:
      - Host variable with each host's declared state, as the C(changeward.hybrid.drift_state) filter returns it
        (the drift playbooks set it). Phase V(report) - a host with no declared roles is unknown for the check
        detector, and roles no scan baseline stands for are unknown when only the scan detector runs. Phase
        V(plan) - see the description. Ignored when no target has it.
    type: str
    default: drift_declared
  recheck_segment:
    description: Phase V(verify) with detector V(check) - the C(drift_collector) evidence segment of the re-check.
    type: str
    default: verify
extends_documentation_fragment:
  - changeward.hybrid.ledger
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Builds the report and the plan but writes no file and nothing to the ledger.
  diff_mode:
    support: none
  platform:
    platforms: all
    details: Runs on the controller only.
notes:
  - Run it once (C(run_once) or a play on localhost); it reads every target's results from C(hostvars).
  - The ledger events are C(io.changeward.drift.detected) (per host not in sync), C(io.changeward.drift.reported),
    C(io.changeward.drift.deferred), C(io.changeward.drift.refused), C(io.changeward.drift.verified) and the
    change record events. Diffs reach the ledger only as sha256.
seealso:
  - module: changeward.hybrid.drift_scan
  - module: changeward.hybrid.blackout
  - name: Drift detection and remediation
    description: Detectors, report, exit codes, accepted drift, the remediation playbook.
    link: https://github.com/changeward/hybrid/blob/main/docs/drift.md
"""

EXAMPLES = r"""
- name: Report drift of every target
  changeward.hybrid.drift_report:
    targets: "{{ query('ansible.builtin.inventory_hostnames', drift_targets) }}"
    detectors: [scan, check]
    accepted: accepted-drift.yml
    output_dir: /var/lib/changeward/drift
  register: drift
  run_once: true

- name: Plan the remediation (after the blackout gate, registered with enforce=false)
  changeward.hybrid.drift_report:
    phase: plan
    report: "{{ drift.report }}"
    change_id: "DRM-{{ drift.run_id }}"
    gates:
      blackout: "{{ blackout_gate }}"
  register: drift_plan

- name: Verify and close
  changeward.hybrid.drift_report:
    phase: verify
    change_id: "{{ drift_plan.change_id }}"
    remediated: "{{ drift_plan.remediate }}"
"""

RETURN = r"""
report:
  description: Phase V(report) - the whole report (schema docs/schemas/drift-report.schema.json).
  returned: phase report
  type: dict
  sample:
    format: changeward-drift-report/1
    run_id: DRIFT-20250601T120000Z
    generated_at: '2025-06-01T12:00:00Z'
    detectors:
    - scan
    hosts:
      dc-1:
        env_type: onprem
        region: onprem-eu
        site: dc1
        status: drifted
        reachable: true
        detectors:
          scan: drifted
        findings:
        - detector: scan
          class: service
          item: app
          attribute: state
          expected: running
          actual: stopped
          id: c78e6a14dd71
        accepted: []
        unknown: []
        labels:
          rollback_capability: full
    acceptances:
      active: []
      expired: []
      unused: []
    groups:
    - env_type: onprem
      region: onprem-eu
      site: dc1
      hosts:
      - dc-1
      in_sync: 0
      drifted: 1
      unknown: 0
    summary:
      hosts: 1
      in_sync: 0
      drifted: 1
      unknown: 0
      unreachable: 0
      findings: 1
      accepted: 0
      unknown_items: 0
      expired_acceptances: 0
      by_class:
        file: 0
        package: 0
        service: 1
        sysctl: 0
        port: 0
        user: 0
        task: 0
      by_env_type:
        onprem:
          in_sync: 0
          drifted: 1
          unknown: 0
    exit_code: 2
    status: drifted
status:
  description: Phase V(report) - V(in_sync), V(drifted) or V(unknown) for the run as a whole.
  returned: phase report
  type: str
  sample: drifted
exit_code:
  description: Phase V(report) - 0 all in sync, 2 drift and nothing unknown, 1 anything unknown.
  returned: phase report
  type: int
  sample: 2
summary:
  description: Phase V(report) - host and finding counts, by class and by env_type.
  returned: phase report
  type: dict
  sample: {hosts: 12, in_sync: 9, drifted: 2, unknown: 1, unreachable: 1, findings: 7}
markdown:
  description: Phase V(report) - the Markdown summary.
  returned: phase report
  type: str
  sample: '# Drift report DRIFT-20250601T120000Z


  Generated 2025-06-01T12:00:00Z by scan. Overall: **drifted** (exit code 2).

  '
files:
  description: Phase V(report) - paths written (C(json), C(md), C(latest.json), C(latest.md)).
  returned: phase report
  type: dict
  sample:
    json: /var/lib/changeward/drift/drift-DRIFT-20250601T120000Z.json
    md: /var/lib/changeward/drift/drift-DRIFT-20250601T120000Z.md
    latest.json: /var/lib/changeward/drift/latest.json
    latest.md: /var/lib/changeward/drift/latest.md
run_id:
  description: Phase V(report) - the drift run id.
  returned: phase report
  type: str
  sample: DRIFT-20250101T020000Z-a1b2c3
plan:
  description: Phase V(plan) - C(remediate), C(manual) (with reasons), C(deferred) and C(in_sync) hosts.
  returned: phase plan
  type: dict
  sample:
    remediate:
    - dc-1
    manual:
    - host: dc-legacy
      reasons:
      - rollback_capability none not allowed for automatic remediation
    deferred:
    - host: edge-1
      reason: unreachable; the next run picks it up
    in_sync:
    - cloud-a
    - cloud-b
remediate:
  description: Phase V(plan) - hosts to remediate now; empty when refused.
  returned: phase plan
  type: list
  elements: str
  sample:
    - dc-1
change_id:
  description: Phase V(plan) - the remediation change record, or null when nothing is remediated automatically.
  returned: phase plan
  type: str
  sample: CHG-DRIFT-20250601T120000Z
review_id:
  description: Phase V(plan) - the first review record this run opened, or null.
  returned: phase plan
  type: str
  sample: DRIFT-REVIEW-dc-legacy
reviews:
  description:
    - Phase V(plan) - review records by what this run did to them - C(opened), C(updated) (new findings added)
      and C(unchanged) (the host's open review already lists everything).
  returned: phase plan
  type: dict
  sample: {opened: [DRIFT-REVIEW-dc-legacy], updated: [], unchanged: [DRIFT-REVIEW-edge-7]}
role_scopes:
  description: Phase V(plan) - per role of the declared states (except drift_baseline) its snapshot scope, or null.
  returned: phase plan
  type: dict
  sample: {sysctl_setting: {paths: [/etc/sysctl.d/60-changeward.conf]}}
scopes:
  description:
    - Phase V(plan) - per host to remediate, the snapshot scope (C(paths), C(packages), C(services)) its declared
      roles declare; drift_baseline's own scope comes from its rendered baseline and is added by the playbook.
  returned: phase plan
  type: dict
  sample: {cloud-a: {paths: [/etc/sysctl.d/60-changeward.conf], packages: [], services: []}}
report_dir:
  description: Phase V(report) - the directory the report files were written to, or null in check mode.
  returned: phase report
  type: str
  sample: /runner/artifacts/4711/changeward-drift
refused:
  description: Phase V(plan) - a gate blocked the remediation; the record is closed as aborted and the task fails.
  returned: phase plan
  type: bool
  sample: false
reasons:
  description: Phase V(plan) - why it was refused.
  returned: phase plan
  type: list
  elements: str
  sample:
    - 'blackout: inside blackout window ''month-end freeze'' until 2025-06-02T00:00:00Z'
verification:
  description: Phase V(verify) - C(restored), C(not_restored) (host and reason) and the re-scan status per host.
  returned: phase verify
  type: dict
  sample:
    restored:
    - dc-1
    not_restored: []
    hosts:
      dc-1:
        status: in_sync
        findings: 0
        unknown: 0
outcome:
  description: Phase V(verify) - V(successful) or V(failed) (the task fails then).
  returned: phase verify
  type: str
  sample: successful
snapshots:
  description: Phase V(verify) - snapshot ids recorded on the change record.
  returned: phase verify
  type: list
  elements: dict
  sample:
    - host: dc-1
      id: snap-20250601-120512-dc-1
recorded:
  description: Whether the ledger was written.
  returned: always
  type: bool
  sample: true
ledger_seq:
  description: Sequence number of the last ledger event written, or null.
  returned: always
  type: int
  sample: 1207
"""
