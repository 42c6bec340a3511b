"""Staged edge updates on the lab's edge hosts over real link faults (loss, rate limit, outages).

The artifact source is a real nginx on the controller address (scripts/services/nginx.sh); its access
log counts the bytes served per request, independently of what the devices report. Faults are set and
cleared on this feature's hosts only (edge-s1-01, edge-s2-01, edge-s3-01).

The full schedule of the issue (50 MB, 30 s outage every 120 s, one 5-minute outage) is run by
bench/edge_bench.py; here the same assertions hold on a shorter schedule: 10 MB, 5 % loss, 2 mbit,
two 15 s outages and one 45 s outage.
"""

import base64
import json
import os
import threading
import time

import pytest
import yaml
from edge_lab import (
    APP,
    CHUNK,
    HEALTH,
    HOSTS,
    LINKS,
    REPO,
    ROOT_DIR,
    SOURCE,
    TRUST_FILE,
    Publisher,
    demo_version,
    edge_rollout,
    edge_update,
    ledger_events,
    log_position,
    open_change,
    parse_time,
    public_pem,
    reset_device,
    run_playbook,
    served,
    stage_args,
    start_nginx,
    transfer_progress,
    wait_for_offset,
)

pytestmark = pytest.mark.reservation("edge")  # lab hosts: tests/integration/reservations.py


@pytest.fixture(scope="module")
def edge(lab, tmp_path_factory):
    for host in HOSTS:
        assert lab.host(host).labels["env_type"] == "edge"
    lab.clear_faults(",".join(HOSTS))
    start_nginx()
    for host in HOSTS:
        reset_device(lab, host)
    work = tmp_path_factory.mktemp("edge")
    env = {
        "lab": lab,
        "work": work,
        "publisher": Publisher(work),
        "ledger": work / "ledger.db",
        "addr": {h: lab.host(h).address for h in HOSTS},
    }
    # The playbooks inherit the environment; the key is put back afterwards so other tests do not see it.
    saved = os.environ.get("CHANGEWARD_LEDGER_KEY")
    os.environ["CHANGEWARD_LEDGER_KEY"] = "edge-test-ledger-key-0123456789"
    try:
        yield env
    finally:
        if saved is None:
            os.environ.pop("CHANGEWARD_LEDGER_KEY", None)
        else:
            os.environ["CHANGEWARD_LEDGER_KEY"] = saved
        lab.clear_faults(",".join(HOSTS))


@pytest.fixture
def clear_faults(edge):
    yield
    edge["lab"].clear_faults(",".join(HOSTS))


def playbook_vars(edge, rel, change_id, **extra):
    data = {
        "edge_change_id": change_id,
        "edge_ledger": str(edge["ledger"]),
        "edge_manifest": rel["manifest_path"],
        "edge_signature": rel["signature_path"],
        "edge_public_key": str(edge["publisher"].pub_path),
        "edge_url": rel["url"],
        "edge_targets": ",".join(HOSTS),
        "edge_poll": 5,
        "edge_health": HEALTH,
        "edge_transfer": {"read_timeout": 8, "retry_max_delay": 3},
        "edge_calendars": [
            {
                "name": "edge",
                "kind": "blackout",
                "windows": [{"name": "old freeze", "start": "2000-01-01T00:00", "duration": "PT1H"}],
            }
        ],
    }
    data.update(extra)
    return data


