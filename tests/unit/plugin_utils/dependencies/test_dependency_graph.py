"""Dependency graph: documented sources and observations merge into one graph with sources and last-seen times;
hidden-dependency and stale-record reports; blast radius weighted by criticality, and its place in the risk score."""

import copy
import json

import pytest
import yaml

from ansible_collections.changeward.hybrid.plugins.plugin_utils.dependencies import report, sources
from ansible_collections.changeward.hybrid.plugins.plugin_utils.dependencies.graph import (
    DependencyError,
    Graph,
    blast_radius,
    graph_from_value,
    load_graph,
    save_graph,
)
from ansible_collections.changeward.hybrid.plugins.plugin_utils.policy.gate_policy import (
    API_VERSION,
    effective_policy,
)
from ansible_collections.changeward.hybrid.plugins.plugin_utils.risk import score_change

T0 = "2026-12-01T10:00:00Z"
T1 = "2026-12-07T10:00:00Z"

CATALOGUE = {
    "api_version": "changeward.hybrid/dependencies/v1",
    "services": {
        "auth": {
            "team": "identity",
            "criticality": "critical",
            "endpoints": ["10.0.0.1:8080"],
            "confirmed": "2026-11-20",
        },
        "billing": {
            "team": "payments",
            "criticality": "critical",
            "endpoints": ["10.0.0.2:8080"],
            "confirmed": "2026-11-20",
            "depends_on": ["auth", {"service": "ledger-db", "confirmed": "2025-01-01"}],
        },
        "portal": {"team": "web", "criticality": "high", "endpoints": ["10.0.0.3:8080"], "depends_on": ["billing"]},
        "ledger-db": {"criticality": "high", "confirmed": "2026-11-20"},
        "reports": {"team": "web", "criticality": "low", "endpoints": ["10.0.0.4:8080"], "confirmed": "2026-11-20"},
    },
}


def catalogue_graph():
    graph = Graph()
    services, edges = sources.read_catalogue(CATALOGUE)
    graph.import_documented("catalogue", services, edges, T0)
    return graph


# -- documented sources ----------------------------------------------------------------------------------------
def test_catalogue_edges_point_from_consumer_to_provider_with_their_record():
    graph = catalogue_graph()
    assert sorted(graph.edges) == [("billing", "auth"), ("billing", "ledger-db"), ("portal", "billing")]
    edge = graph.edges[("billing", "ledger-db")]
    assert edge["documented"]["catalogue"]["confirmed"] == "2025-01-01"
    assert edge["documented"]["catalogue"]["ref"] == "catalogue: services.billing.depends_on[1]"
    assert graph.services["auth"]["endpoints"] == ["10.0.0.1:8080"]


def test_a_new_import_of_a_source_replaces_what_it_said_before():
    graph = catalogue_graph()
    smaller = copy.deepcopy(CATALOGUE)
    smaller["services"]["billing"]["depends_on"] = ["auth"]
    services, edges = sources.read_catalogue(smaller)
    summary = graph.import_documented("catalogue", services, edges, T1)
    assert ("billing", "ledger-db") not in graph.edges
    assert summary["removed"] == 1


def test_catalogue_errors_name_the_record():
    bad = copy.deepcopy(CATALOGUE)
    bad["services"]["auth"]["criticality"] = "vital"
    with pytest.raises(DependencyError, match=r"catalogue.services.auth: criticality must be one of"):
        sources.read_catalogue(bad)
    bad = copy.deepcopy(CATALOGUE)
    bad["services"]["auth"]["endpoints"] = ["10.0.0.1"]
    with pytest.raises(DependencyError, match=r"services.auth.endpoints\[0\]: an endpoint is 'address:port'"):
        sources.read_catalogue(bad)
    with pytest.raises(DependencyError, match="api_version"):
        sources.read_catalogue({"services": {}})


BACKSTAGE = """
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: checkout
  annotations: {changeward.io/criticality: high, changeward.io/endpoints: "10.0.0.5:8080"}
spec: {type: service, lifecycle: production, owner: group:default/shop, dependsOn: [component:default/billing],
       consumesApis: [auth-api]}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: auth}
spec: {type: service, owner: identity, providesApis: [auth-api]}
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata: {name: auth-api}
spec: {type: openapi, owner: identity}
"""


def test_backstage_depends_on_and_consumed_apis_become_edges_to_the_providing_component():
    services, edges = sources.read_backstage(yaml.safe_load_all(BACKSTAGE))
    assert services["checkout"]["team"] == "shop"
    assert services["checkout"]["criticality"] == "high"
    assert services["checkout"]["endpoints"] == ["10.0.0.5:8080"]
    assert sorted((c, p) for c, p, _r in edges) == [("checkout", "auth"), ("checkout", "billing")]
    unknown_api = BACKSTAGE.replace("consumesApis: [auth-api]", "consumesApis: [pay-api]")
    with pytest.raises(DependencyError, match="no component in the catalogue provides API pay-api"):
        sources.read_backstage(yaml.safe_load_all(unknown_api))


