# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: approval
short_description: Verify signed approvals of a change, record them in the ledger and check segregation of duties
version_added: "0.1.0"
author: changeward maintainers (!UNKNOWN)
description:
  - "An approval is a statement the approver signs with their own ssh key, over the change id, the change digest
    (what the change will do - its targets, its payload and the digest of the policies it runs under) and the
    decision - C(ssh-keygen -Y sign -n changeward-approval). It is verified with C(ssh-keygen -Y verify) against
    the OpenSSH allowed-signers file the gate policy names (C(approval.allowed_signers) - principal, key,
    C(valid-after)/C(valid-before), C(namespaces)); the policy's C(approval.approvers) give each principal its roles.
    An approval for another change, other targets, another payload or another policy does not count."
  - With O(state=statement), returns the statement to sign (RV(statement_text)) and the command that signs it;
    nothing is read or written. C(playbooks/approve.yml) of the project does this from a change spec.
  - With O(state=present), verifies one signed approval (O(signed), or one statement file in O(approvals)) and
    records it as an C(io.changeward.approval.recorded) event of the change - a reserved control event that
    M(changeward.hybrid.ledger_record) and M(changeward.hybrid.change_record) refuse to write.
  - "With O(state=checked), first verifies and records the signed approvals handed in (O(approvals)), then decides
    whether the change has the approvals the policy requires. Every recorded approval is verified again, now,
    against O(change_digest) and the allowed-signers file: a key removed from the file or past its C(valid-before)
    no longer counts. The approvers must hold the role they approved in and differ from the requester and from
    every implementer (the identity of the checking run is always an implementer). Any target whose
    C(data_class) needs peer review (default V(pii)) needs a peer approval. Any target or service tagged with a
    human-approval tag (default V(auth), V(billing)) needs an approval by a human, not a service account,
    whatever the risk. The risk class sets how many approvals are needed."
  - "Unsigned approvals (the identity of the run that records them: AWX job variables, the environment variable
    the policy names, the controller's OS user) count only when the policy lists their identity source in
    C(approval.unsigned_sources), which may name only V(awx): inside AWX/AAP the platform sets the launching
    user, elsewhere anyone can choose C(-e awx_user_name=...) or C(CHANGEWARD_IDENTITY). See
    docs/risk-and-approvals.md for what an AWX operator must configure."
  - A refusal - self-approval, approval by the implementer, a missing peer review, a missing human approval, too
    few approvals, a rejection, an unknown approver or signer, a role not granted, a signature that does not
    verify, a wrong namespace, an expired signer, an approval for another change or digest - fails the task with
    a message naming it, and is recorded in the ledger as an C(io.changeward.approval.refused) event of the change.
    A passing check is recorded as C(io.changeward.approval.checked) and adds a gate decision to the change record.
  - Before a check the ledger's hash chain is verified (O(verify_ledger)), so an edited ledger file stops the
    change instead of vouching for it.
  - This module runs on the controller (it is an action plugin); the target host is not contacted. It needs
    C(ssh-keygen) (OpenSSH 8.2 or later) on the controller.
options:
  state:
    description:
      - V(statement) returns the statement to sign; V(present) records one signed approval; V(checked) checks the
        change's approvals against the policy.
    type: str
    choices: [present, checked, statement]
    default: present
  change_id:
    description: The change. For O(state=present) and O(state=checked) it must be open in the ledger.
    type: str
    required: true
  change_digest:
    description:
      - The change digest - what the change will do (the C(change.digest) that M(changeward.hybrid.change_spec)
        returns). Required for O(state=statement).
      - With O(state=checked), approvals count only when signed for this digest; without it no approval counts.
      - With O(state=present), an approval signed for another digest is refused at once; without it, it is
        checked when the change is.
    type: str
  approver:
    description: With O(state=statement), your principal in the allowed-signers file.
    type: str
  decision:
    description: With O(state=statement) (or an unsigned O(state=present)), approve or reject the change.
    type: str
    choices: [approve, reject]
    default: approve
  role:
    description:
      - With O(state=statement) (or an unsigned O(state=present)), the role the approver approves in (for example
        V(peer) or V(change-manager)). The policy must grant the approver this role.
    type: str
  comment:
    description: With O(state=statement) (or an unsigned O(state=present)), a comment stored with the approval.
    type: str
    default: ""
  approvals:
    description:
      - Signed approvals handed in - each the path of a statement file whose signature is beside it with C(.sig)
        appended (what C(ssh-keygen -Y sign) writes), or a mapping with C(statement) and C(signature).
      - With O(state=checked) they are verified and recorded before the check; with O(state=present) give one.
    type: list
    elements: raw
    default: []
  signed:
    description:
      - With O(state=present), an approval statement signed by the approver elsewhere; the run that submits it
        need not be the approver's. Its identity is recorded as C(submitted_by).
      - See docs/risk-and-approvals.md for the statement format and how to sign it.
    type: dict
    suboptions:
      statement:
        description:
          - "The statement exactly as signed: its text (the file the approver signed), or a mapping whose
            canonical JSON (RFC 8785) was signed. Fields: C(type) (V(changeward.approval/v2)), C(change_id),
            C(change_digest), C(approver), C(role), C(decision) (V(approve) or V(reject)), C(comment) and C(time)."
        type: raw
        required: true
      signature:
        description: The armored SSH signature (the C(.sig) file), namespace V(changeward-approval).
        type: str
        required: true
  implementer:
    description:
      - Further implementers of the change (besides the change record's C(implementer) and, for O(state=checked),
        the identity of this run). None of them may approve.
    type: list
    elements: str
    default: []
  request:
    description:
      - With O(state=checked), the requester's signed request - a statement file path (its signature beside it as
        C(<file>.sig)) or a mapping with C(statement) and C(signature) - of type V(changeward.request/v1) over the
        change id and C(change_digest), signed in the V(changeward-request) namespace by the principal the change
        was opened with as requester, verified against the allowed-signers file.
      - Required when the policy sets C(approval.require_signed_request); refused (and recorded) when it is for
        another change or digest, does not verify, or names another requester than the change record's.
    type: raw
  requester:
    description:
      - With O(state=statement), your principal in the allowed-signers file as the change's requester; the
        result is then the request statement to sign (namespace V(changeward-request)) instead of an approval.
    type: str
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
      - The central gate policy, a mapping or a path to its YAML file. Its C(approval) section names the
        allowed-signers file and lists approvers, roles, service accounts, identity sources and approvals per
        risk class.
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
    cannot be overridden inside AWX (with prompting for extra variables off), but anyone can pass it with C(-e)
    outside AWX; an environment variable is as trustworthy as whatever sets it; the OS user names a person only
    where logins are personal. That is why only signed approvals count unless the policy accepts AWX's identity.
    See docs/risk-and-approvals.md."
