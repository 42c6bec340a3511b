"""The window guard callback, proven with real ansible-playbook / ansible runs on localhost.

Windows are placed relative to the wall clock (the guard always checks "now"); markers written by the
play's tasks show what really ran.
"""

import json
import os
import socket
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[4]
VENVS = [v for v in (REPO / ".venv", REPO / ".venv313") if (v / "bin" / "ansible-playbook").exists()]

PLAYBOOK = """
- name: Change
  hosts: all
  serial: "{{ batch | default(0) }}"
  gather_facts: false
  tasks:
    - name: Do the change
      ansible.builtin.file:
        path: "{{ marker_dir }}/{{ inventory_hostname }}"
        state: touch
        mode: "0600"
    - name: Take a while
      ansible.builtin.command:
        argv:
          - "{{ ansible_python_interpreter }}"
          - -c
          - "import time; time.sleep(max(0, {{ hold_until | default(0) }} - time.time()))"
      changed_when: false
"""


def stamp(ts):
    return datetime.fromtimestamp(ts, UTC).strftime("%Y%m%dT%H%M%SZ")


def ics(events):
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//changeward//guard tests//EN"]
    for n, (summary, start, end, categories) in enumerate(events):
        lines += ["BEGIN:VEVENT", f"UID:guard-{n}", "DTSTAMP:20250101T000000Z", f"SUMMARY:{summary}"]
        lines += [f"DTSTART:{stamp(start)}", f"DTEND:{stamp(end)}"]
        if categories:
            lines.append(f"CATEGORIES:{categories}")
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return "\r\n".join(lines) + "\r\n"


class Project:
    def __init__(self, root, venv):
        self.root = root
        self.venv = venv
        self.markers = root / "markers"
        self.markers.mkdir()
        python = venv / "bin" / "python"
        (root / "inventory.ini").write_text(
            "[eu]\nh1 ansible_connection=local region=eu services='[\"billing\"]'\n"
            "[us]\nh2 ansible_connection=local region=us services='[\"web\"]'\n"
            f"[all:vars]\nansible_python_interpreter={python}\n"
        )
        (root / "change.yml").write_text(PLAYBOOK)
        self.guard = {"calendars": "calendar.ics"}

    def calendar(self, *events, name="calendar.ics"):
        (self.root / name).write_text(ics(events))

    def config(self):
        guard = "".join(f"{k} = {v}\n" for k, v in self.guard.items())
        (self.root / "ansible.cfg").write_text(
            "[defaults]\n"
            f"collections_path = {REPO / 'collections'}\n"
            "inventory = inventory.ini\n"
            "stdout_callback = ansible.builtin.default\n"
            "callbacks_enabled = changeward.hybrid.change_window_guard\n"
            "bin_ansible_callbacks = True\n"
            "retry_files_enabled = False\n"
            f"[changeward_window_guard]\n{guard}"
        )

    def run(self, *args, tool="ansible-playbook", env=None, extra_vars=None):
        self.config()
        cmd = [str(self.venv / "bin" / tool), *args]
        if tool == "ansible-playbook":
            cmd += ["change.yml", "-e", json.dumps({"marker_dir": str(self.markers), **(extra_vars or {})})]
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "CHANGEWARD_"))}
        full_env.update(ANSIBLE_CONFIG=str(self.root / "ansible.cfg"), ANSIBLE_NOCOLOR="1", **(env or {}))
        proc = subprocess.run(
            cmd, cwd=self.root, env=full_env, capture_output=True, text=True, timeout=300, check=False
        )
        proc.output = proc.stdout + proc.stderr
        return proc

    def ran(self):
        return sorted(p.name for p in self.markers.iterdir())


@pytest.fixture(params=VENVS, ids=lambda v: v.name)
def project(tmp_path, request):
    return Project(tmp_path, request.param)


@pytest.fixture
def project311(tmp_path):
    return Project(tmp_path, REPO / ".venv")


def active(summary="Billing freeze", categories=None):
    now = time.time()
    return (summary, now - 60, now + 3600, categories)


def test_active_blackout_stops_the_play_before_any_task(project):
    project.calendar(active())
    proc = project.run()
    assert proc.returncode == 2, proc.output
    assert project.ran() == []
    assert "changeward window guard" in proc.output
    assert "Billing freeze" in proc.output
    assert "changes are allowed again at" in proc.output


@pytest.mark.parametrize("tags", [["--skip-tags", "always"], ["--skip-tags", "always,never", "--tags", "x"]])
def test_skipping_the_always_tag_does_not_let_a_blocked_play_pass(project311, tags):
    # --skip-tags always would skip the guard's failing task, so the guard ends the run itself.
    project311.calendar(active())
    proc = project311.run(*tags)
    assert proc.returncode == 2, proc.output
    assert project311.ran() == []
    assert "would skip the guard's failing task" in proc.output


