# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One dependency graph of services, from what is documented and what is observed.

An edge is ``consumer -> provider`` (the consumer calls or needs the provider). Each edge keeps, per source,
why it is believed:

- documented sources (``catalogue``, ``backstage``, ``netbox``): the record as its source states it, with the
  date the owner last confirmed it. An import replaces everything that source said before: an edge the source
  no longer lists loses that source.
- observed sources (``prometheus``, ``connections``): first and last time seen, how often, and where. An
  observation only ever adds: an edge stays observed at its last-seen time until it is pruned.

Services carry their owning team, criticality and endpoints (``address:port``); observations name endpoints
and are resolved to services through them. An endpoint no service claims stays a node of its own
(``endpoint:<address:port>``), so an unknown peer is reported rather than dropped.

The graph is stored as one JSON document (``api_version: changeward.hybrid/dependency-graph/v1``) written
atomically; docs/dependencies.md describes it.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
from collections.abc import Iterable, Mapping

from ansible_collections.changeward.hybrid.plugins.module_utils import timeparse
from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import ChangewardError

API_VERSION = "changeward.hybrid/dependency-graph/v1"
DOCUMENTED = ("catalogue", "backstage", "netbox")
OBSERVED = ("prometheus", "connections")
CRITICALITIES = ("low", "medium", "high", "critical")
# Weight of a consumer by its criticality in the blast radius; a policy's risk.blast_radius may set its own.
CRITICALITY_WEIGHTS = {"low": 0.5, "medium": 1.0, "high": 2.0, "critical": 3.0, "unknown": 1.0}
ENDPOINT_PREFIX = "endpoint:"


class DependencyError(ChangewardError, ValueError):
    """A dependency source, graph or query that cannot be used; the message names what is wrong."""


def _time(value, what: str) -> str:
    try:
        return timeparse.instant(value, what).strftime("%Y-%m-%dT%H:%M:%SZ")
    except timeparse.TimeFormatError as exc:
        raise DependencyError(str(exc)) from None


def normalise_endpoint(value, what: str) -> str:
    """``address:port`` in lower case; a URL's scheme and path are dropped (http://h:8080/x -> h:8080).
    Port 0 stands for the host itself (a process that calls out but listens nowhere)."""
    if not isinstance(value, str) or not value.strip():
        raise DependencyError(f"{what}: an endpoint is 'address:port', got {value!r}")
    text = value.strip().lower()
    if "://" in text:
        text = text.split("://", 1)[1]
    text = text.split("/", 1)[0]
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise DependencyError(f"{what}: an endpoint is 'address:port', got {value!r}")
    return f"{host}:{int(port)}"