# -- the tests --------------------------------------------------------------------------------------------
def test_rollout_over_lossy_rate_limited_link_with_outages(edge, clear_faults):
    """10 MB to three hosts under 5 % loss, 2 mbit and outages of 15, 15 and 45 s; resumes, never restarts."""
    lab, pub = edge["lab"], edge["publisher"]
    rel = pub.release("3.0.0", 10 * 1000 * 1000)
    change = "CHG-EDGE-FAULTS"
    targets = ",".join(HOSTS)
    lab.fault(targets, loss=0.05, rate="2mbit")
    schedule = [(10, 15), (40, 15), (70, 45)]
    outages = []
    stop = threading.Event()

    def faults():
        t0 = time.time()
        for at, seconds in schedule:
            if stop.wait(max(0.0, t0 + at - time.time())):
                return
            lab.fault(targets, outage=seconds)
            outages.append((time.time(), time.time() + seconds))

    since = log_position()
    thread = threading.Thread(target=faults, daemon=True)
    thread.start()
    started = time.time()
    try:
        proc = run_playbook(REPO / "playbooks" / "edge_rollout.yml", playbook_vars(edge, rel, change))
    finally:
        stop.set()
        thread.join()
    took = time.time() - started
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert len(outages) == 3, f"the playbook ended after {took:.0f}s, before the fault schedule was done"
    events = ledger_events(edge["ledger"], change)
    for host in HOSTS:
        reqs = served(since, edge["addr"][host], rel["path"])
        body = sum(r["body"] for r in reqs)
        limit = 1.05 * rel["size"] + CHUNK * len(schedule)
        assert body >= rel["size"], f"{host}: only {body} bytes served for a {rel['size']} byte artifact"
        assert body <= limit, f"{host}: {body} bytes served, more than {limit:.0f}"
        assert [r["start"] for r in reqs].count(0) == 1, f"{host}: the transfer restarted from zero"
        mine = [e for e in events if e["data"].get("host") == host]
        kinds = [e["type"].rsplit(".", 1)[1] for e in mine]
        for kind in ("staging_started", "staged", "activated", "committed"):
            assert kind in kinds, f"{host}: no {kind} event in the ledger ({kinds})"
        staged = next(e for e in mine if e["type"].endswith(".staged"))
        begun = parse_time(next(e for e in mine if e["type"].endswith(".staging_started"))["time"])
        done = parse_time(staged["time"])
        hit = [o for o in outages if begun < o[0] < done]
        assert hit, f"{host}: no outage happened during its transfer ({begun}-{done}); the test proves nothing"
        assert staged["data"]["reconnects"] >= len(hit), staged["data"]
        assert staged["data"]["runs"] == 1 and staged["data"]["resumed_from"] == []
        assert demo_version(lab, host) == "3.0.0"
    # One ledger entry per device event: learning an event twice must not record it twice.
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids))


def test_killed_transfer_resumes_from_persisted_offset(edge, clear_faults):
    lab, pub = edge["lab"], edge["publisher"]
    host = "edge-s1-01"
    rel = pub.release("3.1.0", 6 * 1000 * 1000)
    change = "CHG-EDGE-KILL"
    lab.fault(host, rate="4mbit")
    since = log_position()
    args = stage_args(pub, rel, change)
    first = edge_update([host], **args)[host]
    assert first["release_status"] == "staging", first
    progress = wait_for_offset(lab, host, 2 * 1000 * 1000)
    assert progress.get("offset", 0) >= 2 * 1000 * 1000, progress
    killed = lab.ssh(host, f"kill -9 {progress['pid']} && sleep 0.5 && ! kill -0 {progress['pid']} 2>/dev/null")
    assert killed.returncode == 0, killed.stderr
    persisted = transfer_progress(lab, host)
    assert persisted["status"] == "running" and persisted["offset"] >= progress["offset"]
    again = edge_update([host], wait=90, **args)[host]
    assert again["release_status"] == "staged", again
    staged = next(e for e in again["events"] if e["type"] == "staged")
    assert staged["data"]["runs"] == 2
    assert staged["data"]["resumed_from"] == [persisted["offset"]]
    assert any(e["type"] == "staging_resumed" and e["data"]["offset"] == persisted["offset"] for e in again["events"])
    reqs = served(since, edge["addr"][host], rel["path"])
    assert [r["start"] for r in reqs].count(0) == 1, "the restarted transfer began again from zero"
    assert persisted["offset"] in [r["start"] for r in reqs], "no request resumed at the persisted offset"
    assert sum(r["body"] for r in reqs) <= 1.05 * rel["size"] + CHUNK


