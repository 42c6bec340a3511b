# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""JSONL export for auditors: verifiable without the database.

One canonical JSON object per line:

- line 1, ``{"record": "header", ...}``: ledger id, checkpoint interval, where the export starts
  (``start``: seq and hash before its first event; seq 0 and 64 zeros for a full export) and ends
  (``last``: seq and hash of its last event);
- ``{"record": "event", "seq", "prev_hash", "hash", "event"}`` for every event, in seq order;
- ``{"record": "checkpoint", "checkpoint": {...}}`` right after the event a checkpoint covers.

Exported with the signing key, the header is signed (``signature``: {alg, key_id, sig} over the rest of the
header, the checkpoint signing scheme) and says what the export covers - ``start`` (the first event's
prev_hash), ``last``, ``range`` (first/last seq and event time) - and which export it follows
(``sequence``, ``previous``: the previous export's header digest, last seq and hash). Successive exports
then form a chain of their own that ``validate_exports`` checks over a time range, as CloudTrail's
validate-logs checks digest files: a dropped, reordered or altered export is named. Without the key the
header is unsigned: it catches careless edits, the signed checkpoints are the proof.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile

from .backend import SqlBackend
from .canonical import canonical_bytes, canonical_text, parse_json
from .chain import GENESIS_HASH, HASH_ALG, is_hash
from .checkpoint import load_key, sign_object
from .errors import LedgerInvalidInput, LedgerKeyError, LedgerUnavailable
from .model import utc_now

EXPORT_FORMAT = "changeward-ledger-export/1"


def header_digest(header) -> str:
    """``sha256:<hex>`` of a header's canonical JSON, signature included (what the next export links to)."""
    return "sha256:" + hashlib.sha256(canonical_bytes(header)).hexdigest()


def read_header(path) -> dict:
    """The header (first line) of a JSONL export."""
    path = os.path.abspath(os.path.expanduser(os.fspath(path)))
    try:
        with open(path, encoding="utf-8") as fh:
            first = fh.readline()
    except (OSError, UnicodeDecodeError) as exc:
        raise LedgerUnavailable(f"cannot read export {path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        header = parse_json(first)
    except LedgerInvalidInput as exc:
        raise LedgerInvalidInput(f"export {path} does not start with a header line: {exc}") from None
    if not isinstance(header, dict) or header.get("record") != "header" or header.get("format") != EXPORT_FORMAT:
        raise LedgerInvalidInput(f"export {path} does not start with a {EXPORT_FORMAT} header")
    return header


def _event_time(entry) -> object:
    try:
        event = parse_json(entry.body)
    except LedgerInvalidInput:
        return None
    return event.get("time") if isinstance(event, dict) else None


def _previous_link(backend: SqlBackend, previous, ledger_id, start=(0, GENESIS_HASH)) -> dict:
    """What the new export says about the one before it, after checking that one ends on this chain.

    start: where the live chain begins (a pruned ledger): an export ending there ends on its signed start."""
    header = previous if isinstance(previous, dict) else read_header(previous)
    last = header.get("last")
    if header.get("ledger_id") != ledger_id:
        raise LedgerInvalidInput(
            f"the previous export is of ledger {header.get('ledger_id')}, not of this ledger {ledger_id}"
        )
    if not isinstance(last, dict) or not isinstance(last.get("seq"), int) or not is_hash(last.get("hash")):
        raise LedgerInvalidInput("the previous export's header has no valid last seq and hash")
    if last["seq"] and last["seq"] < start[0]:
        raise LedgerInvalidInput(
            f"the previous export ends at seq {last['seq']}, but ledger {backend.target} was pruned through seq "
            f"{start[0]}; continue the archive that ends there"
        )
    if last["seq"] == start[0] and start[0]:
        if last["hash"] != start[1]:
            raise LedgerInvalidInput(
                f"the previous export ends at seq {last['seq']} with hash {last['hash'][:12]}..., not on the hash this "
                "pruned ledger starts from; it does not belong to this chain"
            )
    elif last["seq"]:
        entry = backend.entry(last["seq"])
        if entry is None or entry.hash != last["hash"]:
            raise LedgerInvalidInput(
                f"the previous export ends at seq {last['seq']} with hash {last['hash'][:12]}..., which is not "
                f"this ledger's event {last['seq']}; it does not belong to this chain"
            )
    sequence = header.get("sequence")
    return {
        "header_digest": header_digest(header),
        "last_seq": last["seq"],
        "last_hash": last["hash"],
        "sequence": sequence if isinstance(sequence, int) and not isinstance(sequence, bool) else None,
    }


def event_line(seq: int, prev_hash: str, entry_hash: str, body: str) -> str:
    """The canonical JSON line of an event, built from its stored canonical text."""
    return (
        '{"event":'
        + body
        + ',"hash":"'
        + entry_hash
        + '","prev_hash":"'
        + prev_hash
        + '","record":"event","seq":'
        + str(seq)
        + "}"
    )


def checkpoint_line(checkpoint: dict) -> str:
    return canonical_text({"checkpoint": checkpoint, "record": "checkpoint"})


def _stored_checkpoint_line(seq: int, body: str) -> str:
    """A stored checkpoint as an export line; one that is not valid JSON is exported as text with the seq
    it was stored at (verification reports it as invalid) rather than stopping the export."""
    try:
        return checkpoint_line(parse_json(body))
    except LedgerInvalidInput:
        return canonical_text({"checkpoint": body, "record": "checkpoint", "seq": seq})


def _write(backend: SqlBackend, out, after_seq, digest, signer=None, previous=None, through_seq=None, window=None):
    """Write the export of what the store holds, as it is: a damaged ledger exports its damage."""

    def emit(line: str) -> None:
        data = (line + "\n").encode("utf-8")
        digest.update(data)
        out.write(data)

    meta = backend.meta()
    head_seq, head_hash = backend.head()
    last = backend.last_entry()
    if through_seq is not None and last is not None and through_seq < last.seq:
        last = backend.entry(through_seq)  # an export of a range ends on that event, not at the head
        if last is None:
            raise LedgerInvalidInput(
                f"cannot export through seq {through_seq}: ledger {backend.target} has no such event"
            )
    # A pruned ledger's live chain starts after its signed start; what came before is in the archives.
    start_seq, start_hash = backend.start()
    last_seq, last_hash = (last.seq, last.hash) if last else (start_seq, start_hash)
    link = None
    if previous is not None:
        link = _previous_link(backend, previous, meta.get("ledger_id"), (start_seq, start_hash))
    if link is not None:
        if after_seq is not None and after_seq != link["last_seq"]:
            raise LedgerInvalidInput(
                f"after_seq {after_seq} does not continue the previous export, which ends at seq {link['last_seq']}"
            )
        after_seq = link["last_seq"]
    if after_seq and after_seq < start_seq:
        raise LedgerInvalidInput(
            f"cannot export after seq {after_seq}: ledger {backend.target} was pruned through seq {start_seq} "
            "(those events are in its archives)"
        )
    after_seq = after_seq or start_seq
    if after_seq > last_seq:
        raise LedgerInvalidInput(f"cannot export after seq {after_seq}: ledger {backend.target} ends at {last_seq}")
    if after_seq > start_seq:
        start = backend.entry(after_seq)
        if start is None:
            raise LedgerInvalidInput(f"cannot export after seq {after_seq}: ledger {backend.target} has no such event")
        start_hash = start.hash
    checkpoints: dict = {}
    for seq, body, *_columns in backend.checkpoint_rows():
        if after_seq < seq <= last_seq:
            checkpoints.setdefault(seq, []).append(body)
    first = backend.entry(after_seq + 1) if last_seq > after_seq else None
    header = {
        "record": "header",
        "format": EXPORT_FORMAT,
        "ledger_id": meta.get("ledger_id"),
        "backend": backend.kind,
        "exported_at": utc_now(),
        "checkpoint_interval": int(meta.get("checkpoint_interval", "0")),
        "hash_alg": HASH_ALG,
        "canonicalization": "RFC 8785",
        "start": {"seq": after_seq, "hash": start_hash},
        "last": {"seq": last_seq, "hash": last_hash},
        "head": {"seq": head_seq, "hash": head_hash},
        "range": {
            "first_seq": after_seq + 1 if first is not None else None,
            "last_seq": last_seq if first is not None else None,
            "first_time": _event_time(first) if first is not None else None,
            "last_time": _event_time(last) if first is not None else None,
        },
        "sequence": (link["sequence"] or 0) + 1 if link is not None else 1,
        "previous": link,
    }
    if window is not None:  # the time range asked for (the events are the contiguous chain that covers it)
        header["window"] = {"start_time": window.get("start_time"), "end_time": window.get("end_time")}
    if signer is not None:
        header["signature"] = sign_object(signer, header)
    emit(canonical_text(header))
    events = cps = 0
    for entry in backend.entries(after_seq, last_seq - after_seq):
        emit(event_line(entry.seq, entry.prev_hash, entry.hash, entry.body))
        events += 1
        for body in checkpoints.pop(entry.seq, ()):
            emit(_stored_checkpoint_line(entry.seq, body))
            cps += 1
    for seq in sorted(checkpoints):
        for body in checkpoints[seq]:  # checkpoints whose event is not there: keep them, verify will tell
            emit(_stored_checkpoint_line(seq, body))
            cps += 1
    return {
        "events": events,
        "checkpoints": cps,
        "first_seq": after_seq + 1 if events else None,
        "last_seq": last_seq,
        "last_hash": last_hash,
        "ledger_id": meta.get("ledger_id"),
        "sequence": header["sequence"],
        "signed_by": header["signature"]["key_id"] if "signature" in header else None,
        "header_digest": header_digest(header),
    }


def export_jsonl(
    backend: SqlBackend,
    dest,
    *,
    after_seq: int | None = None,
    key=None,
    previous=None,
    through_seq: int | None = None,
    window=None,
) -> dict:
    """Export events with seq > after_seq (and their checkpoints) to ``dest``: a path or a binary file.

    key: the signing key; with it the header is signed. previous: the previous export (a path or its
    header) this one continues - after_seq defaults to where it ended, and the header links to it.
    A path is written atomically (temporary file, fsync, rename) with mode 0600 in a directory created 0700.
    Returns a summary with the file's SHA-256, which an auditor can record beside it.
    """
    if after_seq is not None and (isinstance(after_seq, bool) or not isinstance(after_seq, int) or after_seq < 0):
        raise LedgerInvalidInput(f"after_seq must be an integer >= 0, got {after_seq!r}")
    if through_seq is not None and (
        isinstance(through_seq, bool) or not isinstance(through_seq, int) or through_seq < 1
    ):
        raise LedgerInvalidInput(f"through_seq must be an integer >= 1, got {through_seq!r}")
    signer = load_key(key) if key is not None else None
    if signer is not None and not signer.can_sign:
        raise LedgerKeyError(f"key {signer.key_id} can only verify; signing an export header needs the signing key")
    digest = hashlib.sha256()
    if not isinstance(dest, (str, os.PathLike)):
        with backend.read():
            summary = _write(backend, dest, after_seq, digest, signer, previous, through_seq, window)
        return {**summary, "sha256": digest.hexdigest(), "path": None}
    path = os.path.abspath(os.path.expanduser(os.fspath(dest)))
    directory = os.path.dirname(path)
    try:
        if not os.path.isdir(directory):
            os.makedirs(directory, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=".ledger-export-", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise LedgerUnavailable(f"cannot write export {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb", buffering=1 << 20) as out:
            with backend.read():
                summary = _write(backend, out, after_seq, digest, signer, previous, through_seq, window)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise LedgerUnavailable(f"cannot write export {path}: {exc.strerror}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return {**summary, "sha256": digest.hexdigest(), "path": path}
