# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# The work is done by the action plugin of the same name, on the controller; this file documents it.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: review
short_description: Reviews after failure - open the review record, draft the blameless post-incident review
version_added: 0.1.0
description:
  - "With O(state=opened) (the main job calls it at every close), records an C(io.changeward.review.opened) event
    in the change for each reason it needs a review that has none yet: it was rolled back, it overran its error
    budget (an C(error_budget) gate decision of C(fail)), or it ran on an emergency override (the blackout control
    opens that one itself). Nothing is recorded when the change needs no review; calling it again opens nothing
    twice."
  - With O(state=drafted), writes a blameless post-incident review in Markdown to O(dest) from the change's ledger
    timeline - summary, what changed, approvals, gates, ring by ring (watch and judge verdicts), rollback timing
    (regression visible, detected, rolled back), the timeline and the close observations - with the sections the
    team fills in (impact, detection, contributing factors, what went well, what we learned, action items,
    checklist items for similar changes).
  - With O(state=completed), records C(io.changeward.review.completed) for an open review of O(kind) - who held it
    and its outcome in a sentence; the compliance report then shows the change as reviewed. The review's findings
    in O(checklist) become checklist items (C(io.changeward.checklist.item_added), recorded with the review in one
    transaction) that M(changeward.hybrid.checklist) holds similar changes to.
  - "With O(state=observations), says whether the pinned gate policy requires people's observations at the close
    of the change (C(review.observations_required): its change type, its risk class or O(outcome)); the main job
    asks for them then, and fails when none are given. Nothing is recorded."
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
      - Checkpoint signing key, needed to record in a ledger that takes signed checkpoints. Defaults to
        E(CHANGEWARD_LEDGER_KEY). Never shown or recorded.
    type: str
  change_id:
    description:
      - The change reviewed.
    type: str
    required: true
  state:
    description:
      - V(opened) records the reviews the change needs, V(drafted) writes the post-incident review to O(dest),
        V(completed) records that the review of O(kind) was held, V(observations) says whether the policy
        requires people's observations at close.
    type: str
    choices: [opened, drafted, completed, observations]
    default: opened
  dest:
    description:
      - The Markdown file the review is drafted in (mode 0640, replaced atomically). Required with O(state=drafted).
    type: path
  kind:
    description:
      - Which review was completed. Required with O(state=completed).
    type: str
    choices: [rollback, error_budget_overrun, emergency_override]
  by:
    description:
      - Who held the review (a name or a team). Required with O(state=completed).
    type: str
  summary:
    description:
      - The review's outcome in a sentence (where its findings are tracked). Required with O(state=completed).
    type: str
  checklist:
    description:
      - With O(state=completed), the review's findings as checklist items for similar changes. Each is its text
        (what a similar change must have checked) or a mapping with C(text) and what makes a change similar -
        C(service), C(change_kind) and C(labels) (a mapping of host label to one value, which some target of the
        change must carry). C(service) and C(change_kind) default to the reviewed change's.
      - The text stays in this ledger; anonymised exports (M(changeward.hybrid.learning_report)) never carry it.
    type: list
    elements: raw
    default: []
  outcome:
    description:
      - With O(state=observations), the outcome the change is closing with. Required then.
    type: str
  policy:
    description:
      - With O(state=observations), the gate policy. Without it, the inventory's pinned C(changeward_policy) (and
        C(changeward_policy_local) of the change's targets).
    type: raw
  policy_local:
    description:
      - Regional policy layers, instead of the targets' pinned C(changeward_policy_local).
    type: raw
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
    description: Says which reviews would be opened, or drafts nothing and records nothing.
  diff_mode:
    support: none
    description: No diff is produced.
  platform:
    support: full
    platforms: posix
    description: Runs on the controller.
seealso:
  - module: changeward.hybrid.compliance_report
  - module: changeward.hybrid.checklist
"""

EXAMPLES = r"""
- name: Open the reviews a closed change needs (rolled back, budget overrun, emergency override)
  changeward.hybrid.review:
    change_id: CHG0042

- name: Draft the post-incident review
  changeward.hybrid.review:
    change_id: CHG0042
    state: drafted
    dest: /srv/reviews/CHG0042.md

- name: The review was held
  changeward.hybrid.review:
    change_id: CHG0042
    state: completed
    kind: rollback
    by: payments SRE
    summary: two action items, tracked in OPS-311
    checklist:
      - the package's self-test passes on a staging host first
      - text: the repository mirror in eu-west serves the new version
        labels:
          region: eu-west

- name: Does the policy require people's observations at this close
  changeward.hybrid.review:
    change_id: CHG0042
    state: observations
    outcome: rolled_back
  register: observation_rule
"""

RETURN = r"""
opened:
  description: With O(state=opened), the reviews opened now - kind, detail and the event's seq (null in check mode).
  returned: state is opened
  type: list
  elements: dict
  sample: [{"kind": "rollback", "detail": "rolled back (canary)", "seq": 812}]
dest:
  description: With O(state=drafted), the Markdown file written.
  returned: state is drafted
  type: str
  sample: /srv/reviews/CHG0042.md
checklist_items:
  description: With O(state=completed), the change's checklist items (id, text, what makes a change similar).
  returned: state is completed
  type: list
  elements: dict
  sample: [{"item_id": "CL-3f9a0c21b7d4", "text": "self-test on staging first",
            "match": {"service": "payments", "change_kind": "package", "labels": {}}}]
required:
  description: With O(state=observations), whether the policy requires people's observations at this close.
  returned: state is observations
  type: bool
  sample: true
triggers:
  description: With O(state=observations), the policy entries this close meets.
  returned: state is observations
  type: list
  elements: str
  sample: [emergency]
ledger_seq:
  description: With O(state=completed), the seq of the review.completed event (null in check mode).
  returned: state is completed
  type: int
  sample: 830
"""