def test_corrupted_chunk_is_refused_and_never_activated(edge):
    lab, pub = edge["lab"], edge["publisher"]
    host = "edge-s2-01"
    rel = pub.release("3.2.0", 2 * 1000 * 1000)
    before = demo_version(lab, host)
    data = bytearray(rel["artifact"].read_bytes())
    data[5 * CHUNK + 17] ^= 0xFF  # one flipped bit pattern in chunk 5
    bad = pub.dir / "demo-3.2.0-corrupt.tar"
    bad.write_bytes(bytes(data))
    os.chmod(bad, 0o644)
    change = "CHG-EDGE-CORRUPT"
    res = edge_update([host], **stage_args(pub, rel, change, url=f"{SOURCE}/edge-test/{bad.name}", wait=60))[host]
    assert res["failed"] and res["release_status"] == "failed", res
    assert "chunk 5" in res["staging"]["error"]
    types = [e["type"] for e in res["events"]]
    assert "chunk_refused" in types and "staging_failed" in types and "staged" not in types
    act = edge_update([host], state="activated", change_id=change, release=rel["release"], links=LINKS, health=HEALTH)[
        host
    ]
    assert act["failed"] and "not staged" in act["msg"], act
    assert demo_version(lab, host) == before


def test_wrongly_signed_release_is_refused(edge):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    lab, pub = edge["lab"], edge["publisher"]
    host = "edge-s3-01"
    rel = pub.release("3.3.0", 1000 * 1000, sign_with=Ed25519PrivateKey.generate())
    change = "CHG-EDGE-BADSIG"
    open_change(edge["ledger"], change)
    before = demo_version(lab, host)
    since = log_position()
    # The controller refuses it before any device is contacted.
    proc = run_playbook(REPO / "playbooks" / "edge_rollout.yml", playbook_vars(edge, rel, change))
    assert proc.returncode != 0
    assert "does not verify" in proc.stdout
    assert any(e["type"] == "io.changeward.edge.manifest_refused" for e in ledger_events(edge["ledger"], change))
    # The device refuses it too, when asked directly.
    res = edge_update([host], **stage_args(pub, rel, change))[host]
    assert res["failed"] and res["error_kind"] == "signature", res
    status = edge_update([host], state="status", change_id=change, release=rel["release"])[host]
    assert status["release_status"] == "absent"
    assert [e["type"] for e in status["events"]] == ["staging_refused"]
    assert served(since, edge["addr"][host], rel["path"]) == [], "a refused release was downloaded"
    assert demo_version(lab, host) == before


