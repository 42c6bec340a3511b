"""The integration suites' host reservations (tests/integration/reservations.py) and the lab lock that
enforces them (cwlab.pytest_fixtures.LabAccess). No lab needed."""

from __future__ import annotations

import ast
import sys
import threading
import time
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(TESTS / "integration"), str(TESTS / "lab")]

import reservations  # noqa: E402
from reservations import GROUPS, Group, conflicts, unknown_hosts  # noqa: E402

from cwlab.pytest_fixtures import LabAccess  # noqa: E402

INTEGRATION = sorted((TESTS / "integration").glob("test_*.py"))


# ---------------------------------------------------------------- the groups


def test_no_host_or_service_is_claimed_by_two_groups_that_run_side_by_side():
    assert conflicts(GROUPS.values()) == {}


def test_two_groups_claiming_one_host_are_a_conflict():
    a = Group("a", "a suite", hosts=frozenset({"cloud-euw1a-01", "edge-s1-01"}))
    b = Group("b", "another suite", hosts=frozenset({"edge-s1-01"}))
    assert conflicts([a, b]) == {"edge-s1-01": ["a", "b"]}
    # ... and so is a shared service
    c = Group("c", "x", services=frozenset({"postgresql"}))
    d = Group("d", "y", services=frozenset({"postgresql"}))
    assert conflicts([c, d]) == {"service:postgresql": ["c", "d"]}


def test_an_exclusive_group_may_claim_every_host_because_it_runs_alone():
    whole = Group("whole", "x", hosts=frozenset(reservations.FLEET), exclusive=True)
    edge = Group("edge", "y", hosts=reservations.EDGE)
    assert conflicts([whole, edge]) == {}
    assert reservations.access("whole-lab") == "exclusive"
    assert reservations.access("edge") == "shared"
    assert reservations.access("postgres") is None  # no lab host: it does not hold the lab at all
    assert reservations.access(None) is None


def test_every_reserved_host_is_a_host_of_the_default_fleet():
    assert unknown_hosts(GROUPS.values()) == {}
    assert unknown_hosts([Group("typo", "x", hosts=frozenset({"edge-s9-01"}))]) == {"typo": ["edge-s9-01"]}
    assert reservations.CLOUD | reservations.ONPREM | reservations.EDGE == set(reservations.FLEET)
    assert len(reservations.FLEET) == 12


def test_every_group_has_a_place_in_the_order():
    assert set(GROUPS) | {None} == set(reservations.ORDER)
    assert reservations.ORDER[-1] == "whole-lab"  # the exclusive group waits for the shared ones


# ---------------------------------------------------------------- the suites state their group


def _marks(tree):
    """Every pytest.mark.reservation(<arg>) in a module: [(line, arg)]."""
    out = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "reservation"
            and ast.unparse(node.func.value) == "pytest.mark"
        ):
            assert len(node.args) == 1 and isinstance(node.args[0], ast.Constant), ast.unparse(node)
            out.append((node.lineno, node.args[0].value))
    return out


def _module_mark(tree):
    """The group of the module-level pytestmark, if any."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "pytestmark" for t in node.targets):
            found = _marks(node)
            return found[0][1] if found else None
    return None


def _uses(tree, fixture):
    """Whether any function of the module takes `fixture` as a parameter or asks for it by name."""
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and fixture in [a.arg for a in node.args.args]:
            return True
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "getfixturevalue":
            if node.args and isinstance(node.args[0], ast.Constant) and node.args[0].value == fixture:
                return True
    return False


def _unreserved_tests(tree):
    """Test functions with no reservation of their own, when the module states none either."""
    if _module_mark(tree) is not None:
        return []
    return [
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
        and node.name.startswith("test_")
        and not any(_marks(ast.Module(body=[ast.Expr(d)], type_ignores=[])) for d in node.decorator_list)
    ]


@pytest.mark.parametrize("path", INTEGRATION, ids=[p.name for p in INTEGRATION])
def test_each_integration_suite_states_a_known_group_for_what_it_uses(path):
    tree = ast.parse(path.read_text())
    for line, name in _marks(tree):
        assert name is None or name in GROUPS, f"{path.name}:{line}: unknown reservation group {name!r}"
    if _uses(tree, "lab"):
        missing = _unreserved_tests(tree)
        assert not missing, f"{path.name} uses the lab: reservation(<group>) for the module or for {missing}"
    if _uses(tree, "pg_dsn"):
        # the run starts and stops the server once (conftest.pg_dsn); a suite that also needs lab hosts holds the
        # whole lab, the others share the postgres group's worker
        assert _module_mark(tree) in ("postgres", "whole-lab"), (
            f"{path.name} uses the PostgreSQL server: reservation('postgres'), or 'whole-lab' with lab hosts"
        )


def test_the_suite_scan_sees_a_missing_reservation():
    tree = ast.parse("import pytest\n\ndef test_x(lab):\n    pass\n")
    assert _uses(tree, "lab") and _unreserved_tests(tree) == ["test_x"]
    tree = ast.parse("import pytest\n\n@pytest.mark.reservation('edge')\ndef test_x(lab):\n    pass\n")
    assert _unreserved_tests(tree) == []
    source = 'pytestmark = [pytest.mark.skipif(False, reason="x"), pytest.mark.reservation("edge")]\n'
    tree = ast.parse("import pytest\n" + source)
    assert _module_mark(tree) == "edge"


# ---------------------------------------------------------------- the lab lock


def _try(access, mode, took):
    access.acquire(mode)
    took.append((mode, time.monotonic()))


def test_shared_holders_run_together_and_an_exclusive_one_alone(tmp_path):
    a, b, x = LabAccess(tmp_path), LabAccess(tmp_path), LabAccess(tmp_path)
    a.acquire("shared")
    b.acquire("shared")  # two host groups side by side: does not wait
    took = []
    waiter = threading.Thread(target=_try, args=(x, "exclusive", took))
    waiter.start()
    time.sleep(0.3)
    assert took == []  # the whole lab waits for both
    a.release()
    time.sleep(0.3)
    assert took == []
    released = time.monotonic()
    b.release()
    waiter.join(timeout=5)
    assert took and took[0][0] == "exclusive" and took[0][1] >= released
    x.release()


def test_a_waiting_exclusive_holder_is_not_overtaken_by_later_shared_ones(tmp_path):
    a, x, late = LabAccess(tmp_path), LabAccess(tmp_path), LabAccess(tmp_path)
    a.acquire("shared")
    took = []
    first = threading.Thread(target=_try, args=(x, "exclusive", took))
    first.start()
    time.sleep(0.3)  # x now waits behind a, in the turnstile
    second = threading.Thread(target=_try, args=(late, "shared", took))
    second.start()
    time.sleep(0.3)
    assert took == []  # the late shared holder queues behind x, though a holds the lock shared too
    a.release()
    first.join(timeout=5)
    assert [m for m, _t in took] == ["exclusive"]
    x.release()
    second.join(timeout=5)
    assert [m for m, _t in took] == ["exclusive", "shared"]
    late.release()


def test_acquire_keeps_a_hold_of_the_same_mode_and_refuses_unknown_modes(tmp_path):
    a = LabAccess(tmp_path)
    a.acquire("exclusive")
    a.acquire("exclusive")  # already held: no second lock that would wait for the first
    assert a.mode == "exclusive"
    a.acquire("shared")  # switching lets go first
    assert a.mode == "shared"
    a.release()
    assert a.mode is None
    with pytest.raises(ValueError, match="shared or exclusive"):
        a.acquire("mine")
