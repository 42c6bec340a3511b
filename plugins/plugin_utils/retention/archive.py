# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Archive a range of the ledger, read it back and verify it; prune only what such an archive holds.

- ``plan``: how far the live ledger may be pruned now - the longest prefix of the live chain whose events are
  all past their live retention (policy.py), covered by no legal hold (holds.py), of no change still open and
  not the latest transition of a circuit breaker, ending on a signed checkpoint (the pruned ledger's new start).
- ``archive``: the next archive - a signed JSONL export (ledger/export.py, the one exporter) from where the
  previous archive ended up to the plan's end, chained to the previous archive's header; verified, written to
  the store with the policy's retention, read back from the store and verified again from those bytes, then
  recorded (``io.changeward.ledger.archived``: where, its SHA-256, its header and header digest, the range,
  retain-until and lock mode).
- ``prune``: verify the live ledger, read back every archive the range needs from its store, verify each on its
  own and their chain against the live ledger, then - under the ledger's write lock, refusing while a legal hold
  covers the range - ``Ledger.prune``, which records ``io.changeward.ledger.pruned`` (the range, the archives
  that hold it and their digests) and removes it. The live ledger is verified again afterwards.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping

from ansible_collections.changeward.hybrid.plugins.plugin_utils.control_events import (
    BREAKER_TRANSITIONS,
    CONTROL_REFUSED,
    HOLD_PLACED,
    LEDGER_ARCHIVED,
    REVIEW_OPENED,
)
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.export import header_digest, read_header
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.model import CHANGE_OPENED
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.verify import JsonlSource, verify_source

from . import holds as holds_mod
from .policy import RetentionError, RetentionRefused, parse_time, rfc3339
from .store import sha256_file

ARCHIVE_FORMAT = "changeward-ledger-archive/1"
REVIEW_COMPLETED = "io.changeward.review.completed"  # governance/review.py's


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


class Subjects:
    """What retention needs to know about an event's subject, read once per subject from the live ledger."""

    def __init__(self, ledger, classes_of_targets: Callable):
        self.ledger = ledger
        self.classes_of_targets = classes_of_targets  # targets -> set of data classes (the inventory's labels)
        self._records: dict = {}
        self._services: dict = {}
        self._reviews: dict = {}

    def record(self, subject):
        if subject not in self._records:
            self._records[subject] = self.ledger.get_change(subject) if isinstance(subject, str) and subject else None
        return self._records[subject]

    @staticmethod
    def is_control(subject) -> bool:
        # breaker:<service>, ledger:<id>, hold:<id>: no change, no hosts, no data class
        return isinstance(subject, str) and subject.split(":", 1)[0] in ("breaker", "ledger", "hold")

    def classes(self, subject):
        """The data classes of the hosts a change targets; () for a control subject; None when not known."""
        if self.is_control(subject):
            return ()
        record = self.record(subject)
        if record is None:
            return None  # a change whose record is no longer in the live ledger: the longest periods apply
        return self.classes_of_targets(record.get("targets") or [])

    def service(self, subject):
        if subject not in self._services:
            found = None
            if not self.is_control(subject):
                opened = self.ledger.events(subject=subject, types=[CHANGE_OPENED], limit=1)
                if opened:
                    found = (opened[0].event.get("data") or {}).get("service")
                elif self.record(subject) is not None:
                    found = holds_mod.UNKNOWN
            self._services[subject] = found
        return self._services[subject]

    def is_open(self, subject) -> bool:
        record = None if self.is_control(subject) else self.record(subject)
        return record is not None and record.get("status") == "open"

    def open_review(self, subject):
        """The kind of a review of this change that was opened and not completed (its evidence stays live), or None."""
        if self.is_control(subject) or not isinstance(subject, str) or not subject:
            return None
        if subject not in self._reviews:
            kinds: dict = {}
            for entry in self.ledger.iter_events(subject=subject, types=[REVIEW_OPENED, REVIEW_COMPLETED]):
                kind = (entry.event.get("data") or {}).get("kind")
                kinds[kind] = entry.event["type"] == REVIEW_OPENED
            self._reviews[subject] = next((k for k, still_open in kinds.items() if still_open), None)
        return self._reviews[subject]


def _latest_breaker_seqs(ledger, after_seq: int) -> set:
    latest: dict = {}
    for entry in ledger.iter_events(types=sorted(BREAKER_TRANSITIONS), after_seq=after_seq):
        latest[entry.event.get("subject")] = entry.seq
    return set(latest.values())


def plan(ledger, policy, subjects: Subjects, *, now: datetime.datetime | None = None, through_seq=None) -> dict:
    """How far the live ledger may be pruned now: {start, through_seq (None: nothing), stop (why it ends there)}."""
    now = now or utc_now()
    start, _hash = ledger.start()
    head = ledger.head()[0]
    cap = head if through_seq is None else min(through_seq, head)
    active = holds_mod.active(ledger)
    breakers = _latest_breaker_seqs(ledger, start)
    checkpoints = {cp["seq"] for cp in ledger.checkpoints(start) if isinstance(cp, Mapping)}
    # an event not yet delivered to every audit sink stays: the sinks' copy is the anchor held elsewhere
    cursors = ledger.cursors()
    behind = min(cursors.items(), key=lambda c: c[1]) if cursors else None
    stop, last_ok, archive_until = None, start, None
    for entry in ledger.iter_events(after_seq=start, before_seq=cap + 1):
        event = entry.event
        subject = event.get("subject")
        when = parse_time(event.get("time"))
        periods = policy.periods(event.get("type", ""), subjects.classes(subject))
        held = holds_mod.first_covered(active, [entry], subjects.service)
        if held is not None:
            stop = f"legal hold {held[0].get('hold_id')} covers event {entry.seq}"
        elif when is None:
            stop = f"event {entry.seq} has no readable time"
        elif when + datetime.timedelta(seconds=periods["live"]) > now:
            stop = f"event {entry.seq} ({event.get('type')}) is within its live retention until " + rfc3339(
                when + datetime.timedelta(seconds=periods["live"])
            )
        elif subjects.is_open(subject):
            stop = f"event {entry.seq} belongs to change {subject}, which is still open"
        elif subjects.open_review(subject):
            stop = (
                f"event {entry.seq} belongs to change {subject}, whose {subjects.open_review(subject)} review is open"
            )
        elif behind is not None and entry.seq > behind[1]:
            stop = f"event {entry.seq} is not yet delivered to audit sink {behind[0]}"
        elif entry.seq in breakers:
            stop = f"event {entry.seq} is the latest state of {subject}"
        if stop:
            break
        last_ok = entry.seq
        until = when + datetime.timedelta(seconds=periods["archive"])
        archive_until = until if archive_until is None or until > archive_until else archive_until
    through = max((s for s in checkpoints if start < s <= last_ok), default=None)
    if through is None and stop is None:
        stop = f"no signed checkpoint between seq {start + 1} and {last_ok}"
    return {
        "start": start,
        "head": head,
        "through_seq": through,
        "stop": stop or (f"through_seq {through_seq}" if through_seq is not None and cap < head else "the head"),
        "holds": [{"hold_id": h.get("hold_id"), "scope": holds_mod.describe(h), "seq": h["seq"]} for h in active],
    }


def archived(ledger) -> list:
    """The archives recorded in the live ledger, oldest first (their io.changeward.ledger.archived data)."""
    return [{**e.event["data"], "recorded_seq": e.seq} for e in ledger.iter_events(types=[LEDGER_ARCHIVED])]


def archive_name(header: Mapping) -> str:
    return (
        f"{header['ledger_id']}/{header['sequence']:06d}-{header['range']['first_seq']:012d}-"
        f"{header['last']['seq']:012d}.jsonl"
    )


def _verified(path: str, keys, what: str) -> dict:
    report = verify_source(JsonlSource(path), key=keys)
    if not report["valid"]:
        kinds = ", ".join(sorted({p["kind"] for p in report["problems"]}))
        raise RetentionRefused(f"{what} does not verify ({kinds}): {report['problems'][0]['detail']}")
    header = read_header(path)
    if "signature" not in header:
        raise RetentionRefused(f"{what} has no signed header; an archive must be signed")
    return {"report": report, "header": header}


def _retain_until(path: str, policy, subjects: Subjects) -> datetime.datetime:
    """The latest (event time + its archive period) of the events in an export: the Object Lock date."""
    import json

    latest = None
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.startswith('{"event":'):
                continue
            event = json.loads(line)["event"]
            when = parse_time(event.get("time"))
            if when is None:
                raise RetentionError(f"archive event {event.get('id')} has no readable time")
            periods = policy.periods(event.get("type", ""), subjects.classes(event.get("subject")))
            until = when + datetime.timedelta(seconds=periods["archive"])
            latest = until if latest is None or until > latest else latest
    if latest is None:
        raise RetentionError("an archive without events")
    return latest.replace(microsecond=0) + datetime.timedelta(seconds=1)


@contextlib.contextmanager
def _workdir():
    path = tempfile.mkdtemp(prefix="cw-archive-")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def archive(ledger, store, policy, subjects: Subjects, *, keys=None, through_seq=None, now=None, source=None) -> dict:
    """Write the next archive (see the module docstring). {changed, archive | reason}."""
    if ledger.signer is None or not ledger.signer.can_sign:
        raise RetentionError("archiving needs the ledger's signing key: an archive's header must be signed")
    keys = keys if keys is not None else ledger.signer
    wanted = plan(ledger, policy, subjects, now=now, through_seq=through_seq)
    done = archived(ledger)
    previous = done[-1]["header"] if done else None
    start = ledger.start()[0]
    begin = previous["last"]["seq"] if previous else start
    if previous is not None and begin < start:
        previous, begin = None, start  # cannot happen through prune (it keeps the latest archive's record)
    end = wanted["through_seq"]
    if end is None or end <= begin:
        return {"changed": False, "plan": wanted, "msg": f"nothing to archive after seq {begin}: {wanted['stop']}"}
    store.check()
    with _workdir() as tmp:
        local = os.path.join(tmp, "export.jsonl")
        summary = ledger.export_jsonl(local, after_seq=None if previous else begin, previous=previous, through_seq=end)
        first = _verified(local, keys, "the export")
        retain_until = _retain_until(local, policy, subjects)
        name = archive_name(first["header"])
        written = store.put(name, local, summary["sha256"], retain_until, policy.lock_mode)
        back = os.path.join(tmp, "readback.jsonl")
        got = store.get(name, back)
        if sha256_file(back) != summary["sha256"]:
            raise RetentionRefused(f"archive {written['location']} read back differs from what was written")
        again = _verified(back, keys, f"archive {written['location']} as read back")
        if got.get("lock_mode") not in (None, policy.lock_mode) or (
            got.get("retain_until") is not None and parse_time(got["retain_until"]) < retain_until
        ):
            raise RetentionRefused(
                f"archive {written['location']} is locked {got.get('lock_mode')} until {got.get('retain_until')}, "
                f"not {policy.lock_mode} until {rfc3339(retain_until)}"
            )
    header = again["header"]
    record = {
        "format": ARCHIVE_FORMAT,
        "store": store.kind,
        "location": written["location"],
        "name": name,
        "version_id": got.get("version_id") or written.get("version_id"),
        "sha256": summary["sha256"],
        "header_digest": header_digest(header),
        "header": header,
        "first_seq": header["range"]["first_seq"],
        "last_seq": header["last"]["seq"],
        "last_hash": header["last"]["hash"],
        "sequence": header["sequence"],
        "events": again["report"]["events"],
        "retain_until": rfc3339(retain_until),
        "lock_mode": got.get("lock_mode") or (policy.lock_mode if store.kind == "s3" else None),
        "policy_digest": policy.digest,
    }
    appended = ledger.record(LEDGER_ARCHIVED, f"ledger:{ledger.ledger_id}", record, source=source)
    return {
        "changed": True,
        "plan": wanted,
        "archive": {k: v for k, v in record.items() if k != "header"},
        "ledger_seq": appended.seq,
        "msg": f"archived seqs {record['first_seq']}..{record['last_seq']} to {record['location']} "
        f"(verified as read back, retained until {record['retain_until']})",
    }


def _chain_for(ledger, records: list, start: tuple, through: int) -> list:
    """The recorded archives that together hold (start, through], in order."""
    seq = start[0]
    chain = []
    for rec in records:
        header = rec["header"]
        if header["last"]["seq"] <= seq:
            continue
        if not chain:
            if not header["start"]["seq"] <= seq:
                break
        elif (header.get("previous") or {}).get("header_digest") != chain[-1]["header_digest"]:
            break
        chain.append(rec)
        if header["last"]["seq"] >= through:
            return chain
    got = chain[-1]["header"]["last"]["seq"] if chain else seq
    raise RetentionRefused(
        f"no verified archive holds seqs {seq + 1}..{through}: the recorded archives reach seq {got}; archive first"
    )


def prune(ledger, store_for: Callable, policy, subjects: Subjects, *, keys=None, through_seq=None, now=None) -> dict:
    """Prune what verified archives hold (see the module docstring). store_for(record) opens an archive's store."""
    if ledger.signer is None or not ledger.signer.can_sign:
        raise RetentionError("pruning needs the ledger's signing key")
    keys = keys if keys is not None else ledger.signer
    before = ledger.verify(key=keys)
    if not before["valid"]:
        raise RetentionRefused(
            f"the live ledger does not verify ({before['problems'][0]['kind']}: {before['problems'][0]['detail']}); "
            "nothing is pruned from a ledger that does not verify"
        )
    wanted = plan(ledger, policy, subjects, now=now, through_seq=through_seq)
    start = ledger.start()
    records = [r for r in archived(ledger) if r["last_seq"] > start[0]]
    ends = [
        r["last_seq"] for r in records if wanted["through_seq"] is not None and r["last_seq"] <= wanted["through_seq"]
    ]
    if not ends:
        why = wanted["stop"] if wanted["through_seq"] is None else "no archive ends within what may be pruned"
        return {"changed": False, "plan": wanted, "msg": f"nothing to prune after seq {start[0]}: {why}"}
    through = max(ends)
    chain = _chain_for(ledger, records, start, through)
    checked = []
    with _workdir() as tmp:
        for n, rec in enumerate(chain):
            path = os.path.join(tmp, f"{n}.jsonl")
            got = store_for(rec).get(rec["name"], path)
            where = rec["location"]
            if sha256_file(path) != rec["sha256"]:
                raise RetentionRefused(f"archive {where} read back is not the archive recorded (SHA-256 differs)")
            ok = _verified(path, keys, f"archive {where}")
            if header_digest(ok["header"]) != rec["header_digest"]:
                raise RetentionRefused(f"archive {where}: its header is not the one recorded")
            checked.append(
                {
                    **{k: rec[k] for k in ("location", "sha256", "header_digest", "sequence")},
                    "first_seq": rec["first_seq"],
                    "last_seq": rec["last_seq"],
                    "lock_mode": got.get("lock_mode"),
                    "retain_until": got.get("retain_until"),
                }
            )
    first = chain[0]["header"]
    if first["start"]["seq"] == start[0] and first["start"]["hash"] != start[1]:
        raise RetentionRefused("the first archive does not start on the live ledger's chain")
    entry = ledger.entry(through)
    if entry is None or entry.hash != chain[-1]["last_hash"]:
        raise RetentionRefused(f"the archive ending at seq {through} does not end on the live ledger's chain")

    def guard(led) -> None:
        # under the write lock: a hold placed since the plan is seen here
        live = holds_mod.active(led)
        holds_mod.refuse_if_held(
            live,
            led.iter_events(after_seq=start[0], before_seq=through + 1),
            subjects.service,
            f"pruning seqs {start[0] + 1}..{through}",
        )

    try:
        done = ledger.prune(
            through, {"archives": checked, "policy_digest": policy.digest, "reason": "retention policy"}, guard=guard
        )
    except RetentionRefused as exc:
        ledger.record(
            CONTROL_REFUSED,
            f"ledger:{ledger.ledger_id}",
            {"control": "legal hold", "action": "ledger_archive", "reason": str(exc)},
        )
        raise
    after = ledger.verify(key=keys)
    return {
        "changed": True,
        "plan": wanted,
        "pruned": {k: done[k] for k in ("from_seq", "through_seq", "through_hash", "deleted")},
        "archives": checked,
        "ledger_seq": done["seq"],
        "verified": {"valid": after["valid"], "events": after["events"], "signed_through": after["signed_through"]},
        "msg": f"pruned seqs {done['from_seq']}..{done['through_seq']} ({done['deleted']} events), held by "
        f"{len(checked)} verified archive(s); the live ledger " + ("verifies" if after["valid"] else "DOES NOT verify"),
    }


def place_hold(ledger, hold_id: str, scope: dict, *, matter: str, by: str, reason: str, source=None) -> dict:
    if not isinstance(hold_id, str) or not holds_mod.HOLD_ID.match(hold_id):
        raise RetentionError(f"hold_id {hold_id!r} must match {holds_mod.HOLD_ID.pattern}")
    for name, value in (("matter", matter), ("by", by), ("reason", reason)):
        if not isinstance(value, str) or not value.strip():
            raise RetentionError(f"a legal hold needs {name}")
    for hold in holds_mod.active(ledger):
        if hold.get("hold_id") == hold_id:
            if hold.get("scope") == scope:
                return {"changed": False, "hold": hold, "msg": f"legal hold {hold_id} is already in force"}
            raise RetentionError(f"legal hold {hold_id} is in force with another scope; use another id")
    data = {"hold_id": hold_id, "scope": scope, "matter": matter, "by": by, "reason": reason}
    appended = ledger.record(HOLD_PLACED, holds_mod.subject(hold_id), data, source=source)
    return {
        "changed": True,
        "hold": {**data, "seq": appended.seq, "event_id": appended.event_id},
        "ledger_seq": appended.seq,
        "msg": f"legal hold {hold_id} placed on {holds_mod.describe(data)}",
    }


def release_hold(ledger, policy, signers_path, hold_id: str, *, by: str, signature: str, source=None) -> dict:
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.control_events import HOLD_RELEASED

    hold = next((h for h in holds_mod.active(ledger) if h.get("hold_id") == hold_id), None)
    if hold is None:
        return {"changed": False, "msg": f"no legal hold {hold_id} is in force"}
    statement = holds_mod.release_statement(ledger.ledger_id, hold, by)
    fingerprint = holds_mod.check_release(policy, signers_path, statement, signature, by)
    data = {
        "hold_id": hold_id,
        "placed_event": hold["event_id"],
        "by": by,
        "statement": statement,
        "signature": signature,
        "key": fingerprint,
        "policy_digest": policy.digest,
    }
    appended = ledger.record(HOLD_RELEASED, holds_mod.subject(hold_id), data, source=source)
    return {"changed": True, "ledger_seq": appended.seq, "msg": f"legal hold {hold_id} released by {by}"}
