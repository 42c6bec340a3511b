"""An execution environment built from the collection gets what its plugins need.

The collection is built from the checkout's files and installed into a scratch collections path, then
`ansible-builder introspect` - what ansible-builder runs when it assembles an EE - reads its
meta/execution-environment.yml. It must list every runtime requirement of requirements.txt and the system
packages of bindep.txt, and none of the project's lint or test tools (those stay in requirements/*.lock.txt).
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# ansible-builder drops these itself: ansible-core already brings them (introspect.EXCLUDE_REQUIREMENTS).
PROVIDED_BY_ANSIBLE_CORE = {"pyyaml"}
DEV_ONLY = ("ansible-lint", "pytest", "ruff", "ansible-builder", "antsibull-changelog", "molecule")


def requirement_lines(path: Path) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line]


def name_of(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower()


@pytest.fixture(scope="module")
def introspected(tmp_path_factory):
    for tool in ("ansible-galaxy", "ansible-builder"):
        if not (BIN / tool).exists():
            pytest.fail(f"{tool} is not in this venv ({BIN}); it is in requirements/*.lock.txt")
    work = tmp_path_factory.mktemp("ee")
    src = work / "src"
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        check=True,
        capture_output=True,
    ).stdout.decode()
    for rel in listed.split("\0"):
        if not rel or rel.startswith("collections/") or not (REPO / rel).is_file():
            continue
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, src / rel)
    # Away from the checkout's ansible.cfg, whose collections path already holds this collection.
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env["ANSIBLE_CONFIG"] = str(work / "none.cfg")
    run = {"cwd": work, "env": env, "capture_output": True, "text": True, "timeout": 300}
    build = [str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(work), str(src)]
    subprocess.run(build, check=True, **run)
    (tarball,) = work.glob("changeward-hybrid-*.tar.gz")
    installed = work / "installed"
    install = [str(BIN / "ansible-galaxy"), "collection", "install", "-p", str(installed), str(tarball)]
    subprocess.run(install, check=True, **run)
    out = subprocess.run([str(BIN / "ansible-builder"), "introspect", str(installed)], check=True, **run).stdout
    data = yaml.safe_load(out)
    assert isinstance(data, dict), out
    return {kind: [entry.split("#", 1)[0].strip() for entry in data.get(kind) or []] for kind in ("python", "system")}


def test_introspect_lists_every_runtime_python_requirement(introspected):
    wanted = [
        line for line in requirement_lines(REPO / "requirements.txt") if name_of(line) not in PROVIDED_BY_ANSIBLE_CORE
    ]
    assert wanted, "requirements.txt lists nothing"
    assert sorted(introspected["python"]) == sorted(wanted)


def test_introspect_lists_the_bindep_file(introspected):
    wanted = requirement_lines(REPO / "bindep.txt")
    assert any(line.startswith("openssh-client ") for line in wanted)  # ssh-keygen verifies signed approvals
    assert sorted(introspected["system"]) == sorted(wanted)


def test_no_lint_or_test_tool_reaches_an_execution_environment(introspected):
    names = {name_of(line) for line in introspected["python"]}
    assert not names & set(DEV_ONLY)


def test_meta_points_at_the_runtime_files():
    meta = yaml.safe_load((REPO / "meta" / "execution-environment.yml").read_text(encoding="utf-8"))
    assert meta["dependencies"] == {"python": "requirements.txt", "system": "bindep.txt"}
