# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Verification of a ledger (SQLite, PostgreSQL) or of a JSONL export, like CloudTrail's validate-logs.

The result says ``valid`` or lists each problem as {kind, seq, detail}. How each kind is decided:

Every stored entry is checked against its own hash. An entry whose hash matches for *some* seq is
authentic content; its true position ("chain seq") is the seq its hash was computed with, found from
its claimed seq, from the entry its prev_hash points to, or by a bounded search. Then:

- ``modified``: content no longer matches its hash (the hash still links into the chain), or an entry was
  rewritten with a fresh hash (its successor still links to the old one), or a signed checkpoint / the
  anchor / the head row disagree with the hash the ledger now has at that seq;
- ``deleted``: chain positions with no entry while later positions exist (reported once per range);
- ``inserted``: an entry that is not part of the chain - the chain skips it, it duplicates a position
  that another entry holds in the chain, or it lies beyond the head the store recorded;
- ``reordered``: authentic entries stored out of chain order (the fewest entries that explain it);
- ``truncated``: a valid checkpoint, the anchor or the head row shows the chain went further;
- ``gap``: seq numbers skip while the chain itself is unbroken (entries renumbered, nothing lost);
- ``checkpoint_missing``: no checkpoint at a multiple of the checkpoint interval, or the anchor's
  checkpoint is not in the ledger;
- ``checkpoint_invalid``: a checkpoint that is malformed, signed with an unknown key, outside its key's
  validity range, with a key the ledger had rotated out (or not yet in), or whose signature does not
  verify (never trusted for anything else);
- ``column_modified``: a stored column a query uses (a row's event_id, type, subject, event_time,
  is_record; a checkpoint row's hash or time; the metadata's checkpoint interval) disagrees with the hashed
  event or the signed checkpoint it copies;
- ``header_invalid``: a JSONL export's signed header whose signature does not verify (unknown key, outside
  its validity range, or the header was edited);
- ``rotation_invalid``: a key rotation event whose endorsement by the previous key or acceptance by the
  new key does not verify, or whose previous key is not the key the ledger had;
- ``prune_invalid``: a pruned ledger (its live chain starts after seq S) without a valid signed checkpoint of
  the hash it starts from at S, or whose latest prune event does not record that start.

An untampered ledger is checked in one streaming pass; the detailed analysis only runs when that pass
finds something wrong.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import os
from collections import deque
from collections.abc import Mapping
from typing import NamedTuple

# Reserved control events: only Ledger.rotate_key / Ledger.prune write them.
from ansible_collections.changeward.hybrid.plugins.plugin_utils.control_events import KEY_ROTATED, LEDGER_PRUNED

from .canonical import canonical_text, parse_json
from .chain import GENESIS_HASH, entry_hash, finish, hash_prefix, is_hash
from .checkpoint import check_signature, load_key, load_keys, rotation_statement, verify_checkpoint
from .errors import (
    LedgerConfigError,
    LedgerCorrupt,
    LedgerEmpty,
    LedgerError,
    LedgerInvalidInput,
    LedgerKeyError,
    LedgerUnavailable,
)
from .model import ROW_COLUMNS, row_columns

KINDS = (
    "modified",
    "deleted",
    "inserted",
    "reordered",
    "truncated",
    "checkpoint_missing",
    "checkpoint_invalid",
    "gap",
    "column_modified",
    "rotation_invalid",
    "header_invalid",
    "prune_invalid",
)
SEARCH_WINDOW = 16
SEARCH_BUDGET = 3_000_000  # hash attempts spent looking for the true seq of renumbered entries
CONTENT_KINDS = ("modified", "deleted", "inserted", "reordered")


class Row(NamedTuple):
    claimed: object  # the seq the store says (int, or None when unreadable)
    prev: object
    hash: object
    text: object  # canonical event text, None when unreadable
    where: str
    cols: object = None  # the stored query columns (ROW_COLUMNS order) of a database row; None in an export


class Info(NamedTuple):
    kind: str
    name: str
    ledger_id: object
    interval: object
    head: object  # (seq, hash) the store says it ends at, or None
    start: tuple  # (seq, hash) before the first entry


