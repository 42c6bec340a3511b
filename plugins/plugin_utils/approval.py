# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Approvals of a change, with segregation of duties, kept in the ledger.

An approval is a statement signed by the approver with their own ssh key (``ssh-keygen -Y sign -n
changeward-approval``) over the change id, the change digest (control_events.change_digest: targets, payload,
policy digest) and the decision. It is verified with ``ssh-keygen -Y verify`` against the allowed-signers file
the gate policy names (``approval.allowed_signers``: principal -> key, with valid-after/valid-before), and the
policy maps the principal to its roles. An approval for another change, other targets, another payload or
another policy does not count, and the refusal says which.

Unsigned approvals - the identity of the run that records them (identity.py) - count only when the policy lists
their identity source in ``approval.unsigned_sources``, which may hold only ``awx``: inside AWX/AAP the platform
sets the launching user, elsewhere anyone can choose ``CHANGEWARD_IDENTITY`` or ``-e awx_user_name``.

Recording (``record_approval``) writes an ``io.changeward.approval.recorded`` event, a reserved control event
(control_events.RESERVED) that ledger_record and change_record refuse, so only this module writes one, and only
after verifying it. Checking (``check_approvals``) re-verifies every recorded approval *now* (a key removed from
the allowed-signers file or past its valid-before no longer counts) and then applies the rules: approvers other
than the requester and every implementer, in a role the policy grants them; a peer review for pii targets; a
human approval for auth/billing; the number of approvals per risk class. A refusal, at either step, is
recorded as ``io.changeward.approval.refused`` and fails the task. docs/risk-and-approvals.md has the rules.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping

from ansible_collections.changeward.hybrid.plugins.plugin_utils import sshsig
from ansible_collections.changeward.hybrid.plugins.plugin_utils.control_events import APPROVAL_RECORDED, digest
from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import ChangewardError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.identity import Identity, same_person
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.canonical import canonical_text, parse_json
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.errors import LedgerInvalidInput
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.model import check_time, utc_now
from ansible_collections.changeward.hybrid.plugins.plugin_utils.policy.gate_policy import RISK_CLASSES, GatePolicy

APPROVAL_REFUSED = "io.changeward.approval.refused"
APPROVAL_CHECKED = "io.changeward.approval.checked"
GATE = "approval"
NAMESPACE = sshsig.APPROVAL_NAMESPACE
STATEMENT_TYPE = "changeward.approval/v2"
STATEMENT_FIELDS = ("type", "change_id", "change_digest", "approver", "role", "decision", "comment", "time")
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
SIGNATURE_INVALID = sshsig.SIGNATURE_INVALID
UNKNOWN_SIGNER = sshsig.UNKNOWN_SIGNER
WRONG_NAMESPACE = sshsig.WRONG_NAMESPACE
SIGNER_EXPIRED = sshsig.SIGNER_EXPIRED
SIGNER_NOT_YET_VALID = sshsig.SIGNER_NOT_YET_VALID
NO_ALLOWED_SIGNERS = "no_allowed_signers"
OTHER_CHANGE = "other_change"
OTHER_DIGEST = "other_change_digest"
CHANGE_DIGEST_MISSING = "change_digest_missing"
NO_EVIDENCE = "no_evidence"
IDENTITY_NOT_ACCEPTED = "identity_source_not_accepted"
REQUEST_SIGNATURE_REQUIRED = "request_signature_required"
REQUESTER_MISMATCH = "requester_mismatch"

# The requester's signed request (approval.require_signed_request): who asks for the change is who signed it,
# not whatever the launch said. Its own namespace, so an approval signature can never pass for a request.
REQUEST_TYPE = "changeward.request/v1"
REQUEST_FIELDS = ("type", "change_id", "change_digest", "requester", "time")
REQUEST_NAMESPACE = "changeward-request"


class ApprovalError(ChangewardError):
    """Base of the approval errors: the gate cannot decide, so the change does not proceed."""


class ApprovalInputError(ApprovalError, ValueError):
    """The request is wrong (unknown change, closed change, bad statement, no risk class, ...)."""


class LedgerUntrusted(ApprovalError):
    """The ledger failed verification, so no approval in it can be trusted."""


def refusal(code: str, message: str) -> dict:
    return {"code": code, "message": message}


