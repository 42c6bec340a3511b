"""Dependencies on the lab: demo services with real upstreams on other hosts. A documented call (billing -> auth)
and an undocumented one (checkout -> auth) are observed both from the Prometheus client metric and from the hosts'
connection tables read over SSH; the undocumented one is on the identity and shop teams' workshop agenda, a
documented call nobody makes is listed as never observed, and a change to auth is high-risk by its consumers alone
(risk.blast_radius) and needs the two approvals that class requires (about 1 minute)."""

import json
import subprocess
import time

import pytest
import yaml
from conftest import INVENTORY_DIR, REPO, ansible_env

pytestmark = pytest.mark.reservation("whole-lab")

BILLING, AUTH, CHECKOUT = "cloud-euw1a-01", "onprem-dc1-01", "cloud-euw1b-01"
LEDGER_KEY = "hmac:dependencies-lab-test-key-0123456789"
GUEST_SERVICE = REPO / "tests" / "lab" / "cwlab" / "guest" / "demo_service.py"


def address(lab, host):
    return lab.host(host).address


@pytest.fixture(scope="module")
def upstreams(lab):
    """billing's and checkout's demo services call auth's once a second; removed afterwards."""
    auth = f"http://{address(lab, AUTH)}:8080/healthz"
    for host in (BILLING, CHECKOUT):
        # the service code of this checkout (a host copies it at boot; the lab may predate it)
        done = lab.ssh(host, "cat > /opt/cwlab/demo_service.py", input=GUEST_SERVICE.read_text())
        assert done.returncode == 0, done.stderr
        config = json.dumps({"upstreams": [{"url": auth}], "interval": 1})
        done = lab.ssh(host, f"echo '{config}' > /etc/demo-service/upstreams.json && service demo-service restart")
        assert done.returncode == 0, done.stderr
    time.sleep(25)  # Prometheus scrapes every 5 s: increase() over 1 m needs a few samples
    yield
    for host in (BILLING, CHECKOUT):
        lab.ssh(host, "rm -f /etc/demo-service/upstreams.json")


def catalogue(lab):
    return {
        "api_version": "changeward.hybrid/dependencies/v1",
        "services": {
            "auth": {
                "team": "identity",
                "criticality": "critical",
                "endpoints": [f"{address(lab, AUTH)}:8080"],
                "confirmed": "2026-12-01",
            },
            "billing": {
                "team": "payments",
                "criticality": "critical",
                "endpoints": [f"{address(lab, BILLING)}:8080"],
                "confirmed": "2026-12-01",
                "depends_on": ["auth"],
            },
            "checkout": {
                "team": "shop",
                "criticality": "high",
                "endpoints": [f"{address(lab, CHECKOUT)}:8080"],
                "confirmed": "2026-12-01",
            },
            "portal": {"team": "web", "criticality": "medium", "confirmed": "2026-12-01", "depends_on": ["billing"]},
        },
    }


