# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file only documents the module; the action plugin plugins/action/change_plan.py does the work.

DOCUMENTATION = r"""
---
module: change_plan
short_description: Schedule a change ahead - its window, service and targets in the ledger before it opens
version_added: "0.1.0"
author: changeward maintainers (!UNKNOWN)
description:
  - A planned change, recorded in the change ledger before it opens, so that other changes are checked against it
    and people see it in the published calendar. The states follow ServiceNow's change request (as
    C(servicenow.itsm.change_request) names them) for the part before a change is implemented.
  - O(state=scheduled) records the plan (an C(io.changeward.plan.scheduled) event of the change id) - its window
    [O(start), O(end)) (or O(start) plus O(duration)), its O(service) and O(targets). Scheduling it again with other
    values moves it (a new event; the requester is fixed); the same values change nothing.
  - O(state=canceled) withdraws the plan (C(io.changeward.plan.canceled), with O(reason)).
  - O(state=read) returns the plan and its state - C(scheduled), C(canceled), or C(implemented) once a change with
    the same id has opened.
  - "The change opens with the same id (the main job's C(changeward_change_id), M(changeward.hybrid.change_record)):
    the plan is then implemented and that change is the running one - the ledger holds no second record. Until it
    opens, M(changeward.hybrid.conflicts) finds every change that overlaps the planned window on a shared host or
    a related service; once open, the change keeps other changes clear until its planned end if that is later;
    M(changeward.hybrid.calendar_publish) shows it as C([planned]), then under the same UID as C([running])."
  - A plan cannot be scheduled or canceled for a change that has already opened, nor for a window that is over.
options:
  state:
    description: What to do with the plan.
    type: str
    default: scheduled
    choices: [scheduled, canceled, read]
  change_id:
    description: The id the change will open with.
    type: str
    required: true
  type:
    description: The change type it will have.
    type: str
    default: normal
    choices: [standard, normal, emergency]
  summary:
    description: What the change will do. Required with O(state=scheduled).
    type: str
  requester:
    description: Who asks for the change. Required with O(state=scheduled); fixed once the plan is scheduled.
    type: str
  service:
    description: The service the change is about (other changes of the same or a dependent service conflict).
    type: str
  targets:
    description: The hosts the change will touch, inventory host names; required (not empty) to schedule.
    type: list
    elements: str
    default: []
  start:
    description:
      - When the planned window starts - an ISO 8601 instant with a UTC offset, unix seconds or V(now). Required with
        O(state=scheduled).
    type: raw
  end:
    description: When the planned window ends (same forms as O(start)). Mutually exclusive with O(duration).
    type: raw
  duration:
    description: The planned window's length (V(90m), V(2h), seconds) when O(end) is not given. Default V(2h).
    type: raw
  reason:
    description: With O(state=canceled), why (recorded with the cancellation).
    type: str
extends_documentation_fragment:
  - changeward.hybrid.ledger
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Validates the plan and returns it as it would be; nothing is written.
  diff_mode:
    support: full
    details: The plan before and after the task, when it changes.
  platform:
    platforms: all
    details: Runs on the controller only.
notes:
  - A plan is an event in the chain, not a change record - it never counts as a change in reports, and a canceled
    plan stays visible in the ledger.
seealso:
  - module: changeward.hybrid.change_record
  - module: changeward.hybrid.conflicts
  - module: changeward.hybrid.calendar_publish
  - name: Calendars across providers
    description: Planned changes, the conflict rules and the published calendar.
    link: https://github.com/changeward/hybrid/blob/main/docs/calendars-across-providers.md
"""

EXAMPLES = r"""
- name: Plan next Tuesday's billing release
  changeward.hybrid.change_plan:
    change_id: CHG-2026-0412
    type: normal
    summary: Release billing 4.2
    requester: alice
    service: billing
    targets: "{{ groups['service_billing'] }}"
    start: "2026-12-15T22:00:00+01:00"
    duration: 2h
  run_once: true

- name: Would it collide with anything scheduled then? (the plan's window, nothing recorded)
  changeward.hybrid.conflicts:
    change_id: CHG-2026-0412
    targets: "{{ groups['service_billing'] }}"
    service: billing
    report_only: true
  run_once: true

- name: Cancel it
  changeward.hybrid.change_plan:
    state: canceled
    change_id: CHG-2026-0412
    reason: superseded by CHG-2026-0419
  run_once: true
"""

RETURN = r"""
plan:
  description:
    - The plan - C(id), C(type), C(summary), C(requester), C(service), C(targets), C(start) and C(end) (ISO 8601 UTC),
      its C(state) (scheduled, canceled, implemented) and a cancellation's C(reason).
  returned: always
  type: dict
  sample:
    id: CHG-2026-0412
    type: normal
    summary: Release billing 4.2
    requester: alice
    service: billing
    targets: [billing-1, billing-2]
    start: "2026-12-15T21:00:00Z"
    end: "2026-12-15T23:00:00Z"
    state: scheduled
    reason: null
ledger_seq:
  description: Sequence number of the recorded plan event (null in check mode).
  returned: when changed
  type: int
"""
