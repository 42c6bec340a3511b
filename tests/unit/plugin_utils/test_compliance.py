"""Compliance checks: CEL rules over the tasks a change runs (with file and line), the files a check-mode run
reports and the change spec; a world-readable secret file is caught by name, a rule that cannot be evaluated
fails closed."""

import sys

import pytest

from ansible_collections.changeward.hybrid.plugins.plugin_utils.compliance import (
    ComplianceError,
    compile_rules,
    evaluate,
    file_facts,
    mode_bits,
    role_task_facts,
    summary,
    task_facts,
)

TASKS = """\
- name: Install the service's token
  ansible.builtin.copy:
    dest: /etc/myapp/api_token
    content: "{{ token }}"
    mode: "0644"

- name: Safe config
  ansible.builtin.template:
    src: app.conf.j2
    dest: /etc/myapp/app.conf
    mode: "0644"

- block:
    - name: Key without a mode
      copy: src=server.key dest=/etc/ssl/private/server.key
  rescue:
    - name: Locked key
      ansible.builtin.file:
        path: /etc/ssl/private/server.pem
        mode: u=rw,g=r,o=
"""


def write_role(tmp_path, text=TASKS):
    role = tmp_path / "myrole"
    (role / "tasks").mkdir(parents=True)
    (role / "tasks" / "main.yml").write_text(text)
    return str(role)


@pytest.mark.parametrize(
    ("mode", "read", "write"),
    [
        ("0600", False, False),
        ("0644", True, False),
        ("640", False, False),
        ("0666", True, True),
        (0o640, False, False),
        (420, True, False),
        ("u=rw,g=r,o=", False, False),
        ("u=rw,g=r,o=r", True, False),
        ("a+r", True, False),
        ("o-r", False, False),
        ("go+rw", True, True),
        ("preserve", True, False),
        (None, True, False),
    ],
)
def test_modes_are_read_as_ansible_takes_them(mode, read, write):
    _bits, r, w = mode_bits(mode)
    assert (r, w) == (read, write)


def test_tasks_keep_their_file_line_and_module_and_blocks_are_followed(tmp_path):
    facts = role_task_facts(write_role(tmp_path))
    assert [(f["file"], f["line"], f["module"], f["path"]) for f in facts] == [
        ("myrole/tasks/main.yml", 1, "copy", "/etc/myapp/api_token"),
        ("myrole/tasks/main.yml", 7, "template", "/etc/myapp/app.conf"),
        ("myrole/tasks/main.yml", 14, "copy", "/etc/ssl/private/server.key"),
        ("myrole/tasks/main.yml", 17, "file", "/etc/ssl/private/server.pem"),
    ]
    assert [f["secret_like"] for f in facts] == [True, False, True, True]


def test_a_world_readable_secret_is_blocked_naming_the_rule_and_the_line(tmp_path):
    result = evaluate(compile_rules([]), {"tasks": role_task_facts(write_role(tmp_path))})
    assert not result["passed"]
    found = [(v["rule"], v["where"]) for v in result["violations"]]
    assert found == [
        ("no-world-readable-secret", "myrole/tasks/main.yml:1 (task 'Install the service's token')"),
        # no mode: a new file gets the umask default, 0644
        ("no-world-readable-secret", "myrole/tasks/main.yml:14 (task 'Key without a mode')"),
    ]
    assert "rule no-world-readable-secret at myrole/tasks/main.yml:1" in summary(result)


def test_the_same_role_with_private_modes_passes(tmp_path):
    text = TASKS.replace('mode: "0644"\n\n- name: Safe', 'mode: "0600"\n\n- name: Safe').replace(
        "dest=/etc/ssl/private/server.key", "dest=/etc/ssl/private/server.key mode=0640"
    )
    result = evaluate(compile_rules([]), {"tasks": role_task_facts(write_role(tmp_path, text))})
    assert result["passed"], result
    assert result["checked"] == 8  # four tasks, two task rules each


def test_check_mode_results_are_checked_as_files():
    results = [
        {
            "host": "web1",
            "dest": "/etc/app/db_password",
            "changed": True,
            "diff": [{"before": {"mode": "0600"}, "after": {"mode": "0644"}}],
        },
        {"host": "web1", "path": "/etc/app/app.conf", "mode": "0644", "changed": True},
    ]
    result = evaluate(compile_rules([]), {"files": file_facts(results)})
    assert [(v["rule"], v["where"]) for v in result["violations"]] == [
        ("no-world-readable-secret", "web1:/etc/app/db_password")
    ]


def test_policy_rules_over_the_spec_and_tasks():
    rules = [
        {
            "name": "emergency-needs-ticket",
            "applies_to": "spec",
            "expression": "spec.type != 'emergency' || has(spec.data.ticket)",
            "message": "an emergency change names its ticket",
        },
        {
            "name": "no-shell",
            "applies_to": "task",
            "expression": "task.module != 'shell'",
            "message": "use command or a module",
        },
    ]
    compiled = compile_rules(rules, builtin=False)
    spec = {"type": "emergency", "data": {}}
    task = {"file": "t.yml", "line": 3, "name": "x", "module": "shell", "path": None}
    result = evaluate(compiled, {"spec": spec, "tasks": [task]})
    assert [v["rule"] for v in result["violations"]] == ["emergency-needs-ticket", "no-shell"]
    spec["data"]["ticket"] = "OPS-1"
    task["module"] = "command"
    assert evaluate(compiled, {"spec": spec, "tasks": [task]})["passed"]


