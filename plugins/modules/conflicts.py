# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file only documents the module; the action plugin plugins/action/conflicts.py does the work.

DOCUMENTATION = r"""
---
module: conflicts
short_description: Conflicts of a change with provider maintenance, other open changes and blackout windows
version_added: "0.1.0"
author: changeward maintainers (!UNKNOWN)
description:
  - Finds what else happens to a change's hosts while it runs. The change's window is O(start) (default now) plus
    O(duration) (default the gate policy's C(conflicts.change_duration), 2h).
  - "Provider maintenance: the feeds of the gate policy's C(conflicts.feeds) - AWS Health (DescribeEvents with
    affected entities, or EventBridge C(aws.health) events; or the API itself, C(src: aws:health), through boto3; the
    C(scheduledChange) category), Azure Scheduled Events
    (Reboot, Redeploy, Freeze, Preempt, Terminate) and GCP (an instance's C(upcomingMaintenance), the metadata
    server's C(maintenance-event)) - normalised into windows and mapped to the targets by their C(provider),
    C(region), C(az) and C(instance_id) labels."
  - "Other changes: every open change of the ledger on an overlapping host, or on the same service or a dependent
    one (O(dependency_map)), whose expected window overlaps (from its opening until C(change_duration) after the
    later of its opening and now - it has not closed yet - or its planned end if later); and every planned change
    (M(changeward.hybrid.change_plan), scheduled and not opened yet) whose planned window overlaps."
  - "A change with a plan: without O(start), a plan not opened yet is checked in its planned window (ahead of time;
    nothing is recorded, it has no change record yet), an opened one from now until its planned end if later."
  - "Blackouts: windows of the effective policy's blackout calendars for the change's scope that overlap the
    window (the blackout gate decides about now; this finds a window that starts while the change runs)."
  - Each kind refuses or warns as the policy's C(conflicts.decisions) says (provider maintenance, changes and SaaS
    refuse, blackout and cloud targets no feed covers warn, by default). Fails closed - a feed or calendar that
    cannot be read, a missing ledger, or a target in an event's region without an C(instance_id) is "cannot
    decide", which always refuses.
  - With O(change_id) the decision is recorded in the change (C(gate_decisions), gate C(conflicts)) before the task
    returns, a refusal too. A refused change fails the task unless O(report_only=true).
options:
  change_id:
    description:
      - The change being checked. Its own record is not a conflict, and the decision is recorded in it.
      - Without it (a planned change) nothing is recorded.
    type: str
  targets:
    description: The change's hosts, inventory host names (their labels are read from hostvars).
    type: list
    elements: str
    required: true
  service:
    description: The service the change is about; open changes of the same or a dependent service conflict.
    type: str
  change_type:
    description: The change type, matched by calendar windows scoped with C(change_type=...).
    type: str
    default: normal
    choices: [standard, normal, emergency]
  start:
    description:
      - When the change starts - an ISO 8601 instant with a UTC offset, unix seconds or V(now) (the default).
      - A later start checks a planned change against what is scheduled then.
    type: raw
  duration:
    description: How long the change runs (V(90m), V(2h), seconds). Default the policy's C(conflicts.change_duration).
    type: raw
  scope:
    description:
      - Labels of the change for the blackout calendars (C(service), C(env_type), C(region), ...).
      - Default - O(service) and the targets' C(env_type) and C(region).
    type: dict
  dependency_map:
    description:
      - Service dependencies, provider service -> list of consuming services, or the dependency graph's store (a
        mapping or a YAML file), read both ways - an open or planned change of a service this one consumes or that
        consumes it conflicts too.
      - Defaults to the inventory's C(changeward_dependency_map) (pinned, as M(changeward.hybrid.risk_score) reads
        it).
    type: raw
  report_only:
    description: Only report; a refused change does not fail the task.
    type: bool
    default: false
  policy:
    description:
      - The central gate policy, a mapping or a path to its YAML file. Its C(conflicts) section gives the feeds, the
        decisions and the durations; its C(blackout) section the calendars.
      - Defaults to the C(changeward_policy) variable of the inventory (pinned - see docs/trust-model.md).
    type: raw
  policy_local:
    description:
      - Local policies (a mapping, a path, or a list of them) merged into O(policy); they may only tighten it (turn a
        warning into a refusal, add feeds, lengthen C(change_duration)).
      - Defaults to the C(changeward_policy_local) variable of this host and of each target host.
    type: raw
extends_documentation_fragment:
  - changeward.hybrid.ledger
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: The check is the same; nothing is written to the ledger.
  diff_mode:
    support: none
  platform:
    platforms: all
    details: Runs on the controller only.
notes:
  - Run it once per change (C(run_once) or a play on localhost), not once per host.
  - Azure's and GCP's metadata endpoints answer only on the VM itself; point a feed at a copy the operator collects
    (per VM, with C(instance_id) for a C(maintenance-event) value), or at the endpoint when the controller runs on
    that VM (C(Metadata) and C(Metadata-Flavor) headers are sent).
  - "AWS Health: C(src: aws:health) calls C(DescribeEvents) (C(scheduledChange), open and upcoming) and
    C(DescribeAffectedEntities) with boto3 - SigV4 with the usual credential chain (environment, C(AWS_PROFILE) or
    the feed's C(profile), container or instance role), the global endpoint in us-east-1 or the feed's
    C(endpoint_url). It needs boto3 on the controller and a Business or Enterprise support plan; any failure is
    \"cannot decide\". Recorded answers or EventBridge events from a file or URL work too."
seealso:
  - module: changeward.hybrid.blackout
  - module: changeward.hybrid.saas_health
  - name: Calendars across providers
    description: Feeds, the conflict rules, the policy section and the published calendar.
    link: https://github.com/changeward/hybrid/blob/main/docs/calendars-across-providers.md
"""

