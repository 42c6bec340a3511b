"""Integration tests run real playbooks over SSH against the lab.

The lab is brought up once per session (if it is not up already) and torn down at the end when this
session started it, whatever the outcome.
"""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "lab"))

from cwlab import pytest_fixtures  # noqa: E402

# The session fixture `lab`: brings the lab up, and down at the end if this session started it.
lab = pytest_fixtures.lab

INVENTORY_DIR = REPO / "inventories" / "lab" / "generated"

# The lowest and highest ansible-core this collection supports that install here.
VENVS = [(name, core) for name, core in ((".venv", "2.19"), (".venv313", "2.21")) if (REPO / name / "bin").is_dir()]


def ansible_env(**extra):
    env = dict(os.environ)
    env.update(ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", **extra)
    env.pop("PYTHONPATH", None)
    return env


@pytest.fixture(params=VENVS, ids=[v[1] for v in VENVS])
def venv(request):
    """(venv bin dir, ansible-core line) for each supported ansible-core that is installed."""
    name, core = request.param
    return REPO / name / "bin", core


def _postgres(action):
    service = REPO / "scripts" / "services" / "postgres.sh"
    return subprocess.run(["bash", str(service), action], capture_output=True, text=True, timeout=600, check=False)


@pytest.fixture(scope="session")
def pg_dsn():
    """The DSN of the tests' PostgreSQL server (scripts/services/postgres.sh), stopped at the end if started here."""
    started = _postgres("status").returncode != 0
    if started:
        res = _postgres("start")
        assert res.returncode == 0, res.stderr[-2000:]
    try:
        dsn = _postgres("dsn").stdout.strip()
        assert dsn.startswith("postgresql://")
        yield dsn
    finally:
        if started:
            _postgres("stop")


@pytest.fixture
def schema(pg_dsn):
    """A schema of its own for one test, dropped afterwards."""
    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    yield name
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
