"""Change specs for the lab tests: the shipped examples (examples/changes), narrowed and sped up for a test.

Every test that runs playbooks/change.yml passes its change as a spec, the way users do; these helpers build
the extra vars (the spec plus the change id) from the demo release or from a shipped example.
"""

import copy
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "changes"


def example(name):
    """The change_spec of a shipped example, e.g. example('sysctl-somaxconn')."""
    return yaml.safe_load((EXAMPLES / f"{name}.yml").read_text())["change_spec"]


def change_vars(spec, change_id=None, judge=True, **extra):
    """Extra vars for playbooks/change.yml: the spec, the change id, and (judge=False) no canary judgement."""
    out = {"change_spec": spec, **extra}
    if change_id:
        out["changeward_change_id"] = change_id
    if not judge:
        out["ring_rollout_judge_rings"] = []
    return out


def demo_release(version, error_rate=0.0, latency_ms=20, targets="all", bake_times=None, **fields):
    """The lab demo's spec with another release: version, error rate and latency of the demo service."""
    spec = copy.deepcopy(example("demo-release"))
    spec["summary"] = f"Release demo service {version}"
    spec["targets"] = {"pattern": targets}
    spec["apply"]["vars"].update(
        demo_release_version=version, demo_release_error_rate=error_rate, demo_release_latency_ms=latency_ms
    )
    if bake_times:
        spec["bake_times"] = bake_times
    spec.update(fields)
    return spec
