"""The AWX drift templates and their nightly schedule ask for what the drift playbooks read: the survey's
variables (scalars) are the playbooks' own, the schedule answers that survey, and the roles a survey names
resolve to the declared state the playbooks run."""

from pathlib import Path

import yaml

from ansible_collections.changeward.hybrid.plugins.plugin_utils.drift.state import declared_state

REPO = Path(__file__).resolve().parents[4]


class Loader(yaml.SafeLoader):
    """!unsafe strings are AWX's own templates; read them as plain strings."""


Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def content():
    return yaml.load((REPO / "extensions/awx/controller.yml").read_text(encoding="utf-8"), Loader=Loader)  # noqa: S506


def test_the_drift_templates_survey_what_the_playbooks_read_and_the_schedule_answers_it():
    doc = content()
    templates = {t["name"]: t for t in doc["controller_templates"]}
    playbooks = (REPO / "playbooks/drift_detect.yml").read_text() + (
        REPO / "playbooks/drift_remediation.yml"
    ).read_text()
    for name in ("changeward drift detection", "changeward drift remediation"):
        survey = templates[name]["survey_spec"]
        variables = {q["variable"] for q in survey["spec"]}
        assert variables == {"drift_targets", "drift_detectors", "drift_roles"}, name
        for variable in variables:
            assert variable in playbooks
    (nightly,) = [s for s in doc["controller_schedules"] if s["unified_job_template"] == "changeward drift remediation"]
    questions = {q["variable"]: q for q in templates["changeward drift remediation"]["survey_spec"]["spec"]}
    assert set(nightly["extra_data"]) <= set(questions)
    detectors = questions["drift_detectors"]
    assert nightly["extra_data"]["drift_detectors"] in detectors["choices"]
    for choice in detectors["choices"]:
        assert set(choice.split(",")) <= {"scan", "check"}


def test_the_roles_a_survey_names_and_its_empty_answer():
    (template,) = [t for t in content()["controller_templates"] if t["name"] == "changeward drift remediation"]
    questions = {q["variable"]: q for q in template["survey_spec"]["spec"]}
    empty = questions["drift_roles"]["default"]
    # an unanswered question: each host's own declaration stands
    assert declared_state([{"role": "nginx_site"}], empty)["roles"] == ["nginx_site"]
    assert declared_state([{"role": "nginx_site"}], "sysctl_setting, apt_package")["roles"] == [
        "sysctl_setting",
        "apt_package",
    ]
