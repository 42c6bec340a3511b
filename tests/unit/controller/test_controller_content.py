"""The AWX/AAP content as code (extensions/awx/controller.yml) is what the awx.awx modules accept.

Each item of each controller_* variable is checked against the options the awx.awx module of that kind
documents (extensions/awx/awx_argspecs.json, written from the awx.awx collection the `ansible` package on PyPI
bundles; the package itself is 60 MB and pins an older ansible-core than .venv313, so it is not installed):
unknown options, types, choices, list elements, suboptions and required options. Then the content itself:
the credential types inject what the collection reads, surveys ask scalars only and never identity, schedules
and workflow nodes name templates that exist, the playbooks exist.
"""

import json
import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
AWX = REPO / "extensions" / "awx"
KINDS = {
    "controller_credential_types": "credential_type",
    "controller_credentials": "credential",
    "controller_templates": "job_template",
    "controller_workflows": "workflow_job_template",
    "controller_schedules": "schedule",
}
SCALAR_SURVEY_TYPES = {"text", "textarea", "password", "integer", "float", "multiplechoice"}
IDENTITY_VARS = {"awx_user_name", "tower_user_name", "awx_job_id", "tower_job_id"}


class Loader(yaml.SafeLoader):
    """YAML as Ansible reads it: !unsafe marks a string Ansible must not template (AWX templates it)."""


Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


@pytest.fixture(scope="module")
def content():
    return yaml.load((AWX / "controller.yml").read_text(encoding="utf-8"), Loader=Loader)  # noqa: S506 - SafeLoader


@pytest.fixture(scope="module")
def specs():
    return json.loads((AWX / "awx_argspecs.json").read_text(encoding="utf-8"))["modules"]


def templated(value):
    return isinstance(value, str) and "{{" in value  # filled in when the file is applied: any type then


TYPES = {
    "str": str,
    "path": str,
    "int": int,
    "float": (int, float),
    "bool": bool,
    "list": list,
    "dict": dict,
    "json": (dict, list, str),
    "raw": object,
}


def problems(value, spec, where):
    """What the awx.awx argument spec would refuse in value (a module's options, or one option's value)."""
    out = []
    kind = spec.get("type", "str")
    if templated(value) and kind not in ("list", "dict"):
        return out
    if not isinstance(value, TYPES[kind]) or (kind in ("int", "float") and isinstance(value, bool)):
        return [f"{where}: {kind} expected, got {type(value).__name__}"]
    if spec.get("choices") and value not in spec["choices"]:
        out.append(f"{where}: {value!r} is not one of {spec['choices']}")
    if kind == "list":
        for index, element in enumerate(value):
            element_spec = {"type": spec.get("elements", "raw"), "suboptions": spec.get("suboptions")}
            out += problems(element, element_spec, f"{where}[{index}]")
    elif kind == "dict" and spec.get("suboptions"):
        out += options_problems(value, spec["suboptions"], where)
    return out


def options_problems(values, options, where):
    out = []
    names = {alias: name for name, opt in options.items() for alias in [name, *opt.get("aliases", [])]}
    for key, value in values.items():
        if key not in names:
            out.append(f"{where}: unknown option {key!r}")
            continue
        out += problems(value, options[names[key]], f"{where}.{key}")
    for name, opt in options.items():
        if opt.get("required") and not any(alias in values for alias in [name, *opt.get("aliases", [])]):
            out.append(f"{where}: required option {name!r} missing")
    return out


def test_every_item_is_accepted_by_its_awx_module(content, specs):
    assert set(content) == set(KINDS), "controller.yml holds exactly the controller_* variables this test checks"
    found = []
    for var, module in KINDS.items():
        assert content[var], f"{var} is empty"
        for item in content[var]:
            found += options_problems(item, specs[module], f"{var}[{item.get('name')}]")
    assert found == []


def test_the_validator_refuses_what_awx_refuses(specs):
    # shown to fail: an invented option, a wrong type, a bad choice, a missing required option, a bad node
    assert options_problems({"name": "x", "kind": "cloud", "inject": {}}, specs["credential_type"], "t")
    assert options_problems({"name": "x", "kind": "secret"}, specs["credential_type"], "t")
    assert options_problems({"kind": "cloud"}, specs["credential_type"], "t")
    assert options_problems({"name": "x", "survey_enabled": "yes"}, specs["job_template"], "t")
    node = {"identifier": "a", "related": {"success_nodes": [{"id": "b"}]}}
    assert options_problems({"name": "w", "workflow_nodes": [node]}, specs["workflow_job_template"], "t")