class DbSource:
    """A SQLite or PostgreSQL ledger (through its backend)."""

    def __init__(self, backend):
        self.backend = backend
        self._suspects = None

    def snapshot(self):
        return self.backend.read()

    def info(self) -> Info:
        meta = self.backend.meta()
        try:
            head = self.backend.head()
        except LedgerCorrupt:
            head = None
        try:
            start = self.backend.start()  # a pruned ledger starts after the seq it was pruned through
        except LedgerCorrupt:
            start = (0, GENESIS_HASH)  # the pass then reports the missing events
        interval = meta.get("checkpoint_interval")
        return Info(
            self.backend.kind,
            self.backend.target,
            meta.get("ledger_id"),
            int(interval) if interval and interval.isdigit() else None,
            head,
            start,
        )

    def checkpoints(self):
        for seq, body, hash_col, time_col in self.backend.checkpoint_rows():
            try:
                yield seq, parse_json(body), None, (hash_col, time_col)
            except LedgerInvalidInput as exc:
                yield seq, None, str(exc), None

    def rows(self):
        # Once the database has named the rows whose columns differ, the pass reads only what is hashed.
        light = self._suspects is not None
        for e in self.backend.entries(columns=not light):
            yield Row(e.seq, e.prev_hash, e.hash, e.body, f"row seq {e.seq}", None if light else e.columns())

    def columns_at(self, seq: int):
        """The stored query columns of the row stored at ``seq`` (a suspect the pass read without them)."""
        entry = self.backend.entry(seq)
        return entry.columns() if entry is not None else None

    def column_suspects(self):
        """Seqs of rows whose columns the database finds different from their body; None: check every row."""
        try:
            with self.backend.tolerant():
                self._suspects = self.backend.column_suspects()
        except LedgerCorrupt:  # a body the database cannot read as JSON: every row is checked in Python
            self._suspects = None
        return self._suspects

    def rotations(self, event_type: str = KEY_ROTATED) -> list:
        """(seq, event) of the key rotation events (or of another control type), as stored (their rows are
        verified by the pass)."""
        try:
            with self.backend.tolerant():
                found = list(self.backend.select_entries(types=(event_type,)))
        except LedgerCorrupt:  # a body the type expression cannot read: look at every row instead
            marker = f'"type":"{event_type}"'
            found = [e for e in self.backend.entries() if isinstance(e.body, str) and marker in e.body]
        out = []
        for e in found:
            with contextlib.suppress(ValueError):
                out.append((e.seq, json.loads(e.body)))
        return out


class JsonlSource:
    """A JSONL export (see export.py); read twice, never loaded whole."""

    def __init__(self, path: str):
        self.path = os.path.abspath(os.path.expanduser(path))
        if not os.path.isfile(self.path):
            raise LedgerUnavailable(f"JSONL export {self.path} does not exist")
        self._scanned = None

    def snapshot(self):
        return contextlib.nullcontext()

    def _lines(self):
        try:
            with open(self.path, encoding="utf-8", errors="surrogateescape") as fh:
                yield from enumerate(fh, 1)
        except OSError as exc:
            raise LedgerUnavailable(f"cannot read JSONL export {self.path}: {exc.strerror}") from None

    def _scan(self):
        if self._scanned is None:
            headers, cps = [], []
            for n, line in self._lines():
                if line.startswith('{"event":') or not line.strip():
                    continue
                try:
                    obj = parse_json(line)
                except LedgerInvalidInput:
                    continue  # reported by rows()
                if not isinstance(obj, dict):
                    continue
                if obj.get("record") == "header":
                    headers.append(obj)
                elif obj.get("record") == "checkpoint":
                    cp = obj.get("checkpoint")
                    if isinstance(cp, dict):
                        cps.append((None, cp, None, None))
                    else:
                        cps.append((_int(obj.get("seq")), None, f"line {n} holds no checkpoint object", None))
            self._scanned = (headers, cps)
        return self._scanned

    def column_suspects(self):
        return set()  # an export has no columns besides the event

    def columns_at(self, seq: int):
        return None

    def rotations(self) -> list:
        out = []
        for _n, line in self._lines():
            if line.startswith('{"event":') and f'"type":"{KEY_ROTATED}"' in line:
                with contextlib.suppress(LedgerInvalidInput):
                    obj = parse_json(line)
                    if isinstance(obj.get("event"), dict) and _int(obj.get("seq")) is not None:
                        out.append((obj["seq"], obj["event"]))
        return out

    def info(self) -> Info:
        headers = self._scan()[0]
        first = headers[0] if headers else {}
        start = (0, GENESIS_HASH)
        s = first.get("start")
        if isinstance(s, dict) and _int(s.get("seq")) is not None and is_hash(s.get("hash")):
            start = (s["seq"], s["hash"])
        head = None
        for h in headers:
            last = h.get("last")
            if isinstance(last, dict) and _int(last.get("seq")) is not None and is_hash(last.get("hash")):
                if head is None or last["seq"] > head[0]:
                    head = (last["seq"], last["hash"])
        interval = first.get("checkpoint_interval")
        return Info(
            "JSONL",
            self.path,
            first.get("ledger_id"),
            interval if _int(interval) is not None else None,
            head,
            start,
        )

    def checkpoints(self):
        return list(self._scan()[1])

    def signed_header(self):
        """The first header when it is signed, else None."""
        headers = self._scan()[0]
        return headers[0] if headers and "signature" in headers[0] else None

    def rows(self):
        for n, line in self._lines():
            if not line.strip():
                continue
            where = f"line {n}"
            try:
                obj = parse_json(line)
            except LedgerInvalidInput:
                yield Row(None, None, None, None, where + " (not valid JSON)")
                continue
            if not isinstance(obj, dict):
                yield Row(None, None, None, None, where + " (not a JSON object)")
                continue
            record = obj.get("record")
            if record in ("header", "checkpoint"):
                continue
            claimed = obj.get("seq") if _int(obj.get("seq")) is not None else None
            text = None
            if record == "event" and isinstance(obj.get("event"), dict):
                with contextlib.suppress(LedgerInvalidInput):
                    text = canonical_text(obj["event"])
            yield Row(claimed, obj.get("prev_hash"), obj.get("hash"), text, where)


