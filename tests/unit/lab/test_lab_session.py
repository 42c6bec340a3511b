"""Who brings the lab up and who takes it down in one pytest run, serial or under xdist
(cwlab.pytest_fixtures.prepare/teardown), with a stand-in for the lab. No lab needed."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "lab"))

from cwlab import pytest_fixtures


class FakeLab:
    """Counts what the run does to the lab; `running` is the lab's state on the machine."""

    def __init__(self, running=False, fail_up=False):
        self.running, self.fail_up = running, fail_up
        self.ups = self.downs = 0

    def load(self):
        return self

    def is_running(self):
        return self.running

    def up(self, hosts=None):
        self.ups += 1
        time.sleep(0.2)  # long enough for a second worker to arrive meanwhile
        if self.fail_up:
            raise RuntimeError("sshd did not answer on edge-s1-01")
        self.running = True

    def down(self):
        self.downs += 1
        self.running = False


def _workers(base, fake, n=2):
    """n processes of one run asking for the lab at the same time (threads: flock locks per open file)."""
    results, errors = [], []

    def one():
        try:
            results.append(pytest_fixtures.prepare(base, load=fake.load))
        except pytest_fixtures.LabNotUp as exc:
            errors.append(str(exc))
        except RuntimeError as exc:
            errors.append(f"raised: {exc}")

    threads = [threading.Thread(target=one) for _i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    return results, errors


def test_a_lab_that_is_down_is_brought_up_once_and_taken_down_at_the_end(tmp_path):
    fake = FakeLab(running=False)
    results, errors = _workers(tmp_path, fake)
    assert errors == [] and len(results) == 2
    assert fake.ups == 1  # one worker brought it up; the other waited and used it
    assert all(r.started_by_session for r in results)
    pytest_fixtures.prepare(tmp_path, load=fake.load)  # a later worker: no second up()
    assert fake.ups == 1
    assert pytest_fixtures.teardown(tmp_path, load=fake.load) is True
    assert fake.downs == 1 and not fake.running


def test_a_running_lab_is_repaired_once_and_left_running(tmp_path):
    fake = FakeLab(running=True)
    results, errors = _workers(tmp_path, fake)
    assert errors == [] and fake.ups == 1  # up() repairs a partly running lab, once per run
    assert not any(r.started_by_session for r in results)
    assert pytest_fixtures.teardown(tmp_path, load=fake.load) is False
    assert fake.downs == 0 and fake.running


def test_a_lab_that_fails_to_come_up_fails_every_worker_and_is_still_taken_down(tmp_path):
    fake = FakeLab(running=False, fail_up=True)
    results, errors = _workers(tmp_path, fake)
    assert results == [] and fake.ups == 1  # the second worker does not try again
    assert sorted(errors) == [
        "raised: sshd did not answer on edge-s1-01",
        "the lab did not come up in this run: RuntimeError: sshd did not answer on edge-s1-01",
    ]
    assert pytest_fixtures.teardown(tmp_path, load=fake.load) is True  # half-way up is taken down too
    assert fake.downs == 1


def test_a_run_that_never_needed_the_lab_leaves_it_alone(tmp_path):
    fake = FakeLab(running=True)
    assert pytest_fixtures.teardown(tmp_path, load=fake.load) is False
    assert fake.ups == fake.downs == 0