def test_device_decides_while_the_controller_is_unreachable(edge, clear_faults):
    """A failing release is reverted and a healthy one committed on the device during a full outage."""
    lab, pub = edge["lab"], edge["publisher"]
    good_host, bad_host = "edge-s2-01", "edge-s3-01"
    good = pub.release("4.0.0", 500 * 1000)
    bad = pub.release("4.0.1", 500 * 1000, healthy=False)
    change = "CHG-EDGE-OFFLINE"
    open_change(edge["ledger"], change)
    before_bad = demo_version(lab, bad_host)
    for host, rel in ((good_host, good), (bad_host, bad)):
        res = edge_update([host], **stage_args(pub, rel, change, wait=60))[host]
        assert res["release_status"] == "staged", res
    # Both activations in one play; each decision takes 20+ s after activation, so it falls inside the
    # outage that starts as soon as the play returns.
    play = [
        {
            "hosts": f"{good_host},{bad_host}",
            "gather_facts": False,
            "tasks": [
                {
                    "changeward.hybrid.edge_update": {
                        "app": APP,
                        "state": "activated",
                        "change_id": change,
                        "release": "{{ releases[inventory_hostname] }}",
                        "links": LINKS,
                        "restart_command": ["service", "demo-service", "restart"],
                        "health": "{{ health[inventory_hostname] }}",
                    },
                    "register": "act",
                },
                {
                    "ansible.builtin.assert": {
                        "that": ["act.release_status == 'activated'"],
                        "fail_msg": "{{ act | to_json }}",
                    }
                },
            ],
        }
    ]
    path = edge["work"] / "activate.yml"
    path.write_text(yaml.safe_dump(play))
    activation = {
        "releases": {good_host: good["release"], bad_host: bad["release"]},
        "health": {good_host: dict(HEALTH, healthy_after=20), bad_host: dict(HEALTH, start_period=20)},
    }
    proc = run_playbook(path, activation)
    assert proc.returncode == 0, proc.stdout[-4000:]
    outage_start = time.time()
    lab.fault(f"{good_host},{bad_host}", outage=45)
    outage_end = outage_start + 45
    time.sleep(3)
    probe = lab.ssh(good_host, "true", timeout=15)
    assert probe.returncode != 0, "the host answered during the outage"
    time.sleep(max(0.0, outage_end - time.time()) + 2)
    # Link back: the controller asks and records what the devices decided meanwhile.
    vars_ = playbook_vars(edge, good, change)
    play = [
        {
            "hosts": f"{good_host},{bad_host}",
            "gather_facts": False,
            "tasks": [
                {
                    "changeward.hybrid.edge_rollout": {
                        "step": "status",
                        "change_id": change,
                        "ledger": str(edge["ledger"]),
                        "manifest": "{{ lookup('ansible.builtin.file', manifests[inventory_hostname]) }}",
                        "signature": "{{ lookup('ansible.builtin.file', signatures[inventory_hostname]) }}",
                        "public_key": vars_["edge_public_key"],
                        "poll": 5,
                        "deadline": 60,
                    },
                    "register": "st",
                },
                {
                    "ansible.builtin.assert": {
                        "that": ["st.outcome == expected[inventory_hostname]"],
                        "fail_msg": "{{ st | to_json }}",
                    }
                },
            ],
        }
    ]
    path = edge["work"] / "status.yml"
    path.write_text(yaml.safe_dump(play))
    proc = run_playbook(
        path,
        {
            "manifests": {good_host: good["manifest_path"], bad_host: bad["manifest_path"]},
            "signatures": {good_host: good["signature_path"], bad_host: bad["signature_path"]},
            "expected": {good_host: "committed", bad_host: "rolled_back"},
        },
    )
    assert proc.returncode == 0, proc.stdout[-4000:]
    events = ledger_events(edge["ledger"], change)
    for host, kind in ((good_host, "committed"), (bad_host, "rolled_back")):
        ev = [e for e in events if e["type"] == f"io.changeward.edge.{kind}" and e["data"]["host"] == host]
        assert len(ev) == 1, events
        decided = parse_time(ev[0]["time"])
        assert outage_start < decided < outage_end, f"{host} decided at {decided}, not during the outage"
        assert parse_time(ev[0]["data"]["learned_at"]) > outage_end
        assert ev[0]["source"] == f"urn:changeward:edge:{host}"
    assert demo_version(lab, good_host) == "4.0.0"
    assert demo_version(lab, bad_host) == before_bad


def test_activation_waits_for_the_change_window(edge):
    lab, pub = edge["lab"], edge["publisher"]
    rel = pub.release("5.0.0", 300 * 1000)
    change = "CHG-EDGE-WINDOW"
    before = {h: demo_version(lab, h) for h in HOSTS}
    freeze = [
        {
            "name": "edge",
            "kind": "blackout",
            "windows": [{"name": "freeze", "start": "2000-01-01T00:00", "duration": "P36500D"}],
        }
    ]
    proc = run_playbook(
        REPO / "playbooks" / "edge_rollout.yml", playbook_vars(edge, rel, change, edge_calendars=freeze)
    )
    assert proc.returncode == 0, proc.stdout[-4000:]
    events = ledger_events(edge["ledger"], change)
    kinds = [e["type"].rsplit(".", 1)[1] for e in events]
    assert kinds.count("staged") == len(HOSTS)
    assert "activated" not in kinds
    wave = [e for e in events if e["type"].endswith("wave_judged")]
    assert len(wave) == 1 and wave[0]["data"]["decision"] == "hold" and wave[0]["data"]["gate"]["blocked"]
    assert {h: demo_version(lab, h) for h in HOSTS} == before


