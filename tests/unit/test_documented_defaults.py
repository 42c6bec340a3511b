"""Every default the Markdown documentation states is the one the code has (scalar and list defaults; a
structured one is summarised in prose, and the argument spec test holds it to defaults/main.yml).

The role READMEs' variable tables are read against the roles' meta/argument_specs.yml (itself tested against
defaults/main.yml), and the recorder's option table in docs/recorder-and-sinks.md against the callback's own
documented options, which ansible-test checks against the code. A literal default cell (one code span, or a
bare word or number) must equal the code's default; "-" means the code has none; a cell that names where the
default comes from must name what the argument spec says it comes from."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CODE = re.compile(r"^`([^`]+)`$")


def described(option: dict) -> str:
    """An option's description as one text (a string or a list of paragraphs)."""
    text = option.get("description") or ""
    return text if isinstance(text, str) else " ".join(text)


def table(path: Path, first_header: str) -> list[list[str]]:
    """The rows of the Markdown table whose header row starts with first_header, as lists of cell texts."""
    rows, inside = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]] if line.startswith("|") else None
        if cells and cells[0].lower() == first_header:
            inside = True
            continue
        if inside and cells is None:
            break
        if inside and not set(cells[0]) <= set("-: "):
            rows.append(cells)
    assert rows, f"{path}: no table headed {first_header!r}"
    return rows


def literal(cell: str):
    """(True, value) for a literal default cell, (False, None) for one that describes where it comes from."""
    cell = cell.replace("\\|", "|")
    match = CODE.match(cell)
    text = match.group(1) if match else cell
    if match or re.fullmatch(r"[\w.%-]+", cell):
        return True, yaml.safe_load(text)
    return False, None


def structured(value) -> bool:
    return isinstance(value, dict) or (isinstance(value, list) and any(isinstance(v, dict) for v in value))


def role_rows(role: str):
    specs = yaml.safe_load((REPO / "roles" / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    options = specs["main"]["options"]
    for cells in table(REPO / "roles" / role / "README.md", "variable"):
        names = re.findall(r"`([a-z_]+)`", cells[0])
        if len(names) != 1:
            continue  # a row about several variables states no default of its own
        yield names[0], cells[1], options


@pytest.mark.parametrize("role", ["ring_rollout", "drift_baseline"])
def test_role_readme_defaults_are_the_argument_specs(role):
    checked = 0
    for name, cell, options in role_rows(role):
        assert name in options, f"{role} README documents {name}, which the role does not have"
        option = options[name]
        if cell == "(required)":
            assert option.get("required") is True, name
        elif "default" not in option:
            # computed when the role runs: the README must name the source the argument spec names
            source = cell.strip("`")
            assert source and source in described(option), (name, cell)
        elif not structured(option["default"]):
            # (a structured default is summarised in prose; the argument spec test holds it to defaults/main.yml)
            is_literal, value = literal(cell)
            if is_literal:
                assert value == option["default"], (name, cell, option["default"])
        checked += 1
    assert checked >= 5, f"{role}: the README's variable table was not read"


def recorder_options() -> dict:
    text = (REPO / "plugins" / "callback" / "recorder.py").read_text(encoding="utf-8")
    doc = re.search(r'DOCUMENTATION = r?"""(.*?)"""', text, re.S).group(1)
    return yaml.safe_load(doc)["options"]


def test_recorder_option_table_has_the_callbacks_defaults():
    options = recorder_options()
    rows = table(REPO / "docs" / "recorder-and-sinks.md", "option")
    assert {CODE.match(r[0]).group(1) for r in rows} == set(options), "the table lists every option, no other"
    for cells in rows:
        name = CODE.match(cells[0]).group(1)
        option, env, default = options[name], cells[1], cells[2]
        envs = [e["name"] for e in option.get("env", [])]
        assert envs and f"`{envs[0]}`" in env, (name, env)
        if default == "-":
            assert option.get("default") in (None, []), (name, option.get("default"))
            continue
        is_literal, value = literal(default)
        if is_literal:
            assert value == option.get("default"), (name, default, option.get("default"))
        else:
            assert option.get("default") is None, (name, "computed default documented as a fixed one")