def _int(value):
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _short(h) -> str:
    return (h[:12] + "...") if isinstance(h, str) else repr(h)


def _lis_keep_earliest(values: list) -> set:
    """Indexes of a longest strictly increasing subsequence; among equally long ones, the one keeping
    the earliest-stored entries (so a swapped pair reports the entry stored too late)."""
    # Longest decreasing subsequence of the reversed list == LIS of the original, ties resolved towards
    # earlier positions because patience sorting keeps the smallest tails.
    rev = [-v for v in reversed(values)]
    tails, tail_idx, parent = [], [], [-1] * len(rev)
    for i, v in enumerate(rev):
        k = bisect.bisect_left(tails, v)
        if k == len(tails):
            tails.append(v)
            tail_idx.append(i)
        else:
            tails[k] = v
            tail_idx[k] = i
        parent[i] = tail_idx[k - 1] if k else -1
    keep = set()
    i = tail_idx[-1] if tail_idx else -1
    while i >= 0:
        keep.add(len(values) - 1 - i)
        i = parent[i]
    return keep


class _Verifier:
    def __init__(self, source, info: Info, keys: Mapping, anchor, interval):
        self.source = source
        self.info = info
        self.keys = keys
        self.anchor = anchor
        self.explicit_interval = interval
        self.problems: list = []
        self.start_seq, self.start_hash = info.start
        self.valid_cps: dict = {}
        self.cp_seqs: set = set()
        self.head = info.head
        self.rotation_keys: list = []  # (seq of the rotation, key before, key after), in seq order
        self.suspects = None  # seqs whose columns to check (None: every row)

    def place_head(self, hashes: dict) -> None:
        """Where the head row's hash sits in the chain is where the head really is: a head row whose seq
        was edited (to hide renumbering) still names the hash of the event it was written after."""
        if self.head is not None:
            for s, h in hashes.items():
                if h == self.head[1]:
                    self.head = (s, h)
                    return

    def problem(self, kind: str, seq, detail: str) -> None:
        self.problems.append({"kind": kind, "seq": seq, "detail": detail})

    # -- checkpoints and anchor ----------------------------------------------------------------------
    # -- key rotations ---------------------------------------------------------------------------------
    def check_rotations(self, rotations) -> None:
        """Which key the ledger had at each seq, from its key rotation events; report a rotation that the
        previous key did not endorse, the new key did not accept, or that does not follow the one before."""
        before = None
        for seq, event in sorted(rotations, key=lambda r: r[0]):
            data = event.get("data") if isinstance(event, Mapping) else None
            if not isinstance(data, Mapping) or not all(
                isinstance(data.get(f), str) for f in ("previous_key_id", "key_id", "ledger_id")
            ):
                self.problem("rotation_invalid", seq, f"key rotation at seq {seq} is malformed")
                continue
            why = None
            if self.info.ledger_id and data["ledger_id"] != self.info.ledger_id:
                why = f"it rotates the key of ledger {data['ledger_id']}, not of this ledger {self.info.ledger_id}"
            elif before is not None and data["previous_key_id"] != before:
                why = f"it rotates from key {data['previous_key_id']}, but the ledger's key was {before}"
            else:
                why = self._why_rotation_unsigned(data, event.get("time"))
            if why:
                self.problem("rotation_invalid", seq, f"key rotation at seq {seq}: {why}")
            self.rotation_keys.append((seq, data["previous_key_id"], data["key_id"]))
            before = data["key_id"]

    def _why_rotation_unsigned(self, data: Mapping, when) -> str | None:
        message = canonical_text(rotation_statement(data)).encode("utf-8")
        endorsement, acceptance = data.get("endorsement"), data.get("acceptance")
        if not isinstance(endorsement, Mapping) or endorsement.get("key_id") != data["previous_key_id"]:
            return f"it is not endorsed by the previous key {data['previous_key_id']}"
        why = check_signature(message, endorsement, self.keys, when=when)
        if why:
            return f"endorsement by the previous key: {why}"
        ring = dict(self.keys)
        if isinstance(data.get("public_key"), str):  # an Ed25519 key publishes itself: its proof verifies anywhere
            try:
                new = load_key(data["public_key"])
            except LedgerConfigError as exc:
                return f"its public key cannot be loaded: {exc}"
            if new.key_id != data["key_id"]:
                return f"its public key is key {new.key_id}, not {data['key_id']}"
            ring.setdefault(new.key_id, new)
        if not isinstance(acceptance, Mapping) or acceptance.get("key_id") != data["key_id"]:
            return f"it is not accepted by the new key {data['key_id']}"
        why = check_signature(message, acceptance, ring)
        return f"acceptance by the new key: {why}" if why else None

    def key_expected_at(self, seq: int):
        """(key id, rotation seq) the ledger signed with at ``seq``; (None, None) when it never rotated.

        The rotation event is sealed by the key it retires, so a checkpoint at the rotation's own seq is
        the previous key's; every later one is the new key's.
        """
        for r, previous, _new in self.rotation_keys:
            if seq <= r:
                return previous, r
        if self.rotation_keys:
            return self.rotation_keys[-1][2], self.rotation_keys[-1][0]
        return None, None

    # -- stored columns -----------------------------------------------------------------------------------
    def column_mismatch(self, row: Row) -> str | None:
        """What a database row's query columns get wrong about its hashed event, or None."""
        if row.text is None:
            return None
        cols = row.cols
        if self.suspects is not None:
            if row.claimed not in self.suspects:
                return None
            if cols is None:
                cols = self.source.columns_at(row.claimed)
        if cols is None:
            return None
        try:
            event = json.loads(row.text)
        except ValueError:
            return None  # the content check reports it
        wrong = [
            f"{name} holds {have!r}, the hashed event says {want!r}"
            for name, have, want in zip(ROW_COLUMNS, cols, row_columns(event), strict=True)
            if have != want
        ]
        return f"{row.where}: " + "; ".join(wrong) if wrong else None

    def check_checkpoints(self, entries) -> None:
        for col_seq, cp, err, cols in entries:
            seq = _int(cp.get("seq")) if isinstance(cp, dict) else None
            seq = seq if seq is not None else col_seq
            if seq is not None:
                self.cp_seqs.add(seq)
            if cp is None:
                self.problem("checkpoint_invalid", seq, f"stored checkpoint is unreadable: {err}")
                continue
            if col_seq is not None and cp.get("seq") != col_seq:
                self.problem(
                    "checkpoint_invalid", col_seq, f"checkpoint stored at seq {col_seq} says seq {cp.get('seq')!r}"
                )
                continue
            why = self._why_invalid(cp)
            if why:
                self.problem("checkpoint_invalid", seq, f"checkpoint at seq {seq}: {why}")
                continue
            if cols is not None and (cols[0] != cp["hash"] or cols[1] != cp["time"]):
                self.problem(
                    "column_modified",
                    seq,
                    f"checkpoint row seq {seq}: its hash/cp_time columns ({_short(cols[0])}, {cols[1]!r}) disagree "
                    f"with the signed checkpoint ({_short(cp['hash'])}, {cp['time']!r})",
                )
            if seq in self.valid_cps and self.valid_cps[seq]["hash"] != cp["hash"]:
                self.problem("checkpoint_invalid", seq, f"two validly signed checkpoints at seq {seq} disagree")
            else:
                self.valid_cps.setdefault(seq, cp)

    def _why_invalid(self, cp) -> str | None:
        why = verify_checkpoint(cp, self.keys)
        if why is None and self.info.ledger_id and cp["ledger_id"] != self.info.ledger_id:
            why = f"it belongs to ledger {cp['ledger_id']}, not to this ledger {self.info.ledger_id}"
        if why is None:
            expected, rotated = self.key_expected_at(cp["seq"])
            if expected is not None and cp["key_id"] != expected:
                why = (
                    f"signed with key {cp['key_id']}, but at seq {cp['seq']} the ledger's key is {expected} "
                    f"(key rotation at seq {rotated})"
                )
        return why

    def check_start(self, prunes) -> None:
        """A pruned ledger's live chain starts after seq S with the hash at S: a valid signed checkpoint kept at S
        must vouch for that hash, and the chain's latest prune event must record it (else someone cut the front
        of the chain and wrote the start into the unsigned metadata)."""
        if self.info.kind == "JSONL" or not self.start_seq:
            return
        s, h = self.start_seq, self.start_hash
        cp = self.valid_cps.get(s)
        if cp is None or cp.get("hash") != h:
            self.problem(
                "prune_invalid",
                s,
                f"the live chain starts after seq {s} (pruned) with hash {_short(h)}, but no valid signed checkpoint "
                "at that seq vouches for it",
            )
        latest = max(prunes, key=lambda p: p[0], default=None)
        data = latest[1].get("data") if latest is not None and isinstance(latest[1], Mapping) else None
        if not isinstance(data, Mapping) or data.get("through_seq") != s or data.get("through_hash") != h:
            self.problem(
                "prune_invalid",
                s,
                f"the live chain starts after seq {s}, but "
                + (
                    "no io.changeward.ledger.pruned event records a prune"
                    if latest is None
                    else f"the latest prune event (seq {latest[0]}) records another start"
                )
                + " - events were removed outside the retention control",
            )

    def check_anchor(self) -> None:
        if self.anchor is None:
            return
        seq = _int(self.anchor.get("seq")) if isinstance(self.anchor, Mapping) else None
        why = self._why_invalid(self.anchor)
        if why:
            self.problem("checkpoint_invalid", seq, f"anchor: {why}")
            self.anchor = None

    def interval(self) -> int:
        if self.explicit_interval is not None:
            return self.explicit_interval
        if self.valid_cps:  # the signed value beats the unsigned one in the store's metadata
            return self.valid_cps[max(self.valid_cps)]["interval"]
        return self.info.interval or 0

    def trusted_hashes(self) -> dict:
        """seq -> hash that a valid signature vouches for."""
        out = {s: cp["hash"] for s, cp in self.valid_cps.items()}
        if self.anchor is not None:
            out.setdefault(self.anchor["seq"], self.anchor["hash"])
        return out

    def evidence(self) -> list:
        """(seq, who) for everything outside the event rows that says how far the chain went."""
        out = []
        if self.valid_cps:
            s = max(self.valid_cps)
            out.append((s, f"the signed checkpoint at seq {s}"))
        if self.anchor is not None:
            out.append((self.anchor["seq"], f"the anchor at seq {self.anchor['seq']}"))
        if self.head is not None:
            label = "export header" if self.info.kind == "JSONL" else "head row"
            out.append((self.head[0], f"the {label} (seq {self.head[0]})"))
        return out

    def evidence_end(self) -> int:
        return max([self.start_seq] + [seq for seq, _who in self.evidence()])

    # -- the streaming pass -------------------------------------------------------------------------------
    def fast_pass(self):
        """(ok, rows seen, {seq: hash} for the seqs checkpoints/anchor/head refer to, last seq)."""
        needed = set(self.trusted_hashes())
        if self.head is not None:
            needed.add(self.head[0])
        expected, prev, n, hashes, columns = self.start_seq + 1, self.start_hash, 0, {}, []
        for row in self.source.rows():
            n += 1
            if (
                row.text is None
                or row.claimed != expected
                or row.prev != prev
                or not is_hash(row.hash)
                or entry_hash(expected, prev, row.text) != row.hash
            ):
                return False, n, None, None
            if self.suspects is None or expected in self.suspects:
                wrong = self.column_mismatch(row)
                if wrong:
                    columns.append((expected, wrong))
            if expected in needed:
                hashes[expected] = row.hash
            prev = row.hash
            expected += 1
        for seq, detail in columns:  # kept only when the pass completes (analyse() checks every row again)
            self.problem("column_modified", seq, detail)
        return True, n, hashes, expected - 1

    # -- the analysis pass ---------------------------------------------------------------------------------
    def analyse(self):
        """Place every entry in the chain and classify what does not fit. Returns (n, hash_at, last)."""
        rows = list(self.source.rows())
        m, start, start_hash = len(rows), self.start_seq, self.start_hash
        orig: list = [None] * m
        prefixes: list = [None] * m
        by_hash: dict = {}
        by_prev: dict = {}
        for i, r in enumerate(rows):
            if is_hash(r.hash):
                by_hash.setdefault(r.hash, i)
            if is_hash(r.prev):
                by_prev.setdefault(r.prev, []).append(i)
            if r.text is None or not is_hash(r.prev) or not is_hash(r.hash):
                continue
            if _int(r.claimed) and r.claimed > start and entry_hash(r.claimed, r.prev, r.text) == r.hash:
                orig[i] = r.claimed
            else:
                prefixes[i] = hash_prefix(r.prev, r.text)

        queue: deque = deque(i for i in range(m) if orig[i] is not None)

        def resolve(i: int, s: int) -> bool:
            if orig[i] is None and prefixes[i] is not None and s > start and finish(prefixes[i], s) == rows[i].hash:
                orig[i] = s
                queue.append(i)
                return True
            return False

        def drain() -> None:
            while queue:
                j = queue.popleft()
                for i in by_prev.get(rows[j].hash, ()):
                    resolve(i, orig[j] + 1)

        for i in by_prev.get(start_hash, ()):
            resolve(i, start + 1)
        drain()
        for i in range(m):  # renumbered by a little (e.g. after a deletion): look near the claimed seq
            if orig[i] is None and prefixes[i] is not None and _int(rows[i].claimed) is not None:
                for d in range(1, SEARCH_WINDOW + 1):
                    if resolve(i, rows[i].claimed + d) or resolve(i, rows[i].claimed - d):
                        drain()
                        break
        end = self.evidence_end()
        claimed_max = max((r.claimed for r in rows if _int(r.claimed) is not None), default=0)
        hi = max(start + m, claimed_max, end) + SEARCH_WINDOW
        budget = SEARCH_BUDGET
        for i in range(m):
            if orig[i] is None and prefixes[i] is not None and budget > 0:
                for s in range(start + 1, hi + 1):
                    budget -= 1
                    if resolve(i, s):
                        drain()
                        break
                    if budget <= 0:
                        break

        trusted = self.trusted_hashes()
        genuine: dict = {}
        inserted: set = set()
        by_pos: dict = {}
        for i in range(m):
            if orig[i] is not None:
                by_pos.setdefault(orig[i], []).append(i)
        for s in sorted(by_pos):
            idxs = by_pos[s]
            if len(idxs) > 1:
                cands = [i for i in idxs if any(orig[k] == s + 1 for k in by_prev.get(rows[i].hash, ()))]
                cands = cands or [i for i in idxs if trusted.get(s) == rows[i].hash]
                if not cands:
                    want = start_hash if s - 1 == start else rows[genuine[s - 1]].hash if s - 1 in genuine else None
                    cands = [i for i in idxs if rows[i].prev == want]
                keep = (cands or idxs)[0]
            else:
                keep = idxs[0]
            genuine[s] = keep
            for i in idxs:
                if i == keep:
                    continue
                inserted.add(i)
                same = rows[i].hash == rows[keep].hash
                self.problem(
                    "inserted",
                    rows[i].claimed if _int(rows[i].claimed) is not None else s,
                    f"{rows[i].where}: "
                    + (
                        f"a second copy of event {s}"
                        if same
                        else f"an entry hashed as seq {s} that the chain leaves out ({rows[keep].where} is event {s})"
                    ),
                )

        # Links between authentic neighbours in the chain.
        for s in sorted(genuine):
            i = genuine[s]
            if s - 1 == start:
                if rows[i].prev != start_hash:
                    self.problem("modified", s, f"{rows[i].where}: event {s} was rewritten (its prev_hash was changed)")
            elif s - 1 in genuine and rows[i].prev != rows[genuine[s - 1]].hash:
                self.problem(
                    "modified",
                    s - 1,
                    f"{rows[genuine[s - 1]].where}: event {s - 1} was rewritten with a new hash; event {s} still links "
                    f"to {_short(rows[i].prev)}",
                )

        # Entries whose content does not match any hash: place them if the chain says where they belong.
        assigned: dict = {}

        def taken(s) -> bool:
            return s in genuine or s in assigned

        def chain_pos(k):
            return orig[k] if 0 <= k < m and orig[k] is not None and k not in inserted else None

        known_end = max(genuine, default=start)
        known_end = max(known_end, end)
        for i in range(m):
            if orig[i] is not None:
                continue
            r = rows[i]
            spot = None
            if is_hash(r.hash):  # (a) a successor still links to this entry's hash
                for k in by_prev.get(r.hash, ()):
                    s = chain_pos(k)
                    if s is not None and s - 1 > start and not taken(s - 1):
                        spot = s - 1
                        break
            if spot is None and _int(r.claimed) and r.claimed > start and not taken(r.claimed):  # (b) links back
                p = r.claimed - 1
                want = start_hash if p == start else rows[genuine[p]].hash if p in genuine else None
                if want is not None and r.prev == want:
                    spot = r.claimed
            before = start if i == 0 else chain_pos(i - 1)
            after = chain_pos(i + 1)
            if (
                spot is None and before is not None and after == before + 2 and not taken(before + 1)
            ):  # (c) fills a hole
                spot = before + 1
            if spot is None:
                skipped = (
                    0 < i < m - 1
                    and is_hash(rows[i - 1].hash)
                    and rows[i + 1].prev == rows[i - 1].hash
                    and chain_pos(i - 1) is not None
                )
                if not skipped and _int(r.claimed) and start < r.claimed <= known_end:
                    if not taken(r.claimed):
                        spot = r.claimed
            if spot is not None:
                assigned[spot] = i
                self.problem("modified", spot, f"{r.where}: event {spot} does not match its hash (content changed)")
            else:
                inserted.add(i)
                where = r.claimed if _int(r.claimed) is not None else (before + 1 if before is not None else None)
                self.problem("inserted", where, f"{r.where}: an entry that is not part of the chain")

        placed = {**genuine, **assigned}
        last = max(placed, default=start)

        # Missing positions inside the chain.
        s = start + 1
        for p in sorted(placed):
            if p > s:
                self.problem(
                    "deleted",
                    s,
                    f"event {s} is missing" if p == s + 1 else f"events {s}..{p - 1} ({p - s}) are missing",
                )
            s = p + 1

        # Order: the fewest entries that, taken out, leave the rest in chain order.
        spot_of = {i: s for s, i in assigned.items()}
        order = [(i, orig[i] if orig[i] is not None else spot_of[i]) for i in range(m) if i not in inserted]
        keep = _lis_keep_earliest([seq for _row, seq in order])
        for n, (i, s) in enumerate(order):
            if n not in keep:
                prev_s = order[n - 1][1] if n else None
                self.problem(
                    "reordered",
                    s,
                    f"{rows[i].where}: event {s} is stored out of order"
                    + (f" (after event {prev_s})" if prev_s is not None else " (first)"),
                )

        # Numbering: seq numbers that jump while the chain is intact, between neighbours in storage that are
        # both authentic, in order and consecutive in the chain.
        in_order = {order[n][0] for n in keep}
        genuine_rows = set(genuine.values())
        qual = [i in in_order and i in genuine_rows and _int(rows[i].claimed) is not None for i in range(m)]
        steps = []  # (chain seq before, claimed seq before, row index)
        for i in range(m):
            if not qual[i]:
                continue
            if i == 0:
                if orig[i] == start + 1:
                    steps.append((start, start, i))
            elif qual[i - 1] and orig[i] == orig[i - 1] + 1:
                steps.append((orig[i - 1], rows[i - 1].claimed, i))
        skip = set()
        for n, (pp, pc, i) in enumerate(steps):
            if i in skip or rows[i].claimed - orig[i] == pc - pp:
                continue
            cb = rows[i].claimed
            nxt = steps[n + 1] if n + 1 < len(steps) and steps[n + 1][2] == i + 1 else None
            if nxt is not None and rows[i + 1].claimed - orig[i + 1] == pc - pp:
                self.problem("modified", orig[i], f"{rows[i].where}: the seq of event {orig[i]} was changed to {cb}")
                skip.add(i + 1)
            elif cb > pc + 1:
                self.problem(
                    "gap",
                    pc + 1,
                    f"seq numbers {pc + 1}..{cb - 1} are skipped while the hash chain is unbroken "
                    f"(events renumbered from {rows[i].where}; none missing)",
                )
            else:
                self.problem(
                    "gap", cb, f"{rows[i].where}: seq {cb} repeats or goes backwards while the chain is unbroken"
                )

        # Query columns of the authentic rows (a row whose content changed is reported as such already).
        for i in range(m):
            if orig[i] is not None and i not in inserted:
                wrong = self.column_mismatch(rows[i])
                if wrong:
                    self.problem("column_modified", orig[i], wrong)

        hashes = {s: rows[i].hash for s, i in placed.items() if is_hash(rows[i].hash)}
        return m, hashes, last

    # -- checks against checkpoints, anchor and head -------------------------------------------------------
    def _content_problem_in(self, lo: int, hi: int) -> bool:
        return any(p["kind"] in CONTENT_KINDS and p["seq"] is not None and lo <= p["seq"] <= hi for p in self.problems)

    def final_checks(self, hash_at: dict, last: int) -> None:
        beyond = [(s, who) for s, who in self.evidence() if s > last]
        if beyond:
            end = max(seq for seq, _who in beyond)
            self.problem(
                "truncated",
                last + 1,
                f"events {last + 1}..{end} are missing from the end: "
                + ", ".join(f"{who} shows seq {s} existed" for s, who in beyond),
            )
        # Checkpoints (and the anchor) against the hashes the ledger has now.
        good = self.start_seq
        mismatch_reported = False
        for s, h in sorted(self.trusted_hashes().items()):
            if s > last or s <= self.start_seq:
                continue
            have = hash_at.get(s)
            if have is None:
                continue
            if have == h:
                good, mismatch_reported = s, False
                continue
            if not mismatch_reported and not self._content_problem_in(good + 1, s):
                src = "the anchor" if s not in self.valid_cps else "the signed checkpoint"
                self.problem(
                    "modified",
                    s,
                    f"{src} at seq {s} vouches for hash {_short(h)}, the ledger has {_short(have)}: events "
                    f"{good + 1}..{s} were rewritten and re-hashed",
                )
            mismatch_reported = True
        interval = self.interval()
        if (
            self.info.kind != "JSONL"
            and self.valid_cps
            and self.explicit_interval is None
            and self.info.interval != interval
        ):
            self.problem(
                "column_modified",
                None,
                f"ledger_meta says checkpoint_interval {self.info.interval!r}, the signed checkpoints say {interval}",
            )
        if interval:
            first = (self.start_seq // interval + 1) * interval
            for s in range(first, last + 1, interval):
                if s not in self.cp_seqs:
                    self.problem(
                        "checkpoint_missing", s, f"no checkpoint at seq {s} (one is taken every {interval} events)"
                    )
        if (
            self.anchor is not None
            and self.start_seq < self.anchor["seq"] <= last
            and self.anchor["seq"] not in self.cp_seqs
        ):
            self.problem(
                "checkpoint_missing",
                self.anchor["seq"],
                f"the anchor's checkpoint at seq {self.anchor['seq']} is not in the ledger",
            )
        head = self.head
        if head is not None:
            hseq, hhash = head
            label = "export header" if self.info.kind == "JSONL" else "head row"
            if last > hseq:
                self.problem(
                    "inserted",
                    hseq + 1,
                    f"events {hseq + 1}..{last} lie beyond the {label} (seq {hseq}): added outside the ledger API",
                )
            elif hash_at.get(hseq) not in (None, hhash) and not self._content_problem_in(hseq, hseq):
                have = _short(hash_at.get(hseq))
                self.problem(
                    "modified", hseq, f"the {label} says event {hseq} has hash {_short(hhash)}, the ledger has {have}"
                )

    def signed_through(self, hash_at: dict) -> int:
        ok = [s for s, h in self.trusted_hashes().items() if hash_at.get(s) == h]
        return max(ok, default=0)


def verify_source(
    source,
    *,
    key=None,
    anchor=None,
    checkpoint_interval: int | None = None,
    allow_empty: bool = False,
    max_problems: int = 1000,
) -> dict:
    """Verify a DbSource or JsonlSource. Raises LedgerError when it cannot decide (no key, no data)."""
    from .api import load_anchor

    keys = key if isinstance(key, dict) else load_keys(key)
    anchor = load_anchor(anchor)
    if anchor is not None and not isinstance(anchor, Mapping):
        raise LedgerInvalidInput("the anchor must be a checkpoint object")
    if checkpoint_interval is not None and (_int(checkpoint_interval) is None):
        raise LedgerInvalidInput(f"checkpoint_interval must be an integer >= 0, got {checkpoint_interval!r}")
    with source.snapshot():
        info = source.info()
        cp_entries = list(source.checkpoints())
        signed_header = source.signed_header() if isinstance(source, JsonlSource) else None
        if (cp_entries or anchor is not None or signed_header is not None) and not keys:
            what = (
                f"{len(cp_entries)} signed checkpoint(s)"
                if cp_entries
                else "an anchor"
                if anchor is not None
                else "a signed export header"
            )
            raise LedgerKeyError(
                f"{info.name} has {what} to verify but no verification key was given "
                "(pass key or set CHANGEWARD_LEDGER_KEY); refusing to report it valid unchecked"
            )
        v = _Verifier(source, info, keys, dict(anchor) if anchor is not None else None, checkpoint_interval)
        v.suspects = source.column_suspects()
        v.check_rotations(source.rotations())
        if signed_header is not None:
            why = header_signature_problem(signed_header, keys)
            if why:
                v.problem("header_invalid", None, f"export header: {why}")
        v.check_checkpoints(cp_entries)
        v.check_start(source.rotations(LEDGER_PRUNED) if isinstance(source, DbSource) else ())
        v.check_anchor()
        ok, n, hash_at, last = v.fast_pass()
        if not ok:
            n, hash_at, last = v.analyse()
            v.place_head(hash_at)
        if n == 0 and v.evidence_end() <= v.start_seq and not allow_empty:
            raise LedgerEmpty(f"{info.name} holds no events to verify; an empty ledger is not reported as valid")
        v.final_checks(hash_at, last)
    problems = sorted(v.problems, key=lambda p: (p["seq"] if p["seq"] is not None else -1, KINDS.index(p["kind"])))
    return {
        "valid": not problems,
        "events": n,
        "problems": problems[:max_problems],
        "problems_total": len(problems),
        "checkpoints": len(v.valid_cps),
        "signed_through": v.signed_through(hash_at),
        "last_seq": last,
        "ledger_id": info.ledger_id,
        "source": info.name,
        "source_kind": info.kind,
        "checkpoint_interval": v.interval(),
    }


def header_signature_problem(header: Mapping, keys: Mapping) -> str | None:
    """None when an export header's signature verifies with a key valid when it was exported."""
    body = {k: v for k, v in header.items() if k != "signature"}
    return check_signature(
        canonical_text(body).encode("utf-8"), header.get("signature"), keys, header.get("exported_at")
    )


def detect_kind(src: str) -> str:
    """'postgresql', 'sqlite' or 'jsonl' for a verify source string."""
    from .postgres_backend import is_dsn
    from .sqlite_backend import SQLITE_MAGIC

    if is_dsn(src):
        return "postgresql"
    path = os.path.abspath(os.path.expanduser(src))
    if not os.path.exists(path):
        raise LedgerUnavailable(f"ledger {path} does not exist")
    if os.path.isdir(path):
        raise LedgerUnavailable(f"ledger {path} is a directory")
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise LedgerUnavailable(f"cannot read {path}: {exc.strerror}") from None
    if head == SQLITE_MAGIC:
        return "sqlite"
    if head.lstrip()[:1] == b"{":
        return "jsonl"
    if not head:
        raise LedgerEmpty(f"{path} is empty: nothing to verify")
    raise LedgerCorrupt(f"{path} is neither a SQLite ledger nor a JSONL export (unrecognised content)")


def verify(
    src: str,
    *,
    key=None,
    anchor=None,
    checkpoint_interval: int | None = None,
    allow_empty: bool = False,
    timeout: float | None = None,
    schema: str | None = None,
    max_problems: int = 1000,
) -> dict:
    """Verify a SQLite path, a postgresql:// DSN or a JSONL export path. Opens nothing for writing."""
    from .api import open_backend

    if not isinstance(src, str) or not src.strip():
        raise LedgerInvalidInput("src must be a SQLite path, a postgresql:// DSN or a JSONL export path")
    kind = detect_kind(src)
    opts = {"key": key, "anchor": anchor, "checkpoint_interval": checkpoint_interval, "allow_empty": allow_empty}
    if kind == "jsonl":
        return verify_source(JsonlSource(src), max_problems=max_problems, **opts)
    backend = open_backend(src, create=False, readonly=True, timeout=timeout, schema=schema)
    try:
        backend.check_schema()
        return verify_source(DbSource(backend), max_problems=max_problems, **opts)
    finally:
        backend.close()


def summary(report: Mapping) -> str:
    """One line for people and logs."""
    if report["valid"]:
        return (
            f"ledger valid: {report['events']} events, {report['checkpoints']} valid checkpoints, "
            f"signed through seq {report['signed_through']}"
        )
    kinds: dict = {}
    for p in report["problems"]:
        kinds[p["kind"]] = kinds.get(p["kind"], 0) + 1
    return (
        f"ledger INVALID: {report['problems_total']} problem(s) ("
        + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
        + f") in {report['events']} events"
    )


__all__ = ["KINDS", "DbSource", "JsonlSource", "LedgerError", "detect_kind", "summary", "verify", "verify_source"]
