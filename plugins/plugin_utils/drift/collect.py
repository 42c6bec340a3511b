# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Evidence from a check + diff run: what would change, and what could not be evaluated.

Ansible's check mode is silent about what it cannot know: a module without check-mode support and a
command/shell task are *skipped*, and a play reports "ok" for them. Built naively, a drift report would
call such a host in sync. Here each probe result (a task that ran in check mode) is classified:

- changed          -> a finding (with the diff, when diff mode was on and the task is not no_log)
- skipped for any reason but a condition, an empty loop or a creates/removes answer - check mode
  not supported (raw even says nothing), a command/shell that would have run - or skipped by a
  condition on ``ansible_check_mode`` (unless the task can never report a change: ``changed_when:
  false``)         -> unevaluable: the host cannot be in sync
- failed (also when ignored), unreachable -> the host is unknown; later tasks never ran
- anything else    -> evaluated, no change

The collector keeps plain data only; the callback feeds it, the report reads ``document()``.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Mapping

from ansible_collections.changeward.hybrid.plugins.plugin_utils.redact import Redactor, is_censored

FORMAT = "changeward-drift-check/1"
CONDITION_SKIP = "Conditional result was False"
EMPTY_LOOP = "No items in the list"
# skips that are an answer (the thing already exists / is already gone), not a failure to evaluate
IDEMPOTENT_SKIPS = ("skipped, since", "matching creates option", "matching removes option")
MAX_DIFF = 16384
MAX_ENTRIES_PER_HOST = 2000

# module (last name component) -> drift class, so both detectors speak of the same classes
MODULE_CLASSES = {
    "file": (
        "copy",
        "template",
        "file",
        "lineinfile",
        "blockinfile",
        "replace",
        "assemble",
        "unarchive",
        "get_url",
        "ini_file",
        "xml",
        "acl",
        "synchronize",
    ),
    "package": ("apt", "dnf", "dnf5", "yum", "package", "dpkg_selections", "pip", "rpm_key", "apt_repository"),
    "service": ("service", "systemd", "systemd_service", "sysvinit"),
    "sysctl": ("sysctl",),
    "user": ("user", "group", "authorized_key"),
}
CLASS_OF = {module: cls for cls, modules in MODULE_CLASSES.items() for module in modules}
ITEM_KEYS = ("dest", "path", "name", "deb", "pkg", "key")


def drift_class(action: str) -> str:
    return CLASS_OF.get((action or "").rsplit(".", 1)[-1], "task")


def _statically_false(changed_when) -> bool:
    values = changed_when if isinstance(changed_when, (list, tuple)) else [changed_when]
    values = [v for v in values if v is not None]
    return bool(values) and all(
        v is False or (isinstance(v, str) and v.strip().lower() in ("false", "no")) for v in values
    )


def _mentions_check_mode(conditions) -> bool:
    if isinstance(conditions, str):
        conditions = [conditions]
    return any(isinstance(c, str) and "ansible_check_mode" in c for c in conditions or [])


def diff_text(diff) -> str:
    """A unified diff of Ansible's ``diff`` result (a dict or a list of dicts)."""
    parts = []
    for entry in diff if isinstance(diff, list) else [diff]:
        if not isinstance(entry, Mapping):
            continue
        if entry.get("prepared"):
            parts.append(str(entry["prepared"]))
        if "before" not in entry and "after" not in entry:
            continue
        before, after = entry.get("before", ""), entry.get("after", "")
        if not isinstance(before, str):
            before = json.dumps(before, sort_keys=True, indent=2, default=str) + "\n"
        if not isinstance(after, str):
            after = json.dumps(after, sort_keys=True, indent=2, default=str) + "\n"
        lines = difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile="before: %s" % entry.get("before_header", "") if entry.get("before_header") else "before",
            tofile="after: %s" % entry.get("after_header", "") if entry.get("after_header") else "after",
        )
        text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
        if text:
            parts.append(text)
    return "".join(parts)


