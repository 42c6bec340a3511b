"""No plugin, option or role claims to be added in a release after the collection's own version (galaxy.yml):
version_added is what users read to know which release they need."""

import ast
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
VERSION = yaml.safe_load((REPO / "galaxy.yml").read_text())["version"]


def release(text):
    return tuple(int(part) for part in str(text).split("."))


def documentation(path):
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "DOCUMENTATION" for t in node.targets):
            return yaml.safe_load(node.value.value)
    return None


def claims(doc, where):
    """(where, version_added) of the document and of every option in it, suboptions included."""
    if isinstance(doc, dict):
        if "version_added" in doc:
            yield where, doc["version_added"]
        for key, value in doc.items():
            yield from claims(value, f"{where}.{key}")
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            yield from claims(value, f"{where}[{i}]")


DOCUMENTED = sorted(p for p in (REPO / "plugins").rglob("*.py") if "utils" not in p.parts and p.name != "__init__.py")
ROLE_SPECS = sorted((REPO / "roles").glob("*/meta/argument_specs.yml"))


@pytest.mark.parametrize("path", DOCUMENTED + ROLE_SPECS, ids=lambda p: str(p.relative_to(REPO)))
def test_version_added_is_not_after_the_collection_version(path):
    doc = yaml.safe_load(path.read_text()) if path.suffix == ".yml" else documentation(path)
    late = [(where, v) for where, v in claims(doc, path.stem) if release(v) > release(VERSION)]
    assert not late, f"{path.relative_to(REPO)}: version_added after the collection's {VERSION} (galaxy.yml): {late}"


def test_the_plugins_are_found():
    assert len(DOCUMENTED) > 40 and any(p.name == "change_record.py" for p in DOCUMENTED)