def test_transfer_resumes_by_itself_after_a_power_loss(edge, clear_faults):
    """Power loss mid-transfer: at boot the device resumes from its persisted offset, with no controller call."""
    lab, pub = edge["lab"], edge["publisher"]
    host = "edge-s3-01"
    rel = pub.release("6.0.0", 4 * 1000 * 1000)
    change = "CHG-EDGE-POWER"
    lab.fault(host, rate="4mbit")
    since = log_position()
    res = edge_update([host], **stage_args(pub, rel, change))[host]
    assert res["release_status"] == "staging", res
    progress = wait_for_offset(lab, host, 1000 * 1000)
    assert progress.get("offset", 0) >= 1000 * 1000, progress
    lab.power("restart", host)
    deadline = time.time() + 90
    state = {}
    while time.time() < deadline:
        proc = lab.ssh(host, f"cat {ROOT_DIR}/{APP}/state.json", timeout=20)
        state = json.loads(proc.stdout) if proc.returncode == 0 and proc.stdout else {}
        if (state.get("staging") or {}).get("status") != "staging":
            break
        time.sleep(2)
    assert (state.get("staging") or {}).get("status") == "staged", state
    events = edge_update([host], state="status", change_id=change, release=rel["release"])[host]["events"]
    resumed = [e for e in events if e["type"] == "staging_resumed"]
    assert resumed and resumed[0]["data"]["offset"] >= progress["offset"]
    reqs = served(since, edge["addr"][host], rel["path"])
    assert [r["start"] for r in reqs].count(0) == 1, "the transfer began again from zero after the power loss"
    assert sum(r["body"] for r in reqs) <= 1.05 * rel["size"] + CHUNK


def rollout_task(edge, host, name, **args):
    """Start ansible-playbook with one edge_rollout task on host (the release's manifest and signature read from
    the files named by the extra vars manifest_path/signature_path); returns (play path, result file)."""
    out = edge["work"] / f"{name}.json"
    play = [
        {
            "hosts": host,
            "gather_facts": False,
            "tasks": [
                {
                    "changeward.hybrid.edge_rollout": dict(
                        {
                            "ledger": str(edge["ledger"]),
                            "manifest": "{{ lookup('ansible.builtin.file', manifest_path) }}",
                            "signature": "{{ lookup('ansible.builtin.file', signature_path) }}",
                            "public_key": str(edge["publisher"].pub_path),
                        },
                        **args,
                    ),
                    "register": "res",
                },
                {
                    "ansible.builtin.copy": {"content": "{{ res | to_json }}", "dest": str(out), "mode": "0600"},
                    "delegate_to": "localhost",
                },
            ],
        }
    ]
    path = edge["work"] / f"{name}.yml"
    path.write_text(yaml.safe_dump(play))
    return path, out