NETBOX = {
    "count": 3,
    "results": [
        {
            "id": 7,
            "name": "auth",
            "ports": [8080],
            "ipaddresses": [{"address": "10.0.0.1/32"}],
            "custom_fields": {"owner_team": "identity", "criticality": "critical"},
            "last_updated": "2026-11-30T08:00:00Z",
        },
        {"id": 8, "name": "auth", "ports": [8080], "ipaddresses": [{"address": "10.0.0.9/32"}], "custom_fields": {}},
        {
            "id": 9,
            "name": "search",
            "ports": [9200],
            "ipaddresses": [{"address": "10.0.0.7/32"}],
            "custom_fields": {"owner_team": "web", "depends_on": ["auth"]},
            "last_updated": "2024-01-02T00:00:00Z",
        },
    ],
}


def test_netbox_services_merge_by_name_and_custom_fields_give_owner_and_dependencies():
    services, edges = sources.read_netbox(NETBOX)
    assert services["auth"]["endpoints"] == ["10.0.0.1:8080", "10.0.0.9:8080"]
    assert services["auth"]["team"] == "identity"
    assert services["auth"]["confirmed"] == "2026-11-30"
    assert [(c, p) for c, p, _r in edges] == [("search", "auth")]
    assert edges[0][2]["confirmed"] == "2024-01-02"


# -- observations ------------------------------------------------------------------------------------------------
SS = """\
LISTEN 0      128          0.0.0.0:8080       0.0.0.0:*     users:(("python3",pid=41,fd=3))
LISTEN 0      128          0.0.0.0:22         0.0.0.0:*     users:(("sshd",pid=30,fd=3))
ESTAB  0      0          10.0.0.4:8080     10.0.0.99:50000 users:(("python3",pid=41,fd=5))
ESTAB  0      0          10.0.0.4:41234     10.0.0.1:8080  users:(("python3",pid=41,fd=6))
ESTAB  0      0          10.0.0.4:41240    10.0.0.77:5432  users:(("worker",pid=52,fd=4))
ESTAB  0      0         127.0.0.1:41250    127.0.0.1:8080  users:(("python3",pid=41,fd=7))
ESTAB  0      0          10.0.0.4:22        10.0.0.250:6000 users:(("sshd",pid=60,fd=4))
"""


def test_ss_outgoing_connections_are_attributed_to_the_listening_process_that_makes_them():
    obs = sources.parse_ss(SS, "reports-01", "10.0.0.4")
    assert [(o["consumer"], o["provider"]) for o in obs] == [
        ("10.0.0.4:8080", "10.0.0.1:8080"),  # the service on :8080 calls auth
        ("10.0.0.4:0", "10.0.0.77:5432"),  # a process that listens nowhere: the host itself
    ]
    assert obs[0]["where"] == "reports-01 (python3)"
    with pytest.raises(DependencyError, match="line 1 is not ss -tanpH output"):
        sources.parse_ss("garbage\n", "h")


def test_observations_resolve_endpoints_to_services_and_keep_first_and_last_seen():
    graph = catalogue_graph()
    obs = sources.parse_ss(SS, "reports-01", "10.0.0.4")
    graph.observe("connections", obs, T0)
    graph.observe("connections", obs[:1], T1)
    edge = graph.edges[("reports", "auth")]
    assert edge["documented"] == {}
    assert edge["observed"]["connections"]["first_seen"] == T0
    assert edge["observed"]["connections"]["last_seen"] == T1
    assert edge["observed"]["connections"]["count"] == 2
    # an endpoint nobody claims stays a node of its own
    assert ("endpoint:10.0.0.4:0", "endpoint:10.0.0.77:5432") in graph.edges


def test_prometheus_series_become_observations_and_a_missing_label_is_an_error():
    series = [
        {"labels": {"instance": "10.0.0.2:8080", "upstream": "10.0.0.1:8080", "host": "b1"}, "value": 12.0},
        {"labels": {"instance": "10.0.0.3:8080", "upstream": "10.0.0.1:8080"}, "value": 0.0},
    ]
    obs = sources.prometheus_observations(series, "instance", "upstream")
    assert obs == [{"consumer": "10.0.0.2:8080", "provider": "10.0.0.1:8080", "count": 12.0, "where": "b1"}]
    with pytest.raises(DependencyError, match="has no upstream label"):
        sources.prometheus_observations([{"labels": {"instance": "x:1"}, "value": 1}], "instance", "upstream")


