# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of changeward.hybrid.edge_rollout; the documentation lives in plugins/modules/edge_rollout.py."""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import os
import re
import time

from ansible.errors import AnsibleConnectionFailure, AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.changeward.hybrid.plugins.module_utils.edge import manifest as mf
from ansible_collections.changeward.hybrid.plugins.module_utils.edge import waves
from ansible_collections.changeward.hybrid.plugins.module_utils.edge.errors import EdgeError
from ansible_collections.changeward.hybrid.plugins.module_utils.edge.transfer import safe_url
from ansible_collections.changeward.hybrid.plugins.plugin_utils import context
from ansible_collections.changeward.hybrid.plugins.plugin_utils.arguments import NamedArgumentValidation
from ansible_collections.changeward.hybrid.plugins.plugin_utils.deadline import (
    CallInFlight,
    Deadline,
    DeadlinePassed,
    Progress,
    Reachability,
    progress_every,
)
from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import ChangewardError

MODULE = "changeward.hybrid.edge_update"
EVENT_PREFIX = "io.changeward.edge."
SIG_RE = re.compile(r"\A[A-Za-z0-9+/]{86}==\Z")
MAX_FETCHED = 16 * 1024 * 1024  # a manifest, signature or key fetched by URL; anything larger is refused
STAGED = ("staged", "activated", "committed", "current")

PASS_THROUGH = (
    "app",
    "root_dir",
    "signature_check",
    "url",
    "validate_certs",
    "ca_path",
    "transfer",
    "restart_failed",
    "links",
    "restart_command",
    "health",
    "install_boot_hook",
)

ARGUMENT_SPEC = {
    "step": {"type": "str", "required": True, "choices": ["verify", "stage", "activate", "status", "judge"]},
    "change_id": {"type": "str", "required": True},
    "change": {
        "type": "dict",
        "options": {
            "type": {"type": "str", "default": "normal", "choices": ["standard", "normal", "emergency"]},
            "summary": {"type": "str", "required": True},
            "requester": {"type": "str", "required": True},
            "targets": {"type": "list", "elements": "str", "default": []},
        },
    },
    "ledger": {"type": "str"},
    # the group's key (module_defaults), ledger_key its older name here
    "key": {**context.LEDGER_SPEC["key"], "aliases": ["ledger_key"]},
    "manifest": {"type": "str"},
    "signature": {"type": "str"},
    "public_key": {"type": "str"},
    "downgrade_authorization": {"type": "str"},
    "downgrade_signature": {"type": "str"},
    "app": {"type": "str"},
    "root_dir": {"type": "path", "default": "/var/lib/changeward/edge"},
    "signature_check": {"type": "str", "default": "required", "choices": ["required", "auto"]},
    "url": {"type": "str"},
    "validate_certs": {"type": "bool", "default": True},
    "ca_path": {"type": "path"},
    "transfer": {"type": "dict", "default": {}},
    "restart_failed": {"type": "bool", "default": False},
    "links": {"type": "dict", "default": {}},
    "restart_command": {"type": "list", "elements": "str", "default": []},
    "health": {"type": "dict", "default": {}},
    "install_boot_hook": {"type": "bool", "default": True},
    "deadline": {"type": "float", "default": 1800},
    "poll": {"type": "float", "default": 10},
    "outcomes": {"type": "dict"},
    "wave": {"type": "str"},
    "gate": {"type": "dict"},
    "success_threshold": {"type": "float", "default": 100},
    "error_threshold": {"type": "float", "default": 0},
}


class EdgeRolloutError(ChangewardError):
    """A request the controller cannot carry out (bad input, unverifiable manifest, ledger problem)."""