# -- signed statements ------------------------------------------------------------------------------------------
def make_statement(change_id, change_digest, approver, role, decision="approve", comment="", time=None) -> dict:
    """The statement an approver signs; ``statement_text`` gives the exact text to sign."""
    stmt = {
        "type": STATEMENT_TYPE,
        "change_id": change_id,
        "change_digest": change_digest,
        "approver": approver,
        "role": role,
        "decision": decision,
        "comment": comment or "",
        "time": time or utc_now(),
    }
    return validate_statement(stmt)


def statement_text(stmt: Mapping) -> str:
    """The canonical JSON text (RFC 8785, no trailing newline) of a statement: what the approver signs."""
    return canonical_text(dict(stmt))


def check_fields(stmt, fields: tuple, kind: str, what: str) -> dict:
    """A statement with exactly ``fields``, of type ``kind``; ApprovalInputError naming what is wrong."""
    if not isinstance(stmt, Mapping):
        raise ApprovalInputError(f"{what} must be a JSON object")
    missing = [f for f in fields if f not in stmt]
    extra = sorted(set(stmt) - set(fields))
    if missing or extra:
        raise ApprovalInputError(
            f"{what} must have exactly {', '.join(fields)}"
            + (f"; missing {', '.join(missing)}" if missing else "")
            + (f"; unexpected {', '.join(extra)}" if extra else "")
        )
    if stmt["type"] != kind:
        raise ApprovalInputError(f"{what}.type must be {kind}, got {stmt['type']!r}")
    for key in ("change_id", "change_digest", "approver", "role"):
        if not isinstance(stmt[key], str) or not stmt[key].strip():
            raise ApprovalInputError(f"{what}.{key} must be a non-empty string")
    if not stmt["change_digest"].startswith("sha256:"):
        raise ApprovalInputError(f"{what}.change_digest must be sha256:<hex> (the change spec's change.digest)")
    try:
        check_time(stmt["time"], f"{what}.time")
    except ValueError as exc:
        raise ApprovalInputError(str(exc)) from None
    return dict(stmt)


def validate_statement(stmt) -> dict:
    stmt = check_fields(stmt, STATEMENT_FIELDS, STATEMENT_TYPE, "the approval statement")
    if stmt["decision"] not in DECISIONS:
        raise ApprovalInputError(
            f"the approval statement's decision must be approve or reject, got {stmt['decision']!r}"
        )
    if not isinstance(stmt["comment"], str):
        raise ApprovalInputError("the approval statement's comment must be a string")
    return stmt


def signed_text(signed, what: str = "signed") -> tuple[str, str]:
    """(statement text exactly as signed, armored signature) from ``{statement, signature}``.

    The statement is the signed text (a string: the file the approver signed) or a mapping, whose canonical
    JSON text is what must have been signed.
    """
    if not isinstance(signed, Mapping) or set(signed) != {"statement", "signature"}:
        raise ApprovalInputError(f"{what} must be a mapping with exactly statement and signature")
    stmt, signature = signed["statement"], signed["signature"]
    if isinstance(stmt, Mapping):
        try:
            text = statement_text(stmt)
        except LedgerInvalidInput as exc:
            raise ApprovalInputError(f"{what}.statement: {exc}") from None
    elif isinstance(stmt, str) and stmt.strip():
        text = stmt
    else:
        raise ApprovalInputError(f"{what}.statement must be the signed statement (its text or a mapping)")
    if not isinstance(signature, str) or not signature.strip():
        raise ApprovalInputError(f"{what}.signature must be the text of the SSH signature (the .sig file)")
    return text, signature.strip()


def parse_statement(text: str, validator=validate_statement) -> dict:
    try:
        stmt = parse_json(text)
    except LedgerInvalidInput as exc:
        raise ApprovalInputError(f"the signed statement is not JSON: {exc}") from None
    return validator(stmt)


