# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: dependency_map
short_description: Build one service dependency graph from documented and observed dependencies
version_added: "0.1.0"
author: changeward maintainers (!UNKNOWN)
description:
  - Runs on the controller (it is an action plugin). Merges documented dependencies (the changeward catalogue,
    Backstage C(catalog-info.yaml) entities, a NetBox-style export of IPAM services) and observed ones (a
    Prometheus client metric with one series per consumer and upstream, host connection tables as C(ss -tanpH)
    prints them) into one graph of services, stored as JSON in O(store) with every edge's sources, the date each
    documented record was last confirmed, and the first and last time each observation was seen.
  - An edge is consumer -> provider. Observations name endpoints (C(address:port)) and are resolved to services
    through the services' endpoints; an endpoint no service claims stays a node of its own (C(endpoint:...)),
    so the hidden-dependency report shows it.
  - A documented source replaces what the same source said before (an edge it no longer lists loses that
    source); observations only add. Nothing is written in check mode or when nothing changed.
  - Fails closed - a Prometheus query without series, or a host without a connection table, is an error rather
    than "no calls", because every documented edge would then look unused.
  - docs/dependencies.md describes the formats and the stored graph.
options:
  store:
    description: The JSON file the graph is kept in; created when missing.
    type: path
    required: true
  documented:
    description: Documented sources, each a file. Several files of one format are one source.
    type: list
    elements: dict
    default: []
    suboptions:
      src:
        description: Path of the file (relative paths are looked up like other task files).
        type: str
        required: true
      format:
        description:
          - "V(catalogue) - the changeward catalogue (C(api_version: changeward.hybrid/dependencies/v1))."
          - V(backstage) - Backstage entities (multi-document YAML); Components and Resources are services.
          - V(netbox) - NetBox C(/api/ipam/services/) JSON (a page with C(results) or a list) with custom fields
            C(owner_team), C(criticality), C(depends_on), C(confirmed).
        type: str
        choices: [catalogue, backstage, netbox]
        default: catalogue
  prometheus:
    description: Observe calls from a Prometheus client metric (an instant query, one series per consumer/upstream).
    type: dict
    suboptions:
      query:
        description: The PromQL; series with value 0 are not calls.
        type: str
        default: sum by (instance, upstream) (increase(demo_upstream_requests_total[1h]))
      consumer_label:
        description: Label with the calling service's endpoint (C(address:port)).
        type: str
        default: instance
      provider_label:
        description: Label with the called endpoint (C(address:port) or a URL).
        type: str
        default: upstream
      allow_empty:
        description: Accept a query without series as "no calls" instead of failing.
        type: bool
        default: false
  connections:
    description:
      - Observe established outgoing TCP connections from each host's connection table, gathered beforehand on
        the hosts with C(ss -tanpH) and registered in O(connections.var). A call is attributed to the listening
        endpoint of the process that makes it, else to the host (C(<address>:0)).
    type: dict
    suboptions:
      hosts:
        description: Hosts whose tables to read; every one must have one.
        type: list
        elements: str
        required: true
      var:
        description: Name of the registered result (with C(stdout)) on each host.
        type: str
        default: changeward_connections
  deprecations:
    description:
      - "Deprecations feeds (YAML files, C(api_version: changeward.hybrid/deprecations/v1), a list of C(provider),
        C(sunset), C(deprecated), C(link), C(description)) that mark providers as going away."
    type: list
    elements: str
    default: []
  deprecation_headers:
    description:
      - Responses observed by synthetic or shadow checks - each C({endpoint or url or service, headers, seen_at}).
        RFC 8594 C(Sunset), RFC 9745 C(Deprecation) (C(@<unix seconds>), or C(true) or an HTTP-date) and a C(Link)
        with C(rel="sunset") or C(rel="deprecation") mark the provider owning the endpoint.
    type: list
    elements: dict
    default: []
  services:
    description: Also return the blast radius of these services (RV(blast_radius)).
    type: list
    elements: str
    default: []
  at:
    description: Time of the observations (ISO 8601 with a UTC offset, unix seconds or V(now)); default now.
    type: str
extends_documentation_fragment:
  - changeward.hybrid.ledger
  - changeward.hybrid.prometheus
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
attributes:
  action:
    support: full
  action_group:
    description: Part of the action group, so C(module_defaults) for C(group/changeward.hybrid.hybrid) apply.
    support: full
    membership: [changeward.hybrid.hybrid]
  async:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
    details: Reads every source and returns the graph; writes nothing.
  diff_mode:
    support: none
  platform:
    platforms: all
    details: Runs on the controller; needs PyYAML and requests there.
seealso:
  - module: changeward.hybrid.dependency_report
  - module: changeward.hybrid.risk_score
"""

EXAMPLES = r"""
- name: Gather each host's connection table
  ansible.builtin.command: ss -tanpH
  register: changeward_connections
  changed_when: false

- name: Merge the catalogue, Backstage, NetBox and what was observed into the graph
  changeward.hybrid.dependency_map:
    store: /var/lib/changeward/dependencies.json
    documented:
      - {src: dependencies/catalogue.yml, format: catalogue}
      - {src: backstage/catalog-info.yaml, format: backstage}
      - {src: netbox-services.json, format: netbox}
    prometheus:
      query: sum by (instance, upstream) (increase(demo_upstream_requests_total[1h]))
    prometheus_url: http://prometheus.example:9090
    connections:
      hosts: "{{ ansible_play_hosts }}"
  run_once: true
  delegate_to: localhost
"""

RETURN = r"""
store:
  description: The graph's file.
  returned: success
  type: str
  sample: /var/lib/changeward/dependencies.json
imported:
  description: Per documented source - services, edges, edges added and removed, the files read.
  returned: success
  type: list
  sample:
    - source: catalogue
      services: 3
      edges: 1
      added: 1
      removed: 0
      files:
      - /etc/changeward/catalogue.yml
  elements: dict
observed:
  description: Per observed source - observations recorded and endpoints no service claims.
  returned: success
  type: list
  sample:
    - source: connections
      observations: 1
      unresolved_endpoints: []
  elements: dict
services:
  description: Number of services in the graph.
  returned: success
  type: int
  sample: 3
edges:
  description: Number of edges in the graph.
  returned: success
  type: int
  sample: 2
graph:
  description: The whole graph as stored (services with team, criticality, endpoints, sources; edges with documented
    and observed sources).
  returned: success
  type: dict
  sample:
    api_version: changeward.hybrid/dependency-graph/v1
    updated: '2026-01-05T10:00:00Z'
    services:
      auth:
        sources:
          catalogue:
            team: identity
            criticality: critical
            endpoints:
            - 10.0.0.1:8080
            confirmed: '2026-01-01'
            imported_at: '2026-01-05T10:00:00Z'
        team: identity
        criticality: critical
        endpoints:
        - 10.0.0.1:8080
    edges:
    - consumer: checkout
      provider: auth
      documented: {}
      observed:
        connections:
          first_seen: '2026-01-05T10:00:00Z'
          last_seen: '2026-01-05T10:00:00Z'
          count: 1.0
          where:
          - checkout-01 (python3)
    deprecations: {}
blast_radius:
  description: Transitive consumers of O(services), weighted by criticality.
  returned: when O(services) is given
  type: dict
  sample:
    services:
    - auth
    consumers:
    - service: billing
      distance: 1
      criticality: critical
      weight: 3.0
    - service: checkout
      distance: 1
      criticality: high
      weight: 2.0
    weighted: 5.0
    teams:
    - payments
    - shop
"""
