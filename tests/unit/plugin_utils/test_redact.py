"""Redaction: what of a task and its results may be recorded."""

import json

import pytest

from ansible_collections.changeward.hybrid.plugins.plugin_utils import redact
from ansible_collections.changeward.hybrid.plugins.plugin_utils.redact import MASK, Redactor

CANARY = "CANARY-7f3a9c1e5b"


class Vaulted(str):
    """Stands in for an Ansible vaulted value (the callback injects the real predicate)."""


def vaulted(value):
    return isinstance(value, Vaulted)


def dumps(value):
    return json.dumps(value, sort_keys=True)


def test_default_records_module_and_argument_names_only():
    r = Redactor()
    out = r.task_args(
        "ansible.builtin.user", {"name": "deploy", "password": CANARY, "_ansible_check_mode": True}, False
    )
    assert out == {"module": "ansible.builtin.user", "no_log": False, "arg_keys": ["name", "password"]}
    assert CANARY not in dumps(out)


def test_no_log_task_records_not_even_argument_names():
    r = Redactor(record_args=True)
    out = r.task_args("ansible.builtin.command", {"cmd": f"echo {CANARY}"}, True)
    assert out == {"module": "ansible.builtin.command", "no_log": True}


@pytest.mark.parametrize(
    "args",
    [
        {"password": CANARY},
        {"api_token": CANARY},
        {"client_secret": CANARY},
        {"private_key": CANARY},
        {"headers": {"Authorization": CANARY}},
        {"nested": [{"db": {"passwd": CANARY}}]},
        {"url": f"https://admin:{CANARY}@db.example.com/x"},
        {"cmd": f"mysql --password={CANARY}"},
        {"note": f"Bearer {CANARY}abcdef"},
        {"key_material": "-----BEGIN OPENSSH PRIVATE KEY-----\n" + CANARY},
        {"aws": "AKIAABCDEFGHIJKLMNOP"},
    ],
)
def test_record_args_masks_secret_keys_and_secret_looking_values(args):
    out = Redactor(record_args=True).task_args("m", args, False)
    text = dumps(out["args"])
    assert CANARY not in text and "AKIAABCDEFGHIJKLMNOP" not in text
    assert MASK in text


def test_record_args_keeps_harmless_values():
    out = Redactor(record_args=True).task_args("ansible.builtin.file", {"path": "/etc/motd", "mode": "0644"}, False)
    assert out["args"] == {"path": "/etc/motd", "mode": "0644"}


def test_vaulted_values_are_masked_wherever_they_are():
    r = Redactor(record_args=True, is_vaulted=vaulted)
    out = r.task_args("m", {"plain": "ok", "deep": {"list": [Vaulted(CANARY)]}, "v": Vaulted(CANARY)}, False)
    assert out["args"] == {"plain": "ok", "deep": {"list": [MASK]}, "v": MASK}


def test_a_predicate_that_cannot_decide_masks():
    def broken(_value):
        raise RuntimeError("cannot tell")

    out = Redactor(record_args=True, is_vaulted=broken).task_args("m", {"x": "harmless"}, False)
    assert out["args"] == MASK
    assert "harmless" not in dumps(out)


def test_extra_patterns_and_key_names():
    r = Redactor(record_args=True, extra_patterns=[r"CANARY-[0-9a-f]+"], extra_keys=["^pin$"])
    out = r.task_args("m", {"comment": f"id {CANARY} here", "pin": "1234", "spin": "fine"}, False)
    assert out["args"] == {"comment": MASK, "pin": MASK, "spin": "fine"}


def test_known_secrets_are_masked_inside_text_and_as_whole_values():
    r = Redactor(record_args=True, record_messages=True)
    r.add_secret(CANARY)
    assert r.text(f"login failed for {CANARY}!") == f"login failed for {MASK}!"
    assert r.task_args("m", {"x": CANARY}, False)["args"] == {"x": MASK}
    r.add_secret("ab")  # too short to mask inside text, still masked as a whole value
    assert r.text("abc") == "abc"
    assert r.value("ab") == MASK


