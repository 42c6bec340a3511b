# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# The work is done by the action plugin of the same name, on the controller; this file documents it.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: compliance_report
short_description: Period compliance report of the change ledger (HTML, CSV, JSON) for auditors
version_added: 0.1.0
description:
  - Builds the report of a period - a fiscal quarter or year, or two instants - from a change ledger that
    verifies now (the verification key is needed; a ledger that does not verify gives no report).
  - "The population is every change whose record was opened, updated or closed in the period: normal, standard
    and emergency changes, drift remediations, and the recorder's unattributed runs (hosts changed by a run
    without a change record)."
  - Per change - requester, implementer, approvers with their roles and how each approval was verified (a signed
    statement and its key fingerprint, or not), gates passed, failed or overridden, emergency overrides and
    whether their review was completed, rollbacks, outcome, and the seq and hash of every event it rests on.
  - "Exceptions first - unattributed runs, refused control attempts (for example self-approval), overrides,
    emergency changes, failed gates, failed closes, normal changes without an approval, changes still open,
    drift remediations."
  - A control map - SOX ITGC change management, HIPAA 164.312(b) and PCI DSS v4.0 10.2, 10.3, 6.5.1 and 6.5.2 -
    names the changeward mechanism of each control and counts the ledger events that show it operated in the
    period; a control with none says so.
  - The report names the seq and hash it was built to and an evidence digest; O(recheck) re-derives a
    report's JSON from the ledger and names every difference.
  - Runs on the controller (an action plugin); it only reads the ledger.
author:
  - changeward maintainers (!UNKNOWN)
options:
  ledger:
    description:
      - The ledger - a SQLite path or a C(postgresql://) DSN.
      - "Which ledger, as for every plugin of the collection: this option, else E(CHANGEWARD_LEDGER), else
        C(changeward/ledger.db) under E(XDG_STATE_HOME) (C(~/.local/state) when that is not set)."
    type: str
  key:
    description:
      - The key the ledger is verified with before the report is built (E(CHANGEWARD_LEDGER_KEY) by default).
        Never shown or recorded.
    type: raw
  keys:
    description:
      - Further verification keys with their validity ranges, as M(changeward.hybrid.ledger_verify) takes them
        (a ledger whose signing key was rotated).
    type: list
    elements: dict
    suboptions:
      key:
        description: A key (secret or public), as O(key).
        type: str
      public_key:
        description: A public key.
        type: str
      path:
        description: A file holding the key.
        type: path
      not_before:
        description: The first instant the key is valid.
        type: str
      not_after:
        description: The last instant the key is valid.
        type: str
  period:
    description:
      - A fiscal quarter or year - C(FY2027-Q1), C(2026Q3), C(FY2027). A fiscal year is named by the calendar
        year it ends in; see O(fiscal_year_start).
      - Give this or both O(start_time) and O(end_time).
    type: str
  fiscal_year_start:
    description:
      - The month (1-12) the fiscal year starts in.
    type: int
    default: 1
  start_time:
    description:
      - The period's start (inclusive) - an ISO 8601 date-time with a UTC offset, unix seconds or V(now).
    type: raw
  end_time:
    description:
      - The period's end (exclusive), in the forms O(start_time) takes.
    type: raw
  through_seq:
    description:
      - Build the report as the ledger stood at this seq (default - its head).
    type: int
  dest:
    description:
      - Directory the report files are written to, C(compliance-<period>.html), C(.csv) and C(.json) (mode
        0640, replaced atomically).
      - Required unless O(recheck) is given.
    type: path
  formats:
    description:
      - Which files to write.
    type: list
    elements: str
    choices: [html, csv, json]
    default: [html, csv, json]
  recheck:
    description:
      - The JSON file of an earlier report - instead of building one, re-derive it from the ledger and fail,
        naming the differences, unless the ledger still gives the same head, population and rows.
    type: path
extends_documentation_fragment:
  - changeward.hybrid.ledger.connection
attributes:
  action:
    support: full
    description: Runs as an action plugin on the controller.
  async:
    support: none
    description: Not supported.
  check_mode:
    support: full
    description: Builds the report and returns its summary without writing files.
  diff_mode:
    support: none
    description: No diff is produced.
  platform:
    support: full
    platforms: posix
    description: Runs on the controller.
seealso:
  - module: changeward.hybrid.ledger_verify
  - module: changeward.hybrid.ledger_export
"""

EXAMPLES = r"""
- name: The first quarter of fiscal 2027 (the fiscal year starts in July)
  changeward.hybrid.compliance_report:
    ledger: /var/lib/changeward/ledger.db
    key: "{{ vault_ledger_key }}"
    period: FY2027-Q1
    fiscal_year_start: 7
    dest: /srv/audit/reports
  register: quarter

- name: An auditor checks the report against the ledger later
  changeward.hybrid.compliance_report:
    ledger: /var/lib/changeward/ledger.db
    recheck: "{{ quarter.files.json }}"
"""

RETURN = r"""
files:
  description: The files written, by format (empty in check mode).
  returned: success and not O(recheck)
  type: dict
  sample: {"html": "/srv/audit/reports/compliance-FY2027-Q1.html", "csv": "/srv/audit/reports/compliance-FY2027-Q1.csv"}
period:
  description: The period - label, start_time and end_time (exclusive).
  returned: success and not O(recheck)
  type: dict
  sample: {"label": "FY2027-Q1", "start_time": "2026-07-01T00:00:00Z", "end_time": "2026-10-01T00:00:00Z"}
ledger:
  description: What the report was built from - the seq and hash it was built to, the period's seq range, the
    verification result and the evidence digest.
  returned: success and not O(recheck)
  type: dict
  sample: {"through_seq": 1523, "through_hash": "ab12...", "period_first_seq": 1001, "period_last_seq": 1523}
summary:
  description: Counts - changes, with exceptions, by type and outcome, unattributed runs, emergency changes,
    refusals, overrides, signed and unsigned approvals.
  returned: success and not O(recheck)
  type: dict
  sample: {"changes": 3, "with_exceptions": 2, "unattributed_runs": 0}
exceptions:
  description: Every exception, with its change id, kind and detail, most serious changes first.
  returned: success and not O(recheck)
  type: list
  elements: dict
  sample: [{"change_id": "CHG-2", "kind": "failed close", "detail": "closed rolled_back"}]
valid:
  description: With O(recheck), whether the report still matches the ledger.
  returned: with O(recheck)
  type: bool
  sample: true
problems:
  description: With O(recheck), what differs.
  returned: with O(recheck)
  type: list
  elements: str
  sample: ["change CHG-9 is in the period but not in the report"]
"""
