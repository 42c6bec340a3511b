"""The demo_release role's molecule scenario (extensions/molecule/lab), run with the delegated driver on lab hosts."""

import os
import subprocess

import pytest
from conftest import REPO, ansible_env

# The scenario's platforms: one cloud, one on-prem and one edge host (extensions/molecule/lab/molecule.yml).
pytestmark = pytest.mark.reservation("whole-lab")


def test_molecule_lab_scenario_converges_idempotently_and_verifies(lab):
    # molecule is pinned in the lowest ansible-core's environment; the role runs on both in the main job tests
    bindir = REPO / ".venv" / "bin"
    proc = subprocess.run(
        [str(bindir / "molecule"), "test", "--scenario-name", "lab"],
        cwd=REPO,
        env=ansible_env(PATH=f"{bindir}:{os.environ['PATH']}", NO_COLOR="1"),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    for step in ("converge", "idempotence", "verify"):
        assert f"[lab > {step}] Executed: Successful" in out, out[-4000:]
