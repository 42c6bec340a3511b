"""The example inventory shipped for operators parses with the hybrid plugin and derives its labels."""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_example_inventory_merges_three_sources_and_derives_az_from_subnet():
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")}
    out = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-inventory"), "-i", "inventories/example/hybrid.yml", "--list"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    data = json.loads(out)
    hv = data["_meta"]["hostvars"]
    assert set(data["cloud"]["hosts"]) == {"web-euw1a-01", "web-euw1b-01", "billing-euw1a-01"}
    assert set(data["onprem"]["hosts"]) == {"erp-fra1-01", "mainframe-gw-fra1"}
    assert set(data["edge"]["hosts"]) == {"pos-0042-01", "pos-0117-01"}
    # the export carries no az: it comes from the subnet the address falls in
    assert hv["web-euw1b-01"]["az"] == "eu-west-1b"
    assert hv["billing-euw1a-01"]["az"] == "eu-west-1a"
    assert hv["pos-0117-01"]["site"] == "store-0117"
    assert hv["mainframe-gw-fra1"]["rollback_capability"] == "none"
    assert hv["erp-fra1-01"]["tenant"] == "retail"  # from label_defaults
    assert set(data["team_payments"]["hosts"]) == {"billing-euw1a-01"}
