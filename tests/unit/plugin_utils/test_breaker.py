"""Circuit breaker: transitions, admission, thresholds, authorisation, concurrency - all on a real ledger."""

import datetime
import multiprocessing

import pytest

from ansible_collections.changeward.hybrid.plugins.plugin_utils import breaker as br
from ansible_collections.changeward.hybrid.plugins.plugin_utils.identity import Identity
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger
from ansible_collections.changeward.hybrid.plugins.plugin_utils.policy.gate_policy import API_VERSION, effective_policy

KEY = "hmac:breaker-test-secret-0123456789"
POLICY = effective_policy(
    {
        "api_version": API_VERSION,
        "approval": {
            "approvers": [
                {"name": "carol", "roles": ["change-manager"]},
                {"name": "bob", "roles": ["peer"]},
                {"name": "svc-release", "roles": ["change-manager"], "kind": "service"},
            ]
        },
    }
)
CAROL = Identity("carol", "env:CHANGEWARD_IDENTITY", "env")
BOB = Identity("bob", "env:CHANGEWARD_IDENTITY", "env")
SVC = Identity("svc-release", "awx", "awx")


@pytest.fixture
def ledger(tmp_path):
    with open_ledger(str(tmp_path / "ledger.db"), key=KEY) as led:
        yield led


def events(led, service="demo"):
    return [e.event for e in led.entries() if e.event["subject"] == f"breaker:{service}"]


def test_a_breaker_never_opened_is_closed_and_admits(ledger):
    assert br.status(ledger, "demo").state == "closed"
    decision = br.admit(ledger, "demo", "CHG-1")
    assert decision["allowed"] and decision["state"] == "closed"
    assert events(ledger) == []  # admission of a closed breaker writes nothing


def test_trip_refuses_every_rollout_and_records_each_refusal(ledger):
    out = br.trip(ledger, "demo", "CHG-1", "canary error_ratio 0.21 > 0.005", {"metric": "error_ratio"})
    assert (out["previous_state"], out["state"], out["changed"]) == ("closed", "open", True)
    for change in ("CHG-2", "CHG-3"):
        decision = br.admit(ledger, "demo", change)
        assert not decision["allowed"]
        assert "open since" in decision["reason"] and "CHG-1" in decision["reason"]
    kinds = [(e["type"], e["data"].get("change_id")) for e in events(ledger)]
    assert kinds == [(br.OPENED, "CHG-1"), (br.REFUSED, "CHG-2"), (br.REFUSED, "CHG-3")]
    opened = events(ledger)[0]["data"]
    assert opened["evidence"] == {"metric": "error_ratio"} and opened["from"] == "closed"
    # other services are not affected
    assert br.admit(ledger, "web", "CHG-4")["allowed"]


def test_tripping_an_open_breaker_records_the_failure_and_keeps_it_open(ledger):
    br.trip(ledger, "demo", "CHG-1", "first")
    again = br.trip(ledger, "demo", "CHG-2", "second")
    assert again["state"] == "open" and again["previous_state"] == "open"
    assert [e["type"] for e in events(ledger)] == [br.OPENED, br.FAILURE]
    assert br.status(ledger, "demo").change_id == "CHG-1"


def test_only_an_authorised_person_moves_it_to_half_open(ledger):
    br.trip(ledger, "demo", "CHG-1", "bad canary")
    for who, match in ((BOB, "none of the roles"), (SVC, "service account"), (Identity("eve", "os", "os"), "not an")):
        with pytest.raises(br.NotAuthorised, match=match):
            br.half_open(ledger, "demo", who, POLICY, reason="fixed")
    assert br.status(ledger, "demo").state == "open"
    refusals = [e for e in events(ledger) if e["type"] == br.REFUSED]
    assert [r["data"]["by"]["name"] for r in refusals] == ["bob", "svc-release", "eve"]  # recorded, not lost
    out = br.half_open(ledger, "demo", CAROL, POLICY, reason="config fixed in 1.0.3")
    assert out["state"] == "half_open"
    last = events(ledger)[-1]
    assert last["type"] == br.HALF_OPENED and last["data"]["by"]["name"] == "carol"
    assert "change-manager" in last["data"]["authorisation"]


def test_half_open_admits_one_trial_which_closes_it_on_success(ledger):
    br.trip(ledger, "demo", "CHG-1", "bad canary")
    br.half_open(ledger, "demo", CAROL, POLICY, reason="fixed")
    first = br.admit(ledger, "demo", "CHG-2")
    assert first["allowed"] and "trial" in first["reason"]
    assert br.admit(ledger, "demo", "CHG-2")["allowed"]  # the trial goes on through its rings
    other = br.admit(ledger, "demo", "CHG-3")
    assert not other["allowed"] and "CHG-2 is its trial" in other["reason"]
    with pytest.raises(br.NotAuthorised, match="only that trial"):
        br.close(ledger, "demo", change_id="CHG-3")
    out = br.close(ledger, "demo", change_id="CHG-2")
    assert (out["previous_state"], out["state"]) == ("half_open", "closed")
    assert br.admit(ledger, "demo", "CHG-3")["allowed"]
    assert [e["type"] for e in events(ledger)].count(br.TRIAL) == 1


def test_a_failing_trial_opens_it_again(ledger):
    br.trip(ledger, "demo", "CHG-1", "bad canary")
    br.half_open(ledger, "demo", CAROL, POLICY, reason="fixed")
    br.admit(ledger, "demo", "CHG-2")
    out = br.record_failure(ledger, "demo", "CHG-2", "ring", reason="canary judged fail")
    assert (out["previous_state"], out["state"]) == ("half_open", "open")
    assert "trial change CHG-2 failed" in br.status(ledger, "demo").reason