def test_activate_deadline_holds_under_a_cut_link(edge, clear_faults):
    """activate with deadline 35 while the link is cut under the call: the step returns within the deadline
    (it took 86 s when only SSH timeouts bounded it), reports the call it gave up on as in flight and the
    unreachable time from when that call began; once the link is back, status learns what the device did."""
    lab, pub = edge["lab"], edge["publisher"]
    host = "edge-s1-01"
    rel = pub.release("7.0.0", 200 * 1000)
    change = "CHG-EDGE-DEADLINE"
    files = {"manifest_path": rel["manifest_path"], "signature_path": rel["signature_path"]}
    open_change(edge["ledger"], change)
    res = edge_update([host], **stage_args(pub, rel, change, wait=60))[host]
    assert res["release_status"] == "staged", res
    deadline, outage = 35, 55
    path, out = rollout_task(
        edge,
        host,
        "deadline-activate",
        step="activate",
        change_id=change,
        links=LINKS,
        restart_command=["service", "demo-service", "restart"],
        health=dict(HEALTH, healthy_after=30),  # 30 healthy checks a second apart: decided during the outage
        deadline=deadline,
        poll=5,
    )
    cut = {}

    def cut_when_activated():
        # The first call switches the device over and waits on it for progress: cut the link under that call.
        stop = time.time() + 60
        while time.time() < stop:
            proc = lab.ssh(host, f"cat {ROOT_DIR}/{APP}/state.json", timeout=10)
            state = json.loads(proc.stdout) if proc.returncode == 0 and proc.stdout else {}
            if (state.get("activation") or {}).get("release") == rel["release"]:
                lab.fault(host, outage=outage)
                cut["at"] = time.time()
                return
            time.sleep(0.3)

    thread = threading.Thread(target=cut_when_activated, daemon=True)
    thread.start()
    started = time.time()
    proc = run_playbook(path, files)
    ended = time.time()
    thread.join(5)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "at" in cut, "the device never showed the activation: the link was not cut under the call"
    result = json.loads(out.read_text())
    assert result["outcome"] == "pending", result
    # The step: its deadline plus a moment to record; the playbook: that plus ansible-playbook's start-up.
    assert result["elapsed"] <= deadline + 2, result
    assert ended - cut["at"] <= deadline + 10, f"the playbook ended {ended - cut['at']:.0f}s after the cut"
    assert ended - started <= deadline + 20, f"the playbook took {ended - started:.0f}s"
    assert result["in_flight"] and result["in_flight"]["state"] in ("activated", "status"), result
    assert "in flight" in result["msg"]
    # Counted from the start of the call the cut left unanswered (it began before the cut), not from when the
    # controller gave up on it (which reported 0.0).
    assert result["unreachable_seconds"] >= result["in_flight"]["began_seconds_ago"] - 0.1, result
    assert result["unreachable_seconds"] >= ended - cut["at"] - 10, result
    pending = [e for e in ledger_events(edge["ledger"], change) if e["type"] == "io.changeward.edge.host_pending"]
    assert len(pending) == 1 and pending[0]["data"]["in_flight"] == result["in_flight"], pending
    # Progress was printed while the step ran: a few lines, not one per call.
    lines = [line for line in proc.stdout.splitlines() if line.startswith(f"edge_rollout {host}:")]
    assert 2 <= len(lines) <= 8, proc.stdout[-3000:]
    assert "deadline 35s" in lines[0] and "pending after" in lines[-1], lines
    # The device decided on its own during the outage; once the link is back, status records it.
    time.sleep(max(0.0, cut["at"] + outage + 2 - time.time()))
    path, out = rollout_task(edge, host, "deadline-status", step="status", change_id=change, poll=15)
    proc = run_playbook(path, files)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert json.loads(out.read_text())["outcome"] == "committed"
    committed = [e for e in ledger_events(edge["ledger"], change) if e["type"] == "io.changeward.edge.committed"]
    assert len(committed) == 1 and cut["at"] < parse_time(committed[0]["time"]) < cut["at"] + outage
    assert demo_version(lab, host) == "7.0.0"


