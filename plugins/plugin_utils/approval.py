# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Approvals of a change, with segregation of duties, kept in the ledger.

Recording (``record_approval``): an approval is an ``io.changeward.approval.recorded`` event of the change,
appended together with the change record's new ``approvers`` list. Its approver is the identity of the run that
records it (identity.py), never a parameter; or the key owner of an Ed25519-signed approval statement, verified
against the public key the policy lists for that approver. Editing the ledger file breaks its hash chain,
which the check verifies before it trusts any approval.

Checking (``check_approvals``), before implementation: approvals must come from approvers the policy knows, in
a role the policy grants them, other than the requester and every implementer (the checking run's identity is
always an implementer); a target whose data_class needs peer review (pii) needs a peer approval; a target or
service tagged auth or billing needs an approval by a human (not a service account); the risk class sets how
many approvals are needed. A refusal, at either step, is recorded as ``io.changeward.approval.refused`` and
fails the task. docs/risk-and-approvals.md has the rules and the statement format.
"""

from __future__ import annotations

import base64
import binascii
import datetime
from collections.abc import Iterable, Mapping

from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import ChangewardError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.identity import Identity, same_person
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.canonical import canonical_bytes
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.model import check_time, utc_now
from ansible_collections.changeward.hybrid.plugins.plugin_utils.policy.gate_policy import RISK_CLASSES, GatePolicy

APPROVAL_RECORDED = "io.changeward.approval.recorded"
APPROVAL_REFUSED = "io.changeward.approval.refused"
APPROVAL_CHECKED = "io.changeward.approval.checked"
GATE = "approval"
STATEMENT_TYPE = "changeward.approval/v1"
STATEMENT_FIELDS = ("type", "change_id", "approver", "role", "decision", "comment", "time")
# Domain separation: a key that also signs other things (e.g. ledger checkpoints) cannot be tricked into
# producing a valid approval, nor an approval signature reused as anything else.
SIGNING_CONTEXT = b"changeward approval statement v1\n"
DECISIONS = {"approve": "approved", "reject": "rejected"}
CLOCK_SKEW = datetime.timedelta(minutes=5)

# Refusal codes (stable: reports and tests match on them).
SELF_APPROVAL = "self_approval"
IMPLEMENTER_APPROVAL = "implementer_approval"
PII_PEER_REVIEW_MISSING = "pii_peer_review_missing"
HUMAN_APPROVAL_MISSING = "human_approval_missing"
TOO_FEW_APPROVALS = "too_few_approvals"
REJECTED = "rejected"
UNKNOWN_APPROVER = "unknown_approver"
ROLE_NOT_GRANTED = "role_not_granted"
SIGNATURE_REQUIRED = "signature_required"
SIGNATURE_INVALID = "signature_invalid"
IDENTITY_NOT_ACCEPTED = "identity_source_not_accepted"


class ApprovalError(ChangewardError):
    """Base of the approval errors: the gate cannot decide, so the change does not proceed."""


class ApprovalInputError(ApprovalError, ValueError):
    """The request is wrong (unknown change, closed change, bad statement, no risk class, ...)."""


class LedgerUntrusted(ApprovalError):
    """The ledger failed verification, so no approval in it can be trusted."""


def refusal(code: str, message: str) -> dict:
    return {"code": code, "message": message}


# -- signed statements ------------------------------------------------------------------------------------------
def make_statement(change_id, approver, role, decision="approve", comment="", time=None) -> dict:
    """The statement an approver signs (see sign_statement)."""
    stmt = {
        "type": STATEMENT_TYPE,
        "change_id": change_id,
        "approver": approver,
        "role": role,
        "decision": decision,
        "comment": comment or "",
        "time": time or utc_now(),
    }
    validate_statement(stmt)
    return stmt


def validate_statement(stmt) -> dict:
    if not isinstance(stmt, Mapping):
        raise ApprovalInputError("signed.statement must be a mapping")
    missing = [f for f in STATEMENT_FIELDS if f not in stmt]
    extra = sorted(set(stmt) - set(STATEMENT_FIELDS))
    if missing or extra:
        raise ApprovalInputError(
            f"signed.statement must have exactly {', '.join(STATEMENT_FIELDS)}"
            + (f"; missing {', '.join(missing)}" if missing else "")
            + (f"; unexpected {', '.join(extra)}" if extra else "")
        )
    if stmt["type"] != STATEMENT_TYPE:
        raise ApprovalInputError(f"signed.statement.type must be {STATEMENT_TYPE}, got {stmt['type']!r}")
    for key in ("change_id", "approver", "role"):
        if not isinstance(stmt[key], str) or not stmt[key].strip():
            raise ApprovalInputError(f"signed.statement.{key} must be a non-empty string")
    if stmt["decision"] not in DECISIONS:
        raise ApprovalInputError(f"signed.statement.decision must be approve or reject, got {stmt['decision']!r}")
    if not isinstance(stmt["comment"], str):
        raise ApprovalInputError("signed.statement.comment must be a string")
    try:
        check_time(stmt["time"], "signed.statement.time")
    except ValueError as exc:
        raise ApprovalInputError(str(exc)) from None
    return dict(stmt)


def _message(stmt: Mapping) -> bytes:
    return SIGNING_CONTEXT + canonical_bytes({k: stmt[k] for k in STATEMENT_FIELDS})


def sign_statement(stmt: Mapping, private_key) -> str:
    """Base64 Ed25519 signature of a statement; ``private_key`` is PEM or ``ed25519:<base64 seed>``."""
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.checkpoint import load_key

    key = load_key(private_key)
    if key.alg != "Ed25519" or not key.can_sign:
        raise ApprovalInputError("approval statements are signed with an Ed25519 private key")
    return base64.b64encode(key.sign(_message(validate_statement(stmt)))).decode()


def signature_problem(stmt: Mapping, signature, public_key) -> str | None:
    """None when ``signature`` over ``stmt`` verifies with ``public_key``; else why not."""
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.checkpoint import load_key
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.errors import LedgerError

    if not public_key:
        return f"the policy has no public key for approver {stmt['approver']}, so a signature cannot be verified"
    try:
        key = load_key(public_key)
    except LedgerError as exc:
        return f"the policy's key for {stmt['approver']} cannot be loaded: {exc}"
    if key.alg != "Ed25519" or key.can_sign:
        return f"the policy's key for {stmt['approver']} is not an Ed25519 public key"
    if not isinstance(signature, str):
        return "the signature must be a base64 string"
    try:
        raw = base64.b64decode(signature.strip(), validate=True)
    except (binascii.Error, ValueError):
        return "the signature is not valid base64"
    if not key.verify(_message(stmt), raw):
        return f"the signature does not verify with {stmt['approver']}'s public key ({key.key_id})"
    return None


# -- reading the ledger -----------------------------------------------------------------------------------------
def open_change(ledger, change_id: str) -> dict:
    record = ledger.get_change(change_id)
    if record is None:
        raise ApprovalInputError(f"change {change_id} is not in the ledger {ledger.target}; open it first")
    if record["status"] != "open":
        raise ApprovalInputError(f"change {change_id} is {record['status']}; approvals are for open changes")
    return record


def recorded_approvals(ledger, change_id: str) -> list:
    """The approval events of a change in ledger order, each with its seq (an indexed query)."""
    return [
        {**entry.event["data"]["approval"], "seq": entry.seq, "event_id": entry.event["id"]}
        for entry in ledger.events(subject=change_id, types=[APPROVAL_RECORDED])
    ]


def latest_by_approver(approvals: Iterable) -> list:
    """An approver's latest decision replaces their earlier ones."""
    latest = {}
    for approval in approvals:
        latest[approval["approver"].casefold()] = approval
    return sorted(latest.values(), key=lambda a: a["seq"])


