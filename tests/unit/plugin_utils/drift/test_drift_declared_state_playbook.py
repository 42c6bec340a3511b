"""playbooks/drift_detect.yml judging a declared state that is not the demo's: the inventory declares, for a
host group, the sysctl example role (examples/roles/sysctl_setting) with its variables; the check detector runs
that role in check mode with those variables on local connections. A host of another group declares nothing
and is unknown. Runs with the project's ansible.cfg (the collector enabled beside the guard and the closer) and
as an ansible-runner job would (its artifact directory in AWX_ISOLATED_DATA_DIR), where the report must land."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[4]
PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
TARGET_PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
SYSCTL = Path("/usr/sbin/sysctl")

pytestmark = pytest.mark.skipif(
    not PLAYBOOK.exists() or not SYSCTL.exists(), reason="needs ansible-playbook in this venv and sysctl"
)


def host(env_type, **labels):
    return {"env_type": env_type, **labels, "ansible_connection": "local", "ansible_python_interpreter": TARGET_PYTHON}


def test_a_host_groups_declared_state_from_examples_roles_is_what_detection_runs(tmp_path):
    value = subprocess.run(
        [str(SYSCTL), "-n", "net.ipv4.ip_forward"], capture_output=True, text=True, check=True
    ).stdout.strip()
    inventory = {
        "all": {
            "children": {
                "web": {
                    "hosts": {
                        "h-web-sync": host("cloud", region="eu-west-1", az="eu-west-1a"),
                        "h-web-drift": host("onprem", region="onprem-eu", site="dc1"),
                    },
                    # the operator's declaration for the host group: the role and its variables
                    "vars": {
                        "changeward_drift_state": [
                            {
                                "role": "sysctl_setting",
                                "vars": {
                                    "sysctl_setting_values": {"net.ipv4.ip_forward": value},
                                    "sysctl_setting_file": f"{tmp_path}/{{{{ inventory_hostname }}}}.conf",
                                },
                            }
                        ]
                    },
                },
                "other": {"hosts": {"h-none": host("edge", region="eu-central", site="edge-site-1")}},
            }
        }
    }
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory))
    declared = (
        "# Managed by changeward (role sysctl_setting); changes go through a change spec.\n"
        f"net.ipv4.ip_forward = {value}\n"
    )
    (tmp_path / "h-web-sync.conf").write_text(declared)
    (tmp_path / "h-web-drift.conf").write_text(declared.replace(" = ", " = 1 # hand edit "))
    artifacts = tmp_path / "runner" / "artifacts" / "17"
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        CHANGEWARD_DRIFT_OUTPUT_DIR=str(tmp_path / "evidence"),
        CHANGEWARD_DRIFT_DETAILED_EXITCODE="1",
        AWX_ISOLATED_DATA_DIR=str(artifacts),
    )
    for name in ("CHANGEWARD_LEDGER", "ANSIBLE_CALLBACKS_ENABLED", "CHANGEWARD_DRIFT_REPORT_DIR"):
        env.pop(name, None)
    cmd = [
        str(PLAYBOOK),
        "-i",
        str(tmp_path / "inventory.yml"),
        "-e",
        json.dumps({"drift_detectors": "check", "drift_record": False}),
        str(REPO / "playbooks" / "drift_detect.yml"),
    ]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)
    # the host with no declared state is unknown: exit 1
    assert proc.returncode == 1, proc.stdout[-4000:] + proc.stderr[-2000:]
    report = json.loads((artifacts / "changeward-drift" / "latest.json").read_text())
    hosts = report["hosts"]
    assert {h: hosts[h]["status"] for h in hosts} == {
        "h-web-sync": "in_sync",
        "h-web-drift": "drifted",
        "h-none": "unknown",
    }
    finding = hosts["h-web-drift"]["findings"][0]
    assert len(hosts["h-web-drift"]["findings"]) == 1
    assert (finding["detector"], finding["class"], finding["item"]) == ("check", "file", f"{tmp_path}/h-web-drift.conf")
    assert f"+net.ipv4.ip_forward = {value}" in finding["diff"]
    assert "no declared state" in hosts["h-none"]["unknown"][0]["reason"]
    # the files are the job's: in its artifact directory, private
    assert oct((artifacts / "changeward-drift").stat().st_mode & 0o777) == "0o700"
    assert (artifacts / "changeward-drift" / f"drift-{report['run_id']}.md").exists()
    # check mode changed nothing
    assert (tmp_path / "h-web-drift.conf").read_text() != declared


def write_role(root: Path, name: str, scope_path: str | None):
    """A role that writes one declared file; with scope_path it declares it as its snapshot scope."""
    (root / name / "tasks").mkdir(parents=True)
    (root / name / "tasks" / "main.yml").write_text(
        yaml.safe_dump(
            [
                {
                    "name": "Write the declared file",
                    "ansible.builtin.copy": {
                        "dest": "{{ cw_conf_path }}",
                        "content": "{{ cw_conf_content }}\n",
                        "mode": "0644",
                    },
                }
            ]
        )
    )
    if scope_path:
        (root / name / "meta").mkdir()
        (root / name / "meta" / "changeward.yml").write_text(yaml.safe_dump({"snapshot": {"paths": [scope_path]}}))


def test_nightly_remediation_of_declared_states_restores_verifies_and_keeps_one_review_per_host(tmp_path):
    """drift_remediation.yml with the check detector on local connections: h-fix declares a role with a snapshot
    scope and is restored (snapshot, role with the declared value, re-check in sync); h-person declares a role that
    declares no snapshot scope and is left to a person. Run twice - the second night opens no second review."""
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger

    roles = tmp_path / "roles"
    write_role(roles, "cw_conf_scoped", f"{tmp_path}/h-fix.conf")
    write_role(roles, "cw_conf_unscoped", None)
    policy = {"api_version": "changeward.hybrid/v1", "drift": {"auto_remediate": {"classes": ["file"]}}}
    state = {"cw_conf_content": "declared"}
    inventory = {
        "all": {
            "vars": {"changeward_policy": policy},
            "hosts": {
                "h-fix": dict(
                    host("cloud", region="eu-west-1", az="eu-west-1a", rollback_capability="full"),
                    changeward_drift_state=[
                        {"role": "cw_conf_scoped", "vars": dict(state, cw_conf_path=f"{tmp_path}/h-fix.conf")}
                    ],
                ),
                "h-person": dict(
                    host("onprem", region="onprem-eu", site="dc1", rollback_capability="full"),
                    changeward_drift_state=[
                        {"role": "cw_conf_unscoped", "vars": dict(state, cw_conf_path=f"{tmp_path}/h-person.conf")}
                    ],
                ),
            },
        }
    }
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory))
    for name in ("h-fix", "h-person"):
        (tmp_path / f"{name}.conf").write_text("edited by hand\n")
    ledger = tmp_path / "ledger.db"
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_ROLES_PATH=str(roles),
        CHANGEWARD_LEDGER=str(ledger),
        CHANGEWARD_LEDGER_CHECKPOINT_INTERVAL="0",
        CHANGEWARD_DRIFT_REPORT_DIR=str(tmp_path / "reports"),
        CHANGEWARD_DRIFT_OUTPUT_DIR=str(tmp_path / "evidence"),
        CHANGEWARD_DRIFT_DETAILED_EXITCODE="1",
    )
    env.pop("ANSIBLE_CALLBACKS_ENABLED", None)
    calendar = {"name": "far", "windows": [{"name": "far away", "start": "2099-12-20T00:00", "duration": "P1D"}]}
    outs = []
    for night in (1, 2):
        extra = {
            "drift_detectors": "check",
            "drift_calendars": [calendar],
            "drift_change_id": f"DRM-UNIT-{night}",
            "drift_snapshot_store": str(tmp_path / "snapshots"),
        }
        cmd = [
            str(PLAYBOOK),
            "-i",
            str(tmp_path / "inventory.yml"),
            "-e",
            json.dumps(extra),
            str(REPO / "playbooks" / "drift_remediation.yml"),
        ]
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)
        outs.append(proc)
        assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    assert (tmp_path / "h-fix.conf").read_text() == "declared\n"  # restored by its declared role and value
    assert (tmp_path / "h-person.conf").read_text() == "edited by hand\n"  # left to a person
    with open_ledger(str(ledger), create=False, readonly=True) as lg:
        first = lg.get_change("DRM-UNIT-1")
        assert first["status"] == "closed" and first["outcome"] == "successful", first
        assert first["targets"] == ["h-fix"] and [s["host"] for s in first["snapshots"]] == ["h-fix"]
        verified = lg.events(subject="DRM-UNIT-1", types="io.changeward.drift.verified")
        assert verified[-1].event["data"]["verification"]["hosts"]["h-fix"]["status"] == "in_sync"
        # night 2: h-fix is in sync, nothing to remediate; h-person's drift is already under review
        assert lg.get_change("DRM-UNIT-2") is None
        reviews = [c for c in lg.change_ids() if c.startswith("DRIFT-REVIEW-")]
        assert reviews == ["DRIFT-REVIEW-h-person"]
        review = lg.get_change("DRIFT-REVIEW-h-person")
        assert review["status"] == "open" and review["targets"] == ["h-person"]
        (opened,) = lg.events(subject="DRIFT-REVIEW-h-person")
        assert "cw_conf_unscoped declare no snapshot scope" in opened.event["data"]["reasons"][0]
        assert any("h-person.conf" in item for item in opened.event["data"]["items"])
    assert "reviews opened: DRIFT-REVIEW-h-person" in outs[0].stdout
    assert "reviews already open: DRIFT-REVIEW-h-person" in outs[1].stdout