def test_an_endpoint_two_services_claim_is_an_error():
    graph = catalogue_graph()
    graph.set_service("other", "netbox", {"endpoints": ["10.0.0.1:8080"]})
    with pytest.raises(DependencyError, match="claimed by services auth and other"):
        graph.observe("prometheus", [{"consumer": "10.0.0.1:8080", "provider": "10.0.0.2:8080"}], T0)


def test_the_store_round_trips_and_a_missing_store_fails_a_query(tmp_path):
    graph = catalogue_graph()
    path = tmp_path / "deps.json"
    save_graph(graph, str(path), T1)
    again = load_graph(str(path))
    assert again.as_dict() == graph.as_dict()
    assert json.loads(path.read_text())["updated"] == T1
    with pytest.raises(DependencyError, match="build it with dependency_map first"):
        load_graph(str(tmp_path / "none.json"), must_exist=True)


# -- reports -------------------------------------------------------------------------------------------------------
def observed_graph():
    graph = catalogue_graph()
    graph.observe("prometheus", [{"consumer": "10.0.0.2:8080", "provider": "10.0.0.1:8080"}], T1)  # billing->auth
    graph.observe("connections", [{"consumer": "10.0.0.4:8080", "provider": "10.0.0.1:8080"}], T1)  # reports->auth
    return graph


def test_hidden_dependencies_go_on_the_agenda_of_both_owning_teams():
    rep = report.hidden_dependencies(observed_graph(), T1)
    assert rep["totals"] == {"observed_undocumented": 1, "documented_unobserved": 2}
    identity = rep["teams"]["identity"]
    assert [(r["consumer"], r["provider"]) for r in identity["observed_undocumented"]] == [("reports", "auth")]
    web = rep["teams"]["web"]
    assert [(r["consumer"], r["provider"]) for r in web["documented_unobserved"]] == [("portal", "billing")]
    # billing -> ledger-db: ledger-db has no team, so it is also on the unowned agenda
    assert [(r["consumer"], r["provider"]) for r in rep["teams"]["unowned"]["documented_unobserved"]] == [
        ("billing", "ledger-db")
    ]
    # billing -> auth is documented and observed: on nobody's agenda
    assert all(
        (r["consumer"], r["provider"]) != ("billing", "auth")
        for s in rep["teams"].values()
        for rows in s.values()
        for r in rows
    )
    text = report.hidden_markdown(rep)
    assert "## Team identity" in text
    assert "| reports | auth | 2026-12-07T10:00:00Z | connections |" in text


def test_an_edge_not_seen_within_the_window_counts_as_unobserved():
    rep = report.hidden_dependencies(observed_graph(), "2026-12-20T10:00:00Z", observed_within=86400)
    rows = rep["teams"]["payments"]["documented_unobserved"]
    assert ("billing", "auth") in [(r["consumer"], r["provider"]) for r in rows]


def test_stale_audit_names_unconfirmed_records_and_missing_owners():
    rep = report.stale_audit(observed_graph(), T1, max_age=90 * 86400)
    problems = {(f["record"], f["problem"]) for f in rep["findings"]}
    assert ("service ledger-db", "owner_missing") in problems
    assert ("service portal", "not_confirmed") in problems  # never confirmed
    assert ("billing -> ledger-db", "not_confirmed") in problems  # confirmed 2025-01-01
    assert ("service auth", "not_confirmed") not in problems
    assert ("billing -> auth", "not_confirmed") not in problems
    later = report.stale_audit(observed_graph(), "2027-06-01T00:00:00Z", max_age=90 * 86400)
    assert ("billing -> auth", "not_seen") in {(f["record"], f["problem"]) for f in later["findings"]}
    assert "| service ledger-db | - | owner_missing |" in report.stale_markdown(rep)


# -- blast radius --------------------------------------------------------------------------------------------------
def test_blast_radius_follows_consumers_transitively_and_weighs_them_by_criticality():
    radius = blast_radius(observed_graph(), ["auth"])
    assert [(c["service"], c["distance"], c["weight"]) for c in radius["consumers"]] == [
        ("billing", 1, 3.0),
        ("portal", 2, 2.0),
        ("reports", 1, 0.5),
    ]
    assert radius["weighted"] == 5.5
    assert radius["teams"] == ["payments", "web"]


def test_a_plain_provider_to_consumers_mapping_is_still_a_map():
    graph = graph_from_value({"billing": ["invoicing"], "invoicing": ["portal"]})
    assert [c["service"] for c in blast_radius(graph, ["billing"])["consumers"]] == ["invoicing", "portal"]
    with pytest.raises(DependencyError, match=r"dependency_map\.billing must be a list"):
        graph_from_value({"billing": "invoicing"})