def verify_signature(
    text: str, signature: str, principal: str, signers: str | None, namespace: str = NAMESPACE
) -> dict | None:
    """None when ``signature`` over ``text`` verifies now for ``principal`` against the allowed-signers file;
    else a refusal. The text is tried as given and with or without one trailing newline (an editor adds one,
    Ansible's file lookup strips it); the statement is the same either way."""
    if not signers:
        return refusal(
            NO_ALLOWED_SIGNERS,
            "the policy names no allowed-signers file (approval.allowed_signers), so no signature can be verified",
        )
    candidates = [text]
    candidates.append(text[:-1] if text.endswith("\n") else text + "\n")
    problem = None
    for candidate in candidates:
        problem = sshsig.verify(candidate.encode("utf-8"), signature, principal, signers, namespace)
        if problem is None:
            return None
        if problem.code != SIGNATURE_INVALID or "ssh-keygen -Y verify refused" not in problem.message:
            break  # not a question of the bytes: another key, namespace, signer
    return refusal(problem.code, problem.message)


# -- the requester's signed request -----------------------------------------------------------------------------
def make_request(change_id: str, change_digest: str, requester: str, time: str | None = None) -> dict:
    """The statement a requester signs (ssh-keygen -Y sign -n changeward-request) to ask for a change."""
    return {
        "type": REQUEST_TYPE,
        "change_id": change_id,
        "change_digest": change_digest,
        "requester": requester,
        "time": time or utc_now(),
    }


def validate_request(stmt) -> dict:
    what = "the signed request"
    if not isinstance(stmt, Mapping) or set(stmt) != set(REQUEST_FIELDS):
        raise ApprovalInputError(f"{what} must be a JSON object with exactly {', '.join(REQUEST_FIELDS)}")
    if stmt["type"] != REQUEST_TYPE:
        raise ApprovalInputError(f"{what}.type must be {REQUEST_TYPE}, got {stmt['type']!r}")
    for key in ("change_id", "change_digest", "requester"):
        if not isinstance(stmt[key], str) or not stmt[key].strip():
            raise ApprovalInputError(f"{what}.{key} must be a non-empty string")
    try:
        check_time(stmt["time"], f"{what}.time")
    except ValueError as exc:
        raise ApprovalInputError(str(exc)) from None
    return dict(stmt)


def request_problem(signed, record: Mapping, change_digest: str | None, signers: str | None, required: bool):
    """Why the change's request does not hold (None: it holds, or none is required and none was given).

    A given request must verify, for this change and its digest, as signed by the requester the change was
    opened with; with the policy's approval.require_signed_request a change without one does not proceed."""
    change_id = record["id"]
    if signed is None:
        if not required:
            return None
        return refusal(
            REQUEST_SIGNATURE_REQUIRED,
            f"the policy requires the requester's signed request (approval.require_signed_request); change "
            f"{change_id} has none - its requester signs one with playbooks/approve.yml (request: true)",
        )
    text, signature = signed_text(signed, "request")
    stmt = parse_statement(text, validate_request)
    if stmt["change_id"] != change_id:
        return refusal(OTHER_CHANGE, f"the signed request is for change {stmt['change_id']}, not {change_id}")
    if not change_digest:
        return refusal(CHANGE_DIGEST_MISSING, "no change digest was given, so no request can be checked")
    if stmt["change_digest"] != change_digest:
        return refusal(
            OTHER_DIGEST,
            f"the signed request is for another version of change {change_id} (digest {stmt['change_digest']}, "
            f"this run will do {change_digest})",
        )
    problem = verify_signature(text, signature, stmt["requester"], signers, REQUEST_NAMESPACE)
    if problem is not None:
        return {**problem, "message": f"request of change {change_id} by {stmt['requester']}: {problem['message']}"}
    if not same_person(stmt["requester"], record["requester"]):
        return refusal(
            REQUESTER_MISMATCH,
            f"change {change_id} was opened with requester {record['requester']}, but its signed request is "
            f"{stmt['requester']}'s",
        )
    return None


# -- reading the ledger -----------------------------------------------------------------------------------------
def open_change(ledger, change_id: str, check_mode: bool = False) -> dict:
    record = ledger.get_change(change_id)
    if record is None and check_mode:
        # A run in check mode opened no change: judged as the new change it would be - nothing recorded for it yet,
        # its requester not known here (the result says so).
        return {"id": change_id, "status": "open", "requester": None, "implementer": None, "provisional": True}
    if record is None:
        raise ApprovalInputError(f"change {change_id} is not in the ledger {ledger.target}; open it first")
    if record["status"] != "open":
        raise ApprovalInputError(f"change {change_id} is {record['status']}; approvals are for open changes")
    return record