def verify_ledger(ledger) -> dict:
    """Verify the hash chain (and signed checkpoints) before trusting anything read from it."""
    report = ledger.verify()
    if not report["valid"]:
        first = report["problems"][0] if report["problems"] else {}
        raise LedgerUntrusted(
            f"ledger {ledger.target} failed verification ({report['problems_total']} problem(s), first: "
            f"{first.get('kind')} at seq {first.get('seq')}: {first.get('detail', first.get('message', ''))}); "
            "no approval in it can be trusted - run ledger_verify and restore it"
        )
    return report


# -- judging one approval ---------------------------------------------------------------------------------------
def _implementers(record: Mapping, implementers: Iterable) -> list:
    names = [n for n in implementers if n]
    if record.get("implementer"):
        names.append(record["implementer"])
    out = []
    for name in names:
        if not any(same_person(name, o) for o in out):
            out.append(name)
    return out


def approval_problems(approval: Mapping, record: Mapping, policy: GatePolicy, implementers: Iterable) -> list:
    """Why this approval does not count (empty: it counts)."""
    name, role = approval["approver"], approval["role"]
    problems = []
    if approval["decision"] == "approved":
        if same_person(name, record["requester"]):
            problems.append(
                refusal(SELF_APPROVAL, f"{name} requested change {record['id']} and cannot approve it (self-approval)")
            )
        for implementer in implementers:
            if same_person(name, implementer):
                problems.append(
                    refusal(IMPLEMENTER_APPROVAL, f"{name} implements change {record['id']} and cannot approve it")
                )
    entry = policy.approver(name)
    if entry is None:
        problems.append(refusal(UNKNOWN_APPROVER, f"{name} is not an approver in the policy (approval.approvers)"))
    elif role not in entry["roles"]:
        problems.append(
            refusal(ROLE_NOT_GRANTED, f"{name} has no role {role} in the policy (roles: {', '.join(entry['roles'])})")
        )
    if approval["method"] == "signature":
        why = signature_problem(approval["statement"], approval.get("signature"), (entry or {}).get("public_key"))
        if why:
            problems.append(refusal(SIGNATURE_INVALID, why))
    else:
        if policy.approval.get("require_signature"):
            problems.append(
                refusal(SIGNATURE_REQUIRED, f"the policy requires signed approvals; {name}'s approval is not signed")
            )
        kind = (approval.get("identity") or {}).get("kind")
        if kind not in policy.identity_sources:
            problems.append(
                refusal(
                    IDENTITY_NOT_ACCEPTED,
                    f"{name}'s identity came from {kind}, which the policy does not accept "
                    f"(approval.identity.sources: {', '.join(policy.identity_sources)})",
                )
            )
    return problems


