"""RETURN samples: every top-level return value of these modules has one (the modules whose samples are
complete; a module joins the list once its owner has added them all)."""

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SAMPLED = (
    "snapshot",
    "rollback",
    "snapshot_prune",
    "drift_scan",
    "edge_rollout",
    "rings",
    "feature_flag",
    "bake_watch",
    "canary_judge",
    "circuit_breaker",
    "error_budget",
    "drift_report",
)


def return_doc(module: str) -> dict:
    text = (REPO / "plugins" / "modules" / f"{module}.py").read_text(encoding="utf-8")
    return yaml.safe_load(re.search(r'RETURN = r?"""(.*?)"""', text, re.S).group(1))


@pytest.mark.parametrize("module", SAMPLED)
def test_every_return_value_has_a_sample(module):
    doc = return_doc(module)
    assert doc, module
    missing = [key for key, value in doc.items() if "sample" not in value]
    assert not missing, f"{module}: no sample for {missing}"
