# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: approval
short_description: Record approvals of a change in the ledger and check segregation of duties before implementation
version_added: "0.1.0"
author: changeward maintainers (!UNKNOWN)
description:
  - With O(state=present), records the approval (or rejection) of a change as an event of the change in the
    ledger. The approver is the identity of the run that records it - AWX/Tower job variables, else the
    environment variable the policy names, else the controller's OS user - never a parameter. Or it is the owner
    of an Ed25519 key that signed an approval statement (O(signed)), verified with the public key the policy
    lists for that approver.
  - With O(state=checked), decides before implementation whether the change has the approvals the policy
    requires. The approvers must be in the policy with the role they approved in, and differ from the requester
    and from every implementer (the identity of the checking run is always an implementer). Any target whose
    C(data_class) needs peer review (default V(pii)) needs a peer approval. Any target or service tagged with a
    human-approval tag (default V(auth), V(billing)) needs an approval by a human, not a service account,
    whatever the risk. The risk class sets how many approvals are needed.
  - A refusal - self-approval, approval by the implementer, a missing peer review, a missing human approval, too
    few approvals, a rejection, an unknown approver - fails the task with a message naming it, and is recorded
    in the ledger as an C(io.changeward.approval.refused) event of the change. A passing check is recorded as
    C(io.changeward.approval.checked) and adds a gate decision to the change record.
  - Before a check the ledger's hash chain is verified (O(verify_ledger)), so an edited ledger file stops the
    change instead of vouching for it.
  - This module runs on the controller (it is an action plugin); the target host is not contacted.
options:
  state:
    description:
      - V(present) records an approval; V(checked) checks the change's approvals against the policy.
    type: str
    choices: [present, checked]
    default: present
  change_id:
    description: The change, as opened in the ledger. It must be open.
    type: str
    required: true
  decision:
    description: With O(state=present), approve or reject the change.
    type: str
    choices: [approve, reject]
    default: approve
  role:
    description:
      - With O(state=present), the role the approver approves in (for example V(peer) or V(change-manager)). The
        policy must grant the approver this role. Required unless O(signed) is given.
    type: str
  comment:
    description: With O(state=present), a comment stored with the approval.
    type: str
    default: ""
  signed:
    description:
      - With O(state=present), an approval statement signed by the approver elsewhere; the run that submits it
        need not be the approver's. Its identity is recorded as C(submitted_by).
      - See docs/risk-and-approvals.md for the statement format and how to sign it.
    type: dict
    suboptions:
      statement:
        description:
          - "The statement: C(type) (V(changeward.approval/v1)), C(change_id), C(approver), C(role), C(decision)
            (V(approve) or V(reject)), C(comment) and C(time) (RFC 3339 UTC), exactly as signed."
        type: dict
        required: true
      signature:
        description: Base64 Ed25519 signature over the statement.
        type: str
        required: true
  implementer:
    description:
      - Further implementers of the change (besides the change record's C(implementer) and, for O(state=checked),
        the identity of this run). None of them may approve.
    type: list
    elements: str
    default: []
  risk:
    description:
      - With O(state=checked), the risk class (V(low), V(medium), V(high), V(critical)) or the registered result of
        changeward.hybrid.risk_score. When the change record also has a risk level, the higher one counts.
      - Without either the check fails; a missing risk is never taken as low.
    type: raw
  targets:
    description:
      - The hosts the change touches, as for changeward.hybrid.risk_score (host names, label dicts, or host to
        labels). Required for O(state=checked).
      - With O(state=present) it is optional; the C(changeward_policy_local) of target hosts given by name joins the
        policy, so a regional approver defined there is known.
    type: raw
  services:
    description:
      - With O(state=checked), services the change touches. When empty, the targets' C(services) labels count.
    type: list
    elements: str
    default: []
  teams:
    description: With O(state=checked), teams whose approval counts apply, besides the targets' C(owner_team).
    type: list
    elements: str
    default: []
  verify_ledger:
    description:
      - With O(state=checked), verify the ledger (hash chain and signed checkpoints) before trusting its
        approvals. A ledger that fails verification fails the task.
    type: bool
    default: true
  policy:
    description:
      - The central gate policy, a mapping or a path to its YAML file. Its C(approval) section lists approvers,
        roles, public keys, service accounts, identity sources and approvals per risk class.
      - Defaults to the C(changeward_policy) variable; without either the built-in defaults apply, which list no
        approver, so every approval is refused.
    type: raw
  policy_local:
    description:
      - Local policies (a mapping, a path, or a list of them) merged into O(policy); they may add approvers and
        only tighten the rules.
      - Defaults to the C(changeward_policy_local) variable of this host and, for O(state=checked), of each
        target host.
    type: raw
extends_documentation_fragment:
  - changeward.hybrid.ledger
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: The approval or the check is evaluated the same way, but nothing is written to the ledger.
  diff_mode:
    support: none
  platform:
    platforms: all
    details: Runs on the controller only.
