# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: blackout
short_description: Gate a change on blackout and maintenance calendars
version_added: "0.1.0"
author: changeward maintainers (!UNKNOWN)
description:
  - Decides on the controller whether a change with a given scope may start at a given time, from iCalendar
    (RFC 5545) calendars or the changeward YAML shorthand. Returns the windows in force, whether the change is
    blocked and when changes are allowed again.
  - A window is the half-open interval [start, end). An event applies to a change when its C(CATEGORIES)
    C(label=value) tokens match the O(scope) (values of one label ORed, labels ANDed, no tokens applies to every
    change; a label the scope does not state counts as matching). O(change_type) is matched as the label
    C(change_type).
  - Blackout windows block. When any maintenance event applies to the scope, changes are allowed only inside
    one of the applicable maintenance windows. Blackout beats maintenance; overlapping windows are ORed.
  - Local times follow RFC 5545 section 3.3.5 - a time in a DST gap uses the UTC offset before the gap, an
    ambiguous time in a DST overlap means its first occurrence.
  - Fails closed. An unreadable, unreachable, empty or malformed calendar, or an HTTP answer other than 200,
    blocks the change and is named in RV(errors); it never counts as "no window".
  - The same check runs at every play start and before every serial batch when the
    C(changeward.hybrid.change_window_guard) callback is enabled. See docs/blackout.md.
  - This module runs on the controller (it is an action plugin); the target host is not contacted.
