"""Each action plugin's argument spec is what its module documentation says: option names, types, defaults,
choices, elements, aliases, required (and suboptions), the doc fragments included. ansible-test validate-modules
checks only the modules' own specs; the controller actions validate their arguments with the spec here."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import yaml

from ansible_collections.changeward.hybrid.plugins.plugin_utils.action_base import ControllerAction, TargetAction

REPO = Path(__file__).resolve().parents[4]
PKG = "ansible_collections.changeward.hybrid.plugins"
ACTIONS = sorted(p.stem for p in (REPO / "plugins" / "action").glob("*.py") if p.stem != "__init__")
# Actions another piece of work is changing right now: strict, so the entry goes once they agree.
KNOWN: dict = {}


def fragment_options(name: str) -> dict:
    """Options of a doc fragment: changeward.hybrid.<file>[.<attr>] or ansible.builtin.<file>[.<attr>]."""
    parts = name.split(".")
    ns, coll, rest = parts[0], parts[1], parts[2:]
    module = rest[0]
    attr = (rest[1] if len(rest) > 1 else "documentation").upper()
    if (ns, coll) == ("changeward", "hybrid"):
        mod = importlib.import_module(f"{PKG}.doc_fragments.{module}")
    else:
        assert (ns, coll) == ("ansible", "builtin"), name
        mod = importlib.import_module(f"ansible.plugins.doc_fragments.{module}")
    return (yaml.safe_load(getattr(mod.ModuleDocFragment, attr)) or {}).get("options") or {}


def documented_options(name: str) -> dict:
    doc = yaml.safe_load(importlib.import_module(f"{PKG}.modules.{name}").DOCUMENTATION)
    options = dict(doc.get("options") or {})
    for fragment in doc.get("extends_documentation_fragment") or []:
        for key, value in fragment_options(fragment).items():
            assert key not in options, f"{name}: option {key} documented twice (fragment {fragment})"
            options[key] = value
    return options


def action_spec(name: str) -> dict | None:
    mod = importlib.import_module(f"{PKG}.action.{name}")
    cls = mod.ActionModule
    if issubclass(cls, TargetAction):
        return None  # the module itself validates (validate-modules holds its spec to its docs)
    if issubclass(cls, ControllerAction):
        return cls.argument_spec()
    return mod.ARGUMENT_SPEC


def differences(spec: dict, docs: dict, where: str = "") -> list:
    out = []
    for key in sorted(set(spec) - set(docs)):
        out.append(f"{where}{key}: in the argument spec, not documented")
    for key in sorted(set(docs) - set(spec)):
        out.append(f"{where}{key}: documented, not in the argument spec")
    for key in sorted(set(spec) & set(docs)):
        s, d = spec[key], docs[key]
        at = f"{where}{key}"
        if s.get("type", "str") != d.get("type", "str"):
            out.append(f"{at}: type {s.get('type', 'str')} in the spec, {d.get('type', 'str')} in the docs")
        if s.get("elements") != d.get("elements"):
            out.append(f"{at}: elements {s.get('elements')} in the spec, {d.get('elements')} in the docs")
        if s.get("default") != d.get("default"):
            out.append(f"{at}: default {s.get('default')!r} in the spec, {d.get('default')!r} in the docs")
        if sorted(map(str, s.get("choices") or [])) != sorted(map(str, d.get("choices") or [])):
            out.append(f"{at}: choices {s.get('choices')} in the spec, {d.get('choices')} in the docs")
        if bool(s.get("required")) != bool(d.get("required")):
            out.append(f"{at}: required {bool(s.get('required'))} in the spec, {bool(d.get('required'))} in the docs")
        if sorted(s.get("aliases") or []) != sorted(d.get("aliases") or []):
            out.append(f"{at}: aliases {s.get('aliases')} in the spec, {d.get('aliases')} in the docs")
        if s.get("options") or d.get("suboptions"):
            out += differences(s.get("options") or {}, d.get("suboptions") or {}, f"{at}.")
    return out


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=KNOWN[n])) if n in KNOWN else n for n in ACTIONS],
)
def test_argument_spec_matches_documentation(name):
    spec = action_spec(name)
    if spec is None:
        pytest.skip(f"{name} runs its module on the host; validate-modules checks that module's spec")
    assert differences(spec, documented_options(name)) == []


def test_each_kind_of_difference_is_found():
    spec = {
        "a": {"type": "int", "default": 1},
        "b": {"choices": ["x", "y"], "required": True},
        "c": {"type": "dict", "options": {"d": {"type": "bool"}}},
        "e": {},
    }
    docs = {
        "a": {"type": "float", "default": 2},
        "b": {"choices": ["x"]},
        "c": {"type": "dict", "suboptions": {"d": {"type": "str"}}},
        "f": {},
    }
    found = differences(spec, docs)
    assert found == [
        "e: in the argument spec, not documented",
        "f: documented, not in the argument spec",
        "a: type int in the spec, float in the docs",
        "a: default 1 in the spec, 2 in the docs",
        "b: choices ['x', 'y'] in the spec, ['x'] in the docs",
        "b: required True in the spec, False in the docs",
        "c.d: type bool in the spec, str in the docs",
    ]
