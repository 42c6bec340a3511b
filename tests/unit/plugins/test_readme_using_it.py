"""The README's "Using it" example, run as written against the controller itself: a snapshot, the change, a
rollback that verifies. Only its two paths are moved into the test's directory."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
EXAMPLE_FILE = "/etc/changeward-example.conf"
EXAMPLE_STORE = "/var/lib/changeward/snapshots"


def using_it_example() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Using it", 1)[1].split("\n### ", 1)[0]
    blocks = re.findall(r"```yaml\n(.*?)```", section, re.S)
    assert len(blocks) == 1, "the README's Using it section shows one playbook"
    return blocks[0]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("using_it")
    text = using_it_example()
    assert EXAMPLE_FILE in text and EXAMPLE_STORE in text, "the example's paths changed; update this test"
    target, store = tmp / "changeward-example.conf", tmp / "snapshots"
    text = text.replace(EXAMPLE_FILE, str(target)).replace(EXAMPLE_STORE, str(store))
    play = yaml.safe_load(text)
    # Save what the rollback returned, to assert on more than the exit status.
    play[0]["tasks"].append(
        {
            "name": "Save",
            "ansible.builtin.copy": {"dest": str(tmp / "rolled_back.json"), "content": "{{ rolled_back | to_json }}"},
        }
    )
    (tmp / "play.yml").write_text(yaml.safe_dump(play, sort_keys=False))
    (tmp / "ansible.cfg").write_text(f"[defaults]\ncollections_path = {REPO / 'collections'}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHANGEWARD_", "ANSIBLE_"))}
    env.pop("PYTHONPATH", None)
    env.update(ANSIBLE_CONFIG=str(tmp / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="0")
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            *("-e", f"ansible_python_interpreter={sys.executable}", str(tmp / "play.yml")),
        ],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return {"proc": proc, "target": target, "store": store, "tmp": tmp}


def test_the_example_runs_as_written(run):
    proc = run["proc"]
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_the_rollback_put_the_host_back(run):
    result = json.loads((run["tmp"] / "rolled_back.json").read_text())
    assert result["verified"] is True and result["changed"] is True
    # The file did not exist before the change, so rolling back removes it.
    assert not run["target"].exists()
    assert result["restored"] == [f"absent:{run['target']} (removed: the change added it)"], result