class ActionModule(NamedArgumentValidation, ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    # The clocks of the step's deadline (tests replace them; see plugin_utils/deadline.py).
    _clock = staticmethod(time.monotonic)
    _sleep = staticmethod(time.sleep)
    _wait = None
    _time = staticmethod(time.time)

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        self._task_vars = task_vars or {}
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        self._args = args
        # check mode writes nothing: whatever the step opens, no ledger is created, migrated or appended to
        with context.check_mode_ledgers(bool(self._task.check_mode)):
            try:
                self._start_deadline(args)
                result.update(getattr(self, "ensure_" + args["step"])(args))
            except ChangewardError as exc:  # EdgeRolloutError, the edge core's and the ledger's errors
                result.update(failed=True, changed=False, msg="edge_rollout: %s" % exc)
        return result

    # -- verify: the controller's half of the trust chain ---------------------------------------------
    def ensure_verify(self, args):
        text, signature, key_pem = self._signed_manifest(args)
        try:
            manifest, release, key_id = verify_manifest(text, signature, key_pem)
        except EdgeRolloutError as exc:
            if not self._task.check_mode:
                self._record_controller(args, "manifest_refused", {"reason": str(exc)}, open_change=True)
            raise
        data = {
            "release": release,
            "name": manifest["name"],
            "version": manifest["version"],
            "size": manifest["artifact"]["size"],
            "sha256": manifest["artifact"]["sha256"],
            "chunk_size": manifest["artifact"]["chunk_size"],
            "key_id": key_id,
        }
        seq = None
        if not self._task.check_mode:
            seq = self._record_controller(args, "manifest_verified", data, open_change=True)
        return {
            "changed": False,
            "release": release,
            "manifest": dict(data, chunks=len(manifest["artifact"]["chunks"])),
            "manifest_text": text,
            "signature": signature,
            "public_key": key_pem,
            "key_id": key_id,
            "ledger_seq": seq,
        }

    # -- stage / activate / status: one device, tolerant of a link that comes and goes ------------------
    def ensure_stage(self, args):
        text, signature, key_pem = self._signed_manifest(args)
        manifest, release, _key_id = verify_manifest(text, signature, key_pem)
        if not args["url"]:
            raise EdgeRolloutError("step=stage needs url (where the device downloads the artifact)")
        self._check_app(args, manifest)
        extra = {"state": "staged", "manifest": text, "signature": signature, "public_key": key_pem}
        extra.update(self._downgrade(args))
        return self._drive(args, release, extra, done=STAGED, step="stage")

    def _downgrade(self, args):
        """The signed downgrade authorisation, passed to the device as it is: only the device decides on it."""
        if not args["downgrade_authorization"] and not args["downgrade_signature"]:
            return {}
        if not (args["downgrade_authorization"] and args["downgrade_signature"]):
            raise EdgeRolloutError("downgrade_authorization and downgrade_signature go together")
        text = self._content(
            args["downgrade_authorization"], lambda s: s.lstrip().startswith("{"), "downgrade_authorization"
        )
        sig = self._content(
            args["downgrade_signature"], lambda s: bool(SIG_RE.match(s.strip())), "downgrade_signature"
        ).strip()
        return {"downgrade_authorization": text, "downgrade_signature": sig}

    def ensure_activate(self, args):
        release = self._release(args)
        if not args["health"].get("url") and not args["health"].get("command"):
            raise EdgeRolloutError("step=activate needs health.url or health.command")
        return self._drive(args, release, {"state": "activated"}, done=("committed", "rolled_back"), step="activate")

    def ensure_status(self, args):
        release = self._release(args)
        return self._drive(args, release, {"state": "status"}, done=(), step="status")

    def _start_deadline(self, args):
        """The step's deadline, from now: it bounds everything the step does, device calls included. status asks
        once: it gives up after poll seconds (or deadline, when shorter)."""
        seconds = args["deadline"]
        if args["step"] == "status":
            seconds = min(seconds, args["poll"])
        if not (0 <= seconds < float("inf")) or not (0 < args["poll"] < float("inf")):
            raise EdgeRolloutError("deadline must be >= 0 and poll > 0 seconds")
        kw = {"clock": self._clock, "sleep": self._sleep}
        if self._wait is not None:
            kw["wait"] = self._wait
        self._deadline = Deadline(seconds, **kw)
        return self._deadline

    def _release(self, args):
        if args["manifest"]:
            text, signature, key_pem = self._signed_manifest(args)
            manifest, release, _key_id = verify_manifest(text, signature, key_pem)
            self._check_app(args, manifest)
            return release
        raise EdgeRolloutError("step=%s needs the signed manifest (manifest, signature, public_key)" % args["step"])

    def _check_app(self, args, manifest):
        if not args["app"]:
            args["app"] = manifest["name"]
        if args["app"] != manifest["name"]:
            raise EdgeRolloutError("app %s does not match the manifest's name %s" % (args["app"], manifest["name"]))

    def _drive(self, args, release, first, done, step):
        """Call edge_update until the release reaches `done`, it fails, or the step's deadline passes (pending).

        Every device call is bounded by the time left (Deadline.run): a call still in flight at the deadline is
        abandoned, its connection reset, and it is reported and recorded as in flight - the device may have
        acted on it; its own journal tells at the next call, with the device's timestamps.
        """
        host = self._task_vars.get("inventory_hostname", "?")
        deadline = self._deadline
        link = Reachability(deadline.clock)
        progress = self._progress(step, host)
        base = {k: args[k] for k in PASS_THROUGH}
        base.update(release=release, change_id=args["change_id"])
        call = dict(base, **first)
        state = {"attempts": 0, "learned": [], "changed": False, "result": None, "in_flight": None}
        last_error = None
        overhead = 1.0  # seconds a call takes beyond the device's own wait (measured from answered calls)
        progress.update("start", "%s %s, deadline %ss" % (step, release, _num(args["deadline"])), force=True)
        for _attempt in deadline.ticks(args["poll"]):
            # The device waits for progress itself, but answers early enough for the reply to arrive in time.
            quick = self._task.check_mode or step == "status"
            call["wait"] = 0 if quick else deadline.budget(args["poll"], 2 * overhead)
            state["attempts"] += 1
            began = deadline.now()
            try:
                result = deadline.run(self._call, call, what="edge_update state=%s" % call["state"])
            except CallInFlight as exc:
                link.unanswered(began)
                state["in_flight"] = {
                    "state": call["state"],
                    "began_seconds_ago": round(exc.waited, 1),
                    "began_at": self._wall_at(began),
                }
                last_error = str(exc)
                self._reset_connection()  # ends the multiplexed SSH session the call hangs in
                break
            except DeadlinePassed:
                state["attempts"] -= 1
                break
            except (AnsibleConnectionFailure, _Unreachable) as exc:
                link.unanswered(began)
                last_error = to_text(exc)
                progress.update(
                    "unreachable",
                    "unanswered for %.0fs (%s), %.0fs left"
                    % (deadline.now() - link.down_since, _short(last_error), deadline.remaining()),
                )
                continue
            link.answered(began)
            overhead = max(0.5, deadline.now() - began - call["wait"])
            state["result"] = result
            device_events = result.get("events") or []
            state["learned"].extend(self._learn(args, host, device_events))
            # Later polls only need what is new (the first call, with since=0, caught up on the past).
            base["since"] = max([base.get("since", 0)] + [e.get("seq", 0) for e in device_events])
            state["changed"] = state["changed"] or bool(result.get("changed"))
            status = result.get("release_status")
            finished = self._finished(step, status, result, done, host, release)
            if finished:
                outcome, msg = finished
                return self._outcome(args, host, step, release, outcome, state, link, progress, msg=msg)
            progress.update(status, "%s%s, %.0fs left" % (status, _detail(result), deadline.remaining()))
            # After the first call the device works on its own: poll without asking for the change again,
            # except for staging, where asking again also restarts a transfer that died.
            call = dict(
                base,
                state="staged" if step == "stage" else "status",
                **({k: v for k, v in first.items() if k != "state"} if step == "stage" else {}),
            )
        if state["in_flight"]:
            reason = (
                "no answer within the deadline of %ss: the call to the device (state=%s) was in flight for %.0fs; "
                "the device may act on it (a status call learns what it did)"
                % (_num(args["deadline"]), state["in_flight"]["state"], state["in_flight"]["began_seconds_ago"])
            )
        elif link.down:
            reason = "unreachable for %.0fs: %s" % (link.seconds(), last_error)
        else:
            reason = "no outcome within %ss" % _num(args["deadline"])
        return self._outcome(args, host, step, release, "pending", state, link, progress, msg=reason)

    def _finished(self, step, status, result, done, host, release):
        """(outcome, msg) when the device's answer ends the step, else None."""
        if result.get("failed"):
            refused = result.get("error_kind") in ("signature", "trust", "downgrade")
            return ("refused" if refused else "failed"), result.get("msg")
        if status == "failed":
            return "failed", (result.get("staging") or {}).get("error")
        if step == "stage" and status in done:
            return "staged", None
        if step == "activate" and status in done:
            return status, (result.get("activation") or {}).get("reason")
        if step == "status" or self._task.check_mode:
            return (status if status in ("committed", "rolled_back") else (status or "absent")), None
        if step == "activate" and status != "activated":
            # Not staged (or something else holds the device): activation cannot go on.
            return "failed", "release %s is %s on %s; it cannot be activated" % (release, status, host)
        return None

    def _progress(self, step, host):
        def emit(line):
            Display().display("edge_rollout %s: %s" % (host, line))

        return Progress(emit, progress_every(self._deadline.seconds), clock=self._deadline.clock)

    def _wall_at(self, ts):
        """ISO 8601 UTC of moment ts of the deadline's (monotonic) clock."""
        wall = self._time() - (self._deadline.now() - ts)
        return datetime.datetime.fromtimestamp(wall, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def _call(self, module_args):
        # A dead ControlMaster would make every retry fail at once: start the next attempt from scratch.
        try:
            result = self._execute_module(module_name=MODULE, module_args=module_args, task_vars=self._task_vars)
        except AnsibleConnectionFailure:
            self._reset_connection()
            raise
        if result.get("unreachable"):
            self._reset_connection()
            raise _Unreachable(result.get("msg") or "unreachable")
        return result

    def _reset_connection(self):
        try:
            self._connection.reset()
        except (AnsibleError, AttributeError, OSError):
            pass

    def _outcome(self, args, host, step, release, outcome, state, link, progress, msg=None):
        result = state["result"] or {}
        out = {
            "changed": state["changed"],
            "step": step,
            "host": host,
            "release": release,
            "outcome": outcome,
            "release_status": result.get("release_status"),
            "device": {k: result.get(k) for k in ("current", "activation", "staging", "transfer", "watchdog")},
            "events": state["learned"],
            "attempts": state["attempts"],
            "unreachable_seconds": round(link.seconds(), 1),
            "in_flight": state["in_flight"],
            "elapsed": round(self._deadline.elapsed(), 1),
            "msg": msg or "%s: %s %s" % (host, release, outcome),
        }
        progress.update("end", "%s after %.0fs: %s" % (outcome, out["elapsed"], out["msg"]), force=True)
        if outcome == "pending" and not self._task.check_mode:
            data = {"host": host, "step": step, "release": release, "reason": out["msg"]}
            data["unreachable_seconds"] = out["unreachable_seconds"]
            if state["in_flight"]:
                data["in_flight"] = state["in_flight"]
            self._record_controller(args, "host_pending", data)
        return out

    # -- the ledger ------------------------------------------------------------------------------------
    def _ledger(self, args, create=False):
        from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger

        # the collection's one rule for which ledger
        target = context.ledger_target(args["ledger"])
        key = args["key"] or None
        return open_ledger(target, key=key, create=create)

    def _require_change(self, ledger, args, open_change=False):
        if ledger.get_change(args["change_id"]) is not None:
            return
        if open_change and args["change"]:
            from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import model

            c = args["change"]
            ledger.open_change(
                model.new_record(args["change_id"], c["type"], c["summary"], c["requester"], targets=c["targets"])
            )
            return
        raise EdgeRolloutError("change %s is not in the ledger %s" % (args["change_id"], ledger.target))

    def _record_controller(self, args, kind, data, open_change=False):
        with self._ledger(args, create=open_change and bool(args["change"])) as ledger:
            self._require_change(ledger, args, open_change)
            return ledger.record(EVENT_PREFIX + kind, args["change_id"], data).seq

    def _learn(self, args, host, device_events):
        """Record device events the ledger does not hold yet, with the device's timestamps and ids."""
        if not device_events or self._task.check_mode:
            return []
        from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import model

        learned_at = model.utc_now()
        with self._ledger(args) as ledger:
            self._require_change(ledger, args)
            fresh = []
            for ev in device_events:
                if ev.get("change_id") != args["change_id"] or ledger.entry_by_event_id(ev["id"]) is not None:
                    continue
                data = dict(ev.get("data") or {})
                data.update(
                    host=ev.get("host") or host,
                    inventory_host=host,
                    app=ev.get("app"),
                    release=ev.get("release"),
                    device_seq=ev.get("seq"),
                    learned_at=learned_at,
                )
                fresh.append(
                    model.new_event(
                        EVENT_PREFIX + ev["type"],
                        args["change_id"],
                        data,
                        time=ev["time"],
                        event_id=ev["id"],
                        source="urn:changeward:edge:%s" % (ev.get("host") or host),
                    )
                )
            if fresh:
                ledger.append_many(fresh)
        return [{"type": e["type"], "time": e["time"], "id": e["id"]} for e in fresh]

    # -- judge: one wave --------------------------------------------------------------------------------
    def ensure_judge(self, args):
        if args["outcomes"] is None:
            raise EdgeRolloutError("step=judge needs outcomes ({host: outcome})")
        try:
            decision = waves.judge(args["outcomes"], args["success_threshold"], args["error_threshold"])
        except ValueError as exc:
            raise EdgeRolloutError(str(exc)) from None
        decision["wave"] = args["wave"]
        decision["outcomes"] = args["outcomes"]
        gate = args["gate"] or {}
        if gate:
            decision["gate"] = {k: gate.get(k) for k in ("blocked", "next_allowed_at", "checked_at", "reasons")}
        seq = None
        if not self._task.check_mode:
            seq = self._record_controller(
                args,
                "wave_judged",
                dict(
                    (decision.get("gate") and {"gate": decision["gate"]}) or {},
                    **{
                        k: decision[k]
                        for k in (
                            "wave",
                            "decision",
                            "reason",
                            "succeeded_hosts",
                            "failed_hosts",
                            "pending_hosts",
                            "succeeded_percent",
                            "failed_percent",
                        )
                    },
                ),
            )
        return dict(decision, changed=False, ledger_seq=seq, msg=decision["reason"])

    # -- inputs ------------------------------------------------------------------------------------------
    def _signed_manifest(self, args):
        for key in ("manifest", "signature", "public_key"):
            if not args[key]:
                raise EdgeRolloutError("step=%s needs %s" % (args["step"], key))
        text = self._content(args["manifest"], lambda s: s.lstrip().startswith("{"), "manifest")
        signature = self._content(args["signature"], lambda s: bool(SIG_RE.match(s.strip())), "signature").strip()
        key_pem = self._content(args["public_key"], lambda s: "-----BEGIN" in s, "public_key").strip() + "\n"
        return text, signature, key_pem

    def _content(self, value, is_inline, what):
        """The value itself when it looks like the content, else the text of a URL or controller path."""
        if is_inline(value):
            return value
        if re.match(r"\Ahttps?://", value):
            return self._fetch(value, what)
        path = value if os.path.isabs(value) else self._find(value)
        try:
            with open(path, "rb") as handle:
                return to_text(handle.read(), errors="surrogate_or_strict")
        except (OSError, UnicodeError) as exc:
            raise EdgeRolloutError("cannot read %s %s: %s" % (what, value, exc)) from None

    def _fetch(self, url, what):
        """The text at url, through the collection's one HTTP client (plugin_utils/http.py: proxies and CA bundle
        from the environment, redirects checked hop by hop - never https -> http), within the step's deadline (at
        least a second, so that a fetch can succeed at all)."""
        from ansible_collections.changeward.hybrid.plugins.plugin_utils import http
        from ansible_collections.changeward.hybrid.plugins.plugin_utils.redirects import RedirectRefused

        timeout = min(30.0, max(1.0, self._deadline.remaining()))
        where = "cannot fetch %s from %s" % (what, safe_url(url))
        try:
            client = http.session(verify=self._args["validate_certs"])
            with http.get_checked(client, url, timeout=timeout, stream=True) as resp:
                if resp.status_code != 200:
                    raise EdgeRolloutError("%s: HTTP %d" % (where, resp.status_code))
                body = b""
                for chunk in resp.iter_content(64 * 1024):
                    body += chunk
                    if len(body) > MAX_FETCHED:
                        raise EdgeRolloutError("%s: larger than %d MiB" % (where, MAX_FETCHED // (1024 * 1024)))
        except (RedirectRefused, ImportError) as exc:
            raise EdgeRolloutError("%s: %s" % (where, exc)) from None
        except http.ERRORS as exc:
            raise EdgeRolloutError("%s: %s" % (where, http.describe(exc, timeout).text)) from None
        try:
            return to_text(body, errors="surrogate_or_strict")
        except UnicodeError:
            raise EdgeRolloutError("%s: not UTF-8 text" % where) from None

    def _find(self, src):
        try:
            return self._find_needle("files", src)
        except AnsibleError:
            return src


class _Unreachable(Exception):
    """The module result said the host could not be reached."""


def _num(value):
    return "%g" % value


def _short(text, limit=120):
    text = " ".join(to_text(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _detail(result):
    """What the device is doing, for a progress line."""
    transfer = result.get("transfer") or {}
    if result.get("release_status") == "staging" and transfer.get("size"):
        return " (%d%% of %d bytes)" % (100 * (transfer.get("offset") or 0) // transfer["size"], transfer["size"])
    if result.get("release_status") == "activated":
        return " (the device's watchdog is judging its health)"
    return ""


def verify_manifest(text, signature, public_key_pem):
    """Verify the Ed25519 signature over the manifest's bytes with cryptography; returns (manifest, release, key id)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = serialization.load_pem_public_key(public_key_pem.encode("ascii"))
    except (ValueError, UnicodeError) as exc:
        raise EdgeRolloutError("public_key is not a PEM public key: %s" % exc) from None
    if not isinstance(key, Ed25519PublicKey):
        raise EdgeRolloutError("public_key is not an Ed25519 key")
    raw_key = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    key_id = "ed25519-" + hashlib.sha256(raw_key).hexdigest()[:16]
    try:
        sig = base64.b64decode(signature.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise EdgeRolloutError("the manifest signature is not base64") from None
    data = text.encode("utf-8")
    try:
        key.verify(sig, data)
    except InvalidSignature:
        raise EdgeRolloutError(
            "the manifest signature does not verify with key %s: refusing the release" % key_id
        ) from None
    try:
        manifest, _raw = mf.parse(data)
    except EdgeError as exc:
        raise EdgeRolloutError("the signed manifest is not usable: %s" % exc) from None
    return manifest, mf.release_id(manifest), key_id
