# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The hash chain: entry n's hash is SHA-256 over the canonical JSON of {seq, prev_hash, event}.

Because canonical JSON sorts member names ("event" < "prev_hash" < "seq"), the hashed bytes are

    {"event":<canonical event>,"prev_hash":"<64 hex>","seq":<n>}

so the stored canonical event text can be hashed as it is, without parsing it again.
"""

from __future__ import annotations

import hashlib
import re

from .canonical import canonical_text

HASH_ALG = "sha256"
GENESIS_HASH = "0" * 64
_HEX64 = re.compile(r"\A[0-9a-f]{64}\Z")


def is_hash(value) -> bool:
    return isinstance(value, str) and bool(_HEX64.match(value))


def hash_prefix(prev_hash: str, event_text: str):
    """A SHA-256 state over everything but the seq (lets a verifier try several seqs cheaply)."""
    return hashlib.sha256(('{"event":' + event_text + ',"prev_hash":"' + prev_hash + '","seq":').encode("utf-8"))


def finish(prefix, seq: int) -> str:
    h = prefix.copy()
    h.update(b"%d}" % seq)
    return h.hexdigest()


def entry_hash(seq: int, prev_hash: str, event_text: str) -> str:
    """Hash of the entry at ``seq`` whose canonical event text is ``event_text``."""
    return hashlib.sha256(
        ('{"event":' + event_text + ',"prev_hash":"' + prev_hash + '","seq":' + str(seq) + "}").encode("utf-8")
    ).hexdigest()


def entry_hash_of(seq: int, prev_hash: str, event) -> str:
    """Same as entry_hash, from the event object (the definition the shortcut must agree with)."""
    return hashlib.sha256(
        canonical_text({"seq": seq, "prev_hash": prev_hash, "event": event}).encode("utf-8")
    ).hexdigest()
