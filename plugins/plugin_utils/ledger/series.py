# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validation of successive JSONL exports over a time range, as CloudTrail's ``validate-logs`` checks digests.

Each export made with the signing key has a signed header saying what it covers and which export it follows
(export.py): ``sequence``, ``start`` (the first event's prev_hash), ``last``, ``range`` and ``previous`` (the
previous export's header digest, last seq and hash). Given the exports in the order they were taken (a
sorted glob of dated file names, say), ``validate_exports`` verifies each one (verify.verify_source: hash
chain, checkpoints, header signature) and then their continuity, and names the export each problem concerns:

- ``altered``: an export that does not verify, whose signed header does not verify, or whose header is not
  the one its successor links to (a re-signed or replaced export);
- ``dropped``: an export missing from the chain: its successor links to a header no export given has, or
  the sequence numbers jump; the missing one is named by its sequence and seq range;
- ``reordered``: exports given out of their chain order (the fewest that explain it, as verify does for
  events);
- ``unsigned``: an export with no signed header (continuity cannot rest on it);
- ``foreign``: an export of another ledger;
- ``not_covered``: the time range reaches before the first export given or after the last one taken.

A time range (``start_time``, ``end_time``) limits the check to the exports that hold events of that range
(each export holds every event appended before it was taken, after the previous one), and requires the
range to be covered end to end: no data is never a pass.
"""

from __future__ import annotations

import glob
import os

from .checkpoint import instant, load_keys
from .errors import LedgerEmpty, LedgerError, LedgerInvalidInput, LedgerKeyError
from .export import header_digest, read_header
from .model import check_time
from .verify import JsonlSource, _lis_keep_earliest, verify_source

SERIES_KINDS = ("altered", "dropped", "reordered", "unsigned", "foreign", "not_covered")


def expand(paths) -> list:
    """Paths in the order given; a glob pattern among them is expanded in sorted order (no match: error)."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out: list = []
    for item in paths or ():
        text = os.path.expanduser(os.fspath(item))
        if glob.has_magic(text):
            found = sorted(glob.glob(text))
            if not found:
                raise LedgerEmpty(f"no export matches {text}")
            out.extend(found)
        else:
            out.append(text)
    if not out:
        raise LedgerEmpty("no exports given; an empty series is not reported as valid")
    return [os.path.abspath(p) for p in dict.fromkeys(out)]


def _int(value):
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class _Export:
    def __init__(self, path: str, keys: dict):
        self.path = path
        self.name = os.path.basename(path)
        self.header = read_header(path)
        h = self.header
        self.digest = header_digest(h)
        self.ledger_id = h.get("ledger_id")
        self.sequence = _int(h.get("sequence"))
        self.signed = "signature" in h
        self.exported_at = h.get("exported_at")
        start, last, rng = h.get("start") or {}, h.get("last") or {}, h.get("range") or {}
        self.start_seq, self.start_hash = _int(start.get("seq")), start.get("hash")
        self.last_seq, self.last_hash = _int(last.get("seq")), last.get("hash")
        self.first_time, self.last_time = rng.get("first_time"), rng.get("last_time")
        self.previous = h.get("previous") if isinstance(h.get("previous"), dict) else None
        self.report = verify_source(JsonlSource(path), key=keys, allow_empty=True)

    def summary(self) -> dict:
        return {
            "path": self.path,
            "sequence": self.sequence,
            "first_seq": self.start_seq + 1 if self.start_seq is not None and self.last_seq != self.start_seq else None,
            "last_seq": self.last_seq,
            "first_time": self.first_time,
            "last_time": self.last_time,
            "exported_at": self.exported_at,
            "signed_by": (self.header.get("signature") or {}).get("key_id") if self.signed else None,
            "valid": self.report["valid"],
        }


def _time(value, what: str):
    if value is None:
        return None
    check_time(value, what)
    return instant(value)