options:
  calendars:
    description:
      - Calendars to check, added to O(policy) C(blackout.calendars).
      - Each entry is a path (relative paths are searched like other task files), an C(http://) or C(https://)
        URL fetched with a bounded timeout, or a mapping.
      - "A mapping has C(src) (path or URL) or C(windows) (an inline YAML shorthand window list), and optionally
        C(kind) (V(blackout) or V(maintenance), default V(blackout); an event may override it with the
        C(X-CHANGEWARD-KIND) property), C(name) (shown in results), C(tz) (zone of floating times and all-day
        dates), C(format) (V(ics) or V(yaml), default from the file name or content), C(allow_empty) (default
        V(false): a calendar without events is an error) and C(headers) (HTTP request headers, never shown)."
      - At least one calendar must be given here or in the policy; none at all is an error.
    type: list
    elements: raw
    default: []
  at:
    description:
      - The instant to check, ISO 8601 with a UTC offset (for example V(2025-03-31T18:00:00+02:00) or
        V(2025-03-31T16:00:00Z)), unix seconds or V(now). A time without an offset is refused - the same rule
        for every time option of the collection.
      - Defaults to now.
    type: str
  scope:
    description:
      - "What the change touches, as label to value or list of values, for example
        C({service: billing, env_type: [cloud, edge]})."
    type: dict
    default: {}
  change_type:
    description:
      - Kind of change. Only V(emergency) changes can be overridden.
    type: str
    choices: [standard, normal, emergency]
    default: normal
  report_only:
    description:
      - When V(true), a blocked change is reported without failing the task (RV(blocked) says so); by default
        it fails the task. The same name as in every other gate of the collection.
      - Invalid parameters fail the task either way.
    type: bool
  enforce:
    description:
      - The older inverse of O(report_only) (V(false) = report only); deprecated, removed in 2.0.0. Mutually
        exclusive with O(report_only).
    type: bool
  override:
    description:
      - "Emergency override: a statement its approver signed with their ssh key (type V(changeward.override/v1):
        C(change_id), C(change_digest), C(approver), C(role), C(reference), C(justification), C(exemptions),
        C(time); C(ssh-keygen -Y sign -n changeward-approval)). Accepted only when O(change_type=emergency), the
        signature verifies against the policy's C(approval.allowed_signers), the approver holds a role listed in
        C(blackout.override_roles), the reference matches the policy's C(override.reference_pattern), a
        justification is given, every exemption is one C(override.exemptions) allows, and the statement names
        O(change_id) and O(change_digest)."
      - An accepted override lets a blocked change proceed, returns RV(overridden) and RV(review_required) and a
        RV(ledger_event); with O(change_id) it is recorded together with an C(io.changeward.review.opened) event.
      - An unsigned override (C(reference), C(approver), C(role) typed by the caller) is refused, saying why.
    type: dict
    suboptions:
      statement:
        description: The override statement as signed (its text, or a mapping whose canonical JSON was signed).
        type: raw
      signature:
        description: The armored SSH signature of the statement.
        type: str
      file:
        description:
          - Instead of O(override.statement) and O(override.signature), the statement file; its signature is the
            file beside it with C(.sig) appended (what C(ssh-keygen -Y sign) writes). Looked up like other task files.
        type: str
      reference:
        description: Unsigned form of earlier releases; refused.
        type: str
      approver:
        description: Unsigned form of earlier releases; refused.
        type: str
      role:
        description: Unsigned form of earlier releases; refused.
        type: str
  change_digest:
    description:
      - The change digest (M(changeward.hybrid.change_spec)'s C(change.digest)) an override must be signed for.
    type: str
  policy:
    description:
      - The central gate policy (docs/risk-and-approvals.md), a mapping or the path of a YAML file (searched like
        other task files). Defaults to the C(changeward_policy) variable.
      - Its C(blackout) section is read, with keys C(calendars), C(override_roles), C(horizon_days) (default
        V(366)), C(default_timezone) (default V(UTC)) and C(http_timeout) (default V(10)).
      - The whole document is validated against the gate policy schema (it needs C(api_version)).
    type: raw
  policy_local:
    description:
      - Regional policy layers (a mapping, a path, or a list of them). Their C(blackout.calendars) join the
        central ones, so a regional calendar blocks like a central one.
      - Defaults to the C(changeward_policy_local) variable of this host and of every host in O(targets).
    type: raw
  targets:
    description:
      - Inventory host names the change touches. The C(changeward_policy_local) of each (usually set in its
        group_vars by a regional team) joins the policy, with its calendars.
    type: list
    elements: str
    default: []
  change_id:
    description:
      - The change this decision is for. When given (and not in check mode), the decision is recorded in the
        change's ledger entry before the task returns - an C(io.changeward.gate.decided) event adding it to the
        record's C(gate_decisions), and for an accepted override also the C(io.changeward.gate.override) event
        and the C(io.changeward.review.opened) event it opens, all with the change id as subject. The change must be
        open in the ledger (see O(ledger)).
    type: str
  http_timeout:
    description:
      - Seconds to wait for each calendar URL. Defaults to the policy C(blackout.http_timeout) (the same name as
        there and in the window guard).
      - C(timeout) is its deprecated alias, accepted until 2.0.0 (C(timeout) means the wait for the ledger).
    type: float
    aliases: [timeout]
extends_documentation_fragment:
  - changeward.hybrid.ledger
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: The check only reads calendars; it behaves the same in check mode.
  diff_mode:
    support: none
  platform:
    platforms: all
    details: Runs on the controller only.
notes:
  - The action runs once per host of the play. Use C(run_once) or C(delegate_to) localhost when the scope is the
    whole change, so each calendar URL is fetched once.
seealso:
  - name: Blackout and maintenance windows
    description: Calendar formats, semantics, guard configuration, override and horizon.
    link: https://github.com/changeward/hybrid/blob/main/docs/blackout.md
"""

EXAMPLES = r"""
- name: Stop unless billing may be changed now
  changeward.hybrid.blackout:
    calendars:
      - calendars/finance-freeze.ics
      - src: https://calendars.example.com/maintenance/billing.ics
        kind: maintenance
    scope:
      service: billing
      env_type: [cloud, onprem]
  run_once: true

- name: Check a planned start time without failing
  changeward.hybrid.blackout:
    calendars: [calendars/finance-freeze.ics]
    at: "2025-12-31T22:00:00+01:00"
    report_only: true
  register: planned
  run_once: true

- name: Emergency fix during a freeze
  changeward.hybrid.blackout:
    policy: "{{ changeward_policy }}"
    change_id: "{{ changeward_change.id }}"   # records the decision and the override in the change
    targets: "{{ ansible_play_hosts }}"       # their changeward_policy_local calendars apply too
    change_type: emergency
    scope: {service: auth}
    change_digest: "{{ changeward_change.digest }}"
    override:
      file: overrides/INC-4711.json   # signed: ssh-keygen -Y sign -n changeward-approval overrides/INC-4711.json
  register: gate
  run_once: true

- name: Inline YAML shorthand calendar
  changeward.hybrid.blackout:
    calendars:
      - name: year-end
        tz: Europe/Berlin
        windows:
          - name: Year-end freeze
            start: "2025-12-24"
            end: "2026-01-02"
            rrule: FREQ=YEARLY
  run_once: true
"""

RETURN = r"""
blocked:
  description: Whether the change is blocked at RV(checked_at) (also when a calendar could not be used).
  returned: always
  type: bool
  sample: true
overridden:
  description: Whether an emergency override let a blocked change proceed.
  returned: always
  type: bool
  sample: false
review_required:
  description: Whether the change must be reviewed afterwards (set by an accepted override).
  returned: always
  type: bool
  sample: false
active_windows:
  description: Windows of both kinds that apply to the scope and are in force at RV(checked_at).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Event summary.
      type: str
      sample: Month-end billing
    kind:
      description: V(blackout) or V(maintenance).
      type: str
      sample: blackout
    start:
      description: Start, ISO 8601 UTC.
      type: str
      sample: "2025-03-31T22:00:00Z"
    end:
      description: End (exclusive), ISO 8601 UTC.
      type: str
      sample: "2025-04-01T10:00:00Z"
    calendar:
      description: Calendar name (URLs without credentials or query).
      type: str
      sample: calendars/finance-freeze.ics
    uid:
      description: Event UID.
      type: str
      sample: month-end@finance
next_allowed_at:
  description:
    - Earliest time, ISO 8601 UTC, at which the change would be allowed; RV(checked_at) when it is allowed now.
    - V(null) when no allowed time exists within RV(horizon_days), or when a calendar could not be used.
  returned: always
  type: str
  sample: "2025-04-01T10:00:00Z"
checked_at:
  description: The instant checked, ISO 8601 UTC.
  returned: always
  type: str
  sample: "2025-03-31T23:00:00Z"
horizon_days:
  description: How far ahead RV(next_allowed_at) is searched.
  returned: always
  type: int
  sample: 366
maintenance_applies:
  description: Whether a maintenance event applies to the scope (so changes need a maintenance window).
  returned: always
  type: bool
  sample: false
reasons:
  description: Why the change is blocked, one line per window, maintenance rule or calendar error.
  returned: always
  type: list
  elements: str
  sample: ["blackout 'Month-end billing' (finance.ics) 2025-03-31T22:00:00Z to 2025-04-01T10:00:00Z"]
errors:
  description: Calendars that could not be used and why. Any entry blocks the change.
  returned: always
  type: list
  elements: str
  sample: ["calendar https://cal.example.com/x.ics: HTTP 404 Not Found"]
calendars:
  description: Calendars that loaded, with their event counts.
  returned: always
  type: list
  elements: dict
  sample: [{"name": "calendars/finance-freeze.ics", "events": 3}]
override_refused:
  description: Why a given O(override) cannot be used, or V(null).
  returned: always
  type: str
  sample: "an override is accepted only for change_type emergency, not normal"
ledger_event:
  description:
    - CloudEvents 1.0 envelope of type C(io.changeward.gate.override) describing the accepted override
      (reference, approver, role, change type, scope, windows, reasons). The change ledger recorder stores it.
    - Its subject is O(change_id) when given (and the action has recorded it already), else the override's
      reference.
  returned: when an override was accepted
  type: dict
  sample:
    specversion: "1.0"
    type: io.changeward.gate.override
    source: changeward.hybrid.blackout
    subject: CHG-2025-0042
policy:
  description: The effective policy used - its digest and the layers it was built from.
  returned: success
  type: dict
  sample: {"digest": "sha256:...", "sources": ["gates.yml", "changeward_policy_local of host eu-web-1"]}
recorded:
  description: Whether the decision was recorded in the ledger (O(change_id) given, not in check mode).
  returned: success
  type: bool
  sample: true
ledger_seq:
  description: Sequence number of the recorded C(io.changeward.gate.decided) event, or V(null).
  returned: success
  type: int
  sample: 42
ledger:
  description: The ledger the decision was recorded in (a DSN without its password).
  returned: when RV(recorded)
  type: str
  sample: /var/lib/changeward/ledger.db
msg:
  description: Human-readable decision naming the windows and when changes are allowed again.
  returned: always
  type: str
  sample: "Change blocked at 2025-03-31T23:00:00Z: blackout 'Month-end billing' ...; changes are allowed again at
    2025-04-01T10:00:00Z"
"""
