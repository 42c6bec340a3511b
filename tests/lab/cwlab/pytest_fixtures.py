"""pytest support for tests that need the lab, serial or under pytest-xdist. Use it from a conftest.py:

    from cwlab import pytest_fixtures

    lab = pytest_fixtures.lab

    def pytest_configure(config):
        pytest_fixtures.configure(config)

    def pytest_sessionfinish(session):
        pytest_fixtures.finish(session)

One pytest run (the controller and all its xdist workers) shares a run directory (`configure` makes it
in the controller; workers inherit its path in CW_PYTEST_RUN_DIR). In it:

- `lab.json`, written under `lab.lock` by the first process that needs the lab: whether this run found
  the lab down and brought it up. Only that first process calls `Lab.up()` (which also repairs a partly
  running lab); later workers use the lab as it is, so a host another worker has powered off on purpose
  is not booted behind its back.
- `access.lock` / `access.turnstile`: the lab as a readers-writer lock. A test that uses its own hosts
  holds it shared; a test that needs the whole lab holds it exclusive, so nothing else uses the lab
  meanwhile (`LabAccess`). The turnstile keeps a waiting exclusive user from being overtaken.

The lab fixture never takes the lab down itself: `finish` does, in the controller (or the only process
of a serial run), after every worker is done, and only when `lab.json` says this run brought it up
(also when bringing it up failed half-way). A lab that was already running is left running.
CW_LAB_HOSTS sets the host count when the lab has to be started (default 12).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from .lab import Lab

RUN_DIR_ENV = "CW_PYTEST_RUN_DIR"


def is_worker(config) -> bool:
    return hasattr(config, "workerinput")


def configure(config) -> None:
    """In the controller (or a serial run): make the run directory that every worker of this run shares."""
    if is_worker(config):
        if not os.environ.get(RUN_DIR_ENV):
            raise pytest.UsageError(f"xdist worker without {RUN_DIR_ENV}: its controller did not load cwlab's hooks")
        return
    os.environ[RUN_DIR_ENV] = tempfile.mkdtemp(prefix="cw-pytest-run-")


def run_dir() -> Path:
    path = os.environ.get(RUN_DIR_ENV)
    if not path:
        raise RuntimeError(f"{RUN_DIR_ENV} is not set: call pytest_fixtures.configure from pytest_configure")
    return Path(path)


@contextlib.contextmanager
def _flock(path: Path, mode=fcntl.LOCK_EX):
    with open(path, "a+") as handle:
        fcntl.flock(handle, mode)
        try:
            yield handle
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class LabNotUp(Exception):
    """Bringing the lab up failed earlier in this run (in this process or another one)."""


def prepare(base: Path, load=Lab.load):
    """The lab for one process of the run: the first caller brings it up (if it is not running) or repairs
    it, and records in base/lab.json whether this run started it; later callers only load it."""
    record = base / "lab.json"
    with _flock(base / "lab.lock"):
        if not record.exists():
            handle = load()
            started = not handle.is_running()
            # Written before up(): a lab that fails half-way up is still taken down by teardown().
            record.write_text(json.dumps({"started": started, "error": None}))
            try:
                hosts = int(os.environ["CW_LAB_HOSTS"]) if started and os.environ.get("CW_LAB_HOSTS") else None
                handle.up(hosts)  # also repairs a partly running lab; running hosts are left alone
            except Exception as exc:
                record.write_text(json.dumps({"started": started, "error": f"{type(exc).__name__}: {exc}"}))
                raise
        state = json.loads(record.read_text())
    if state["error"]:
        raise LabNotUp(f"the lab did not come up in this run: {state['error']}")
    handle = load()
    handle.started_by_session = state["started"]
    return handle


def teardown(base: Path, load=Lab.load) -> bool:
    """Take the lab down if this run brought it up (or tried to); True when it did."""
    record = base / "lab.json"
    if record.exists() and json.loads(record.read_text())["started"]:
        load().down()
        return True
    return False


@pytest.fixture(scope="session")
def lab():
    """The running lab (a cwlab.Lab); brought up by the first process of this run that needs it."""
    try:
        return prepare(run_dir())
    except LabNotUp as exc:
        pytest.fail(str(exc), pytrace=False)


def finish(session) -> None:
    """At the very end of the run (controller or serial process): take the lab down if this run brought it
    up, then remove the run directory."""
    if is_worker(session.config) or not os.environ.get(RUN_DIR_ENV):
        return
    base = run_dir()
    try:
        teardown(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


class LabAccess:
    """This process's hold on the lab: None, "shared" (its own hosts) or "exclusive" (the whole lab).

    A readers-writer lock over flock(2), shared by every process of the run. acquire() passes a turnstile
    first: an exclusive user waiting for the lock holds the turnstile, so shared users that come later
    queue behind it instead of overtaking it for ever. Nobody holds the lock while waiting for the
    turnstile, so the two cannot deadlock.
    """

    def __init__(self, base: Path):
        self.lock_path = base / "access.lock"
        self.turnstile_path = base / "access.turnstile"
        self.mode: str | None = None
        self._handle = None

    def acquire(self, mode: str) -> None:
        if mode not in ("shared", "exclusive"):
            raise ValueError(f"lab access mode must be shared or exclusive, not {mode!r}")
        if self.mode == mode:
            return
        self.release()
        with _flock(self.turnstile_path):
            handle = open(self.lock_path, "a+")  # held across calls, until release()
            try:
                fcntl.flock(handle, fcntl.LOCK_SH if mode == "shared" else fcntl.LOCK_EX)
            except BaseException:
                handle.close()
                raise
        self._handle, self.mode = handle, mode

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
        self._handle, self.mode = None, None
