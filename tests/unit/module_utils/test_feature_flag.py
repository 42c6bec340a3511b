"""feature_flag: the flagd file core, and the module run by ansible-playbook (-c local) on scratch files.

What the module writes is read back with the lab demo service's own flag evaluator, so "kill switch on"
means what the service will do, not what this code thinks it wrote.
"""

import importlib.util
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.changeward.hybrid.plugins.module_utils import feature_flag as ff

REPO = Path(__file__).resolve().parents[3]
PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
KILL = {"state": "ENABLED", "variants": {"on": True, "off": False}, "defaultVariant": "off"}


def demo_service():
    spec = importlib.util.spec_from_file_location("demo_service", REPO / "tests/lab/cwlab/guest/demo_service.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- core ------------------------------------------------------------------------------------------------
def test_apply_flips_the_default_variant_and_keeps_everything_else():
    doc = {
        "$schema": ff.SCHEMA_URL,
        "flags": {
            "kill-switch": KILL,
            "new-ui": {"variants": {"a": 1, "b": 2}, "defaultVariant": "a", "targeting": {"if": [True, "b"]}},
        },
        "$evaluators": {"x": {"in": ["@corp", {"var": "email"}]}},
    }
    new, changes = ff.apply(doc, "kill-switch", default_variant="on")
    assert changes == ['kill-switch.defaultVariant: "off" -> "on"']
    assert new["flags"]["new-ui"] == doc["flags"]["new-ui"]
    assert new["$evaluators"] == doc["$evaluators"] and new["$schema"] == ff.SCHEMA_URL
    assert doc["flags"]["kill-switch"]["defaultVariant"] == "off"  # input untouched
    assert ff.effective_value(new, "kill-switch") is True
    assert ff.apply(new, "kill-switch", default_variant="on")[1] == []  # idempotent


def test_enabled_false_disables_and_the_value_becomes_the_application_default():
    new, changes = ff.apply({"flags": {"kill-switch": KILL}}, "kill-switch", enabled=False)
    assert new["flags"]["kill-switch"]["state"] == "DISABLED"
    assert changes == ['kill-switch.state: "ENABLED" -> "DISABLED"']
    assert ff.effective_value(new, "kill-switch") is None


def test_creating_a_flag_needs_variants_and_a_default():
    with pytest.raises(ff.FlagError, match="give its variants"):
        ff.apply({"flags": {}}, "kill-switch", default_variant="on")
    with pytest.raises(ff.FlagError, match="give its default_variant"):
        ff.apply({"flags": {}}, "kill-switch", variants={"on": True})
    new, changes = ff.apply({"flags": {}}, "kill-switch", variants={"on": True, "off": False}, default_variant="on")
    assert changes == ["created flag kill-switch"]
    assert new["flags"]["kill-switch"] == {
        "state": "ENABLED",
        "variants": {"on": True, "off": False},
        "defaultVariant": "on",
    }


def test_a_default_variant_that_is_not_a_variant_is_refused():
    with pytest.raises(ff.FlagError, match="not one of its variants"):
        ff.apply({"flags": {"kill-switch": KILL}}, "kill-switch", default_variant="maybe")


def test_remove():
    new, changes = ff.apply({"flags": {"kill-switch": KILL}}, "kill-switch", present=False)
    assert new == {"flags": {}} and changes == ["removed flag kill-switch"]
    assert ff.apply(new, "kill-switch", present=False)[1] == []


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "JSON object"),
        ('{"flag": {}}', "'flags' object"),
        ('{"flags": {"a": {"variants": {}}}}', "non-empty 'variants'"),
        ('{"flags": {"a": {"variants": {"x": 1}, "defaultVariant": "x", "state": "ON"}}}', "ENABLED or DISABLED"),
        ('{"flags": {"a": {"variants": {"x": 1}, "defaultVariant": "y"}}}', "not one of its variants"),
    ],
)
def test_invalid_files_are_refused(text, match):
    with pytest.raises(ff.FlagError, match=match):
        ff.parse(text)


def test_bad_flag_names_are_refused():
    with pytest.raises(ff.FlagError, match="flag name"):
        ff.apply({"flags": {}}, "bad name", variants={"a": 1}, default_variant="a")