def recorded_approvals(ledger, change_id: str) -> list:
    """The approval events of a change in ledger order, each with its seq (an indexed query)."""
    out = []
    for entry in ledger.events(subject=change_id, types=[APPROVAL_RECORDED]):
        data = entry.event.get("data")
        given = data.get("approval") if isinstance(data, Mapping) else None
        # A malformed event still shows up, as an approval without evidence, never as an error or a pass.
        base = {"approver": "?", "role": "?", "decision": "?", "time": None, "method": None}
        approval = {**base, **(given if isinstance(given, Mapping) else {})}
        approval["approver"] = str(approval["approver"])
        out.append({**approval, "seq": entry.seq, "event_id": entry.event["id"]})
    return out


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


def evidence_problems(approval: Mapping, change_id: str, change_digest: str | None, policy, signers) -> list:
    """Why what an approval rests on does not hold now (empty: its evidence holds).

    A signed approval: its statement verifies now against the allowed-signers file and names this change and
    its digest. An unsigned one: its identity source is one the policy accepts unsigned (awx only) and it was
    recorded for this digest. Anything else - an event without evidence - does not count.
    """
    name = approval.get("approver") or "?"
    problems = []
    if approval.get("method") == "signature":
        try:
            stmt = parse_statement(approval.get("statement_text") or "")
        except ApprovalInputError as exc:
            return [refusal(NO_EVIDENCE, f"{name}'s approval carries no valid statement: {exc}")]
        if {k: stmt[k] for k in ("approver", "role")} != {k: approval.get(k) for k in ("approver", "role")} or (
            DECISIONS[stmt["decision"]] != approval.get("decision")
        ):
            return [refusal(NO_EVIDENCE, f"{name}'s recorded approval does not match its signed statement")]
        why = verify_signature(approval["statement_text"], approval.get("signature") or "", stmt["approver"], signers)
        if why:
            problems.append(why)
        given = stmt["change_id"]
        digest_of = stmt["change_digest"]
    elif approval.get("method") == "run":
        kind = (approval.get("identity") or {}).get("kind")
        if kind not in policy.unsigned_sources:
            problems.append(
                refusal(
                    SIGNATURE_REQUIRED,
                    f"{name}'s approval is not signed and its identity source ({kind}) is not one the policy "
                    f"accepts unsigned (approval.unsigned_sources: {', '.join(policy.unsigned_sources) or 'none'})",
                )
            )
        elif kind not in policy.identity_sources:
            problems.append(
                refusal(
                    IDENTITY_NOT_ACCEPTED,
                    f"{name}'s identity came from {kind}, which the policy does not accept "
                    f"(approval.identity.sources: {', '.join(policy.identity_sources)})",
                )
            )
        given = approval.get("change_id")
        digest_of = approval.get("change_digest")
    else:
        return [refusal(NO_EVIDENCE, f"{name}'s approval carries neither a signed statement nor an accepted identity")]
    if given != change_id:
        problems.append(refusal(OTHER_CHANGE, f"{name}'s approval is for change {given}, not {change_id}"))
    if change_digest is None:
        problems.append(
            refusal(
                CHANGE_DIGEST_MISSING,
                f"the check was given no change_digest, so {name}'s approval cannot be bound to what change "
                f"{change_id} will do (pass the change spec's change.digest)",
            )
        )
    elif digest_of != change_digest:
        problems.append(
            refusal(
                OTHER_DIGEST,
                f"{name} approved change digest {digest_of}, but change {change_id} now has {change_digest}: "
                "other targets, another payload or another policy than those approved",
            )
        )
    return problems


def approval_problems(
    approval: Mapping, record: Mapping, policy: GatePolicy, implementers: Iterable, change_digest=None, signers=None
) -> list:
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
    problems += evidence_problems(approval, record["id"], change_digest, policy, signers)
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


