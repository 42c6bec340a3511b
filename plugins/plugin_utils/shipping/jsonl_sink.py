# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""JSONL export sink for auditors: the ledger export format (see ledger/export.py), grown batch by batch.

Every delivered batch appends a header line (ledger id, where the file starts, the last seq and hash it now
holds) followed by one line per event and per checkpoint, written with one write() and fsynced. The
file can therefore be checked with ``changeward.hybrid.ledger_verify`` without the database.

The sink is idempotent: before appending it reads the last event and checkpoint already in the file and
skips what is there, and it cuts off a torn last line left by a crash. Re-delivery after a lost cursor
update therefore never duplicates a line.
"""

from __future__ import annotations

import json
import os
import stat

from ansible_collections.changeward.hybrid.plugins.module_utils.filemodes import loose_file

from ..ledger.canonical import canonical_text
from ..ledger.chain import HASH_ALG
from ..ledger.export import EXPORT_FORMAT, checkpoint_line, event_line
from ..ledger.model import utc_now
from .base import Option, Sink
from .errors import DeliveryError, SinkConfigError

TAIL_BLOCK = 64 * 1024
LEDGER_ID = "{ledger_id}"


def _scan_tail(path: str):
    """(last event seq, last checkpoint seq, ledger_id of the first header, size of the intact prefix)."""
    with open(path, "rb") as fh:
        size = fh.seek(0, os.SEEK_END)
        if size == 0:
            return 0, 0, None, 0
        # A torn last line (no newline) is cut off: it was never acknowledged.
        fh.seek(max(0, size - 1))
        intact = size
        if fh.read(1) != b"\n":
            pos = size
            while pos > 0:
                step = min(TAIL_BLOCK, pos)
                pos -= step
                fh.seek(pos)
                block = fh.read(step)
                nl = block.rfind(b"\n")
                if nl >= 0:
                    intact = pos + nl + 1
                    break
            else:
                intact = 0
        fh.seek(0)
        first = fh.readline() if intact else b""
        ledger_id = None
        if first.startswith(b"{"):
            try:
                head = json.loads(first)
                ledger_id = head.get("ledger_id") if head.get("record") == "header" else None
            except ValueError:
                ledger_id = None
        last_event = last_cp = None
        end = intact
        carry = b""
        while end > 0 and (last_event is None or last_cp is None):
            step = min(TAIL_BLOCK, end)
            end -= step
            fh.seek(end)
            block = fh.read(step) + carry
            lines = block.split(b"\n")
            carry = lines[0] if end > 0 else b""
            for line in reversed(lines[1:] if end > 0 else lines):
                if not line:
                    continue
                try:
                    obj = json.loads(line)
                except ValueError:
                    continue
                if obj.get("record") == "event" and last_event is None:
                    last_event = obj.get("seq")
                elif obj.get("record") == "checkpoint" and last_cp is None:
                    last_cp = (obj.get("checkpoint") or {}).get("seq")
        return int(last_event or 0), int(last_cp or 0), ledger_id, intact


class JsonlSink(Sink):
    TYPE = "jsonl"
    OPTIONS = {
        "path": Option("str"),
        "fsync": Option("bool", True),
    }

    def __init__(self, spec):
        super().__init__(spec)
        # {ledger_id} in the file name: one export per ledger, so one sink setting serves every ledger a
        # controller uses (a file holds one ledger's chain; another ledger's events are refused)
        self.template = os.path.abspath(os.path.expanduser(spec["path"]))
        if LEDGER_ID in os.path.dirname(self.template):
            raise SinkConfigError(self.name, "path", f"{LEDGER_ID} may only appear in the file name")
        self.path = self.template
        if os.path.isdir(self.path):
            raise SinkConfigError(self.name, "path", f"{self.path} is a directory")
        parent = os.path.dirname(self.path)
        if os.path.exists(parent) and not os.access(parent, os.W_OK):
            raise SinkConfigError(self.name, "path", f"directory {parent} is not writable")
        self._state = None  # [last event seq, last checkpoint seq, ledger id in file]
        self._size = None

    def bind(self, ledger_id: str, checkpoint_interval: int) -> None:
        super().bind(ledger_id, checkpoint_interval)
        path = self.template.replace(LEDGER_ID, str(ledger_id))
        if path != self.path:
            self.path, self._state, self._size = path, None, None

    def describe(self) -> str:
        return f"file://{self.path}"

    def _check_modes(self, what: str) -> None:
        """The export is created 0600 (its directory 0700 when the sink creates it); an existing file others can
        read or write, or a directory others can write into (and so replace the file), is refused."""
        problem = loose_file(self.path)
        parent = os.path.dirname(self.path)
        try:
            st = os.stat(parent)
        except OSError:
            st = None
        if problem is None and st is not None and st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX:
            problem = f"directory {parent} is writable by group or others, who could replace the export"
        if problem:
            raise DeliveryError(f"{what}: refused: {problem}", retryable=False)

    def _load_state(self, what: str):
        try:
            os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
            self._check_modes(what)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            os.close(fd)
            last_event, last_cp, ledger_id, intact = _scan_tail(self.path)
            if intact != os.path.getsize(self.path):
                os.truncate(self.path, intact)
            self._size = intact
        except OSError as exc:
            raise DeliveryError(f"{what}: cannot open {self.path}: {exc.strerror}") from None
        if ledger_id is not None and self.ledger_id is not None and ledger_id != self.ledger_id:
            raise DeliveryError(f"{what}: {self.path} holds ledger {ledger_id}, not {self.ledger_id}", retryable=False)
        return [last_event, last_cp, ledger_id]

    def lines(self, items, state) -> list:
        out = []
        events = [i for i in items if i.kind == "event" and i.seq > state[0]]
        if events:
            first = events[0].body
            out.append(
                canonical_text(
                    {
                        "record": "header",
                        "format": EXPORT_FORMAT,
                        "ledger_id": self.ledger_id,
                        "backend": "jsonl-sink",
                        "exported_at": utc_now(),
                        "checkpoint_interval": self.checkpoint_interval or 0,
                        "hash_alg": HASH_ALG,
                        "canonicalization": "RFC 8785",
                        "start": {"seq": first["seq"] - 1, "hash": first["prev_hash"]},
                        "last": {"seq": events[-1].seq, "hash": events[-1].body["hash"]},
                    }
                )
            )
        for item in items:
            if item.kind == "event" and item.seq > state[0]:
                b = item.body
                out.append(event_line(b["seq"], b["prev_hash"], b["hash"], canonical_text(b["event"])))
            elif item.kind == "checkpoint" and item.seq > state[1]:
                out.append(checkpoint_line(item.body["checkpoint"]))
        return out

    def deliver(self, items, deadline):
        what = f"sink {self.name!r} (jsonl {self.path})"
        # Another shipper may have appended since our last write (it holds the same sink lock then):
        # trust the cached state only while the file still has the size we left it at.
        try:
            size = os.path.getsize(self.path)
        except OSError:
            size = None
        if self._state is None or size != self._size:
            self._state = self._load_state(what)
        else:
            self._check_modes(what)  # the mode may have been loosened since: checked before every write
        state = self._state
        out = self.lines(items, state)
        if not out:
            return  # everything is in the file already
        data = ("\n".join(out) + "\n").encode("utf-8")
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                if self.spec["fsync"]:
                    os.fsync(fd)
                self._size = os.fstat(fd).st_size
            finally:
                os.close(fd)
        except OSError as exc:
            self._state = None  # re-read (and cut a torn line) before the next attempt
            raise DeliveryError(f"{what}: cannot write: {exc.strerror}") from None
        for item in items:
            slot = 0 if item.kind == "event" else 1
            state[slot] = max(state[slot], item.seq)
        if state[2] is None:
            state[2] = self.ledger_id