def playbook(tmp_path, lab):
    (tmp_path / "catalogue.yml").write_text(yaml.safe_dump(catalogue(lab)))
    (tmp_path / "policy.yml").write_text(
        yaml.safe_dump({"api_version": "changeward.hybrid/v1", "risk": {"blast_radius": {"weighted_consumers": 5}}})
    )
    store = str(tmp_path / "deps.json")
    return [
        {
            "name": "Connection tables",
            "hosts": f"{BILLING}:{CHECKOUT}:{AUTH}",
            "gather_facts": False,
            "tasks": [
                {"ansible.builtin.command": "ss -tanpH", "register": "changeward_connections", "changed_when": False}
            ],
        },
        {
            "name": "Map, report, score",
            "hosts": "localhost",
            "connection": "local",
            "gather_facts": False,
            "tasks": [
                {
                    "name": "map",
                    "changeward.hybrid.dependency_map": {
                        "store": store,
                        "documented": [{"src": str(tmp_path / "catalogue.yml")}],
                        "prometheus": {
                            "query": "sum by (instance, upstream) (increase(demo_upstream_requests_total[1m]))"
                        },
                        "prometheus_url": "http://198.18.0.1:9090",
                        "connections": {"hosts": [BILLING, CHECKOUT, AUTH]},
                    },
                },
                {
                    "name": "report",
                    "changeward.hybrid.dependency_report": {"store": store, "output_dir": str(tmp_path / "reports")},
                },
                {
                    "name": "open",
                    "changeward.hybrid.change_record": {
                        "change_id": "CHG-DEPS-1",
                        "type": "normal",
                        "summary": "auth release",
                        "requester": "alice",
                        "targets": [AUTH],
                    },
                },
                {
                    "name": "score",
                    "changeward.hybrid.risk_score": {
                        "targets": [AUTH],
                        "change_kind": "config",
                        "services": ["auth"],
                        "dependency_map": store,
                        "change_id": "CHG-DEPS-1",
                        "policy": str(tmp_path / "policy.yml"),
                    },
                    "register": "risk",
                },
                {
                    "name": "keep",
                    "ansible.builtin.copy": {
                        "dest": str(tmp_path / "risk.json"),
                        "content": "{{ risk | to_json }}",
                        "mode": "0600",
                    },
                },
                {
                    "name": "approvals",
                    "changeward.hybrid.approval": {
                        "state": "checked",
                        "change_id": "CHG-DEPS-1",
                        "targets": [AUTH],
                        "services": ["auth"],
                        "risk": "{{ risk }}",
                        "policy": str(tmp_path / "policy.yml"),
                    },
                },
            ],
        },
    ]


def test_an_undocumented_call_is_found_and_a_change_to_its_upstream_needs_the_approvals_of_its_blast_radius(
    lab, upstreams, tmp_path
):
    (tmp_path / "play.yml").write_text(json.dumps(playbook(tmp_path, lab)))
    proc = subprocess.run(
        [
            str(REPO / ".venv" / "bin" / "ansible-playbook"),
            "-i",
            str(INVENTORY_DIR / "hybrid.yml"),
            str(tmp_path / "play.yml"),
        ],
        cwd=REPO,
        env=ansible_env(CHANGEWARD_LEDGER=str(tmp_path / "ledger.db"), CHANGEWARD_LEDGER_KEY=LEDGER_KEY),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    print(proc.stdout[-6000:], proc.stderr[-2000:])
    # the approval gate stops the change: high (by blast radius) needs two approvals
    assert proc.returncode == 2
    assert "risk class high needs 2 approval(s), change CHG-DEPS-1 has 0" in proc.stdout

    hidden = json.loads((tmp_path / "reports" / "hidden-dependencies.json").read_text())
    for team in ("identity", "shop"):
        rows = hidden["teams"][team]["observed_undocumented"]
        assert [(r["consumer"], r["provider"]) for r in rows] == [("checkout", "auth")]
        assert rows[0]["observed_by"] == ["connections", "prometheus"]
    never = hidden["teams"]["web"]["documented_unobserved"]
    assert [(r["consumer"], r["provider"]) for r in never] == [("portal", "billing")]
    graph = json.loads((tmp_path / "deps.json").read_text())
    edges = {(e["consumer"], e["provider"]): e for e in graph["edges"]}
    assert set(edges[("billing", "auth")]["observed"]) == {"connections", "prometheus"}  # documented and seen
    assert "| checkout | auth |" in (tmp_path / "reports" / "hidden-dependencies.md").read_text()

    risk = json.loads((tmp_path / "risk.json").read_text())
    assert risk["class"] == "high"
    assert risk["blast_radius"]["floor"] == "high"
    assert [c["service"] for c in risk["blast_radius"]["consumers"]] == ["billing", "checkout", "portal"]
    # by its score alone the change would be low: the class comes from the consumers
    assert risk["score"] < risk["thresholds"]["medium"]