def test_an_open_breaker_cannot_be_closed_directly(ledger):
    br.trip(ledger, "demo", "CHG-1", "bad canary")
    with pytest.raises(br.BreakerInputError, match="half-open"):
        br.close(ledger, "demo", identity=CAROL, policy=POLICY, reason="trust me")


def test_an_authorised_person_may_close_a_half_open_breaker_with_a_reason(ledger):
    br.trip(ledger, "demo", "CHG-1", "bad canary")
    br.half_open(ledger, "demo", CAROL, POLICY, reason="fixed")
    with pytest.raises(br.NotAuthorised):
        br.close(ledger, "demo", identity=BOB, policy=POLICY, reason="looks fine")
    with pytest.raises(br.BreakerInputError, match="needs a reason"):
        br.close(ledger, "demo", identity=CAROL, policy=POLICY)
    assert br.close(ledger, "demo", identity=CAROL, policy=POLICY, reason="verified by hand")["state"] == "closed"


def test_failures_open_it_at_the_threshold_within_the_window(ledger):
    limits = br.Thresholds(rings=2, hosts=3, window=3600)
    first = br.record_failure(ledger, "demo", "CHG-1", "ring", reason="inconclusive", thresholds=limits)
    assert first["state"] == "closed" and first["counts"] == {"rings": 1, "hosts": 0}
    hosts = br.record_failure(ledger, "demo", "CHG-2", "host", count=2, reason="unreachable", thresholds=limits)
    assert hosts["state"] == "closed" and hosts["counts"] == {"rings": 1, "hosts": 2}
    second = br.record_failure(ledger, "demo", "CHG-3", "ring", reason="judge fail", thresholds=limits)
    assert second["state"] == "open" and "2 failed ring(s)" in br.status(ledger, "demo").reason


def test_failures_outside_the_window_do_not_count(ledger):
    limits = br.Thresholds(rings=2, hosts=3, window=60)
    br.record_failure(ledger, "demo", "CHG-1", "ring", thresholds=limits)
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=5)
    out = br.record_failure(ledger, "demo", "CHG-2", "ring", thresholds=limits, now=later)
    assert out["state"] == "closed" and out["counts"]["rings"] == 1


def test_failures_before_a_close_are_forgotten(ledger):
    limits = br.Thresholds(rings=2)
    br.record_failure(ledger, "demo", "CHG-1", "ring", thresholds=limits)
    br.trip(ledger, "demo", "CHG-2", "breach")
    br.half_open(ledger, "demo", CAROL, POLICY, reason="fixed")
    br.admit(ledger, "demo", "CHG-3")
    br.close(ledger, "demo", change_id="CHG-3")
    out = br.record_failure(ledger, "demo", "CHG-4", "ring", thresholds=limits)
    assert out["state"] == "closed" and out["counts"]["rings"] == 1


def test_check_mode_decides_but_writes_nothing(ledger):
    out = br.trip(ledger, "demo", "CHG-1", "breach", check_mode=True)
    assert out["state"] == "open" and out["events"] == []
    assert events(ledger) == [] and br.status(ledger, "demo").state == "closed"


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda led: br.trip(led, "demo", "CHG-1", ""), "needs a reason"),
        (lambda led: br.admit(led, "bad service!", "CHG-1"), "service must be"),
        (lambda led: br.admit(led, "demo", ""), "change_id"),
        (lambda led: br.record_failure(led, "demo", "CHG-1", "disk"), "failure kind"),
        (lambda led: br.record_failure(led, "demo", "CHG-1", "host", count=0), "count"),
        (lambda led: br.half_open(led, "demo", CAROL, POLICY, reason="x"), "only an open breaker"),
    ],
)
def test_bad_requests_are_errors(ledger, call, match):
    with pytest.raises(br.BreakerError, match=match):
        call(ledger)


def test_thresholds_are_validated():
    with pytest.raises(br.BreakerInputError):
        br.Thresholds(rings=0)
    with pytest.raises(br.BreakerInputError):
        br.Thresholds(window=0)


def _admit_many(path, change, barrier, out):
    with open_ledger(path, key=KEY, timeout=30) as led:
        barrier.wait()
        results = [br.admit(led, "demo", change)["allowed"] for _attempt in range(20)]
        out.put((change, results))


def _trip(path, barrier, out):
    with open_ledger(path, key=KEY, timeout=30) as led:
        barrier.wait()
        out.put(("trip", br.trip(led, "demo", "CHG-BAD", "breach")["previous_state"]))


def test_concurrent_runs_see_one_state(tmp_path):
    """Two processes trip at once: exactly one opens it. Runs admitted meanwhile stop once it is open."""
    path = str(tmp_path / "ledger.db")
    open_ledger(path, key=KEY).close()
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(4), ctx.Queue()
    procs = [ctx.Process(target=_trip, args=(path, barrier, out)) for _proc in range(2)]
    procs += [ctx.Process(target=_admit_many, args=(path, f"CHG-{i}", barrier, out)) for i in range(2)]
    for p in procs:
        p.start()
    results = [out.get(timeout=60) for _proc in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    trips = sorted(prev for kind, prev in results if kind == "trip")
    assert trips == ["closed", "open"]  # the second tripper saw the first one's transition
    for kind, admitted in results:
        if kind != "trip":
            # once refused, never admitted again: the state each decision saw only moved forward
            first_refusal = admitted.index(False) if False in admitted else len(admitted)
            assert all(admitted[:first_refusal]) and not any(admitted[first_refusal:])
    with open_ledger(path, key=KEY) as led:
        kinds = [e["type"] for e in events(led)]
        assert kinds.count(br.OPENED) == 1
        assert br.admit(led, "demo", "CHG-LATE")["allowed"] is False
        assert led.verify()["valid"]
