# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compliance checks over what a change will do, with CEL rules (the Common Expression Language Kubernetes
admission policies use, evaluated by cel-python).

What a change will do is reduced to facts, each a plain mapping a rule sees under one name:

- ``spec``: the change spec (its recorded form), once;
- ``task``: every task of the role or tasks file the change applies, with its file and line, module, arguments
  and what they mean for a file (path, mode, world_readable, world_writable, secret_like);
- ``file``: every file a check-mode run reported (path, mode, before/after of its diff), with the same meanings.

A rule is ``{name, applies_to: spec | task | file, expression, message}``; as in a Kubernetes
ValidatingAdmissionPolicy the expression says what must hold: true passes, false is a violation, and an
expression that cannot be evaluated is a violation too (fail closed). Every violation names the rule and where:
the task's file and line, the file's host and path, or the spec. docs/pre-implementation-validation.md lists the
built-in rules.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterable, Mapping

from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import ChangewardError

KINDS = ("spec", "task", "file")
# A path that holds a secret by its name; rules may use task.secret_like or their own matches().
SECRET_NAME = re.compile(
    r"(secret|passw|token|credential|private|apikey|api_key|\.key$|\.pem$|\.p12$|\.pfx$|id_rsa|id_ed25519|"
    r"\.env$|shadow|htpasswd|vault)",
    re.IGNORECASE,
)
FILE_MODULES = ("copy", "template", "file", "lineinfile", "blockinfile", "assemble", "get_url", "unarchive")
TASK_KEYWORDS = {
    "name",
    "when",
    "register",
    "notify",
    "become",
    "become_user",
    "become_method",
    "tags",
    "loop",
    "loop_control",
    "with_items",
    "with_dict",
    "with_fileglob",
    "vars",
    "changed_when",
    "failed_when",
    "ignore_errors",
    "delegate_to",
    "run_once",
    "until",
    "retries",
    "delay",
    "no_log",
    "check_mode",
    "diff",
    "environment",
    "args",
    "listen",
    "throttle",
    "timeout",
    "any_errors_fatal",
    "collections",
    "module_defaults",
    "local_action",
    "action",
    "connection",
    "debugger",
    "ignore_unreachable",
    "async",
    "poll",
    "delegate_facts",
    "port",
    "remote_user",
}
BLOCK_KEYS = ("block", "rescue", "always")
LINE = "__line__"

BUILTIN_RULES = (
    {
        "name": "no-world-readable-secret",
        "applies_to": "task",
        "expression": "!(task.secret_like && task.world_readable)",
        "message": "a file that holds a secret must not be readable by others (give it a mode like 0600 or 0640)",
    },
    {
        "name": "no-world-readable-secret",
        "applies_to": "file",
        "expression": "!(file.secret_like && file.world_readable)",
        "message": "a file that holds a secret must not be readable by others (give it a mode like 0600 or 0640)",
    },
    {
        "name": "no-world-writable-file",
        "applies_to": "task",
        "expression": "!task.world_writable",
        "message": "no file may be writable by others",
    },
    {
        "name": "no-world-writable-file",
        "applies_to": "file",
        "expression": "!file.world_writable",
        "message": "no file may be writable by others",
    },
)


class ComplianceError(ChangewardError, ValueError):
    """Rules or inputs that cannot be checked (a rule that does not compile, an unreadable tasks file)."""


# -- modes -----------------------------------------------------------------------------------------------------------
def mode_bits(mode):
    """(bits or None, others_read, others_write) of a file mode as Ansible takes it: octal text ('0644', '644'), an
    int (YAML's 0644 is 420), or symbolic ('u=rw,g=r,o=r', 'o+r', 'a+rw'). No mode: a new file gets the umask
    default (0644 with the usual 022), so it counts as readable by others. 'preserve' or a template: unknown, and
    counted as readable (fail closed) but not as writable (no Ansible default makes a file writable by others);
    a policy rule can require ``task.mode_known``."""
    if mode is None:
        return None, True, False
    if isinstance(mode, bool):
        return None, True, False
    if isinstance(mode, int):
        return mode, bool(mode & 0o004), bool(mode & 0o002)
    text = str(mode).strip()
    if re.fullmatch(r"0?[0-7]{3,4}", text):
        bits = int(text, 8)
        return bits, bool(bits & 0o004), bool(bits & 0o002)
    read = write = False
    clauses = text.split(",")
    if not all(re.fullmatch(r"[ugoa]*[=+-][rwxXst]*", c) for c in clauses):
        return None, True, False  # a template or 'preserve': cannot tell, so assume readable
    for clause in clauses:
        who, op, perms = re.fullmatch(r"([ugoa]*)([=+-])([rwxXst]*)", clause).groups()
        if who and not set(who) & {"o", "a"}:
            continue
        if not who:
            who = "a"  # no who: all, as chmod without a umask in play
        if op in "=+":
            read = read or "r" in perms
            write = write or "w" in perms
        if op == "=" and "r" not in perms:
            read = False
        if op == "=" and "w" not in perms:
            write = False
        if op == "-":
            read = read and "r" not in perms
            write = write and "w" not in perms
    return None, read, write