def validate_exports(paths, *, key=None, start_time: str | None = None, end_time: str | None = None) -> dict:
    """Validate a series of exports (paths or glob patterns, in the order taken). Raises LedgerError when it
    cannot decide (no export, unreadable header, no key)."""
    keys = key if isinstance(key, dict) else load_keys(key)
    if not keys:
        raise LedgerKeyError("validating exports needs the verification key(s): their headers are signed")
    t0, t1 = _time(start_time, "start_time"), _time(end_time, "end_time")
    if t0 is not None and t1 is not None and t1 < t0:
        raise LedgerInvalidInput(f"end_time {end_time} is before start_time {start_time}")
    exports = [_Export(p, keys) for p in expand(paths)]
    problems: list = []

    def problem(kind: str, ex, detail: str) -> None:
        problems.append({"kind": kind, "export": ex.path if ex is not None else None, "detail": detail})

    ledger_id = exports[0].ledger_id
    usable = []
    for ex in exports:
        if ex.ledger_id != ledger_id:
            problem("foreign", ex, f"{ex.name} is an export of ledger {ex.ledger_id}, not of {ledger_id}")
            continue
        if not ex.signed or ex.sequence is None:
            problem("unsigned", ex, f"{ex.name} has no signed header (exported without the signing key)")
            continue
        if not ex.report["valid"]:
            kinds = sorted({p["kind"] for p in ex.report["problems"]})
            first = ex.report["problems"][0]
            problem(
                "altered",
                ex,
                f"{ex.name} does not verify ({', '.join(kinds)}): {first['kind']} at seq {first['seq']}: "
                f"{first['detail']}",
            )
        usable.append(ex)

    # Order: the chain order is the signed sequence; the order given must follow it.
    keep = _lis_keep_earliest([ex.sequence for ex in usable])
    for n, ex in enumerate(usable):
        if n not in keep:
            before = usable[n - 1].name if n else None
            problem(
                "reordered",
                ex,
                f"{ex.name} (export {ex.sequence}) is given out of chain order"
                + (f", after {before}" if before else ""),
            )
    chain = sorted(usable, key=lambda e: e.sequence)
    by_sequence: dict = {}
    for ex in chain:
        by_sequence.setdefault(ex.sequence, []).append(ex)
    for seq_no, same in by_sequence.items():
        if len({ex.digest for ex in same}) > 1:
            for ex in same[1:]:
                problem("altered", ex, f"{ex.name} and {same[0].name} both claim to be export {seq_no}")

    # Time range: which exports hold events of [start_time, end_time].
    def ends_before(ex, t) -> bool:  # every event of ex is older than t
        return ex.exported_at is not None and instant(ex.exported_at) < t

    selected = [ex for ex in chain if t0 is None or not ends_before(ex, t0)]
    if t1 is not None:
        upto = next((i for i, ex in enumerate(selected) if not ends_before(ex, t1)), None)
        if upto is None:
            last = chain[-1] if chain else None
            problem(
                "not_covered",
                last,
                f"no export was taken after end_time {end_time}"
                + (f"; the last, {last.name}, was taken at {last.exported_at}" if last else ""),
            )
        else:
            selected = selected[: upto + 1]
    if not selected:
        if problems:  # nothing usable is left, and why is reported
            return _report(exports, problems, ledger_id, None, None, 0)
        raise LedgerEmpty("no export given holds events of the time range asked")

    # Continuity: each selected export links to the one before it.
    for prev, ex in zip([None, *selected[:-1]], selected, strict=True):
        link = ex.previous
        if prev is None:
            # The first: nothing before it is needed when it starts the ledger or starts before the range.
            starts_ledger = ex.start_seq == 0 and link is None
            covers_start = t0 is not None and ex.first_time is not None and instant(ex.first_time) <= t0
            if not (starts_ledger or covers_start):
                missing = (link or {}).get("sequence")
                problem(
                    "dropped" if t0 is not None or link is not None else "not_covered",
                    ex,
                    f"the export before {ex.name}"
                    + (f" (export {missing}, ending at seq {link.get('last_seq')})" if link else "")
                    + " is missing"
                    + (f": events from {start_time} up to seq {ex.start_seq} are not covered" if t0 else ""),
                )
            continue
        if link is None:
            problem("altered", ex, f"{ex.name} (export {ex.sequence}) names no previous export but follows {prev.name}")
            continue
        if link.get("header_digest") == prev.digest:
            if (ex.start_seq, ex.start_hash) != (prev.last_seq, prev.last_hash):
                problem("altered", ex, f"{ex.name} does not start where {prev.name} ends (seq {prev.last_seq})")
            continue
        if ex.sequence is not None and prev.sequence is not None and ex.sequence > prev.sequence + 1:
            first = (prev.last_seq or 0) + 1
            problem(
                "dropped",
                ex,
                f"export(s) {prev.sequence + 1}..{ex.sequence - 1} between {prev.name} and {ex.name} are missing "
                f"(events {first}..{ex.start_seq})",
            )
        elif link.get("last_seq") == prev.last_seq and link.get("last_hash") == prev.last_hash:
            problem(
                "altered",
                prev,
                f"{prev.name} is not the export {ex.name} follows: its header was changed or re-signed "
                f"({prev.digest[:19]}... is not {str(link.get('header_digest'))[:19]}...)",
            )
        else:
            problem("altered", ex, f"{ex.name} does not chain to {prev.name} (it follows another export)")

    events = sum(ex.report["events"] for ex in selected)
    return _report(exports, problems, ledger_id, (selected[0].start_seq or 0) + 1, selected[-1].last_seq, events)


def _report(exports, problems, ledger_id, first_seq, last_seq, events) -> dict:
    return {
        "valid": not problems,
        "exports": [ex.summary() for ex in exports],
        "problems": problems,
        "problems_total": len(problems),
        "first_seq": first_seq,
        "last_seq": last_seq,
        "events": events,
        "ledger_id": ledger_id,
    }


def summary(report) -> str:
    n = len(report["exports"])
    if report["valid"]:
        return (
            f"exports valid: {n} export(s) chained, events {report['first_seq']}..{report['last_seq']} "
            f"({report['events']} events)"
        )
    kinds: dict = {}
    for p in report["problems"]:
        kinds[p["kind"]] = kinds.get(p["kind"], 0) + 1
    return (
        f"exports INVALID: {report['problems_total']} problem(s) ("
        + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
        + f") in {n} export(s)"
    )


__all__ = ["SERIES_KINDS", "LedgerError", "expand", "summary", "validate_exports"]
