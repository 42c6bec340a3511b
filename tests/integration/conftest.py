"""Integration tests run real playbooks over SSH against the lab.

The lab is brought up once per run (if it is not up already) and torn down at the end when this run
started it, whatever the outcome - also under pytest-xdist (cwlab.pytest_fixtures).

Suites run side by side on one lab: each test that uses lab hosts or a shared service states its group
with `pytest.mark.reservation(<group>)` (groups and their hosts: reservations.py). Here the tests are ordered
by group; under pytest-xdist (`-n 2`: scripts/test.sh, make integration) each group goes to one worker as a
whole; and the lab is held shared by a host group's tests and exclusive by `whole-lab` tests.
"""

import fcntl
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "lab"))

import reservations  # noqa: E402

from cwlab import pytest_fixtures  # noqa: E402

# The session fixture `lab`: the first process of the run that needs it brings the lab up; the run takes it
# down at the end if it started it (pytest_sessionfinish below).
lab = pytest_fixtures.lab
LAB_FIXTURES = ("lab",)


_access = None  # this process's hold on the lab (cwlab.pytest_fixtures.LabAccess)
GROUP_MAP = "groups.json"  # in the run directory: {nodeid: group}, written by the workers for the scheduler


def pytest_configure(config):
    global _access  # one per process, made once the run directory is known
    config.addinivalue_line(
        "markers",
        "reservation(group): the lab hosts and shared services the test uses (tests/integration/reservations.py); "
        "reservation(None) on a test of a reserved module: it uses neither",
    )
    pytest_fixtures.configure(config)
    _access = pytest_fixtures.LabAccess(pytest_fixtures.run_dir())
    dist = config.getoption("dist", "no")
    if dist not in ("no", "load", "loadgroup"):
        raise pytest.UsageError(f"integration tests schedule by host group (-n N); --dist {dist} is not supported")


def _group(item):
    mark = item.get_closest_marker("reservation")
    return mark.args[0] if mark else None


def pytest_collection_modifyitems(config, items):
    problems = []
    for item in items:
        name = _group(item)
        if name is not None and name not in reservations.GROUPS:
            problems.append(f"{item.nodeid}: unknown reservation group {name!r} (see reservations.py)")
        elif name is None and any(f in item.fixturenames for f in LAB_FIXTURES):
            problems.append(f"{item.nodeid}: uses the lab but states no pytest.mark.reservation(<group>)")
    if problems:
        raise pytest.UsageError("lab reservations:\n  " + "\n  ".join(problems))
    items.sort(key=lambda item: reservations.rank(_group(item)))  # stable: file order within a group
    if pytest_fixtures.is_worker(config):
        # Every worker collects the same tests; the last one to write leaves the same map.
        groups = {item.nodeid: _group(item) for item in items if _group(item)}
        tmp = pytest_fixtures.run_dir() / f"{GROUP_MAP}.{os.getpid()}"
        tmp.write_text(json.dumps(groups))
        tmp.replace(pytest_fixtures.run_dir() / GROUP_MAP)


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """Work units are reservation groups: all tests of a group go to one worker, in file order; a test with no
    group is a unit of its own. (xdist's own --dist loadgroup marks groups by editing node ids, which pytest 9.2
    no longer honours: pytest-xdist issue #1386.) Units are handed out in collection order, which
    pytest_collection_modifyitems sorted by reservations.ORDER."""
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        _groups = None

        def _split_scope(self, nodeid):
            if self._groups is None:  # read once every worker has collected (schedule() runs after that)
                self._groups = json.loads((pytest_fixtures.run_dir() / GROUP_MAP).read_text())
            return self._groups.get(nodeid, nodeid)

    config.option.loadscopereorder = False  # keep the order chosen above instead of sorting units by size
    return GroupScheduling(config, log)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """Hold the lab as the test's group needs it from its setup to its teardown (module fixtures included),
    keep it for the next test of the same group, and let go before a test of another group."""
    mode = reservations.access(_group(item))
    if mode is None:
        _access.release()
    else:
        _access.acquire(mode)
    yield
    if nextitem is None or _group(nextitem) != _group(item):
        _access.release()


def pytest_sessionfinish(session):
    if not pytest_fixtures.is_worker(session.config) and os.environ.get(pytest_fixtures.RUN_DIR_ENV):
        if (pytest_fixtures.run_dir() / PG_STARTED).exists():
            _postgres("stop")
    pytest_fixtures.finish(session)


INVENTORY_DIR = REPO / "inventories" / "lab" / "generated"

# The lowest and highest ansible-core this collection supports that install here.
VENVS = [(name, core) for name, core in ((".venv", "2.19"), (".venv313", "2.21")) if (REPO / name / "bin").is_dir()]


def ansible_env(**extra):
    env = dict(os.environ)
    env.update(ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", **extra)
    env.pop("PYTHONPATH", None)
    return env


def on_core(line: str):
    """Run a lab scenario too long to repeat on every ansible-core line on one of them (the venv fixture,
    parametrized indirectly). The long scenarios alternate lines, so each line runs some of them end to end, while
    sanity, unit and the shorter lab tests cover both."""
    chosen = [v for v in VENVS if v[1] == line] or VENVS[-1:]
    return pytest.mark.parametrize("venv", chosen, indirect=True, ids=[v[1] for v in chosen])


@pytest.fixture(params=VENVS, ids=[v[1] for v in VENVS])
def venv(request):
    """(venv bin dir, ansible-core line) for each supported ansible-core that is installed."""
    name, core = request.param
    return REPO / name / "bin", core


def _postgres(action):
    service = REPO / "scripts" / "services" / "postgres.sh"
    return subprocess.run(["bash", str(service), action], capture_output=True, text=True, timeout=600, check=False)


PG_STARTED = "postgres.started"  # in the run directory: this run started the tests' PostgreSQL server


@pytest.fixture(scope="session")
def pg_dsn():
    """The DSN of the tests' PostgreSQL server (scripts/services/postgres.sh). The first process of the run that needs
    it starts it if it is down; the run stops it at its very end (pytest_sessionfinish), not when a worker's session
    ends: a whole-lab suite on one worker (test_concurrency_lab) may still use it after the postgres suites' worker
    is done."""
    base = pytest_fixtures.run_dir()
    with open(base / "postgres.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _postgres("status").returncode != 0:
            res = _postgres("start")
            assert res.returncode == 0, res.stderr[-2000:]
            (base / PG_STARTED).write_text("")
    dsn = _postgres("dsn").stdout.strip()
    assert dsn.startswith("postgresql://")
    return dsn


@pytest.fixture
def schema(pg_dsn):
    """A schema of its own for one test, dropped afterwards."""
    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    yield name
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