def _symbolic(mode) -> bool:
    return isinstance(mode, str) and all(re.fullmatch(r"[ugoa]*[=+-][rwxXst]*", c) for c in mode.strip().split(","))


def _file_meaning(path, mode, state=None) -> dict:
    bits, read, write = mode_bits(mode)
    if state in ("absent", "link", "hard"):
        read = write = False  # nothing is left, or a link's own mode does not matter
    return {
        "path": path,
        "mode": None if mode is None else str(mode),
        "mode_bits": bits if bits is not None else -1,
        "mode_known": mode is not None and not (bits is None and not _symbolic(mode)),
        "world_readable": bool(path) and read,
        "world_writable": bool(path) and write,
        "secret_like": bool(path and SECRET_NAME.search(os.path.basename(str(path)) or str(path))),
    }


# -- tasks with lines --------------------------------------------------------------------------------------------------
def _loader():
    import yaml

    class LineLoader(yaml.SafeLoader):
        pass

    def construct_mapping(loader, node, deep=False):
        mapping = yaml.SafeLoader.construct_mapping(loader, node, deep=deep)
        mapping[LINE] = node.start_mark.line + 1
        return mapping

    LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    return LineLoader


def _strip(value):
    if isinstance(value, Mapping):
        return {k: _strip(v) for k, v in value.items() if k != LINE}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _free_form(text: str) -> dict:
    args = {}
    try:
        words = shlex.split(text)
    except ValueError:
        return {"_raw_params": text}
    for word in words:
        key, sep, value = word.partition("=")
        if sep:
            args[key] = value
    return args


_SIMPLE_VAR = re.compile(r"^\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$")


def _resolve(value, variables: Mapping):
    """An argument that is exactly one variable ({{ name }}) takes its value from the change's vars or the role's
    defaults; anything else stays as written (and a mode that stays a template counts as unknown)."""
    if isinstance(value, str):
        found = _SIMPLE_VAR.match(value.strip())
        if found and found.group(1) in variables:
            return variables[found.group(1)]
    return value