def test_ordinary_tags_still_get_the_failing_task(project311):
    project311.calendar(active())
    proc = project311.run("--tags", "something")
    assert proc.returncode == 2, proc.output
    assert project311.ran() == []
    assert "would skip" not in proc.output and "Billing freeze" in proc.output


def test_window_for_another_scope_lets_the_play_run(project):
    project.calendar(active(categories="region=apac"))
    proc = project.run()
    assert proc.returncode == 0, proc.output
    assert project.ran() == ["h1", "h2"]


def test_rollout_stops_at_the_next_batch_when_a_window_opens_mid_run(project):
    # The window opens while batch 1 (h1) is running; batch 1 holds until just after it opened.
    opens = time.time() + 20
    project.calendar(("Opened mid-run", opens, opens + 3600, None))
    proc = project.run(extra_vars={"batch": 1, "hold_until": opens + 1})
    assert proc.returncode == 2, proc.output
    assert project.ran() == ["h1"], proc.output
    assert proc.output.count("PLAY [Change]") == 2  # the guard ran before each batch
    assert "Opened mid-run" in proc.output


def test_host_scope_and_service_label(project311):
    # h1 carries services [billing], h2 [web]; the label services is matched as service.
    project311.calendar(active(categories="service=billing"))
    proc = project311.run("-l", "h2")
    assert proc.returncode == 0, proc.output
    proc = project311.run("-l", "h1")
    assert proc.returncode == 2, proc.output
    assert "blocked for h1" in proc.output
    assert project311.ran() == ["h2"]


def test_unreachable_calendar_blocks(project311):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    project311.guard = {"calendars": f"http://127.0.0.1:{port}/calendar.ics", "http_timeout": "2"}
    proc = project311.run()
    assert proc.returncode == 2, proc.output
    assert "unreachable" in proc.output
    assert project311.ran() == []


def test_no_calendar_configured_blocks(project311):
    project311.guard = {}
    proc = project311.run()
    assert proc.returncode == 2, proc.output
    assert "no calendars" in proc.output
    assert project311.ran() == []


def test_adhoc_command_is_guarded(project311):
    project311.calendar(active())
    target = project311.markers / "adhoc"
    proc = project311.run("all", "-m", "ansible.builtin.file", "-a", f"path={target} state=touch", tool="ansible")
    assert proc.returncode == 2, proc.output
    assert not target.exists()
    assert "Billing freeze" in proc.output


def test_exempt_playbook_runs(project311):
    project311.calendar(active())
    project311.guard["exempt_playbooks"] = "change.yml"
    proc = project311.run()
    assert proc.returncode == 0, proc.output
    assert project311.ran() == ["h1", "h2"]


def test_enforce_false_warns_and_runs(project311):
    project311.calendar(active())
    proc = project311.run(env={"CHANGEWARD_WINDOW_ENFORCE": "false"})
    assert proc.returncode == 0, proc.output
    assert "enforce=false" in proc.output
    assert project311.ran() == ["h1", "h2"]


def signed_override(project, change_id="CHG-77", reference="INC-7777"):
    """A policy with an incident commander whose ssh key is in its allowed-signers file, and her signed override
    statement as a file (with .sig beside it, as ssh-keygen -Y sign writes it)."""
    from ssh_signers import Signers

    from ansible_collections.changeward.hybrid.plugins.plugin_utils.approval import statement_text
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar.override import override_statement

    keys = Signers(project.root / "keys", ["alice"])
    (project.root / "policy.yml").write_text(
        "api_version: changeward.hybrid/v1\nblackout:\n  override_roles: [incident-commander]\n"
        "override:\n  reference_pattern: 'INC-[0-9]{4}'\n"
        f"approval:\n  allowed_signers: {keys.path}\n  approvers:\n    - {{name: alice, roles: [incident-commander]}}\n"
    )
    stmt = override_statement(
        change_id, "sha256:" + "0" * 64, "alice", "incident-commander", reference, "auth outage: hotfix now"
    )
    text = statement_text(stmt)
    (project.root / "override.json").write_text(text)
    (project.root / "override.json.sig").write_text(keys.sign("alice", text))
    project.guard["policy_file"] = "policy.yml"
    return {"file": "override.json"}


def test_emergency_override_through_extra_vars(project311):
    project311.calendar(active())
    override = signed_override(project311)
    proc = project311.run(extra_vars={"changeward_change_type": "emergency", "changeward_override": override})
    assert proc.returncode == 0, proc.output
    assert project311.ran() == ["h1", "h2"]
    assert "overridden under INC-7777" in proc.output
    assert "io.changeward.gate.override" in proc.output
    refused = project311.run(extra_vars={"changeward_override": override})  # change type stays normal
    assert refused.returncode == 2, refused.output
    assert "Override refused" in refused.output
    other = project311.run(
        extra_vars={"changeward_change_type": "emergency", "changeward_override": override, "changeward_change_id": "X"}
    )
    assert other.returncode == 2 and "is for change CHG-77, not X" in other.output


