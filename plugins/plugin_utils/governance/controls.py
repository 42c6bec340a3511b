# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The control map: each framework control, the changeward mechanism that implements it, and the ledger events
that show it operated. A report counts that evidence in its period; a control with none says so - no evidence
is never shown as a control that operated."""

from __future__ import annotations

APPROVALS = ("io.changeward.approval.recorded",)
REFUSALS = ("io.changeward.approval.refused", "io.changeward.control.refused")
GATES = ("io.changeward.gate.decided", "io.changeward.risk.scored", "io.changeward.breaker.refused")
OVERRIDES = ("io.changeward.gate.override", "io.changeward.review.opened")
RECORDS = ("io.changeward.change.opened", "io.changeward.change.closed")
RUNS = ("io.changeward.run.started", "io.changeward.run.finished", "io.changeward.task.result")
RINGS = ("io.changeward.rings.planned", "io.changeward.ring.passed", "io.changeward.ring.rolled_back")
ROLLBACK = ("io.changeward.snapshot.taken", "io.changeward.rollback.completed", "io.changeward.rollback.failed")
DRIFT = ("io.changeward.drift.detected", "io.changeward.drift.reported", "io.changeward.drift.verified")
RETENTION = (
    "io.changeward.ledger.archived",
    "io.changeward.ledger.pruned",
    "io.changeward.retention.hold_placed",
    "io.changeward.retention.hold_released",
)

# (framework, control id, what the control asks, the changeward mechanism, event types that evidence it)
CONTROLS = (
    (
        "SOX ITGC",
        "CM-1 Authorisation",
        "Changes to production are authorised before they are implemented.",
        "changeward.hybrid.approval: signed approval statements bound to the change digest (targets, payload, "
        "policy); the pinned gate policy says how many and which roles.",
        APPROVALS + REFUSALS,
    ),
    (
        "SOX ITGC",
        "CM-2 Segregation of duties",
        "Nobody approves a change they requested or implement.",
        "approval refuses self-approval and service accounts; control events are written only by the plugin "
        "that verifies them (reserved types).",
        REFUSALS + APPROVALS,
    ),
    (
        "SOX ITGC",
        "CM-3 Testing and gating",
        "Changes are tested and pass defined gates before and during rollout.",
        "Risk score, blackout calendar, error budget, circuit breaker and canary gates; ring-by-ring rollout "
        "with automatic rollback; each gate records its own decision.",
        GATES + RINGS,
    ),
    (
        "SOX ITGC",
        "CM-4 Emergency changes",
        "Emergency changes are authorised by an accountable person and reviewed after the fact.",
        "changeward.hybrid.blackout: a signed emergency override, recorded with the exemptions it grants; it "
        "opens a review record.",
        OVERRIDES,
    ),
    (
        "SOX ITGC",
        "CM-5 Complete and unaltered record",
        "The population of changes is complete and its records cannot be altered unnoticed.",
        "The recorder callback records every run (unattributed runs as changes of their own); the ledger is a "
        "hash chain with signed checkpoints, verified when this report is built.",
        RECORDS + RUNS,
    ),
    (
        "SOX ITGC",
        "CM-6 Detection of unauthorised change",
        "Changes made outside the process are detected and resolved.",
        "changeward.hybrid.drift_scan / drift_report: drift detection with recorded remediation changes.",
        DRIFT,
    ),
    (
        "HIPAA",
        "164.312(b) Audit controls",
        "Mechanisms record and examine activity in systems that contain or use ePHI.",
        "The recorder writes every task result to the ledger (shipped to audit sinks as it runs); ledger_verify "
        "and this report examine it.",
        RUNS + RECORDS,
    ),
    (
        "PCI DSS v4.0",
        "10.2 Audit logs",
        "Audit logs capture individual user access and actions on system components.",
        "Recorder events name the run, its user and AWX job; approvals name the approver and their signing key.",
        RUNS + APPROVALS,
    ),
    (
        "PCI DSS v4.0",
        "10.3 Protection of audit logs",
        "Audit logs are protected from modification; changes to them are detected.",
        "Hash chain, signed checkpoints and signed chained exports; ledger_verify names any edit, deletion or "
        "insertion.",
        RECORDS,
    ),
    (
        "PCI DSS v4.0",
        "10.5.1 Retention of audit logs",
        "Audit log history is kept for at least 12 months, the most recent three months immediately available.",
        "changeward.hybrid.ledger_archive under the pinned retention policy (per data class and record type): "
        "signed, chained archives on WORM storage (S3 Object Lock), read back and verified; the live ledger is "
        "pruned only after a verified archive and never under a legal hold (ledger_hold).",
        RETENTION,
    ),
    (
        "PCI DSS v4.0",
        "6.5.1 Change control",
        "Changes follow documented procedures: reason, security impact, authorisation, testing, back-out.",
        "Change records (summary, risk, targets), approvals, gates, snapshots taken before the change and rollback.",
        RECORDS + APPROVALS + GATES + ROLLBACK,
    ),
    (
        "PCI DSS v4.0",
        "6.5.2 Confirmation after change",
        "On completion of a significant change, applicable requirements are confirmed in place.",
        "Close observations and outcome on every change; compliance and drift checks after the rollout.",
        ("io.changeward.change.closed", "io.changeward.drift.verified"),
    ),
)


def control_map(counts) -> list:
    """The controls with the number of their evidence events in the period (``counts``: event type -> n)."""
    out = []
    for framework, control, requirement, mechanism, types in CONTROLS:
        found = {t: counts.get(t, 0) for t in types if counts.get(t, 0)}
        n = sum(found.values())
        out.append(
            {
                "framework": framework,
                "control": control,
                "requirement": requirement,
                "mechanism": mechanism,
                "evidence_types": list(types),
                "evidence": found,
                "evidence_events": n,
                "status": "evidenced" if n else "no evidence in period",
            }
        )
    return out


def evidence_types() -> set:
    return {t for *_rest, types in CONTROLS for t in types}


__all__ = ["CONTROLS", "control_map", "evidence_types"]
