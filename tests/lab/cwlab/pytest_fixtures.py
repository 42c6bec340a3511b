"""pytest fixtures for tests that need the lab. Import them into a conftest.py:

    from cwlab.pytest_fixtures import lab  # noqa: F401

`lab` (session scope) makes sure the lab is up and yields a cwlab.Lab. If this session found no lab
running, it brought the lab up and takes it down at the end of the session, whatever happened
(also when bringing it up failed half-way). A lab that was already running is left running.
CW_LAB_HOSTS sets the host count when the fixture has to start the lab (default 12).
"""

from __future__ import annotations

import os

import pytest

from .lab import Lab


@pytest.fixture(scope="session")
def lab():
    handle = Lab.load()
    started = not handle.is_running()
    try:
        hosts = int(os.environ["CW_LAB_HOSTS"]) if started and os.environ.get("CW_LAB_HOSTS") else None
        handle.up(hosts)  # also repairs a partly running lab; running hosts are left alone
        handle.started_by_session = started
        yield handle
    finally:
        if started:
            handle.down()