def signed_approval(signed, change_id: str, identity: Identity, now: str) -> dict:
    """The approval a signed statement makes (not yet verified; approval_problems does that)."""
    text, signature = signed_text(signed)
    stmt = parse_statement(text)  # another change id is a refusal (recorded), see evidence_problems
    if _parse(stmt["time"]) > _parse(now) + CLOCK_SKEW:
        raise ApprovalInputError(f"the signed statement is dated in the future ({stmt['time']})")
    try:
        fingerprint = sshsig.parse_signature(signature)["fingerprint"]
    except ValueError:
        fingerprint = None
    return {
        "change_id": change_id,
        "change_digest": stmt["change_digest"],
        "approver": stmt["approver"],
        "role": stmt["role"],
        "decision": DECISIONS[stmt["decision"]],
        "comment": stmt["comment"],
        "time": stmt["time"],
        "method": "signature",
        "statement_text": text,
        "statement_digest": digest(text),
        "signature": signature,
        "key_fingerprint": fingerprint,
        "submitted_by": {**identity.as_dict(), "kind": identity.kind},
    }


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
    change_digest: str | None = None,
    signers: str | None = None,
    check_mode: bool = False,
    now: str | None = None,
) -> dict:
    """Record one approval of ``change_id`` (or its refusal) after verifying it. Returns the action result fields.

    ``change_digest``: the digest of what the change will do, when the caller knows it; an approval for another
    digest is refused. Without it the digest is checked when the change is (check_approvals). ``signers``: the
    allowed-signers file (resolved path) of the policy.
    """
    now = now or utc_now()
    record = open_change(ledger, change_id)
    if signed is not None:
        approval = signed_approval(signed, change_id, identity, now)
    else:
        if decision not in DECISIONS:
            raise ApprovalInputError(f"decision must be approve or reject, got {decision!r}")
        if not role or not str(role).strip():
            raise ApprovalInputError("role is required: the role in which the approver approves (e.g. peer)")
        approval = {
            "change_id": change_id,
            "change_digest": change_digest,
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
    problems = approval_problems(approval, record, policy, implementers, change_digest, signers)
    if change_digest is None:  # bound at check time, when the change's digest is known
        problems = [p for p in problems if p["code"] != CHANGE_DIGEST_MISSING]
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
        same = (
            previous[-1].get("statement_text") == approval.get("statement_text")
            if approval["method"] == "signature"
            else previous[-1].get("change_digest") == approval.get("change_digest")
        )
        if same:
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
def signers_summary(signers: str | None) -> dict | None:
    """Which allowed-signers file a decision rested on (its path and content digest), for the auditor."""
    if not signers:
        return None
    try:
        return {"path": signers, "digest": sshsig.file_digest(signers)}
    except sshsig.SignatureSetupError as exc:
        return {"path": signers, "error": str(exc)}


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
    change_digest: str | None = None,
    signers: str | None = None,
    check_mode: bool = False,
    now: str | None = None,
    request=None,
) -> dict:
    """Decide whether change ``change_id`` has the approvals the policy requires; record the decision.

    Every recorded approval is verified again now against ``change_digest`` (without it none counts) and the
    allowed-signers file ``signers``."""
    now = now or utc_now()
    if risk_class not in RISK_CLASSES:
        raise ApprovalInputError(f"risk class must be one of {', '.join(RISK_CLASSES)}, got {risk_class!r}")
    if not targets:
        raise ApprovalInputError("targets are required: the PII and auth/billing rules depend on them")
    record = open_change(ledger, change_id, check_mode)
    services = sorted(set(services))
    teams = sorted(set(teams))
    implementers = _implementers(record, [identity.name, *implementers])
    counted, ignored, rejections = [], [], []
    for approval in latest_by_approver(recorded_approvals(ledger, change_id)):
        problems = approval_problems(approval, record, policy, implementers, change_digest, signers)
        view = {k: approval.get(k) for k in ("approver", "role", "decision", "time", "method")}
        if problems:
            ignored.append({**view, "reasons": problems})
        elif approval["decision"] == "rejected":
            rejections.append(view)
        else:
            counted.append({**view, "human": is_human(approval, policy)})

    refusals = []
    problem = request_problem(
        request, record, change_digest, signers, bool(policy.approval.get("require_signed_request"))
    )
    if problem is not None:
        refusals.append(problem)
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
                if reason not in refusals:
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
        "change_digest": change_digest,
        "allowed_signers": signers_summary(signers),
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
    out = {**decision, "changed": seq is not None, "recorded": seq is not None, "ledger_seq": seq, "msg": msg}
    if record.get("provisional"):
        out["warnings"] = [
            f"check mode: change {change_id} is not in the ledger (a run in check mode opens none), so it was "
            "checked as a new change: no approval recorded for it, requester unknown"
        ]
    return out
