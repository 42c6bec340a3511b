# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The device's view of one application: staging, activation, commit and rollback, and their events.

Everything lives under <root_dir>/<app>/: state.json (one JSON document, changed only under the lock
file `lock` and written atomically), events.jsonl (append-only, fsynced: every state change with the
device's own timestamp and a uuid4 the controller uses as the ledger event id), download/ (the resumable
transfer), slots/{a,b}, current, original/. The detached transfer and watchdog processes (agent.py) and
the module share this code and take the same lock, so they never race each other.
"""

import json
import os
import shutil
import socket
import time
import uuid
from contextlib import contextmanager

from . import fsutil, health, slots, trust
from . import manifest as mf
from .errors import (
    ArtifactError,
    DeadlineExceeded,
    DowngradeError,
    EdgeError,
    IntegrityError,
    ManifestError,
    SignatureError,
    SlotError,
    SourceError,
    StateError,
    TrustError,
)
from .transfer import Superseded, Transfer, safe_url

STATE_VERSION = 1
EVENT_TYPES = (
    "staging_started",
    "staging_resumed",
    "chunk_refused",
    "staging_refused",
    "staging_failed",
    "staging_expired",
    "staged",
    "activated",
    "committed",
    "rolled_back",
    "trust_rotated",
)
TERMINAL = ("committed", "rolled_back")


def utc_now():
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + ".%06dZ" % int((now % 1) * 1000000)


def empty_state(app):
    return {
        "version": STATE_VERSION,
        "app": app,
        "event_seq": 0,
        "staging": None,
        "current": None,
        "activation": None,
        "slots": {"a": None, "b": None},
    }


class Device(object):
    """One application's slots and state on this device."""

    def __init__(self, root_dir, app, host=None, trust_file=trust.DEFAULT_TRUST_FILE):
        if not mf.NAME_RE.match(app or ""):
            raise StateError("app must match %s, got %r" % (mf.NAME_RE.pattern, app))
        self.root_dir = root_dir
        self.app = app
        self.root = os.path.join(root_dir, app)
        self.host = host or socket.gethostname()
        self.trust_file = trust_file
        self.state_path = os.path.join(self.root, "state.json")
        self.events_path = os.path.join(self.root, "events.jsonl")
        self.lock_path = os.path.join(self.root, "lock")
        self.transfer_lock = os.path.join(self.root, "transfer.lock")
        self.watchdog_lock = os.path.join(self.root, "watchdog.lock")
        self.download_dir = os.path.join(self.root, "download")
        self.watchdog_path = os.path.join(self.root, "watchdog.json")

    # -- state and events ---------------------------------------------------------------------------
    def read(self):
        state = fsutil.read_json(self.state_path)
        if state is None:
            return empty_state(self.app)
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION or state.get("app") != self.app:
            raise StateError(
                "%s is not a state file of app %s (version %s)" % (self.state_path, self.app, STATE_VERSION)
            )
        return state

    @contextmanager
    def transaction(self):
        """Read-modify-write of state.json under the lock; written only when the block succeeds."""
        # 0755: services that read their release through current/ may not run as root.
        fsutil.makedirs(self.root, 0o755)
        with fsutil.locked(self.lock_path):
            state = self.read()
            before = json.dumps(state, sort_keys=True)
            yield state
            if json.dumps(state, sort_keys=True) != before:
                fsutil.write_json(self.state_path, state)

    def emit(self, state, kind, release, change_id, data=None):
        """Append one device event (inside a transaction). Returns it."""
        if kind not in EVENT_TYPES:
            raise StateError("unknown edge event type %r" % kind)
        state["event_seq"] = int(state.get("event_seq", 0)) + 1
        event = {
            "seq": state["event_seq"],
            "id": str(uuid.uuid4()),
            "type": kind,
            "time": utc_now(),
            "host": self.host,
            "app": self.app,
            "release": release,
            "change_id": change_id,
            "data": data or {},
        }
        fsutil.append_line(self.events_path, json.dumps(event, sort_keys=True))
        return event

    def events(self, change_id=None, since=0):
        """Device events after seq `since`, only those of change_id when given; unreadable lines are an error."""
        out = []
        try:
            handle = open(self.events_path, "rb")
        except OSError:
            return out
        with handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    event = json.loads(line.decode("utf-8"))
                except (ValueError, UnicodeDecodeError):
                    # A torn last line after a power loss is the only expected damage; anything else is not.
                    raise StateError("%s line %d is not valid JSON" % (self.events_path, number)) from None
                if event.get("seq", 0) <= since:
                    continue
                if change_id is not None and event.get("change_id") != change_id:
                    continue
                out.append(event)
        return out

    # -- staging ------------------------------------------------------------------------------------
    def request_staging(
        self,
        manifest_text,
        signature,
        public_key,
        url,
        change_id,
        signature_check="required",
        transfer_options=None,
        deadline=86400.0,
        restart_failed=False,
        downgrade=None,
        downgrade_signature=None,
    ):
        """Record the wish to stage a release (after the device-side checks). Returns (changed, state).

        Refused, with a ``staging_refused`` event and nothing else changed (slots, staging, current): a
        device without pinned keys, a signature no pinned key verifies, a controller-sent key the device
        does not pin, a lower version than the running one without a signed downgrade authorisation for
        this device, a key rotation that cannot be verified here.
        """
        manifest, raw = mf.parse(manifest_text)
        if manifest["name"] != self.app:
            raise ManifestError("the manifest is for app %r, not %r" % (manifest["name"], self.app))
        rid = mf.release_id(manifest)
        refusal = None
        with self.transaction() as state:
            try:
                keys = trust.load(self.trust_file)
                checked, signer = mf.device_verify(raw, signature, keys, signature_check, sent_key=public_key)
                authorised = self._downgrade_check(state, manifest, rid, keys, checked, downgrade, downgrade_signature)
                add, remove = trust.rotation(manifest)
                if (add or remove) and checked != "verified":
                    raise TrustError(
                        "release %s rotates the pinned publisher keys, which must be verified on this device "
                        "(signature_check=auto without OpenSSL 3 cannot)" % rid
                    )
            except (TrustError, SignatureError, DowngradeError) as exc:
                self.emit(state, "staging_refused", rid, change_id, {"reason": str(exc), "kind": exc.kind})
                refusal = exc
            else:
                checks = {"signature": checked, "signed_by": signer, "downgrade_authorised_by": authorised}
                return self._record_staging(
                    state, manifest, raw, rid, url, change_id, checks, transfer_options, deadline, restart_failed
                )
        raise refusal

    def _downgrade_check(self, state, manifest, rid, keys, checked, text, signature):
        """None when the release is not older than the running one; else the key id of its signed authorisation."""
        running = (state.get("current") or {}).get("version")
        if not trust.is_downgrade(manifest["version"], running):
            return None
        if checked != "verified":
            raise DowngradeError(
                "release %s (version %s) is older than the running version %s, and a downgrade authorisation "
                "cannot be verified without OpenSSL 3 on this device" % (rid, manifest["version"], running)
            )
        try:
            return trust.check_downgrade(
                text, signature, keys, mf.verify_with_openssl, self.app, rid, manifest["version"], self.host
            )
        except DowngradeError as exc:
            raise DowngradeError(
                "release %s (version %s) is older than the running version %s: refused, %s"
                % (rid, manifest["version"], running, exc)
            ) from None

    def _rotate_keys(self, state, manifest, rid, change_id):
        """Apply the key rotation a verified release carries (idempotent), with a trust_rotated event."""
        add, remove = trust.rotation(manifest)
        if not add and not remove:
            return
        keys, added, removed = trust.rotate(trust.load(self.trust_file), add, remove, rid)
        if added or removed:
            trust.save(self.trust_file, keys)
            self.emit(state, "trust_rotated", rid, change_id, {"added": added, "removed": removed})

    def _record_staging(
        self, state, manifest, raw, rid, url, change_id, checks, transfer_options, deadline, restart_failed
    ):
        current = state.get("current") or {}
        act = state.get("activation") or {}
        if current.get("release") == rid:
            return False, state
        if act.get("state") == "activated":
            raise SlotError(
                "release %s is activated and its health is not decided yet; staging %s would overwrite the "
                "slot it falls back to" % (act.get("release"), rid)
            )
        stg = state.get("staging") or {}
        if stg.get("release") == rid:
            status = stg.get("status")
            if status in ("staged", "staging"):
                return False, state
            if status == "failed" and not restart_failed:
                return False, state
            stg.update(
                status="staging",
                error=None,
                deadline=time.time() + float(deadline),
                change_id=change_id,
                url=url,
                transfer_options=transfer_options or {},
                restarted_at=utc_now(),
            )
            self.emit(state, "staging_started", rid, change_id, {"slot": stg["slot"], "restart": status})
            return True, state
        self._rotate_keys(state, manifest, rid, change_id)
        slot = slots.other(current["slot"]) if current.get("slot") else "a"
        state["staging"] = {
            "release": rid,
            "version": manifest["version"],
            "slot": slot,
            "manifest": raw.decode("utf-8"),
            "signature": checks["signature"],
            "signed_by": checks["signed_by"],
            "downgrade_authorised_by": checks["downgrade_authorised_by"],
            "url": url,
            "transfer_options": transfer_options or {},
            "deadline": time.time() + float(deadline),
            "change_id": change_id,
            "status": "staging",
            "error": None,
            "started_at": utc_now(),
        }
        state["slots"][slot] = None
        data = {"slot": slot, "version": manifest["version"], "size": manifest["artifact"]["size"]}
        data.update(checks)
        self.emit(state, "staging_started", rid, change_id, data)
        return True, state

    def transfer_running(self):
        return fsutil.is_locked(self.transfer_lock)

    def run_transfer(self):
        """Body of the detached transfer process: download, verify, unpack into the slot. One at a time."""
        fd = fsutil.try_lock(self.transfer_lock)
        if fd is None:
            return "busy"
        try:
            stg = self.read().get("staging") or {}
            if stg.get("status") != "staging":
                return stg.get("status") or "idle"
            manifest, _raw = mf.parse(stg["manifest"])
            rid, change_id = stg["release"], stg.get("change_id")

            def on_event(kind, data):
                with self.transaction() as state:
                    self.emit(state, "staging_" + kind if kind == "resumed" else kind, rid, change_id, data)

            def keep_going():
                now = self.read().get("staging") or {}
                return now.get("release") == rid and now.get("status") == "staging"

            job = Transfer(
                self.download_dir,
                manifest,
                stg["url"],
                stg.get("transfer_options"),
                on_event=on_event,
                keep_going=keep_going,
            )
            try:
                progress = job.run(deadline=stg.get("deadline"))
                artifact = os.path.join(self.download_dir, "artifact.part")
                slots.unpack(artifact, manifest, self.root, stg["slot"], rid)
            except Superseded:
                return "superseded"
            except DeadlineExceeded as exc:
                self._staging_end(rid, "deadline", "staging_expired", {"reason": str(exc)}, str(exc))
                return "deadline"
            except (IntegrityError, SourceError, ArtifactError, ManifestError) as exc:
                self._staging_end(rid, "failed", "staging_failed", {"reason": str(exc), "kind": exc.kind}, str(exc))
                return "failed"
            stats = {k: progress.get(k) for k in ("bytes_received", "requests", "reconnects", "runs", "resumed_from")}
            self._staging_end(rid, "staged", "staged", dict(stats, slot=stg["slot"], size=manifest["artifact"]["size"]))
            shutil.rmtree(self.download_dir, ignore_errors=True)
            return "staged"
        finally:
            os.close(fd)

    def _staging_end(self, rid, status, kind, data, error=None):
        with self.transaction() as state:
            stg = state.get("staging") or {}
            if stg.get("release") != rid:
                return
            stg.update(status=status, error=error)
            if status == "staged":
                stg["staged_at"] = utc_now()
                state["slots"][stg["slot"]] = rid
            self.emit(state, kind, rid, stg.get("change_id"), data)

    def transfer_progress(self):
        data = fsutil.read_json(os.path.join(self.download_dir, "transfer.json"), {}) or {}
        keys = (
            "release",
            "size",
            "offset",
            "verified_chunks",
            "chunks_total",
            "bytes_received",
            "requests",
            "reconnects",
            "runs",
            "resumed_from",
            "status",
            "error",
            "last_error",
            "pid",
            "updated_at",
        )
        out = {k: data.get(k) for k in keys if k in data}
        out["running"] = self.transfer_running()
        return out

    # -- activation ----------------------------------------------------------------------------------
    def activate(self, rid, change_id, links, restart_command, health_spec, run=None):
        """Switch current to the staged release's slot and arm the watchdog. Returns (changed, state)."""
        spec = health.settings(health_spec)
        with self.transaction() as state:
            act = state.get("activation") or {}
            if act.get("release") == rid and act.get("state") in ("activated", "committed"):
                return False, state
            stg = state.get("staging") or {}
            if stg.get("release") != rid or stg.get("status") != "staged":
                raise SlotError(
                    "release %s is not staged on this device (staging: %s %s); it cannot be activated"
                    % (rid, stg.get("release") or "none", stg.get("status") or "")
                )
            marker = slots.read_marker(self.root, stg["slot"]) or {}
            if marker.get("release") != rid:
                raise SlotError("slot %s does not hold release %s any more; stage it again" % (stg["slot"], rid))
            previous = state.get("current")
            slots.link_managed(self.root, links)
            slots.switch(self.root, stg["slot"])
            now = time.time()
            state["current"] = {"slot": stg["slot"], "release": rid, "version": stg.get("version")}
            state["activation"] = {
                "release": rid,
                "version": stg.get("version"),
                "slot": stg["slot"],
                "change_id": change_id,
                "state": "activated",
                "previous": previous,
                "links": links,
                "restart_command": restart_command,
                "health": spec,
                "activated_at": utc_now(),
                "activated_ts": now,
                "health_deadline": now + float(spec["deadline"]),
                "start_period_end": now + float(spec["start_period"]),
            }
            state["staging"] = None
            restart = _restart(restart_command, run)
            self.emit(
                state,
                "activated",
                rid,
                change_id,
                {
                    "slot": stg["slot"],
                    "previous": (previous or {}).get("release"),
                    "restart": restart,
                    "health_deadline_seconds": spec["deadline"],
                },
            )
            return True, state

    def watchdog_running(self):
        return fsutil.is_locked(self.watchdog_lock)

    def run_watchdog(self, sleep=time.sleep, clock=time.time, check=health.check, run=None):
        """Body of the detached watchdog: commit when healthy, revert on failure or deadline. Controller-free."""
        fd = fsutil.try_lock(self.watchdog_lock)
        if fd is None:
            return "busy"
        try:
            oks = fails = checks = 0
            last = None
            while True:
                act = self.read().get("activation") or {}
                if act.get("state") != "activated":
                    return act.get("state") or "idle"
                spec = act["health"]
                now = clock()
                if now >= act["health_deadline"]:
                    reason = "health not reached within %ss of activation (last check: %s)" % (
                        spec["deadline"],
                        (last or {}).get("detail", "none ran"),
                    )
                    return self._revert(act["release"], reason, "watchdog", run=run)
                last = check(spec)
                checks += 1
                in_start = now < act.get("start_period_end", 0)
                if last["ok"]:
                    oks, fails = oks + 1, 0
                elif not in_start:
                    oks, fails = 0, fails + 1
                else:
                    oks = 0
                fsutil.write_json(
                    self.watchdog_path,
                    {
                        "release": act["release"],
                        "pid": os.getpid(),
                        "checks": checks,
                        "consecutive_ok": oks,
                        "consecutive_failed": fails,
                        "last": last,
                        "at": utc_now(),
                    },
                )
                if oks >= int(spec["healthy_after"]):
                    return self._commit(act["release"], "watchdog", {"checks": checks, "last": last})
                if fails >= int(spec["fail_after"]):
                    reason = "health check failed %d times in a row: %s" % (fails, last["detail"])
                    return self._revert(act["release"], reason, "watchdog", run=run)
                sleep(float(spec["interval"]))
        finally:
            os.close(fd)

    def _commit(self, rid, by, data):
        with self.transaction() as state:
            act = state.get("activation") or {}
            if act.get("release") != rid or act.get("state") != "activated":
                return act.get("state") or "idle"
            act.update(state="committed", committed_at=utc_now(), decided_by=by)
            self.emit(state, "committed", rid, act.get("change_id"), dict(data, by=by, slot=act["slot"]))
            return "committed"

    def _revert(self, rid, reason, by, run=None, allow_committed=False):
        with self.transaction() as state:
            act = state.get("activation") or {}
            allowed = ("activated", "committed") if allow_committed else ("activated",)
            if act.get("release") != rid or act.get("state") not in allowed:
                return act.get("state") or "idle"
            previous = act.get("previous")
            if previous:
                marker = slots.read_marker(self.root, previous["slot"]) or {}
                if marker.get("release") != previous.get("release"):
                    raise SlotError(
                        "slot %s no longer holds the previous release %s; cannot roll back"
                        % (previous["slot"], previous.get("release"))
                    )
                slots.switch(self.root, previous["slot"])
            else:
                slots.restore_original(self.root, act.get("links") or {})
                slots.switch(self.root, None)
            state["current"] = previous
            was = act["state"]
            act.update(state="rolled_back", rolled_back_at=utc_now(), reason=reason, decided_by=by)
            restart = _restart(act.get("restart_command"), run)
            self.emit(
                state,
                "rolled_back",
                rid,
                act.get("change_id"),
                {
                    "reason": reason,
                    "by": by,
                    "was": was,
                    "to": (previous or {}).get("release") or "original",
                    "restart": restart,
                },
            )
            return "rolled_back"

    def commit_now(self, rid, check=health.check):
        """Controller-requested commit: only when the release is activated and healthy right now."""
        act = self.read().get("activation") or {}
        if act.get("release") != rid:
            raise SlotError(
                "release %s is not the activated release (that is %s)" % (rid, act.get("release") or "none")
            )
        if act.get("state") == "committed":
            return False
        if act.get("state") == "rolled_back":
            raise SlotError(
                "release %s was rolled back on the device at %s: %s"
                % (rid, act.get("rolled_back_at"), act.get("reason"))
            )
        result = check(act["health"])
        if not result["ok"]:
            raise SlotError("release %s is not healthy now (%s); the watchdog decides" % (rid, result["detail"]))
        return self._commit(rid, "controller", {"last": result}) == "committed"

    def rollback_now(self, rid, reason, run=None):
        act = self.read().get("activation") or {}
        if act.get("release") != rid or act.get("state") == "rolled_back":
            return False
        return self._revert(rid, reason, "controller", run=run, allow_committed=True) == "rolled_back"

    def summary(self):
        """What the module reports: the state without the bulky manifest text."""
        state = self.read()
        stg = dict(state.get("staging") or {})
        stg.pop("manifest", None)
        if stg.get("url"):
            stg["url"] = safe_url(stg["url"])
        out = {
            "app": self.app,
            "root": self.root,
            "current": state.get("current"),
            "current_slot": slots.current_slot(self.root) if os.path.isdir(self.root) else None,
            "staging": stg or None,
            "activation": state.get("activation"),
            "slots": state.get("slots"),
            "event_seq": state.get("event_seq", 0),
            "transfer": self.transfer_progress() if stg else None,
            "transfer_running": self.transfer_running(),
            "watchdog_running": self.watchdog_running(),
            "watchdog": fsutil.read_json(self.watchdog_path, None),
        }
        return out


def release_status(summary, rid):
    """One word for where release rid stands on the device."""
    act = summary.get("activation") or {}
    if act.get("release") == rid:
        return act.get("state")
    stg = summary.get("staging") or {}
    if stg.get("release") == rid:
        return {"staging": "staging", "staged": "staged", "failed": "failed", "deadline": "expired"}.get(
            stg.get("status"), stg.get("status")
        )
    if (summary.get("current") or {}).get("release") == rid:
        return "current"
    return "absent"


def _restart(argv, run=None):
    """Run the service restart command; its result is recorded, a failure is left to the health check."""
    if not argv:
        return None
    import subprocess

    run = run or subprocess.run
    started = time.monotonic()
    try:
        # The watchdog runs detached, without AnsibleModule.run_command.
        proc = run(  # pylint: disable=ansible-bad-function
            argv,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=120,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        rc = proc.returncode
    except (OSError, subprocess.SubprocessError) as exc:
        return {"rc": None, "error": str(exc)}
    return {"rc": rc, "seconds": round(time.monotonic() - started, 3)}


__all__ = ["Device", "EdgeError", "release_status", "utc_now"]
