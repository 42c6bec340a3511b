"""docs/regional-teams.md, run as written: every ```sh block of the page, in order, in one shell in the checkout
(with the checkout's .venv/bin first on PATH), and every line of the ```text block after it printed by that step.
A `...` in an expected line stands for anything; the parts around it must all be in the step's output."""

import re
import subprocess

import pytest
from conftest import REPO, ansible_env

pytestmark = pytest.mark.reservation("cloud-onprem")

DOC = REPO / "docs" / "regional-teams.md"
BLOCK = re.compile(r"```sh\n(.*?)```\s*(?:.*?```text\n(.*?)```)?", re.S)
MARK = "@@changeward-step@@"
# Step 7 runs the approved change: the main job must hand changeward_approvals to its approval gate.
APPROVED_STEP = 7


def steps():
    text = DOC.read_text()
    heads = re.findall(r"^## (\d+)\. (.*)$", text, re.M)
    bodies = re.split(r"^## \d+\. .*$", text, flags=re.M)[1:]
    out = []
    for (number, title), body in zip(heads, bodies, strict=True):
        found = BLOCK.search(body)
        assert found, f"step {number} ({title}) has no sh block"
        out.append((int(number), title, found.group(1), (found.group(2) or "").strip()))
    return out


def approvals_wired() -> bool:
    return "changeward_approvals" in (REPO / "playbooks" / "change.yml").read_text()


@pytest.fixture(scope="module")
def walk(lab, tmp_path_factory):
    script = ["exec 2>&1"]
    for number, _title, commands, _expected in steps():
        script += [f"echo '{MARK} {number}'", commands]
    env = ansible_env()
    env["PATH"] = f"{REPO / '.venv' / 'bin'}:{env.get('PATH', '')}"
    for name in ("CHANGEWARD_LEDGER", "CHANGEWARD_LEDGER_KEY", "WALK"):
        env.pop(name, None)
    env["TMPDIR"] = str(tmp_path_factory.mktemp("walk"))  # the page's mktemp -d lands in pytest's tmp tree
    proc = subprocess.run(
        ["bash", "-c", "\n".join(script)], cwd=REPO, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    outputs = {}
    for chunk in proc.stdout.split(MARK)[1:]:
        number, _unused, output = chunk.partition("\n")
        outputs[int(number)] = output
    print(proc.stdout[-8000:])
    return outputs


def expected_lines(expected):
    return [line for line in expected.splitlines() if line.strip()]


def check(output, expected, where):
    for line in expected_lines(expected):
        for part in (p.strip() for p in line.split("...")):
            assert part in output, f"{where}: expected {part!r} in:\n{output[-3000:]}"


@pytest.mark.parametrize("number", [n for n, *_unused in steps() if n != APPROVED_STEP])
def test_each_step_prints_what_the_page_says(walk, number):
    (_unused, title, _commands, expected) = next(s for s in steps() if s[0] == number)
    assert expected, f"step {number} ({title}) shows no output"
    check(walk[number], expected, f"step {number} ({title})")


def test_the_approved_change_runs(walk):
    if not approvals_wired():
        pytest.skip(
            "playbooks/change.yml does not yet pass changeward_approvals to its approval gate (issue 12, item 2)"
        )
    (_unused, title, _commands, expected) = next(s for s in steps() if s[0] == APPROVED_STEP)
    check(walk[APPROVED_STEP], expected, f"step {APPROVED_STEP} ({title})")
