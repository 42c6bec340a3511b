# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# The work is done by the action plugin of the same name, on the controller; this file documents it.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: learning_report
short_description: What the ledger teaches - risk model calibration, anonymised failure patterns
version_added: 0.1.0
description:
  - Reads the closed changes of the ledger (all of them, or those closed in [O(start_time), O(end_time))) after
    verifying the ledger; a ledger that does not verify gives no report.
  - "O(report=calibration): the risk model against outcomes. Each scored change's estimated failure probability
    (its risk record's C(failure_rate)) against its outcome (failed or rolled back 1, successful with issues 0.5,
    successful 0; aborted changes never ran and are left out): the Brier score, the Brier score of the base rate
    and the skill score, and reliability per risk class and per band of the estimate - changes, mean estimate,
    observed rate and its 90% Jeffreys interval. Findings name a class whose estimate is outside its interval and
    a higher class that failed less often than a lower one. No scored closed change is an error, never a pass."
  - "O(report=failure_patterns): an export another team can import into its risk history
    (M(changeward.hybrid.risk_score) O(changeward.hybrid.risk_score#module:imported_patterns)). Per pattern only
    the system class, change kind, risk class and host class labels of the targets (env_type, provider,
    data_class, rollback_capability, criticality, from the inventory) with counts - no host, person, service,
    change id, time or free text. k-anonymous over those labels: a pattern of fewer than O(k) changes is
    generalised (its most specific label dropped, then its risk class) and merged; what still has fewer is
    suppressed and only counted."
  - Runs on the controller (an action plugin).
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
      - Checkpoint signing key, to verify the ledger's signed checkpoints. Defaults to E(CHANGEWARD_LEDGER_KEY).
    type: str
  report:
    description:
      - Which report.
    type: str
    required: true
    choices: [calibration, failure_patterns]
  start_time:
    description:
      - Only changes closed at or after this instant (ISO 8601 with an offset, unix seconds, or V(now)).
    type: str
  end_time:
    description:
      - Only changes closed before this instant.
    type: str
  k:
    description:
      - With O(report=failure_patterns), the fewest changes an exported pattern may stand for (at least 2).
    type: int
    default: 5
  dest:
    description:
      - A JSON file to write the report to (mode 0640, replaced atomically).
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
    description: Builds the report and writes no file.
  diff_mode:
    support: none
    description: No diff is produced.
  platform:
    support: full
    platforms: posix
    description: Runs on the controller.
seealso:
  - module: changeward.hybrid.risk_score
  - module: changeward.hybrid.review
"""

EXAMPLES = r"""
- name: How well did the risk model predict this quarter's outcomes
  changeward.hybrid.learning_report:
    report: calibration
    start_time: "2026-10-01T00:00:00Z"
    end_time: "2027-01-01T00:00:00Z"
  register: calibration

- name: Failure patterns for the platform team, each standing for at least 5 changes
  changeward.hybrid.learning_report:
    report: failure_patterns
    k: 5
    dest: /srv/exports/failure-patterns.json
"""

RETURN = r"""
report:
  description:
    - With O(report=calibration) - changes, brier, base_rate, reference_brier, skill, by_class and bands (each
      changes, mean_estimate, observed_rate, interval, calibrated, brier) and findings.
    - With O(report=failure_patterns) - format, k, patterns (system_class, change_kind, level, labels, changes,
      failures, outcomes) and suppressed_changes.
  returned: always
  type: dict
  sample: {"changes": 40, "brier": 0.081, "skill": 0.21, "findings": []}
dest:
  description: The file written.
  returned: when dest is given and not in check mode
  type: str
  sample: /srv/exports/failure-patterns.json
"""