def _item_of(task: Mapping, result: Mapping) -> str:
    for key in ITEM_KEYS:
        value = result.get(key)
        if isinstance(value, str) and value:
            return value
    args = (result.get("invocation") or {}).get("module_args") or {}
    for key in ITEM_KEYS:
        value = args.get(key)
        if isinstance(value, str) and value:
            return value
    label = result.get("_ansible_item_label")
    if isinstance(label, (str, int)) and str(label):
        return "%s [%s]" % (task.get("name") or task.get("action"), label)
    return str(task.get("name") or task.get("action") or "task")


def _reason(result: Mapping, default: str) -> str:
    msg = result.get("msg")
    return str(msg) if msg else default


class Collector:
    """Per-host evidence from check-mode task results."""

    def __init__(self, redactor: Redactor | None = None, max_diff: int = MAX_DIFF):
        self.max_diff = int(max_diff)
        self.redactor = redactor or Redactor(max_text=self.max_diff)
        # the run's detection evidence; a named segment (the re-check after remediation) is kept apart so a
        # later check of the same hosts neither hides nor repeats what detection found
        self.hosts: dict = {}
        self.segments: dict = {}
        self.current: dict = self.hosts
        self.dirty = False

    def use_segment(self, name: str | None) -> None:
        """Collect into the named segment from now on (None: the run's detection evidence)."""
        self.current = self.hosts if not name else self.segments.setdefault(name, {})

    def _host(self, host: str) -> dict:
        if host not in self.current:
            self.current[host] = {"reachable": True, "tasks": 0, "changed": [], "unevaluable": [], "errors": []}
        return self.current[host]

    def _append(self, entry_list: list, entry: dict) -> None:
        if len(entry_list) < MAX_ENTRIES_PER_HOST:
            entry_list.append(entry)
        elif len(entry_list) == MAX_ENTRIES_PER_HOST:
            entry_list.append({"class": "task", "item": "...", "reason": "more entries than the collector keeps"})

    def _base(self, task: Mapping, result: Mapping) -> dict:
        cls = drift_class(task.get("action", ""))
        item = _item_of(task, result)
        if cls == "file" and item.startswith("/proc/sys/"):
            # the role writes live kernel parameters through /proc/sys: speak of them as sysctls
            cls, item = "sysctl", item[len("/proc/sys/") :].replace("/", ".")
        return {
            "class": cls,
            "item": self.redactor.text(item),
            "task": self.redactor.text(task.get("name") or ""),
            "action": str(task.get("action") or ""),
            "path": task.get("path"),
        }

    def task_result(self, host: str, task: Mapping, status: str, result: Mapping) -> None:
        """Record one host's result of one task. ``status``: ok, failed, skipped or unreachable."""
        result = result if isinstance(result, Mapping) else {}
        probe = bool(task.get("check_mode"))
        if status == "unreachable":
            self.dirty = True
            entry = self._host(host)
            entry["reachable"] = False
            self._append(entry["errors"], dict(self._base(task, result), reason="unreachable: " + self._msg(result)))
            return
        if not probe:
            # a task that really ran during the check (check_mode: false) is no evidence of drift, but its
            # failure on a host that is being checked means the rest of the role never reached that host
            if status == "failed" and task.get("in_check_run") and host in self.current:
                self.dirty = True
                entry = self.current[host]
                self._append(entry["errors"], dict(self._base(task, result), reason="failed: " + self._msg(result)))
            return
        self.dirty = True
        entry = self._host(host)
        entry["tasks"] += 1
        items = result.get("results")
        if isinstance(items, list) and items:
            for item in items:
                if isinstance(item, Mapping):
                    self._classify(entry, task, self._item_status(item), item)
            if status == "failed" and not any(isinstance(i, Mapping) and i.get("failed") for i in items):
                self._append(entry["errors"], dict(self._base(task, result), reason="failed: " + self._msg(result)))
            return
        self._classify(entry, task, status, result)

    @staticmethod
    def _item_status(item: Mapping) -> str:
        if item.get("unreachable"):
            return "unreachable"
        if item.get("failed"):
            return "failed"
        if item.get("skipped"):
            return "skipped"
        return "ok"

    def _msg(self, result: Mapping) -> str:
        if is_censored(result):
            return "(output hidden by no_log)"
        return self.redactor.text(_reason(result, "no message"))

    def _classify(self, entry: dict, task: Mapping, status: str, result: Mapping) -> None:
        if status == "unreachable":
            entry["reachable"] = False
            self._append(entry["errors"], dict(self._base(task, result), reason="unreachable: " + self._msg(result)))
        elif status == "failed":
            self._append(entry["errors"], dict(self._base(task, result), reason="failed: " + self._msg(result)))
        elif status == "skipped" and task.get("handler"):
            # a handler runs only because a task it listens to changed, which is already a finding; one that cannot
            # run in check mode (a reload, `sysctl -p`) leaves nothing unknown beyond that finding
            return
        elif status == "skipped":
            reason = self._unevaluable_skip(task, result)
            if reason:
                self._append(entry["unevaluable"], dict(self._base(task, result), reason=reason))
        elif result.get("changed") and not task.get("handler"):
            # handlers only run because a task changed: they are a consequence, not more drift
            self._append(entry["changed"], self._finding(task, result))

    def _unevaluable_skip(self, task: Mapping, result: Mapping) -> str | None:
        """Why a skipped probe says nothing about drift, or None when the skip itself is the answer."""
        msg = str(result.get("msg") or "")
        if result.get("skip_reason") == CONDITION_SKIP or "false_condition" in result:
            condition = result.get("false_condition", task.get("when"))
            if _mentions_check_mode(condition) and not _statically_false(task.get("changed_when")):
                return "skipped in check mode by its condition %s" % json.dumps(condition, default=str)
            return None
        if result.get("skipped_reason") == EMPTY_LOOP or any(m in msg for m in IDEMPOTENT_SKIPS):
            return None
        # Anything else skipped in check mode could not run there: "does not support check mode", a
        # command that "would have run", or raw, which skips without saying why. Unknown, never in sync.
        return "not evaluable in check mode: " + (msg or "skipped without a reason (cannot run in check mode)")

    def _finding(self, task: Mapping, result: Mapping) -> dict:
        finding = dict(self._base(task, result), attribute="changed", diff=None, diff_sha256=None, diff_hidden=False)
        if is_censored(result) or task.get("no_log"):
            finding["diff_hidden"] = True
            return finding
        diff = result.get("diff")
        if diff:
            text = diff_text(diff)
            if text:
                finding["diff_sha256"] = hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()
                finding["diff"] = self.redactor.text(text)
        return finding

    def document(self, run_id: str, complete: bool, **extra) -> dict:
        self.dirty = False
        return {
            "format": FORMAT,
            "run_id": run_id,
            "complete": bool(complete),
            **extra,
            "hosts": self.hosts,
            "segments": self.segments,
        }

    def summary(self) -> dict:
        """Host counts as the collector alone sees them (in_sync / drifted / unknown)."""
        counts = {"in_sync": 0, "drifted": 0, "unknown": 0}
        for entry in self.hosts.values():
            counts[host_status(entry)] += 1
        return counts


SEGMENT_RE = re.compile(r"\A[a-z][a-z0-9_]{0,31}\Z")


def segment_name(value) -> str | None:
    """The evidence segment a play asks for (its literal ``drift_evidence`` var), or None for detection."""
    return value if isinstance(value, str) and SEGMENT_RE.match(value) else None


def _callback_names(value) -> list:
    if isinstance(value, str):
        value = value.split(",")
    return [str(v).strip() for v in value or [] if str(v).strip()]


def dropped_callbacks(effective, configured) -> list:
    """Callbacks the project's ansible.cfg enables that the effective list (ANSIBLE_CALLBACKS_ENABLED, which
    replaces it rather than adding to it) leaves out. Short and fully qualified names are the same."""

    def short(name):
        return name.rsplit(".", 1)[-1]

    have = {short(n) for n in _callback_names(effective)}
    return [n for n in _callback_names(configured) if short(n) not in have]


def host_status(entry: Mapping) -> str:
    if entry.get("changed"):
        return "drifted"
    if not entry.get("reachable", True) or entry.get("unevaluable") or entry.get("errors") or not entry.get("tasks"):
        return "unknown"
    return "in_sync"
