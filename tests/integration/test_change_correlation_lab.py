"""Which change did this? On the lab: one short bad release of the demo service (caught at the canary and
rolled back), then playbooks/which_change.yml is asked about the canary's alert - the time its 5xx counter
first rose, read from Prometheus - and about two faults unrelated to the change."""

import itertools
import json
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid

import pytest
from conftest import REPO, ansible_env
from specs import change_vars, demo_release

from cwlab.lab import Lab

sys.path.insert(0, str(REPO / "collections"))

from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger

PROMETHEUS = "http://198.18.0.1:9090"
KEY = "hmac:correlation-integration-test-key-0123"
BIN = REPO / ".venv" / "bin"

pytestmark = pytest.mark.reservation("cloud-onprem")  # lab hosts: tests/integration/reservations.py


@pytest.fixture(scope="module")
def correlation_lab(request):
    handle = Lab.load()
    if handle.is_up():
        return handle
    return request.getfixturevalue("lab")


def run(args, ledger, timeout=900):
    proc = subprocess.run(
        [str(BIN / "ansible-playbook"), *args],
        cwd=REPO,
        env=ansible_env(CHANGEWARD_LEDGER=str(ledger), CHANGEWARD_LEDGER_KEY=KEY),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    print(proc.stdout[-4000:])
    return proc


def which_change(ledger, tmp_path, **alert):
    out = tmp_path / f"answer-{uuid.uuid4().hex[:6]}.json"
    extra = {f"changeward_alert_{k}": v for k, v in alert.items()}
    proc = run(["playbooks/which_change.yml", "-e", json.dumps(extra), "-e", f"changeward_answer_file={out}"], ledger)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(out.read_text())


def first_5xx(host, since):
    window = int(time.time() - since + 60)
    query = f'demo_http_requests_total{{job="demo", code="500", host="{host}"}}[{window}s]'
    url = f"{PROMETHEUS}/api/v1/query?" + urllib.parse.urlencode({"query": query})
    with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - a fixed http URL
        samples = [(float(t), float(v)) for t, v in json.load(resp)["data"]["result"][0]["values"]]
    return next(t for (_unused, v0), (t, v) in itertools.pairwise(samples) if t > since and v > v0)


def test_the_bad_release_is_named_for_the_canary_alert_and_unrelated_faults_get_no_culprit(correlation_lab, tmp_path):
    ledger = tmp_path / "ledger.db"
    change_id = f"CHG-CORR-{int(time.time())}-{uuid.uuid4().hex[:6]}"
    spec = demo_release(
        f"7.0.{int(time.time())}-bad", error_rate=0.3, targets="cloud", bake_times={"canary": "60s", "default": "10s"}
    )
    proc = run(["playbooks/change.yml", "-e", json.dumps(change_vars(spec, change_id, judge=False))], ledger, 1200)
    assert proc.returncode != 0, "the bad release is rolled back and fails the job"
    with open_ledger(str(ledger), create=False) as led:
        started = [e.event["data"] for e in led.events(subject=change_id, types="io.changeward.ring.started")]
    (canary_ring,) = started
    (canary,) = canary_ring["hosts"]
    alert_at = first_5xx(canary, float(canary_ring["since"]))

    answer = which_change(ledger, tmp_path, host=canary, service="demo", at=alert_at, name="DemoHighErrorRate")
    assert answer["culprit"] == change_id and answer["confident"] is True
    assert answer["candidates"][0]["relation"] == "same_host_same_service"
    assert answer["annotations"]["changeward_suspect"] == change_id

    # a disk filling up on an on-prem host the release never reached: nothing in the ledger touched it
    other = next(h.name for h in correlation_lab.select("onprem"))
    unrelated = which_change(ledger, tmp_path, host=other, service="node", at=time.time(), name="DiskFull")
    assert unrelated["culprit"] is None and unrelated["confident"] is False
    # the demo service failing on a cloud host the release never reached (it stopped at the canary)
    cloud = next(h.name for h in correlation_lab.select("cloud") if h.name != canary)
    same_service = which_change(ledger, tmp_path, host=cloud, service="demo", at=time.time(), name="DemoDown")
    assert same_service["culprit"] is None
    assert "no confident culprit" in same_service["reason"]