def test_a_rule_that_cannot_be_evaluated_fails_closed_and_a_bad_rule_is_an_error():
    compiled = compile_rules([{"name": "odd", "applies_to": "task", "expression": "task.nothing == 1"}], builtin=False)
    result = evaluate(compiled, {"tasks": [{"file": "t.yml", "line": 1, "name": "", "module": "copy"}]})
    assert not result["passed"]
    assert result["violations"][0]["message"].startswith("rule cannot be evaluated (fails closed)")
    with pytest.raises(ComplianceError, match="rule bad: expression does not compile"):
        compile_rules([{"name": "bad", "applies_to": "task", "expression": "task.("}], builtin=False)
    with pytest.raises(ComplianceError, match="applies_to must be one of"):
        compile_rules([{"name": "x", "applies_to": "host", "expression": "true"}], builtin=False)


def test_an_unreadable_tasks_file_is_an_error(tmp_path):
    with pytest.raises(ComplianceError, match="cannot read tasks file"):
        task_facts(str(tmp_path / "none.yml"))


def test_a_mode_given_by_a_variable_is_read_from_the_change_vars_over_the_role_defaults(tmp_path):
    role = write_role(
        tmp_path, '- name: Token\n  ansible.builtin.copy:\n    dest: /etc/app/token\n    mode: "{{ app_mode }}"\n'
    )
    (tmp_path / "myrole" / "defaults").mkdir()
    (tmp_path / "myrole" / "defaults" / "main.yml").write_text('app_mode: "0600"\n')
    assert evaluate(compile_rules([]), {"tasks": role_task_facts(role)})["passed"]
    opened = evaluate(compile_rules([]), {"tasks": role_task_facts(role, {"app_mode": "0644"})})
    assert [v["rule"] for v in opened["violations"]] == ["no-world-readable-secret"]
    # a mode that stays a template cannot be read: it counts as readable by others
    unknown = evaluate(compile_rules([]), {"tasks": task_facts(str(tmp_path / "myrole" / "tasks" / "main.yml"))})
    assert not unknown["passed"]


RENDERED_TASKS = """\
- name: Write the app's config
  ansible.builtin.copy:
    dest: "{{ conf_dir }}/app.conf"
    content: "log_level = {{ log_level }}\\n"
    mode: "0640"
"""


def test_a_rule_over_the_rendered_file_blocks_naming_rule_file_and_task(tmp_path, monkeypatch):
    """The change's tasks run in check and diff mode in a separate ansible-playbook (on localhost here): the
    content as rendered - which no static reading of the task can see - is what the rule judges; nothing is
    written."""
    from ansible import constants

    from ansible_collections.changeward.hybrid.plugins.plugin_utils.compliance import render_check

    repo = __import__("pathlib").Path(__file__).resolve().parents[3]
    (tmp_path / "ansible.cfg").write_text(f"[defaults]\ncollections_path = {repo / 'collections'}\n")
    (tmp_path / "hosts.ini").write_text(f"web1 ansible_connection=local ansible_python_interpreter={sys.executable}\n")
    (tmp_path / "change.yml").write_text(RENDERED_TASKS)
    monkeypatch.setenv("ANSIBLE_CONFIG", str(tmp_path / "ansible.cfg"))
    monkeypatch.setattr(constants, "CALLBACKS_ENABLED", [])
    from ansible._internal._datatag._tags import TrustedAsTemplate

    conf_dir = tmp_path / "etc"
    # the main job hands over Ansible's tagged strings, as the lab's first run showed
    debug = TrustedAsTemplate().tag("debug")
    apply = {
        "kind": "tasks",
        "tasks": str(tmp_path / "change.yml"),
        "vars": {"log_level": debug, "conf_dir": str(conf_dir)},
    }
    results = render_check(apply, ["web1"], [str(tmp_path / "hosts.ini")], timeout=120)
    assert not conf_dir.exists()  # check mode: nothing written
    rule = {
        "name": "no-debug-logging",
        "applies_to": "file",
        "expression": "!(type(file.after) == string && file.after.contains('log_level = debug'))",
    }
    result = evaluate(compile_rules([rule]), {"files": file_facts(results)})
    [violation] = result["violations"]
    assert violation["rule"] == "no-debug-logging" and violation["path"] == f"{conf_dir}/app.conf"
    assert violation["where"].startswith(f"web1:{conf_dir}/app.conf (task 'Write the app's config' at ")
    assert violation["where"].endswith("change.yml:1)")
    apply["vars"]["log_level"] = "info"
    rendered = render_check(apply, ["web1"], [str(tmp_path / "hosts.ini")], timeout=120)
    assert evaluate(compile_rules([rule]), {"files": file_facts(rendered)})["passed"]


def test_rendering_fails_closed_on_a_host_that_is_not_reached(tmp_path, monkeypatch):
    from ansible import constants

    from ansible_collections.changeward.hybrid.plugins.plugin_utils.compliance import render_check

    repo = __import__("pathlib").Path(__file__).resolve().parents[3]
    (tmp_path / "ansible.cfg").write_text(f"[defaults]\ncollections_path = {repo / 'collections'}\n")
    (tmp_path / "hosts.ini").write_text("web1 ansible_host=192.0.2.1 ansible_ssh_common_args='-o ConnectTimeout=1'\n")
    (tmp_path / "change.yml").write_text(RENDERED_TASKS)
    monkeypatch.setenv("ANSIBLE_CONFIG", str(tmp_path / "ansible.cfg"))
    monkeypatch.setattr(constants, "CALLBACKS_ENABLED", [])
    apply = {"kind": "tasks", "tasks": str(tmp_path / "change.yml"), "vars": {"log_level": "debug", "conf_dir": "/x"}}
    with pytest.raises(ComplianceError, match="could not be rendered in check mode on web1"):
        render_check(apply, ["web1"], [str(tmp_path / "hosts.ini")], timeout=120)
    with pytest.raises(ComplianceError, match="no host"):
        render_check(apply, [], [str(tmp_path / "hosts.ini")])