def task_facts(path: str, display: str | None = None, variables: Mapping | None = None) -> list:
    """Facts of every task in a tasks file (blocks followed), each with its file and line."""
    import yaml

    variables = variables or {}

    display = display or path
    try:
        with open(path, encoding="utf-8") as fh:
            doc = yaml.load(fh, Loader=_loader())  # noqa: S506 - a SafeLoader subclass that adds line numbers
    except OSError as exc:
        raise ComplianceError(f"cannot read tasks file {display}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ComplianceError(f"tasks file {display} is not valid YAML: {exc}") from None
    out = []

    def walk(tasks):
        for task in tasks or []:
            if not isinstance(task, Mapping):
                continue
            if any(k in task for k in BLOCK_KEYS):
                for key in BLOCK_KEYS:
                    walk(task.get(key))
                continue
            modules = [k for k in task if k not in TASK_KEYWORDS and k != LINE]
            module = modules[0] if modules else str(task.get("action") or "")
            args = task.get(module) if modules else task.get("args")
            args = _free_form(args) if isinstance(args, str) else _strip(args or {})
            if isinstance(task.get("args"), Mapping):
                args = {**_strip(task["args"]), **args}
            args = {k: _resolve(v, variables) for k, v in args.items()} if isinstance(args, Mapping) else {}
            short = module.rsplit(".", 1)[-1]
            target = args.get("dest") or args.get("path") or args.get("name") if short in FILE_MODULES else None
            meaning = (
                _file_meaning(target, args.get("mode"), args.get("state"))
                if short in FILE_MODULES
                else _file_meaning(None, None)
            )
            out.append(
                {
                    "file": display,
                    "line": task.get(LINE, 0),
                    "name": str(task.get("name") or ""),
                    "module": short,
                    "fqcn": module,
                    "args": args,
                    "become": bool(task.get("become")),
                    "no_log": bool(task.get("no_log")),
                    **meaning,
                }
            )

    walk(doc if isinstance(doc, list) else [])
    return out


def role_task_facts(role_path: str, variables: Mapping | None = None) -> list:
    """Facts of every tasks file of a role (tasks/*.yml and *.yaml), paths shown relative to the role; ``variables``
    (the change's vars) over the role's defaults/main.yml resolve arguments that are one variable."""
    import yaml

    tasks_dir = os.path.join(role_path, "tasks")
    if not os.path.isdir(tasks_dir):
        raise ComplianceError(f"role {role_path} has no tasks directory")
    defaults = {}
    for name in ("main.yml", "main.yaml"):
        candidate = os.path.join(role_path, "defaults", name)
        if os.path.exists(candidate):
            with open(candidate, encoding="utf-8") as fh:
                defaults = yaml.safe_load(fh) or {}
            break
    merged = {**(defaults if isinstance(defaults, Mapping) else {}), **(variables or {})}
    out = []
    name = os.path.basename(role_path.rstrip("/"))
    for entry in sorted(os.listdir(tasks_dir)):
        if entry.endswith((".yml", ".yaml")):
            out += task_facts(os.path.join(tasks_dir, entry), f"{name}/tasks/{entry}", merged)
    return out


def file_facts(results: Iterable) -> list:
    """Facts of the files a check-mode run reported: results of file tasks (path or dest, mode, diff)."""
    out = []
    for i, res in enumerate(results or []):
        if not isinstance(res, Mapping):
            raise ComplianceError(f"results[{i}] must be a task result mapping")
        path = res.get("dest") or res.get("path")
        diffs = res.get("diff") or []
        diffs = diffs if isinstance(diffs, list) else [diffs]
        after_mode = res.get("mode")
        for d in diffs:
            after = d.get("after") if isinstance(d, Mapping) else None
            if isinstance(after, Mapping) and after.get("mode") is not None:
                after_mode = after["mode"]
        out.append(
            {
                "host": str(res.get("host") or res.get("_host") or ""),
                "task": str(res.get("task") or ""),
                "task_path": str(res.get("task_path") or ""),
                "changed": bool(res.get("changed")),
                "before": next((d.get("before") for d in diffs if isinstance(d, Mapping) and "before" in d), None),
                "after": next((d.get("after") for d in diffs if isinstance(d, Mapping) and "after" in d), None),
                **_file_meaning(path, after_mode, res.get("state")),
            }
        )
    return out


# -- check-mode rendering ------------------------------------------------------------------------------------------
RENDER_CALLBACK = "changeward.hybrid.check_diffs"


def render_playbook(apply: Mapping) -> list:
    """The play that runs a change's role or tasks file as the main job's apply step does (its vars as facts, so
    they outrank role defaults), for a check-and-diff run."""
    kind = apply.get("kind") or ("role" if apply.get("role") else "tasks" if apply.get("tasks") else None)
    if kind == "role":
        step = {"name": "The change's role", "ansible.builtin.include_role": {"name": apply["role"]}}
    elif kind == "tasks":
        step = {"name": "The change's tasks", "ansible.builtin.include_tasks": os.path.abspath(apply["tasks"])}
    else:
        raise ComplianceError(f"render_on: a change applied as {kind!r} has no tasks to render (role or tasks only)")
    tasks = []
    if apply.get("vars"):
        tasks.append({"name": "The change's variables", "ansible.builtin.set_fact": dict(apply["vars"])})
    return [{"name": "Render the change in check mode", "hosts": "all", "gather_facts": False, "tasks": [*tasks, step]}]


def render_check(apply: Mapping, hosts: Iterable, inventories: Iterable, timeout: float = 600) -> list:
    """Run the change's role or tasks in check and diff mode on ``hosts`` (a separate ansible-playbook with the
    check_diffs callback) and return the results that have a diff. Fails closed: a host that failed, was not
    reached or was not rendered at all is an error, not a pass."""
    import json
    import shutil
    import subprocess
    import sys
    import tempfile

    hosts = [str(h) for h in hosts]
    inventories = [str(i) for i in inventories or ()]
    if not hosts:
        raise ComplianceError("render_on: no host to render the change on")
    if not inventories:
        raise ComplianceError("render_on: the run's inventory sources are unknown; cannot render on its hosts")
    binary = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    if not os.access(binary, os.X_OK):
        binary = shutil.which("ansible-playbook") or ""
    if not binary:
        raise ComplianceError("render_on: ansible-playbook not found beside this Python or on PATH")
    from ansible import constants

    enabled = [c for c in (constants.CALLBACKS_ENABLED or []) if c != RENDER_CALLBACK] + [RENDER_CALLBACK]
    with tempfile.TemporaryDirectory(prefix="changeward-render-") as tmp:
        play, out = os.path.join(tmp, "render.yml"), os.path.join(tmp, "results.jsonl")
        # the change's vars may hold secrets: the directory is private (0700) and removed with everything in it
        with open(play, "w", encoding="utf-8") as fh:
            # JSON is YAML, and json takes the str subclasses Ansible hands over (yaml.safe_dump refuses them)
            json.dump(render_playbook(apply), fh, default=str)
        argv = [binary, play, "--check", "--diff", "--limit", ",".join(hosts)]
        for inv in inventories:
            argv += ["-i", inv]
        env = {
            **os.environ,
            "ANSIBLE_CALLBACKS_ENABLED": ",".join(enabled),
            "CHANGEWARD_CHECK_DIFFS_FILE": out,
            "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.minimal",
            "ANSIBLE_RETRY_FILES_ENABLED": "false",
        }
        try:
            # stdin from /dev/null: a worker's own stdin is non-blocking, which ansible-playbook refuses to start with
            proc = subprocess.run(
                argv,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ComplianceError(f"render_on: the check-mode run did not end in {timeout:g} s") from None
        rows = []
        if os.path.exists(out):
            with open(out, encoding="utf-8") as fh:
                rows = [json.loads(line) for line in fh if line.strip()]
    bad = [r for r in rows if r.get("failed")]
    if bad:
        first = bad[0]
        raise ComplianceError(
            f"render_on: the change could not be rendered in check mode on {first['host']} at task "
            f"'{first['task']}' ({first['task_path']}): {first.get('msg') or 'failed'}"
        )
    if proc.returncode != 0:
        # no secret in the message: ansible's own summary lines only
        # ansible's own summary lines, and its ERROR lines (which name what stopped it before any task)
        errors = [line for line in proc.stderr.splitlines() if line.startswith(("ERROR", "[ERROR]"))]
        tail = " | ".join([*(line for line in proc.stdout.splitlines()[-5:] if line.strip()), *errors[-2:]])
        raise ComplianceError(f"render_on: the check-mode run failed (rc {proc.returncode}): {tail[-600:]}")
    return [r for r in rows if r.get("dest") or r.get("path")]


# -- rules -----------------------------------------------------------------------------------------------------------
def compile_rules(rules: Iterable, builtin: bool = True) -> list:
    """[(rule, program)] of the built-in and the given rules; a rule that does not compile is an error."""
    try:
        import celpy
    except ImportError as exc:
        raise ComplianceError(f"compliance rules need cel-python on the controller ({exc})") from None
    env = celpy.Environment()
    out = []
    given = list(BUILTIN_RULES if builtin else ()) + list(rules or ())
    for i, rule in enumerate(given):
        if not isinstance(rule, Mapping) or not rule.get("name") or not rule.get("expression"):
            raise ComplianceError(f"rules[{i}]: a rule needs name, applies_to and expression")
        if rule.get("applies_to") not in KINDS:
            raise ComplianceError(f"rule {rule['name']}: applies_to must be one of {', '.join(KINDS)}")
        try:
            program = env.program(env.compile(rule["expression"]))
        except Exception as exc:  # cel-python raises its own parse errors; name the rule
            raise ComplianceError(f"rule {rule['name']}: expression does not compile: {exc}") from None
        out.append((dict(rule), program))
    return out


def _where(kind: str, fact: Mapping) -> str:
    if kind == "task":
        return f"{fact['file']}:{fact['line']}" + (f" (task '{fact['name']}')" if fact.get("name") else "")
    if kind == "file":
        where = f"{fact['host'] + ':' if fact.get('host') else ''}{fact['path']}"
        if fact.get("task_path"):
            where += f" (task '{fact.get('task') or '?'}' at {fact['task_path']})"
        return where
    return "change spec"


def evaluate(compiled: list, facts: Mapping) -> dict:
    """Every rule over every fact of its kind; {violations, checked, passed}."""
    import celpy

    violations = []
    checked = 0
    for rule, program in compiled:
        kind = rule["applies_to"]
        if kind == "spec":
            items = [facts["spec"]] if facts.get("spec") is not None else []
        else:
            items = facts.get(kind + "s") or []
        for fact in items:
            checked += 1
            try:
                ok = program.evaluate({kind: celpy.json_to_cel(_plain(fact))})
                error = None if isinstance(ok, celpy.celtypes.BoolType) else f"not a boolean: {ok!r}"
            except Exception as exc:  # a rule that cannot be evaluated fails closed
                ok, error = False, str(exc)
            if isinstance(ok, celpy.CELEvalError):
                ok, error = False, str(ok)
            if error or not bool(ok):
                row = {
                    "rule": rule["name"],
                    "applies_to": kind,
                    "where": _where(kind, fact),
                    "message": rule.get("message") or rule["expression"],
                }
                if kind == "task":
                    row.update(file=fact["file"], line=fact["line"], task=fact["name"], path=fact.get("path"))
                elif kind == "file":
                    row.update(host=fact.get("host"), path=fact["path"])
                if error:
                    row["message"] = f"rule cannot be evaluated (fails closed): {error}"
                violations.append(row)
    return {"violations": violations, "checked": checked, "passed": not violations}


def _plain(value):
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def summary(result: Mapping) -> str:
    if result["passed"]:
        return f"{result['checked']} check(s), no violation"
    return "; ".join(f"rule {v['rule']} at {v['where']}: {v['message']}" for v in result["violations"])
