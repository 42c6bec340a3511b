"""Run a real ansible-playbook against the checkout's collection and read back what the tasks registered."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[4]
# The lowest and highest ansible-core this collection supports that are installed here.
VENVS = [name for name in (".venv", ".venv313") if (REPO / name / "bin" / "ansible-playbook").exists()]


def run_playbook(venv: str, workdir: Path, tasks: list[dict], registered: list[str], hostvars: dict | None = None):
    """(results by registered name, completed process). Every task should register and ignore errors."""
    out = workdir / "results.json"
    dump = {"ansible.builtin.copy": {"dest": str(out), "content": "{{ " + _dict_expr(registered) + " | to_json }}"}}
    play = [{"name": "t", "hosts": "localhost", "gather_facts": False, "tasks": [*tasks, dump]}]
    (workdir / "play.yml").write_text(yaml.safe_dump(play, sort_keys=False))
    hosts = {h: {"ansible_connection": "local", **v} for h, v in (hostvars or {}).items()}
    local = {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}
    inventory = {"all": {"hosts": {"localhost": local, **hosts}}}
    (workdir / "inventory.yml").write_text(yaml.safe_dump(inventory))
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.update(ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="0")
    proc = subprocess.run(
        [
            str(REPO / venv / "bin" / "ansible-playbook"),
            "-v",
            "-i",
            str(workdir / "inventory.yml"),
            str(workdir / "play.yml"),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.exists(), f"playbook did not finish:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return json.loads(out.read_text()), proc


def _dict_expr(names: list[str]) -> str:
    return "{" + ", ".join(f"'{n}': {n}" for n in names) + "}"
