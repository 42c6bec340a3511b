# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Resumable chunked download over HTTP(S) Range requests, verified chunk by chunk.

One request per chunk (or per the rest of a chunk after an interruption), so a link that dies wastes
at most the unreceived part of one chunk at the source. Each chunk is checked against the signed
manifest's sha256 before it is written; the part file is fsynced, then the resume state (transfer.json)
is written atomically, so after a crash, a kill or a power loss the transfer restarts from the last
verified chunk and never from zero. Unverified bytes are never trusted across processes.
"""

import contextlib
import hashlib
import http.client
import os
import re
import socket
import ssl
import time
from urllib.parse import urlsplit

from . import fsutil
from . import manifest as mf
from .errors import DeadlineExceeded, EdgeError, IntegrityError, SourceError

STATE_FILE = "transfer.json"
PART_FILE = "artifact.part"
READ_BLOCK = 64 * 1024
CONTENT_RANGE_RE = re.compile(r"\Abytes (\d+)-(\d+)/(\d+|\*)\Z")
TRANSIENT_STATUS = (408, 425, 429, 500, 502, 503, 504)

DEFAULTS = {
    "connect_timeout": 5.0,
    "read_timeout": 10.0,
    "retry_min_delay": 0.5,
    "retry_max_delay": 5.0,
    "chunk_retries": 3,
    "validate_certs": True,
    "ca_path": None,
}


def _now_text():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Transfer(object):
    """The download of one release's artifact into workdir/artifact.part."""

    def __init__(self, workdir, manifest, url, options=None, on_event=None, sleep=time.sleep, keep_going=None):
        self.workdir = workdir
        self.manifest = manifest
        self.url = url
        self.options = dict(DEFAULTS)
        self.options.update({k: v for k, v in (options or {}).items() if v is not None})
        self.on_event = on_event or (lambda kind, data: None)
        self.sleep = sleep
        # Asked before every chunk: False when the device no longer wants this release (a newer staging).
        self.keep_going = keep_going or (lambda: True)
        self.part_path = os.path.join(workdir, PART_FILE)
        self.state_path = os.path.join(workdir, STATE_FILE)
        art = manifest["artifact"]
        self.size, self.chunk_size, self.chunks = art["size"], art["chunk_size"], art["chunks"]
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SourceError("the artifact url must be http:// or https://, got %r" % safe_url(url))
        self.scheme, self.host, self.port = parts.scheme, parts.hostname, parts.port
        self.path = (parts.path or "/") + ("?" + parts.query if parts.query else "")
        self.state = None
        self.conn = None

    # -- resume state ------------------------------------------------------------------------------
    def load_state(self):
        """The persisted state for this release, or a fresh one (a different release's part file is dropped)."""
        fsutil.makedirs(self.workdir)
        state = fsutil.read_json(self.state_path)
        rid = mf.release_id(self.manifest)
        if not state or state.get("release") != rid or state.get("sha256") != self.manifest["artifact"]["sha256"]:
            state = {
                "release": rid,
                "sha256": self.manifest["artifact"]["sha256"],
                "size": self.size,
                "chunk_size": self.chunk_size,
                "chunks_total": len(self.chunks),
                "verified_chunks": 0,
                "offset": 0,
                "bytes_received": 0,
                "requests": 0,
                "reconnects": 0,
                "runs": 0,
                "resumed_from": [],
                "status": "new",
                "error": None,
                "started_at": _now_text(),
            }
            if os.path.exists(self.part_path):
                os.unlink(self.part_path)
        state["url"] = safe_url(self.url)
        self.state = state
        return state

    def save_state(self):
        self.state["updated_at"] = _now_text()
        fsutil.write_json(self.state_path, self.state)

    # -- the download -------------------------------------------------------------------------------
    def run(self, deadline=None):
        """Download and verify until complete; returns the state. Raises a typed EdgeError otherwise.

        deadline: absolute time.time() after which it stops (DeadlineExceeded), the state kept.
        """
        state = self.load_state()
        if state["status"] == "complete" and self._part_size() == self.size:
            return state
        verified = int(state["verified_chunks"])
        offset = min(verified * self.chunk_size, self.size)
        # Only verified bytes survive a restart: cut whatever unverified tail a crash left behind.
        with open(self.part_path, "ab"):
            pass
        if self._part_size() < offset:
            raise IntegrityError(
                "%s holds %d bytes but the resume state says %d were verified; the device disk lost data"
                % (self.part_path, self._part_size(), offset)
            )
        os.truncate(self.part_path, offset)
        state["runs"] = int(state.get("runs", 0)) + 1
        state["status"] = "running"
        state["error"] = None
        state["pid"] = os.getpid()
        if verified:
            state["resumed_from"] = [*(state.get("resumed_from") or [])[-20:], offset]
            self.on_event("resumed", {"offset": offset, "verified_chunks": verified, "size": self.size})
        self.save_state()
        try:
            self._download(verified, deadline)
            self._verify_whole()
        except IntegrityError as exc:
            state["status"] = "failed"
            state["error"] = str(exc)
            self.save_state()
            raise
        except DeadlineExceeded as exc:
            state["status"] = "deadline"
            state["error"] = str(exc)
            self.save_state()
            raise
        except SourceError as exc:
            state["status"] = "failed"
            state["error"] = str(exc)
            self.save_state()
            raise
        finally:
            self._close()
        state["status"] = "complete"
        state["completed_at"] = _now_text()
        self.save_state()
        return state

    def _part_size(self):
        try:
            return os.path.getsize(self.part_path)
        except OSError:
            return 0

    def _download(self, index, deadline):
        state = self.state
        opts = self.options
        delay = opts["retry_min_delay"]
        mismatches = 0
        partial = bytearray()
        with open(self.part_path, "r+b") as part:
            while index < len(self.chunks):
                if not self.keep_going():
                    raise Superseded("the staging of this release was replaced; stopping at chunk %d" % index)
                if deadline is not None and time.time() >= deadline:
                    raise DeadlineExceeded(
                        "transfer deadline reached with %d of %d chunks verified; it resumes from byte %d next time"
                        % (index, len(self.chunks), index * self.chunk_size)
                    )
                offset, length = mf.chunk_range(self.manifest, index)
                try:
                    self._fetch(offset + len(partial), offset + length - 1, partial, length)
                except SourceError:
                    raise
                except (OSError, http.client.HTTPException, socket.timeout, _Transient) as exc:
                    # The link dropped or stalled: keep the bytes received so far and ask for the rest.
                    self._close()
                    state["reconnects"] = int(state.get("reconnects", 0)) + 1
                    state["last_error"] = _describe(exc)
                    self.sleep(delay)
                    delay = min(delay * 2, opts["retry_max_delay"])
                    continue
                delay = opts["retry_min_delay"]
                digest = hashlib.sha256(bytes(partial)).hexdigest()
                if digest != self.chunks[index]:
                    mismatches += 1
                    self.on_event("chunk_refused", {"chunk": index, "offset": offset, "attempt": mismatches})
                    partial = bytearray()
                    if mismatches > opts["chunk_retries"]:
                        raise IntegrityError(
                            "chunk %d (bytes %d-%d) does not match the signed manifest's sha256 after %d attempts; "
                            "the source serves a different artifact" % (index, offset, offset + length - 1, mismatches)
                        )
                    continue
                mismatches = 0
                part.seek(offset)
                part.write(partial)
                part.flush()
                os.fsync(part.fileno())
                index += 1
                partial = bytearray()
                state["verified_chunks"] = index
                state["offset"] = min(index * self.chunk_size, self.size)
                self.save_state()

    def _fetch(self, start, end, into, length):
        """GET bytes start..end (inclusive) and append them to into; raises on any interruption."""
        conn = self._connection()
        self.state["requests"] = int(self.state.get("requests", 0)) + 1
        conn.request("GET", self.path, headers={"Range": "bytes=%d-%d" % (start, end), "Connection": "keep-alive"})
        resp = conn.getresponse()
        status = resp.status
        if status in TRANSIENT_STATUS:
            resp.read()
            raise _Transient("HTTP %d from the source" % status)
        if status == 200:
            resp.close()
            raise SourceError("the source ignored the Range header (HTTP 200); resumable transfer needs Range support")
        if status != 206:
            resp.close()
            raise SourceError("the source answered HTTP %d %s for %s" % (status, resp.reason, safe_url(self.url)))
        match = CONTENT_RANGE_RE.match(resp.getheader("Content-Range", "") or "")
        if not match or int(match.group(1)) != start or int(match.group(2)) != end:
            resp.close()
            raise SourceError(
                "the source answered Content-Range %r to a request for bytes %d-%d"
                % (resp.getheader("Content-Range"), start, end)
            )
        if match.group(3) != "*" and int(match.group(3)) != self.size:
            resp.close()
            raise IntegrityError(
                "the source's artifact is %s bytes, the signed manifest says %d" % (match.group(3), self.size)
            )
        want = end - start + 1
        got = 0
        while got < want:
            block = resp.read(min(READ_BLOCK, want - got))
            if not block:
                raise _Transient("connection closed after %d of %d bytes" % (got, want))
            into.extend(block)
            got += len(block)
            self.state["bytes_received"] = int(self.state.get("bytes_received", 0)) + len(block)
        if len(into) > length:
            raise IntegrityError("received more bytes than the chunk holds")

    def _connection(self):
        if self.conn is not None:
            return self.conn
        timeout = float(self.options["connect_timeout"])
        if self.scheme == "https":
            context = ssl.create_default_context(cafile=self.options.get("ca_path") or None)
            if not self.options.get("validate_certs", True):
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            conn = http.client.HTTPSConnection(self.host, self.port, timeout=timeout, context=context)
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        conn.connect()
        conn.sock.settimeout(float(self.options["read_timeout"]))
        self.conn = conn
        return conn

    def _close(self):
        if self.conn is not None:
            with contextlib.suppress(Exception):  # closing a dead connection must not hide the real error
                self.conn.close()
            self.conn = None

    def _verify_whole(self):
        digest = hashlib.sha256()
        size = 0
        with open(self.part_path, "rb") as handle:
            while True:
                block = handle.read(1024 * 1024)
                if not block:
                    break
                digest.update(block)
                size += len(block)
        if size != self.size or digest.hexdigest() != self.manifest["artifact"]["sha256"]:
            # Every chunk matched but the whole does not: the manifest itself is inconsistent. Start over.
            self.state["verified_chunks"] = 0
            self.state["offset"] = 0
            os.truncate(self.part_path, 0)
            raise IntegrityError(
                "the assembled artifact (%d bytes, sha256 %s) does not match the manifest (%d bytes, sha256 %s)"
                % (size, digest.hexdigest(), self.size, self.manifest["artifact"]["sha256"])
            )


class Superseded(EdgeError):
    """The device asked for another release meanwhile; the resume state is left for whoever comes next."""

    kind = "superseded"


class _Transient(Exception):
    """A retryable answer or interruption from the source."""


def _describe(exc):
    text = str(exc) or exc.__class__.__name__
    return "%s: %s" % (exc.__class__.__name__, text)


def safe_url(url):
    """scheme://host[:port]/path only: credentials and query strings never reach logs or results."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    host = parts.hostname or ""
    if parts.port:
        host = "%s:%d" % (host, parts.port)
    return "%s://%s%s" % (parts.scheme, host, parts.path)