notes:
  - Run it once per change (C(run_once) or a play on localhost).
  - "How far each identity source can be trusted: C(awx_user_name) is set by AWX from the launching user and
    cannot be overridden inside AWX, but anyone can pass it with C(-e) outside AWX; an environment variable is as
    trustworthy as whatever sets it; the OS user names a person only where logins are personal. See
    docs/risk-and-approvals.md."
seealso:
  - module: changeward.hybrid.risk_score
  - module: changeward.hybrid.blackout
  - name: Risk score and approvals
    description: Rules, identity trust, signed statements, the policy schema and its local merge rules.
    link: https://github.com/changeward/hybrid/blob/main/docs/risk-and-approvals.md
"""

EXAMPLES = r"""
# In the approver's own AWX job template (identity from awx_user_name):
- name: Approve the change as peer reviewer
  changeward.hybrid.approval:
    change_id: "{{ change_id }}"
    role: peer
    comment: Reviewed the schema migration and its rollback
    policy: policies/gates.yml
  run_once: true

# In the change job, before implementation:
- name: Score the change
  changeward.hybrid.risk_score:
    targets: "{{ ansible_play_hosts_all }}"
    change_kind: schema
    change_id: "{{ change_id }}"
    policy: policies/gates.yml
  register: risk
  run_once: true

- name: Stop unless the change is approved as the policy requires
  changeward.hybrid.approval:
    state: checked
    change_id: "{{ change_id }}"
    risk: "{{ risk }}"
    targets: "{{ ansible_play_hosts_all }}"
    policy: policies/gates.yml
  run_once: true

# An approval signed offline by the approver and submitted by anyone:
- name: Submit a signed approval
  changeward.hybrid.approval:
    change_id: "{{ change_id }}"
    signed: "{{ lookup('ansible.builtin.file', 'approvals/alice.json') | from_json }}"
    policy: policies/gates.yml
  run_once: true
"""

RETURN = r"""
refused:
  description: With O(state=present), whether the approval was refused (the task then fails).
  returned: state is present
  type: bool
  sample: false
approval:
  description: With O(state=present), the approval as recorded (or as refused).
  returned: state is present
  type: dict
  sample:
    change_id: CHG-1
    approver: alice
    role: peer
    decision: approved
    method: run
    time: "2025-03-01T10:00:00.000000Z"
    identity: {"name": "alice", "source": "awx", "job_id": "812"}
allowed:
  description: With O(state=checked), whether the change has every approval it needs.
  returned: state is checked
  type: bool
  sample: true
risk_class:
  description: With O(state=checked), the risk class the check used.
  returned: state is checked
  type: str
  sample: high
required_approvals:
  description: With O(state=checked), how many approvals the risk class needs for these services and teams.
  returned: state is checked
  type: int
  sample: 2
approvals:
  description: With O(state=checked), the approvals that count (approver, role, decision, time, method, human).
  returned: state is checked
  type: list
  elements: dict
  sample: [{"approver": "alice", "role": "peer", "decision": "approved", "method": "run", "human": true}]
ignored_approvals:
  description: With O(state=checked), approvals that do not count, each with its reasons.
  returned: state is checked
  type: list
  elements: dict
  sample: [{"approver": "bob", "role": "peer", "reasons": [{"code": "implementer_approval", "message": "..."}]}]
refusals:
  description:
    - Why the approval or the change is refused, each with a stable C(code) (self_approval, implementer_approval,
      pii_peer_review_missing, human_approval_missing, too_few_approvals, rejected, unknown_approver,
      role_not_granted, signature_required, signature_invalid, identity_source_not_accepted) and a message.
  returned: success
  type: list
  elements: dict
  sample: [{"code": "self_approval", "message": "alice requested change CHG-1 and cannot approve it (self-approval)"}]
requester:
  description: With O(state=checked), the requester from the change record.
  returned: state is checked
  type: str
  sample: carol
implementers:
  description: With O(state=checked), everyone treated as an implementer.
  returned: state is checked
  type: list
  elements: str
  sample: [dave]
checked_by:
  description: With O(state=checked), the identity of the checking run and how far it can be trusted.
  returned: state is checked
  type: dict
  sample: {"name": "dave", "source": "awx", "job_id": "913", "trust": "platform: ..."}
peer_review_targets:
  description: With O(state=checked), targets whose data class needs a peer review.
  returned: state is checked
  type: list
  elements: str
  sample: [db1]
human_approval_tags:
  description: With O(state=checked), the tags of the change that need a human approval.
  returned: state is checked
  type: list
  elements: str
  sample: [billing]
policy:
  description: Digest and sources of the effective policy (also stored with every ledger event).
  returned: state is checked
  type: dict
  sample: {"digest": "sha256:...", "sources": ["policies/gates.yml"]}
recorded:
  description: Whether an approval or check event was written to the ledger (never in check mode).
  returned: success
  type: bool
  sample: true
ledger_seq:
  description: Ledger sequence number of the event written (approval, refusal or check), or null.
  returned: success
  type: int
  sample: 17
msg:
  description: The decision in one line.
  returned: always
  type: str
  sample: "change CHG-1 may not proceed: billing: service billing need(s) an approval by a human"
"""
