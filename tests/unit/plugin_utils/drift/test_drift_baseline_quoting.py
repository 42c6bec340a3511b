"""No value of the drift_baseline role's variables is parsed as shell code: a package name, version or path
that tries to run a command (a quote to break out, $(...) inside double quotes) runs nothing, in a real
ansible-playbook run of the role's render tasks on the local connection."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[4]
PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"

pytestmark = pytest.mark.skipif(
    not PLAYBOOK.exists() or not os.path.exists("/usr/bin/dpkg-deb"), reason="needs ansible-playbook and dpkg-deb"
)


def render(tmp_path, packages):
    cfg = tmp_path / "ansible.cfg"
    cfg.write_text(f"[defaults]\ncollections_path = {REPO / 'collections'}\n")
    play = [
        {
            "hosts": "localhost",
            "connection": "local",
            "gather_facts": False,
            "vars": {
                "ansible_python_interpreter": sys.executable,
                "drift_baseline_packages": packages,
                "drift_baseline_files": [],
                "drift_baseline_trees": [],
                "drift_baseline_services": [],
                "drift_baseline_sysctls": [],
            },
            "tasks": [
                {
                    "ansible.builtin.include_role": {
                        "name": "changeward.hybrid.drift_baseline",
                        "tasks_from": "render.yml",
                    }
                }
            ],
        }
    ]
    path = tmp_path / "play.yml"
    path.write_text(yaml.safe_dump(play))
    env = dict(os.environ, ANSIBLE_CONFIG=str(cfg), ANSIBLE_NOCOLOR="1")
    env.pop("PYTHONPATH", None)
    return subprocess.run(
        [str(PLAYBOOK), "-i", "localhost,", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_a_plain_package_is_built(tmp_path):
    deb = tmp_path / "out" / "cw-probe_1.0-1_all.deb"
    proc = render(tmp_path, [{"name": "cw-probe", "version": "1.0-1", "deb": str(deb)}])
    assert proc.returncode == 0, proc.stdout[-3000:]
    info = subprocess.run(
        ["dpkg-deb", "-f", str(deb), "Package", "Version"], capture_output=True, text=True, check=True
    )
    assert info.stdout.split() == ["Package:", "cw-probe", "Version:", "1.0-1"]


@pytest.mark.parametrize(
    "field, template",
    [
        ("name", "x; touch {mark}"),
        ("name", "x$(touch {mark})"),
        ("name", "x'; touch {mark}; echo '"),
        ("name", 'x"; touch {mark}; echo "'),
        ("version", "1'; touch {mark}; echo '"),
        ("version", "1$(touch {mark})"),
        ("deb", "{tmp}/x$(touch {mark}).deb"),
        ("deb", "{tmp}/x'; touch {mark}; echo '.deb"),
    ],
)
def test_a_value_that_tries_to_run_a_command_runs_nothing(tmp_path, field, template):
    mark = tmp_path / "pwned"
    package = {"name": "cw-probe", "version": "1.0-1", "deb": str(tmp_path / "cw-probe.deb")}
    package[field] = template.format(mark=mark, tmp=tmp_path)
    proc = render(tmp_path, [package])
    assert not mark.exists(), f"the {field} {package[field]!r} ran a command:\n{proc.stdout[-3000:]}"
    if field != "deb":  # a malformed name or version is refused by name, before anything is built
        assert proc.returncode != 0 and "not a Debian package name" in proc.stdout, proc.stdout[-3000:]
