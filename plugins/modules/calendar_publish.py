# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file only documents the module; the action plugin plugins/action/calendar_publish.py does the work.

DOCUMENTATION = r"""
---
module: calendar_publish
short_description: Publish changeward's change calendar as an iCalendar (RFC 5545) feed
version_added: "0.1.0"
author: changeward maintainers (!UNKNOWN)
description:
  - Writes one iCalendar file people subscribe to (Outlook, Google Calendar, Thunderbird, Apple Calendar read it)
    with the changes of the ledger - planned ones (M(changeward.hybrid.change_plan), not opened yet, in their planned
    window), open ones (running; shown until the gate policy's C(conflicts.change_duration) after the later of their
    opening and now, or their planned end if later) and those closed within O(recent) - plus the blackout and
    maintenance windows of the effective gate policy's calendars and the provider maintenance of its
    C(conflicts.feeds) on the inventory's hosts, over O(recent) before and O(horizon) after now.
  - Per team (O(team) - the services the gate policy's C(services.<name>.team) gives it) or per service
    (O(service)); by default everything.
  - Every event has a stable UID (a change id, a window occurrence, a provider event id), so clients update events
    instead of duplicating them; calendar windows carry C(X-CHANGEWARD-KIND) (blackout or maintenance).
  - "Fails closed: a feed, calendar or ledger that cannot be read fails the task and writes nothing - a calendar
    missing a maintenance would tell its subscribers there is none."
  - The file is replaced atomically; C(changed) says whether anything but its time stamps differs.
options:
  dest:
    description: The iCalendar file to write (serve it with any web server for subscribers).
    type: path
    required: true
  team:
    description: Only this team's services (from the gate policy's C(services.<name>.team)).
    type: str
  service:
    description: Only this service.
    type: str
  hosts:
    description: Inventory hosts whose provider maintenance is shown. Default all hosts of the inventory.
    type: list
    elements: str
  recent:
    description: How far back closed changes and windows are shown (V(7d), V(36h), seconds).
    type: raw
    default: 7d
  horizon:
    description: How far ahead windows and maintenance are shown.
    type: raw
    default: 30d
  name:
    description: The calendar's display name (C(X-WR-CALNAME)). Default from O(team) or O(service).
    type: str
  mode:
    description: File mode of O(dest).
    type: raw
    default: "0644"
  policy:
    description:
      - The central gate policy (a mapping or a YAML path); default the pinned C(changeward_policy) of the inventory.
    type: raw
  policy_local:
    description:
      - Local policies merged into O(policy); default the C(changeward_policy_local) of this host and of O(hosts).
    type: raw
extends_documentation_fragment:
  - changeward.hybrid.ledger
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Builds the calendar and reports C(changed) without writing it.
  diff_mode:
    support: none
  platform:
    platforms: all
    details: Runs on the controller only.
seealso:
  - module: changeward.hybrid.conflicts
  - name: Calendars across providers
    description: What the published calendar holds and how to subscribe to it.
    link: https://github.com/changeward/hybrid/blob/main/docs/calendars-across-providers.md
"""

EXAMPLES = r"""
- name: Publish the billing team's change calendar
  changeward.hybrid.calendar_publish:
    dest: /var/www/calendars/billing-team.ics
    team: billing-team
  run_once: true
"""

RETURN = r"""
dest:
  description: The file written.
  returned: always
  type: str
  sample: /var/www/calendars/changes.ics
events:
  description: The number of events in the calendar.
  returned: always
  type: int
  sample: 14
counts:
  description: Events by kind - C(changes), C(blackout), C(maintenance) (calendar windows), C(provider_maintenance).
  returned: always
  type: dict
  sample:
    changes: 9
    blackout: 2
    maintenance: 1
    provider_maintenance: 2
services:
  description: The services the calendar is about; null for all.
  returned: always
  type: list
  sample:
    - demo
  elements: str
range:
  description: The time range shown, C(start) and C(end).
  returned: always
  type: dict
  sample:
    start: '2026-01-01T00:00:00Z'
    end: '2026-02-01T00:00:00Z'
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
msg:
  description: What was published where.
  returned: always
  type: str
  sample: 'changeward - service demo: 14 events in /var/www/calendars/changes.ics'
"""