def is_human(approval: Mapping, policy: GatePolicy) -> bool:
    entry = policy.approver(approval["approver"]) or {}
    return entry.get("kind", "human") == "human" and not policy.is_service_account(approval["approver"])


# -- recording --------------------------------------------------------------------------------------------------
def _parse(value: str) -> datetime.datetime:
    return datetime.datetime.strptime(value[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)


def _refuse(ledger, change_id, data, check_mode) -> int | None:
    if check_mode:
        return None
    return ledger.record(APPROVAL_REFUSED, change_id, data).seq


def record_approval(
    ledger,
    policy: GatePolicy,
    change_id: str,
    *,
    identity: Identity,
    role: str | None = None,
    decision: str = "approve",
    comment: str = "",
    implementers: Iterable = (),
    signed: Mapping | None = None,
    check_mode: bool = False,
    now: str | None = None,
) -> dict:
    """Record one approval of ``change_id`` (or its refusal). Returns the action result fields."""
    now = now or utc_now()
    record = open_change(ledger, change_id)
    if signed is not None:
        if not isinstance(signed, Mapping) or set(signed) != {"statement", "signature"}:
            raise ApprovalInputError("signed must be a mapping with exactly statement and signature")
        stmt = validate_statement(signed["statement"])
        if stmt["change_id"] != change_id:
            raise ApprovalInputError(f"the signed statement is for change {stmt['change_id']}, not {change_id}")
        if _parse(stmt["time"]) < _parse(record["opened_at"]):
            raise ApprovalInputError(
                f"the signed statement is dated {stmt['time']}, before change {change_id} was opened "
                f"({record['opened_at']})"
            )
        if _parse(stmt["time"]) > _parse(now) + CLOCK_SKEW:
            raise ApprovalInputError(f"the signed statement is dated in the future ({stmt['time']})")
        approval = {
            "change_id": change_id,
            "approver": stmt["approver"],
            "role": stmt["role"],
            "decision": DECISIONS[stmt["decision"]],
            "comment": stmt["comment"],
            "time": stmt["time"],
            "method": "signature",
            "statement": stmt,
            "signature": str(signed["signature"]).strip(),
            "submitted_by": {**identity.as_dict(), "kind": identity.kind},
        }
    else:
        if decision not in DECISIONS:
            raise ApprovalInputError(f"decision must be approve or reject, got {decision!r}")
        if not role or not str(role).strip():
            raise ApprovalInputError("role is required: the role in which the approver approves (e.g. peer)")
        approval = {
            "change_id": change_id,
            "approver": identity.name,
            "role": str(role).strip(),
            "decision": DECISIONS[decision],
            "comment": comment or "",
            "time": now,
            "method": "run",
            "identity": {**identity.as_dict(), "kind": identity.kind},
        }
    approval["policy"] = policy.summary()
    implementers = _implementers(record, implementers)
    problems = approval_problems(approval, record, policy, implementers)
    result = {"approval": approval, "refusals": problems, "recorded": False, "ledger_seq": None}
    if problems:
        seq = _refuse(ledger, change_id, {"stage": "record", "approval": approval, "refusals": problems}, check_mode)
        result.update(
            refused=True,
            changed=seq is not None,
            ledger_seq=seq,
            msg=f"approval of change {change_id} by {approval['approver']} refused: "
            + "; ".join(p["message"] for p in problems),
        )
        return result
    previous = [a for a in recorded_approvals(ledger, change_id) if same_person(a["approver"], approval["approver"])]
    if previous and previous[-1]["decision"] == approval["decision"] and previous[-1]["role"] == approval["role"]:
        if approval["method"] != "signature" or previous[-1].get("signature") == approval["signature"]:
            result.update(
                refused=False,
                changed=False,
                approval=previous[-1],
                msg=f"{approval['approver']} has already {approval['decision']} change {change_id} "
                f"as {approval['role']}",
            )
            return result
    summary = {k: approval[k] for k in ("decision", "role", "time", "method")}
    summary["name"] = approval["approver"]
    seq = None
    if not check_mode:
        seq = ledger.update_change(
            change_id, add={"approvers": [summary]}, event_type=APPROVAL_RECORDED, data={"approval": approval}
        ).seq
    result.update(
        refused=False,
        changed=True,
        recorded=not check_mode,
        ledger_seq=seq,
        msg=f"{approval['approver']} {approval['decision']} change {change_id} as {approval['role']}"
        + (" (check mode: not recorded)" if check_mode else ""),
    )
    return result


# -- checking ---------------------------------------------------------------------------------------------------
def change_tags(targets: Iterable, services: Iterable, policy: GatePolicy) -> dict:
    """tag -> what carries it ('service billing', 'target db1'). A service's name is one of its tags."""
    found: dict = {}

    def add(tag, what):
        found.setdefault(tag, [])
        if what not in found[tag]:
            found[tag].append(what)

    for service in sorted(set(services)):
        for tag in [service, *policy.service_tags(service)]:
            add(tag, f"service {service}")
    for target in targets:
        tags = set(target.tags) | set(target.services)
        for service in target.services:
            tags |= set(policy.service_tags(service))
        for tag in sorted(tags):
            add(tag, f"target {target.name}")
    return found


def check_approvals(
    ledger,
    policy: GatePolicy,
    change_id: str,
    *,
    identity: Identity,
    risk_class: str,
    targets: list,
    services: Iterable = (),
    teams: Iterable = (),
    implementers: Iterable = (),
    check_mode: bool = False,
    now: str | None = None,
) -> dict:
    """Decide whether change ``change_id`` has the approvals the policy requires; record the decision."""
    now = now or utc_now()
    if risk_class not in RISK_CLASSES:
        raise ApprovalInputError(f"risk class must be one of {', '.join(RISK_CLASSES)}, got {risk_class!r}")
    if not targets:
        raise ApprovalInputError("targets are required: the PII and auth/billing rules depend on them")
    record = open_change(ledger, change_id)
    services = sorted(set(services))
    teams = sorted(set(teams))
    implementers = _implementers(record, [identity.name, *implementers])
    counted, ignored, rejections = [], [], []
    for approval in latest_by_approver(recorded_approvals(ledger, change_id)):
        problems = approval_problems(approval, record, policy, implementers)
        view = {k: approval[k] for k in ("approver", "role", "decision", "time", "method")}
        if problems:
            ignored.append({**view, "reasons": problems})
        elif approval["decision"] == "rejected":
            rejections.append(view)
        else:
            counted.append({**view, "human": is_human(approval, policy)})

    refusals = []
    for rejection in rejections:
        refusals.append(
            refusal(REJECTED, f"{rejection['approver']} rejected change {change_id} as {rejection['role']}")
        )
    required = policy.required_approvals(services, teams)[risk_class]
    if len(counted) < required:
        refusals.append(
            refusal(
                TOO_FEW_APPROVALS,
                f"risk class {risk_class} needs {required} approval(s), change {change_id} has {len(counted)}",
            )
        )
    peer = policy.approval["peer_review"]
    sensitive = [t.name for t in targets if t.labels.get("data_class") in peer["data_classes"]]
    if sensitive and not any(a["role"] in peer["roles"] for a in counted):
        refusals.append(
            refusal(
                PII_PEER_REVIEW_MISSING,
                f"target(s) {', '.join(sensitive)} hold {'/'.join(peer['data_classes'])} data: a peer review "
                f"(role {' or '.join(peer['roles'])}) is required",
            )
        )
    tags = change_tags(targets, services, policy)
    human_tags = {t: tags[t] for t in policy.approval["human_approval_tags"] if t in tags}
    if human_tags and not any(a["human"] for a in counted):
        for tag, carriers in sorted(human_tags.items()):
            refusals.append(
                refusal(
                    HUMAN_APPROVAL_MISSING,
                    f"{tag}: {', '.join(carriers[:5])}{' ...' if len(carriers) > 5 else ''} need(s) an approval by "
                    "a human, whatever the risk (service accounts do not count)",
                )
            )
    if refusals:
        # Say why approvals that would have helped were not counted.
        for item in ignored:
            for reason in item["reasons"]:
                if reason["code"] in (SELF_APPROVAL, IMPLEMENTER_APPROVAL) and reason not in refusals:
                    refusals.append(reason)
    allowed = not refusals
    decision = {
        "allowed": allowed,
        "risk_class": risk_class,
        "required_approvals": required,
        "approvals": counted,
        "ignored_approvals": ignored,
        "refusals": refusals,
        "requester": record["requester"],
        "implementers": implementers,
        "checked_by": {**identity.as_dict(), "kind": identity.kind},
        "peer_review_targets": sensitive,
        "human_approval_tags": sorted(human_tags),
        "services": services,
        "teams": teams,
        "policy": policy.summary(),
        "checked_at": now,
    }
    seq = None
    if not check_mode:
        gate = {"gate": GATE, "decision": "pass" if allowed else "fail", "time": now, "risk_class": risk_class}
        if not allowed:
            gate["reason"] = ", ".join(sorted({r["code"] for r in refusals}))
        set_fields = None
        if allowed and not record.get("implementer"):
            set_fields = {"implementer": identity.name}
        seq = ledger.update_change(
            change_id,
            set_fields=set_fields,
            add={"gate_decisions": [gate]},
            event_type=APPROVAL_CHECKED if allowed else APPROVAL_REFUSED,
            data={"stage": "check", "check": decision} if allowed else {"stage": "check", **decision},
        ).seq
    if allowed:
        msg = f"change {change_id} ({risk_class} risk) has the approvals it needs: " + (
            ", ".join(f"{a['approver']} ({a['role']})" for a in counted) or "none required"
        )
    else:
        msg = f"change {change_id} may not proceed: " + "; ".join(r["message"] for r in refusals)
    return {**decision, "changed": seq is not None, "recorded": seq is not None, "ledger_seq": seq, "msg": msg}
