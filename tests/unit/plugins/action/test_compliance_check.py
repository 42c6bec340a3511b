"""compliance_check as a task: a role that would open a world-readable secret file is refused naming the rule and
the line; the rules come from the option or the inventory, never from extra vars; nothing to check fails."""

from action_runner import run_action

from ansible_collections.changeward.hybrid.plugins.action.compliance_check import ActionModule

TASKS = (
    '- name: Token\n  ansible.builtin.copy:\n    dest: /etc/app/api_token\n    content: x\n    mode: "{{ app_mode }}"\n'
)


def role(tmp_path):
    path = tmp_path / "app"
    (path / "tasks").mkdir(parents=True)
    (path / "tasks" / "main.yml").write_text(TASKS)
    return str(path)


def test_a_world_readable_secret_blocks_the_change_naming_the_rule_and_the_line(tmp_path):
    apply = {"kind": "role", "role_path": role(tmp_path), "vars": {"app_mode": "0644"}}
    result = run_action(ActionModule, "compliance_check", {"apply": apply, "spec": {"type": "standard"}})
    assert result["failed"]
    assert result["msg"].startswith(
        "compliance_check: change (planned change): rule no-world-readable-secret at "
        "app/tasks/main.yml:1 (task 'Token')"
    )
    assert result["violations"][0]["line"] == 1
    apply["vars"]["app_mode"] = "0600"
    assert run_action(ActionModule, "compliance_check", {"apply": apply})["passed"]


def test_given_rules_are_checked_beside_the_built_in_ones(tmp_path):
    rules = [{"name": "no-copy", "applies_to": "task", "expression": "task.module != 'copy'", "message": "no"}]
    args = {"role_path": role(tmp_path), "variables": {"app_mode": "0600"}, "rules": rules, "report_only": True}
    result = run_action(ActionModule, "compliance_check", args)
    assert not result.get("failed")
    assert [v["rule"] for v in result["violations"]] == ["no-copy"]
    assert result["rules_source"] == "option rules"


def test_nothing_to_check_is_an_error_not_a_pass():
    result = run_action(ActionModule, "compliance_check", {})
    assert result["failed"] and "nothing to check" in result["msg"]
