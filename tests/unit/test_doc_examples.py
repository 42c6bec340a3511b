"""The examples in the documentation use only options that exist.

Every YAML block of the shipped Markdown (README, docs/, role READMEs) and every plugin's EXAMPLES is read as
plays or tasks; each task that calls a changeward.hybrid module may give only the options (or aliases) that
ansible-doc documents for it - suboptions too, where the example writes the mapping out - and each use of a
changeward.hybrid role only variables its argument spec has. Examples that run end to end are run by their own
tests (test_module_defaults_readme.py, test_readme_using_it.py); this catches the rest drifting from the code.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PREFIX = "changeward.hybrid."
TASK_LISTS = ("tasks", "pre_tasks", "post_tasks", "handlers", "block", "rescue", "always")


def markdown_files() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md")), *sorted((REPO / "roles").glob("*/README.md"))]


def yaml_blocks(path: Path):
    text = path.read_text(encoding="utf-8")
    for match in re.finditer(r"```ya?ml\n(.*?)```", text, re.S):
        line = text.count("\n", 0, match.start()) + 2
        yield f"{path.relative_to(REPO)}:{line}", match.group(1)


def modules() -> list[Path]:
    """The modules git knows (a file still being written in the checkout is not the collection's yet)."""
    out = subprocess.run(
        ["git", "ls-files", "plugins/modules/*.py"], cwd=REPO, capture_output=True, text=True, check=True
    )
    return [REPO / line for line in out.stdout.split()]


def plugin_examples():
    for path in modules():
        match = re.search(r'EXAMPLES = r?"""(.*?)"""', path.read_text(encoding="utf-8"), re.S)
        if match:
            yield f"{path.relative_to(REPO)}:EXAMPLES", match.group(1)


def tasks_in(doc):
    """Every task mapping in a document of plays, tasks or a single task; roles as (name, vars) pairs."""
    if isinstance(doc, list):
        for item in doc:
            yield from tasks_in(item)
    elif isinstance(doc, dict):
        if any(key in doc for key in TASK_LISTS) or "roles" in doc:
            for key in TASK_LISTS:
                yield from tasks_in(doc.get(key) or [])
            for role in doc.get("roles") or []:
                if isinstance(role, dict):
                    yield ("role", role.get("role") or role.get("name"), {**role.get("vars", {}), **role})
        else:
            yield ("task", doc, None)


@pytest.fixture(scope="module")
def module_docs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("doc_examples")
    (tmp / "ansible.cfg").write_text(f"[defaults]\ncollections_path = {REPO / 'collections'}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_CONFIG=str(tmp / "ansible.cfg"))
    names = [PREFIX + p.stem for p in modules()]
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-doc"), "-t", "module", "--json", *names],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {name: doc["doc"].get("options") or {} for name, doc in json.loads(proc.stdout).items()}


def accepted(options: dict) -> dict:
    """Every name an option may be given by (its aliases too) -> the option."""
    out = {}
    for name, option in options.items():
        for alias in [name, *(option.get("aliases") or [])]:
            out[alias] = option
    return out


def unknown_keys(args: dict, options: dict, where: str) -> list[str]:
    names = accepted(options)
    found = []
    for key, value in args.items():
        if key not in names:
            found.append(f"{where}: {key}")
        elif isinstance(value, dict) and names[key].get("suboptions"):
            found += unknown_keys(value, names[key]["suboptions"], f"{where}.{key}")
    return found


def role_options(role: str) -> set[str]:
    specs = yaml.safe_load((REPO / "roles" / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    return {name for spec in specs.values() for name in spec["options"]}


TASK_KEYWORDS = {"role", "name", "vars", "tags", "when", "tasks_from", "apply", "become", "delegate_to"}


def test_examples_use_only_documented_options(module_docs):
    problems, calls = [], 0
    sources = [block for path in markdown_files() for block in yaml_blocks(path)] + list(plugin_examples())
    for where, text in sources:
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError:
            continue  # a fragment of a larger file, not plays or tasks
        for kind, item, extra in tasks_in(doc):
            if kind == "role":
                if isinstance(item, str) and item.startswith(PREFIX):
                    role = item[len(PREFIX) :]
                    given = {k for k in extra if k not in TASK_KEYWORDS}
                    problems += [f"{where}: role {role}: {k}" for k in sorted(given - role_options(role))]
                    calls += 1
                continue
            for key, args in item.items():
                if key.startswith(PREFIX) and key in module_docs and isinstance(args, dict):
                    problems += unknown_keys(args, module_docs[key], f"{where}: {key}")
                    calls += 1
    # the walk must find the examples, or passing would mean nothing
    assert calls >= 50, f"only {calls} example calls found"
    assert not problems, "examples give options the code does not have:\n" + "\n".join(problems)