class Graph:
    """The stored graph: ``services`` {name: {team, criticality, endpoints, sources}} and ``edges``."""

    def __init__(self, data: Mapping | None = None):
        data = copy.deepcopy(dict(data or {}))
        if data and data.get("api_version") != API_VERSION:
            raise DependencyError(f"not a dependency graph: api_version must be {API_VERSION}")
        self.services: dict = data.get("services") or {}
        self.edges: dict = {}
        for edge in data.get("edges") or []:
            self.edges[(edge["consumer"], edge["provider"])] = edge
        self.updated = data.get("updated")
        self.deprecations: dict = data.get("deprecations") or {}  # provider -> {source: sunset, deprecated, ...}

    # -- services ----------------------------------------------------------------------------------------------
    def set_service(self, name: str, source: str, record: Mapping) -> None:
        """What ``source`` says about a service: team, criticality, endpoints, when confirmed."""
        entry = self.services.setdefault(name, {"sources": {}})
        entry["sources"][source] = {k: v for k, v in record.items() if v not in (None, [], "")}
        self._fold_service(name)

    def _fold_service(self, name: str) -> None:
        # The documented sources in a fixed order decide team and criticality; endpoints are the union.
        entry = self.services[name]
        sources = entry["sources"]
        team = criticality = None
        endpoints: set = set()
        for source in DOCUMENTED:
            record = sources.get(source) or {}
            team = team or record.get("team")
            criticality = criticality or record.get("criticality")
            endpoints |= set(record.get("endpoints") or ())
        entry["team"] = team
        entry["criticality"] = criticality
        entry["endpoints"] = sorted(endpoints)

    def endpoint_index(self) -> dict:
        """{endpoint: service}; an endpoint claimed by two services is an error (observations would be ambiguous)."""
        index: dict = {}
        for name in sorted(self.services):
            for endpoint in self.services[name].get("endpoints") or ():
                other = index.setdefault(endpoint, name)
                if other != name:
                    raise DependencyError(f"endpoint {endpoint} is claimed by services {other} and {name}")
        return index

    def resolve(self, endpoint: str, index: Mapping | None = None) -> str:
        index = self.endpoint_index() if index is None else index
        return index.get(endpoint) or f"{ENDPOINT_PREFIX}{endpoint}"

    # -- documented edges --------------------------------------------------------------------------------------
    def import_documented(self, source: str, services: Mapping, edges: Iterable, at) -> dict:
        """Replace what ``source`` documents: services {name: record} and edges [(consumer, provider, record)]."""
        if source not in DOCUMENTED:
            raise DependencyError(f"{source} is not a documented source ({', '.join(DOCUMENTED)})")
        at = _time(at, "at")
        for name, entry in list(self.services.items()):
            if source in entry["sources"] and name not in services:
                del entry["sources"][source]
                self._fold_service(name)
        for name, record in services.items():
            self.set_service(name, source, {**record, "imported_at": at})
        wanted = {}
        for consumer, provider, record in edges:
            if consumer == provider:
                raise DependencyError(f"{source}: service {consumer} depends on itself")
            wanted[(consumer, provider)] = {**record, "imported_at": at}
        added = removed = 0
        for key, edge in list(self.edges.items()):
            if source in edge["documented"] and key not in wanted:
                del edge["documented"][source]
                removed += 1
                self._drop_if_empty(key)
        for key, record in wanted.items():
            edge = self._edge(*key)
            added += source not in edge["documented"]
            edge["documented"][source] = {k: v for k, v in record.items() if v not in (None, "")}
        return {"source": source, "services": len(services), "edges": len(wanted), "added": added, "removed": removed}

    # -- observed edges ----------------------------------------------------------------------------------------
    def observe(self, source: str, observations: Iterable, at) -> dict:
        """Record observations [{consumer, provider (endpoints or services), count, where}] seen at ``at``."""
        if source not in OBSERVED:
            raise DependencyError(f"{source} is not an observed source ({', '.join(OBSERVED)})")
        at = _time(at, "at")
        index = self.endpoint_index()
        seen = 0
        unresolved: set = set()
        for obs in observations:
            consumer = obs.get("consumer_service") or self.resolve(obs["consumer"], index)
            provider = obs.get("provider_service") or self.resolve(obs["provider"], index)
            for node in (consumer, provider):
                if node.startswith(ENDPOINT_PREFIX):
                    unresolved.add(node)
            if consumer == provider:
                continue  # a service calling itself (one replica another) is not a dependency
            edge = self._edge(consumer, provider)
            entry = edge["observed"].setdefault(source, {"first_seen": at, "last_seen": at, "count": 0, "where": []})
            entry["last_seen"] = max(entry["last_seen"], at)
            entry["first_seen"] = min(entry["first_seen"], at)
            entry["count"] += float(obs.get("count") or 1)
            where = obs.get("where")
            if where and where not in entry["where"]:
                entry["where"] = sorted([*entry["where"], where])
            seen += 1
        return {"source": source, "observations": seen, "unresolved_endpoints": sorted(unresolved)}

    # -- edges -------------------------------------------------------------------------------------------------
    def _edge(self, consumer: str, provider: str) -> dict:
        return self.edges.setdefault(
            (consumer, provider), {"consumer": consumer, "provider": provider, "documented": {}, "observed": {}}
        )

    def _drop_if_empty(self, key) -> None:
        edge = self.edges.get(key)
        if edge and not edge["documented"] and not edge["observed"]:
            del self.edges[key]

    def nodes(self) -> list:
        found = set(self.services)
        for consumer, provider in self.edges:
            found |= {consumer, provider}
        return sorted(found)

    def team_of(self, node: str):
        return (self.services.get(node) or {}).get("team")

    def criticality_of(self, node: str) -> str:
        return (self.services.get(node) or {}).get("criticality") or "unknown"

    @staticmethod
    def last_seen(edge: Mapping):
        times = [o["last_seen"] for o in edge["observed"].values()]
        return max(times) if times else None

    def consumers(self, services: Iterable) -> list:
        """Every node that consumes the given services, directly or through others, with its distance."""
        by_provider: dict = {}
        for consumer, provider in self.edges:
            by_provider.setdefault(provider, set()).add(consumer)
        start = set(services)
        depth = {}
        frontier = sorted(start)
        level = 0
        while frontier:
            level += 1
            nxt = []
            for node in frontier:
                for consumer in sorted(by_provider.get(node, ())):
                    if consumer not in depth and consumer not in start:
                        depth[consumer] = level
                        nxt.append(consumer)
            frontier = nxt
        return [{"service": n, "distance": depth[n]} for n in sorted(depth)]

    def as_dict(self) -> dict:
        return {
            "api_version": API_VERSION,
            "updated": self.updated,
            "services": {k: self.services[k] for k in sorted(self.services)},
            "edges": [self.edges[k] for k in sorted(self.edges)],
            "deprecations": {k: self.deprecations[k] for k in sorted(self.deprecations)},
        }