seealso:
  - module: changeward.hybrid.risk_score
  - module: changeward.hybrid.blackout
  - name: Risk score and approvals
    description: Rules, identity trust, signed statements, the policy schema and its local merge rules.
    link: https://github.com/changeward/hybrid/blob/main/docs/risk-and-approvals.md
"""

EXAMPLES = r"""
# The approver: the statement to sign (playbooks/approve.yml does this from a change spec)
- name: Build my approval statement
  changeward.hybrid.approval:
    state: statement
    change_id: CHG-42
    change_digest: "{{ change_digest }}"   # the change spec's change.digest
    approver: carol
    role: peer
  register: statement
  run_once: true
# then: ssh-keygen -Y sign -f ~/.ssh/id_ed25519 -n changeward-approval CHG-42.carol.json

# In the change job, before implementation:
- name: Score the change
  changeward.hybrid.risk_score:
    targets: "{{ ansible_play_hosts_all }}"
    change_kind: schema
    change_id: "{{ changeward_change.id }}"
  register: risk
  run_once: true

- name: Stop unless the change is approved as the policy requires
  changeward.hybrid.approval:
    state: checked
    change_id: "{{ changeward_change.id }}"
    change_digest: "{{ changeward_change.digest }}"
    approvals: "{{ changeward_approvals | default([]) }}"   # e.g. [approvals/CHG-42.carol.json]
    risk: "{{ risk }}"
    targets: "{{ ansible_play_hosts_all }}"
  run_once: true

# A signed approval submitted by anyone, recorded before the change job runs:
- name: Submit a signed approval
  changeward.hybrid.approval:
    change_id: CHG-42
    approvals: [approvals/CHG-42.carol.json]   # and approvals/CHG-42.carol.json.sig beside it
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
    method: signature
    change_digest: "sha256:5d1c..."
    time: "2025-03-01T10:00:00.000000Z"
    key_fingerprint: "SHA256:+2DiT1NNqlCUga5v6F94ADQ7x5QFaXCnR0EB4tjpd64"
    submitted_by: {"name": "dave", "source": "awx", "job_id": "812"}
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
      role_not_granted, signature_required, signature_invalid, unknown_signer, wrong_namespace, signer_expired,
      signer_not_yet_valid, no_allowed_signers, other_change, other_change_digest, change_digest_missing,
      no_evidence, identity_source_not_accepted) and a message.
  returned: state is present or checked
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
change_digest:
  description: With O(state=checked), the change digest the approvals were checked against.
  returned: state is checked
  type: str
  sample: "sha256:5d1c..."
allowed_signers:
  description: With O(state=checked), the allowed-signers file the check rested on (path and content digest).
  returned: state is checked
  type: dict
  sample: {"path": "/etc/changeward/allowed_signers", "digest": "sha256:..."}
submitted:
  description: With O(state=checked), the outcome of each approval handed in with O(approvals).
  returned: state is checked
  type: list
  elements: dict
  sample: [{"refused": false, "msg": "carol approved change CHG-42 as peer", "ledger_seq": 12}]
statement:
  description: With O(state=statement), the statement.
  returned: state is statement
  type: dict
  sample: {"type": "changeward.approval/v2", "change_id": "CHG-42", "approver": "carol", "role": "peer"}
statement_text:
  description: With O(state=statement), the exact text to write to a file and sign.
  returned: state is statement
  type: str
  sample: '{"approver":"carol","change_digest":"sha256:...","change_id":"CHG-42",...}'
sign_command:
  description: With O(state=statement), the ssh-keygen command that signs the statement file.
  returned: state is statement
  type: str
  sample: ssh-keygen -Y sign -f ~/.ssh/id_ed25519 -n changeward-approval CHG-42.carol.json
recorded:
  description: Whether an approval or check event was written to the ledger (never in check mode).
  returned: state is present or checked
  type: bool
  sample: true
ledger_seq:
  description: Ledger sequence number of the event written (approval, refusal or check), or null.
  returned: state is present or checked
  type: int
  sample: 17
msg:
  description: The decision in one line.
  returned: always
  type: str
  sample: "change CHG-1 may not proceed: billing: service billing need(s) an approval by a human"
"""