def test_an_unsigned_override_is_refused_by_the_guard(project311):
    project311.calendar(active())
    signed_override(project311)
    typed = {"reference": "INC-7777", "approver": "alice", "role": "incident-commander"}
    proc = project311.run(extra_vars={"changeward_change_type": "emergency", "changeward_override": typed})
    assert proc.returncode == 2, proc.output
    assert "self-declared approver (alice) cannot be verified" in proc.output
    env = {
        "CHANGEWARD_OVERRIDE_REFERENCE": "INC-7777",
        "CHANGEWARD_OVERRIDE_APPROVER": "alice",
        "CHANGEWARD_OVERRIDE_ROLE": "incident-commander",
    }
    proc = project311.run(env=env, extra_vars={"changeward_change_type": "emergency"})
    assert proc.returncode == 2 and "cannot be verified" in proc.output
    assert project311.ran() == []


def test_the_change_specs_type_is_the_change_type(project311):
    """The main job's change type is its spec's: an emergency spec's override is honoured, a standard one's not."""
    project311.calendar(active())
    override = signed_override(project311)
    proc = project311.run(extra_vars={"change_spec": {"type": "emergency"}, "changeward_override": override})
    assert proc.returncode == 0, proc.output
    assert "overridden under INC-7777" in proc.output
    refused = project311.run(extra_vars={"change_spec": {"type": "standard"}, "changeward_override": override})
    assert refused.returncode == 2, refused.output
    assert "Override refused" in refused.output


def test_regional_calendar_from_group_vars(project311):
    project311.calendar(("Far future", time.time() + 86400 * 30, time.time() + 86400 * 31, None))
    project311.calendar(active("EU bank holiday"), name="eu.ics")
    (project311.root / "group_vars").mkdir()
    (project311.root / "group_vars" / "eu.yml").write_text("changeward_local_calendars: [eu.ics]\n")
    assert project311.run("-l", "h2").returncode == 0
    proc = project311.run("-l", "h1")
    assert proc.returncode == 2, proc.output
    assert "EU bank holiday" in proc.output


def test_regional_calendar_from_the_regional_policy_layer(project311):
    """changeward_policy_local.blackout.calendars (the regional layer the actions read) blocks that region only."""
    project311.calendar(("Far future", time.time() + 86400 * 30, time.time() + 86400 * 31, None))
    project311.calendar(active("EU bank holiday"), name="eu.ics")
    (project311.root / "group_vars").mkdir()
    (project311.root / "group_vars" / "eu.yml").write_text(
        "changeward_policy_local:\n  blackout:\n    calendars: [eu.ics]\n"
    )
    assert project311.run("-l", "h2").returncode == 0
    proc = project311.run("-l", "h1")
    assert proc.returncode == 2, proc.output
    assert "EU bank holiday" in proc.output


def test_a_regional_layer_that_loosens_the_policy_blocks(project311):
    project311.calendar(("Far future", time.time() + 86400 * 30, time.time() + 86400 * 31, None))
    (project311.root / "group_vars").mkdir()
    (project311.root / "group_vars" / "eu.yml").write_text(
        "changeward_policy_local:\n  blackout:\n    override_roles: [anyone]\n"
    )
    proc = project311.run("-l", "h1")
    assert proc.returncode == 2, proc.output
    assert "may not set override_roles" in proc.output


def test_a_regional_layer_given_as_an_extra_var_blocks(project311):
    """The regional layer is pinned in the inventory: one the run supplies is refused, even one that only adds."""
    project311.calendar(("Far future", time.time() + 86400 * 30, time.time() + 86400 * 31, None))
    project311.calendar(("Far future too", time.time() + 86400 * 40, time.time() + 86400 * 41, None), name="eu.ics")
    layer = {"changeward_policy_local": {"blackout": {"calendars": ["eu.ics"]}}}
    proc = project311.run("-l", "h1", extra_vars=layer)
    assert proc.returncode == 2, proc.output
    assert "changeward_policy_local of host h1 was given as an extra var" in proc.output
    assert project311.ran() == []


def test_a_regional_layer_in_play_vars_blocks(project311):
    project311.calendar(("Far future", time.time() + 86400 * 30, time.time() + 86400 * 31, None))
    (project311.root / "change.yml").write_text(
        PLAYBOOK.replace(
            "  gather_facts: false\n",
            "  gather_facts: false\n  vars:\n    changeward_policy_local:\n      blackout:\n        calendars: []\n",
        )
    )
    proc = project311.run("-l", "h1")
    assert proc.returncode == 2, proc.output
    assert "changeward_policy_local of host h1 was set in play, role, block or task vars" in proc.output
    assert project311.ran() == []


def test_window_names_are_never_templated(project311):
    project311.calendar(active("Freeze {{ 7 * 7 }}"))
    proc = project311.run()
    assert proc.returncode == 2
    assert "Freeze {{ 7 * 7 }}" in proc.output
    assert "Freeze 49" not in proc.output