# -- the store ----------------------------------------------------------------------------------------------------
def load_graph(path: str, must_exist: bool = False) -> Graph:
    """The stored graph; a missing file is an empty graph unless ``must_exist`` (a query needs data)."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        if must_exist:
            raise DependencyError(f"no dependency graph at {path}: build it with dependency_map first") from None
        return Graph()
    except (OSError, ValueError) as exc:
        raise DependencyError(f"dependency graph {path} cannot be read: {exc}") from None
    if not isinstance(data, Mapping):
        raise DependencyError(f"dependency graph {path} is not a JSON object")
    return Graph(data)


def save_graph(graph: Graph, path: str, at) -> None:
    """Write the graph atomically (a reader never sees half a file), mode 0644."""
    graph.updated = _time(at, "at")
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".dependencies-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(graph.as_dict(), fh, indent=2, sort_keys=True)
            fh.write("\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def graph_from_value(value) -> Graph:
    """A Graph from a stored-graph mapping, or from a plain ``provider: [consumers]`` mapping (criticality unknown)."""
    if isinstance(value, Graph):
        return value
    if not isinstance(value, Mapping):
        raise DependencyError("a dependency map is a graph document or a mapping of service -> consuming services")
    if value.get("api_version") == API_VERSION:
        return Graph(value)
    graph = Graph()
    for provider, consumers in value.items():
        if isinstance(consumers, str) or not isinstance(consumers, (list, tuple)):
            raise DependencyError(f"dependency_map.{provider} must be a list of consuming services")
        for consumer in consumers:
            graph._edge(str(consumer).lower(), str(provider).lower())["documented"]["catalogue"] = {}
    return graph


def blast_radius(graph: Graph, services: Iterable, weights: Mapping | None = None) -> dict:
    """Transitive downstream consumers of ``services``, each weighted by its criticality."""
    weights = {**CRITICALITY_WEIGHTS, **(weights or {})}
    consumers = graph.consumers(sorted({str(s).lower() for s in services}))
    rows = []
    for row in consumers:
        crit = graph.criticality_of(row["service"])
        rows.append({**row, "criticality": crit, "weight": float(weights.get(crit, weights["unknown"]))})
    return {
        "services": sorted({str(s).lower() for s in services}),
        "consumers": rows,
        "weighted": round(sum(r["weight"] for r in rows), 4),
        "teams": sorted({t for t in (graph.team_of(r["service"]) for r in rows) if t}),
    }