def test_write_atomic_replaces_the_inode_and_keeps_the_mode(tmp_path):
    path = tmp_path / "flags.json"
    path.write_text("{}")
    os.chmod(path, 0o640)
    before = path.stat().st_ino
    ff.write_atomic(str(path), '{"flags": {}}\n', 0o640)
    assert path.read_text() == '{"flags": {}}\n'
    assert path.stat().st_ino != before  # renamed into place: a reader sees old or new, never half
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["flags.json"]  # no temp file left


def test_the_demo_service_reads_what_apply_writes():
    service = demo_service()
    new = ff.apply({"flags": {}}, "kill-switch", variants={"on": True, "off": False}, default_variant="on")[0]
    assert service.evaluate_flags(json.loads(ff.render(new))) == {"kill-switch": True}
    off = ff.apply(new, "kill-switch", default_variant="off")[0]
    assert service.evaluate_flags(json.loads(ff.render(off))) == {"kill-switch": False}
    disabled = ff.apply(new, "kill-switch", enabled=False)[0]
    assert service.evaluate_flags(json.loads(ff.render(disabled))) == {}


# -- the module through ansible-playbook -------------------------------------------------------------------
def run_module(tmp_path, args, check=False, diff=True):
    out = tmp_path / "result.json"
    book = tmp_path / "play.yml"
    book.write_text(
        json.dumps(
            [
                {
                    "hosts": "localhost",
                    "gather_facts": False,
                    "tasks": [
                        {"changeward.hybrid.feature_flag": args, "register": "r", "ignore_errors": True},
                        {
                            "ansible.builtin.copy": {"dest": str(out), "content": "{{ r | to_json }}", "mode": "0600"},
                            "check_mode": False,
                            "diff": False,
                        },
                    ],
                }
            ]
        )
    )
    cmd = [str(PLAYBOOK), "-i", "localhost,", "-c", "local", str(book)]
    cmd += ["-e", f"ansible_python_interpreter={sys.executable}"]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert out.exists(), proc.stdout[-3000:] + proc.stderr[-2000:]
    return json.loads(out.read_text())


needs_ansible = pytest.mark.skipif(not PLAYBOOK.exists(), reason="ansible-playbook not in this venv")


@needs_ansible
def test_module_kill_switch_round_trip(tmp_path):
    path = tmp_path / "flags.json"
    other = {"variants": {"a": 1, "b": 2}, "defaultVariant": "a", "targeting": {"if": [True, "b"]}}
    path.write_text(json.dumps({"flags": {"kill-switch": KILL, "other": other}}))
    os.chmod(path, 0o600)
    args = {"path": str(path), "name": "kill-switch", "default_variant": "on"}

    checked = run_module(tmp_path, args, check=True)
    assert checked["changed"] and not checked.get("failed")
    assert checked["value"] is True
    assert json.loads(path.read_text())["flags"]["kill-switch"]["defaultVariant"] == "off"  # check mode wrote nothing
    assert '"defaultVariant": "on"' in checked["diff"]["after"]

    done = run_module(tmp_path, args)
    assert done["changed"] and done["changes"] == ['kill-switch.defaultVariant: "off" -> "on"']
    written = json.loads(path.read_text())
    assert written["flags"]["other"] == other
    assert demo_service().evaluate_flags(written) == {"kill-switch": True, "other": 1}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    again = run_module(tmp_path, args)
    assert not again["changed"]


@needs_ansible
def test_module_creates_a_missing_file_and_refuses_an_invalid_one(tmp_path):
    path = tmp_path / "flags.json"
    args = {"path": str(path), "name": "kill-switch", "variants": {"on": True, "off": False}, "default_variant": "on"}
    created = run_module(tmp_path, args)
    assert created["changed"] and json.loads(path.read_text())["$schema"] == ff.SCHEMA_URL
    path.write_text("{broken")
    refused = run_module(tmp_path, args)
    assert refused["failed"] and "not valid JSON" in refused["msg"]
    assert path.read_text() == "{broken"
    forced = run_module(tmp_path, {**args, "force": True})
    assert forced["changed"] and ff.effective_value(json.loads(path.read_text()), "kill-switch") is True
