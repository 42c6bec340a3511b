"""Classification of check-mode results: would change, not evaluable, error, unreachable."""

from ansible_collections.changeward.hybrid.plugins.plugin_utils.drift.collect import (
    Collector,
    diff_text,
    drift_class,
    dropped_callbacks,
    host_status,
    segment_name,
)


def task(name="t", action="ansible.builtin.copy", check_mode=True, **extra):
    return {"name": name, "action": action, "check_mode": check_mode, "when": [], "changed_when": [], **extra}


def entry(c, host="h1"):
    return c.hosts[host]


def test_changed_task_is_a_finding_with_its_diff():
    c = Collector()
    diff = {"before": "a=1\n", "after": "a=2\n", "before_header": "/etc/app.conf", "after_header": "/etc/app.conf"}
    c.task_result("h1", task("write"), "ok", {"changed": True, "dest": "/etc/app.conf", "diff": diff})
    f = entry(c)["changed"][0]
    assert (f["class"], f["item"], f["task"]) == ("file", "/etc/app.conf", "write")
    assert "-a=1" in f["diff"] and "+a=2" in f["diff"] and len(f["diff_sha256"]) == 64
    assert host_status(entry(c)) == "drifted"


def test_unchanged_probe_is_in_sync_and_no_probe_is_unknown():
    c = Collector()
    c.task_result("h1", task(), "ok", {"changed": False})
    assert host_status(entry(c)) == "in_sync"
    assert host_status({"reachable": True, "tasks": 0, "changed": [], "unevaluable": [], "errors": []}) == "unknown"


def test_module_without_check_mode_support_makes_the_host_unknown():
    c = Collector()
    c.task_result(
        "h1",
        task("raw", "ansible.builtin.raw"),
        "skipped",
        {"skipped": True, "msg": "This action (ansible.builtin.raw) does not support check mode."},
    )
    c.task_result(
        "h2",
        task("mod", "x.y.z"),
        "skipped",
        {"skipped": True, "msg": "remote module (x.y.z) does not support check mode"},
    )
    for h in ("h1", "h2"):
        assert host_status(entry(c, h)) == "unknown"
        assert "not evaluable in check mode" in entry(c, h)["unevaluable"][0]["reason"]


def test_skipped_command_makes_the_host_unknown_but_creates_removes_would_change():
    c = Collector()
    c.task_result(
        "h1",
        task("cmd", "ansible.builtin.command"),
        "skipped",
        {"skipped": True, "msg": "Command would have run if not in check mode"},
    )
    assert host_status(entry(c)) == "unknown"
    c.task_result(
        "h2",
        task("cmd", "ansible.builtin.command"),
        "ok",
        {"changed": True, "msg": "Command would have run if not in check mode"},
    )
    assert host_status(entry(c, "h2")) == "drifted"


def test_condition_on_check_mode_is_unevaluable_unless_it_can_never_change():
    c = Collector()
    skip = {"skipped": True, "skip_reason": "Conditional result was False", "false_condition": "not ansible_check_mode"}
    c.task_result("h1", task("apply", "ansible.builtin.shell"), "skipped", skip)
    assert host_status(entry(c)) == "unknown"
    c.task_result("h2", task("wait", "ansible.builtin.wait_for", changed_when=[False]), "skipped", skip)
    assert host_status(entry(c, "h2")) == "in_sync"
    other = {
        "skipped": True,
        "skip_reason": "Conditional result was False",
        "false_condition": "ansible_os_family == 'RedHat'",
    }
    c.task_result("h3", task("rh only", "ansible.builtin.dnf"), "skipped", other)
    assert host_status(entry(c, "h3")) == "in_sync"


def test_errors_even_ignored_and_unreachable_make_the_host_unknown():
    c = Collector()
    c.task_result("h1", task(), "failed", {"failed": True, "msg": "boom"})
    c.task_result("h2", task(), "unreachable", {"unreachable": True, "msg": "no route"})
    assert host_status(entry(c, "h1")) == "unknown" and "failed: boom" in entry(c, "h1")["errors"][0]["reason"]
    assert entry(c, "h2")["reachable"] is False and host_status(entry(c, "h2")) == "unknown"


def test_tasks_run_for_real_are_no_evidence_but_their_failure_in_a_check_run_is():
    c = Collector()
    c.task_result("h1", task(check_mode=False), "ok", {"changed": True})
    assert "h1" not in c.hosts  # nothing about drift known yet
    c.task_result("h1", task(), "ok", {"changed": False})
    c.task_result("h1", task(check_mode=False, in_check_run=True), "failed", {"failed": True, "msg": "x"})
    c.task_result("h1", task(check_mode=False, in_check_run=False), "failed", {"failed": True, "msg": "report"})
    assert [e["reason"] for e in entry(c)["errors"]] == ["failed: x"]


def test_handlers_changing_are_consequences_not_drift():
    c = Collector()
    c.task_result("h1", task("restart", "ansible.builtin.service", handler=True), "ok", {"changed": True})
    assert entry(c)["changed"] == [] and host_status(entry(c)) == "in_sync"


def test_a_handler_that_cannot_run_in_check_mode_leaves_nothing_unknown():
    """`sysctl -p` or a reload notified by a drifted file is skipped in check mode; the file is the finding."""
    c = Collector()
    skipped = {"skipped": True, "msg": "Command would have run if not in check mode"}
    c.task_result("h1", task("load", "ansible.builtin.command", handler=True), "skipped", skipped)
    assert entry(c)["unevaluable"] == [] and host_status(entry(c)) == "in_sync"
    # after the changed file that notified it, the host is drifted by that file alone
    c.task_result("h2", task("write"), "ok", {"changed": True, "dest": "/etc/sysctl.d/60-changeward.conf"})
    c.task_result("h2", task("load", "ansible.builtin.command", handler=True), "skipped", skipped)
    assert entry(c, "h2")["unevaluable"] == [] and host_status(entry(c, "h2")) == "drifted"
    # the same skip in an ordinary task is unknown, never in sync
    c.task_result("h1", task("load", "ansible.builtin.command"), "skipped", skipped)
    assert len(entry(c)["unevaluable"]) == 1 and host_status(entry(c)) == "unknown"