def test_result_keeps_status_and_drops_output():
    r = Redactor()
    res = {"changed": True, "rc": 0, "stdout": CANARY, "ansible_facts": {"x": CANARY}, "msg": CANARY}
    out = r.result(res, "changed")
    assert out == {"status": "changed", "changed": True, "censored": False, "rc": 0}


@pytest.mark.parametrize(
    "res",
    [
        {"censored": "the output has been hidden due to the fact that 'no_log: true' was specified", "changed": True},
        {"_ansible_no_log": True, "msg": CANARY, "rc": 3, "changed": False},
        {"results": [{"_ansible_no_log": True, "msg": CANARY}, {"msg": "ok"}], "changed": True},
    ],
)
def test_censored_results_record_status_only(res):
    out = Redactor(record_messages=True).result(res, "failed")
    assert out["censored"] is True
    assert "msg" not in out and "rc" not in out
    assert CANARY not in dumps(out)


def test_task_no_log_censors_even_an_uncensored_result():
    out = Redactor(record_messages=True).result({"msg": CANARY, "rc": 1}, "failed", no_log=True)
    assert out == {"status": "failed", "changed": False, "censored": True}


def test_failure_messages_only_when_asked_and_masked():
    res = {"msg": f"password={CANARY} rejected", "failed": True}
    assert "msg" not in Redactor().result(res, "failed")
    out = Redactor(record_messages=True).result(res, "failed")
    assert CANARY not in out["msg"] and MASK in out["msg"]
    assert "msg" not in Redactor(record_messages=True).result({"msg": "fine"}, "ok")


def test_messages_are_truncated():
    out = Redactor(record_messages=True, max_text=10).result({"msg": "x" * 50}, "failed")
    assert out["msg"] == "x" * 10 + redact.TRUNCATED


def test_output_is_plain_json():
    class Tagged(str):
        pass

    out = Redactor(record_args=True).value({"a": Tagged("x"), "b": (1, 2.5, None, True), "c": object()})
    assert isinstance(out["a"], str) and not isinstance(out["a"], Tagged)
    assert out["b"] == [1, 2.5, None, True]
    assert isinstance(out["c"], str)
    json.dumps(out)


def test_learn_vault_secrets_walks_nested_vars():
    r = Redactor(is_vaulted=vaulted, record_messages=True)
    found = redact.learn_vault_secrets(r, {"a": {"b": [Vaulted(CANARY)]}, "c": "plain"}, str)
    assert found == 1
    assert CANARY not in r.text(f"x {CANARY} y")


def test_learn_vault_secrets_survives_undecryptable_values():
    def reveal(_value):
        raise ValueError("no vault secret")

    r = Redactor(is_vaulted=vaulted)
    assert redact.learn_vault_secrets(r, [Vaulted("x")], reveal) == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('["a+", "b{2,}"]', ["a+", "b{2,}"]),
        ("a+\n  b{2,}\n\n", ["a+", "b{2,}"]),
        ("", []),
        (None, []),
        (["x"], ["x"]),
    ],
)
def test_parse_pattern_list(text, expected):
    assert redact.parse_pattern_list(text) == expected


def test_invalid_patterns_name_the_setting():
    with pytest.raises(redact.RedactionConfigError, match=r"secret_patterns: '\(' is not a valid"):
        Redactor(extra_patterns=["("])
    with pytest.raises(redact.RedactionConfigError, match="secret_key_names"):
        Redactor(extra_keys=["["])


def test_extra_var_secrets_are_learned_by_name_and_by_look():
    r = Redactor(record_messages=True)
    extra = {
        "db_password": "hunter2hunter2",
        "deploy": {"api_token": ["tok-aaaa1111", "tok-bbbb2222"], "region": "eu-west-1"},
        "note": "Bearer abcdefgh12345678",
        "release": "1.2.3",
    }
    assert redact.learn_named_secrets(r, extra) == 4
    msg = "login as db with hunter2hunter2 and tok-bbbb2222 failed in eu-west-1 for 1.2.3"
    out = r.result({"msg": msg}, "failed")["msg"]
    assert out == "login as db with ******** and ******** failed in eu-west-1 for 1.2.3"