def plugin_env_vars():
    names = set()
    for path in (REPO / "plugins").rglob("*.py"):
        names |= set(re.findall(r"\bCHANGEWARD_[A-Z_]+\b", path.read_text(encoding="utf-8")))
    return names


def test_credential_types_inject_what_the_collection_reads(content):
    read = plugin_env_vars()
    sinks_doc = (REPO / "docs" / "recorder-and-sinks.md").read_text(encoding="utf-8")
    for ctype in content["controller_credential_types"]:
        fields = {field["id"] for field in ctype["inputs"]["fields"]}
        assert set(ctype["inputs"]["required"]) <= fields
        for name, template in ctype["injectors"]["env"].items():
            # the sink tokens are read by the name the sinks file gives (token_env / secret_env)
            assert name in read or f"_env: {name}" in sinks_doc, f"{name} is read by nothing"
            used = set(re.findall(r"\{\{\s*([a-z_]+)", template)) - {"tower"}
            assert used <= fields, (name, used - fields)
        for field in ctype["inputs"]["fields"]:
            if any(word in field["id"] for word in ("key", "token", "secret", "dsn")):
                assert field.get("secret") is True, f"{field['id']} must be a secret input"
    ledger = next(c for c in content["controller_credential_types"] if c["name"] == "changeward ledger")
    assert set(ledger["injectors"]["env"]) >= {"CHANGEWARD_LEDGER", "CHANGEWARD_LEDGER_KEY"}


def test_surveys_ask_scalars_only_and_never_identity(content):
    surveys = [t.get("survey_spec") for t in content["controller_templates"] + content["controller_workflows"]]
    surveys = [s for s in surveys if s]
    assert surveys
    for survey in surveys:
        for question in survey["spec"]:
            assert question["type"] in SCALAR_SURVEY_TYPES, question
            assert question["variable"] not in IDENTITY_VARS
            assert not question["variable"].startswith(("awx_", "tower_"))
    for template in content["controller_templates"] + content["controller_workflows"]:
        assert template.get("ask_variables_on_launch") is False, template["name"]


def test_templates_schedules_and_workflows_fit_together(content):
    templates = {t["name"]: t for t in content["controller_templates"]}
    for template in templates.values():
        assert (REPO / template["playbook"]).is_file(), template["playbook"]
    credentials = {c["name"] for c in content["controller_credentials"]}
    for template in templates.values():
        for credential in template["credentials"]:
            assert templated(credential) or credential in credentials, credential
    assert {
        "changeward change",
        "changeward drift detection",
        "changeward drift remediation",
        "changeward audit verify",
        "changeward audit ship",
    } <= set(templates)
    schedules = {s["unified_job_template"]: s["rrule"] for s in content["controller_schedules"]}
    assert "FREQ=DAILY" in schedules["changeward drift remediation"]
    assert "FREQ=HOURLY" in schedules["changeward audit ship"]
    assert "FREQ=DAILY" in schedules["changeward audit verify"]
    for rrule in schedules.values():
        assert re.fullmatch(r"DTSTART;TZID=UTC:\d{8}T\d{6} RRULE:FREQ=(HOURLY|DAILY|WEEKLY);INTERVAL=\d+", rrule)
    (workflow,) = content["controller_workflows"]
    nodes = {node["identifier"]: node for node in workflow["workflow_nodes"]}
    for node in nodes.values():
        ujt = node["unified_job_template"]
        assert ujt["type"] in ("job_template", "workflow_approval")
        if ujt["type"] == "job_template":
            assert ujt["name"] in templates
        for links in (node.get("related") or {}).values():
            assert all(link["identifier"] in nodes for link in links)
    approval = [n for n in nodes.values() if n["unified_job_template"]["type"] == "workflow_approval"]
    assert len(approval) == 1
    assert [link["identifier"] for link in approval[0]["related"]["success_nodes"]] == ["change"]