EXAMPLES = r"""
- name: Gate - conflicts with provider maintenance, other changes and blackouts
  changeward.hybrid.conflicts:
    change_id: "{{ changeward_change.id }}"
    targets: "{{ changeward_change.targets }}"
    service: billing
    duration: 90m
  register: conflicts
  run_once: true

- name: Would a change next Tuesday night collide with anything? (planned, nothing recorded)
  changeward.hybrid.conflicts:
    targets: "{{ groups['service_billing'] }}"
    service: billing
    start: "2026-12-15T22:00:00+01:00"
    duration: 2h
    report_only: true
  register: planned
  run_once: true
"""

RETURN = r"""
blocked:
  description: Whether the change is refused (a refusing conflict, or something that cannot be decided).
  returned: always
  type: bool
  sample: false
conflicts:
  description:
    - Every conflict found, with its C(kind) (provider_maintenance, change, blackout, unchecked_providers), what it is
      C(with) (the event id, the other change's id, the calendar window's uid), its C(name), its C(window) and the
      C(overlap) with the change (C(start), C(end); C(end) null for an open-ended maintenance), the C(hosts) it
      touches and the C(decision) (refuse or warn). A provider maintenance carries the normalised C(event); another
      change C(planned) (true for a plan not opened yet) and C(why) (shared hosts, related service).
  returned: always
  type: list
  elements: dict
  sample:
    - kind: provider_maintenance
      with: "arn:aws:health:eu-west-1::event/EC2/AWS_EC2_INSTANCE_REBOOT_MAINTENANCE_SCHEDULED/..."
      name: aws AWS_EC2_INSTANCE_REBOOT_MAINTENANCE_SCHEDULED arn:aws:health:...
      window: {start: "2026-12-08T02:00:00Z", end: "2026-12-08T04:00:00Z"}
      overlap: {start: "2026-12-08T02:00:00Z", end: "2026-12-08T03:00:00Z"}
      hosts: [cloud-euw1a-01]
      decision: refuse
cannot_decide:
  description: Why the check cannot decide (unreadable feeds or calendars, no ledger, unmapped hosts); any refuses.
  returned: always
  type: list
  sample: []
  elements: str
warnings:
  description: The conflicts whose decision is warn, described.
  returned: always
  type: list
  sample:
    - unchecked providers no maintenance feed for their provider on onprem-dc1-01, overlapping 2026-01-05T10:00:00Z
      - 2026-01-05T12:00:00Z
  elements: str
window:
  description: The change's window checked, C(start) and C(end) (ISO 8601 UTC).
  returned: always
  type: dict
  sample:
    start: '2026-01-05T10:00:00Z'
    end: '2026-01-05T12:00:00Z'
feeds:
  description: The feeds read, each with C(name), C(format), C(provider), C(events) (maintenances) and C(ignored).
  returned: always
  type: list
  sample:
    - name: aws-health
      format: aws_health
      provider: aws
      events: 2
      ignored: 0
  elements: dict
plan:
  description:
    - When the change has a plan (M(changeward.hybrid.change_plan)) - its planned C(start) and C(end), and whether
      the change has C(opened).
  returned: when the change has a plan
  type: dict
  sample:
    start: '2026-01-05T10:00:00Z'
    end: '2026-01-05T12:00:00Z'
    opened: true
targets:
  description: The hosts checked.
  returned: always
  type: list
  sample:
    - cloud-use1a-01
    - onprem-dc1-01
  elements: str
policy:
  description: The effective gate policy's C(digest) and C(sources).
  returned: always
  type: dict
  sample:
    digest: sha256:9f2c6b1e8a7d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b
    sources:
    - built-in defaults
    - policy
    - changeward_policy_local of host onprem-dc1-01
recorded:
  description: Whether the decision was recorded in the change.
  returned: always
  type: bool
  sample: true
ledger_seq:
  description: Sequence number of the recorded decision.
  returned: always
  type: int
  sample: 7
ledger:
  description: The ledger the decision was recorded in.
  returned: when recorded
  type: str
  sample: /var/lib/changeward/ledger.db
msg:
  description: The decision, naming every refusing conflict and what could not be decided.
  returned: always
  type: str
  sample: 'change CHG-42: no conflict in 2026-01-05T10:00:00Z - 2026-01-05T12:00:00Z'
"""