def policy(blast=None):
    doc = {"api_version": API_VERSION}
    if blast:
        doc["risk"] = {"blast_radius": blast}
    return effective_policy(doc)


TARGET = [
    {"name": "h1", "env_type": "cloud", "provider": "aws", "region": "r", "az": "r-a", "rollback_capability": "full"}
]


def test_a_widely_consumed_service_is_high_risk_by_its_consumers_alone_when_the_policy_says_so():
    graph = observed_graph().as_dict()
    plain = score_change(copy.deepcopy(TARGET), "config", policy(), services=["auth"], dependency_map=graph)
    assert plain["class"] == "low"
    assert plain["blast_radius"]["floor"] is None
    ruled = score_change(
        copy.deepcopy(TARGET), "config", policy({"weighted_consumers": 5}), services=["auth"], dependency_map=graph
    )
    assert ruled["score"] == plain["score"]
    assert ruled["class"] == "high"
    assert ruled["blast_radius"]["floor"] == "high"
    # a leaf service under the same rule keeps its class
    leaf = score_change(
        copy.deepcopy(TARGET), "config", policy({"weighted_consumers": 5}), services=["reports"], dependency_map=graph
    )
    assert leaf["class"] == "low"


def test_the_policy_sets_the_criticality_weights_and_the_class():
    graph = observed_graph().as_dict()
    rule = {"weighted_consumers": 3, "class": "critical", "criticality_weights": {"critical": 0.1, "high": 0.1}}
    result = score_change(copy.deepcopy(TARGET), "config", policy(rule), services=["auth"], dependency_map=graph)
    assert result["blast_radius"]["weighted"] == 0.7
    assert result["class"] == "low"
    rule["criticality_weights"] = {"critical": 10}
    result = score_change(copy.deepcopy(TARGET), "config", policy(rule), services=["auth"], dependency_map=graph)
    assert result["class"] == "critical"


# -- deprecations --------------------------------------------------------------------------------------------------
def test_sunset_and_deprecation_headers_mark_the_provider_owning_the_endpoint():
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.dependencies import deprecations

    graph = observed_graph()
    seen = {
        "url": "http://10.0.0.1:8080/v1/login",
        "headers": {
            "Sunset": "Mon, 01 Mar 2027 00:00:00 GMT",
            "Deprecation": "@1788220800",
            "Link": '<https://auth.example/migrate>; rel="sunset"',
        },
        "seen_at": T1,
    }
    entry = deprecations.from_headers(seen, graph.endpoint_index())
    assert entry["provider"] == "auth"
    assert entry["sunset"] == "2027-03-01T00:00:00Z"
    assert entry["deprecated"] == "2026-09-01T00:00:00Z"
    assert entry["link"] == "https://auth.example/migrate"
    assert deprecations.from_headers({"url": "http://10.0.0.1:8080/", "headers": {"Server": "x"}}, {}) is None
    with pytest.raises(DependencyError, match="Sunset header"):
        deprecations.from_headers({"service": "auth", "headers": {"Sunset": "soon"}}, {})


def test_review_items_go_to_the_consumers_teams_before_the_date_and_the_earliest_sunset_wins():
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.dependencies import deprecations

    graph = observed_graph()
    feed = {
        "api_version": "changeward.hybrid/deprecations/v1",
        "deprecations": [{"provider": "auth", "sunset": "2027-02-01", "link": "https://notice"}],
    }
    header = {"service": "auth", "headers": {"Sunset": "Mon, 01 Mar 2027 00:00:00 GMT"}, "seen_at": T1}
    deprecations.mark(graph, [*deprecations.read_feed(feed), deprecations.from_headers(header, {})], T1)
    far = deprecations.review_items(graph, T1, horizon=30 * 86400)
    assert far["total"] == 0  # 56 days away: not yet on anybody's list
    near = deprecations.review_items(graph, T1, horizon=90 * 86400)
    assert sorted(near["teams"]) == ["payments", "web"]  # billing and reports call auth
    item = near["teams"]["payments"][0]
    assert (item["consumer"], item["sunset"], item["days_left"], item["status"]) == (
        "billing",
        "2027-02-01T00:00:00Z",
        55,
        "review",
    )
    assert item["sources"] == ["feed deprecations", "response headers"]
    late = deprecations.review_items(graph, "2027-02-10T00:00:00Z", horizon=90 * 86400)
    assert late["teams"]["web"][0]["status"] == "overdue"
    assert "| billing | auth | 2027-02-01T00:00:00Z | 55 | review | https://notice |" in deprecations.review_markdown(
        near
    )