def test_device_trusts_only_pinned_keys_and_refuses_unauthorised_downgrades(edge):
    """The device verifies with the keys pinned on it, not the key the controller sends; keys change only through
    a release signed by a pinned key; an older release needs a signed downgrade authorisation naming the device.
    Every refusal is a device event the controller records in the ledger, and leaves the slots as they were."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ansible_collections.changeward.hybrid.plugins.module_utils.edge import trust

    lab, pub, ledger = edge["lab"], edge["publisher"], str(edge["ledger"])
    host = "edge-s2-01"
    change = "CHG-EDGE-TRUST"
    open_change(edge["ledger"], change)
    rogue = Ed25519PrivateKey.generate()
    rogue_pem = public_pem(rogue)

    def stage(rel, key_pem, **extra):
        args = {"step": "stage", "change_id": change, "ledger": ledger, "manifest": rel["manifest"]}
        args.update(signature=rel["signature"], public_key=key_pem, url=rel["url"], deadline=120, poll=3, **extra)
        return edge_rollout([host], **args)[host]

    def device_state():
        return json.loads(lab.ssh(host, f"cat {ROOT_DIR}/{APP}/state.json").stdout or "{}")

    try:
        # 1. A release signed by a key the controller vouches for, but the device does not pin: refused on the
        #    device (the controller's own check passes with that key), recorded, nothing downloaded.
        since = log_position()
        forged = pub.release("7.5.0", 300 * 1000, sign_with=rogue)
        res = stage(forged, rogue_pem)
        assert res["outcome"] == "refused" and "does not pin" in res["msg"], res
        assert served(since, edge["addr"][host], forged["path"]) == []

        # 2. Without pinned keys the device accepts nothing; provisioning pins once and refuses other keys later.
        assert lab.ssh(host, f"rm -f {TRUST_FILE}").returncode == 0
        good = pub.release("7.6.0", 300 * 1000)
        res = stage(good, pub.public_pem)
        assert res["outcome"] == "refused" and "no pinned publisher keys" in res["msg"], res
        prov = edge_update([host], state="provisioned", trusted_keys=[pub.public_pem])[host]
        assert prov["changed"] and prov["trusted_keys"] == [trust.key_id(pub.public_pem)], prov
        again = edge_update([host], state="provisioned", trusted_keys=[rogue_pem])[host]
        assert again["failed"] and again["error_kind"] == "trust", again

        # 3. Rotation: a release signed by the pinned key carries a new key; then a release signed by the new
        #    key is accepted. 8.0.0 is committed on the device.
        new = Ed25519PrivateKey.generate()
        rotating = pub.release("8.0.0", 300 * 1000, rotate={"add": [public_pem(new)]})
        assert stage(rotating, pub.public_pem)["outcome"] == "staged"
        act = edge_update(
            [host],
            state="activated",
            change_id=change,
            release=rotating["release"],
            links=LINKS,
            restart_command=["service", "demo-service", "restart"],
            health=HEALTH,
            wait=60,
        )[host]
        assert act["release_status"] == "committed", act
        assert trust.key_id(public_pem(new)) in act["trusted_keys"], act
        rotated = [e for e in ledger_events(edge["ledger"], change) if e["type"] == "io.changeward.edge.trust_rotated"]
        assert len(rotated) == 1, ledger_events(edge["ledger"], change)
        by_new = pub.release("8.1.0", 300 * 1000, sign_with=new)
        res = stage(by_new, public_pem(new))
        assert res["outcome"] == "staged", res

        # 4. A lower version than the committed 8.0.0 is refused without an authorisation; the slots stay.
        before = device_state()
        older = pub.release("7.9.0", 300 * 1000)
        res = stage(older, pub.public_pem)
        assert res["outcome"] == "refused" and "older than the running version 8.0.0" in res["msg"], res
        after = device_state()
        for key in ("current", "activation", "slots", "staging"):
            assert after[key] == before[key], key
        assert demo_version(lab, host) == "8.0.0"
        # An authorisation for another device does not count; one naming this device and release does.
        for hosts, outcome in ((["edge-s1-01"], "refused"), ([host], "staged")):
            doc = {"format": trust.DOWNGRADE_FORMAT, "app": APP, "release": older["release"], "version": "7.9.0"}
            text = json.dumps(dict(doc, hosts=hosts), sort_keys=True)
            sig = base64.b64encode(pub.key.sign(text.encode())).decode()
            res = stage(older, pub.public_pem, downgrade_authorization=text, downgrade_signature=sig)
            assert res["outcome"] == outcome, res
        kinds = [
            e["data"].get("kind")
            for e in ledger_events(edge["ledger"], change)
            if e["type"] == "io.changeward.edge.staging_refused"
        ]
        assert kinds.count("downgrade") == 2 and "signature" in kinds and "trust" in kinds, kinds
    finally:
        reset_device(lab, host)  # back to the lab's provisioning: the lab key pinned, nothing else
    assert json.loads(lab.ssh(host, f"cat {TRUST_FILE}").stdout)["keys"][0]["id"] == trust.key_id(pub.public_pem)
