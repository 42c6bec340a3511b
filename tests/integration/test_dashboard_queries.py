"""Every PromQL query of the change-view dashboard (examples/dashboards/change-view.json) runs against the lab's
Prometheus while a change's metadata is published: each is accepted, and each that describes the change (all but the
alerts panel, empty when nothing fires) returns data. No Grafana is needed: the queries are what the dashboard is."""

import json
import re
import sys
import time
import urllib.parse
import urllib.request

import pytest
from conftest import REPO

sys.path.insert(0, str(REPO / "tests" / "lab"))
sys.path.insert(0, str(REPO / "collections"))
from ansible_collections.changeward.hybrid.plugins.plugin_utils.monitoring import metadata
from cwlab import monitoring, prom

# Reads the Prometheus series of two cloud hosts; writes only its own pushgateway group.
pytestmark = pytest.mark.reservation("cloud-onprem")
DASHBOARD = REPO / "examples" / "dashboards" / "change-view.json"


def queries(dashboard):
    """(where, expr) of every query: panel targets, annotations, and the template variable's metric selector."""
    out = [(f"panel {p['title']}/{t['refId']}", t["expr"]) for p in dashboard["panels"] for t in p["targets"]]
    out += [(f"annotation {a['name']}", a["expr"]) for a in dashboard["annotations"]["list"]]
    for var in dashboard["templating"]["list"]:
        if var["type"] == "query":
            (selector,) = re.fullmatch(r"label_values\((.+), *\w+\)", var["definition"]).groups()
            out.append((f"variable {var['name']}", selector))
    return out


def query(expr):
    url = f"{prom.URL}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - the lab's fixed URL
            body = json.load(resp)
    except urllib.error.HTTPError as exc:
        body = json.load(exc)
    return body


@pytest.fixture
def published(lab):
    """A change's metadata on two lab hosts, in the lab pushgateway, until the test ends."""
    change_id = f"CHG-DASH-{int(time.time())}"
    rings = [{"name": "canary", "hosts": ["cloud-euw1a-01"]}, {"name": "ring-1", "hosts": ["cloud-euw1b-01"]}]
    text = metadata.exposition(change_id, "demo", "1.0.9", rings, {}, [{"name": "canary", "status": "passed"}])
    gateway = metadata.Pushgateway(monitoring.PUSHGATEWAY_URL)
    gateway.replace(change_id, text)
    try:
        deadline = time.monotonic() + 30
        while not query(f'changeward_change_info{{change_id="{change_id}"}}')["data"]["result"]:
            assert time.monotonic() < deadline, "Prometheus did not scrape the pushgateway within 30 s"
            time.sleep(1)
        yield change_id
    finally:
        gateway.delete(change_id)


def test_every_dashboard_query_runs_and_the_change_view_has_data(published):
    dashboard = json.loads(DASHBOARD.read_text())
    found = queries(dashboard)
    assert len(found) >= 10
    for where, expr in found:
        body = query(expr.replace("$change_id", published))  # an id of letters, digits and dashes
        assert body["status"] == "success", (where, expr, body)
        if "ALERTS" not in expr:
            assert body["data"]["result"], f"{where}: no data for {published}: {expr}"
    (progress,) = query(dashboard["panels"][0]["targets"][0]["expr"].replace("$change_id", published))["data"]["result"]
    assert float(progress["value"][1]) == 0.5, "one ring of two has a verdict"