def test_loops_are_classified_per_item():
    c = Collector()
    result = {
        "changed": True,
        "results": [
            {"changed": True, "dest": "/a", "diff": {"before": "1\n", "after": "2\n"}},
            {"changed": False, "dest": "/b"},
            {"skipped": True, "msg": "Command would have run if not in check mode", "_ansible_item_label": "x"},
            {"failed": True, "msg": "item failed", "dest": "/c"},
        ],
    }
    c.task_result("h1", task("loop"), "failed", result)
    e = entry(c)
    assert [f["item"] for f in e["changed"]] == ["/a"]
    assert len(e["unevaluable"]) == 1 and [x["item"] for x in e["errors"]] == ["/c"]
    assert e["tasks"] == 1


def test_no_log_hides_the_diff_and_secrets_are_masked():
    c = Collector()
    secret_diff = {"before": "password = hunter2hunter2\n", "after": "password = s3cret-value-2\n"}
    c.task_result("h1", task("censored"), "ok", {"changed": True, "censored": "hidden", "_ansible_no_log": True})
    c.task_result("h1", task("plain"), "ok", {"changed": True, "dest": "/etc/x", "diff": secret_diff})
    hidden, plain = entry(c)["changed"]
    assert hidden["diff"] is None and hidden["diff_hidden"] is True
    assert "hunter2hunter2" not in plain["diff"] and "s3cret-value-2" not in plain["diff"]
    assert "********" in plain["diff"]


def test_live_kernel_parameters_written_through_proc_are_sysctls():
    c = Collector()
    c.task_result("h1", task("live"), "ok", {"changed": True, "dest": "/proc/sys/net/ipv4/ip_forward"})
    f = entry(c)["changed"][0]
    assert (f["class"], f["item"]) == ("sysctl", "net.ipv4.ip_forward")


def test_classes_and_diff_of_state_dicts():
    assert drift_class("ansible.builtin.apt") == "package"
    assert drift_class("ansible.legacy.service") == "service"
    assert drift_class("community.general.ufw") == "task"
    text = diff_text([{"before": {"state": "absent"}, "after": {"state": "directory"}}, {"prepared": "pkg x 1 -> 2\n"}])
    assert '-  "state": "absent"' in text and '+  "state": "directory"' in text and "pkg x 1 -> 2" in text


def test_document_and_summary():
    c = Collector()
    c.task_result("a", task(), "ok", {"changed": True})
    c.task_result("b", task(), "ok", {"changed": False})
    c.task_result("c", task(), "unreachable", {"msg": "down"})
    assert c.summary() == {"in_sync": 1, "drifted": 1, "unknown": 1}
    doc = c.document("RUN-1", complete=True, playbook="p.yml")
    assert (
        doc["format"] == "changeward-drift-check/1"
        and doc["run_id"] == "RUN-1"
        and set(doc["hosts"]) == {"a", "b", "c"}
    )
    assert c.dirty is False


def test_skips_without_a_reason_are_unknown_but_answers_are_not():
    c = Collector()
    c.task_result("raw", task("raw", "ansible.builtin.raw"), "skipped", {"skipped": True, "changed": False})
    assert host_status(entry(c, "raw")) == "unknown"
    c.task_result(
        "empty", task("loop"), "skipped", {"skipped": True, "skipped_reason": "No items in the list", "results": []}
    )
    c.task_result(
        "exists",
        task("unpack", "ansible.builtin.unarchive"),
        "skipped",
        {"skipped": True, "msg": "skipped, since /opt/x exists"},
    )
    assert host_status(entry(c, "empty")) == "in_sync" and host_status(entry(c, "exists")) == "in_sync"


def test_the_re_check_after_remediation_is_kept_apart_from_detection():
    c = Collector()
    c.task_result("h1", task("write"), "ok", {"changed": True, "dest": "/etc/app.conf"})
    c.use_segment("verify")
    c.task_result("h1", task("write"), "ok", {"changed": False, "dest": "/etc/app.conf"})
    c.use_segment(None)
    doc = c.document("R", complete=True)
    assert host_status(doc["hosts"]["h1"]) == "drifted"  # detection is what it was
    assert host_status(doc["segments"]["verify"]["h1"]) == "in_sync"
    assert c.summary() == {"in_sync": 0, "drifted": 1, "unknown": 0}


def test_a_segment_is_a_plain_literal_name():
    assert segment_name("verify") == "verify"
    for value in (None, "", "Verify", "{{ x }}", "a" * 40, 3):
        assert segment_name(value) is None


def test_an_environment_list_that_replaces_ansible_cfg_names_what_it_drops():
    cfg = "changeward.hybrid.change_window_guard, changeward.hybrid.change_closer, changeward.hybrid.drift_collector"
    assert dropped_callbacks("changeward.hybrid.drift_collector", cfg) == [
        "changeward.hybrid.change_window_guard",
        "changeward.hybrid.change_closer",
    ]
    assert dropped_callbacks(cfg + ",profile_tasks", cfg) == []
    assert dropped_callbacks("change_window_guard,change_closer,drift_collector", cfg) == []
    assert dropped_callbacks("x", "") == []
