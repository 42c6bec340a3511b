# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""JSONL export for auditors: verifiable without the database.

One canonical JSON object per line:

- line 1, ``{"record": "header", ...}``: ledger id, checkpoint interval, where the export starts
  (``start``: seq and hash before its first event; seq 0 and 64 zeros for a full export) and ends
  (``last``: seq and hash of its last event);
- ``{"record": "event", "seq", "prev_hash", "hash", "event"}`` for every event, in seq order;
- ``{"record": "checkpoint", "checkpoint": {...}}`` right after the event a checkpoint covers.

The header is not signed: it catches careless edits; the signed checkpoints (and an anchor held
elsewhere) are the proof.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile

from .backend import SqlBackend
from .canonical import canonical_text, parse_json
from .chain import GENESIS_HASH, HASH_ALG
from .errors import LedgerInvalidInput, LedgerUnavailable
from .model import utc_now

EXPORT_FORMAT = "changeward-ledger-export/1"


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


def _write(backend: SqlBackend, out, after_seq: int, digest) -> dict:
    """Write the export of what the store holds, as it is: a damaged ledger exports its damage."""

    def emit(line: str) -> None:
        data = (line + "\n").encode("utf-8")
        digest.update(data)
        out.write(data)

    meta = backend.meta()
    head_seq, head_hash = backend.head()
    last = backend.last_entry()
    last_seq, last_hash = (last.seq, last.hash) if last else (0, GENESIS_HASH)
    if after_seq > last_seq:
        raise LedgerInvalidInput(f"cannot export after seq {after_seq}: ledger {backend.target} ends at {last_seq}")
    start_hash = GENESIS_HASH
    if after_seq:
        start = backend.entry(after_seq)
        if start is None:
            raise LedgerInvalidInput(f"cannot export after seq {after_seq}: ledger {backend.target} has no such event")
        start_hash = start.hash
    checkpoints: dict = {}
    for seq, body, *_columns in backend.checkpoint_rows():
        if seq > after_seq:
            checkpoints.setdefault(seq, []).append(body)
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
    }
    emit(canonical_text(header))
    events = cps = 0
    for entry in backend.entries(after_seq):
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
    }


def export_jsonl(backend: SqlBackend, dest, *, after_seq: int = 0) -> dict:
    """Export events with seq > after_seq (and their checkpoints) to ``dest``: a path or a binary file.

    A path is written atomically (temporary file, fsync, rename) with mode 0600. Returns a summary with
    the file's SHA-256, which an auditor can record beside it.
    """
    if isinstance(after_seq, bool) or not isinstance(after_seq, int) or after_seq < 0:
        raise LedgerInvalidInput(f"after_seq must be an integer >= 0, got {after_seq!r}")
    digest = hashlib.sha256()
    if not isinstance(dest, (str, os.PathLike)):
        with backend.read():
            summary = _write(backend, dest, after_seq, digest)
        return {**summary, "sha256": digest.hexdigest(), "path": None}
    path = os.path.abspath(os.path.expanduser(os.fspath(dest)))
    directory = os.path.dirname(path)
    try:
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".ledger-export-", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise LedgerUnavailable(f"cannot write export {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb", buffering=1 << 20) as out:
            with backend.read():
                summary = _write(backend, out, after_seq, digest)
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
